#include "proxy/server/listener.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "common/log.h"

namespace cosmoseal::proxy {

namespace {

const char* refusalText(Listener::Refusal why) noexcept {
  switch (why) {
    case Listener::Refusal::kEmfile:
      return "the process is out of file descriptors (EMFILE)";
    case Listener::Refusal::kEnfile:
      return "the system is out of file descriptors (ENFILE)";
    case Listener::Refusal::kDescriptorReserve:
      return "connection refused: it would use the descriptor reserve";
    case Listener::Refusal::kOther:
      return "accept failed";
  }
  return "accept failed";
}

void freeHandle(uv_handle_t* h) noexcept {
  if (h->type == UV_TCP) {
    delete reinterpret_cast<uv_tcp_t*>(h);
  } else {
    delete reinterpret_cast<uv_timer_t*>(h);
  }
}

}  // namespace

Listener::Listener(uv_loop_t* loop, const char* name, ConnectionFn on_connection, void* owner,
                   AcceptCounters* counters) noexcept
    : loop_(loop), name_(name), on_connection_(on_connection), owner_(owner), counters_(counters) {}

Listener::~Listener() {
  // close() hands the handles to the loop; a listener destroyed without it (its loop is gone)
  // only has its socket to give back.
  if (fd_ >= 0) ::close(fd_);
}

int Listener::start(int fd, int backlog) noexcept {
  fd_ = fd;
  backlog_ = backlog;
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  const int r = listen();
  if (r != 0) close();
  return r;
}

int Listener::listen() noexcept {
  const int dup_fd = fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) return uv_translate_sys_error(errno);  // still out of descriptors
  handle_ = new uv_tcp_t;
  uv_tcp_init(loop_, handle_);
  handle_->data = this;
  int r = uv_tcp_open(handle_, dup_fd);
  if (r != 0) ::close(dup_fd);  // not taken by the handle
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(handle_), backlog_, &onConnection);
  if (r != 0) closeHandle();
  return r;
}

void Listener::closeHandle() noexcept {
  if (handle_ == nullptr) return;
  // Closes the duplicate only; inside libuv's accept loop this also ends that loop (it stops
  // once the handle's descriptor is gone).
  uv_close(reinterpret_cast<uv_handle_t*>(handle_), freeHandle);
  handle_ = nullptr;
}

void Listener::onConnection(uv_stream_t* stream, int status) noexcept {
  auto* self = static_cast<Listener*>(stream->data);
  if (self == nullptr || self->handle_ != reinterpret_cast<uv_tcp_t*>(stream)) return;
  if (status < 0) {
    const Refusal why = status == UV_EMFILE   ? Refusal::kEmfile
                        : status == UV_ENFILE ? Refusal::kEnfile
                                              : Refusal::kOther;
    self->count(why, status);
    self->pause();
    return;
  }
  self->on_connection_(self->owner_, stream);
  // The owner took the connection and did not refuse it: descriptors are fine again.
  if (!self->paused_) self->backoff_ms_ = kInitialBackoffMs;
}

void Listener::refuse(Refusal why) noexcept {
  count(why, 0);
  pause();
}

void Listener::count(Refusal why, int err) noexcept {
  AcceptCounters& c = *counters_;
  switch (why) {
    case Refusal::kEmfile:
      c.emfile.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kEnfile:
      c.enfile.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kDescriptorReserve:
      c.descriptor_reserve.fetch_add(1, std::memory_order_relaxed);
      break;
    case Refusal::kOther:
      c.other.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  const uint64_t now = uv_now(loop_);
  if (logged_ && now - logged_at_ms_ < 1000) {
    ++suppressed_;
    return;
  }
  const std::string error = why == Refusal::kOther ? std::string(": ") + uv_strerror(err) : "";
  const std::string more =
      suppressed_ > 0 ? " (" + std::to_string(suppressed_) + " more refusals since the last line)"
                      : "";
  COSMOSEAL_LOG(kWarn) << name_ << ": " << refusalText(why) << error << "; accepting paused for "
                       << backoff_ms_ << " ms" << more;
  logged_ = true;
  logged_at_ms_ = now;
  suppressed_ = 0;
}

void Listener::pause() noexcept {
  if (fd_ < 0) return;
  closeHandle();
  if (!paused_) {
    paused_ = true;
    counters_->paused.store(1, std::memory_order_relaxed);
  }
  uv_timer_start(timer_, &onTimer, backoff_ms_, 0);
  backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

void Listener::onTimer(uv_timer_t* timer) noexcept {
  static_cast<Listener*>(timer->data)->resume();
}

void Listener::connectionClosed() noexcept {
  if (paused_) resume();
}

void Listener::resume() noexcept {
  if (!paused_ || fd_ < 0) return;
  uv_timer_stop(timer_);
  if (const int r = listen(); r != 0) {
    if (r != UV_EMFILE && r != UV_ENFILE) {
      COSMOSEAL_LOG(kWarn) << name_ << ": cannot listen again: " << uv_strerror(r);
    }
    uv_timer_start(timer_, &onTimer, backoff_ms_, 0);
    backoff_ms_ = std::min(backoff_ms_ * 2, kMaxBackoffMs);
    return;
  }
  paused_ = false;
  counters_->paused.store(0, std::memory_order_relaxed);
}

void Listener::close() noexcept {
  closeHandle();
  if (timer_ != nullptr) {
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), freeHandle);
    timer_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  paused_ = false;
  counters_->paused.store(0, std::memory_order_relaxed);
}

uint64_t descriptorReserve(uint64_t soft_limit) noexcept {
  return std::clamp<uint64_t>(soft_limit / 8, 16, 1024);
}

bool descriptorReserveReached(int fd, uint64_t soft_limit) noexcept {
  if (fd < 0) return false;
  const uint64_t reserve = descriptorReserve(soft_limit);
  // Numbers at or above soft_limit - reserve leave fewer than `reserve` descriptors free.
  return soft_limit <= reserve || static_cast<uint64_t>(fd) >= soft_limit - reserve;
}

bool descriptorReserveReached(int fd) noexcept {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return false;
  return descriptorReserveReached(fd, static_cast<uint64_t>(rl.rlim_cur));
}

}  // namespace cosmoseal::proxy
