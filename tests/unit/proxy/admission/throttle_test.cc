#include "proxy/admission/throttle.h"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

#include "common/clock.h"

namespace cosmoseal::proxy {
namespace {

using std::chrono::milliseconds;

ClientConfig limited(double rps, double burst, uint32_t in_flight) {
  ClientConfig c;
  c.name = "app";
  c.rate.requests_per_second = rps;
  c.rate.burst = burst;
  c.max_in_flight = in_flight;
  return c;
}

TEST(ThrottleTest, TokenBucketWithInjectedClock) {
  common::ManualClockForTest clock;
  Throttle t;
  t.configure({limited(10, 3, 0)}, clock.monotonicNanos());
  uint64_t retry = 0;
  std::vector<ThrottleTicket> held;
  for (int i = 0; i < 3; ++i) {
    auto a = t.admit("app", clock.monotonicNanos(), &retry);
    ASSERT_TRUE(a.isOk()) << i;  // the burst
  }
  auto refused = t.admit("app", clock.monotonicNanos(), &retry);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().detail(), "throttle.rate");
  EXPECT_EQ(refused.status().httpStatus(), 429);
  // One token every 100 ms; the advice adds up to 50 % jitter so refused callers spread out.
  EXPECT_GE(retry, 100u);
  EXPECT_LE(retry, 150u);
  clock.advance(milliseconds(60));
  ASSERT_FALSE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  EXPECT_GE(retry, 40u);
  EXPECT_LE(retry, 60u);
  clock.advance(milliseconds(40));
  EXPECT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  // A long pause refills to the burst, not beyond.
  clock.advance(milliseconds(10'000));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  EXPECT_FALSE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
}

TEST(ThrottleTest, InFlightCapReleasedByTickets) {
  common::ManualClockForTest clock;
  Throttle t;
  t.configure({limited(0, 0, 2)}, clock.monotonicNanos());
  uint64_t retry = 0;
  auto a = t.admit("app", clock.monotonicNanos(), &retry);
  auto b = t.admit("app", clock.monotonicNanos(), &retry);
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(b.isOk());
  auto c = t.admit("app", clock.monotonicNanos(), &retry);
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().detail(), "throttle.in_flight");
  EXPECT_GT(retry, 0u);
  a = common::StatusOr<ThrottleTicket>(ThrottleTicket());  // release one slot
  EXPECT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
}

TEST(ThrottleTest, UnlimitedByDefaultAndReconfigurable) {
  common::ManualClockForTest clock;
  Throttle t;
  ClientConfig free_client;
  free_client.name = "app";
  t.configure({free_client}, clock.monotonicNanos());
  uint64_t retry = 0;
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  t.configure({limited(1, 1, 0)}, clock.monotonicNanos());
  EXPECT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  EXPECT_FALSE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  EXPECT_GE(retry, 1000u);
  EXPECT_LE(retry, 1500u);
}

TEST(ThrottleTest, BucketWaitIsExact) {
  TokenBucket b;
  b.configure(4, 1, 0);  // one token every 250 ms, burst 1
  EXPECT_EQ(b.take(0), 0u);
  EXPECT_EQ(b.take(0), 250u);
  EXPECT_EQ(b.take(100'000'000), 150u);  // 100 ms later
  EXPECT_EQ(b.take(250'000'000), 0u);
}

TEST(ThrottleTest, JitterSpreadsCallersRefusedTogether) {
  common::ManualClockForTest clock;
  Throttle t;
  t.configure({limited(1, 1, 0)}, clock.monotonicNanos());
  uint64_t retry = 0;
  ASSERT_TRUE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
  std::set<uint64_t> advice;
  for (int i = 0; i < 20; ++i) {
    clock.advance(std::chrono::microseconds(37));
    ASSERT_FALSE(t.admit("app", clock.monotonicNanos(), &retry).isOk());
    advice.insert(retry);
  }
  EXPECT_GT(advice.size(), 5u);
}

}  // namespace
}  // namespace cosmoseal::proxy
