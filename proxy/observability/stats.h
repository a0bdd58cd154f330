#pragma once

// Per-worker counters. Written only by the owning worker thread (relaxed atomics so the admin
// thread can read them without locks); the admin endpoint sums them across workers.

#include <atomic>
#include <cstdint>

namespace cosmoseal::proxy {

// Connections a listener did not take (proxy/server/listener.h), by reason. Written by the loop
// thread of the listener, read by /metrics.
struct AcceptCounters {
  using Counter = std::atomic<uint64_t>;
  Counter emfile{0};              // accept(2): the process is out of descriptors
  Counter enfile{0};              // accept(2): the system is out of descriptors
  Counter descriptor_reserve{0};  // accepted, then closed: it ate into the descriptor reserve
  Counter other{0};               // another accept(2) error
  Counter paused{0};              // gauge: 1 while accepting is paused
};

struct WorkerStats {
  using Counter = std::atomic<uint64_t>;

  Counter connections_accepted{0};
  Counter connections_rejected{0};  // over max_connections
  Counter connections_open{0};      // gauge
  Counter requests{0};
  Counter responses_2xx{0};
  Counter responses_3xx{0};
  Counter responses_4xx{0};
  Counter responses_5xx{0};
  Counter local_replies{0};  // answered by cosmoseal itself (refusals, errors)
  Counter upstream_errors{0};
  Counter upstream_retries{0};
  Counter bytes_from_clients{0};
  Counter bytes_to_clients{0};
  Counter discovery_rewrites{0};
  Counter upstream_pool_idle{0};  // gauge, refreshed by the worker
  Counter upstream_pool_live{0};  // gauge
  // Copies of the worker's UpstreamPoolStats (refreshed by the worker; counters).
  Counter upstream_aged_out{0};           // not reused: older than upstream.pool.max_age
  Counter upstream_address_fallbacks{0};  // a connect failed, the next DNS address was tried
  AcceptCounters accept;          // the worker's application listener
  // Apps' Entra ID tokens naming a signing key the sidecar lacks (proxy/admission/auth.h).
  Counter entra_kid_held{0};                // gauge: requests held for the tenant's keys now
  Counter entra_kid_holds{0};               // requests held
  Counter entra_kid_served_after_wait{0};   // held, then the key was found
  Counter entra_kid_refused_after_wait{0};  // held, still unknown: 401
  Counter entra_kid_refused_at_once{0};     // no refresh to wait for (rate limit) or waits off
  Counter entra_kid_refused_busy{0};        // entra.unknown_kid_max_held already held

  void inc(Counter& c, uint64_t n = 1) noexcept { c.fetch_add(n, std::memory_order_relaxed); }
  void dec(Counter& c, uint64_t n = 1) noexcept { c.fetch_sub(n, std::memory_order_relaxed); }
  void countStatus(int status) noexcept {
    if (status < 300) inc(responses_2xx);
    else if (status < 400) inc(responses_3xx);
    else if (status < 500) inc(responses_4xx);
    else inc(responses_5xx);
  }
};

}  // namespace cosmoseal::proxy
