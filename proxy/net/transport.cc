#include "proxy/net/transport.h"

#include <cstring>

#include "common/assert.h"
#include "common/secret_bytes.h"
#include "proxy/net/details.h"
#include "proxy/upstream/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

struct Transport::WriteReq {
  uv_write_t req;
  std::string data;  // the queue's buffer, moved in whole; libuv writes it from `offset`
  size_t offset = 0;
  uint64_t held = 0;  // data.capacity() when handed over: what the queue charge counts
  Transport* stream;
  bool wipe;  // plaintext (no TLS): wiped once written
};

namespace {
constexpr size_t kReadBufferSize = 64 * 1024;

// Empties the output buffer. Without TLS it holds plaintext and is wiped (it only grows through
// appendWiping, so clearing the contents wipes all it ever held); with TLS it holds ciphertext.
void releaseOut(std::string* out, bool plaintext) noexcept {
  if (plaintext) {
    common::clearWiping(out);
  } else {
    out->clear();
  }
}
// TLS 1.2/1.3 record framing, MAC/tag and padding per record of at most 16 KiB of plaintext,
// rounded up.
constexpr uint64_t kTlsRecordOverhead = 64;
constexpr uint64_t kTlsRecordPlaintext = 16 * 1024;
// The part of a big plaintext encrypted at a time by writeCharged, so the session's memory BIO
// never holds more than this much ciphertext besides the queue.
constexpr size_t kTlsWriteSlice = 256 * 1024;
// A fully written queue keeps a buffer up to this size for the next small writes; bigger ones
// are freed at once.
constexpr size_t kKeptOutputCapacity = 16 * 1024;
const size_t kInlineCapacity = std::string().capacity();
}  // namespace

Transport::Transport(uv_loop_t* loop, Handler* handler) : loop_(loop), handler_(handler) {
  std::memset(&tcp_, 0, sizeof(tcp_));
  std::memset(&timer_, 0, sizeof(timer_));
  std::memset(&connect_req_, 0, sizeof(connect_req_));
  std::memset(&shutdown_req_, 0, sizeof(shutdown_req_));
}

Transport::~Transport() {
  // Plain HTTP queues plaintext; TLS read scratch is plaintext. Both only ever grow through
  // common::appendWiping / reserveWiping and are emptied wiping their contents, so the bytes
  // past size() never held data and clearing the contents is enough.
  releaseOut(&out_, tls_ == nullptr);
  common::clearWiping(&plain_);
}

int Transport::init() noexcept {
  int r = uv_tcp_init(loop_, &tcp_);
  if (r != 0) return r;
  r = uv_timer_init(loop_, &timer_);
  if (r != 0) {
    // The tcp handle exists and must be closed; report via onTransportClosed as usual.
    tcp_.data = this;
    open_handles_ = 1;
    closing_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Transport::onClose);
    return r;
  }
  tcp_.data = this;
  timer_.data = this;
  open_handles_ = 2;
  inited_ = true;
  return 0;
}

void Transport::enableTls(std::shared_ptr<TlsContext> ctx, std::string_view peer_host) {
  tls_ = std::make_unique<TlsSession>(std::move(ctx), peer_host);
}

Status Transport::startAccepted() noexcept {
  uv_tcp_nodelay(&tcp_, 1);
  if (tls_) {
    Status s = tls_->start();
    if (!s.isOk()) return s;
  }
  int r = uv_read_start(uvStream(), &Transport::onAlloc, &Transport::onRead);
  if (r != 0) return Status(Code::kInternal, net_detail::kReadFailed, uv_strerror(r));
  reading_ = true;
  if (!tls_) becomeReady();
  return Status::ok();
}

Status Transport::connect(const struct sockaddr* addr) noexcept {
  connect_req_.data = this;
  int r = uv_tcp_connect(&connect_req_, &tcp_, addr, &Transport::onConnect);
  if (r != 0) {
    return Status(Code::kBadGateway, upstream_detail::kConnectFailed,
                  std::string("cannot connect to the upstream: ") + uv_strerror(r));
  }
  return Status::ok();
}

