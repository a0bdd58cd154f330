#include "proxy/admission/entra_token.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include "tests/unit/proxy/admission/token_minter.h"

namespace cosmoseal::proxy {
namespace {

using testing::base64Url;
using testing::Claims;
using testing::TokenMinter;

constexpr const char* kTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47";
constexpr int64_t kNow = 1'800'000'000;

class EntraTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    key_ = new TokenMinter("key-1");
    other_ = new TokenMinter("key-2");
  }
  static void TearDownTestSuite() {
    delete key_;
    delete other_;
  }
  void SetUp() override {
    rules_.tenant_id = kTenant;
    rules_.issuers = {std::string("https://login.microsoftonline.com/") + kTenant + "/v2.0",
                      std::string("https://sts.windows.net/") + kTenant + "/"};
    rules_.audiences = {"https://cosmos.azure.com", "https://acct.documents.azure.com"};
    rules_.clock_skew_seconds = 120;
    set_ = testing::keySetOf({key_});
    lookup_ = [this](std::string_view kid) -> std::shared_ptr<const crypto::RsaPublicKey> {
      auto it = set_->keys.find(kid);
      return it == set_->keys.end() ? nullptr : it->second;
    };
  }
  Claims claims() const {
    Claims c;
    c.iss = rules_.issuers[0];
    c.tid = kTenant;
    c.iat = kNow - 60;
    c.nbf = kNow - 60;
    c.exp = kNow + 3600;
    return c;
  }
  common::StatusOr<EntraIdentity> verify(const std::string& token) const {
    return verifyEntraToken(token, rules_, lookup_, kNow);
  }
  std::string detailOf(const std::string& token) const {
    auto r = verify(token);
    EXPECT_FALSE(r.isOk()) << token;
    if (r.isOk()) return "ok";
    EXPECT_EQ(r.status().code(), common::Code::kUnauthenticated) << r.status().toString();
    return std::string(r.status().detail());
  }

  static TokenMinter* key_;
  static TokenMinter* other_;
  EntraTokenRules rules_;
  std::shared_ptr<const JwksKeySet> set_;
  EntraKeyLookup lookup_;
};

TokenMinter* EntraTokenTest::key_ = nullptr;
TokenMinter* EntraTokenTest::other_ = nullptr;

