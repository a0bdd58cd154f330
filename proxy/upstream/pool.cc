#include "proxy/upstream/pool.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace cosmoseal::proxy {

using common::Status;

namespace {

// How long a resolved upstream address is reused before asking DNS again.
constexpr uint64_t kDnsTtlMs = 30'000;

}  // namespace

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
  const bool finished =
      conn->response_complete_ && conn->request_complete_ && conn->parser_.head().keep_alive;
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
                                 struct sockaddr_storage* out) const noexcept {
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

void UpstreamPool::rememberAddress(const std::string& host, const struct sockaddr* addr) noexcept {
  CachedAddress c;
  std::memset(&c.addr, 0, sizeof(c.addr));
  const size_t len =
      addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
  std::memcpy(&c.addr, addr, len);
  c.expires_ms = uv_now(loop_) + kDnsTtlMs;
  dns_[host] = c;
}

}  // namespace cosmoseal::proxy
