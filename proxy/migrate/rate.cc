#include "proxy/migrate/rate.h"

#include <algorithm>
#include <thread>

namespace cosmoseal::proxy::migrate {

TokenBucket::TokenBucket(double rate_per_second, Clock::time_point now) noexcept
    : rate_(rate_per_second),
      capacity_(std::max(rate_per_second, 1.0)),
      tokens_(capacity_),
      last_(now) {}

void TokenBucket::refill(Clock::time_point now) noexcept {
  if (now <= last_) return;
  const double seconds = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(capacity_, tokens_ + seconds * rate_);
  last_ = now;
}

double TokenBucket::available(Clock::time_point now) noexcept {
  refill(now);
  return tokens_;
}

std::chrono::nanoseconds TokenBucket::delay(Clock::time_point now) noexcept {
  if (!limited()) return std::chrono::nanoseconds(0);
  refill(now);
  if (tokens_ > 0) return std::chrono::nanoseconds(0);
  // Wait until the bucket holds a little more than nothing again.
  const double seconds = (-tokens_ + 1e-6) / rate_;
  return std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9) + 1);
}

void TokenBucket::charge(double units, Clock::time_point now) noexcept {
  if (!limited()) return;
  refill(now);
  tokens_ -= std::max(units, 0.0);
}

RuBudget::RuBudget(double rate_per_second) : bucket_(rate_per_second, TokenBucket::Clock::now()) {}

void RuBudget::acquire() {
  for (;;) {
    std::chrono::nanoseconds wait;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wait = bucket_.delay(TokenBucket::Clock::now());
    }
    if (wait.count() == 0) return;
    std::this_thread::sleep_for(wait);
  }
}

void RuBudget::charge(double units) {
  std::lock_guard<std::mutex> lock(mu_);
  bucket_.charge(units, TokenBucket::Clock::now());
}

RetryDecision RetryPolicy::decide(int status, int64_t retry_after_ms, int attempt) const noexcept {
  const auto backoff = [&]() {
    const int shift = std::min(attempt, 10);
    const auto d = base_backoff * (int64_t{1} << shift);
    return std::min<std::chrono::milliseconds>(d, max_backoff);
  };
  if (status == 429) {
    if (attempt >= max_throttle_retries) return {};
    if (retry_after_ms >= 0) {
      return {true, std::chrono::milliseconds(std::min<int64_t>(retry_after_ms, 60000))};
    }
    return {true, backoff()};
  }
  const bool transient =
      status == 0 || status == 408 || status == 449 || status == 500 || status == 503;
  if (transient && attempt < max_transient_retries) return {true, backoff()};
  return {};
}

}  // namespace cosmoseal::proxy::migrate
