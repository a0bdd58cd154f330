#include "bench/harness/conn.h"

#include <netdb.h>

#include <cstring>

namespace cosmoseal::bench {

using common::Code;
using common::Status;

namespace {
constexpr size_t kMaxKeptBody = 64 * 1024;
}

ClientConn::ClientConn(uv_loop_t* loop, const Endpoint* endpoint, ConnOwner* owner, int index)
    : loop_(loop), endpoint_(endpoint), owner_(owner), index_(index) {}

ClientConn::~ClientConn() = default;

void ClientConn::connect() noexcept {
  if (state_ != State::kDown) return;
  transport_ = std::make_unique<proxy::Transport>(loop_, this);
  proxy::Http1Limits limits;
  limits.max_head_bytes = 256 * 1024;
  limits.max_headers = 1000;
  parser_ = std::make_unique<proxy::Http1Parser>(proxy::Http1Parser::Kind::kResponse, limits, this);
  state_ = State::kConnecting;
  if (transport_->init() != 0) {
    // onTransportClosed follows.
    state_ = State::kClosing;
    return;
  }
  if (endpoint_->tls) transport_->enableTls(endpoint_->tls, endpoint_->host);
  Status s = transport_->connect(reinterpret_cast<const struct sockaddr*>(&endpoint_->addr));
  if (!s.isOk()) {
    fail(ErrorKind::kConnect, s);
    return;
  }
  transport_->armTimer(10000);  // connect + handshake timeout
}

void ClientConn::send(std::string_view request, uint64_t timeout_ms) noexcept {
  if (state_ != State::kIdle) return;
  state_ = State::kBusy;
  status_ = 0;
  response_bytes_ = 0;
  body_.clear();
  transport_->write(request);
  transport_->flush();
  if (timeout_ms > 0 && state_ == State::kBusy) transport_->armTimer(timeout_ms);
}

void ClientConn::close() noexcept {
  if (state_ == State::kDown || state_ == State::kClosing) return;
  state_ = State::kClosing;
  transport_->closeNow();
}

void ClientConn::fail(ErrorKind kind, const Status& why) noexcept {
  if (state_ == State::kClosing || state_ == State::kDown) return;
  const bool had_request = state_ == State::kBusy;
  state_ = State::kClosing;
  transport_->closeNow(true);
  owner_->onConnFailed(this, kind, had_request, why);
}

void ClientConn::onTransportReady() noexcept {
  if (state_ != State::kConnecting) return;
  transport_->disarmTimer();
  state_ = State::kIdle;
  owner_->onConnReady(this);
}

void ClientConn::onTransportData(std::string_view data) noexcept {
  if (state_ == State::kClosing) return;
  if (state_ != State::kBusy && parser_->idle()) {
    fail(ErrorKind::kUnexpected, Status(Code::kBadGateway, "bench.unexpected_response",
                                        "the server sent bytes while no request was in flight"));
    return;
  }
  Status s = parser_->feed(data);
  if (!s.isOk()) fail(ErrorKind::kProtocol, s);
}

void ClientConn::onTransportEof(bool) noexcept {
  if (state_ == State::kBusy || state_ == State::kConnecting) {
    fail(ErrorKind::kClosed, Status(Code::kBadGateway, "bench.closed",
                                    "the server closed the connection during a request"));
    return;
  }
  // An idle keep-alive connection closed by the server: just reconnect later.
  if (state_ == State::kIdle) {
    state_ = State::kClosing;
    transport_->closeNow();
  }
}

void ClientConn::onTransportError(const Status& status) noexcept {
  fail(state_ == State::kConnecting ? ErrorKind::kConnect : ErrorKind::kIo, status);
}

void ClientConn::onTransportTimer() noexcept {
  if (state_ == State::kConnecting) {
    fail(ErrorKind::kConnect,
         Status(Code::kGatewayTimeout, "bench.connect_timeout", "connect timed out"));
  } else if (state_ == State::kBusy) {
    fail(ErrorKind::kTimeout,
         Status(Code::kGatewayTimeout, "bench.timeout", "no complete response in time"));
  }
}

void ClientConn::onTransportClosed() noexcept {
  state_ = State::kDown;
  // The Transport may be destroyed from its close callback; the parser goes with it.
  transport_.reset();
  parser_.reset();
  owner_->onConnClosed(this);
}

Status ClientConn::onMessageHead(proxy::MessageHead& head) noexcept {
  if (state_ != State::kBusy) {
    return Status(Code::kBadGateway, "bench.unexpected_response",
                  "a response arrived while no request was in flight");
  }
  status_ = head.status;
  keep_alive_ = head.keep_alive;
  response_bytes_ += head.head_bytes;
  return Status::ok();
}

Status ClientConn::onMessageBody(std::string_view data) noexcept {
  response_bytes_ += data.size();
  if (keep_body_ && body_.size() < kMaxKeptBody) {
    body_.append(data.substr(0, kMaxKeptBody - body_.size()));
  }
  return Status::ok();
}

Status ClientConn::onMessageComplete() noexcept {
  transport_->disarmTimer();
  // Resume now: a response is never followed by bytes we did not ask for, and a resumed parser
  // is ready for the next response.
  Status s = parser_->resume();
  if (!s.isOk()) return s;
  if (!keep_alive_) {
    state_ = State::kClosing;
    transport_->closeNow();
    owner_->onConnResponse(this, status_);
    return Status::ok();
  }
  state_ = State::kIdle;
  owner_->onConnResponse(this, status_);
  return Status::ok();
}

common::StatusOr<Endpoint> resolveEndpoint(std::string_view url, const std::string& ca_file,
                                           std::string* host_header) {
  Endpoint ep;
  bool tls = false;
  uint16_t default_port = 80;
  if (url.substr(0, 7) == "http://") {
    url.remove_prefix(7);
  } else if (url.substr(0, 8) == "https://") {
    url.remove_prefix(8);
    tls = true;
    default_port = 443;
  } else {
    return Status(Code::kInvalidArgument, "bench.bad_url",
                  "the target URL must start with http:// or https://");
  }
  const size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  if (slash != std::string_view::npos && url.substr(slash) != "/") {
    return Status(Code::kInvalidArgument, "bench.bad_url",
                  "the target URL must not have a path (the Cosmos paths are added by the bench)");
  }
  std::string host;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return Status(Code::kInvalidArgument, "bench.bad_url", "unterminated [IPv6] literal");
    }
    host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') {
        return Status(Code::kInvalidArgument, "bench.bad_url", "garbage after ]");
      }
      port_text = authority.substr(close + 2);
    }
  } else {
    const size_t colon = authority.rfind(':');
    host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (host.empty()) return Status(Code::kInvalidArgument, "bench.bad_url", "empty host");
  uint32_t port = default_port;
  if (!port_text.empty()) {
    port = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || port > 65535) {
        return Status(Code::kInvalidArgument, "bench.bad_url", "bad port");
      }
      port = port * 10 + static_cast<uint32_t>(c - '0');
    }
    if (port == 0 || port > 65535) return Status(Code::kInvalidArgument, "bench.bad_url", "bad port");
  }
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  const int rc = getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return Status(Code::kInvalidArgument, "bench.resolve_failed",
                  "cannot resolve '" + host + "': " + gai_strerror(rc));
  }
  std::memcpy(&ep.addr, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  ep.host = host;
  if (tls) {
    auto ctx = proxy::TlsContext::client(ca_file);
    if (!ctx.isOk()) return ctx.status();
    ep.tls = *ctx;
  }
  *host_header = std::string(authority);
  return ep;
}

}  // namespace cosmoseal::bench
