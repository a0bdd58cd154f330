// The whole process path: proxy::Server::run() (config load, listeners, worker, admin, signals)
// in a thread of the test process. Signals are process-wide, so SIGTERM is sent to ourselves;
// each ctest entry runs in its own process.

#include "proxy/server/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// A port that was free a moment ago (the config cannot say "port 0"; the race is accepted).
uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a));
  ::getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET/POST on the admin listener (one connection per request, as it wants).
ReadResult admin(uint16_t port, const std::string& method, const std::string& path) {
  Wire c = Wire::connectLocal(port);
  if (!c.valid()) return ReadResult{ReadEnd::kReset, {}};
  c.send(method + " " + path + " HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n");
  return c.readResponse(milliseconds(3000));
}

// Server::run() on a thread. The destructor drains it with SIGTERM if it is still running.
class ServerRun {
 public:
  explicit ServerRun(const std::string& config_path)
      : server_(proxy::ServerOptions{config_path, ""}) {
    thread_ = std::thread([this] {
      exit_code_ = server_.run();
      done_ = true;
    });
  }
  ~ServerRun() {
    if (!done_ && signals_ready_) ::kill(::getpid(), SIGTERM);
    thread_.join();
  }

  // Polls /readyz until 200. Once it answers, run() has installed its signal handlers (the
  // admin listener is served by the same loop, which starts after them).
  bool waitReady(uint16_t admin_port, milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (steady_clock::now() < deadline && !done_) {
      ReadResult r = admin(admin_port, "GET", "/readyz");
      if (r.ok() && r.message.status == 200) {
        signals_ready_ = true;
        return true;
      }
      sleepMs(10);
    }
    return false;
  }
  // Waits for run() to return; its exit code, or -1 on timeout.
  int waitExit(milliseconds timeout) {
    const auto deadline = steady_clock::now() + timeout;
    while (!done_ && steady_clock::now() < deadline) sleepMs(5);
    return done_ ? exit_code_.load() : -1;
  }

 private:
  proxy::Server server_;
  std::atomic<int> exit_code_{-1};
  std::atomic<bool> done_{false};
  bool signals_ready_ = false;
  std::thread thread_;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST(ServerTest, ServesReportsReloadsAndDrainsOnSigterm) {
  prepareProcess();
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage& req) {
      if (contains(req.start_line, "/slow ")) sleepMs(300);
      return jsonResponse(200, "{\"ok\":true}");
    });
  });
  const uint16_t port = freePort(), admin_port = freePort();
  TestConfig config;
  ASSERT_TRUE(config.write(port, upstream.port(), ProxySettings{}, admin_port).isOk());
  ServerRun server(config.configPath());
  ASSERT_TRUE(server.waitReady(admin_port, milliseconds(5000)));

  Wire app = Wire::connectLocal(port);
  ASSERT_TRUE(app.send(config.request(port, "GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);

  ReadResult m = admin(admin_port, "GET", "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(contains(m.message.body, "cosmoseal_requests_total{client=\"app\""))
      << m.message.body;
  EXPECT_TRUE(contains(m.message.body, "\ncosmoseal_workers 1\n"));
  EXPECT_TRUE(contains(m.message.body, "\ncosmoseal_config_generation 1\n"));

  // Reload: accepted, then refused for a change that needs a restart, then for a broken file.
  ReadResult ok = admin(admin_port, "POST", "/reload");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.message.status, 200) << ok.message.body;
  const std::string good = config.configText();
  std::string two_workers = good;
  two_workers.replace(two_workers.find("workers: 1"), 10, "workers: 2");
  config.rewriteConfig(two_workers);
  ReadResult restart = admin(admin_port, "POST", "/reload");
  ASSERT_TRUE(restart.ok());
  EXPECT_EQ(restart.message.status, 422);
  EXPECT_TRUE(contains(restart.message.body, "restart")) << restart.message.body;
  config.rewriteConfig("upstream: [\n");
  ReadResult broken = admin(admin_port, "POST", "/reload");
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken.message.status, 422);
  config.rewriteConfig(good);
  m = admin(admin_port, "GET", "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(contains(m.message.body, "\ncosmoseal_config_generation 2\n")) << m.message.body;
  EXPECT_TRUE(contains(m.message.body, "\ncosmoseal_reloads_total 1\n"));
  EXPECT_TRUE(contains(m.message.body, "\ncosmoseal_reload_failures_total 2\n"));

  // The app connection still works on the reloaded configuration.
  ASSERT_TRUE(app.send(config.request(port, "GET", "/dbs/shop/colls/orders/docs/b")));
  ASSERT_TRUE(app.readResponse().ok());

  // SIGTERM with a request in flight: not ready any more, the request finishes with
  // Connection: close, run() returns 0.
  ASSERT_TRUE(app.send(config.request(port, "GET", "/dbs/shop/colls/orders/docs/slow")));
  ASSERT_TRUE(upstream.waitForRequests(3, std::chrono::seconds(3)));
  ASSERT_EQ(::kill(::getpid(), SIGTERM), 0);
  bool not_ready = false;
  for (int i = 0; i < 100 && !not_ready; ++i) {
    ReadResult rz = admin(admin_port, "GET", "/readyz");
    not_ready = rz.ok() && rz.message.status == 503;
    if (!not_ready) sleepMs(5);
  }
  EXPECT_TRUE(not_ready);
  ReadResult last = app.readResponse();
  ASSERT_TRUE(last.ok()) << readEndName(last.end);
  EXPECT_EQ(last.message.status, 200);
  EXPECT_EQ(last.message.header("connection"), "close");
  app.close();
  EXPECT_EQ(server.waitExit(milliseconds(5000)), 0);
  EXPECT_FALSE(Wire::connectLocal(port).valid());
}

TEST(ServerTest, StartupFailureReturnsOne) {
  prepareProcess();
  TestConfig config;
  ASSERT_TRUE(config.write(freePort(), freePort(), ProxySettings{}, freePort()).isOk());
  std::string text = config.configText();
  text.replace(text.find("key_file: account.key"), 21, "key_file: missing.key");
  config.rewriteConfig(text);
  ServerRun server(config.configPath());
  EXPECT_EQ(server.waitExit(milliseconds(5000)), 1);
}

}  // namespace
}  // namespace cosmoseal::integration
