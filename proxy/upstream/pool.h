#pragma once

// UpstreamPool: the per-worker keep-alive pool of UpstreamConnections. It owns every connection
// it opened (deleting each after its Transport closes), lends one to one UpstreamUser at a time,
// and keeps idle ones per (host, port, TLS context) up to `max_idle`. It also caches DNS answers
// for a short time.
//
// Thread affinity: one pool per worker loop; everything on that loop's thread.

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/upstream/connection.h"

namespace cosmoseal::proxy {

struct UpstreamPoolStats {
  uint64_t connects = 0;  // new connections started
  uint64_t connect_failures = 0;
  uint64_t reuses = 0;       // requests served on a pooled connection
  uint64_t idle_closed = 0;  // pooled connections closed (timeout, server close)
  uint64_t aged_out = 0;     // connections closed instead of reused: older than max_age
  uint64_t address_fallbacks = 0;  // a connect failed and the next DNS address was tried
};

class UpstreamPool {
 public:
  explicit UpstreamPool(uv_loop_t* loop);
  ~UpstreamPool();
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // Finds an idle connection for `target` or opens a new one. The user hears back through
  // onUpstreamReady()/onUpstreamFailed(), never synchronously from inside acquire().
  void acquire(const UpstreamTarget& target, UpstreamUser* user) noexcept;
  // Forget a pending acquire (the user is going away). A connection still being opened for it
  // joins the idle pool when ready.
  void cancel(UpstreamUser* user) noexcept;
  // The user is done with `conn`. `reusable`: the response was complete and framed, the request
  // fully sent and both sides want keep-alive; otherwise the connection is closed.
  void release(UpstreamConnection* conn, bool reusable) noexcept;
  // Worker shutdown: closes idle connections, refuses new pooling and closes the pool's own
  // handle. Call once no exchange uses the pool any more.
  void shutdown() noexcept;

  // Puts `addrs` (ports ignored) in the DNS cache for `host`, as if the resolver had answered
  // them in that order, for `ttl_ms`. For tests (a name with several addresses on loopback).
  void preloadAddresses(const std::string& host, std::vector<struct sockaddr_storage> addrs,
                        uint64_t ttl_ms) noexcept;

  size_t idleCount() const noexcept;
  size_t liveCount() const noexcept { return live_; }
  const UpstreamPoolStats& stats() const noexcept { return stats_; }
  uv_loop_t* loop() const noexcept { return loop_; }

 private:
  friend class UpstreamConnection;
  struct Pending {
    UpstreamUser* user;
    UpstreamConnection* conn;
  };

  void deliver(UpstreamConnection* conn, UpstreamUser* user) noexcept;
  static void onDeliver(uv_idle_t* h) noexcept;  // libuv callback (idle)
  void addIdle(UpstreamConnection* conn) noexcept;
  void removeIdle(UpstreamConnection* conn) noexcept;
  void forget(UpstreamConnection* conn) noexcept;  // called when a connection is deleted

  // DNS cache (per worker): host -> every resolved address in the resolver's order, for
  // target.dns_ttl_ms.
  struct CachedAddresses {
    std::vector<struct sockaddr_storage> addrs;
    uint64_t expires_ms;
  };
  bool cachedAddresses(const std::string& host, uint16_t port,
                       std::vector<struct sockaddr_storage>* out) const noexcept;
  // Keeps the TCP addresses of `res` (duplicates dropped) and returns them.
  std::vector<struct sockaddr_storage> rememberAddresses(const std::string& host,
                                                         const struct addrinfo* res,
                                                         uint64_t ttl_ms) noexcept;
  // `failed` could not connect to its current address: a fresh connection takes over its user
  // with the remaining addresses, and `failed` closes quietly.
  void continueWithNextAddress(UpstreamConnection* failed) noexcept;
  bool tooOld(const UpstreamConnection* conn) const noexcept;

  uv_loop_t* loop_;
  uv_idle_t deliver_idle_;  // runs deferred deliveries on the next loop iteration
  std::vector<Pending> deliveries_;
  std::unordered_map<std::string, std::vector<UpstreamConnection*>> idle_;
  std::unordered_map<std::string, CachedAddresses> dns_;
  std::vector<Pending> connecting_;  // fresh connections and the user waiting for each
  size_t live_ = 0;
  uint64_t next_id_ = 1;
  bool draining_ = false;
  UpstreamPoolStats stats_;
};

}  // namespace cosmoseal::proxy
