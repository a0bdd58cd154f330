#include "proxy/server/worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>

#include "common/log.h"
#include "common/net_address.h"
#include "proxy/exchange/downstream_connection.h"
#include "proxy/server/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

Status listenError(const std::string& what, const std::string& address, uint16_t port, int err) {
  return Status(Code::kFailedPrecondition, server_detail::kFailed,
                what + " " + address + ":" + std::to_string(port) + ": " + strerror(err));
}

}  // namespace

common::StatusOr<int> openReusePortListener(const std::string& address, uint16_t port,
                                            bool probe) {
  struct sockaddr_storage ss;
  socklen_t len = 0;
  if (!common::sockaddrFromIpLiteral(address, port, &ss, &len)) {
    return Status(Code::kFailedPrecondition, server_detail::kBadAddress,
                  "listen address '" + address + "' is not an IPv4 or IPv6 address");
  }
  const int one = 1;
  if (probe && port != 0) {
    // Without SO_REUSEPORT this bind fails if anyone is bound to the port, including a stale
    // cosmoseal that would otherwise silently share our traffic.
    int p = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (p < 0) return listenError("cannot create a socket for", address, port, errno);
    setsockopt(p, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(p, reinterpret_cast<struct sockaddr*>(&ss), len) != 0) {
      const int err = errno;
      close(p);
      return listenError("cannot listen on", address, port, err);
    }
    close(p);
  }
  int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return listenError("cannot create a socket for", address, port, errno);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // libuv 1.44 has no flag for SO_REUSEPORT: set it ourselves, one listener per worker, and the
  // kernel spreads connections across them.
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
    const int err = errno;
    close(fd);
    return listenError("cannot set SO_REUSEPORT for", address, port, err);
  }
  if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<struct sockaddr*>(&ss), len) != 0) {
    const int err = errno;
    close(fd);
    return listenError("cannot listen on", address, port, err);
  }
  if (listen(fd, 1024) != 0) {
    const int err = errno;
    close(fd);
    return listenError("cannot listen on", address, port, err);
  }
  return fd;
}

Worker::Worker(int index, int listen_fd, std::shared_ptr<const ConfigSnapshot> snapshot,
               SharedState* shared, std::vector<int> region_fds)
    : index_(index),
      listen_fd_(listen_fd),
      shared_(shared),
      region_fds_(std::move(region_fds)),
      pending_snapshot_(std::move(snapshot)) {
  std::memset(&loop_, 0, sizeof(loop_));
  std::memset(&async_, 0, sizeof(async_));
  std::memset(&key_timer_, 0, sizeof(key_timer_));
}

Worker::~Worker() {
  join();
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int fd : region_fds_) {
    if (fd >= 0) close(fd);
  }
}

Status Worker::start() {
  std::promise<Status> ready;
  std::future<Status> ready_f = ready.get_future();
  thread_ = std::thread([this, &ready] {
    common::log::setThreadName("worker-" + std::to_string(index_));
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_,
                  [](uv_async_t* a) noexcept { static_cast<Worker*>(a->data)->onAsync(); });
    async_.data = this;
    pool_ = std::make_unique<UpstreamPool>(&loop_);
    uv_timer_init(&loop_, &key_timer_);
    key_timer_.data = this;
    uv_timer_start(
        &key_timer_,
        [](uv_timer_t* t) noexcept { static_cast<Worker*>(t->data)->refreshKeyUsage(); }, 1000,
        1000);
    {
      std::lock_guard<std::mutex> lock(mu_);
      state_ = std::make_shared<ThreadState>(pending_snapshot_);
      pending_snapshot_.reset();
    }
    listener_ = std::make_unique<Listener>(&loop_, "application listener", &Worker::onConnection,
                                           this, &stats_.accept);
    int r = listener_->start(listen_fd_, 1024);
    listen_fd_ = -1;  // owned by the listener now (closed by it on failure)
    for (size_t i = 0; i < region_fds_.size(); ++i) {
      auto owner = std::make_unique<RegionAccept>(RegionAccept{this, static_cast<int>(i)});
      auto l = std::make_unique<Listener>(&loop_, "region listener", &Worker::onRegionConnection,
                                          owner.get(), &stats_.accept);
      const int fd = region_fds_[i];
      region_fds_[i] = -1;  // owned by the listener now (closed by it on failure)
      if (r == 0) {
        r = l->start(fd, 1024);
      } else {
        ::close(fd);
      }
      region_owners_.push_back(std::move(owner));
      region_listeners_.push_back(std::move(l));
    }
    if (r == 0 && index_ == 0) {
      // One poller for the process: the table it writes is shared by every worker.
      migration_poller_ = std::make_unique<MigrationPoller>(
          &loop_, [this] { return exchangeContext(); }, &shared_->migrations);
      migration_poller_->start();
    }
    if (r != 0) {
      ready.set_value(Status(Code::kFailedPrecondition, server_detail::kFailed,
                             std::string("worker cannot listen: ") + uv_strerror(r)));
      draining_ = true;
      {
        std::lock_guard<std::mutex> lock(mu_);
        async_closed_ = true;
      }
      uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&key_timer_), nullptr);
      pool_->shutdown();
      uv_run(&loop_, UV_RUN_DEFAULT);
    } else {
      ready.set_value(Status::ok());
      uv_run(&loop_, UV_RUN_DEFAULT);
    }
    migration_poller_.reset();
    state_.reset();
    pool_.reset();
    listener_.reset();
    region_listeners_.clear();
    uv_loop_close(&loop_);
    finished_.store(true);
  });
  return ready_f.get();
}

