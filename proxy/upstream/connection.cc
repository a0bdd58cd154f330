#include "proxy/upstream/connection.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "common/net_address.h"
#include "proxy/upstream/details.h"
#include "proxy/upstream/pool.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

Status upstreamResponseError(const Status& parse_status) {
  return Status(Code::kBadGateway, upstream_detail::kBadResponse,
                "the upstream sent a malformed response (" + std::string(parse_status.detail()) +
                    ": " + std::string(parse_status.message()) + ")");
}

}  // namespace

std::string UpstreamTarget::poolKey() const noexcept {
  std::string k = host;
  k += ':';
  k += std::to_string(port);
  k += tls ? ":tls:" : ":plain:";
  k += std::to_string(reinterpret_cast<uintptr_t>(tls.get()));
  return k;
}

UpstreamConnection::UpstreamConnection(UpstreamPool* pool, const UpstreamTarget& target,
                                       uint64_t id)
    : pool_(pool),
      target_(target),
      key_(target.poolKey()),
      id_(id),
      transport_(pool->loop(), this),
      parser_(Http1Parser::Kind::kResponse, target.limits, this) {
  std::memset(&resolve_req_, 0, sizeof(resolve_req_));
}

void UpstreamConnection::start() noexcept {
  if (transport_.init() != 0) {
    state_ = State::kClosing;
    if (user_ != nullptr) {
      UpstreamUser* u = user_;
      user_ = nullptr;
      u->onUpstreamFailed(Status(Code::kInternal, upstream_detail::kConnectFailed,
                                 "cannot create a socket for the upstream"),
                          UpstreamFailure::kConnect, false);
    }
    return;
  }
  if (target_.tls) transport_.enableTls(target_.tls, target_.host);
  transport_.armTimer(target_.connect_timeout_ms);
  if (created_ms_ == 0) created_ms_ = uv_now(pool_->loop());
  if (!addresses_.empty()) {  // continuing a connection whose address failed
    connectNext();
    return;
  }
  struct sockaddr_storage addr;
  if (common::sockaddrFromIpLiteral(target_.host, target_.port, &addr)) {
    addresses_.push_back(addr);
    connectNext();
    return;
  }
  if (pool_->cachedAddresses(target_.host, target_.port, &addresses_)) {
    connectNext();
    return;
  }
  struct addrinfo hints;
  std::memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  resolve_req_.data = this;
  const std::string port = std::to_string(target_.port);
  int r = uv_getaddrinfo(pool_->loop(), &resolve_req_, &UpstreamConnection::onResolved,
                         target_.host.c_str(), port.c_str(), &hints);
  if (r != 0) {
    fail(Status(Code::kBadGateway, upstream_detail::kDnsFailed,
                "cannot resolve upstream host '" + target_.host + "': " + uv_strerror(r)),
         UpstreamFailure::kConnect);
    return;
  }
  resolving_ = true;
}

void UpstreamConnection::onResolved(uv_getaddrinfo_t* req, int status,
                                    struct addrinfo* res) noexcept {
  auto* self = static_cast<UpstreamConnection*>(req->data);
  self->resolving_ = false;
  if (self->state_ == State::kClosing) {
    if (res != nullptr) uv_freeaddrinfo(res);
    self->maybeDelete();
    return;
  }
  if (status < 0 || res == nullptr) {
    if (res != nullptr) uv_freeaddrinfo(res);
    self->fail(
        Status(Code::kBadGateway, upstream_detail::kDnsFailed,
               "cannot resolve upstream host '" + self->target_.host + "': " + uv_strerror(status)),
        UpstreamFailure::kConnect);
    return;
  }
  self->addresses_ =
      self->pool_->rememberAddresses(self->target_.host, res, self->target_.dns_ttl_ms);
  uv_freeaddrinfo(res);
  if (self->addresses_.empty()) {
    self->fail(Status(Code::kBadGateway, upstream_detail::kDnsFailed,
                      "upstream host '" + self->target_.host + "' has no usable address"),
               UpstreamFailure::kConnect);
    return;
  }
  self->connectNext();
}

