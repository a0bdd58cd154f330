#include "proxy/admission/jwks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "tests/unit/proxy/admission/token_minter.h"

namespace cosmoseal::proxy {
namespace {

using testing::TokenMinter;

constexpr const char* kConfigUrl = "https://idp.test/tenant/v2.0/.well-known/openid-configuration";
constexpr const char* kJwksUri = "https://idp.test/tenant/discovery/v2.0/keys";

// A fake identity provider: serves the OpenID configuration and a JWKS the test changes.
class FakeIdp {
 public:
  JwksCache::Fetch fetch() {
    return [this](const std::string& url) -> common::StatusOr<std::string> {
      std::lock_guard<std::mutex> lock(mu_);
      ++fetches_[url];
      if (down_) {
        return common::Status(common::Code::kUnavailable, "auth.token_keys_unavailable",
                              "GET " + url + ": connection refused");
      }
      if (url == kConfigUrl) {
        return std::string(R"({"issuer":"x","jwks_uri":")") + kJwksUri + R"("})";
      }
      if (url == kJwksUri) return jwks_;
      return common::Status(common::Code::kNotFound, "x", "404");
    };
  }
  void setKeys(std::initializer_list<const TokenMinter*> keys) {
    std::string j = R"({"keys":[)";
    bool first = true;
    for (const TokenMinter* k : keys) {
      if (!first) j += ",";
      first = false;
      j += k->jwk();
    }
    std::lock_guard<std::mutex> lock(mu_);
    jwks_ = j + "]}";
  }
  void setDown(bool down) {
    std::lock_guard<std::mutex> lock(mu_);
    down_ = down;
  }
  int jwksFetches() {
    std::lock_guard<std::mutex> lock(mu_);
    return fetches_[kJwksUri];
  }

 private:
  std::mutex mu_;
  std::string jwks_ = R"({"keys":[]})";
  bool down_ = false;
  std::map<std::string, int> fetches_;
};

class JwksTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    a_ = new TokenMinter("a");
    b_ = new TokenMinter("b");
  }
  static void TearDownTestSuite() {
    delete a_;
    delete b_;
  }
  JwksCache::Options options() const {
    JwksCache::Options o;
    o.openid_configuration_url = kConfigUrl;
    o.refresh = std::chrono::hours(1);
    o.min_interval = std::chrono::seconds(30);
    return o;
  }
  static TokenMinter* a_;
  static TokenMinter* b_;
  FakeIdp idp_;
  common::ManualClockForTest clock_;
};

TokenMinter* JwksTest::a_ = nullptr;
TokenMinter* JwksTest::b_ = nullptr;

TEST_F(JwksTest, ParsesRsaSigningKeysAndSkipsTheRest) {
  const std::string json = std::string(R"({"keys":[)") + a_->jwk() +
                           R"(,{"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"})" +
                           R"(,{"kty":"RSA","use":"enc","kid":"enc","n":"AQAB","e":"AQAB"})" +
                           R"(,{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}, 7]})";
  size_t skipped = 0;
  auto set = parseJwks(json, &skipped);
  ASSERT_TRUE(set.isOk()) << set.status().toString();
  EXPECT_EQ((*set)->keys.size(), 1u);
  EXPECT_EQ((*set)->keys.count("a"), 1u);
  EXPECT_EQ(skipped, 4u);
  for (const char* bad : {"", "[]", R"({"keys":{}})", R"({"keys":[]})",
                          R"({"keys":[{"kty":"RSA","kid":"x","n":"AQAB","e":"AQAB"}]})"}) {
    auto r = parseJwks(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "auth.token_keys_unavailable");
  }
  EXPECT_EQ(*parseOpenIdJwksUri(R"({"jwks_uri":"https://x/keys"})"), "https://x/keys");
  EXPECT_FALSE(parseOpenIdJwksUri(R"({"issuer":"x"})").isOk());
  EXPECT_FALSE(parseOpenIdJwksUri("nope").isOk());
}

TEST_F(JwksTest, RefreshReplacesTheSetAndAFailureKeepsTheOldOne) {
  JwksCache cache(options(), idp_.fetch(), clock_);
  EXPECT_FALSE(cache.hasKeys());
  EXPECT_EQ(cache.find("a"), nullptr);
  idp_.setKeys({a_});
  ASSERT_TRUE(cache.refreshNow().isOk());
  EXPECT_TRUE(cache.hasKeys());
  EXPECT_NE(cache.find("a"), nullptr);
  EXPECT_EQ(cache.find("b"), nullptr);
  // Rotation: b added, a retired.
  idp_.setKeys({b_});
  ASSERT_TRUE(cache.refreshNow().isOk());
  EXPECT_EQ(cache.find("a"), nullptr);
  EXPECT_NE(cache.find("b"), nullptr);
  // The provider is down: the keys fetched before keep serving.
  idp_.setDown(true);
  EXPECT_FALSE(cache.refreshNow().isOk());
  EXPECT_NE(cache.find("b"), nullptr);
  EXPECT_EQ(cache.fetches(), 3u);
  EXPECT_EQ(cache.fetchFailures(), 1u);
}

TEST_F(JwksTest, EarlyRefreshesAreRateLimited) {
  JwksCache cache(options(), idp_.fetch(), clock_);
  idp_.setKeys({a_});
  ASSERT_TRUE(cache.refreshNow().isOk());
  // Just fetched: a flood of unknown kids asks for nothing.
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(cache.requestRefresh());
  clock_.advance(std::chrono::seconds(29));
  EXPECT_FALSE(cache.requestRefresh());
  clock_.advance(std::chrono::seconds(1));
  EXPECT_TRUE(cache.requestRefresh());
  // Asked and not yet served (no thread here): no second ask.
  clock_.advance(std::chrono::seconds(60));
  EXPECT_FALSE(cache.requestRefresh());
}

TEST_F(JwksTest, TheThreadFetchesAtStartAndOnAnUnknownKidAtMostOncePerInterval) {
  // The rate limit runs on the manual clock, so what is asked does not depend on how fast this
  // machine runs the loops (a loaded CI machine once ran the old wall-clock version past the
  // interval); only the waits for the thread's own fetches use real time.
  JwksCache cache(options(), idp_.fetch(), clock_);  // min_interval 30 s
  idp_.setKeys({a_});
  cache.start();
  auto waitFor = [](auto cond) {
    for (int i = 0; i < 500 && !cond(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
  };
  ASSERT_TRUE(waitFor([&] { return cache.hasKeys(); }));
  EXPECT_EQ(idp_.jwksFetches(), 1);
  // The provider rotates to a new key and tokens with kid b arrive. Within the interval after the
  // start-up fetch nothing is asked; once it has passed, exactly one early refresh, which finds b.
  idp_.setKeys({a_, b_});
  int asked = 0;
  for (int i = 0; i < 1000; ++i) asked += cache.requestRefresh() ? 1 : 0;
  EXPECT_EQ(asked, 0);
  clock_.advance(std::chrono::seconds(30));
  for (int i = 0; i < 10000; ++i) asked += cache.requestRefresh() ? 1 : 0;
  EXPECT_EQ(asked, 1);
  ASSERT_TRUE(waitFor([&] { return cache.find("b") != nullptr; }));
  EXPECT_EQ(idp_.jwksFetches(), 2);
  // A flood of bogus kids over three more intervals: one fetch per interval, no more.
  for (int k = 0; k < 3; ++k) {
    clock_.advance(std::chrono::seconds(30));
    int n = 0;
    for (int i = 0; i < 1000; ++i) n += cache.requestRefresh() ? 1 : 0;
    EXPECT_EQ(n, 1);
    ASSERT_TRUE(waitFor([&] { return idp_.jwksFetches() == 3 + k; }));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(idp_.jwksFetches(), 5);
}

TEST_F(JwksTest, TheThreadRetriesAfterAFailedStart) {
  JwksCache::Options o = options();
  o.min_interval = std::chrono::milliseconds(100);
  JwksCache cache(o, idp_.fetch(), common::systemClock());
  idp_.setKeys({a_});
  idp_.setDown(true);
  cache.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(cache.hasKeys());
  idp_.setDown(false);
  for (int i = 0; i < 300 && !cache.hasKeys(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(cache.hasKeys());
  EXPECT_GE(cache.fetchFailures(), 1u);
}

TEST_F(JwksTest, AnUnknownKidWaitsForAFetchThatStartsAfterItOrIsRefusedAtOnce) {
  JwksCache cache(options(), idp_.fetch(), clock_);  // no thread: the test plays its part
  idp_.setKeys({a_});
  // Nothing asked or fetched yet: the ask is granted, and the next finished fetch is awaited.
  EXPECT_EQ(cache.generation(), 0u);
  EXPECT_EQ(cache.refreshForUnknownKid(), 1u);
  // Asked and not served: more requests wait for the same fetch (no second ask).
  EXPECT_EQ(cache.refreshForUnknownKid(), 1u);
  EXPECT_FALSE(cache.requestRefresh());
  ASSERT_TRUE(cache.refreshNow().isOk());
  EXPECT_EQ(cache.generation(), 1u);
  EXPECT_FALSE(cache.lastFetchFailed());
  // Just fetched, nothing asked or running: the rate limit refuses, nothing to wait for.
  for (int i = 0; i < 100; ++i) EXPECT_EQ(cache.refreshForUnknownKid(), 0u);
  clock_.advance(std::chrono::seconds(30));
  EXPECT_EQ(cache.refreshForUnknownKid(), 2u);
  // A failed fetch also ends the wait (the request then finds the kid still unknown).
  idp_.setDown(true);
  EXPECT_FALSE(cache.refreshNow().isOk());
  EXPECT_EQ(cache.generation(), 2u);
  EXPECT_TRUE(cache.lastFetchFailed());
  // Keys put in by hand count as a generation too.
  cache.replaceKeys(testing::keySetOf({a_, b_}));
  EXPECT_EQ(cache.generation(), 3u);
}

TEST_F(JwksTest, StatsCountFetchesKeysAndAge) {
  JwksCache cache(options(), idp_.fetch(), clock_);
  JwksStats st = cache.stats();
  EXPECT_EQ(st.fetches, 0u);
  EXPECT_EQ(st.keys, 0u);
  EXPECT_LT(st.age_seconds, 0);
  idp_.setKeys({a_, b_});
  ASSERT_TRUE(cache.refreshNow().isOk());
  clock_.advance(std::chrono::seconds(90));
  idp_.setDown(true);
  EXPECT_FALSE(cache.refreshNow().isOk());
  st = cache.stats();
  EXPECT_EQ(st.fetches, 2u);
  EXPECT_EQ(st.failures, 1u);
  EXPECT_EQ(st.keys, 2u);
  EXPECT_DOUBLE_EQ(st.age_seconds, 90.0);  // since the last success, not the last attempt
}

TEST_F(JwksTest, WithTheThreadAHeldKidSeesTheRolledOverKey) {
  JwksCache::Options o = options();
  o.min_interval = std::chrono::milliseconds(0);
  JwksCache cache(o, idp_.fetch(), clock_);
  idp_.setKeys({a_});
  cache.start();
  // The start-up fetch has finished (not only stored its keys: until then a kid waits for it).
  for (int i = 0; i < 500 && cache.generation() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(cache.hasKeys());
  idp_.setKeys({a_, b_});
  clock_.advance(std::chrono::seconds(1));
  const uint64_t target = cache.refreshForUnknownKid();
  ASSERT_NE(target, 0u);
  for (int i = 0; i < 500 && cache.generation() < target; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(cache.generation(), target);
  EXPECT_NE(cache.find("b"), nullptr);
}

}  // namespace
}  // namespace cosmoseal::proxy