void Transport::onConnect(uv_connect_t* req, int status) noexcept {
  auto* self = static_cast<Transport*>(req->data);
  if (status == UV_ECANCELED || self->closing_) return;
  if (status < 0) {
    self->fail(Status(Code::kBadGateway, upstream_detail::kConnectFailed,
                      std::string("cannot connect to the upstream: ") + uv_strerror(status)));
    return;
  }
  uv_tcp_nodelay(&self->tcp_, 1);
  int r = uv_read_start(self->uvStream(), &Transport::onAlloc, &Transport::onRead);
  if (r != 0) {
    self->fail(Status(Code::kBadGateway, upstream_detail::kConnectFailed, uv_strerror(r)));
    return;
  }
  self->reading_ = true;
  if (self->tls_) {
    Status s = self->tls_->start();
    self->takeTlsOutput();
    self->flush();
    if (!s.isOk()) self->fail(s);
    return;
  }
  self->becomeReady();
}

void Transport::becomeReady() noexcept {
  if (ready_) return;
  ready_ = true;
  handler_->onTransportReady();
}

void Transport::fail(const Status& s) noexcept {
  if (closing_) return;
  handler_->onTransportError(s);
}

void Transport::onAlloc(uv_handle_t*, size_t, uv_buf_t* buf) noexcept {
  // One read buffer per thread: read callbacks of one loop never overlap, and every consumer
  // copies what it keeps before returning.
  thread_local char tl_buffer[kReadBufferSize];
  buf->base = tl_buffer;
  buf->len = sizeof(tl_buffer);
}

void Transport::onRead(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) noexcept {
  auto* self = static_cast<Transport*>(s->data);
  if (nread == 0) return;
  if (self->closing_) {
    // Lingering close: discard (and wipe) what the peer still sends; finish on EOF or error.
    if (nread > 0 && !self->tls_) common::secureZero(buf->base, static_cast<size_t>(nread));
    if (nread < 0) self->startClose();
    return;
  }
  if (nread > 0) {
    // Without TLS the thread's read buffer holds what the peer sent in the clear: wipe what this
    // read delivered once every consumer has copied what it keeps. (With TLS it holds
    // ciphertext, and the plaintext scratch is wiped in handleRead.)
    const bool wipe = !self->tls_;
    self->handleRead(buf->base, static_cast<size_t>(nread));
    if (wipe) common::secureZero(buf->base, static_cast<size_t>(nread));
    return;
  }
  uv_read_stop(s);
  self->reading_ = false;
  if (nread == UV_EOF) {
    const bool clean = !self->tls_ || self->tls_->peerClosed();
    self->handler_->onTransportEof(clean);
    return;
  }
  self->fail(Status(Code::kBadGateway, upstream_detail::kNetReadError,
                    std::string("connection error: ") + uv_strerror(static_cast<int>(nread))));
}

void Transport::handleRead(const char* data, size_t n) noexcept {
  bytes_in_ += n;
  if (!tls_) {
    handler_->onTransportData(std::string_view(data, n));
    return;
  }
  common::clearWiping(&plain_);
  const bool was_closed = tls_->peerClosed();
  Status s = tls_->feed(std::string_view(data, n), &plain_);
  takeTlsOutput();
  flush();
  if (!s.isOk()) {
    common::clearWiping(&plain_);
    fail(s);
    return;
  }
  if (!ready_ && tls_->handshakeDone()) {
    becomeReady();
    if (closing_) {
      common::clearWiping(&plain_);
      return;
    }
  }
  if (!plain_.empty()) {
    handler_->onTransportData(plain_);
    common::clearWiping(&plain_);  // handlers copied what they keep
    if (closing_) return;
  }
  if (!was_closed && tls_->peerClosed()) handler_->onTransportEof(true);
}

void Transport::takeTlsOutput() noexcept {
  if (tls_ && tls_->hasOutput()) tls_->takeOutput(&out_);
}

void Transport::write(std::string_view data) noexcept {
  if (closing_ || data.empty()) return;
  if (tls_) {
    Status s = tls_->write(data);
    takeTlsOutput();  // ciphertext moves to the queue at once, where it is counted
    settleQueue();
    if (!s.isOk()) fail(s);
    return;
  }
  common::appendWiping(&out_, data);  // plaintext: growth leaves no unwiped block
  settleQueue();
}

uint64_t Transport::queueCost(uint64_t n) const noexcept {
  if (!tls_) return n;
  return n + n + (n / kTlsRecordPlaintext + 1) * kTlsRecordOverhead;
}