void UpstreamConnection::connectNext() noexcept {
  state_ = State::kConnecting;
  const struct sockaddr_storage& addr = addresses_[next_address_++];
  Status s = transport_.connect(reinterpret_cast<const struct sockaddr*>(&addr));
  if (!s.isOk() && !tryNextAddress(s)) fail(s, UpstreamFailure::kConnect);
}

bool UpstreamConnection::tryNextAddress(const Status& why) noexcept {
  // Only a failed TCP connect moves on: a TLS failure is about the host, not the address.
  if (state_ != State::kConnecting || next_address_ >= addresses_.size() ||
      why.detail() != upstream_detail::kConnectFailed) {
    return false;
  }
  COSMOSEAL_LOG(kDebug) << "upstream " << target_.host << ": address " << next_address_ << " of "
                        << addresses_.size() << " failed (" << why.message()
                        << "); trying the next one";
  pool_->continueWithNextAddress(this);
  return true;
}

void UpstreamConnection::onTransportReady() noexcept {
  transport_.disarmTimer();
  auto& c = pool_->connecting_;
  c.erase(std::remove_if(c.begin(), c.end(),
                         [this](const UpstreamPool::Pending& p) { return p.conn == this; }),
          c.end());
  if (user_ == nullptr) {
    // Its requester went away while we connected: keep the healthy connection for others.
    pool_->release(this, true);
    return;
  }
  state_ = State::kBusy;
  user_->onUpstreamReady(this);
}

void UpstreamConnection::flush(bool request_complete) noexcept {
  transport_.flush();
  if (request_complete && !request_complete_) {
    request_complete_ = true;
    if (!response_complete_) transport_.armTimer(target_.response_timeout_ms);
  }
}

void UpstreamConnection::pauseReading() noexcept {
  transport_.pauseReading();
  if (state_ == State::kBusy) transport_.disarmTimer();
}

void UpstreamConnection::resumeReading() noexcept {
  transport_.resumeReading();
  if (state_ == State::kBusy && request_complete_ && !response_complete_) {
    transport_.armTimer(target_.response_timeout_ms);
  }
}

void UpstreamConnection::onTransportData(std::string_view data) noexcept {
  if (state_ == State::kIdle) {
    // A pooled connection must be silent; anything else means it is no longer usable.
    pool_->stats_.idle_closed++;
    close();
    return;
  }
  if (state_ != State::kBusy) return;
  Status s = parser_.feed(data);
  // The response head must arrive within response_timeout of the request (a head trickled a
  // byte at a time does not extend it); once it is in, the timeout bounds silence between reads.
  if (s.isOk() && response_started_ && !response_complete_ && state_ == State::kBusy &&
      transport_.reading()) {
    transport_.armTimer(target_.response_timeout_ms);
  }
  if (!s.isOk() && state_ != State::kClosing) {
    // Refusals of the response (ours and the user's: a 502 with its own detail, or 503
    // overload.buffer_budget when there is no budget to hold it) keep their status; anything
    // else is the parser's complaint about the bytes.
    fail(s.code() == Code::kBadGateway || user_refused_ ? s : upstreamResponseError(s),
         UpstreamFailure::kBadResponse);
  }
}

void UpstreamConnection::onTransportEof(bool clean) noexcept {
  if (state_ == State::kIdle || state_ == State::kClosing || user_ == nullptr) {
    if (state_ == State::kIdle) pool_->stats_.idle_closed++;
    close();
    return;
  }
  if (response_complete_) {
    close();
    return;
  }
  if (!response_started_) {
    fail(Status(Code::kBadGateway, upstream_detail::kConnectionClosed,
                "the upstream closed the connection without answering"),
         UpstreamFailure::kConnectionLost);
    return;
  }
  if (!clean && parser_.head().framing == Framing::kUntilClose) {
    // TLS EOF without close_notify: a close-delimited body may have been truncated.
    fail(Status(Code::kBadGateway, upstream_detail::kTruncated,
                "the upstream connection ended without TLS close_notify during the body"),
         UpstreamFailure::kTruncated);
    return;
  }
  Status s = parser_.finish();
  if (!s.isOk()) {
    fail(Status(Code::kBadGateway, upstream_detail::kTruncated,
                "the upstream closed the connection before the response was complete"),
         UpstreamFailure::kTruncated);
    return;
  }
  if (!response_complete_) {
    fail(Status(Code::kBadGateway, upstream_detail::kTruncated, "incomplete upstream response"),
         UpstreamFailure::kTruncated);
  }
}

