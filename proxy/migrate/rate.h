#pragma once

// Request-unit budget and retry rules of the migrator (docs/MIGRATION.md "Throughput").
//
// RuBucket: a token bucket of request units. `--max-ru-per-second R` refills R per second up to
// one second's worth; a request may start while the bucket is positive and its ACTUAL charge
// (x-ms-request-charge, known only afterwards) is then taken, so the bucket can go negative and
// the next request waits until it is refilled: over any long window the job spends at most R
// RU/s, whatever each request costs. R <= 0: no limit. The pure part (TokenBucket) takes the
// time as an argument so it can be tested without sleeping; RuBudget adds a lock and the sleep
// and is shared by every thread of a job.
//
// RetryPolicy: which answers are retried and after how long. 429 (request rate too large) waits
// x-ms-retry-after-ms (or a backoff when absent) and is retried many times: throttling is the
// account protecting itself, never a reason to fail a job. 408, 449, 500, 503 and transport
// failures back off exponentially a few times. Everything else is the caller's to handle.

#include <chrono>
#include <cstdint>
#include <mutex>

namespace cosmoseal::proxy::migrate {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // rate <= 0: unlimited (delay() always 0).
  TokenBucket(double rate_per_second, Clock::time_point now) noexcept;

  bool limited() const noexcept { return rate_ > 0; }
  // How long to wait, from `now`, before a request may start.
  std::chrono::nanoseconds delay(Clock::time_point now) noexcept;
  // Takes `units` (the request's actual charge).
  void charge(double units, Clock::time_point now) noexcept;
  double available(Clock::time_point now) noexcept;

 private:
  void refill(Clock::time_point now) noexcept;
  double rate_;
  double capacity_;
  double tokens_;
  Clock::time_point last_;
};

class RuBudget {
 public:
  explicit RuBudget(double rate_per_second);
  // Blocks until a request may start.
  void acquire();
  void charge(double units);

 private:
  std::mutex mu_;
  TokenBucket bucket_;
};

struct RetryDecision {
  bool retry = false;
  std::chrono::milliseconds delay{0};
};

struct RetryPolicy {
  int max_throttle_retries = 60;  // 429s in a row before giving up on one request
  int max_transient_retries = 5;  // 408/449/5xx/transport failures in a row
  std::chrono::milliseconds base_backoff{100};
  std::chrono::milliseconds max_backoff{5000};

  // `status` 0: a transport failure. `retry_after_ms` < 0: the header was absent.
  // `attempt`: how many times this request has already been retried for this kind of answer.
  RetryDecision decide(int status, int64_t retry_after_ms, int attempt) const noexcept;
};

}  // namespace cosmoseal::proxy::migrate
