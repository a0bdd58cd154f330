// TokenCache driven step by step with a fake clock and a scripted source: refresh scheduling,
// backoff, expiry, and that readers never wait.

#include "proxy/identity/token_cache.h"

#include <gtest/gtest.h>

#include <deque>

#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {
namespace {

using namespace std::chrono_literals;

constexpr int64_t kT0 = 1'700'000'000'000;  // ms

// Answers from a script: a lifetime in seconds (a token) or an error.
class ScriptedSource : public TokenSource {
 public:
  common::StatusOr<AccessToken> fetch(int64_t now_unix) override {
    ++calls;
    last_now = now_unix;
    if (down) {
      return common::Status(common::Code::kUnavailable, "https.connect_failed", "provider down");
    }
    AccessToken t;
    t.value = common::SecretBytes::copyOf(std::string_view("tok-" + std::to_string(calls)));
    t.obtained_at = now_unix;
    t.expires_on = now_unix + lifetime_s;
    return t;
  }
  std::string describe() const override { return "scripted"; }

  int calls = 0;
  int64_t last_now = 0;
  bool down = false;
  int64_t lifetime_s = 3600;
};

struct Fixture {
  explicit Fixture(RefreshPolicy policy = {}) {
    auto s = std::make_unique<ScriptedSource>();
    source = s.get();
    cache = std::make_unique<TokenCache>(std::move(s), policy, [this] { return now; });
  }
  int64_t now = kT0;
  ScriptedSource* source;
  std::unique_ptr<TokenCache> cache;
};

TEST(RefreshScheduleTest, LeadIsRefreshBeforeOrHalfTheLifetime) {
  // One hour token, refresh_before 5 min: between 6 and 5 minutes before expiry.
  const int64_t exp = kT0 + 3'600'000;
  EXPECT_EQ(refreshAtMs(kT0, exp, 300s, 0.0), exp - 300'000);
  EXPECT_EQ(refreshAtMs(kT0, exp, 300s, 0.999999), exp - 300'000 - 59'999);
  // A 20 s token: lead is 10 s (half), not 5 minutes (which would refresh in a loop).
  const int64_t short_exp = kT0 + 20'000;
  EXPECT_EQ(refreshAtMs(kT0, short_exp, 300s, 0.0), kT0 + 10'000);
  EXPECT_GE(refreshAtMs(kT0, short_exp, 300s, 0.99), kT0 + 8'000);
}

TEST(RefreshScheduleTest, BackoffDoublesUpToTheCap) {
  RefreshPolicy p;
  EXPECT_EQ(backoffFor(1, p, 0.0), 500ms);
  EXPECT_EQ(backoffFor(1, p, 0.999999), 999ms);
  EXPECT_EQ(backoffFor(2, p, 0.0), 1000ms);
  EXPECT_EQ(backoffFor(3, p, 0.0), 2000ms);
  EXPECT_EQ(backoffFor(10, p, 0.0), 15000ms);
  EXPECT_EQ(backoffFor(1000, p, 0.999999), 29999ms);
}

TEST(TokenCacheTest, FetchesAtOnceThenBeforeExpiry) {
  Fixture f;
  EXPECT_EQ(f.cache->current(), nullptr);
  EXPECT_NE(f.cache->unavailableReason().find("no upstream token obtained yet"), std::string::npos);
  const int64_t next = f.cache->step(f.now);
  EXPECT_EQ(f.source->calls, 1);
  ASSERT_NE(f.cache->current(), nullptr);
  EXPECT_EQ(f.cache->current()->view(), "tok-1");
  EXPECT_TRUE(f.cache->ready());
  EXPECT_EQ(f.cache->unavailableReason(), "");
  EXPECT_LE(next, kT0 + 3'300'000);
  EXPECT_GE(next, kT0 + 3'240'000);
  // Not due: no fetch.
  f.now = next - 1;
  EXPECT_EQ(f.cache->step(f.now), next);
  EXPECT_EQ(f.source->calls, 1);
  // Due: the new token replaces the old one.
  f.now = next;
  f.cache->step(f.now);
  EXPECT_EQ(f.source->calls, 2);
  EXPECT_EQ(f.cache->current()->view(), "tok-2");
  const TokenStats s = f.cache->stats();
  EXPECT_EQ(s.refreshes, 2u);
  EXPECT_EQ(s.failures, 0u);
  EXPECT_EQ(s.expires_on, f.now / 1000 + 3600);
}

TEST(TokenCacheTest, ProviderDownKeepsTheTokenUntilExpiryThenRecovers) {
  Fixture f;
  f.source->lifetime_s = 20;
  f.cache->step(f.now);
  ASSERT_NE(f.cache->current(), nullptr);
  std::shared_ptr<const AccessToken> held = f.cache->current();
  f.source->down = true;
  // Walk the clock to the expiry, stepping whenever the cache asks.
  int64_t next = f.cache->step(f.now);
  while (next < kT0 + 20'000) {
    f.now = next;
    next = f.cache->step(f.now);
    if (f.now < kT0 + 20'000) {
      ASSERT_NE(f.cache->current(), nullptr) << "the valid token must keep serving";
      EXPECT_EQ(f.cache->current()->view(), "tok-1");
    }
    ASSERT_LT(f.source->calls, 100);
  }
  EXPECT_GT(f.cache->stats().failures, 0u);
  // The last retry is scheduled no later than just before the expiry.
  EXPECT_GE(f.source->last_now * 1000, kT0 + 18'000);
  f.now = kT0 + 20'000;
  EXPECT_EQ(f.cache->current(), nullptr);
  EXPECT_FALSE(f.cache->ready());
  const std::string why = f.cache->unavailableReason();
  EXPECT_NE(why.find("expired"), std::string::npos) << why;
  EXPECT_NE(why.find("provider down"), std::string::npos) << why;
  // The reader that took the token before still holds it (a shared_ptr, never torn).
  EXPECT_EQ(held->view(), "tok-1");
  // The provider returns: the next step fetches.
  f.source->down = false;
  f.now = next;
  f.cache->step(f.now);
  ASSERT_NE(f.cache->current(), nullptr);
  EXPECT_TRUE(f.cache->ready());
  EXPECT_EQ(f.cache->stats().last_error, "");
}

TEST(TokenCacheTest, MinValidityForAdmission) {
  Fixture f;
  f.source->lifetime_s = 60;
  f.cache->step(f.now);
  f.now = kT0 + 45'000;  // 15 s left
  EXPECT_NE(f.cache->current(10s), nullptr);
  f.now = kT0 + 51'000;  // 9 s left
  EXPECT_EQ(f.cache->current(10s), nullptr);
  EXPECT_NE(f.cache->current(), nullptr);
}

TEST(TokenCacheTest, ShortTokensAskForAQuarterOfTheirLifetime) {
  // 20 s tokens are refreshed 8-10 s before expiry: admission must not refuse before that.
  Fixture f;
  f.source->lifetime_s = 20;
  const int64_t next = f.cache->step(f.now);
  EXPECT_LE(next, kT0 + 10'000);
  f.now = kT0 + 14'000;  // 6 s left: more than a quarter (5 s)
  EXPECT_NE(f.cache->current(10s), nullptr);
  f.now = kT0 + 15'500;  // 4.5 s left
  EXPECT_EQ(f.cache->current(10s), nullptr);
}

TEST(TokenCacheTest, ThreadObtainsATokenAndStops) {
  auto s = std::make_unique<ScriptedSource>();
  ScriptedSource* src = s.get();
  TokenCache cache(std::move(s), RefreshPolicy{});
  cache.start();
  for (int i = 0; i < 200 && !cache.ready(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(cache.ready());
  cache.stop();
  EXPECT_EQ(src->calls, 1);
  EXPECT_TRUE(cache.ready());  // the last token stays readable
}

}  // namespace
}  // namespace cosmoseal::proxy::identity
