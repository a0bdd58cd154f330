#include "proxy/upstream/pool.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "common/net_address.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

constexpr uint64_t kDnsTtlMs = 30'000;

Status upstreamResponseError(const Status& parse_status) {
  return Status(Code::kBadGateway, "upstream.bad_response",
                "the upstream sent a malformed response (" + std::string(parse_status.detail()) +
                    ": " + std::string(parse_status.message()) + ")");
}

}  // namespace

std::string UpstreamTarget::poolKey() const {
  std::string k = host;
  k += ':';
  k += std::to_string(port);
  k += tls ? ":tls:" : ":plain:";
  k += std::to_string(reinterpret_cast<uintptr_t>(tls.get()));
  return k;
}

// ---------------- UpstreamConnection ----------------

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
      u->onUpstreamFailed(Status(Code::kInternal, "upstream.connect_failed",
                                 "cannot create a socket for the upstream"),
                          false);
    }
    return;
  }
  if (target_.tls) transport_.enableTls(target_.tls, target_.host);
  transport_.armTimer(target_.connect_timeout_ms);
  struct sockaddr_storage addr;
  if (common::sockaddrFromIpLiteral(target_.host, target_.port, &addr) ||
      pool_->cachedAddress(target_.host, target_.port, &addr)) {
    connectTo(reinterpret_cast<struct sockaddr*>(&addr));
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
    fail(Status(Code::kBadGateway, "upstream.dns_failed",
                "cannot resolve upstream host '" + target_.host + "': " + uv_strerror(r)));
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
    self->fail(Status(Code::kBadGateway, "upstream.dns_failed",
                      "cannot resolve upstream host '" + self->target_.host +
                          "': " + uv_strerror(status)));
    return;
  }
  self->pool_->rememberAddress(self->target_.host, res->ai_addr);
  self->connectTo(res->ai_addr);
  uv_freeaddrinfo(res);
}

void UpstreamConnection::connectTo(const struct sockaddr* addr) noexcept {
  state_ = State::kConnecting;
  Status s = transport_.connect(addr);
  if (!s.isOk()) fail(s);
}

void UpstreamConnection::onTransportReady() noexcept {
  transport_.disarmTimer();
  auto& c = pool_->connecting_;
  c.erase(std::remove_if(c.begin(), c.end(), [this](const UpstreamPool::Pending& p) {
            return p.conn == this;
          }),
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
    if (s.code() == Code::kBadGateway || s.detail().rfind("upstream.", 0) == 0) {
      fail(s);
    } else {
      fail(upstreamResponseError(s));
    }
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
    fail(Status(Code::kBadGateway, "upstream.connection_closed",
                "the upstream closed the connection without answering"));
    return;
  }
  if (!clean && parser_.head().framing == Framing::kUntilClose) {
    // TLS EOF without close_notify: a close-delimited body may have been truncated.
    fail(Status(Code::kBadGateway, "upstream.truncated",
                "the upstream connection ended without TLS close_notify during the body"));
    return;
  }
  Status s = parser_.finish();
  if (!s.isOk()) {
    fail(Status(Code::kBadGateway, "upstream.truncated",
                "the upstream closed the connection before the response was complete"));
    return;
  }
  if (!response_complete_) {
    fail(Status(Code::kBadGateway, "upstream.truncated", "incomplete upstream response"));
  }
}

void UpstreamConnection::onTransportError(const Status& status) noexcept {
  if (state_ == State::kIdle) {
    pool_->stats_.idle_closed++;
    close();
    return;
  }
  if (state_ == State::kResolving || state_ == State::kConnecting) pool_->stats_.connect_failures++;
  fail(status);
}

void UpstreamConnection::onTransportDrained() noexcept {
  if (user_ != nullptr && state_ == State::kBusy) user_->onUpstreamDrained();
}

void UpstreamConnection::onTransportTimer() noexcept {
  switch (state_) {
    case State::kResolving:
    case State::kConnecting:
      pool_->stats_.connect_failures++;
      fail(Status(Code::kGatewayTimeout, "upstream.connect_timeout",
                  "connecting to the upstream took longer than " +
                      std::to_string(target_.connect_timeout_ms) + " ms"));
      return;
    case State::kBusy:
      fail(Status(Code::kGatewayTimeout, "upstream.timeout",
                  "the upstream did not answer within " +
                      std::to_string(target_.response_timeout_ms) + " ms"));
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
    return Status(Code::kBadGateway, "upstream.unexpected_response", "response without a request");
  }
  response_started_ = true;
  return user_->onUpstreamHead(head);
}

Status UpstreamConnection::onMessageBody(std::string_view data) noexcept {
  if (user_ == nullptr) {
    return Status(Code::kBadGateway, "upstream.unexpected_response", "response without a request");
  }
  return user_->onUpstreamBody(data);
}

Status UpstreamConnection::onMessageComplete() noexcept {
  response_complete_ = true;
  transport_.disarmTimer();
  if (user_ != nullptr) user_->onUpstreamComplete();
  return Status::ok();
}

