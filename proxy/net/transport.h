#pragma once

// Transport: one TCP connection on a libuv loop, optionally wrapped in TLS (TlsSession over memory
// BIOs), used for both the downstream (accepted) and upstream (connected) legs.
//
// Ownership: a Transport is embedded in (or owned by) its owner, which implements Handler. The
// libuv handles (tcp + one timer) are embedded here; after close*() the owner must keep the
// Transport alive until onTransportClosed(), then it may delete it. No handler callback is made
// after close*() except onTransportClosed().
//
// Writes: write() only buffers (plaintext is encrypted immediately when TLS is on); flush()
// hands everything buffered to the kernel in one uv_try_write/uv_write. Buffers are owned by the
// write request until its callback (STYLE.md rule 13), then wiped (they may hold plaintext) and
// freed; the queue keeps no capacity once a write is handed over.
//
// Memory: with chargeQueueTo(), every byte the queue holds (pending plaintext or TLS records,
// write requests not yet taken by the kernel) is charged to the process's BufferBudget until the
// kernel has it. The queue never refuses a byte (it only holds what its owner produced);
// producers check overBudget() and the watermarks and stop producing (pause the upstream,
// refuse new buffered work through the budget).
//
// Thread affinity: the loop's thread only.

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/tls/context.h"

namespace cosmoseal::proxy {

class Transport {
 public:
  class Handler {
   public:
    virtual ~Handler() = default;
    // Connected (client side) and, with TLS, handshake finished (both sides).
    virtual void onTransportReady() noexcept {}
    // Application bytes (decrypted). Valid only during the call.
    virtual void onTransportData(std::string_view data) noexcept = 0;
    // The peer ended its side. `clean`: plain TCP FIN, or TLS close_notify was received.
    virtual void onTransportEof(bool clean) noexcept = 0;
    // Connect failure, reset, TLS failure. The owner decides whether to close.
    virtual void onTransportError(const common::Status& status) noexcept = 0;
    // Everything written so far reached the kernel.
    virtual void onTransportDrained() noexcept {}
    // The queue went above the high watermark earlier and is now at or below the low one.
    virtual void onTransportBelowLowWatermark() noexcept {}
    // The owner's timer fired.
    virtual void onTransportTimer() noexcept {}
    // Both handles are closed: the Transport may be destroyed now.
    virtual void onTransportClosed() noexcept = 0;
  };

  Transport(uv_loop_t* loop, Handler* handler);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Must be called once before use. On a non-zero libuv error the Transport is unusable and
  // onTransportClosed() follows (the owner waits for it as after any close).
  int init() noexcept;
  uv_tcp_t* tcp() noexcept { return &tcp_; }
  uv_stream_t* uvStream() noexcept { return reinterpret_cast<uv_stream_t*>(&tcp_); }

  // Wraps the connection in TLS. Call before startAccepted()/connect().
  void enableTls(std::shared_ptr<TlsContext> ctx, std::string_view peer_host);
  bool tlsEnabled() const noexcept { return tls_ != nullptr; }
  TlsSession* tls() noexcept { return tls_.get(); }

  // Server side: the handle was accepted; start reading (and the TLS handshake).
  common::Status startAccepted() noexcept;
  // Client side: connect, then TLS handshake; onTransportReady() or onTransportError() follows.
  common::Status connect(const struct sockaddr* addr) noexcept;

  void write(std::string_view data) noexcept;
  // Queues a whole buffer without copying it (plain TCP) or encrypts it at once and wipes the
  // plaintext (TLS), and takes over `charge`, which the caller grew beforehand to
  // queueCost(data.capacity()) of the budget passed to chargeQueueTo() (so a refusal happens
  // at the caller, before anything is queued).
  void writeCharged(std::string&& data, BufferCharge* charge) noexcept;
  // Budget a buffer of `n` bytes needs to go through writeCharged(): the buffer itself and,
  // with TLS, its ciphertext (records add at most kTlsRecordOverhead per 16 KiB) while both exist.
  uint64_t queueCost(uint64_t n) const noexcept;
  void flush() noexcept;
  // Bytes handed to libuv but not yet written to the kernel.
  size_t queuedBytes() const noexcept;

