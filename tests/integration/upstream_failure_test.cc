// The upstream misbehaves: closes before or during a response, or a pooled connection turns out
// to be dead. The app must never take a truncated body for a complete one, and a broken upstream
// connection is never reused.

#include <gtest/gtest.h>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

// Connection 0 runs `first`; every later connection answers normally with {"ok":true}.
FakeUpstream::Script firstConnection(std::function<void(FakeUpstream&, Wire&)> first) {
  return [first](FakeUpstream& u, Wire& c, int index) {
    if (index == 0) {
      first(u, c);
      return;
    }
    serveAll(u, c, [](const HttpMessage&) { return jsonResponse(200, "{\"ok\":true}"); });
  };
}

TEST(UpstreamFailureTest, CloseMidStreamedResponseResetsTheAppConnection) {
  FakeUpstream upstream(firstConnection([](FakeUpstream& u, Wire& c) {
    if (!u.readRequest(c).ok()) return;
    c.send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n" +
           std::string(1000, 'x'));
    sleepMs(50);
    c.close();  // 99,000 bytes short
  }));
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  // The head was already forwarded: the only honest signal left is to break the connection.
  EXPECT_FALSE(r.ok()) << "a truncated body was delivered as complete";
  EXPECT_EQ(r.end, ReadEnd::kReset) << readEndName(r.end);
  EXPECT_NE(app.pending().find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(proxy.stats().upstream_errors.load(), 1u);

  // The broken upstream connection is not reused: the next request opens connection 1.
  Wire again = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(again.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b")));
  ReadResult r2 = again.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.body, "{\"ok\":true}");
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(UpstreamFailureTest, CloseMidBufferedResponseIsA502NotAPartialBody) {
  // A protected container's response is buffered before it is decrypted: nothing was sent to
  // the app yet, so a clean 502 is possible, and the app connection stays usable.
  FakeUpstream upstream(firstConnection([](FakeUpstream& u, Wire& c) {
    if (!u.readRequest(c).ok()) return;
    c.send(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
        "{\"id\":\"c1\",\"pk\":");
    sleepMs(50);
    c.close();
  }));
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/customers/docs/c1", "",
                                     "x-ms-documentdb-partitionkey: [\"p1\"]\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.truncated");
  EXPECT_EQ(r.message.body.find("{\"id\":\"c1\""), std::string::npos);

  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/b")));
  ReadResult r2 = app.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.status, 200);
  EXPECT_EQ(upstream.connections(), 2);
}

TEST(UpstreamFailureTest, CloseBeforeAnsweringAWriteIsA502AndNotRetried) {
  FakeUpstream upstream(firstConnection([](FakeUpstream& u, Wire& c) {
    if (!u.readRequest(c).ok()) return;
    c.close();
  }));
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/orders/docs", "{\"id\":\"o1\"}")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.connection_closed");
  EXPECT_EQ(upstream.requestCount(), 1u);  // writes are never retried
  EXPECT_EQ(proxy.stats().upstream_retries.load(), 0u);
}

TEST(UpstreamFailureTest, DeadPooledConnectionIsRetriedOnceForAnIdempotentRead) {
  // Connection 0 answers one request, then dies on the next one without answering (a server
  // that closed a keep-alive connection as we reused it). A GET is retried on a fresh one.
  FakeUpstream upstream(firstConnection([](FakeUpstream& u, Wire& c) {
    if (!u.readRequest(c).ok()) return;
    c.send(jsonResponse(200, "{\"first\":true}"));
    if (!u.readRequest(c).ok()) return;
    c.close();
  }));
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r1 = app.readResponse();
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1.message.body, "{\"first\":true}");
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r2 = app.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.status, 200);
  EXPECT_EQ(r2.message.body, "{\"ok\":true}");
  EXPECT_EQ(proxy.stats().upstream_retries.load(), 1u);
  EXPECT_EQ(upstream.connections(), 2);
  EXPECT_EQ(upstream.requestCount(), 3u);
}

TEST(UpstreamFailureTest, MalformedResponseIsA502) {
  FakeUpstream upstream(firstConnection([](FakeUpstream& u, Wire& c) {
    if (!u.readRequest(c).ok()) return;
    c.send("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
    c.waitClosed(std::chrono::seconds(2));
  }));
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.bad_response");
  EXPECT_EQ(r.message.body.find("hello"), std::string::npos);
}

TEST(UpstreamFailureTest, UnreachableUpstreamIsA502) {
  // A port nobody listens on: connection refused.
  uint16_t closed_port = 0;
  {
    FakeUpstream probe([](FakeUpstream&, Wire&, int) {});
    closed_port = probe.port();
  }
  ProxyUnderTest proxy(closed_port);
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.connect_failed");
}

// Finding 10 (issue 13): an upstream-error reply must honour what the app asked for. A request
// sent with "Connection: close" gets "Connection: close" and a closed connection after a 502 or
// a 504 exactly as after a proxied 200. A keep-alive request keeps its connection (the whole
// request was read before anything went upstream, so the framing is clean; see
// docs/OPERATIONS.md "Upstream errors").
uint16_t closedPort() {
  FakeUpstream probe([](FakeUpstream&, Wire&, int) {});
  return probe.port();
}

TEST(UpstreamFailureTest, ConnectFailedReplyHonoursConnectionClose) {
  ProxyUnderTest proxy(closedPort());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(
      app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a", "", "Connection: close\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.connect_failed");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_NE(app.waitClosed(std::chrono::milliseconds(3000)), ReadEnd::kTimeout);
}

TEST(UpstreamFailureTest, TimeoutReplyHonoursConnectionClose) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    if (!u.readRequest(c).ok()) return;
    c.waitClosed(std::chrono::seconds(5));  // never answers
  });
  ProxySettings settings;
  settings.upstream_response_timeout = "300ms";
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(
      app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a", "", "Connection: close\r\n")));
  ReadResult r = app.readResponse(milliseconds(3000));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 504);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.timeout");
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_NE(app.waitClosed(std::chrono::milliseconds(3000)), ReadEnd::kTimeout);
}

TEST(UpstreamFailureTest, Http10UpstreamErrorReplyClosesTheConnection) {
  // HTTP/1.0 without keep-alive: the connection ends with the reply, whatever the reply is.
  ProxyUnderTest proxy(closedPort());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  std::string req = proxy.request("GET", "/dbs/shop/colls/orders/docs/a");
  const size_t v = req.find("HTTP/1.1\r\n");
  ASSERT_NE(v, std::string::npos);
  req.replace(v, 8, "HTTP/1.0");
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(req));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 502);
  EXPECT_EQ(r.message.header("connection"), "close");
  EXPECT_NE(app.waitClosed(std::chrono::milliseconds(3000)), ReadEnd::kTimeout);
}

TEST(UpstreamFailureTest, ConnectFailedReplyKeepsAKeepAliveConnection) {
  // The decision documented in docs/OPERATIONS.md: the request was read whole before the
  // upstream was tried, so the app connection is still in step and stays open.
  ProxyUnderTest proxy(closedPort());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << i << " " << readEndName(r.end);
    EXPECT_EQ(r.message.status, 502);
    EXPECT_FALSE(r.message.hasHeader("connection"));
  }
}

}  // namespace
}  // namespace cosmoseal::integration
