// Apps with Entra ID tokens (issue 16, item 2) on the real data path: a type=aad request is
// verified against the tenant's keys, mapped to its client, checked against that client's rules,
// and forwarded signed with the account key — the app's token never goes upstream. Key-signed
// apps keep working beside it.

#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>

#include "crypto/cosmos_auth.h"
#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"
#include "tests/unit/proxy/admission/token_minter.h"

namespace cosmoseal::integration {
namespace {

constexpr const char* kTenant = "5b1c6a2e-0d55-4c8e-9d7a-0a1b2c3d4e5f";
constexpr const char* kOrdersOid = "0a0a0a0a-1111-2222-3333-444444444444";

ProxySettings entraSettings(const std::string& entra_extra = "") {
  ProxySettings s;
  s.extra_yaml = std::string("entra:\n  tenant_id: ") + kTenant + "\n" + entra_extra;
  s.extra_clients = std::string("  - name: orders\n    entra: { object_id: ") + kOrdersOid +
                    " }\n    allow: [ { database: shop, containers: [orders], access: read } ]\n";
  return s;
}

std::string answer(const HttpMessage& req) {
  if (req.start_line.rfind("GET /dbs/shop/colls/orders ", 0) == 0) {
    return jsonResponse(200, R"({"id":"orders","partitionKey":{"paths":["/pk"]}})");
  }
  return jsonResponse(404, R"({"code":"NotFound"})");
}

class EntraAppsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { key_ = new proxy::testing::TokenMinter("idp-key-1"); }
  static void TearDownTestSuite() { delete key_; }

  std::string token(int64_t exp_in = 3600, const std::string& oid = kOrdersOid) const {
    return tokenBy(*key_, exp_in, oid);
  }
  static std::string tokenBy(const proxy::testing::TokenMinter& key, int64_t exp_in = 3600,
                             const std::string& oid = kOrdersOid) {
    proxy::testing::Claims c;
    c.iss = std::string("https://login.microsoftonline.com/") + kTenant + "/v2.0";
    c.tid = kTenant;
    c.oid = oid;
    const int64_t now = std::time(nullptr);
    c.iat = now - 10;
    c.nbf = now - 10;
    c.exp = now + exp_in;
    return key.sign(key.headerJson(), c.json());
  }
  // A request as @azure/cosmos sends it with aadCredentials.
  static std::string aadRequest(uint16_t port, const std::string& path, const std::string& jwt,
                                std::string* date_out = nullptr) {
    const std::string date = crypto::formatHttpDate(static_cast<int64_t>(std::time(nullptr)));
    if (date_out != nullptr) *date_out = date;
    return "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
           "\r\nx-ms-date: " + date +
           "\r\nx-ms-version: 2020-07-15\r\nauthorization: type%3Daad%26ver%3D1.0%26sig%3D" + jwt +
           "\r\n\r\n";
  }

  static proxy::testing::TokenMinter* key_;
};

proxy::testing::TokenMinter* EntraAppsTest::key_ = nullptr;

TEST_F(EntraAppsTest, ATokenIsMappedToItsClientAndForwardedWithTheAccountSignature) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_NE(proxy.snapshot()->entraKeys(), nullptr);
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));

  Wire app = Wire::connectLocal(proxy.port());
  std::string date;
  const std::string jwt = token();
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", jwt, &date)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  ASSERT_EQ(upstream.requestCount(), 1u);
  const HttpMessage sent = upstream.requests()[0];
  const std::string sts =
      crypto::cosmosStringToSign("GET", "colls", "dbs/shop/colls/orders", date, "");
  EXPECT_EQ(sent.header("authorization").value_or(""),
            crypto::cosmosAuthorizationHeader(crypto::cosmosSignature(proxy.accountKey(), sts)));
  EXPECT_EQ(sent.raw.find(jwt.substr(jwt.rfind('.') + 1)), std::string::npos)
      << "the app's token went upstream";

  // The client's rules apply: orders may not read shop/customers.
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/customers", jwt)));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 403);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "rules.denied");

  // A client key beside it.
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders")));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(upstream.requestCount(), 2u);
}

TEST_F(EntraAppsTest, UnknownIdentitiesAndBadTokensNeverGoUpstream) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();

  // Before any key set: 503.
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", token())));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 503);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "auth.token_keys_unavailable");

  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
  struct Case {
    std::string jwt;
    int status;
    const char* detail;
  };
  const proxy::testing::TokenMinter stranger("idp-key-2");
  const Case cases[] = {
      {token(3600, "ffffffff-1111-2222-3333-444444444444"), 403, "auth.unknown_identity"},
      {token(-600), 401, "auth.token_expired"},
      {stranger.sign(stranger.headerJson(), "{}"), 401, "auth.token_key_unknown"},
      {stranger.sign(key_->headerJson(), "{}"), 401, "auth.token_signature"},
      {"not.a.token", 401, "auth.token_malformed"},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", c.jwt)));
    r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, c.status) << c.detail;
    EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), c.detail);
  }
  EXPECT_EQ(upstream.requestCount(), 0u);
}

