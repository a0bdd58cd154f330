#include "proxy/admission/auth.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "crypto/base64.h"
#include "crypto/cosmos_auth.h"
#include "tests/unit/proxy/admission/token_minter.h"
#include "proxy/identity/details.h"
#include "proxy/identity/token_cache.h"

namespace cosmoseal::proxy {
namespace {

// The public Cosmos emulator key: the test vectors of ref/cosmos-protocol.md §1.3 use it.
constexpr const char* kEmulatorKey =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
// Test-only client keys (64 bytes each, base64).
constexpr const char* kClientKeyA =
    "dGVzdC1jbGllbnQta2V5LUEtMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=";
constexpr const char* kVectorDate = "Thu, 27 Apr 2017 00:51:12 GMT";
constexpr int64_t kVectorUnix = 1493254272;

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-auth-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  std::string writeKey(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text << "\n";
    chmod(path.c_str(), 0600);
    return path;
  }
  // ConfigSnapshot where the account key is `account` and clients are {a, emulator} in that order.
  std::shared_ptr<const ConfigSnapshot> makeConfigSnapshot(const std::string& account) {
    Config c;
    c.file = dir_ + "/cosmoseal.yaml";
    c.upstream.endpoint = "https://127.0.0.1:8081/";
    c.upstream.scheme = "https";
    c.upstream.host = "127.0.0.1";
    c.upstream.port = 8081;
    c.upstream.key_file = writeKey("account", account);
    ClientConfig a;
    a.name = "app-a";
    a.key_file = writeKey("client-a", kClientKeyA);
    ClientConfig e;
    e.name = "emulator-client";
    e.key_file = writeKey("client-e", kEmulatorKey);
    c.clients = {a, e};
    auto rt = ConfigSnapshot::build(std::move(c), 1);
    EXPECT_TRUE(rt.isOk()) << rt.status().toString();
    return rt.isOk() ? *rt : nullptr;
  }

  std::string dir_;
};

common::HeaderMap signedHeaders(const std::string& sig) {
  common::HeaderMap h;
  h.add("x-ms-date", kVectorDate);
  h.add("authorization", crypto::cosmosAuthorizationHeader(sig));
  return h;
}

TEST_F(AuthTest, VerifiesProtocolVectorAndPicksTheMatchingClient) {
  const std::string other_account =
      "b3RoZXItYWNjb3VudC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=";
  auto rt = makeConfigSnapshot(other_account);
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/ToDoList");
  ASSERT_TRUE(res.isOk());
  auto who = auth.verify("GET", *res, signedHeaders("mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY="),
                         kVectorUnix);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "emulator-client");
}

TEST_F(AuthTest, VerifiesUtf8LinkVector) {
  auto rt = makeConfigSnapshot(
      "b3RoZXItYWNjb3VudC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=");
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/db%20full/colls/Items/docs/b%20%C3%A9");
  ASSERT_TRUE(res.isOk());
  common::HeaderMap h;
  h.add("x-ms-date", "Sun, 22 Nov 2026 13:05:47 GMT");
  h.add("authorization",
        crypto::cosmosAuthorizationHeader("q3B6di6v996GfSl+xCV3tiR/1UhXlqi9JEZ0xXMvX7U="));
  auto parsed = crypto::parseHttpDate("Sun, 22 Nov 2026 13:05:47 GMT");
  ASSERT_TRUE(parsed.isOk());
  EXPECT_TRUE(auth.verify("GET", *res, h, *parsed).isOk());
}

// Java and .NET sign RID-addressed requests over the lowercased RID: accepted when the route is
// RID-addressed, and that string is what the account signs upstream; never for a name route.
TEST_F(AuthTest, RidAddressedRequestsMaySignTheRidLink) {
  auto rt = makeConfigSnapshot(
      "b3RoZXItYWNjb3VudC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=");
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/gAABAA==/colls/gAABAIAAAAE=/pkranges");
  ASSERT_TRUE(res.isOk());
  auto key = crypto::decodeKeyText(kClientKeyA);
  ASSERT_TRUE(key.isOk());
  const std::string rid_sts =
      crypto::cosmosStringToSign("GET", "pkranges", "gaabaiaaaae=", kVectorDate, "");
  const std::string name_sts = crypto::cosmosStringToSign(
      "GET", "pkranges", "dbs/gAABAA==/colls/gAABAIAAAAE=", kVectorDate, "");
  const common::HeaderMap rid_signed = signedHeaders(crypto::cosmosSignature(*key, rid_sts));
  const common::HeaderMap name_signed = signedHeaders(crypto::cosmosSignature(*key, name_sts));

  // Not marked as RID-addressed: only the name link counts.
  EXPECT_EQ(auth.verify("GET", *res, rid_signed, kVectorUnix).status().detail(),
            "auth.bad_signature");
  res->by_rid = true;
  std::string sts;
  auto who = auth.verify("GET", *res, rid_signed, kVectorUnix, &sts);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "app-a");
  EXPECT_EQ(sts, rid_sts);
  who = auth.verify("GET", *res, name_signed, kVectorUnix, &sts);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ(sts, name_sts);
  // resign() signs RID-addressed resources over the RID link.
  common::HeaderMap h;
  h.add("x-ms-date", kVectorDate);
  ASSERT_TRUE(auth.resign("GET", *res, &h).isOk());
  std::string expected;
  ASSERT_TRUE(auth.sign(rid_sts, &expected).isOk());
  EXPECT_EQ(h.getOr("authorization", ""), expected);
}

