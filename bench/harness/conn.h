#pragma once

// ClientConn: one keep-alive HTTP/1.1 client connection of the load generator, built on the
// proxy's own Transport (TCP + optional TLS over memory BIOs) and Http1Parser (strict response
// parsing), so the harness speaks exactly the HTTP the proxy speaks.
//
// One request at a time (no pipelining, like the Cosmos SDKs). The owner (ConnOwner) is told
// when the connection is ready for a request, when a response completed, when a request failed,
// and when the connection is fully closed (after which the owner may delete it or reconnect()).
//
// Thread affinity: the loop's thread only.

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "proxy/http1/codec.h"
#include "proxy/net/transport.h"
#include "proxy/tls/context.h"

namespace cosmoseal::bench {

enum class ErrorKind : uint8_t {
  kConnect,     // TCP connect or TLS handshake failed
  kTimeout,     // no complete response within --timeout
  kClosed,      // the server closed the connection during a request
  kProtocol,    // malformed HTTP response (Http1Parser refused it)
  kIo,          // read/write error, reset
  kUnexpected,  // a response arrived without a request
  kCount
};
inline constexpr const char* kErrorKindNames[] = {"connect", "timeout", "closed",
                                                  "protocol", "io", "unexpected"};

struct Endpoint {
  struct sockaddr_storage addr {};
  std::string host;  // for TLS verification / SNI
  std::shared_ptr<proxy::TlsContext> tls;  // null = plain HTTP
};

class ClientConn;

class ConnOwner {
 public:
  virtual ~ConnOwner() = default;
  // Connected (and TLS handshake done): ready for a request.
  virtual void onConnReady(ClientConn* c) noexcept = 0;
  // A complete response. After this call the connection is idle again (unless it is closing:
  // a response with "Connection: close").
  virtual void onConnResponse(ClientConn* c, int status) noexcept = 0;
  // The in-flight request (if any) failed or the connection could not be established; the
  // connection is closing. `had_request` tells whether a request was in flight.
  virtual void onConnFailed(ClientConn* c, ErrorKind kind, bool had_request,
                            const common::Status& why) noexcept = 0;
  // Fully closed; the owner may reconnect() or delete the connection now.
  virtual void onConnClosed(ClientConn* c) noexcept = 0;
};

class ClientConn final : public proxy::Transport::Handler, public proxy::Http1Parser::Handler {
 public:
  enum class State : uint8_t { kDown, kConnecting, kIdle, kBusy, kClosing };

  ClientConn(uv_loop_t* loop, const Endpoint* endpoint, ConnOwner* owner, int index);
  ~ClientConn() override;
  ClientConn(const ClientConn&) = delete;
  ClientConn& operator=(const ClientConn&) = delete;

  // Starts connecting (state must be kDown). Failures are reported through onConnFailed.
  void connect() noexcept;
  // Sends one complete request (state must be kIdle). The response must arrive within
  // `timeout_ms` (0 = no timeout).
  void send(std::string_view request, uint64_t timeout_ms) noexcept;
  void close() noexcept;

  State state() const noexcept { return state_; }
  int index() const noexcept { return index_; }
  bool keepBody(bool keep) noexcept { return keep_body_ = keep; }
  // Body of the last response when keepBody(true) (truncated at 64 KB).
  const std::string& body() const noexcept { return body_; }
  uint64_t responseBytes() const noexcept { return response_bytes_; }

  // Per-request bookkeeping for the owner.
  uint64_t intended_ns = 0;
  uint64_t sent_ns = 0;
  uint8_t op = 0;
  bool ready_once = false;  // counted as established once
  bool had_failure = false; // closed after a failure: reconnect after a pause

 private:
  // Transport::Handler
  void onTransportReady() noexcept override;
  void onTransportData(std::string_view data) noexcept override;
  void onTransportEof(bool clean) noexcept override;
  void onTransportError(const common::Status& status) noexcept override;
  void onTransportTimer() noexcept override;
  void onTransportClosed() noexcept override;
  // Http1Parser::Handler
  common::Status onMessageHead(proxy::MessageHead& head) noexcept override;
  common::Status onMessageBody(std::string_view data) noexcept override;
  common::Status onMessageComplete() noexcept override;

  void fail(ErrorKind kind, const common::Status& why) noexcept;

  uv_loop_t* loop_;
  const Endpoint* endpoint_;
  ConnOwner* owner_;
  int index_;
  State state_ = State::kDown;
  std::unique_ptr<proxy::Transport> transport_;
  std::unique_ptr<proxy::Http1Parser> parser_;
  int status_ = 0;
  bool keep_alive_ = true;
  bool keep_body_ = false;
  std::string body_;
  uint64_t response_bytes_ = 0;
};

// Parses "http://host[:port][/]" or "https://...". IPv6 literals in brackets. Resolves the
// host (getaddrinfo, first address). `ca_file` is used for https (empty: system store).
common::StatusOr<Endpoint> resolveEndpoint(std::string_view url, const std::string& ca_file,
                                           std::string* host_header);

}  // namespace cosmoseal::bench
