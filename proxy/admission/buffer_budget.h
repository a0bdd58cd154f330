#pragma once

// The process-wide budget for buffered message bodies (`limits.max_buffered_bytes`, DESIGN.md §4).
//
// cosmoseal reads whole request bodies (to encrypt, rewrite queries or check creates) and whole
// responses it must transform (decrypt, account rewrite, listings). Each body is bounded by its
// own limit; all of them together are bounded by this budget, so a burst of large requests gets
// 503 `overload.buffer_budget` instead of growing the sidecar into its memory limit.
//
// Every exchange holds BufferCharges against the one BufferBudget of the process: a charge grows
// before a buffer grows (refused past the limit: the caller answers 503 and buffers nothing) and
// returns to zero when the exchange lets go of its buffers. The limit is passed on each call so
// a reload applies to the next charge.

#include <atomic>
#include <cstdint>

#include "common/assert.h"

namespace cosmoseal::proxy {

class BufferBudget {
 public:
  // Adds n bytes unless that would pass `limit`. Lock-free; safe from every worker.
  bool tryCharge(uint64_t n, uint64_t limit) noexcept {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit || used > limit - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void release(uint64_t n) noexcept {
    // Releasing more than was charged would wrap the total and refuse every later charge.
    [[maybe_unused]] const uint64_t before = used_.fetch_sub(n, std::memory_order_relaxed);
    COSMOSEAL_ASSERT(before >= n);
  }
  uint64_t used() const noexcept { return used_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> used_{0};
};

// One holder's share of the budget (RAII: released on destruction).
class BufferCharge {
 public:
  BufferCharge() = default;
  explicit BufferCharge(BufferBudget* budget) noexcept : budget_(budget) {}
  ~BufferCharge() { resize(0, 0); }
  BufferCharge(const BufferCharge&) = delete;
  BufferCharge& operator=(const BufferCharge&) = delete;

  // Sets this holder's charge to `total` bytes. Shrinking always succeeds; growing fails (and
  // leaves the charge as it was) when the budget would pass `limit`.
  bool resize(uint64_t total, uint64_t limit) noexcept {
    if (budget_ == nullptr || total == charged_) return true;
    if (total < charged_) {
      budget_->release(charged_ - total);
    } else if (!budget_->tryCharge(total - charged_, limit)) {
      return false;
    }
    charged_ = total;
    return true;
  }
  uint64_t bytes() const noexcept { return charged_; }

 private:
  BufferBudget* budget_ = nullptr;
  uint64_t charged_ = 0;
};

}  // namespace cosmoseal::proxy
