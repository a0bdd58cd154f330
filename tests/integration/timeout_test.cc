// Timeouts on both legs, with short values from the config: the request head (slowloris), the
// request body (between reads), the upstream response (504), the idle keep-alive connection.

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string okAnswer(const HttpMessage&) { return jsonResponse(200, "{\"ok\":true}"); }

ProxySettings shortTimeouts() {
  ProxySettings s;
  s.header_timeout = "300ms";
  s.body_timeout = "300ms";
  s.idle_timeout = "300ms";
  s.upstream_response_timeout = "300ms";
  return s;
}

int64_t msSince(steady_clock::time_point t) {
  return std::chrono::duration_cast<milliseconds>(steady_clock::now() - t).count();
}

TEST(TimeoutTest, HeadThatNeverCompletesIsA408AndTheConnectionCloses) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  const auto start = steady_clock::now();
  ASSERT_TRUE(app.send("GET /dbs/shop/colls/orders/docs/a HTTP/1.1\r\nHost: x\r\n"));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_GE(msSince(start), 250);
  EXPECT_EQ(r.message.status, 408);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "http1.header_timeout");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_NE(app.waitClosed(milliseconds(3000)), ReadEnd::kTimeout);
  EXPECT_EQ(upstream.requestCount(), 0u);
}

TEST(TimeoutTest, HeadTrickledSlowerThanTheTimeoutIsCutEvenWhileBytesArrive) {
  // The header timeout bounds the whole head, not the gaps: a byte every 30 ms does not extend it.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  const auto start = steady_clock::now();
  const std::string head = "GET /dbs/shop HTTP/1.1\r\nX-Slow: abcdefghijklm\r\n";  // 45 bytes
  app.sendSlowly(head, 1, milliseconds(30));  // ~1.3 s: the head is never finished in time
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 408);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "http1.header_timeout");
  EXPECT_LT(msSince(start), 5000);
  EXPECT_EQ(upstream.requestCount(), 0u);
}

TEST(TimeoutTest, BodyThatStallsIsA408AndNothingReachesTheUpstream) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"o1\",\"pk\":\"p1\",\"pad\":\"" + std::string(100, 'x') + "\"}";
  std::string req = proxy.request("POST", "/dbs/shop/colls/orders/docs", doc);
  req.resize(req.size() - doc.size() + 10);  // the head and 10 bytes of the body, then silence
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(req));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 408);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "http1.body_timeout");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_EQ(upstream.requestCount(), 0u);
}

TEST(TimeoutTest, SlowButSteadyBodyIsNotCut) {
  // The body timeout is between reads: 20 pieces 100 ms apart (2 s in all, each gap well under
  // the 300 ms limit) go through.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage& req) { return jsonResponse(201, req.body); });
  });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"o1\",\"pk\":\"p1\",\"pad\":\"" + std::string(170, 'y') + "\"}";
  std::string req = proxy.request("POST", "/dbs/shop/colls/orders/docs", doc);
  const size_t head_len = req.size() - doc.size();
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(std::string_view(req).substr(0, head_len)));
  ASSERT_TRUE(app.sendSlowly(doc, doc.size() / 20 + 1, milliseconds(100)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  EXPECT_EQ(r.message.body, doc);
}

// Issue 13, finding 9: a body that keeps trickling (every gap under timeouts.body) used to hold
// the connection for as long as it liked. Below timeouts.min_body_rate on average, once the grace
// period is over, it is cut with a 408 and the connection closes.
ProxySettings slowBodyLimits() {
  ProxySettings s;
  s.body_timeout = "2s";
  s.timeouts_extra = "min_body_rate: 1KiB/s, min_body_rate_grace: 500ms";
  return s;
}

TEST(TimeoutTest, BodyBelowTheMinimumRateIsA408AndTheConnectionCloses) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port(), slowBodyLimits());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"o1\",\"pk\":\"p1\",\"pad\":\"" + std::string(400, 'z') + "\"}";
  std::string req = proxy.request("POST", "/dbs/shop/colls/orders/docs", doc);
  const size_t head_len = req.size() - doc.size();
  Wire app = Wire::connectLocal(proxy.port());
  const auto start = steady_clock::now();
  ASSERT_TRUE(app.send(std::string_view(req).substr(0, head_len)));
  // 10 bytes every 100 ms = 100 B/s: each gap is far under timeouts.body (2 s), the average far
  // under 1 KiB/s. Allowed: 500 ms + 1 ms per byte, so it is cut after about 0.55 s.
  std::atomic<bool> stop{false};
  std::thread sender([&] {
    for (size_t at = 0; at < doc.size() && !stop.load(); at += 10) {
      if (!app.send(std::string_view(doc).substr(at, 10))) return;
      sleepMs(100);
    }
  });
  ReadResult r = app.readResponse(milliseconds(4000));
  stop.store(true);
  sender.join();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 408);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "http1.body_too_slow");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_GE(msSince(start), 450);
  EXPECT_LT(msSince(start), 2000);  // before the whole body (4 s) and before timeouts.body
  EXPECT_NE(app.waitClosed(milliseconds(3000)), ReadEnd::kTimeout);
  EXPECT_EQ(upstream.requestCount(), 0u);
}

