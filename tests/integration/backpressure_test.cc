// Partial writes and backpressure: a large streamed response to an app that reads slowly, bodies
// that arrive a few bytes at a time in either direction.

#include <gtest/gtest.h>

#include <atomic>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return s;
}

TEST(BackpressureTest, LargeResponseToASlowReaderArrivesWholeAndStallsTheUpstream) {
  // 48 MiB streamed (an unprotected read is never buffered). While the app does not read, the
  // proxy must stop reading the upstream: the upstream cannot get everything out, because only
  // kernel socket buffers and the proxy's own queue (512 KiB high-water mark) hold data.
  constexpr size_t kSize = 48u << 20;
  const std::string body = pattern(kSize);
  std::atomic<size_t> sent{0};
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    if (!u.readRequest(c).ok()) return;
    const std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: " +
        std::to_string(kSize) + "\r\n\r\n";
    if (!c.send(head)) return;
    constexpr size_t kPiece = 64 * 1024;
    for (size_t off = 0; off < kSize; off += kPiece) {
      if (!c.send(std::string_view(body).substr(off, kPiece))) return;
      sent = off + std::min(kPiece, kSize - off);
    }
    u.readRequest(c);  // keep the connection until the proxy is done with it
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  app.setReceiveBuffer(16 * 1024);
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/big")));
  sleepMs(700);  // the app is busy: nothing read yet
  const size_t sent_while_stalled = sent.load();
  EXPECT_LT(sent_while_stalled, kSize) << "the upstream was read without backpressure";
  sleepMs(200);
  EXPECT_EQ(sent.load(), sent_while_stalled) << "the upstream kept moving while the app stalled";
  RecordProperty("bytes_in_flight_while_stalled", std::to_string(sent_while_stalled));

  ReadResult r = app.readResponse(std::chrono::seconds(20));
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);
  ASSERT_EQ(r.message.body.size(), kSize);
  EXPECT_TRUE(r.message.body == body) << "body differs";
  EXPECT_EQ(sent.load(), kSize);

  // The connection is still good for the next request.
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/next")));
  EXPECT_TRUE(upstream.waitForRequests(2, std::chrono::seconds(5)));
}

TEST(BackpressureTest, RequestArrivingByteByByteIsForwardedWhole) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage& req) { return jsonResponse(201, req.body); });
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc =
      "{\"id\":\"o1\",\"pk\":\"p1\",\"items\":[1,2,3],\"note\":\"" + std::string(200, 'x') + "\"}";
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.sendSlowly(proxy.request("POST", "/dbs/shop/colls/orders/docs", doc), 1,
                             milliseconds(1)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  EXPECT_EQ(r.message.body, doc);
  ASSERT_EQ(upstream.requestCount(), 1u);
  EXPECT_EQ(upstream.requests()[0].body, doc);
  EXPECT_EQ(upstream.requests()[0].header("content-length"), std::to_string(doc.size()));
}

TEST(BackpressureTest, ChunkedResponseInSmallPiecesIsReassembled) {
  const std::string chunked =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"a\":\r\n"
      "10\r\n\"0123456789abcd\"\r\n"
      "1\r\n}\r\n"
      "0\r\n\r\n";
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    for (;;) {
      if (!u.readRequest(c).ok()) return;
      if (!c.sendSlowly(chunked, 3, milliseconds(1))) return;
    }
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  for (int i = 0; i < 2; ++i) {  // twice: the chunked framing ends cleanly, keep-alive holds
    ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/c")));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.header("transfer-encoding"), "chunked");
    EXPECT_EQ(r.message.body, "{\"a\":\"0123456789abcd\"}");
  }
  EXPECT_EQ(upstream.connections(), 1);
}

TEST(BackpressureTest, BufferedProtectedResponseInSmallPiecesIsDecryptedWhole) {
  // A protected container's response is buffered and decrypted: sent 5 bytes at a time, it is
  // still answered once, whole, with a Content-Length.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) {
    for (;;) {
      ReadResult r = u.readRequest(c);
      if (!r.ok()) return;
      if (!c.sendSlowly(jsonResponse(201, r.message.body), 5, milliseconds(0))) return;
    }
  });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = "{\"id\":\"c1\",\"pk\":\"p1\",\"ssn\":\"123-45-6789\"}";
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/customers/docs", doc,
                                     "x-ms-documentdb-partitionkey: [\"p1\"]\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  EXPECT_EQ(r.message.header("content-length"), std::to_string(r.message.body.size()));
  EXPECT_NE(r.message.body.find("\"ssn\":\"123-45-6789\""), std::string::npos) << r.message.body;
}

}  // namespace
}  // namespace cosmoseal::integration
