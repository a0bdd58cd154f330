#pragma once

// Clock: injected wherever time matters (signature date windows, token buckets, timeouts in
// tests). Production code uses systemClock(); tests use ManualClockForTest.

#include <atomic>
#include <chrono>
#include <cstdint>

namespace cosmoseal::common {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall clock, seconds since the Unix epoch.
  virtual int64_t unixSeconds() const noexcept = 0;
  // Monotonic clock in nanoseconds (arbitrary origin).
  virtual uint64_t monotonicNanos() const noexcept = 0;
};

// The process-wide real clock.
const Clock& systemClock() noexcept;

class ManualClockForTest : public Clock {
 public:
  explicit ManualClockForTest(int64_t unix_seconds = 1'700'000'000, uint64_t mono_ns = 1'000'000)
      : unix_(unix_seconds), mono_(mono_ns) {}
  int64_t unixSeconds() const noexcept override { return unix_.load(); }
  uint64_t monotonicNanos() const noexcept override { return mono_.load(); }
  void setUnixSeconds(int64_t s) noexcept { unix_.store(s); }
  void advance(std::chrono::nanoseconds d) noexcept {
    mono_.fetch_add(static_cast<uint64_t>(d.count()));
    unix_.fetch_add(std::chrono::duration_cast<std::chrono::seconds>(d).count());
  }

 private:
  std::atomic<int64_t> unix_;
  std::atomic<uint64_t> mono_;
};

}  // namespace cosmoseal::common
