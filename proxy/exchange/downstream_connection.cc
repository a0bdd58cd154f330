#include "proxy/exchange/downstream_connection.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "common/log.h"
#include "policy/account_rewrite.h"
#include "proxy/exchange/details.h"
#include "proxy/exchange/local_reply.h"
#include "proxy/exchange/record.h"

namespace cosmoseal::proxy {

using common::Code;
using common::HeaderMap;
using common::Status;

namespace {

// Stop reading from the app while this many bytes of pipelined requests wait unparsed.
constexpr size_t kPipelineHighWater = 256 * 1024;
// Lingering close: how long we keep reading (and discarding) after our last response.
constexpr uint64_t kLingerMs = 2000;
// How often a request held for the tenant's keys looks at the key set (Exchange::resumeAdmission):
// a few atomic loads per poll, and at most entra.unknown_kid_max_held held per worker.
constexpr uint64_t kHoldPollMs = 5;
// Write watermarks of a streamed response: the upstream read stops above the high mark and
// resumes at the low mark (the app has drained most of it).
constexpr size_t kResponseHighWatermark = 512 * 1024;
constexpr size_t kResponseLowWatermark = 128 * 1024;

const Config& configOf(const std::shared_ptr<ThreadState>& s) { return s->snapshot->config(); }

Http1Limits requestLimits(const Config& c) {
  Http1Limits l;
  l.max_head_bytes = c.limits.max_header_bytes;
  l.max_headers = c.limits.max_headers;
  l.max_uri_bytes = c.limits.max_uri_bytes;
  return l;
}

}  // namespace

DownstreamConnection::DownstreamConnection(Worker* worker, int region)
    : worker_(worker),
      region_(region),
      transport_(worker->loop(), this),
      parser_(Http1Parser::Kind::kRequest, requestLimits(configOf(worker->state())), this) {}

DownstreamConnection::~DownstreamConnection() {
  if (exchange_) exchange_->abort();
  exchange_.reset();
  retired_.clear();
  if (counted_) {
    worker_->shared().connections.fetch_sub(1);
    worker_->stats().dec(worker_->stats().connections_open);
  }
}

void DownstreamConnection::accept(uv_stream_t* server) noexcept {
  if (transport_.init() != 0) return;  // onTransportClosed follows
  if (uv_accept(server, transport_.uvStream()) != 0) {
    transport_.closeNow();
    return;
  }
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(transport_.tcp()), &fd) == 0 &&
      descriptorReserveReached(fd)) {
    // Out of descriptors but for the reserve (upstream connections of requests in flight, the
    // admin listener, reloads): refuse this one and stop accepting for a while.
    worker_->refuseForDescriptors();
    transport_.closeNow();
    return;
  }
  const ConfigSnapshot& rt = *worker_->state()->snapshot;
  const uint32_t open = worker_->shared().connections.fetch_add(1) + 1;
  counted_ = true;
  WorkerStats& st = worker_->stats();
  st.inc(st.connections_open);
  if (open > rt.config().limits.max_connections || worker_->draining()) {
    st.inc(st.connections_rejected);
    if (open > rt.config().limits.max_connections) {
      COSMOSEAL_LOG(kWarn) << "connection refused: " << open - 1
                           << " connections open (limits.max_connections)";
    }
    transport_.closeNow();
    return;
  }
  st.inc(st.connections_accepted);
  admitted_ = true;
  if (rt.config().listen.mode == ListenMode::kTransparent) logOriginalDestination();
  if (rt.listenerTls()) transport_.enableTls(rt.listenerTls(), "");
  Status s = transport_.startAccepted();
  if (!s.isOk()) {
    transport_.closeNow();
    return;
  }
  // What waits in the write queue for a slow app is charged to the buffer budget until the
  // kernel has it (docs/OPERATIONS.md, "Memory and slow peers").
  transport_.chargeQueueTo(&worker_->shared().buffers, rt.config().limits.max_buffered_bytes);
  transport_.setWriteWatermarks(kResponseHighWatermark, kResponseLowWatermark);
  // The first request must start arriving within the header timeout.
  phase_ = Phase::kIdle;
  transport_.armTimer(static_cast<uint64_t>(rt.config().timeouts.header.count()));
}

uint64_t DownstreamConnection::bodyRateDeadline() const noexcept {
  const TimeoutsConfig& t = configOf(worker_->state()).timeouts;
  if (t.min_body_rate == 0) return UINT64_MAX;
  // Apache mod_reqtimeout's MinRate: every min_body_rate bytes buy one more second.
  return body_started_ms_ + static_cast<uint64_t>(t.min_body_rate_grace.count()) +
         body_bytes_ * 1000 / t.min_body_rate;
}