// Unknown kid (a key rolled over early at the tenant): the request is held, not refused, until
// the tenant's keys have been refreshed (here the test plays the refresh thread with
// replaceKeys), then served; no byte of it goes upstream before.
TEST_F(EntraAppsTest, AnUnknownKidIsHeldUntilTheKeysAreRefreshed) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings("  unknown_kid_wait: 10s\n"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
  const proxy::testing::TokenMinter rolled("idp-key-rolled");

  Wire app = Wire::connectLocal(proxy.port());
  // Two pipelined requests: the held one, then one with the old key behind it (answered after).
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", tokenBy(rolled)) +
                       aadRequest(proxy.port(), "/dbs/shop/colls/orders", token())));
  for (int i = 0; i < 200 && proxy.stats().entra_kid_held.load() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(proxy.stats().entra_kid_held.load(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(upstream.requestCount(), 0u) << "a held request went upstream";
  const auto released = std::chrono::steady_clock::now();
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_, &rolled}));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_LT(std::chrono::steady_clock::now() - released, std::chrono::seconds(2));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(upstream.requestCount(), 2u);
  EXPECT_EQ(proxy.stats().entra_kid_held.load(), 0u);
  EXPECT_EQ(proxy.stats().entra_kid_holds.load(), 1u);
  EXPECT_EQ(proxy.stats().entra_kid_served_after_wait.load(), 1u);
}

TEST_F(EntraAppsTest, AHeldKidStillUnknownAfterTheWaitIs401) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings("  unknown_kid_wait: 300ms\n"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
  const proxy::testing::TokenMinter bogus("bogus-kid");
  Wire app = Wire::connectLocal(proxy.port());
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", tokenBy(bogus))));
  ReadResult r = app.readResponse();
  const auto waited = std::chrono::steady_clock::now() - sent;
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 401);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "auth.token_key_unknown");
  EXPECT_NE(r.message.body.find("not refreshed within entra.unknown_kid_wait"), std::string::npos)
      << r.message.body;
  EXPECT_GE(waited, std::chrono::milliseconds(300));
  EXPECT_LT(waited, std::chrono::seconds(3));
  // The connection is kept and serves the next request.
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", token())));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(proxy.stats().entra_kid_refused_after_wait.load(), 1u);
  EXPECT_EQ(proxy.stats().entra_kid_held.load(), 0u);
}

TEST_F(EntraAppsTest, WithoutAWaitOrOverTheBoundAnUnknownKidIsRefusedAtOnce) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  for (const char* extra :
       {"  unknown_kid_wait: 0s\n", "  unknown_kid_wait: 10s\n  unknown_kid_max_held: 0\n"}) {
    ProxyUnderTest proxy(upstream.port(), entraSettings(extra));
    ASSERT_TRUE(proxy.ok()) << proxy.error();
    proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
    const proxy::testing::TokenMinter bogus("bogus-kid");
    Wire app = Wire::connectLocal(proxy.port());
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", tokenBy(bogus))));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 401) << extra;
    EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "auth.token_key_unknown");
    EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(2)) << extra;
    EXPECT_EQ(proxy.stats().entra_kid_holds.load(), 0u) << extra;
    EXPECT_EQ(proxy.stats().entra_kid_refused_at_once.load() +
                  proxy.stats().entra_kid_refused_busy.load(),
              1u)
        << extra;
  }
}

// A token whose header names no key (no kid, or an empty one) cannot be helped by a refresh:
// refused at once, never held, and no refresh is asked for.
TEST_F(EntraAppsTest, ATokenNamingNoKeyIsRefusedAtOnce) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings("  unknown_kid_wait: 10s\n"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
  const proxy::testing::TokenMinter no_kid("");
  Wire app = Wire::connectLocal(proxy.port());
  const auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", tokenBy(no_kid))));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 401);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "auth.token_key_unknown");
  EXPECT_NE(r.message.body.find("names no key"), std::string::npos) << r.message.body;
  EXPECT_LT(std::chrono::steady_clock::now() - sent, std::chrono::seconds(2));
  EXPECT_EQ(proxy.stats().entra_kid_holds.load(), 0u);
  EXPECT_EQ(proxy.stats().entra_kid_refused_at_once.load(), 1u);
  EXPECT_EQ(upstream.requests().size(), 0u);
}

// An app that goes away while its request is held: the exchange and its hold slot are freed
// (ASan builds check the rest), and the worker goes on serving.
TEST_F(EntraAppsTest, AConnectionClosedWhileHeldFreesItsHold) {
  FakeUpstream upstream([](FakeUpstream& u, Wire& c, int) { serveAll(u, c, answer); });
  ProxyUnderTest proxy(upstream.port(), entraSettings("  unknown_kid_wait: 10s\n"));
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  proxy.snapshot()->entraKeys()->replaceKeys(proxy::testing::keySetOf({key_}));
  const proxy::testing::TokenMinter bogus("bogus-kid");
  {
    Wire app = Wire::connectLocal(proxy.port());
    // With a body announced and partly sent: none of it is read while held.
    std::string req = aadRequest(proxy.port(), "/dbs/shop/colls/orders", tokenBy(bogus));
    req.insert(req.size() - 2, "Content-Length: 10\r\n");
    ASSERT_TRUE(app.send(req + "{\"a\""));
    for (int i = 0; i < 200 && proxy.stats().entra_kid_held.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(proxy.stats().entra_kid_held.load(), 1u);
  }  // closed
  for (int i = 0; i < 200 && proxy.stats().entra_kid_held.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(proxy.stats().entra_kid_held.load(), 0u);
  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(aadRequest(proxy.port(), "/dbs/shop/colls/orders", token())));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  EXPECT_EQ(upstream.requestCount(), 1u);
}

}  // namespace
}  // namespace cosmoseal::integration
