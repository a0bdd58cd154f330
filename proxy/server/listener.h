#pragma once

// Listener: a listening TCP socket on a uv loop that can stop accepting for a while without
// closing the socket (issue 13, finding 1: out of file descriptors the accept loop must never
// spin).
//
// Why not a plain uv_listen: libuv cannot stop polling a listening handle, and when accept(2)
// fails with EMFILE its accept loop calls back with the error and tries again at once, inside the
// same callback. A callback that only logs never returns to the loop: timers, the other
// connections, the drain signal and the log disk all starve. So the Listener owns the socket and
// gives libuv a duplicate of it. Pausing closes the duplicate: the kernel keeps queueing new
// connections in the backlog of the socket we still hold. Resuming duplicates it again.
//
// Accepting pauses on any accept error (EMFILE, ENFILE, or another one that would repeat) and when
// the owner refuses a connection it accepted (Refusal::kDescriptorReserve, see
// descriptorReserveReached). It resumes after a backoff (100 ms, doubling to 1.6 s while refusals
// go on, back to 100 ms once a connection is admitted) or as soon as the owner reports that one of
// its connections closed (a descriptor came free). The warning is logged at most once a second
// with the number of refusals since the previous line; every refusal is counted in AcceptCounters.
//
// Owns: the listening socket (closed by close() or the destructor) and two heap-allocated uv
// handles (freed by their close callbacks, so the loop must run after close()).
// Thread affinity: the loop thread, except the counters (relaxed atomics, read by /metrics).

#include <uv.h>

#include <cstdint>
#include <string>

#include "proxy/observability/stats.h"

namespace cosmoseal::proxy {

class Listener {
 public:
  enum class Refusal : uint8_t { kEmfile, kEnfile, kDescriptorReserve, kOther };

  // Called for every connection waiting to be accepted: the callee must uv_accept(stream, ...)
  // (or the listener pauses). May call refuse() or close().
  using ConnectionFn = void (*)(void* owner, uv_stream_t* stream) noexcept;

  Listener(uv_loop_t* loop, const char* name, ConnectionFn on_connection, void* owner,
           AcceptCounters* counters) noexcept;
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Takes `fd` (bound and listening) and starts accepting. A libuv error code (0 = ok); on error
  // the socket is closed.
  int start(int fd, int backlog) noexcept;
  // The owner refused the connection it just accepted: count it, log (rate-limited), pause.
  void refuse(Refusal why) noexcept;
  // One of the owner's connections closed: a descriptor came free, resume now if paused.
  void connectionClosed() noexcept;
  // Stops accepting for good and closes the socket (new connections are refused by the kernel).
  void close() noexcept;

  bool paused() const noexcept { return paused_; }
  bool closed() const noexcept { return fd_ < 0; }

  static constexpr uint64_t kInitialBackoffMs = 100;
  static constexpr uint64_t kMaxBackoffMs = 1600;

 private:
  static void onConnection(uv_stream_t* stream, int status) noexcept;
  static void onTimer(uv_timer_t* timer) noexcept;
  // Opens a uv handle over a duplicate of fd_ and listens: 0 or a libuv error code (EMFILE when
  // the duplicate cannot be made).
  int listen() noexcept;
  void closeHandle() noexcept;
  void pause() noexcept;
  void resume() noexcept;
  void count(Refusal why, int err) noexcept;

  uv_loop_t* loop_;
  const char* name_;
  ConnectionFn on_connection_;
  void* owner_;
  AcceptCounters* counters_;
  int fd_ = -1;  // the listening socket, owned
  int backlog_ = 0;
  uv_tcp_t* handle_ = nullptr;  // over a duplicate of fd_ while accepting
  uv_timer_t* timer_ = nullptr;
  bool paused_ = false;
  uint64_t backoff_ms_ = kInitialBackoffMs;
  // Rate-limited warning: when the last line was written (loop ms) and what it did not say.
  bool logged_ = false;
  uint64_t logged_at_ms_ = 0;
  uint64_t suppressed_ = 0;
};

// How many descriptors the process keeps free for everything but new application connections
// (upstream connections of requests in flight, the admin listener, key and config files on
// reload, the log): 1/8 of the soft RLIMIT_NOFILE, at least 16 and at most 1024.
uint64_t descriptorReserve(uint64_t soft_limit) noexcept;
// Whether a just-accepted socket numbered `fd` eats into the reserve under the soft limit
// `soft_limit` (the kernel hands out the lowest free number, so every number below `fd` is in use).
bool descriptorReserveReached(int fd, uint64_t soft_limit) noexcept;
// The same with the process's current soft RLIMIT_NOFILE (read on each call: `prlimit` can change
// it while the process runs).
bool descriptorReserveReached(int fd) noexcept;

}  // namespace cosmoseal::proxy
