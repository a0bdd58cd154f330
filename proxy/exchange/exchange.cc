#include "proxy/exchange/exchange.h"

#include <uv.h>

#include "common/assert.h"
#include "common/log.h"
#include "common/secret_bytes.h"
#include "proxy/admission/details.h"
#include "proxy/admission/rules.h"
#include "proxy/exchange/details.h"
#include "proxy/exchange/downstream_connection.h"
#include "proxy/exchange/record.h"
#include "proxy/upstream/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

const char* exchangePhaseName(ExchangePhase phase) noexcept {
  switch (phase) {
    case ExchangePhase::kAdmitting:
      return "admitting";
    case ExchangePhase::kReceivingBody:
      return "receiving_body";
    case ExchangePhase::kResolvingNames:
      return "resolving_names";
    case ExchangePhase::kResolvingPartitionKey:
      return "resolving_partition_key";
    case ExchangePhase::kResolvingRoutes:
      return "resolving_routes";
    case ExchangePhase::kFanningOut:
      return "fanning_out";
    case ExchangePhase::kConnecting:
      return "connecting";
    case ExchangePhase::kAwaitingResponse:
      return "awaiting_response";
    case ExchangePhase::kBufferingResponse:
      return "buffering_response";
    case ExchangePhase::kResponding:
      return "responding";
    case ExchangePhase::kAborted:
      return "aborted";
    case ExchangePhase::kFinished:
      return "finished";
  }
  return "?";
}

bool exchangePhaseCanMove(ExchangePhase from, ExchangePhase to) noexcept {
  using P = ExchangePhase;
  if (from == P::kFinished) return false;
  if (to == P::kAborted || to == P::kFinished) return true;
  switch (from) {
    case P::kAdmitting:
      return to == P::kReceivingBody;
    case P::kReceivingBody:
      return to == P::kResolvingNames || to == P::kResolvingPartitionKey ||
             to == P::kResolvingRoutes || to == P::kFanningOut || to == P::kConnecting;
    case P::kResolvingNames:
      return to == P::kResolvingPartitionKey || to == P::kResolvingRoutes ||
             to == P::kFanningOut || to == P::kConnecting;
    case P::kResolvingPartitionKey:
      return to == P::kResolvingRoutes || to == P::kFanningOut || to == P::kConnecting;
    case P::kResolvingRoutes:
      return to == P::kFanningOut || to == P::kConnecting;
    case P::kFanningOut:
      return to == P::kBufferingResponse;
    case P::kConnecting:
      return to == P::kAwaitingResponse;
    case P::kAwaitingResponse:
      // Retry on a fresh connection; or the head decides between buffering and streaming.
      return to == P::kConnecting || to == P::kBufferingResponse || to == P::kResponding;
    case P::kBufferingResponse:
      return to == P::kResponding;
    case P::kResponding:
    case P::kAborted:
    case P::kFinished:
      return false;
  }
  return false;
}

Exchange::Exchange(DownstreamConnection* conn, ExchangeContext context, MessageHead head)
    : conn_(conn),
      ctx_(std::move(context)),
      head_(std::move(head)),
      body_charge_(ctx_.buffers),
      response_charge_(ctx_.buffers),
      started_ns_(uv_hrtime()) {}

Exchange::~Exchange() {
  abort();
  finish(499, exchange_detail::kClientClosed);
  releaseBuffers();
  // A request refused before its transform still holds a protected partition-key value in the
  // clear; the header blocks are freed unwiped, so wipe it (after finish(): nothing reads it).
  if (const std::string_view* pk = head_.headers.get("x-ms-documentdb-partitionkey")) {
    common::secureZero(const_cast<char*>(pk->data()), pk->size());
  }
}

void Exchange::releaseBuffers() noexcept {
  // The whole block of each (not only size()): bytes past size() may be left from a transform.
  for (std::string* b : {&body_, &response_body_}) common::wipeAndFree(b);
  body_charge_.resize(0, 0);
  response_charge_.resize(0, 0);
}

Status Exchange::chargeBuffer(BufferCharge* charge, uint64_t total) noexcept {
  return proxy::chargeBuffer(ctx_, charge, total);
}