TEST(TimeoutTest, BodyAtTheMinimumRateGoesThrough) {
  // 200 bytes every 50 ms (4 KB/s) for ~0.5 s: well above 1 KiB/s, so never cut.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage& req) { return jsonResponse(201, req.body); });
  });
  ProxyUnderTest proxy(upstream.port(), slowBodyLimits());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc =
      "{\"id\":\"o1\",\"pk\":\"p1\",\"pad\":\"" + std::string(2000, 'w') + "\"}";
  std::string req = proxy.request("POST", "/dbs/shop/colls/orders/docs", doc);
  const size_t head_len = req.size() - doc.size();
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(std::string_view(req).substr(0, head_len)));
  ASSERT_TRUE(app.sendSlowly(doc, 200, milliseconds(50)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  EXPECT_EQ(r.message.body, doc);
}

TEST(TimeoutTest, BodyStallStillReportsTheBodyTimeout) {
  // With a minimum rate configured, a body that stops altogether for timeouts.body before the
  // rate deadline is still a body timeout (the older, more precise detail).
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxySettings settings;
  settings.body_timeout = "300ms";
  settings.timeouts_extra = "min_body_rate: 1KiB/s, min_body_rate_grace: 5s";
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"o1\",\"pk\":\"p1\",\"pad\":\"" + std::string(100, 'x') + "\"}";
  std::string req = proxy.request("POST", "/dbs/shop/colls/orders/docs", doc);
  req.resize(req.size() - doc.size() + 10);
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(req));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 408);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "http1.body_timeout");
}

TEST(TimeoutTest, SilentUpstreamIsA504AndItsConnectionIsClosed) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int index) {
    if (index > 0) {
      serveAll(u, c, okAnswer);
      return;
    }
    if (!u.readRequest(c).ok()) return;
    c.waitClosed(std::chrono::seconds(5));  // never answers; the proxy hangs up
  });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  const auto start = steady_clock::now();
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_GE(msSince(start), 250);
  EXPECT_EQ(r.message.status, 504);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.timeout");
  // The timed-out upstream connection was closed by the proxy, not pooled.
  const auto wait_start = steady_clock::now();
  while (upstream.finishedScripts() < 1 && msSince(wait_start) < 3000) sleepMs(5);
  EXPECT_EQ(upstream.finishedScripts(), 1);

  // The app connection survives a 504, and the next request uses a fresh upstream connection.
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b")));
  ReadResult r2 = app.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.status, 200);
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(TimeoutTest, UpstreamThatStallsMidBodyIsCutAndTheAppConnectionReset) {
  // Once the response streams, the response timeout bounds silence between reads.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    if (!u.readRequest(c).ok()) return;
    c.send(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        "{\"partial\":");
    c.waitClosed(std::chrono::seconds(5));
  });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse(milliseconds(3000));
  EXPECT_FALSE(r.ok()) << "a truncated body was delivered as complete";
  EXPECT_NE(r.end, ReadEnd::kTimeout);
}

TEST(TimeoutTest, IdleKeepAliveConnectionIsClosed) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port(), shortTimeouts());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ASSERT_TRUE(app.readResponse().ok());
  const auto start = steady_clock::now();
  EXPECT_EQ(app.waitClosed(milliseconds(3000)), ReadEnd::kEof);
  EXPECT_GE(msSince(start), 200);
  EXPECT_EQ(app.pending(), "");  // closed quietly, no response
}

}  // namespace
}  // namespace cosmoseal::integration
