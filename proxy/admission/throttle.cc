#include "proxy/admission/throttle.h"

#include <algorithm>
#include <cmath>

#include "proxy/admission/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

void TokenBucket::configure(double rate_per_second, double burst, uint64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  const bool first = rate_ <= 0;
  rate_ = rate_per_second;
  burst_ = std::max(1.0, burst > 0 ? burst : rate_per_second);
  if (first) tokens_ = burst_;  // a new limiter starts full
  tokens_ = std::min(tokens_, burst_);
  last_ns_ = now_ns;
}

uint64_t TokenBucket::take(uint64_t now_ns) {
  std::lock_guard<std::mutex> lock(mu_);
  if (rate_ <= 0) return 0;
  if (now_ns > last_ns_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(now_ns - last_ns_) * 1e-9 * rate_);
    last_ns_ = now_ns;
  }
  if (tokens_ >= 1.0) {
    tokens_ -= 1.0;
    return 0;
  }
  const double wait_ms = (1.0 - tokens_) / rate_ * 1000.0;
  return std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(wait_ms)));
}

ClientLimiter* Throttle::limiter(const std::string& client) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = limiters_[client];
  if (!slot) slot = std::make_unique<ClientLimiter>();
  return slot.get();
}

void Throttle::configure(const std::vector<ClientConfig>& clients, uint64_t now_ns) {
  for (const ClientConfig& c : clients) {
    ClientLimiter* l = limiter(c.name);
    l->bucket.configure(c.rate.requests_per_second, c.rate.burst, now_ns);
    l->max_in_flight.store(c.max_in_flight, std::memory_order_relaxed);
  }
}

common::StatusOr<ThrottleTicket> Throttle::admit(const std::string& client, uint64_t now_ns,
                                                 uint64_t* retry_after_ms) {
  ClientLimiter* l = limiter(client);
  const uint32_t max = l->max_in_flight.load(std::memory_order_relaxed);
  const uint32_t before = l->in_flight.fetch_add(1, std::memory_order_acq_rel);
  ThrottleTicket ticket(l);  // releases the slot on every refusal below
  if (max != 0 && before >= max) {
    *retry_after_ms = 50;
    return Status(Code::kRateLimited, admission_detail::kInFlight,
                  "client '" + client + "' already has " + std::to_string(before) +
                      " requests in flight (max_in_flight " + std::to_string(max) + ")");
  }
  if (const uint64_t wait = l->bucket.take(now_ns); wait != 0) {
    // Spread the retries of callers that were refused together (they would all come back at
    // the same instant and collide again): up to +50 % jitter.
    *retry_after_ms = wait + (now_ns / 1000 + before * 7919) % (wait / 2 + 1);
    return Status(Code::kRateLimited, admission_detail::kRate,
                  "client '" + client + "' is over its request rate; retry after " +
                      std::to_string(wait) + " ms");
  }
  *retry_after_ms = 0;
  return ticket;
}

}  // namespace cosmoseal::proxy