void DownstreamConnection::armBodyTimer() noexcept {
  const uint64_t now = uv_now(worker_->loop());
  const uint64_t by_gap =
      body_last_read_ms_ + static_cast<uint64_t>(configOf(worker_->state()).timeouts.body.count());
  const uint64_t due = std::min(by_gap, bodyRateDeadline());
  transport_.armTimer(due > now ? due - now : 1);
}

void DownstreamConnection::armIdle() noexcept {
  const Config& c = configOf(worker_->state());
  transport_.armTimer(static_cast<uint64_t>(c.timeouts.idle.count()));
}

void DownstreamConnection::retire() noexcept { retired_.clear(); }

void DownstreamConnection::onTransportReady() noexcept {}

void DownstreamConnection::onTransportData(std::string_view data) noexcept {
  retire();
  worker_->stats().inc(worker_->stats().bytes_from_clients, data.size());
  if (phase_ == Phase::kClosing) return;
  if (phase_ == Phase::kIdle) {
    phase_ = Phase::kHead;
    transport_.armTimer(static_cast<uint64_t>(configOf(worker_->state()).timeouts.header.count()));
  }
  Status s = parser_.feed(data);
  if (!s.isOk()) {
    handleParseError(s);
    return;
  }
  noteUnfinishedHead();
  if (parser_.paused() && parser_.bufferedBytes() > kPipelineHighWater) transport_.pauseReading();
}

Status DownstreamConnection::onMessageHead(MessageHead& head) noexcept {
  ++requests_;
  WorkerStats& st = worker_->stats();
  st.inc(st.requests);
  // The app asked to close after this request ("Connection: close", or HTTP/1.0 without
  // keep-alive): every answer honours it, local replies (upstream errors, refusals) included.
  if (!head.keep_alive) close_after_response_ = true;
  const bool has_body = head.framing != Framing::kNone;
  const bool expect_continue = head.expect_continue;
  phase_ = has_body ? Phase::kBody : Phase::kWaiting;
  if (has_body) {
    startBody();
  } else {
    transport_.disarmTimer();
  }
  // A reload may have changed limits.max_buffered_bytes.
  transport_.chargeQueueTo(&worker_->shared().buffers,
                           configOf(worker_->state()).limits.max_buffered_bytes);
  exchange_ = std::make_unique<Exchange>(this, worker_->exchangeContext(region_), std::move(head));
  Admission admission = exchange_->start();
  if (admission.hold) {
    // Nothing of the body is read while the admission waits (the parser stops after this head;
    // pipelined bytes stay buffered, reading pauses past the high-water mark as usual).
    parser_.pauseAfterHead();
    phase_ = Phase::kHolding;
    held_expect_continue_ = expect_continue;
    transport_.armTimer(kHoldPollMs);
    return Status::ok();
  }
  return afterAdmission(std::move(admission), has_body, expect_continue);
}

void DownstreamConnection::startBody() noexcept {
  body_started_ms_ = uv_now(worker_->loop());
  body_last_read_ms_ = body_started_ms_;
  body_bytes_ = 0;
  armBodyTimer();
}

Status DownstreamConnection::afterAdmission(Admission admission, bool has_body,
                                            bool expect_continue) noexcept {
  if (!admission.status.isOk()) {
    // Problems with the message itself close the connection (see Admission). A refusal of a
    // well-framed request (auth, rules, throttling, policy) keeps it: the body is read and
    // discarded, never forwarded. An Expect: 100-continue client will not send the body it
    // announced: answer now, close.
    if (admission.closes_connection || (expect_continue && has_body)) return admission.status;
    refusal_ = std::move(admission.status);
    refusal_retry_ms_ = exchange_->retryAfterMs();
    discarded_ = 0;  // the exchange stays until the reply, which records it
    return Status::ok();
  }
  if (expect_continue && has_body) {
    transport_.write("HTTP/1.1 100 Continue\r\n\r\n");
    transport_.flush();
  }
  return Status::ok();
}

void DownstreamConnection::pollHold() noexcept {
  if (!exchange_) return;
  Admission admission = exchange_->resumeAdmission();
  if (admission.hold) {
    transport_.armTimer(kHoldPollMs);
    return;
  }
  const bool has_body = exchange_->expectsBody();
  phase_ = has_body ? Phase::kBody : Phase::kWaiting;
  if (has_body) {
    startBody();
  } else {
    transport_.disarmTimer();
  }
  Status s = afterAdmission(std::move(admission), has_body, held_expect_continue_);
  if (!s.isOk()) {
    localReply(s, true);
    return;
  }
  // The body (or the end of a bodiless request) is parsed now; answers may come out of it.
  if (!transport_.reading()) transport_.resumeReading();
  s = parser_.resume();
  if (!s.isOk()) handleParseError(s);
}

