#pragma once

// Upstream connections and the per-worker keep-alive pool.
//
// An UpstreamConnection is one TCP(+TLS) connection to the Cosmos endpoint carrying one
// request at a time. It is owned by its UpstreamPool (which deletes it after its Transport
// closes) and lent to one UpstreamUser (an exchange) at a time.
//
// Timeouts: connect (DNS + TCP + TLS handshake) and response (from the moment the request is
// sent, restarted whenever response bytes arrive). Idle pooled connections keep reading so a
// server-side close is noticed at once; they are closed after `idle_timeout` (kept below the
// usual 5 s server keep-alive timeouts so we do not race the server's own close).
//
// Thread affinity: one pool per worker loop; everything on that loop's thread.

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "proxy/http1/codec.h"
#include "proxy/net/transport.h"
#include "proxy/tls/context.h"

namespace cosmoseal::proxy {

class UpstreamConnection;
class UpstreamPool;

struct UpstreamTarget {
  std::string host;  // DNS name or IP literal (no brackets)
  uint16_t port = 443;
  std::shared_ptr<TlsContext> tls;  // null: plain HTTP (tests only)
  uint64_t connect_timeout_ms = 5000;
  uint64_t response_timeout_ms = 65000;
  uint64_t idle_timeout_ms = 4000;
  uint32_t max_idle = 64;
  Http1Limits limits;

  // Connections are reusable only for the same host, port and TLS context.
  std::string poolKey() const;
};

// The user of a connection: receives its lifecycle and the parsed response.
class UpstreamUser {
 public:
  virtual ~UpstreamUser() = default;
  // A connection is ready for this user's request (fresh or from the pool).
  virtual void onUpstreamReady(UpstreamConnection* conn) noexcept = 0;
  // Could not connect, or the connection broke / timed out while this user held it. The
  // connection is gone; `response_started` tells whether any response byte had arrived.
  virtual void onUpstreamFailed(const common::Status& status, bool response_started) noexcept = 0;
  virtual common::Status onUpstreamHead(MessageHead& head) noexcept = 0;
  virtual common::Status onUpstreamBody(std::string_view data) noexcept = 0;
  // The response is complete. The user must call UpstreamPool::release() (now or later).
  virtual void onUpstreamComplete() noexcept = 0;
  // Everything written upstream reached the kernel (for streamed request bodies).
  virtual void onUpstreamDrained() noexcept {}
};

class UpstreamConnection final : public Transport::Handler, public Http1Parser::Handler {
 public:
  // Request bytes (head and body), buffered until flush().
  void send(std::string_view bytes) noexcept { transport_.write(bytes); }
  // Flushes and, once the request is complete, starts the response timer.
  void flush(bool request_complete) noexcept;
  // The request was HEAD: the response has no body.
  void setNoBodyExpected(bool v) noexcept { parser_.setNoBodyExpected(v); }
  // Backpressure from a slow app: reading stops, and so does the response timer (the upstream
  // is not the slow party); resuming re-arms it.
  void pauseReading() noexcept;
  void resumeReading() noexcept;
  size_t queuedBytes() const noexcept { return transport_.queuedBytes(); }
  // True when the connection came from the idle pool (it may have been closed by the server
  // just as we reused it: callers may retry idempotent requests on a fresh connection).
  bool reused() const noexcept { return reused_; }
  bool responseStarted() const noexcept { return response_started_; }
  const MessageHead& responseHead() const noexcept { return parser_.head(); }
  uint64_t id() const noexcept { return id_; }

  // Transport::Handler
  void onTransportReady() noexcept override;
  void onTransportData(std::string_view data) noexcept override;
  void onTransportEof(bool clean) noexcept override;
  void onTransportError(const common::Status& status) noexcept override;
  void onTransportDrained() noexcept override;
  void onTransportTimer() noexcept override;
  void onTransportClosed() noexcept override;
  // Http1Parser::Handler
  common::Status onMessageHead(MessageHead& head) noexcept override;
  common::Status onMessageBody(std::string_view data) noexcept override;
  common::Status onMessageComplete() noexcept override;

 private:
  friend class UpstreamPool;
  enum class State : uint8_t { kResolving, kConnecting, kIdle, kBusy, kClosing };

  UpstreamConnection(UpstreamPool* pool, const UpstreamTarget& target, uint64_t id);
  ~UpstreamConnection() override = default;

  void start() noexcept;
  void connectTo(const struct sockaddr* addr) noexcept;
  static void onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) noexcept;
  // Ends the connection; tells the user (if any) with `status`.
  void fail(const common::Status& status) noexcept;
  void close() noexcept;
  void maybeDelete() noexcept;

  UpstreamPool* pool_;
  UpstreamTarget target_;
  std::string key_;
  uint64_t id_;
  Transport transport_;
  Http1Parser parser_;
  UpstreamUser* user_ = nullptr;
  State state_ = State::kResolving;
  uv_getaddrinfo_t resolve_req_;
  bool resolving_ = false;
  bool stream_closed_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  bool request_complete_ = false;
};

struct UpstreamPoolStats {
  uint64_t connects = 0;         // new connections started
  uint64_t connect_failures = 0;
  uint64_t reuses = 0;           // requests served on a pooled connection
  uint64_t idle_closed = 0;      // pooled connections closed (timeout, server close)
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
  static void onDeliver(uv_idle_t* h) noexcept;
  void addIdle(UpstreamConnection* conn) noexcept;
  void removeIdle(UpstreamConnection* conn) noexcept;
  void forget(UpstreamConnection* conn) noexcept;  // called when a connection is deleted

  // DNS cache (per worker): host -> resolved address, short TTL.
  struct CachedAddress {
    struct sockaddr_storage addr;
    uint64_t expires_ms;
  };
  bool cachedAddress(const std::string& host, uint16_t port, struct sockaddr_storage* out) const;
  void rememberAddress(const std::string& host, const struct sockaddr* addr);

  uv_loop_t* loop_;
  uv_idle_t deliver_idle_;  // runs deferred deliveries on the next loop iteration
  std::vector<Pending> deliveries_;
  std::unordered_map<std::string, std::vector<UpstreamConnection*>> idle_;
  std::unordered_map<std::string, CachedAddress> dns_;
  std::vector<Pending> connecting_;  // fresh connections and the user waiting for each
  size_t live_ = 0;
  uint64_t next_id_ = 1;
  bool draining_ = false;
  UpstreamPoolStats stats_;
};

}  // namespace cosmoseal::proxy