void Transport::writeCharged(std::string&& data, BufferCharge* charge) noexcept {
  // The caller's charge covers `data` (and its ciphertext with TLS) from here on; settleQueue()
  // brings it down to what the queue really holds.
  queue_charge_.absorb(charge);
  if (closing_ || data.empty()) {
    common::secureZero(data.data(), data.size());
    std::string().swap(data);
    settleQueue();
    return;
  }
  if (!tls_) {
    if (out_.empty()) {
      common::clearWiping(&out_);
      out_ = std::move(data);  // no copy: the response body becomes the queue
    } else {
      common::appendWiping(&out_, data);
      common::secureZero(data.data(), data.size());
    }
    std::string().swap(data);
    settleQueue();
    return;
  }
  Status s = Status::ok();
  for (size_t off = 0; off < data.size() && s.isOk(); off += kTlsWriteSlice) {
    s = tls_->write(std::string_view(data).substr(off, kTlsWriteSlice));
    takeTlsOutput();
  }
  common::secureZero(data.data(), data.size());
  std::string().swap(data);
  settleQueue();
  if (!s.isOk()) fail(s);
}

// Without TLS the queue holds plaintext: wiped; with TLS it holds ciphertext.
void Transport::dropOutput() noexcept {
  releaseOut(&out_, tls_ == nullptr);
  std::string().swap(out_);
}

void Transport::flush() noexcept {
  takeTlsOutput();
  if (out_.empty() || !inited_) {
    settleQueue();
    return;
  }
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) {
    dropOutput();
    settleQueue();
    return;
  }
  size_t off = 0;
  if (uvStream()->write_queue_size == 0) {
    uv_buf_t b = uv_buf_init(out_.data(), static_cast<unsigned>(out_.size()));
    int n = uv_try_write(uvStream(), &b, 1);
    if (n > 0) {
      off = static_cast<size_t>(n);
      COSMOSEAL_ASSERT(off <= out_.size());
    } else if (n != UV_EAGAIN && n != UV_ENOSYS) {
      dropOutput();
      settleQueue();
      fail(Status(Code::kBadGateway, upstream_detail::kNetWriteError,
                  std::string("connection error: ") + uv_strerror(n)));
      return;
    }
  }
  bytes_out_ += off;
  if (off == out_.size()) {
    if (out_.capacity() > kKeptOutputCapacity) {
      dropOutput();
    } else {
      releaseOut(&out_, tls_ == nullptr);
    }
    settleQueue();
    return;
  }
  // The whole buffer moves to the write request (no copy of what is left); the queue starts
  // empty again.
  auto* req = new WriteReq;
  req->stream = this;
  req->wipe = !tls_;
  req->data = std::move(out_);
  std::string().swap(out_);
  req->offset = off;
  req->held = req->data.capacity();
  in_flight_bytes_ += req->held;
  req->req.data = req;
  uv_buf_t b = uv_buf_init(req->data.data() + off, static_cast<unsigned>(req->data.size() - off));
  int r = uv_write(&req->req, uvStream(), &b, 1, &Transport::onWrite);
  if (r != 0) {
    in_flight_bytes_ -= req->held;
    if (req->wipe) common::secureZero(req->data.data(), req->data.size());
    delete req;
    settleQueue();
    fail(Status(Code::kBadGateway, upstream_detail::kNetWriteError,
                std::string("connection error: ") + uv_strerror(r)));
    return;
  }
  settleQueue();
}

void Transport::onWrite(uv_write_t* req, int status) noexcept {
  auto* w = static_cast<WriteReq*>(req->data);
  Transport* self = w->stream;
  if (status == 0) self->bytes_out_ += w->data.size() - w->offset;
  self->in_flight_bytes_ -= w->held;
  // Plaintext (no TLS): the kernel has the bytes (or they are dropped); wipe what was queued.
  if (w->wipe) common::secureZero(w->data.data(), w->data.size());
  delete w;
  self->settleQueue();
  if (status < 0) {
    if (status != UV_ECANCELED) {
      self->fail(Status(Code::kBadGateway, upstream_detail::kNetWriteError,
                        std::string("connection error: ") + uv_strerror(status)));
    }
    return;
  }
  if (self->closing_) return;
  if (self->above_high_ && self->queuedBytes() <= self->low_watermark_) {
    self->above_high_ = false;
    self->handler_->onTransportBelowLowWatermark();
    if (self->closing_) return;
  }
  if (self->queuedBytes() == 0) self->handler_->onTransportDrained();
}