void UpstreamConnection::fail(const Status& status) noexcept {
  if (state_ == State::kClosing) return;
  UpstreamUser* u = user_;
  const bool started = response_started_;
  user_ = nullptr;
  close();
  if (u != nullptr) u->onUpstreamFailed(status, started);
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

// ---------------- UpstreamPool ----------------

UpstreamPool::UpstreamPool(uv_loop_t* loop) : loop_(loop) {
  uv_idle_init(loop_, &deliver_idle_);
  deliver_idle_.data = this;
}

UpstreamPool::~UpstreamPool() = default;

void UpstreamPool::acquire(const UpstreamTarget& target, UpstreamUser* user) noexcept {
  if (!draining_) {
    auto it = idle_.find(target.poolKey());
    if (it != idle_.end() && !it->second.empty()) {
      UpstreamConnection* conn = it->second.back();
      it->second.pop_back();
      conn->transport_.disarmTimer();
      conn->state_ = UpstreamConnection::State::kBusy;
      conn->user_ = user;
      conn->reused_ = true;
      stats_.reuses++;
      deliver(conn, user);
      return;
    }
  }
  auto* conn = new UpstreamConnection(this, target, next_id_++);
  ++live_;
  stats_.connects++;
  conn->user_ = user;
  connecting_.push_back(Pending{user, conn});
  conn->start();
}

void UpstreamPool::deliver(UpstreamConnection* conn, UpstreamUser* user) noexcept {
  deliveries_.push_back(Pending{user, conn});
  uv_idle_start(&deliver_idle_, &UpstreamPool::onDeliver);
}

void UpstreamPool::onDeliver(uv_idle_t* h) noexcept {
  auto* self = static_cast<UpstreamPool*>(h->data);
  std::vector<Pending> batch;
  batch.swap(self->deliveries_);
  uv_idle_stop(h);
  for (const Pending& p : batch) {
    if (p.user == nullptr) continue;  // cancelled
    if (p.conn->state_ != UpstreamConnection::State::kBusy || p.conn->user_ != p.user) continue;
    p.user->onUpstreamReady(p.conn);
  }
}

void UpstreamPool::cancel(UpstreamUser* user) noexcept {
  for (Pending& p : deliveries_) {
    if (p.user == user) {
      // The connection was taken from the pool for this user: give it back.
      p.user = nullptr;
      p.conn->user_ = nullptr;
      release(p.conn, true);
    }
  }
  for (Pending& p : connecting_) {
    if (p.user == user) {
      p.user = nullptr;
      p.conn->user_ = nullptr;  // it joins the idle pool when ready
    }
  }
}

void UpstreamPool::release(UpstreamConnection* conn, bool reusable) noexcept {
  conn->user_ = nullptr;
  if (conn->state_ == UpstreamConnection::State::kClosing) return;
  const bool fresh_unused = !conn->request_complete_ && !conn->response_started_ &&
                            conn->transport_.queuedBytes() == 0 && conn->transport_.ready();
  const bool finished = conn->response_complete_ && conn->request_complete_ &&
                        conn->parser_.head().keep_alive;
  size_t idle_here = 0;
  if (auto it = idle_.find(conn->key_); it != idle_.end()) idle_here = it->second.size();
  if (!reusable || draining_ || !(finished || fresh_unused) ||
      idle_here >= conn->target_.max_idle) {
    conn->close();
    return;
  }
  conn->state_ = UpstreamConnection::State::kIdle;
  conn->request_complete_ = false;
  conn->response_complete_ = false;
  conn->response_started_ = false;
  conn->parser_.setNoBodyExpected(false);
  Status s = conn->parser_.resume();
  if (!s.isOk() || conn->parser_.dead()) {
    conn->close();
    return;
  }
  conn->transport_.resumeReading();
  conn->transport_.armTimer(conn->target_.idle_timeout_ms);
  addIdle(conn);
}

void UpstreamPool::addIdle(UpstreamConnection* conn) noexcept { idle_[conn->key_].push_back(conn); }

void UpstreamPool::removeIdle(UpstreamConnection* conn) noexcept {
  auto it = idle_.find(conn->key_);
  if (it == idle_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), conn), v.end());
}

void UpstreamPool::forget(UpstreamConnection* conn) noexcept {
  removeIdle(conn);
  for (Pending& p : deliveries_) {
    if (p.conn == conn) p.user = nullptr;
  }
  --live_;
}

void UpstreamPool::shutdown() noexcept {
  draining_ = true;
  std::vector<UpstreamConnection*> all;
  for (auto& [key, v] : idle_) all.insert(all.end(), v.begin(), v.end());
  for (UpstreamConnection* c : all) c->close();
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&deliver_idle_))) {
    uv_close(reinterpret_cast<uv_handle_t*>(&deliver_idle_), nullptr);
  }
}

size_t UpstreamPool::idleCount() const noexcept {
  size_t n = 0;
  for (const auto& [key, v] : idle_) n += v.size();
  return n;
}

bool UpstreamPool::cachedAddress(const std::string& host, uint16_t port,
                                 struct sockaddr_storage* out) const {
  auto it = dns_.find(host);
  if (it == dns_.end() || it->second.expires_ms < uv_now(loop_)) return false;
  *out = it->second.addr;
  if (out->ss_family == AF_INET) {
    reinterpret_cast<struct sockaddr_in*>(out)->sin_port = htons(port);
  } else {
    reinterpret_cast<struct sockaddr_in6*>(out)->sin6_port = htons(port);
  }
  return true;
}

void UpstreamPool::rememberAddress(const std::string& host, const struct sockaddr* addr) {
  CachedAddress c;
  std::memset(&c.addr, 0, sizeof(c.addr));
  const size_t len =
      addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  std::memcpy(&c.addr, addr, len);
  c.expires_ms = uv_now(loop_) + kDnsTtlMs;
  dns_[host] = c;
}

}  // namespace cosmoseal::proxy
