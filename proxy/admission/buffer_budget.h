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
// a reload applies to the next charge. Bytes handed to a downstream Transport stay charged (the
// transport's queue charge) until the kernel has taken them: a slow reader keeps its response
// on the budget, and new buffered work is refused instead of growing the process.

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
  // Adds n bytes whatever the limit: memory that already exists (a write queue that grew by a
  // response head or one streamed read) is counted even when it overdraws the budget, so the
  // gauge stays true and the next tryCharge is refused instead.
  void charge(uint64_t n) noexcept { used_.fetch_add(n, std::memory_order_relaxed); }
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
  BufferBudget* budget() const noexcept { return budget_; }

  // Attaches an empty charge to `budget` (for holders built before they know it).
  void bind(BufferBudget* budget) noexcept {
    COSMOSEAL_RELEASE_ASSERT(charged_ == 0);
    budget_ = budget;
  }
  // Sets the charge to `total` even past the limit (see BufferBudget::charge).
  void force(uint64_t total) noexcept {
    if (budget_ == nullptr || total == charged_) return;
    if (total < charged_) {
      budget_->release(charged_ - total);
    } else {
      budget_->charge(total - charged_);
    }
    charged_ = total;
  }
  // Takes over `other`'s bytes without touching the budget's total: the buffer they cover
  // changes hands (an exchange's response body moving into the write queue). A charge against
  // another budget (or none) is released instead.
  void absorb(BufferCharge* other) noexcept {
    if (other->budget_ != budget_ || budget_ == nullptr) {
      other->resize(0, 0);
      return;
    }
    charged_ += other->charged_;
    other->charged_ = 0;
  }

 private:
  BufferBudget* budget_ = nullptr;
  uint64_t charged_ = 0;
};

}  // namespace cosmoseal::proxy