  // Charges the memory the write queue holds to `budget` (limits.max_buffered_bytes = `limit`,
  // passed again by the owner after a reload) until the kernel has taken it.
  void chargeQueueTo(BufferBudget* budget, uint64_t limit) noexcept;
  // Bytes the write queue holds charged now (capacities, TLS records included).
  uint64_t queueCharge() const noexcept { return queue_charge_.bytes(); }
  // The budget as a whole is past its limit and this queue holds part of it: producers should
  // stop adding to it until it drains (a queue holding nothing gets no drain event to wait for).
  bool overBudget() const noexcept;
  // Envoy-style write watermarks: aboveHighWatermark() turns true when more than `high` bytes are
  // queued, and false again (with onTransportBelowLowWatermark()) once at most `low` remain.
  void setWriteWatermarks(size_t high, size_t low) noexcept;
  bool aboveHighWatermark() const noexcept { return above_high_; }

  void pauseReading() noexcept;
  void resumeReading() noexcept;
  bool reading() const noexcept { return reading_; }

  void armTimer(uint64_t ms) noexcept;
  void disarmTimer() noexcept;

  // Sends what is queued (and a TLS close_notify), half-closes, then closes; forced after
  // `linger_ms` if the peer does not read.
  void closeGracefully(uint64_t linger_ms) noexcept;
  // Closes now; queued data is dropped. `reset`: send RST instead of FIN (aborted exchanges).
  void closeNow(bool reset = false) noexcept;
  bool closing() const noexcept { return closing_; }
  bool ready() const noexcept { return ready_; }

  uint64_t bytesIn() const noexcept { return bytes_in_; }
  uint64_t bytesOut() const noexcept { return bytes_out_; }

 private:
  struct WriteReq;

  // libuv callbacks: noexcept, since an exception must never unwind through libuv's C frames.
  static void onAlloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) noexcept;
  static void onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept;
  static void onWrite(uv_write_t* req, int status) noexcept;
  static void onConnect(uv_connect_t* req, int status) noexcept;
  static void onShutdown(uv_shutdown_t* req, int status) noexcept;
  static void onTimer(uv_timer_t* t) noexcept;
  static void onClose(uv_handle_t* h) noexcept;

  void handleRead(const char* data, size_t n) noexcept;
  void becomeReady() noexcept;
  void fail(const common::Status& s) noexcept;
  void startClose() noexcept;
  void takeTlsOutput() noexcept;
  // Sets the queue charge to the memory the queue holds now and updates the watermark state.
  void settleQueue() noexcept;
  // Wipes and frees out_ (it may hold plaintext).
  void dropOutput() noexcept;

  uv_loop_t* loop_;
  Handler* handler_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;
  uv_connect_t connect_req_;
  uv_shutdown_t shutdown_req_;
  std::unique_ptr<TlsSession> tls_;
  std::string out_;    // bytes waiting for flush() (ciphertext when TLS)
  std::string plain_;  // TLS read scratch
  int open_handles_ = 0;
  bool inited_ = false;
  bool reading_ = false;
  bool ready_ = false;
  bool closing_ = false;
  bool lingering_ = false;
  bool closed_notified_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
  // Write-queue accounting: the capacity of buffers owned by write requests in flight, their
  // charge against the budget, and the watermarks.
  uint64_t in_flight_bytes_ = 0;
  BufferCharge queue_charge_;
  uint64_t budget_limit_ = 0;
  size_t high_watermark_ = SIZE_MAX;
  size_t low_watermark_ = 0;
  bool above_high_ = false;
};

}  // namespace cosmoseal::proxy
