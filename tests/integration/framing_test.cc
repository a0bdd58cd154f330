// HTTP/1.1 framing and connection management across the two legs: Expect: 100-continue, HTTP/1.0
// clients, HEAD, hop-by-hop headers, an upstream that ends keep-alive, the connection limit.

#include <gtest/gtest.h>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

std::string okAnswer(const HttpMessage&) { return jsonResponse(200, "{\"ok\":true}"); }

TEST(FramingTest, ExpectContinueGetsA100BeforeTheBodyIsSent) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage& req) { return jsonResponse(201, req.body); });
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"o1\",\"pk\":\"p1\"}";
  const std::string req =
      proxy.request("POST", "/dbs/shop/colls/orders/docs", doc, "Expect: 100-continue\r\n");
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(std::string_view(req).substr(0, req.size() - doc.size())));
  ASSERT_EQ(app.waitFor("HTTP/1.1 100 Continue\r\n\r\n", milliseconds(3000)), ReadEnd::kMessage)
      << app.pending();
  ASSERT_TRUE(app.send(doc));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  EXPECT_EQ(r.message.body, doc);
  ASSERT_EQ(upstream.requestCount(), 1u);
  EXPECT_FALSE(upstream.requests()[0].hasHeader("expect"));  // the proxy answered it itself
}

TEST(FramingTest, ExpectContinueRefusedAtTheHeadIsAnsweredAtOnceAndClosed) {
  // The client will not send the body it announced until it hears 100: a refusal is answered
  // right away and the connection closed (the unread body cannot be skipped).
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(
      "POST /dbs/shop/colls/orders/docs HTTP/1.1\r\nHost: x\r\nx-ms-date: Sun, 06 Dec 2026 "
      "10:00:00 GMT\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n"));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 401);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "auth.missing");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_EQ(upstream.requestCount(), 0u);
}

TEST(FramingTest, Http10ClientGetsACloseDelimitedBodyFromAChunkedUpstream) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage&) {
      return std::string(
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
          "4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n");
    });
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  std::string req = proxy.request("GET", "/dbs/shop/colls/orders/docs/a");
  req.replace(req.find(" HTTP/1.1\r\n"), 11, " HTTP/1.0\r\n");
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(req));
  ReadResult r = app.readResponse();  // no length, not chunked: the body ends with the connection
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);
  EXPECT_FALSE(r.message.hasHeader("transfer-encoding"));
  EXPECT_FALSE(r.message.hasHeader("content-length"));
  EXPECT_EQ(r.message.body, "{\"a\":1}");
  // The upstream side stays keep-alive: the proxy de-chunked it, the connection is pooled.
  Wire next = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(next.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b")));
  ASSERT_TRUE(next.readResponse().ok());
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(FramingTest, HeadResponseHasNoBodyAndTheConnectionStaysInStep) {
  // The upstream's HEAD answer announces a length it does not send: the proxy must not wait for
  // those bytes, nor let anything of it leak into the next answer on the connection.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    for (;;) {
      ReadResult r = u.readRequest(c);
      if (!r.ok()) return;
      if (r.message.start_line.rfind("HEAD ", 0) == 0) {
        c.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n");
      } else {
        c.send(okAnswer(r.message));
      }
    }
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("HEAD", "/dbs/shop/colls/orders/docs/a")));
  ReadResult h = app.readMessage(true, milliseconds(3000), /*head_request=*/true);
  ASSERT_TRUE(h.ok()) << readEndName(h.end);
  EXPECT_EQ(h.message.status, 200);
  EXPECT_EQ(h.message.body, "");
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult g = app.readResponse();
  ASSERT_TRUE(g.ok()) << readEndName(g.end);
  EXPECT_EQ(g.message.body, "{\"ok\":true}");  // nothing of the HEAD leaked into this answer
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(FramingTest, HopByHopHeadersStopAtTheProxyAndUpstreamCloseIsHonoured) {
  // The upstream ends keep-alive (Connection: close): the app connection carries on, the
  // upstream connection is not reused.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    ReadResult r = u.readRequest(c);
    if (!r.ok()) return;
    c.send(jsonResponse(200, "{\"ok\":true}",
                        "Connection: close, x-upstream-hop\r\n"
                        "x-upstream-hop: 1\r\nKeep-Alive: timeout=5\r\n"));
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a", "",
                                     "Connection: keep-alive, x-app-hop\r\nx-app-hop: 1\r\n"
                                     "x-ms-session-token: 0:1\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_FALSE(r.message.hasHeader("connection"));
  EXPECT_FALSE(r.message.hasHeader("x-upstream-hop"));
  EXPECT_FALSE(r.message.hasHeader("keep-alive"));
  ASSERT_EQ(upstream.requestCount(), 1u);
  const HttpMessage seen = upstream.requests()[0];
  EXPECT_FALSE(seen.hasHeader("x-app-hop"));
  EXPECT_EQ(seen.header("x-ms-session-token"), "0:1");  // end-to-end headers pass

  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b")));
  ReadResult r2 = app.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.status, 200);
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(FramingTest, ConnectionsOverTheLimitAreClosedAtOnce) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, okAnswer); });
  ProxySettings settings;
  settings.extra_yaml = "limits: { max_connections: 1 }\n";
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire first = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(first.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ASSERT_TRUE(first.readResponse().ok());

  Wire second = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(second.valid());
  second.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b"));
  EXPECT_NE(second.waitClosed(milliseconds(3000)), ReadEnd::kTimeout);
  EXPECT_EQ(second.pending(), "");
  EXPECT_EQ(proxy.stats().connections_rejected.load(), 1u);
  EXPECT_EQ(upstream.requestCount(), 1u);

  // The first connection is unaffected.
  ASSERT_TRUE(first.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/c")));
  EXPECT_TRUE(first.readResponse().ok());
}

}  // namespace
}  // namespace cosmoseal::integration
