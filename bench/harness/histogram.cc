#include "bench/harness/histogram.h"

#include <algorithm>
#include <cmath>

namespace cosmoseal::bench {

size_t LatencyHistogram::bucketIndex(uint64_t value) noexcept {
  if (value > kMaxTrackable) value = kMaxTrackable;
  if (value < kLinearLimit) return static_cast<size_t>(value);
  const int msb = 63 - __builtin_clzll(value);       // >= kSubBucketBits
  const int shift = msb - (kSubBucketBits - 1);       // >= 1: keeps the top 8 bits
  const uint64_t top = value >> shift;                // in [kHalf, 2 * kHalf)
  return static_cast<size_t>(kLinearLimit + static_cast<uint64_t>(shift - 1) * kHalf +
                             (top - kHalf));
}

uint64_t LatencyHistogram::bucketLowest(size_t index) noexcept {
  if (index < kLinearLimit) return index;
  const uint64_t rel = index - kLinearLimit;
  const int shift = static_cast<int>(rel / kHalf) + 1;
  const uint64_t top = rel % kHalf + kHalf;
  return top << shift;
}

uint64_t LatencyHistogram::bucketHighest(size_t index) noexcept {
  if (index < kLinearLimit) return index;
  const uint64_t rel = index - kLinearLimit;
  const int shift = static_cast<int>(rel / kHalf) + 1;
  const uint64_t top = rel % kHalf + kHalf;
  return ((top + 1) << shift) - 1;
}

void LatencyHistogram::recordN(uint64_t value, uint64_t n) noexcept {
  if (n == 0) return;
  counts_[bucketIndex(value)] += n;
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  count_ += n;
  sum_ += value * n;
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  if (count_ == 0 || other.min_ < min_) min_ = other.min_;
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  sum_ += other.sum_;
}

void LatencyHistogram::reset() noexcept {
  counts_.fill(0);
  count_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

uint64_t LatencyHistogram::percentile(double percent) const noexcept {
  if (count_ == 0) return 0;
  if (percent <= 0.0) return min_;
  if (percent >= 100.0) return max_;
  // Rank of the sample we want (1-based): ceil(p/100 * n), at least 1.
  uint64_t rank = static_cast<uint64_t>(std::ceil(percent / 100.0 * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::clamp(bucketHighest(i), min_, max_);
  }
  return max_;
}

}  // namespace cosmoseal::bench