TEST_F(AuthTest, RejectsWithStableDetails) {
  auto rt = makeConfigSnapshot(
      "b3RoZXItYWNjb3VudC1rZXktMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=");
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/ToDoList");
  ASSERT_TRUE(res.isOk());
  const std::string good = "mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY=";

  common::HeaderMap none;
  none.add("x-ms-date", kVectorDate);
  EXPECT_EQ(auth.verify("GET", *res, none, kVectorUnix).status().detail(), "auth.missing");

  // A signature for another verb does not verify.
  EXPECT_EQ(auth.verify("DELETE", *res, signedHeaders(good), kVectorUnix).status().detail(),
            "auth.bad_signature");
  // Nor for another link.
  auto other = crypto::cosmosResourceFromPath("/dbs/ToDoList2");
  ASSERT_TRUE(other.isOk());
  EXPECT_EQ(auth.verify("GET", *other, signedHeaders(good), kVectorUnix).status().detail(),
            "auth.bad_signature");
  // 16 minutes of skew either way.
  EXPECT_EQ(auth.verify("GET", *res, signedHeaders(good), kVectorUnix + 16 * 60).status().detail(),
            "auth.date_skew");
  EXPECT_EQ(auth.verify("GET", *res, signedHeaders(good), kVectorUnix - 16 * 60).status().detail(),
            "auth.date_skew");
  EXPECT_TRUE(auth.verify("GET", *res, signedHeaders(good), kVectorUnix + 14 * 60).isOk());

  common::HeaderMap resource_token;
  resource_token.add("x-ms-date", kVectorDate);
  resource_token.add("authorization", "type%3Dresource%26ver%3D1.0%26sig%3DYWJj");
  auto r = auth.verify("GET", *res, resource_token, kVectorUnix);
  EXPECT_EQ(r.status().detail(), "auth.unsupported_token");
  EXPECT_EQ(r.status().httpStatus(), 401);

  common::HeaderMap aad;
  aad.add("x-ms-date", kVectorDate);
  aad.add("authorization", "type%3Daad%26ver%3D1.0%26sig%3DeyJhbGciOi");
  EXPECT_EQ(auth.verify("GET", *res, aad, kVectorUnix).status().detail(), "auth.unsupported_token");

  common::HeaderMap garbage;
  garbage.add("x-ms-date", kVectorDate);
  garbage.add("authorization", "Bearer abc");
  EXPECT_EQ(auth.verify("GET", *res, garbage, kVectorUnix).status().detail(), "auth.malformed");

  common::HeaderMap no_date;
  no_date.add("authorization", crypto::cosmosAuthorizationHeader(good));
  EXPECT_EQ(auth.verify("GET", *res, no_date, kVectorUnix).status().detail(), "auth.missing_date");

  common::HeaderMap bad_date = signedHeaders(good);
  bad_date.set("x-ms-date", "yesterday");
  EXPECT_EQ(auth.verify("GET", *res, bad_date, kVectorUnix).status().detail(), "auth.bad_date");

  common::HeaderMap short_sig = signedHeaders("YWJj");
  EXPECT_EQ(auth.verify("GET", *res, short_sig, kVectorUnix).status().detail(),
            "auth.bad_signature");
}