void Exchange::finish(int status, std::string_view detail) noexcept {
  if (phase_ == ExchangePhase::kFinished) return;
  moveTo(ExchangePhase::kFinished);
  ticket_.reset();  // the in-flight slot is free as soon as the answer is given
  ExchangeSummary summary;
  summary.route = routed_ ? &route_ : nullptr;
  summary.client = client_ != nullptr ? std::string_view(client_->name) : "";
  summary.identity = identity_;
  summary.method = head_.method;
  summary.status = status;
  summary.detail = detail;
  summary.upstream_status = response_.status;
  summary.latency_us = (uv_hrtime() - started_ns_) / 1000;
  summary.upstream_us = upstream_ns_ / 1000;
  summary.request_charge = response_.headers.getOr("x-ms-request-charge", "");
  summary.transform = &transform_stats_;
  ctx_.metrics->record(requestSample(summary));
  if (transform_stats_.lookalikes != 0) {
    COSMOSEAL_LOG(kDebug) << transform_stats_.lookalikes << " envelope look-alike string(s) left "
                          << "as they were in " << head_.method << " " << head_.target;
  }
  AuditLog* audit = ctx_.audit;
  if (audit == nullptr) return;
  const int64_t time_ms =
      ctx_.clock->unixSeconds() * 1000 + static_cast<int64_t>((uv_hrtime() / 1000000) % 1000);
  AuditRecord r = auditRecord(summary, time_ms);
  if (audit_slot_.valid()) {
    audit_slot_.submit(r);
  } else if (!audit->required()) {
    auto slot = audit->admit();
    if (slot.isOk()) slot->submit(r);
  }
}

Admission Exchange::start() noexcept {
  // A refusal keeps the connection unless it is about the message itself.
  auto refuse = [](Status s) { return Admission{std::move(s), false}; };
  auto refuseAndClose = [](Status s) { return Admission{std::move(s), true}; };
  const ConfigSnapshot& rt = *ctx_.state->snapshot;
  const Config& cfg = rt.config();
  if (ctx_.audit != nullptr) {
    // Reserve the audit line before anything happens: with audit.required, no unaudited access.
    auto slot = ctx_.audit->admit();
    if (!slot.isOk()) return refuse(slot.status());
    audit_slot_ = std::move(slot).value();
  }
  auto route = policy::classifyRequest(head_.method, head_.target, head_.headers);
  if (!route.isOk()) return refuseAndClose(route.status());  // unroutable target
  route_ = std::move(route).value();
  routed_ = true;
  if (head_.target.size() > 1 && head_.target[0] == '/' && head_.target[1] == '/') {
    // Redundant leading slashes ("//dbs/..."), which Cosmos accepts: forward the path that was
    // routed and signed (route_.path), with the query string as received.
    const size_t first = head_.target.find_first_not_of('/');
    head_.target.erase(0, (first == std::string::npos ? head_.target.size() : first) - 1);
  }
  // Direct mode would send documents straight to the backend replicas, in plaintext and around
  // the sidecar. Refused before authentication: SDKs sign /addresses with another link, and the
  // answer (switch to Gateway mode) is the same for everyone.
  if (route_.kind == policy::ResourceKind::kAddresses) {
    return refuse(policy::decideRoute(route_, rt.policies().get()).rejection);
  }
  if (cfg.listen.mode == ListenMode::kTransparent) {
    // The intercepted connection was accepted for its SNI name: the Host header must name the
    // same host (no domain fronting to another account through the interception certificate).
    const std::string sni = conn_->serverName();
    std::string_view host = head_.headers.getOr("host", "");
    if (!host.empty() && host.front() != '[') host = host.substr(0, host.find(':'));
    if (sni.empty() || !common::equalsIgnoreCase(host, sni)) {
      return refuse(
          Status(Code::kInvalidArgument, exchange_detail::kHostMismatch,
                 "the Host header does not match the TLS server name of this connection"));
    }
  }
  // Sign with the segments the strict classifier decoded: routing and signing read one path.
  resource_ = crypto::cosmosResourceFromSegments(route_.segments);
  resource_.by_rid = route_.rid_like;
  // An Entra ID token carries its own validity, and the SDKs send it without x-ms-date; the
  // upstream signature (account key) covers a date, so such a request gets the sidecar's own.
  if (!head_.headers.has("x-ms-date") && !head_.headers.has("date")) {
    const std::string_view auth = head_.headers.getOr("authorization", "");
    if (auth.starts_with("type%3Daad%26") || auth.starts_with("type=aad&")) {
      head_.headers.add("x-ms-date", crypto::formatHttpDate(ctx_.clock->unixSeconds()));
    }
  }

  return admitClient();
}

