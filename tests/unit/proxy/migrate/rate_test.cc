#include "proxy/migrate/rate.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy::migrate {
namespace {

using std::chrono::milliseconds;
using Clock = TokenBucket::Clock;

TEST(TokenBucket, UnlimitedNeverWaits) {
  const auto t0 = Clock::now();
  TokenBucket b(0, t0);
  b.charge(1e9, t0);
  EXPECT_EQ(b.delay(t0).count(), 0);
}

TEST(TokenBucket, ChargesCanGoNegativeAndTheNextRequestWaitsForTheRefill) {
  const auto t0 = Clock::now();
  TokenBucket b(100, t0);  // 100 RU/s, one second of burst
  EXPECT_EQ(b.delay(t0).count(), 0);
  b.charge(150, t0);  // a write that cost more than the bucket held
  EXPECT_NEAR(b.available(t0), -50, 1e-9);
  // 50 RU missing at 100 RU/s: about half a second.
  const auto wait = b.delay(t0);
  EXPECT_GT(wait, milliseconds(499));
  EXPECT_LT(wait, milliseconds(502));
  EXPECT_EQ(b.delay(t0 + milliseconds(501)).count(), 0);
}

TEST(TokenBucket, RefillIsCappedAtOneSecond) {
  const auto t0 = Clock::now();
  TokenBucket b(10, t0);
  EXPECT_NEAR(b.available(t0 + std::chrono::seconds(100)), 10, 1e-9);
}

TEST(TokenBucket, LongRunRateIsTheLimit) {
  // 1000 requests of 5 RU against 50 RU/s: all but the first second's burst waits for refills,
  // so they take (5000 - 50) / 50 = 99 s of (simulated) time.
  const auto t0 = Clock::now();
  auto t = t0;
  TokenBucket b(50, t);
  for (int i = 0; i < 1000; ++i) {
    t += b.delay(t);
    b.charge(5, t);
  }
  const double seconds = std::chrono::duration<double>(t - t0).count();
  EXPECT_NEAR(seconds, 99.0, 0.2);
}

TEST(RetryPolicy, ThrottlingHonoursRetryAfter) {
  RetryPolicy p;
  const RetryDecision d = p.decide(429, 250, 0);
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay, milliseconds(250));
  EXPECT_TRUE(p.decide(429, -1, 3).retry);  // no header: backoff
  EXPECT_EQ(p.decide(429, -1, 3).delay, milliseconds(800));
  EXPECT_FALSE(p.decide(429, 10, p.max_throttle_retries).retry);
}

TEST(RetryPolicy, TransientFailuresBackOffAFewTimes) {
  RetryPolicy p;
  for (int status : {0, 408, 449, 500, 503}) {
    EXPECT_TRUE(p.decide(status, -1, 0).retry) << status;
    EXPECT_FALSE(p.decide(status, -1, p.max_transient_retries).retry) << status;
  }
  EXPECT_EQ(p.decide(503, -1, 20).delay, milliseconds(0));  // not retried: no delay
  EXPECT_LE(p.decide(503, -1, 4).delay, p.max_backoff);
}

TEST(RetryPolicy, AnswersTheCallerHandlesAreNotRetried) {
  RetryPolicy p;
  for (int status : {200, 201, 400, 401, 403, 404, 409, 410, 412}) {
    EXPECT_FALSE(p.decide(status, 100, 0).retry) << status;
  }
}

}  // namespace
}  // namespace cosmoseal::proxy::migrate