void Worker::publishSnapshot(std::shared_ptr<const ConfigSnapshot> snapshot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (async_closed_) return;
  pending_snapshot_ = std::move(snapshot);
  uv_async_send(&async_);
}

void Worker::beginDrain() {
  std::lock_guard<std::mutex> lock(mu_);
  if (async_closed_) return;
  drain_requested_ = true;
  uv_async_send(&async_);
}

void Worker::forceStop() {
  std::lock_guard<std::mutex> lock(mu_);
  if (async_closed_) return;
  drain_requested_ = true;
  stop_requested_ = true;
  uv_async_send(&async_);
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::onAsync() {
  std::shared_ptr<const ConfigSnapshot> rt;
  bool drain = false;
  bool stop = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    rt = std::move(pending_snapshot_);
    pending_snapshot_.reset();
    drain = drain_requested_;
    stop = stop_requested_;
  }
  if (rt) {
    if (state_ && state_->cipher) addKeyUsage(*state_->cipher, &retired_key_usage_);
    state_ = std::make_shared<ThreadState>(std::move(rt));
    refreshKeyUsage();
  }
  if (drain && !draining_) {
    draining_ = true;
    listener_->close();
    for (auto& l : region_listeners_) l->close();
    // Copy: drain() may close (and remove) connections synchronously.
    std::vector<DownstreamConnection*> conns(connections_.begin(), connections_.end());
    for (DownstreamConnection* c : conns) c->drain();
  }
  if (stop) {
    std::vector<DownstreamConnection*> conns(connections_.begin(), connections_.end());
    for (DownstreamConnection* c : conns) c->closeNow();
  }
  maybeFinish();
}

void Worker::addKeyUsage(const crypto::FieldCipher& cipher, std::map<uint32_t, KeyUsage>* usage) {
  for (const auto& k : cipher.stats().keys) {
    KeyUsage& u = (*usage)[k.id];
    u.name = k.name;
    u.version = k.version;
    u.id = k.id;
    u.randomized_seals += k.seals[static_cast<int>(crypto::Mode::kRandomized)];
    u.deterministic_seals += k.seals[static_cast<int>(crypto::Mode::kDeterministic)];
    u.opens += k.opens[0] + k.opens[1];
  }
}

void Worker::refreshPoolStats() noexcept {
  if (!pool_) return;
  stats_.upstream_pool_idle.store(pool_->idleCount(), std::memory_order_relaxed);
  stats_.upstream_pool_live.store(pool_->liveCount(), std::memory_order_relaxed);
  stats_.upstream_aged_out.store(pool_->stats().aged_out, std::memory_order_relaxed);
  stats_.upstream_address_fallbacks.store(pool_->stats().address_fallbacks,
                                          std::memory_order_relaxed);
}

void Worker::refreshKeyUsage() {
  refreshPoolStats();
  std::map<uint32_t, KeyUsage> usage = retired_key_usage_;
  if (state_ && state_->cipher) addKeyUsage(*state_->cipher, &usage);
  std::vector<KeyUsage> v;
  v.reserve(usage.size());
  for (auto& [id, u] : usage) v.push_back(std::move(u));
  metrics_.setKeyUsage(std::move(v));
}

void Worker::maybeFinish() {
  if (!draining_ || !connections_.empty() || async_closed_) return;
  refreshKeyUsage();
  uv_close(reinterpret_cast<uv_handle_t*>(&key_timer_), nullptr);
  if (migration_poller_) migration_poller_->stop();
  pool_->shutdown();
  {
    std::lock_guard<std::mutex> lock(mu_);
    async_closed_ = true;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::onConnection(void* worker, uv_stream_t* server) noexcept {
  auto* self = static_cast<Worker*>(worker);
  auto* c = new DownstreamConnection(self);
  self->connections_.insert(c);
  c->accept(server);
}

void Worker::onRegionConnection(void* accept, uv_stream_t* server) noexcept {
  auto* a = static_cast<RegionAccept*>(accept);
  auto* c = new DownstreamConnection(a->worker, a->slot);
  a->worker->connections_.insert(c);
  c->accept(server);
}

void Worker::refuseForDescriptors() noexcept {
  listener_->refuse(Listener::Refusal::kDescriptorReserve);
}

ExchangeContext Worker::exchangeContext(int region) noexcept {
  ExchangeContext c;
  c.state = state_;
  c.pool = pool_.get();
  c.stats = &stats_;
  c.metrics = &metrics_;
  c.buffers = &shared_->buffers;
  c.audit = shared_->audit.get();
  c.clock = shared_->clock;
  c.throttle = &shared_->throttle;
  c.partition_keys = &shared_->partition_keys;
  c.exhausted_keys = &shared_->exhausted_keys;
  c.regions = &shared_->regions;
  c.migrations = &shared_->migrations;
  c.region = region;
  return c;
}

void Worker::connectionClosed(DownstreamConnection* c, bool admitted) noexcept {
  connections_.erase(c);
  delete c;
  if (admitted && listener_ && !draining_) {
    listener_->connectionClosed();
    for (auto& l : region_listeners_) l->connectionClosed();
  }
  refreshPoolStats();
  maybeFinish();
}

}  // namespace cosmoseal::proxy
