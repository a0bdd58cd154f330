#pragma once

// The admin listener (loopback by default): GET /healthz, GET /readyz, GET /metrics, and
// POST /reload. Runs on the control thread's loop; each request is answered locally and the
// connection closed (probes and scrapers open a connection per request anyway).

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>

#include "common/status.h"

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

 private:
  friend class AdminConnection;
  static void onConnection(uv_stream_t* server, int status) noexcept;
  void connectionClosed(AdminConnection* c);
  void maybeDone();

  uv_loop_t* loop_;
  Hooks hooks_;
  uv_tcp_t listener_;
  bool listening_ = false;
  bool closing_ = false;
  bool listener_closed_ = true;
  std::unordered_set<AdminConnection*> connections_;
  std::function<void()> on_closed_;
};

}  // namespace cosmoseal::proxy