Admission Exchange::resumeAdmission() noexcept {
  if (!holding_) return admitClient();
  const JwksCache* keys = ctx_.state->snapshot->entraKeys().get();
  const bool moved = keys == nullptr || keys->generation() >= hold_generation_;
  if (!moved && uv_hrtime() < hold_deadline_ns_) return Admission{Status::ok(), false, true};
  hold_timed_out_ = !moved;
  endHold();
  return admitClient();
}

void Exchange::endHold() noexcept {
  if (!holding_) return;
  holding_ = false;
  ctx_.stats->dec(ctx_.stats->entra_kid_held);
}

Admission Exchange::onUnknownKid(const Status& status) noexcept {
  WorkerStats& st = *ctx_.stats;
  const Config& cfg = config();
  const JwksCache* keys = ctx_.state->snapshot->entraKeys().get();
  if (hold_spent_) {
    // Authenticated again after the hold: still unknown. Say why, for the log line of the reply.
    st.inc(st.entra_kid_refused_after_wait);
    const auto waited_ms = (uv_hrtime() - hold_started_ns_) / 1000000;
    std::string why;
    if (hold_timed_out_) {
      why = "the tenant's signing keys were not refreshed within entra.unknown_kid_wait";
    } else if (keys != nullptr && keys->lastFetchFailed()) {
      why = "the refresh of the tenant's signing keys failed (see the log)";
    } else {
      why = "the refreshed signing keys of the tenant do not hold it either";
    }
    return Admission{Status(status.code(), status.detail(),
                            std::string(status.message()) + "; " + why + " (held " +
                                std::to_string(waited_ms) + " ms)"),
                     false};
  }
  const uint64_t generation = ctx_.state->auth.unknownKidGeneration();
  const auto wait = cfg.entra ? cfg.entra->unknown_kid_wait : std::chrono::milliseconds(0);
  if (generation == 0 || wait.count() == 0) {
    // No refresh to wait for (rate-limited: bogus kids cannot park requests), or waits are off.
    st.inc(st.entra_kid_refused_at_once);
    return Admission{status, false};
  }
  if (st.entra_kid_held.load(std::memory_order_relaxed) >= cfg.entra->unknown_kid_max_held) {
    st.inc(st.entra_kid_refused_busy);
    return Admission{Status(status.code(), status.detail(),
                            std::string(status.message()) +
                                "; too many requests are already waiting for the tenant's keys "
                                "(entra.unknown_kid_max_held)"),
                     false};
  }
  holding_ = true;
  hold_spent_ = true;
  hold_generation_ = generation;
  hold_started_ns_ = uv_hrtime();
  hold_deadline_ns_ =
      hold_started_ns_ +
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count());
  st.inc(st.entra_kid_held);
  st.inc(st.entra_kid_holds);
  return Admission{Status::ok(), false, true};
}

