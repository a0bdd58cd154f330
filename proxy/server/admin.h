#pragma once

// The admin listener (loopback by default): GET /healthz, GET /readyz, GET /metrics, and
// POST /reload. Runs on the control thread's loop; each request is answered locally and the
// connection closed (probes and scrapers open a connection per request anyway).

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <unordered_set>

#include "common/status.h"
#include "proxy/observability/stats.h"
#include "proxy/server/listener.h"

namespace cosmoseal::proxy {

class AdminConnection;

class AdminServer {
 public:
  struct Hooks {
    std::function<bool()> ready;             // /readyz: true = 200
    std::function<std::string()> metrics;    // /metrics body (Prometheus text format)
    std::function<common::Status()> reload;  // POST /reload; null = not available
  };

  AdminServer(uv_loop_t* loop, Hooks hooks);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds and listens; *bound_port receives the actual port (useful with port 0).
  common::Status listen(const std::string& address, uint16_t port, uint16_t* bound_port);
  // Stops listening and closes open admin connections. `done` runs when everything is closed.
  void close(std::function<void()> done);
  // Connections the admin listener did not take (out of descriptors), for /metrics.
  const AcceptCounters& acceptCounters() const noexcept { return accept_counters_; }

 private:
  friend class AdminConnection;
  static void onConnection(void* admin, uv_stream_t* server) noexcept;
  void connectionClosed(AdminConnection* c);
  void maybeDone();

  uv_loop_t* loop_;
  Hooks hooks_;
  std::unique_ptr<Listener> listener_;
  AcceptCounters accept_counters_;
  bool listening_ = false;
  bool closing_ = false;
  std::unordered_set<AdminConnection*> connections_;
  std::function<void()> on_closed_;
};

}  // namespace cosmoseal::proxy
