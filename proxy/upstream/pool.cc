#include "proxy/upstream/pool.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace cosmoseal::proxy {

using common::Status;

UpstreamPool::UpstreamPool(uv_loop_t* loop) : loop_(loop) {
  uv_idle_init(loop_, &deliver_idle_);
  deliver_idle_.data = this;
}

UpstreamPool::~UpstreamPool() = default;

void UpstreamPool::acquire(const UpstreamTarget& target, UpstreamUser* user) noexcept {
  if (!draining_) {
    auto it = idle_.find(target.poolKey());
    // Too old to reuse (upstream.pool.max_age): closed, so new connections follow DNS.
    while (it != idle_.end() && !it->second.empty() && tooOld(it->second.back())) {
      stats_.aged_out++;
      it->second.back()->close();  // removes it from the idle list
    }
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
  if (tooOld(conn)) {
    stats_.aged_out++;
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

bool UpstreamPool::tooOld(const UpstreamConnection* conn) const noexcept {
  const uint64_t max_age = conn->target_.max_age_ms;
  return max_age != 0 && uv_now(loop_) - conn->created_ms_ >= max_age;
}

bool UpstreamPool::cachedAddresses(const std::string& host, uint16_t port,
                                   std::vector<struct sockaddr_storage>* out) const noexcept {
  auto it = dns_.find(host);
  if (it == dns_.end() || it->second.expires_ms <= uv_now(loop_) || it->second.addrs.empty()) {
    return false;
  }
  *out = it->second.addrs;
  for (struct sockaddr_storage& a : *out) {
    if (a.ss_family == AF_INET) {
      reinterpret_cast<struct sockaddr_in*>(&a)->sin_port = htons(port);
    } else {
      reinterpret_cast<struct sockaddr_in6*>(&a)->sin6_port = htons(port);
    }
  }
  return true;
}

std::vector<struct sockaddr_storage> UpstreamPool::rememberAddresses(const std::string& host,
                                                                     const struct addrinfo* res,
                                                                     uint64_t ttl_ms) noexcept {
  std::vector<struct sockaddr_storage> addrs;
  for (const struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addr == nullptr || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)) {
      continue;
    }
    struct sockaddr_storage a;
    std::memset(&a, 0, sizeof(a));
    const size_t len =
        ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    std::memcpy(&a, ai->ai_addr, len);
    const bool seen = std::any_of(addrs.begin(), addrs.end(), [&](const sockaddr_storage& b) {
      return std::memcmp(&a, &b, len) == 0;
    });
    if (!seen) addrs.push_back(a);
  }
  if (ttl_ms != 0 && !addrs.empty()) {
    dns_[host] = CachedAddresses{addrs, uv_now(loop_) + ttl_ms};
  } else {
    dns_.erase(host);
  }
  return addrs;
}

void UpstreamPool::preloadAddresses(const std::string& host,
                                    std::vector<struct sockaddr_storage> addrs,
                                    uint64_t ttl_ms) noexcept {
  dns_[host] = CachedAddresses{std::move(addrs), uv_now(loop_) + ttl_ms};
}

void UpstreamPool::continueWithNextAddress(UpstreamConnection* failed) noexcept {
  stats_.address_fallbacks++;
  auto* next = new UpstreamConnection(this, failed->target_, next_id_++);
  ++live_;
  next->addresses_ = failed->addresses_;
  next->next_address_ = failed->next_address_;
  next->created_ms_ = failed->created_ms_;
  next->user_ = failed->user_;
  bool found = false;
  for (Pending& p : connecting_) {
    if (p.conn == failed) {
      p.conn = next;
      found = true;
    }
  }
  if (!found) connecting_.push_back(Pending{next->user_, next});
  failed->user_ = nullptr;
  failed->close();
  next->start();
}

}  // namespace cosmoseal::proxy
