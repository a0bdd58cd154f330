#pragma once

// DownstreamConnection: one connection from the application (plain or TLS), HTTP/1.1 with
// keep-alive and in-order pipelining: requests are handled one at a time; bytes of the next
// request wait, unparsed, in the parser until the current response is finished.
//
// Lifetimes: the Worker owns connections (deleted from Transport::onTransportClosed). A connection
// owns at most one live Exchange; finished exchanges are retired and deleted at the start of the
// next libuv callback, never inside their own call stack.
//
// Timeouts on the downstream side: header (whole head must arrive in time: slowloris), body
// (between body reads, and a minimum average rate after a grace period: slow bodies), idle
// keep-alive. Upstream timeouts live in UpstreamConnection.
//
// Thread affinity: the worker loop that accepted it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "proxy/exchange/exchange.h"
#include "proxy/http1/codec.h"
#include "proxy/net/transport.h"
#include "proxy/server/worker.h"

namespace cosmoseal::proxy {

class DownstreamConnection final : public Transport::Handler, public Http1Parser::Handler {
 public:
  // `region`: the listen.region_ports slot of the port it was accepted on, -1 for the main one.
  explicit DownstreamConnection(Worker* worker, int region = -1);
  ~DownstreamConnection() override;

  // Takes the accepted socket from `server`. On failure the connection closes itself.
  void accept(uv_stream_t* server) noexcept;
  // Worker is draining: close if idle, else close after the current response.
  void drain() noexcept;
  void closeNow() noexcept { transport_.closeNow(); }

  // ---- for Exchange ----
  void write(std::string_view bytes) noexcept { transport_.write(bytes); }
  // Queues a buffered body and takes over its charge (grown to queueCost() first: Transport).
  void writeCharged(std::string&& bytes, BufferCharge* charge) noexcept {
    transport_.writeCharged(std::move(bytes), charge);
  }
  uint64_t queueCost(uint64_t n) const noexcept { return transport_.queueCost(n); }
  void flush() noexcept { transport_.flush(); }
  size_t queuedBytes() const noexcept { return transport_.queuedBytes(); }
  // Backpressure for streamed responses: stop producing (pause the upstream) while true; the
  // exchange hears onDownstreamDrained() when it may go on.
  bool shouldPauseProducer() const noexcept {
    return transport_.aboveHighWatermark() || transport_.overBudget();
  }
  bool tls() const noexcept { return transport_.tlsEnabled(); }
  // Whether the response being written must end the connection (asked for, or the worker is
  // draining).
  bool mustClose() const noexcept { return close_after_response_ || worker_->draining(); }
  void setCloseAfterResponse() noexcept { close_after_response_ = true; }
  // The exchange finished writing its response.
  void exchangeDone() noexcept;
  // The exchange cannot finish cleanly (response partly sent): abort the connection. `reset`:
  // with RST; false: with FIN, as a server that closed before answering looks to the app.
  void abortConnection(bool reset = true) noexcept;
  // A local reply (status + detail code + message), Cosmos-style JSON body. A 429 carries
  // x-ms-retry-after-ms = retry_after_ms.
  void localReply(const common::Status& status, bool close, uint64_t retry_after_ms = 0) noexcept;
  // The TLS SNI name of this connection ("" for plain HTTP).
  std::string serverName() const noexcept;
  // "https://localhost:8081" — the origin the app used to reach us.
  std::string ownOrigin(const common::HeaderMap& request_headers) const noexcept;

  // Transport::Handler
  void onTransportReady() noexcept override;
  void onTransportData(std::string_view data) noexcept override;
  void onTransportEof(bool clean) noexcept override;
  void onTransportError(const common::Status& status) noexcept override;
  void onTransportDrained() noexcept override;
  void onTransportBelowLowWatermark() noexcept override;
  void onTransportTimer() noexcept override;
  void onTransportClosed() noexcept override;
  // Http1Parser::Handler
  common::Status onMessageHead(MessageHead& head) noexcept override;
  common::Status onMessageBody(std::string_view data) noexcept override;
  common::Status onMessageComplete() noexcept override;

 private:
  // kHolding: the exchange's admission waits for the tenant's keys (Admission::hold); the parser
  // stopped after the head and the timer polls Exchange::resumeAdmission every kHoldPollMs.
  enum class Phase : uint8_t { kIdle, kHead, kBody, kHolding, kWaiting, kClosing };

  // What follows an admission decided (at once or after a hold): a refusal to answer after the
  // body, or 100 Continue. A non-OK return is a refusal that closes the connection.
  common::Status afterAdmission(Admission admission, bool has_body, bool expect_continue) noexcept;
  // Timer in kHolding: asks the exchange again; once decided, the parser goes on with the body.
  void pollHold() noexcept;
  // The body phase begins (its timer starts now: a held request's wait is not the app's).
  void startBody() noexcept;

  void armIdle() noexcept;
  // Body phase: the timer fires at the earlier of the body timeout (since the last read) and the
  // minimum-rate deadline (timeouts.min_body_rate; see bodyRateDeadline).
  void armBodyTimer() noexcept;
  // Loop time (ms) by which the body read so far must have arrived at timeouts.min_body_rate:
  // start + grace + bytes / rate. UINT64_MAX when no minimum applies.
  uint64_t bodyRateDeadline() const noexcept;
  void handleParseError(const common::Status& status) noexcept;
  void recordUnparsed(const common::Status& status) noexcept;
  void logOriginalDestination() noexcept;
  void noteUnfinishedHead() noexcept;
  void retire() noexcept;

  Worker* worker_;
  int region_ = -1;
  Transport transport_;
  Http1Parser parser_;
  std::unique_ptr<Exchange> exchange_;
  // Finished exchanges, deleted at the start of the next libuv callback (never inside their own
  // call stack).
  std::vector<std::unique_ptr<Exchange>> retired_;
  Phase phase_ = Phase::kIdle;
  // A request refused at its head (auth, rules, throttling, policy) whose body is read and
  // discarded so the keep-alive connection survives; answered when the message completes.
  common::Status refusal_;
  uint64_t refusal_retry_ms_ = 0;
  uint64_t discarded_ = 0;
  bool close_after_response_ = false;
  bool held_expect_continue_ = false;  // kHolding: the held request asked for 100 Continue
  bool counted_ = false;
  bool admitted_ = false;  // accepted and served (not refused at accept)
  uint64_t requests_ = 0;
  // The body being read (the current request's, or a refused one's being discarded).
  uint64_t body_started_ms_ = 0;
  uint64_t body_last_read_ms_ = 0;
  uint64_t body_bytes_ = 0;
  std::string original_destination_;  // transparent mode: "ip:port" before the redirect
};

}  // namespace cosmoseal::proxy
