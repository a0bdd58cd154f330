#pragma once

// Per-client throttling (`clients[].rate`, `clients[].max_in_flight`), shared by all workers.
//
//   rate: { requests_per_second: N, burst: M }   token bucket: M tokens, refilled at N per second
//   max_in_flight: K                              at most K requests of this client at a time
//
// Over a limit the request gets 429 with x-ms-retry-after-ms (the Cosmos SDKs honour it and
// retry by themselves) and detail throttle.rate / throttle.in_flight, before anything goes
// upstream. Limiters are keyed by client name and survive reloads (reconfigured in place).
// Time is passed in (monotonic ns) so tests use an injected clock.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/assert.h"
#include "common/status.h"
#include "proxy/config/config.h"

namespace cosmoseal::proxy {

class TokenBucket {
 public:
  // rate <= 0: unlimited.
  void configure(double rate_per_second, double burst, uint64_t now_ns);
  // Takes one token. Returns 0 when granted, else the milliseconds until a token is available
  // (at least 1).
  uint64_t take(uint64_t now_ns);

 private:
  std::mutex mu_;
  double rate_ = 0;
  double burst_ = 0;
  double tokens_ = 0;
  uint64_t last_ns_ = 0;
};

class ClientLimiter {
 public:
  TokenBucket bucket;
  std::atomic<uint32_t> in_flight{0};
  std::atomic<uint32_t> max_in_flight{0};  // 0 = unlimited
};

// Holds one in-flight slot; releases it when destroyed.
class ThrottleTicket {
 public:
  ThrottleTicket() = default;
  explicit ThrottleTicket(ClientLimiter* l) : limiter_(l) {}
  ~ThrottleTicket() { reset(); }
  ThrottleTicket(ThrottleTicket&& o) noexcept : limiter_(o.limiter_) { o.limiter_ = nullptr; }
  ThrottleTicket& operator=(ThrottleTicket&& o) noexcept {
    if (this != &o) {
      reset();
      limiter_ = o.limiter_;
      o.limiter_ = nullptr;
    }
    return *this;
  }
  ThrottleTicket(const ThrottleTicket&) = delete;
  ThrottleTicket& operator=(const ThrottleTicket&) = delete;
  void reset() noexcept {
    if (limiter_ != nullptr) {
      // One decrement per admit(): a second would wrap the count and lock the client out.
      [[maybe_unused]] const uint32_t before =
          limiter_->in_flight.fetch_sub(1, std::memory_order_acq_rel);
      COSMOSEAL_ASSERT(before > 0);
    }
    limiter_ = nullptr;
  }

 private:
  ClientLimiter* limiter_ = nullptr;
};

class Throttle {
 public:
  // Startup and every reload: (re)configures the limiter of every client.
  void configure(const std::vector<ClientConfig>& clients, uint64_t now_ns);
  // Admits one request of `client` or refuses it (429, throttle.rate / throttle.in_flight);
  // *retry_after_ms receives the advice for x-ms-retry-after-ms.
  common::StatusOr<ThrottleTicket> admit(const std::string& client, uint64_t now_ns,
                                         uint64_t* retry_after_ms);

 private:
  ClientLimiter* limiter(const std::string& client);

  std::mutex mu_;
  std::map<std::string, std::unique_ptr<ClientLimiter>> limiters_;  // never erased: tickets point in
};

}  // namespace cosmoseal::proxy
