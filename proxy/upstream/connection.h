#pragma once

// Upstream connections (the keep-alive pool that owns them is in pool.h).
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

#include <sys/socket.h>
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
  // A connection older than this is not reused (closed when released): 0 = no maximum.
  uint64_t max_age_ms = 300000;
  // Resolved addresses are reused this long (per worker), then DNS is asked again.
  uint64_t dns_ttl_ms = 30000;
  Http1Limits limits;

  // Connections are reusable only for the same host, port and TLS context.
  std::string poolKey() const noexcept;
};

// Why a connection failed its user, for the user's decisions (retrying). The Status carries the
// detail code and message for the reply and the logs.
enum class UpstreamFailure : uint8_t {
  kConnect,         // no connection (DNS, socket, TCP, TLS handshake, connect timeout)
  kConnectionLost,  // an established connection closed or broke (EOF before any response byte,
                    // read or write error): a pooled one the server had just closed looks so
  kTransport,       // another transport failure on an established connection (TLS)
  kTimeout,         // the response did not come within the response timeout
  kTruncated,       // the connection ended inside the response
  kBadResponse,     // the response was malformed, or the user refused it
};

// The user of a connection: receives its lifecycle and the parsed response.
class UpstreamUser {
 public:
  virtual ~UpstreamUser() = default;
  // A connection is ready for this user's request (fresh or from the pool).
  virtual void onUpstreamReady(UpstreamConnection* conn) noexcept = 0;
  // Could not connect, or the connection broke / timed out while this user held it. The
  // connection is gone; `response_started` tells whether any response byte had arrived.
  virtual void onUpstreamFailed(const common::Status& status, UpstreamFailure kind,
                                bool response_started) noexcept = 0;
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
  // Connects to addresses_[next_address_++]; when the TCP connect fails and addresses are left,
  // the pool continues with the next one on a fresh connection (tryNextAddress).
  void connectNext() noexcept;
  bool tryNextAddress(const common::Status& why) noexcept;
  // libuv callback (getaddrinfo done).
  static void onResolved(uv_getaddrinfo_t* req, int status, struct addrinfo* res) noexcept;
  // Ends the connection; tells the user (if any) with `status`.
  void fail(const common::Status& status, UpstreamFailure kind) noexcept;
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
  // Every address of the host, in the resolver's order (or the one IP literal), and the next to
  // try. Preset by the pool when this connection continues a failed one.
  std::vector<struct sockaddr_storage> addresses_;
  size_t next_address_ = 0;
  uint64_t created_ms_ = 0;  // loop time of start(): upstream.pool.max_age counts from here
  bool resolving_ = false;
  bool stream_closed_ = false;
  bool reused_ = false;
  bool response_started_ = false;
  bool response_complete_ = false;
  // The user refused the response (its status is the answer, not "malformed response").
  bool user_refused_ = false;
  bool request_complete_ = false;
};

}  // namespace cosmoseal::proxy
