#include "proxy/admission/buffer_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace cosmoseal::proxy {
namespace {

TEST(BufferBudgetTest, ChargesGrowShrinkAndReleaseOnDestruction) {
  BufferBudget budget;
  {
    BufferCharge a(&budget);
    BufferCharge b(&budget);
    EXPECT_TRUE(a.resize(600, 1000));
    EXPECT_EQ(budget.used(), 600u);
    // b would pass the limit: refused, nothing charged.
    EXPECT_FALSE(b.resize(401, 1000));
    EXPECT_EQ(b.bytes(), 0u);
    EXPECT_EQ(budget.used(), 600u);
    EXPECT_TRUE(b.resize(400, 1000));  // exactly the limit
    EXPECT_EQ(budget.used(), 1000u);
    // Growing a by one byte fails and keeps its charge; shrinking never fails.
    EXPECT_FALSE(a.resize(601, 1000));
    EXPECT_EQ(a.bytes(), 600u);
    EXPECT_TRUE(a.resize(100, 0));
    EXPECT_EQ(budget.used(), 500u);
    // A lower limit (after a reload) applies to the next growth only.
    EXPECT_FALSE(a.resize(200, 450));
    EXPECT_TRUE(a.resize(150, 550));
    EXPECT_EQ(budget.used(), 550u);
  }
  EXPECT_EQ(budget.used(), 0u);
}

TEST(BufferBudgetTest, HugeRequestsDoNotWrapAround) {
  BufferBudget budget;
  BufferCharge a(&budget);
  EXPECT_TRUE(a.resize(10, 100));
  BufferCharge b(&budget);
  EXPECT_FALSE(b.resize(UINT64_MAX, 100));
  EXPECT_FALSE(b.resize(UINT64_MAX - 5, UINT64_MAX - 1));
  EXPECT_EQ(budget.used(), 10u);
}

TEST(BufferBudgetTest, ADetachedChargeIsFree) {
  BufferCharge none;
  EXPECT_TRUE(none.resize(1u << 30, 0));
}

TEST(BufferBudgetTest, ForcedChargesOverdrawAndRefuseTheNextCharge) {
  // A write queue counts memory that already exists: it may overdraw the budget, and then the
  // next ordinary charge is refused.
  BufferBudget budget;
  BufferCharge queue;
  queue.bind(&budget);
  queue.force(1500);
  EXPECT_EQ(budget.used(), 1500u);
  BufferCharge other(&budget);
  EXPECT_FALSE(other.resize(1, 1000));
  queue.force(200);
  EXPECT_EQ(budget.used(), 200u);
  EXPECT_TRUE(other.resize(800, 1000));
}

TEST(BufferBudgetTest, AbsorbMovesAChargeWithoutChangingTheTotal) {
  BufferBudget budget;
  BufferCharge queue(&budget);
  BufferCharge body(&budget);
  ASSERT_TRUE(queue.resize(100, 1000));
  ASSERT_TRUE(body.resize(900, 1000));
  queue.absorb(&body);  // at the limit: a move must not need room for a second copy
  EXPECT_EQ(queue.bytes(), 1000u);
  EXPECT_EQ(body.bytes(), 0u);
  EXPECT_EQ(budget.used(), 1000u);
  // A charge against another budget (or none) is released instead of moved.
  BufferBudget elsewhere;
  BufferCharge foreign(&elsewhere);
  ASSERT_TRUE(foreign.resize(50, 100));
  queue.absorb(&foreign);
  EXPECT_EQ(elsewhere.used(), 0u);
  EXPECT_EQ(budget.used(), 1000u);
  BufferCharge unbound;
  unbound.absorb(&queue);
  EXPECT_EQ(budget.used(), 0u);
}

// Workers charge concurrently: the budget is never passed and returns to zero.
TEST(BufferBudgetTest, ConcurrentChargesNeverPassTheLimit) {
  BufferBudget budget;
  constexpr uint64_t kLimit = 10'000;
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      BufferCharge c(&budget);
      for (int i = 0; i < 20'000; ++i) {
        const uint64_t want = static_cast<uint64_t>((i * 7 + t * 13) % 4000);
        if (c.resize(want, kLimit) && budget.used() > kLimit) over = true;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace cosmoseal::proxy