void UpstreamConnection::onTransportError(const Status& status) noexcept {
  if (state_ == State::kIdle) {
    pool_->stats_.idle_closed++;
    close();
    return;
  }
  if (state_ == State::kResolving || state_ == State::kConnecting) {
    pool_->stats_.connect_failures++;
    if (tryNextAddress(status)) return;
    fail(status, UpstreamFailure::kConnect);
    return;
  }
  // Transport reports its failures as a Status only; a read or write error on an established
  // connection means the peer went away (typically a pooled connection the server closed).
  const bool lost = status.detail() == upstream_detail::kNetReadError ||
                    status.detail() == upstream_detail::kNetWriteError;
  fail(status, lost ? UpstreamFailure::kConnectionLost : UpstreamFailure::kTransport);
}

void UpstreamConnection::onTransportDrained() noexcept {
  if (user_ != nullptr && state_ == State::kBusy) user_->onUpstreamDrained();
}

void UpstreamConnection::onTransportTimer() noexcept {
  switch (state_) {
    case State::kResolving:
    case State::kConnecting:
      pool_->stats_.connect_failures++;
      fail(Status(Code::kGatewayTimeout, upstream_detail::kConnectTimeout,
                  "connecting to the upstream took longer than " +
                      std::to_string(target_.connect_timeout_ms) + " ms"),
           UpstreamFailure::kConnect);
      return;
    case State::kBusy:
      fail(Status(Code::kGatewayTimeout, upstream_detail::kTimeout,
                  "the upstream did not answer within " +
                      std::to_string(target_.response_timeout_ms) + " ms"),
           UpstreamFailure::kTimeout);
      return;
    case State::kIdle:
      pool_->stats_.idle_closed++;
      close();
      return;
    case State::kClosing:
      return;
  }
}

void UpstreamConnection::onTransportClosed() noexcept {
  stream_closed_ = true;
  maybeDelete();
}

Status UpstreamConnection::onMessageHead(MessageHead& head) noexcept {
  if (user_ == nullptr) {
    return Status(Code::kBadGateway, upstream_detail::kUnexpectedResponse,
                  "response without a request");
  }
  response_started_ = true;
  Status s = user_->onUpstreamHead(head);
  user_refused_ = !s.isOk();
  return s;
}

Status UpstreamConnection::onMessageBody(std::string_view data) noexcept {
  if (user_ == nullptr) {
    return Status(Code::kBadGateway, upstream_detail::kUnexpectedResponse,
                  "response without a request");
  }
  Status s = user_->onUpstreamBody(data);
  user_refused_ = !s.isOk();
  return s;
}

Status UpstreamConnection::onMessageComplete() noexcept {
  response_complete_ = true;
  transport_.disarmTimer();
  if (user_ != nullptr) user_->onUpstreamComplete();
  return Status::ok();
}

void UpstreamConnection::fail(const Status& status, UpstreamFailure kind) noexcept {
  if (state_ == State::kClosing) return;
  UpstreamUser* u = user_;
  const bool started = response_started_;
  user_ = nullptr;
  close();
  if (u != nullptr) u->onUpstreamFailed(status, kind, started);
}

void UpstreamConnection::close() noexcept {
  if (state_ == State::kClosing) return;
  const State was = state_;
  state_ = State::kClosing;
  user_ = nullptr;
  if (was == State::kIdle) pool_->removeIdle(this);
  auto& c = pool_->connecting_;
  c.erase(std::remove_if(c.begin(), c.end(),
                         [this](const UpstreamPool::Pending& p) { return p.conn == this; }),
          c.end());
  if (resolving_) uv_cancel(reinterpret_cast<uv_req_t*>(&resolve_req_));
  transport_.closeNow();
}

void UpstreamConnection::maybeDelete() noexcept {
  if (!stream_closed_ || resolving_) return;
  pool_->forget(this);
  delete this;
}

}  // namespace cosmoseal::proxy
