// A protected route (shop/customers: /ssn encrypted with key "pii"): whatever way the body
// arrives, the upstream only ever sees the envelope, and the app gets its plaintext back.

#include <gtest/gtest.h>

#include <cstdio>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

constexpr const char* kSsn = "123-45-6789";
const std::string kDoc = std::string("{\"id\":\"c1\",\"pk\":\"p1\",\"ssn\":\"") + kSsn + "\"}";
constexpr const char* kPkHeader = "x-ms-documentdb-partitionkey: [\"p1\"]\r\n";

// Stores what it is sent and echoes it back, as Cosmos does for a create.
std::string echoCreated(const HttpMessage& req) { return jsonResponse(201, req.body); }

void expectNoPlaintextUpstream(const FakeUpstream& upstream) {
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.raw.find(kSsn), std::string::npos) << "plaintext reached the upstream:\n" << m.raw;
  }
}

TEST(ProtectedRouteTest, CreateReachesTheUpstreamEncryptedAndComesBackDecrypted) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoCreated); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/customers/docs", kDoc, kPkHeader)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201) << r.message.raw;
  EXPECT_NE(r.message.body.find(std::string("\"ssn\":\"") + kSsn + "\""), std::string::npos)
      << r.message.body;

  ASSERT_EQ(upstream.requestCount(), 1u);
  const HttpMessage sent = upstream.requests()[0];
  expectNoPlaintextUpstream(upstream);
  // The rest of the document is untouched; the protected value is replaced, not dropped.
  EXPECT_NE(sent.body.find("\"id\":\"c1\""), std::string::npos) << sent.body;
  EXPECT_NE(sent.body.find("\"ssn\":\""), std::string::npos) << sent.body;
  EXPECT_EQ(sent.header("content-length"), std::to_string(sent.body.size()));
}

TEST(ProtectedRouteTest, BodyArrivingByteByByteIsStillEncrypted) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoCreated); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  const std::string req = proxy.request("POST", "/dbs/shop/colls/customers/docs", kDoc, kPkHeader);
  const size_t head_len = req.size() - kDoc.size();
  ASSERT_TRUE(app.send(std::string_view(req).substr(0, head_len)));
  ASSERT_TRUE(app.sendSlowly(kDoc, 1, milliseconds(1)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201);
  ASSERT_EQ(upstream.requestCount(), 1u);
  expectNoPlaintextUpstream(upstream);
}

TEST(ProtectedRouteTest, ChunkedRequestBodyIsEncryptedWhole) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoCreated); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  // The value is split across chunks (and TCP writes): "123-4" | "5-6789".
  std::string req = proxy.request("POST", "/dbs/shop/colls/customers/docs", "",
                                  std::string(kPkHeader) + "Transfer-Encoding: chunked\r\n");
  const size_t cl = req.find("Content-Length: 0\r\n");
  ASSERT_NE(cl, std::string::npos);
  req.erase(cl, 19);
  const size_t split = kDoc.find("5-6789");
  auto chunk = [](std::string_view s) {
    char size[16];
    snprintf(size, sizeof(size), "%zx\r\n", s.size());
    return std::string(size) + std::string(s) + "\r\n";
  };
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(req + chunk(std::string_view(kDoc).substr(0, split))));
  sleepMs(20);
  ASSERT_TRUE(app.send(chunk(std::string_view(kDoc).substr(split)) + "0\r\n\r\n"));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201) << r.message.raw;
  EXPECT_NE(r.message.body.find(kSsn), std::string::npos);
  ASSERT_EQ(upstream.requestCount(), 1u);
  expectNoPlaintextUpstream(upstream);
  EXPECT_FALSE(upstream.requests()[0].hasHeader("transfer-encoding"));
}

TEST(ProtectedRouteTest, RefusedRequestBodyIsDiscardedNotForwarded) {
  // A request that fails authentication is refused at its head; its body (plaintext) is read
  // and thrown away, and the keep-alive connection carries on.
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, echoCreated); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  std::string bad = proxy.request("POST", "/dbs/shop/colls/customers/docs", kDoc, kPkHeader);
  const size_t auth = bad.find("authorization: ");
  ASSERT_NE(auth, std::string::npos);
  bad.replace(auth, 15, "x-ignored: ");
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(bad));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 401);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "auth.missing");
  EXPECT_FALSE(r.message.hasHeader("connection"));

  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/customers/docs", kDoc, kPkHeader)));
  ReadResult ok = app.readResponse();
  ASSERT_TRUE(ok.ok()) << readEndName(ok.end);
  EXPECT_EQ(ok.message.status, 201);
  EXPECT_EQ(upstream.requestCount(), 1u);
  expectNoPlaintextUpstream(upstream);
}

}  // namespace
}  // namespace cosmoseal::integration