size_t Transport::queuedBytes() const noexcept { return tcp_.write_queue_size + out_.size(); }

void Transport::chargeQueueTo(BufferBudget* budget, uint64_t limit) noexcept {
  budget_limit_ = limit;
  if (queue_charge_.bytes() == 0) queue_charge_.bind(budget);
  settleQueue();
}

bool Transport::overBudget() const noexcept {
  return budget_limit_ != 0 && queue_charge_.bytes() != 0 &&
         queue_charge_.budget()->used() > budget_limit_;
}

void Transport::setWriteWatermarks(size_t high, size_t low) noexcept {
  high_watermark_ = high;
  low_watermark_ = low;
  settleQueue();
}

void Transport::settleQueue() noexcept {
  // An empty string's inline capacity is no allocation.
  const uint64_t out_bytes = out_.capacity() > kInlineCapacity ? out_.capacity() : 0;
  queue_charge_.force(out_bytes + in_flight_bytes_);
  if (!above_high_ && queuedBytes() > high_watermark_) above_high_ = true;
}

void Transport::pauseReading() noexcept {
  if (!reading_ || closing_) return;
  uv_read_stop(uvStream());
  reading_ = false;
}

void Transport::resumeReading() noexcept {
  if (reading_ || closing_ || !inited_) return;
  if (uv_read_start(uvStream(), &Transport::onAlloc, &Transport::onRead) == 0) reading_ = true;
}

void Transport::armTimer(uint64_t ms) noexcept {
  if (!inited_ || closing_) return;
  uv_timer_start(&timer_, &Transport::onTimer, ms, 0);
}

void Transport::disarmTimer() noexcept {
  if (inited_) uv_timer_stop(&timer_);
}

void Transport::onTimer(uv_timer_t* t) noexcept {
  auto* self = static_cast<Transport*>(t->data);
  if (self->lingering_) {
    self->startClose();
    return;
  }
  if (!self->closing_) self->handler_->onTransportTimer();
}

void Transport::closeGracefully(uint64_t linger_ms) noexcept {
  if (closing_) return;
  if (!inited_) {
    closing_ = true;
    return;
  }
  if (tls_) tls_->shutdown();
  flush();
  closing_ = true;
  lingering_ = true;
  uv_timer_start(&timer_, &Transport::onTimer, linger_ms, 0);
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, uvStream(), &Transport::onShutdown) != 0) {
    startClose();
    return;
  }
  // Keep reading (and discarding) until the peer closes, so a peer still sending does not
  // get an RST that destroys the response we just sent (lingering close).
  if (!reading_ && uv_read_start(uvStream(), &Transport::onAlloc, &Transport::onRead) == 0) {
    reading_ = true;
  }
}

void Transport::onShutdown(uv_shutdown_t* req, int status) noexcept {
  auto* self = static_cast<Transport*>(req->data);
  if (status < 0 && status != UV_ECANCELED) self->startClose();
  // Otherwise wait for the peer's EOF (onRead) or the linger timer.
}

void Transport::closeNow(bool reset) noexcept {
  if (closed_notified_) return;
  const bool was_closing = closing_;
  closing_ = true;
  dropOutput();
  settleQueue();
  if (!inited_) return;
  if (uv_is_closing(reinterpret_cast<uv_handle_t*>(&tcp_))) return;
  if (reset && !was_closing && ready_) {
    uv_timer_stop(&timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Transport::onClose);
    if (uv_tcp_close_reset(&tcp_, &Transport::onClose) == 0) return;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Transport::onClose);
    return;
  }
  startClose();
}

void Transport::startClose() noexcept {
  closing_ = true;
  if (!inited_) return;
  auto* th = reinterpret_cast<uv_handle_t*>(&tcp_);
  auto* tm = reinterpret_cast<uv_handle_t*>(&timer_);
  if (!uv_is_closing(th)) uv_close(th, &Transport::onClose);
  if (!uv_is_closing(tm)) uv_close(tm, &Transport::onClose);
}

void Transport::onClose(uv_handle_t* h) noexcept {
  auto* self = static_cast<Transport*>(h->data);
  // One close callback per handle: another would notify (and let the owner free) twice.
  COSMOSEAL_RELEASE_ASSERT(self->open_handles_ > 0);
  if (--self->open_handles_ == 0) {
    self->closed_notified_ = true;
    self->handler_->onTransportClosed();
  }
}

}  // namespace cosmoseal::proxy