TEST_F(EntraTokenTest, AcceptsAValidV2TokenAndReadsItsIdentity) {
  auto id = verify(key_->sign(key_->headerJson(), claims().json()));
  ASSERT_TRUE(id.isOk()) << id.status().toString();
  EXPECT_EQ(id->object_id, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(id->app_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  EXPECT_EQ(id->tenant_id, kTenant);
  EXPECT_EQ(id->kid, "key-1");
  EXPECT_EQ(id->expires_at, kNow + 3600);
  EXPECT_EQ(entraTokenKid(key_->sign(key_->headerJson(), claims().json())), "key-1");
}

TEST_F(EntraTokenTest, AcceptsAV1TokenWithAppidAndAnAudienceList) {
  Claims c = claims();
  c.iss = rules_.issuers[1];
  c.azp.clear();
  c.aud.clear();
  c.extra =
      R"(,"appid":"99999999-0000-0000-0000-000000000000","aud":["x","https://acct.documents.azure.com/"])";
  auto id = verify(key_->sign(key_->headerJson(), c.json()));
  ASSERT_TRUE(id.isOk()) << id.status().toString();
  EXPECT_EQ(id->app_id, "99999999-0000-0000-0000-000000000000");
}

TEST_F(EntraTokenTest, RefusesMalformedTokens) {
  const std::string good = key_->sign(key_->headerJson(), claims().json());
  for (const std::string& bad : {std::string(), std::string("abc"), std::string("a.b"), good + ".x",
                                 std::string("..."), good.substr(0, good.rfind('.') + 1),
                                 base64Url("not json") + "." + base64Url(claims().json()) + ".AAAA",
                                 std::string("e30=.e30.AAAA"), std::string(20000, 'a') + ".b.c"}) {
    EXPECT_EQ(detailOf(bad), "auth.token_malformed") << bad.substr(0, 80);
  }
  // Signed, but the payload is not an object.
  EXPECT_EQ(detailOf(key_->sign(key_->headerJson(), "[1,2]")), "auth.token_malformed");
  // No exp.
  Claims c = claims();
  c.exp = 0;
  EXPECT_EQ(detailOf(key_->sign(key_->headerJson(), c.json())), "auth.token_malformed");
}

TEST_F(EntraTokenTest, RefusesEveryAlgorithmButRs256) {
  const std::string payload = base64Url(claims().json());
  // alg none, no signature.
  EXPECT_EQ(detailOf(base64Url(R"({"alg":"none","kid":"key-1"})") + "." + payload + "."),
            "auth.token_malformed");
  EXPECT_EQ(detailOf(base64Url(R"({"alg":"none","kid":"key-1"})") + "." + payload + ".AA"),
            "auth.token_algorithm");
  // Algorithm confusion: HS256 keyed with the public key's bytes must not pass.
  const std::string head = base64Url(R"({"alg":"HS256","kid":"key-1"})");
  const std::string signed_part = head + "." + payload;
  const std::string secret = key_->modulus();
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
       &mac_len);
  EXPECT_EQ(detailOf(signed_part + "." +
                     base64Url(std::string_view(reinterpret_cast<char*>(mac), mac_len))),
            "auth.token_algorithm");
  for (const char* alg : {"RS384", "PS256", "ES256", "rs256", ""}) {
    EXPECT_EQ(detailOf(key_->sign(key_->headerJson(alg), claims().json())), "auth.token_algorithm")
        << alg;
  }
  EXPECT_EQ(detailOf(key_->sign(R"({"typ":"JWT","kid":"key-1"})", claims().json())),
            "auth.token_algorithm");
}

TEST_F(EntraTokenTest, RefusesUnknownOrMissingKidsAndBadSignatures) {
  EXPECT_EQ(detailOf(other_->sign(other_->headerJson(), claims().json())),
            "auth.token_key_unknown");
  EXPECT_EQ(detailOf(key_->sign(R"({"alg":"RS256"})", claims().json())), "auth.token_key_unknown");
  // Signed by another key under key-1's kid.
  EXPECT_EQ(detailOf(other_->sign(key_->headerJson(), claims().json())), "auth.token_signature");
  // A claim changed after signing.
  const std::string good = key_->sign(key_->headerJson(), claims().json());
  Claims c = claims();
  c.oid = "00000000-0000-0000-0000-000000000000";
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.rfind('.');
  EXPECT_EQ(detailOf(good.substr(0, dot1 + 1) + base64Url(c.json()) + good.substr(dot2)),
            "auth.token_signature");
  EXPECT_TRUE(verify(good).isOk());
  // A kid lookup that finds nothing because no keys are known at all.
  lookup_ = nullptr;
  EXPECT_EQ(detailOf(good), "auth.token_key_unknown");
}

TEST_F(EntraTokenTest, ChecksIssuerAudienceTimesTenantAndIdentity) {
  auto with = [this](auto change) {
    Claims c = claims();
    change(c);
    return detailOf(key_->sign(key_->headerJson(), c.json()));
  };
  EXPECT_EQ(with([](Claims& c) { c.iss = "https://login.microsoftonline.com/other/v2.0"; }),
            "auth.token_issuer");
  EXPECT_EQ(with([](Claims& c) { c.iss.clear(); }), "auth.token_issuer");
  EXPECT_EQ(with([](Claims& c) { c.aud = "https://management.azure.com"; }), "auth.token_audience");
  EXPECT_EQ(with([](Claims& c) { c.aud.clear(); }), "auth.token_audience");
  EXPECT_EQ(with([](Claims& c) {
              c.aud.clear();
              c.extra = R"(,"aud":["https://graph.microsoft.com"])";
            }),
            "auth.token_audience");
  EXPECT_EQ(with([](Claims& c) { c.exp = kNow - 121; }), "auth.token_expired");
  EXPECT_EQ(with([](Claims& c) { c.exp = kNow - 120; }), "auth.token_expired");
  EXPECT_EQ(with([](Claims& c) { c.nbf = kNow + 121; }), "auth.token_not_yet_valid");
  EXPECT_EQ(with([](Claims& c) { c.tid = "00000000-0000-0000-0000-000000000000"; }),
            "auth.token_tenant");
  EXPECT_EQ(with([](Claims& c) { c.tid.clear(); }), "auth.token_tenant");
  EXPECT_EQ(with([](Claims& c) {
              c.oid.clear();
              c.azp.clear();
            }),
            "auth.token_no_identity");
  // Inside the skew: accepted.
  Claims c = claims();
  c.exp = kNow - 119;
  c.nbf = kNow + 119;
  EXPECT_TRUE(verify(key_->sign(key_->headerJson(), c.json())).isOk());
}

}  // namespace
}  // namespace cosmoseal::proxy