TEST_F(AuthTest, ResignsWithTheAccountKey) {
  // The account key is the emulator key, so the re-signature must equal the published vector.
  Config c;
  c.upstream.scheme = "https";
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 8081;
  c.upstream.key_file = writeKey("account2", kEmulatorKey);
  ClientConfig a;
  a.name = "app-a";
  a.key_file = writeKey("client-a2", kClientKeyA);
  c.clients = {a};
  auto built = ConfigSnapshot::build(std::move(c), 1);
  ASSERT_TRUE(built.isOk()) << built.status().toString();
  Authenticator auth(**built);
  auto res = crypto::cosmosResourceFromPath("/dbs/db1/colls/coll1/docs");
  ASSERT_TRUE(res.isOk());
  common::HeaderMap h;
  h.add("x-ms-date", kVectorDate);
  h.add("authorization", "client token, to be replaced");
  ASSERT_TRUE(auth.resign("POST", *res, &h).isOk());
  EXPECT_EQ(h.count("authorization"), 1u);
  EXPECT_EQ(*h.get("authorization"),
            crypto::cosmosAuthorizationHeader("9yU9qvx5XX6iRaOMpVLw+sXE8DUynMDSMcADdfsx5eQ="));
}

TEST_F(AuthTest, SnapshotRefusesAClientHoldingTheAccountKey) {
  Config c;
  c.upstream.scheme = "https";
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 8081;
  c.upstream.key_file = writeKey("account5", kEmulatorKey);
  ClientConfig e;
  e.name = "leaky";
  e.key_file = writeKey("client-e5", kEmulatorKey);
  c.clients = {e};
  auto rt = ConfigSnapshot::build(std::move(c), 1);
  ASSERT_FALSE(rt.isOk());
  EXPECT_EQ(rt.status().detail(), "config.client_key_is_account_key");
}

TEST_F(AuthTest, SnapshotRefusesSharedClientKeys) {
  Config c;
  c.upstream.scheme = "https";
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 8081;
  c.upstream.key_file = writeKey("account3", kEmulatorKey);
  ClientConfig a;
  a.name = "a";
  a.key_file = writeKey("k1", kClientKeyA);
  ClientConfig b;
  b.name = "b";
  b.key_file = writeKey("k2", kClientKeyA);
  c.clients = {a, b};
  auto rt = ConfigSnapshot::build(std::move(c), 1);
  ASSERT_FALSE(rt.isOk());
  EXPECT_EQ(rt.status().detail(), "config.duplicate_client_key");
}

TEST_F(AuthTest, SnapshotRefusesGroupReadableKeyFile) {
  Config c;
  c.upstream.scheme = "https";
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 8081;
  c.upstream.key_file = writeKey("account4", kEmulatorKey);
  chmod(c.upstream.key_file.c_str(), 0640);
  auto rt = ConfigSnapshot::build(std::move(c), 1);
  ASSERT_FALSE(rt.isOk());
  EXPECT_EQ(rt.status().detail(), "keys.file_permissions");
}

// ---------------- Entra ID tokens (type=aad) ----------------

constexpr const char* kTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr const char* kOrdersOid = "0a0a0a0a-1111-2222-3333-444444444444";
constexpr const char* kReportsApp = "b0b0b0b0-1111-2222-3333-444444444444";

class AuthEntraTest : public AuthTest {
 protected:
  static void SetUpTestSuite() { key_ = new testing::TokenMinter("kid-1"); }
  static void TearDownTestSuite() { delete key_; }
  // Clients: "keyed" (client key only), "orders" (object id), "reports" (app id) and "both"
  // (client key and object id). The tenant's keys hold key_ unless `with_keys` is false.
  std::shared_ptr<const ConfigSnapshot> makeEntraSnapshot(bool with_keys = true) {
    Config c;
    c.file = dir_ + "/cosmoseal.yaml";
    c.upstream.scheme = "https";
    c.upstream.host = "acct.documents.azure.com";
    c.upstream.port = 443;
    c.upstream.key_file = writeKey("account-e", kEmulatorKey);
    EntraConfig en;
    en.tenant_id = kTenant;
    c.entra = en;
    ClientConfig keyed;
    keyed.name = "keyed";
    keyed.key_file = writeKey("client-keyed", kClientKeyA);
    ClientConfig orders;
    orders.name = "orders";
    orders.entra = ClientEntraConfig{kOrdersOid, "", {}};
    ClientConfig reports;
    reports.name = "reports";
    reports.entra = ClientEntraConfig{"", kReportsApp, {}};
    c.clients = {keyed, orders, reports};
    auto rt = ConfigSnapshot::build(std::move(c), 1);
    EXPECT_TRUE(rt.isOk()) << rt.status().toString();
    if (!rt.isOk()) return nullptr;
    EXPECT_NE((*rt)->entraKeys(), nullptr);
    if (with_keys) (*rt)->entraKeys()->replaceKeys(testing::keySetOf({key_}));
    return *rt;
  }
  testing::Claims claims() const {
    testing::Claims c;
    c.iss = std::string("https://sts.windows.net/") + kTenant + "/";  // a v1 token
    c.tid = kTenant;
    c.oid = kOrdersOid;
    c.azp.clear();
    c.extra = std::string(R"(,"appid":")") + kReportsApp + "\"";
    c.nbf = kVectorUnix - 300;
    c.exp = kVectorUnix + 3600;
    return c;
  }
  common::HeaderMap aadHeaders(const std::string& token) const {
    common::HeaderMap h;
    h.add("x-ms-date", kVectorDate);
    h.add("authorization", "type%3Daad%26ver%3D1.0%26sig%3D" + token);
    return h;
  }
  static testing::TokenMinter* key_;
};

