#include "common/clock.h"

#include <ctime>

namespace cosmoseal::common {
namespace {

class SystemClock final : public Clock {
 public:
  int64_t unixSeconds() const noexcept override {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
  }
  uint64_t monotonicNanos() const noexcept override {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
  }
};

}  // namespace

const Clock& systemClock() noexcept {
  static const SystemClock kClock;
  return kClock;
}

}  // namespace cosmoseal::common