Status DownstreamConnection::onMessageBody(std::string_view data) noexcept {
  const Config& cfg = configOf(worker_->state());
  body_bytes_ += data.size();
  body_last_read_ms_ = uv_now(worker_->loop());
  armBodyTimer();
  if (!refusal_.isOk()) {
    discarded_ += data.size();
    if (discarded_ > cfg.limits.max_body_bytes) return refusal_;  // not worth reading: close
    return Status::ok();
  }
  if (!exchange_) return Status::ok();
  return exchange_->onRequestBody(data);
}

Status DownstreamConnection::onMessageComplete() noexcept {
  transport_.disarmTimer();
  phase_ = Phase::kWaiting;
  if (!refusal_.isOk()) {
    Status s = std::move(refusal_);
    refusal_ = Status::ok();
    localReply(s, false, refusal_retry_ms_);
    return Status::ok();
  }
  if (exchange_) exchange_->onRequestComplete();
  return Status::ok();
}

void DownstreamConnection::exchangeDone() noexcept {
  if (exchange_) {
    exchange_->releaseBuffers();
    retired_.push_back(std::move(exchange_));
  }
  if (close_after_response_ || worker_->draining()) {
    phase_ = Phase::kClosing;
    transport_.closeGracefully(kLingerMs);
    return;
  }
  phase_ = Phase::kIdle;
  armIdle();
  if (!transport_.reading()) transport_.resumeReading();
  Status s = parser_.resume();
  if (!s.isOk()) {
    handleParseError(s);
    return;
  }
  // Inside a parser callback the position is not final yet: onTransportData checks after feed().
  if (!parser_.inProcess()) noteUnfinishedHead();
}

void DownstreamConnection::noteUnfinishedHead() noexcept {
  // Bytes of a next request that is not complete yet: the header timeout applies to it, not the
  // idle timeout. (Called after parsing returned, so the parser's position is up to date.)
  if (phase_ == Phase::kIdle && !parser_.idle() && !parser_.paused()) {
    phase_ = Phase::kHead;
    transport_.armTimer(static_cast<uint64_t>(configOf(worker_->state()).timeouts.header.count()));
  }
}

void DownstreamConnection::abortConnection(bool reset) noexcept {
  if (exchange_) {
    exchange_->abort();
    retired_.push_back(std::move(exchange_));
  }
  phase_ = Phase::kClosing;
  transport_.closeNow(reset);
}

void DownstreamConnection::localReply(const Status& status, bool close,
                                      uint64_t retry_after_ms) noexcept {
  if (phase_ == Phase::kClosing) return;
  if (!exchange_) recordUnparsed(status);
  if (exchange_) {
    exchange_->abort();
    exchange_->finish(status.httpStatus(), status.detail());
    // Its buffers go back to the budget now, not when the app sends its next bytes.
    exchange_->releaseBuffers();
    retired_.push_back(std::move(exchange_));
  }
  close = close || close_after_response_ || worker_->draining();
  std::string out;
  appendLocalReply(&out, status, retry_after_ms, close);
  transport_.write(out);
  transport_.flush();
  const int code = status.httpStatus();
  WorkerStats& st = worker_->stats();
  st.inc(st.local_replies);
  st.countStatus(code);
  if (code >= 500) {
    COSMOSEAL_LOG(kWarn) << "local reply " << code << " " << status.detail() << ": "
                         << status.message();
  } else {
    COSMOSEAL_LOG(kInfo) << "local reply " << code << " " << status.detail() << ": "
                         << status.message();
  }
  if (close) {
    phase_ = Phase::kClosing;
    transport_.closeGracefully(kLingerMs);
    return;
  }
  exchangeDone();
}

void DownstreamConnection::recordUnparsed(const Status& status) noexcept {
  // A request refused before it had a valid head (framing, smuggling, timeouts): no exchange
  // exists, but it is still counted and audited.
  worker_->metrics().record(unparsedSample(status));
  AuditLog* audit = worker_->shared().audit.get();
  if (audit == nullptr) return;
  auto slot = audit->admit();
  if (!slot.isOk()) return;  // audit unavailable: the connection is refused and closed anyway
  slot->submit(unparsedAuditRecord(status, worker_->shared().clock->unixSeconds() * 1000));
}

void DownstreamConnection::handleParseError(const Status& status) noexcept {
  if (exchange_ && exchange_->responseStarted()) {
    abortConnection();
    return;
  }
  localReply(status, true);
}

void DownstreamConnection::onTransportEof(bool) noexcept {
  // The app closed (or half-closed) its side: whatever is in flight is abandoned.
  if (exchange_) {
    exchange_->abort();
    retired_.push_back(std::move(exchange_));
  }
  phase_ = Phase::kClosing;
  transport_.closeNow();
}