Admission Exchange::admitClient() noexcept {
  auto refuse = [](Status s) { return Admission{std::move(s), false}; };
  auto refuseAndClose = [](Status s) { return Admission{std::move(s), true}; };
  const ConfigSnapshot& rt = *ctx_.state->snapshot;
  const Config& cfg = rt.config();
  auto client = ctx_.state->auth.verify(head_.method, resource_, head_.headers,
                                        ctx_.clock->unixSeconds(), &string_to_sign_, &identity_);
  if (!client.isOk()) {
    if (client.status().detail() == admission_detail::kTokenKeyUnknown) {
      return onUnknownKid(client.status());
    }
    return refuse(client.status());
  }
  if (hold_spent_) ctx_.stats->inc(ctx_.stats->entra_kid_served_after_wait);
  client_ = *client;
  // Entra ID upstream without a usable token: 503 now, before the body is read (never sent
  // unauthenticated). The margin covers reading the body and connecting.
  if (Status s = ctx_.state->auth.upstreamReady(kUpstreamTokenMargin); !s.isOk()) {
    return refuse(std::move(s));
  }
  if (ctx_.region >= 0) {
    // A region port: forwarded to that region's own endpoint, learned from account discovery.
    if (Status s = chooseRegion(); !s.isOk()) return refuse(std::move(s));
  } else if (cfg.listen.mode == ListenMode::kTransparent) {
    chooseRegionByHost(conn_->serverName());
  }
  // Addressed by RIDs (unless a policy names these very segments): rules and policies are
  // written with names. Unknown names are read from the service once the body is in.
  if (route_.rid_like &&
      !(route_.inContainer() && rt.policies()->find(route_.database, route_.container))) {
    names_pending_ = !namesFromCache();
  }
  if (!names_pending_) {
    if (Status s = checkAccess(*client_->config, route_); !s.isOk()) return refuse(std::move(s));
  }
  auto ticket = ctx_.throttle->admit(client_->name, ctx_.clock->monotonicNanos(), &retry_after_ms_);
  if (!ticket.isOk()) return refuse(ticket.status());
  ticket_ = std::move(ticket).value();

  if (!names_pending_) {
    decision_ = policy::decideRoute(route_, rt.policies().get());
    // The router refuses what it cannot classify safely on a protected container: like an
    // unroutable target.
    if (decision_.action == policy::RouteDecision::Action::kReject) {
      return refuseAndClose(decision_.rejection);
    }
  }

  if (head_.framing == Framing::kContentLength &&
      head_.content_length > cfg.limits.max_body_bytes) {
    return refuseAndClose(Status(Code::kTooLarge, exchange_detail::kBodyTooLarge,
                                 "request body of " + std::to_string(head_.content_length) +
                                     " bytes is over the limit of " +
                                     std::to_string(cfg.limits.max_body_bytes)));
  }
  if (head_.framing == Framing::kContentLength) {
    // The whole announced body is charged up front: refused now, before a byte of it is read.
    Status s = chargeBuffer(&body_charge_, head_.content_length + kJsonPadding);
    if (!s.isOk()) return refuseAndClose(std::move(s));  // over the buffer budget
    body_.reserve(static_cast<size_t>(head_.content_length) + kJsonPadding);
  }
  moveTo(ExchangePhase::kReceivingBody);
  return Admission{};
}

bool Exchange::retryOnFreshConnection(const Status& status, UpstreamFailure kind,
                                      bool response_started, bool was_reused) noexcept {
  WorkerStats& st = *ctx_.stats;
  if (!response_started && was_reused && !retried_ && isIdempotent(head_.method) &&
      kind == UpstreamFailure::kConnectionLost) {
    // A pooled connection the server had just closed: retry once, on a fresh connection, and
    // only for idempotent requests (writes are never retried by cosmoseal).
    retried_ = true;
    st.inc(st.upstream_retries);
    COSMOSEAL_LOG(kInfo) << "retrying " << head_.method << " " << head_.target
                         << " on a fresh upstream connection (" << status.detail() << ")";
    return true;
  }
  st.inc(st.upstream_errors);
  COSMOSEAL_LOG(kWarn) << "upstream error for " << head_.method << " " << head_.target << ": "
                       << status.toString();
  return false;
}

void Exchange::onUpstreamFailed(const Status& status, UpstreamFailure kind,
                                bool response_started) noexcept {
  const bool was_reused = upstream_ != nullptr && upstream_->reused();
  upstream_ = nullptr;
  if (retryOnFreshConnection(status, kind, response_started, was_reused)) {
    sendUpstream();
    return;
  }
  const bool responding = phase_ == ExchangePhase::kResponding;
  // Nothing is pending upstream any more: a reset or a local reply ends the exchange.
  moveTo(ExchangePhase::kAborted);
  if (responding) {
    conn_->abortConnection();
    return;
  }
  if (kind == UpstreamFailure::kConnect && region_ != nullptr) {
    conn_->localReply(regionUnreachable(status), false);
    return;
  }
  if (region_ != nullptr && !response_started && kind == UpstreamFailure::kConnectionLost) {
    finish(502, status.detail());
    conn_->abortConnection(false);
    return;
  }
  conn_->localReply(status, false);
}