testing::TokenMinter* AuthEntraTest::key_ = nullptr;

TEST_F(AuthEntraTest, MapsATokenToItsClientAndSignsTheSameStringAsForAKey) {
  auto rt = makeEntraSnapshot();
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/db1/colls/coll1/docs");
  ASSERT_TRUE(res.isOk());
  // Real Entra tokens are 1.5 to 3 KiB: longer than any key signature header.
  testing::Claims padded = claims();
  padded.extra += R"(,"xms_pad":")" + std::string(1500, 'p') + "\"";
  const std::string token = key_->sign(key_->headerJson(), padded.json());
  EXPECT_GT(token.size(), 2048u);
  std::string sts, identity;
  auto who = auth.verify("POST", *res, aadHeaders(token), kVectorUnix, &sts, &identity);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "orders");  // by oid first
  EXPECT_EQ(identity, std::string("oid:") + kOrdersOid);
  EXPECT_EQ(sts,
            crypto::cosmosStringToSign("POST", "docs", "dbs/db1/colls/coll1", kVectorDate, ""));

  // An unknown oid with a known appid: by the app id.
  testing::Claims c = claims();
  c.oid = "ffffffff-1111-2222-3333-444444444444";
  who = auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix,
                    &sts, &identity);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "reports");
  EXPECT_EQ(identity, "oid:ffffffff-1111-2222-3333-444444444444");

  // GUIDs compare without regard to case.
  c = claims();
  c.oid = "0A0A0A0A-1111-2222-3333-444444444444";
  who = auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "orders");

  // Client keys keep working beside tokens, with their 1 KiB header limit.
  auto ck = crypto::decodeKeyText(kClientKeyA);
  ASSERT_TRUE(ck.isOk());
  const std::string key_sts =
      crypto::cosmosStringToSign("POST", "docs", "dbs/db1/colls/coll1", kVectorDate, "");
  who = auth.verify("POST", *res, signedHeaders(crypto::cosmosSignature(*ck, key_sts)), kVectorUnix,
                    &sts, &identity);
  ASSERT_TRUE(who.isOk()) << who.status().toString();
  EXPECT_EQ((*who)->name, "keyed");
  EXPECT_EQ(identity, "");
  common::HeaderMap long_master;
  long_master.add("x-ms-date", kVectorDate);
  long_master.add("authorization", "type=master&ver=1.0&sig=" + std::string(1001, 'A'));
  EXPECT_EQ(auth.verify("POST", *res, long_master, kVectorUnix).status().detail(),
            "auth.malformed");
}

TEST_F(AuthEntraTest, RefusesUnknownIdentitiesBadTokensAndMissingKeys) {
  auto rt = makeEntraSnapshot();
  ASSERT_TRUE(rt);
  Authenticator auth(*rt);
  auto res = crypto::cosmosResourceFromPath("/dbs/db1");
  ASSERT_TRUE(res.isOk());
  testing::Claims c = claims();
  c.oid = "ffffffff-1111-2222-3333-444444444444";
  c.extra = R"(,"appid":"ffffffff-0000-0000-0000-000000000000")";
  auto r =
      auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix);
  EXPECT_EQ(r.status().detail(), "auth.unknown_identity");
  EXPECT_EQ(r.status().httpStatus(), 403);

  c = claims();
  c.exp = kVectorUnix - 3600;
  r = auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix);
  EXPECT_EQ(r.status().detail(), "auth.token_expired");
  EXPECT_EQ(r.status().httpStatus(), 401);

  c = claims();
  c.aud = "https://other.documents.azure.com";
  r = auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix);
  EXPECT_EQ(r.status().detail(), "auth.token_audience");
  // The default audiences: Cosmos's and the upstream account origin.
  c.aud = "https://acct.documents.azure.com/";
  EXPECT_TRUE(
      auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), c.json())), kVectorUnix)
          .isOk());

  // The request date still counts (the upstream signature covers it).
  EXPECT_EQ(auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), claims().json())),
                        kVectorUnix + 16 * 60)
                .status()
                .detail(),
            "auth.date_skew");
  common::HeaderMap v2 = aadHeaders("x.y.z");
  v2.set("authorization", "type%3Daad%26ver%3D2.0%26sig%3Dx.y.z");
  EXPECT_EQ(auth.verify("GET", *res, v2, kVectorUnix).status().detail(), "auth.malformed");

  // No keys fetched yet: 503, and a refresh is asked for.
  auto cold = makeEntraSnapshot(false);
  ASSERT_TRUE(cold);
  Authenticator cold_auth(*cold);
  r = cold_auth.verify("GET", *res, aadHeaders(key_->sign(key_->headerJson(), claims().json())),
                       kVectorUnix);
  EXPECT_EQ(r.status().detail(), "auth.token_keys_unavailable");
  EXPECT_EQ(r.status().httpStatus(), 503);
}

