// Requests addressed by resource ids (issue 14: the Java and .NET SDKs read partition-key ranges
// as GET /dbs/{dbRid}/colls/{collRid}/pkranges, signed over the lowercased RID). cosmoseal maps
// the RIDs to names - from the cache, else by reading the collection and the database itself,
// signed over their RIDs with the account key - so the client's rules and the container's policy
// apply, then forwards the request signed the way the app signed it.

#include <gtest/gtest.h>

#include <string>

#include "crypto/cosmos_auth.h"
#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

constexpr const char* kDbRid = "gAABAA==";
constexpr const char* kCollRid = "gAABAIAAAAE=";
const std::string kRidPrefix = std::string("/dbs/") + kDbRid + "/colls/" + kCollRid;

// A Cosmos stand-in that knows database shop (gAABAA==) and its container customers
// (gAABAIAAAAE=), and database other (wAAAAA==) with container x (wAAAAIAAAAE=), by RID.
std::string answerByRid(const HttpMessage& req) {
  const std::string& line = req.start_line;
  auto is = [&](const std::string& target) { return line.rfind("GET " + target + " ", 0) == 0; };
  if (is(kRidPrefix)) {
    return jsonResponse(200, std::string(R"({"id":"customers","_rid":")") + kCollRid +
                                 R"(","partitionKey":{"paths":["/pk"],"kind":"Hash"}})");
  }
  if (is(std::string("/dbs/") + kDbRid)) {
    return jsonResponse(200, std::string(R"({"id":"shop","_rid":")") + kDbRid + R"("})");
  }
  if (is("/dbs/wAAAAA==/colls/wAAAAIAAAAE=")) {
    return jsonResponse(200, R"({"id":"x","_rid":"wAAAAIAAAAE=","partitionKey":{"paths":["/k"]}})");
  }
  if (is("/dbs/wAAAAA==")) return jsonResponse(200, R"({"id":"other","_rid":"wAAAAA=="})");
  if (is(kRidPrefix + "/pkranges")) {
    return jsonResponse(
        200,
        R"({"_rid":"gAABAIAAAAE=","PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"FF"}],"_count":1})");
  }
  if (line.rfind("POST " + kRidPrefix + "/docs ", 0) == 0) return jsonResponse(201, req.body);
  return jsonResponse(404, R"({"code":"NotFound"})");
}

// The upstream Authorization must be the account key's signature over the RID link.
void expectSignedOverRid(const ProxyUnderTest& proxy, const HttpMessage& m) {
  const std::string target = m.start_line.substr(
      m.start_line.find(' ') + 1, m.start_line.rfind(' ') - m.start_line.find(' ') - 1);
  auto res = crypto::cosmosResourceFromPath(target);
  ASSERT_TRUE(res.isOk()) << target;
  const std::string method = m.start_line.substr(0, m.start_line.find(' '));
  const std::string sts = crypto::cosmosStringToSign(
      method, res->type, crypto::cosmosRidLink(res->link), m.header("x-ms-date").value_or(""), "");
  EXPECT_EQ(m.header("authorization").value_or(""),
            crypto::cosmosAuthorizationHeader(crypto::cosmosSignature(proxy.accountKey(), sts)))
      << m.start_line;
}

TEST(RidRouteTest, PkRangesByRidAreMappedToNamesOnceThenForwarded) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answerByRid); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.ridRequest("GET", kRidPrefix + "/pkranges")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_NE(r.message.body.find("PartitionKeyRanges"), std::string::npos);
  // The collection, then its database, then the request itself: all signed over RIDs.
  ASSERT_EQ(upstream.requestCount(), 3u);
  const auto sent = upstream.requests();
  EXPECT_EQ(sent[0].start_line, "GET " + kRidPrefix + " HTTP/1.1");
  EXPECT_EQ(sent[1].start_line, std::string("GET /dbs/") + kDbRid + " HTTP/1.1");
  EXPECT_EQ(sent[2].start_line, "GET " + kRidPrefix + "/pkranges HTTP/1.1");
  for (const HttpMessage& m : sent) expectSignedOverRid(proxy, m);

  // Known now: the next one goes straight through.
  ASSERT_TRUE(app.send(proxy.ridRequest("GET", kRidPrefix + "/pkranges")));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);
  EXPECT_EQ(upstream.requestCount(), 4u);
}

TEST(RidRouteTest, RulesApplyToTheNamesBehindTheRids) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answerByRid); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  // The client may use database shop only: a document of other/x by RID is refused, and never
  // forwarded. (Partition-key ranges are routing metadata every client may read, as by name.)
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.ridRequest("GET", "/dbs/wAAAAA==/colls/wAAAAIAAAAE=/docs/a", "",
                                        "x-ms-documentdb-partitionkey: [\"k\"]\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 403) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "rules.denied");
  EXPECT_NE(r.message.body.find("database 'other' container 'x'"), std::string::npos)
      << r.message.body;
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.start_line.find("/docs"), std::string::npos) << m.start_line;
  }
}

TEST(RidRouteTest, ProtectedContainerByRidIsEncrypted) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answerByRid); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  const std::string doc = R"({"id":"c1","pk":"p1","ssn":"RID-CANARY-123"})";
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.ridRequest("POST", kRidPrefix + "/docs", doc,
                                        "x-ms-documentdb-partitionkey: [\"p1\"]\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 201) << r.message.raw;
  EXPECT_NE(r.message.body.find("RID-CANARY-123"), std::string::npos) << "decrypted for the app";
  ASSERT_GE(upstream.requestCount(), 1u);
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.raw.find("RID-CANARY-123"), std::string::npos) << "plaintext upstream: " << m.raw;
  }
  EXPECT_EQ(upstream.requests().back().start_line, "POST " + kRidPrefix + "/docs HTTP/1.1");
}

TEST(RidRouteTest, UnknownRidsAnswerNotFoundAndSendNothing) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answerByRid); });
  ProxyUnderTest proxy(upstream.port());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.ridRequest("GET", "/dbs/AAAAAA==/colls/AAAAAAAAAAA=/pkranges")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 404) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "route.rid_unresolved");
  ASSERT_EQ(upstream.requestCount(), 1u);  // only the collection read
}

}  // namespace
}  // namespace cosmoseal::integration