void Exchange::onUpstreamDrained() noexcept {}

void Exchange::onDownstreamDrained() noexcept {
  if (upstream_paused_ && upstream_ != nullptr) {
    upstream_->resumeReading();
    upstream_paused_ = false;
  }
}

void Exchange::releaseUpstream(bool reusable) noexcept {
  if (upstream_ == nullptr) return;
  UpstreamConnection* u = upstream_;
  upstream_ = nullptr;
  if (upstream_paused_) u->resumeReading();
  upstream_paused_ = false;
  ctx_.pool->release(u, reusable);
}

void Exchange::abort() noexcept {
  endHold();
  if (phase_ == ExchangePhase::kConnecting) ctx_.pool->cancel(this);
  if (metadata_fetch_) metadata_fetch_->abort();
  if (routing_fetch_) routing_fetch_->abort();
  if (fanout_fetch_) fanout_fetch_->abort();
  for (auto& fetch : name_fetches_) {
    if (fetch) fetch->abort();
  }
  releaseUpstream(false);
  if (phase_ != ExchangePhase::kFinished) moveTo(ExchangePhase::kAborted);
}

Status Exchange::chooseRegion() noexcept {
  region_ = ctx_.regions != nullptr ? ctx_.regions->endpoint(ctx_.region) : nullptr;
  if (region_ == nullptr) {
    return Status(Code::kUnavailable, upstream_detail::kRegionUnknown,
                  "no account region is known for this region port yet (cosmoseal learns them "
                  "from account discovery, GET / on the main port)");
  }
  const UpstreamTarget& main = ctx_.state->snapshot->upstream();
  regional_target_ = main;
  regional_target_->host = region_->host;
  regional_target_->port = region_->port;  // TLS verifies the regional host name (SNI too)
  ctx_.regions->countRequest(region_->slot);
  return Status::ok();
}

Status Exchange::regionUnreachable(const Status& cause) const {
  std::string message = "the " + region_->name + " region (" + region_->host_header +
                        ") cannot be reached: " + std::string(cause.message()) +
                        "; nothing was sent";
  COSMOSEAL_LOG(kWarn) << message << " (" << cause.detail() << ")";
  // A read-only operation (queries included, though they are POSTs) may go to another region; a
  // write must go to the write region, which the SDK looks up again on WriteForbidden.
  if (routed_ && policy::isReadOnly(route_.op)) {
    return Status(Code::kUnavailable, upstream_detail::kRegionReadUnreachable, std::move(message));
  }
  return Status(Code::kPermissionDenied, upstream_detail::kRegionWriteUnreachable,
                std::move(message) + "; look up the account's write region again");
}

void Exchange::chooseRegionByHost(std::string_view sni) noexcept {
  const UpstreamTarget& main = ctx_.state->snapshot->upstream();
  if (ctx_.regions == nullptr || sni.empty() || common::equalsIgnoreCase(sni, main.host)) return;
  region_ = ctx_.regions->endpointForHost(sni);
  if (region_ == nullptr) return;  // not named by discovery (yet): upstream.endpoint, as before
  regional_target_ = main;
  regional_target_->host = region_->host;
  regional_target_->port = region_->port;
}

const UpstreamTarget& Exchange::upstreamTarget() const noexcept {
  return regional_target_ ? *regional_target_ : ctx_.state->snapshot->upstream();
}

const std::string& Exchange::upstreamHostHeader() const noexcept {
  return region_ ? region_->host_header : ctx_.state->snapshot->upstreamHostHeader();
}

void Exchange::moveTo(ExchangePhase next) noexcept {
  // Not peer-controlled: a move the table does not allow is a bug in the exchange itself.
  if (!exchangePhaseCanMove(phase_, next)) COSMOSEAL_BUG("exchange phase moved out of order");
  phase_ = next;
}

}  // namespace cosmoseal::proxy
