// Drain (SIGTERM): the listener closes, idle connections close, the request in flight finishes
// and is answered with Connection: close, then the worker's loop ends.

#include <gtest/gtest.h>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string okAnswer(const HttpMessage&) { return jsonResponse(200, "{\"ok\":true}"); }

// True once a new connection to `port` is refused (the drain reached the worker's loop).
bool waitRefused(uint16_t port, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  while (steady_clock::now() < deadline) {
    Wire probe = Wire::connectLocal(port);
    if (!probe.valid()) return true;
    sleepMs(5);
  }
  return false;
}

TEST(DrainTest, InFlightRequestFinishesWithConnectionCloseAndNewConnectionsAreRefused) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    if (!u.readRequest(c).ok()) return;
    sleepMs(300);  // the drain starts while this request is in flight
    c.send(jsonResponse(200, "{\"finished\":true}"));
    serveAll(u, c, okAnswer);
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ASSERT_TRUE(upstream.waitForRequests(1, std::chrono::seconds(3)));
  proxy.beginDrain();
  EXPECT_TRUE(waitRefused(proxy.port(), milliseconds(2000)));

  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);
  EXPECT_EQ(r.message.body, "{\"finished\":true}");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_EQ(app.waitClosed(milliseconds(3000)), ReadEnd::kEof);
  app.close();  // ends the proxy's lingering close at once
  EXPECT_TRUE(proxy.waitFinished(milliseconds(3000)));
}

TEST(DrainTest, IdleKeepAliveConnectionsCloseAndTheWorkerFinishes) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ASSERT_TRUE(app.readResponse().ok());
  Wire silent = Wire::connectLocal(proxy.port());  // connected, never sent a byte
  ASSERT_TRUE(silent.valid());
  sleepMs(20);

  proxy.beginDrain();
  EXPECT_EQ(app.waitClosed(milliseconds(3000)), ReadEnd::kEof);
  EXPECT_EQ(app.pending(), "");
  EXPECT_EQ(silent.waitClosed(milliseconds(3000)), ReadEnd::kEof);
  app.close();
  silent.close();
  EXPECT_TRUE(proxy.waitFinished(milliseconds(3000)));
  // The pooled upstream connection was closed too.
  const auto start = steady_clock::now();
  while (upstream.finishedScripts() < 1 && steady_clock::now() - start < std::chrono::seconds(3)) {
    sleepMs(5);
  }
  EXPECT_EQ(upstream.finishedScripts(), 1);
}

TEST(DrainTest, PipelinedRequestBehindTheInFlightOneIsNotStarted) {
  // After the drain only the request in flight is answered (Connection: close tells the app the
  // next one was not processed); the pipelined one never reaches the upstream.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    if (!u.readRequest(c).ok()) return;
    sleepMs(300);
    c.send(jsonResponse(200, "{\"first\":true}"));
    serveAll(u, c, okAnswer);
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/1") +
                       proxy.request("GET", "/dbs/shop/colls/orders/docs/2")));
  ASSERT_TRUE(upstream.waitForRequests(1, std::chrono::seconds(3)));
  proxy.beginDrain();
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.body, "{\"first\":true}");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_NE(app.waitClosed(milliseconds(3000)), ReadEnd::kTimeout);
  EXPECT_EQ(app.pending(), "");
  EXPECT_EQ(upstream.requestCount(), 1u);
  app.close();
  EXPECT_TRUE(proxy.waitFinished(milliseconds(3000)));
}

}  // namespace
}  // namespace cosmoseal::integration
