#pragma once

// LatencyHistogram: a log-linear histogram of non-negative integer samples (nanoseconds), in the
// spirit of HdrHistogram (no code from it):
//
//   * values below 2^kSubBucketBits (256) have one bucket each (exact);
//   * above that, every power of two [2^k, 2^(k+1)) is split into 128 equal buckets, so a bucket
//     is at most 1/128 (0.78%) of the values it holds wide: any percentile is reported within
//     0.8% of the true sample (the upper edge of its bucket, clamped to the exact maximum);
//   * values at or above 2^40 ns (18 minutes) are clamped into the last bucket (max stays exact).
//
// Fixed memory (4,480 counters, 35 KB), O(1) record (a count-leading-zeros and an add), and
// mergeable: merge() adds counters, so per-thread or per-second histograms combine exactly as if
// every sample had been recorded in one.
//
// Not thread-safe: one histogram per thread; merge under the owner's lock.

#include <array>
#include <cstddef>
#include <cstdint>

namespace cosmoseal::bench {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 8;
  static constexpr uint64_t kLinearLimit = uint64_t{1} << kSubBucketBits;  // 256
  static constexpr uint64_t kHalf = kLinearLimit / 2;                      // 128 per octave
  static constexpr int kMaxBits = 40;
  static constexpr uint64_t kMaxTrackable = (uint64_t{1} << kMaxBits) - 1;
  static constexpr size_t kBuckets = kLinearLimit + (kMaxBits - kSubBucketBits) * kHalf;

  LatencyHistogram() { reset(); }

  void record(uint64_t value) noexcept { recordN(value, 1); }
  void recordN(uint64_t value, uint64_t n) noexcept;
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

  uint64_t count() const noexcept { return count_; }
  // 0 when empty.
  uint64_t min() const noexcept { return count_ ? min_ : 0; }
  uint64_t max() const noexcept { return max_; }
  double mean() const noexcept { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }

  // The smallest bucket upper edge at or below which at least `percent` % of the samples lie,
  // clamped to [min, max]. percent <= 0 -> min(), >= 100 -> max(). 0 when empty.
  uint64_t percentile(double percent) const noexcept;

  // Calls f(lowest, highest, count) for every non-empty bucket, in increasing order.
  template <typename F>
  void forEachBucket(F&& f) const {
    for (size_t i = 0; i < kBuckets; ++i) {
      if (counts_[i] != 0) f(bucketLowest(i), bucketHighest(i), counts_[i]);
    }
  }

  // Bucket geometry (exposed for tests).
  static size_t bucketIndex(uint64_t value) noexcept;
  static uint64_t bucketLowest(size_t index) noexcept;
  static uint64_t bucketHighest(size_t index) noexcept;

 private:
  std::array<uint64_t, kBuckets> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
  // Sum of samples (for the mean); 2^64 ns is 584 years of latency, no overflow in practice.
  uint64_t sum_ = 0;
};

}  // namespace cosmoseal::bench