// upstream.auth with an Entra type: no account key; the upstream Authorization carries the cache's
// token in the aad form, and no valid token is a 503 before anything is sent.
TEST_F(AuthTest, EntraUpstreamSignsWithTheCurrentToken) {
  Config c;
  c.file = dir_ + "/cosmoseal.yaml";
  c.upstream.endpoint = "https://127.0.0.1:8081/";
  c.upstream.scheme = "https";
  c.upstream.host = "127.0.0.1";
  c.upstream.port = 8081;
  c.upstream.auth.type = UpstreamAuthType::kClientSecret;
  c.upstream.auth.tenant_id = "tenant";
  c.upstream.auth.client_id = "client";
  c.upstream.auth.secret_file = dir_ + "/secret";
  c.upstream.auth.authority_host = "https://127.0.0.1:1/";
  c.upstream.auth.scope = "https://127.0.0.1/.default";
  ClientConfig a;
  a.name = "app-a";
  a.key_file = writeKey("client-a", kClientKeyA);
  c.clients = {a};
  auto rt = ConfigSnapshot::build(std::move(c), 1);
  ASSERT_TRUE(rt.isOk()) << rt.status().toString();
  ASSERT_NE((*rt)->upstreamTokens(), nullptr);
  EXPECT_TRUE((*rt)->accountKey().empty());
  Authenticator auth(**rt);

  std::string authorization = "untouched";
  common::Status s = auth.upstreamReady(kUpstreamTokenMargin);
  EXPECT_EQ(s.detail(), identity_detail::kTokenUnavailable);
  EXPECT_EQ(s.httpStatus(), 503);
  EXPECT_NE(s.message().find("no upstream token obtained yet"), std::string_view::npos);
  EXPECT_EQ(auth.sign("get\ndocs\n\n\n\n", &authorization).detail(),
            identity_detail::kTokenUnavailable);

  identity::AccessToken token;
  token.value = common::SecretBytes::copyOf(std::string_view("eyJhbGciOi.eyJhdWQiOi.c2lnbmF0dXJl"));
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  token.expires_on = now + 3600;
  (*rt)->upstreamTokens()->setTokenForTest(std::move(token));
  EXPECT_TRUE(auth.upstreamReady(kUpstreamTokenMargin).isOk());
  ASSERT_TRUE(auth.sign("ignored", &authorization).isOk());
  EXPECT_EQ(authorization, "type%3Daad%26ver%3D1.0%26sig%3DeyJhbGciOi.eyJhdWQiOi.c2lnbmF0dXJl");
  common::HeaderMap h;
  h.add("x-ms-date", kVectorDate);
  crypto::CosmosResource res;
  res.type = "docs";
  res.link = "dbs/d/colls/c";
  ASSERT_TRUE(auth.resign("GET", res, &h).isOk());
  EXPECT_EQ(*h.get("authorization"), authorization);

  // Almost expired: still signs, but a new request is not admitted.
  identity::AccessToken late;
  late.value = common::SecretBytes::copyOf(std::string_view("late"));
  late.expires_on = now + 5;
  (*rt)->upstreamTokens()->setTokenForTest(std::move(late));
  EXPECT_EQ(auth.upstreamReady(kUpstreamTokenMargin).detail(), identity_detail::kTokenUnavailable);
  EXPECT_TRUE(auth.sign("ignored", &authorization).isOk());
}

}  // namespace
}  // namespace cosmoseal::proxy
