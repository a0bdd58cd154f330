// The admin listener (proxy/server/admin.h) on a real uv loop in its own thread, with test hooks:
// probes, metrics, reload, and a close that stops listening and cuts open connections.

#include "proxy/server/admin.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <atomic>
#include <thread>

#include "tests/integration/wire.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

// An AdminServer listening on 127.0.0.1 port 0, its loop run by a thread. close() runs
// AdminServer::close on the loop (as Server does at the end of a drain) and joins the thread.
class AdminUnderTest {
 public:
  std::atomic<bool> ready{true};
  std::atomic<bool> reload_ok{true};
  std::atomic<int> reloads{0};

  AdminUnderTest() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &stop_, [](uv_async_t* a) {
      auto* self = static_cast<AdminUnderTest*>(a->data);
      self->admin_->close([self] {
        self->closed_ = true;
        uv_close(reinterpret_cast<uv_handle_t*>(&self->stop_), nullptr);
      });
    });
    stop_.data = this;
    proxy::AdminServer::Hooks hooks;
    hooks.ready = [this] { return ready.load(); };
    hooks.metrics = [] { return std::string("# TYPE test_metric gauge\ntest_metric 1\n"); };
    hooks.reload = [this]() -> common::Status {
      ++reloads;
      if (reload_ok) return common::Status::ok();
      return common::Status(common::Code::kInvalidArgument, "config.invalid", "t.yaml:1:1: bad");
    };
    admin_ = std::make_unique<proxy::AdminServer>(&loop_, std::move(hooks));
    listen_status_ = admin_->listen("127.0.0.1", 0, &port_);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  ~AdminUnderTest() {
    close();
    admin_.reset();
    uv_loop_close(&loop_);
  }

  bool ok() const { return listen_status_.isOk(); }
  uint16_t port() const { return port_; }
  bool closed() const { return closed_.load(); }

  void close() {
    if (!thread_.joinable()) return;
    uv_async_send(&stop_);
    thread_.join();
  }

  // One request on a fresh connection (the admin listener closes after each answer).
  ReadResult ask(const std::string& method, const std::string& path) {
    Wire c = Wire::connectLocal(port_);
    if (!c.valid()) return ReadResult{};
    c.send(method + " " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n");
    return c.readMessage(true, milliseconds(3000), method == "HEAD");
  }

 private:
  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<proxy::AdminServer> admin_;
  common::Status listen_status_;
  uint16_t port_ = 0;
  std::atomic<bool> closed_{false};
  std::thread thread_;
};

TEST(AdminTest, ProbesAnswerAndCloseTheConnection) {
  AdminUnderTest admin;
  ASSERT_TRUE(admin.ok());

  ReadResult h = admin.ask("GET", "/healthz");
  ASSERT_TRUE(h.ok()) << readEndName(h.end);
  EXPECT_EQ(h.message.status, 200);
  EXPECT_EQ(h.message.body, "ok\n");
  EXPECT_EQ(h.message.header("connection"), "close");
  EXPECT_EQ(h.message.header("cache-control"), "no-store");

  ReadResult head = admin.ask("HEAD", "/healthz");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head.message.status, 200);
  EXPECT_EQ(head.message.header("content-length"), "0");

  ReadResult r = admin.ask("GET", "/readyz?verbose=1");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 200);
  admin.ready = false;
  r = admin.ask("GET", "/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 503);
  EXPECT_EQ(r.message.body, "not ready\n");

  ReadResult m = admin.ask("GET", "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.message.status, 200);
  EXPECT_EQ(m.message.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(m.message.body, "# TYPE test_metric gauge\ntest_metric 1\n");

  ReadResult nf = admin.ask("GET", "/nope");
  ASSERT_TRUE(nf.ok());
  EXPECT_EQ(nf.message.status, 404);
}

TEST(AdminTest, ReloadIsPostOnlyAndReportsRejections) {
  AdminUnderTest admin;
  ASSERT_TRUE(admin.ok());

  ReadResult get = admin.ask("GET", "/reload");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get.message.status, 405);
  EXPECT_EQ(admin.reloads.load(), 0);

  ReadResult ok = admin.ask("POST", "/reload");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok.message.status, 200);
  EXPECT_EQ(ok.message.body, "reloaded\n");

  admin.reload_ok = false;
  ReadResult bad = admin.ask("POST", "/reload");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad.message.status, 422);
  EXPECT_NE(bad.message.body.find("t.yaml:1:1: bad"), std::string::npos) << bad.message.body;
  EXPECT_EQ(admin.reloads.load(), 2);
}

TEST(AdminTest, MalformedRequestIsAnsweredWithItsDetailCode) {
  AdminUnderTest admin;
  ASSERT_TRUE(admin.ok());
  Wire c = Wire::connectLocal(admin.port());
  ASSERT_TRUE(
      c.send("GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: "
             "2\r\n\r\n"));
  ReadResult r = c.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 400);
  EXPECT_EQ(r.message.body, "http1.duplicate_content_length\n");
}

TEST(AdminTest, CloseStopsListeningAndCutsOpenConnections) {
  AdminUnderTest admin;
  ASSERT_TRUE(admin.ok());
  Wire idle = Wire::connectLocal(admin.port());  // connected, never asks anything
  ASSERT_TRUE(idle.valid());
  sleepMs(20);

  admin.close();
  EXPECT_TRUE(admin.closed());
  EXPECT_NE(idle.waitClosed(milliseconds(2000)), ReadEnd::kTimeout);
  EXPECT_EQ(idle.pending(), "");
  Wire late = Wire::connectLocal(admin.port());
  EXPECT_FALSE(late.valid());
}

}  // namespace
}  // namespace cosmoseal::integration
