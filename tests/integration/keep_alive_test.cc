// Keep-alive and pipelining through the real worker: several requests on one app connection, one
// pooled upstream connection, answers strictly in request order.

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

// Answers every request with a small JSON body naming its request line.
std::string echoTarget(const HttpMessage& req) {
  return jsonResponse(200, "{\"line\":\"" + req.start_line + "\"}");
}

TEST(KeepAliveTest, SeveralRequestsShareOneConnectionOnBothSides) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoTarget); });
  ASSERT_TRUE(upstream.ok());
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.valid());
  for (int i = 0; i < 5; ++i) {
    const std::string path = "/dbs/shop/colls/orders/docs/o" + std::to_string(i);
    ASSERT_TRUE(app.send(proxy.request("GET", path)));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 200);
    EXPECT_EQ(r.message.body, "{\"line\":\"GET " + path + " HTTP/1.1\"}");
    EXPECT_FALSE(r.message.hasHeader("connection")) << r.message.raw;
  }
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(upstream.requestCount(), 5u);
  EXPECT_EQ(proxy.stats().connections_accepted.load(), 1u);
}

TEST(KeepAliveTest, PooledUpstreamConnectionServesTheNextAppConnection) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoTarget); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  for (int i = 0; i < 3; ++i) {
    Wire app = Wire::connectLocal(proxy.port());
    ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 200);
  }
  EXPECT_EQ(upstream.connections(), 1);
  EXPECT_EQ(proxy.stats().connections_accepted.load(), 3u);
}

TEST(KeepAliveTest, UpstreamRequestIsResignedWithTheAccountKey) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoTarget); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  const std::string req = proxy.request("GET", "/dbs/shop/colls/orders/docs/a");
  ASSERT_TRUE(app.send(req));
  ASSERT_TRUE(app.readResponse().ok());
  ASSERT_EQ(upstream.requestCount(), 1u);
  const HttpMessage seen = upstream.requests()[0];
  ASSERT_TRUE(seen.header("authorization").has_value());
  // The app's token (client key) never travels upstream; the account signature replaces it.
  EXPECT_EQ(req.find(*seen.header("authorization")), std::string::npos);
  EXPECT_EQ(seen.header("host"), "127.0.0.1:" + std::to_string(upstream.port()));
  EXPECT_EQ(seen.header("accept-encoding"), "identity");
}

TEST(PipeliningTest, AnswersComeBackInRequestOrder) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoTarget); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  std::string batch;
  for (int i = 0; i < 4; ++i) {
    batch += proxy.request("GET", "/dbs/shop/colls/orders/docs/p" + std::to_string(i));
  }
  ASSERT_TRUE(app.send(batch));  // one write: all four requests at once
  for (int i = 0; i < 4; ++i) {
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << "response " << i << ": " << readEndName(r.end);
    EXPECT_EQ(r.message.body,
              "{\"line\":\"GET /dbs/shop/colls/orders/docs/p" + std::to_string(i) + " HTTP/1.1\"}");
  }
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(PipeliningTest, NextRequestWaitsUntilTheCurrentOneIsAnswered) {
  // The first answer is slow. Requests go upstream one at a time: the second may not arrive
  // before the first is answered, and its (fast) answer comes back second.
  std::atomic<bool> second_arrived_early{false};
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    ReadResult first = u.readRequest(c);
    if (!first.ok()) return;
    ReadResult early = u.readRequest(c, milliseconds(200));
    second_arrived_early = early.ok();
    c.send(jsonResponse(200, "{\"n\":1}"));
    serveAll(u, c, [](const HttpMessage&) { return jsonResponse(200, "{\"n\":2}"); });
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/1") +
                       proxy.request("GET", "/dbs/shop/colls/orders/docs/2")));
  ReadResult r1 = app.readResponse();
  ReadResult r2 = app.readResponse();
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1.message.body, "{\"n\":1}");
  EXPECT_EQ(r2.message.body, "{\"n\":2}");
  EXPECT_FALSE(second_arrived_early.load());
  EXPECT_EQ(upstream.requestCount(), 2u);
}

TEST(PipeliningTest, LocalRefusalInThePipelineKeepsTheOrder) {
  // The middle request has a bad signature: cosmoseal answers it itself (401), between the two
  // proxied answers, and only the two good requests reach the upstream.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoTarget); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  std::string bad = proxy.request("GET", "/dbs/shop/colls/orders/docs/b");
  const size_t sig = bad.find("sig%3D");
  ASSERT_NE(sig, std::string::npos);
  size_t at = sig + 6;  // first plain base64 character of the signature (not a %-escape)
  while (!std::isalnum(static_cast<unsigned char>(bad[at]))) at += 3;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a") + bad +
                       proxy.request("GET", "/dbs/shop/colls/orders/docs/c")));
  ReadResult a = app.readResponse(), b = app.readResponse(), c = app.readResponse();
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(a.message.status, 200);
  EXPECT_EQ(b.message.status, 401);
  EXPECT_EQ(b.message.header("x-cosmoseal-detail"), "auth.bad_signature");
  EXPECT_EQ(c.message.status, 200);
  EXPECT_NE(c.message.body.find("docs/c"), std::string::npos);
  EXPECT_EQ(upstream.requestCount(), 2u);
}

}  // namespace
}  // namespace cosmoseal::integration