void DownstreamConnection::onTransportError(const Status& status) noexcept {
  COSMOSEAL_LOG(kDebug) << "client connection error: " << status.toString();
  if (exchange_) {
    exchange_->abort();
    retired_.push_back(std::move(exchange_));
  }
  phase_ = Phase::kClosing;
  transport_.closeNow();
}

void DownstreamConnection::onTransportDrained() noexcept {
  if (exchange_) exchange_->onDownstreamDrained();
}

void DownstreamConnection::onTransportBelowLowWatermark() noexcept {
  if (exchange_) exchange_->onDownstreamDrained();
}

void DownstreamConnection::onTransportTimer() noexcept {
  switch (phase_) {
    case Phase::kHolding:
      pollHold();
      return;
    case Phase::kIdle:
      phase_ = Phase::kClosing;
      transport_.closeNow();
      return;
    case Phase::kHead:
      localReply(Status(Code::kRequestTimeout, exchange_detail::kHeaderTimeout,
                        "the request head did not arrive within the header timeout"),
                 true);
      return;
    case Phase::kBody: {
      const uint64_t now = uv_now(worker_->loop());
      const TimeoutsConfig& t = configOf(worker_->state()).timeouts;
      if (now < body_last_read_ms_ + static_cast<uint64_t>(t.body.count()) &&
          now >= bodyRateDeadline()) {
        localReply(
            Status(Code::kRequestTimeout, exchange_detail::kBodyTooSlow,
                   "the request body arrived slower than " + std::to_string(t.min_body_rate) +
                       " bytes/s (" + std::to_string(body_bytes_) + " bytes in " +
                       std::to_string(now - body_started_ms_) + " ms; timeouts.min_body_rate)"),
            true);
        return;
      }
      if (now < body_last_read_ms_ + static_cast<uint64_t>(t.body.count())) {
        armBodyTimer();  // woken early (the timer is shared): not due yet
        return;
      }
      localReply(Status(Code::kRequestTimeout, exchange_detail::kBodyTimeout,
                        "the request body stalled longer than the body timeout"),
                 true);
      return;
    }
    case Phase::kWaiting:
    case Phase::kClosing:
      return;
  }
}

void DownstreamConnection::onTransportClosed() noexcept {
  worker_->stats().inc(worker_->stats().bytes_to_clients, transport_.bytesOut());
  if (exchange_) exchange_->abort();
  worker_->connectionClosed(this, admitted_);  // deletes this
}

void DownstreamConnection::drain() noexcept {
  close_after_response_ = true;
  if (phase_ == Phase::kIdle && parser_.bufferedBytes() == 0) {
    phase_ = Phase::kClosing;
    transport_.closeGracefully(kLingerMs);
  }
}

void DownstreamConnection::logOriginalDestination() noexcept {
  // Where the app meant to connect before iptables redirected it (transparent mode).
  uv_os_fd_t fd;
  if (uv_fileno(reinterpret_cast<uv_handle_t*>(transport_.tcp()), &fd) != 0) return;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  std::memset(&ss, 0, sizeof(ss));
  int r = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
  if (r != 0) {
    len = sizeof(ss);
    r = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
  }
  if (r != 0) {
    COSMOSEAL_LOG(kDebug) << "transparent mode: connection without an original destination "
                             "(not redirected)";
    return;
  }
  char ip[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<struct sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
    port = ntohs(a->sin_port);
  } else {
    auto* a = reinterpret_cast<struct sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
    port = ntohs(a->sin6_port);
  }
  original_destination_ = std::string(ip) + ":" + std::to_string(port);
  COSMOSEAL_LOG(kDebug) << "transparent mode: intercepted a connection to "
                        << original_destination_;
}

std::string DownstreamConnection::serverName() const noexcept {
  return transport_.tlsEnabled() ? const_cast<Transport&>(transport_).tls()->serverName()
                                 : std::string();
}

std::string DownstreamConnection::ownOrigin(const HeaderMap& request_headers) const noexcept {
  const Config& c = configOf(worker_->state());
  if (!c.listen.advertise_url.empty()) {
    std::string u = c.listen.advertise_url;
    while (!u.empty() && u.back() == '/') u.pop_back();
    return u;
  }
  const std::string scheme = transport_.tlsEnabled() ? "https://" : "http://";
  const std::string_view* host = request_headers.get("host");
  if (host != nullptr && policy::isValidHostHeader(*host)) return scheme + std::string(*host);
  const bool v6 = c.listen.address.find(':') != std::string::npos;
  return scheme + (v6 ? "[" + c.listen.address + "]" : c.listen.address) + ":" +
         std::to_string(c.listen.port);
}

}  // namespace cosmoseal::proxy
