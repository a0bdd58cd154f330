#pragma once

// Exchange: one request/response through the sidecar: classify, authenticate, collect the body,
// re-sign, send upstream over a pooled connection, stream or buffer the response back, rewrite
// what must be rewritten (account discovery, Content-Location).
//
// One class, three files along the life of a request:
//   exchange.cc  admission (start), upstream failures, finish (metrics + audit), teardown;
//   request.cc   body collection, partition-key plan, request transform, upstream head, re-signing;
//   response.cc  upstream head and body, decryption, discovery rewrite, streaming vs buffering;
//   routing.cc   protected partition keys on many ranges: the routing map, range ids, EPK
//                bounds and session tokens recomputed from the sealed key, bulk regrouped per
//                real range (docs/ROUTING.md).
//
// Lifetimes: a DownstreamConnection owns at most one live Exchange; a finished Exchange is retired
// and deleted on the next event, never inside its own call stack. The exchange borrows an
// UpstreamConnection from the worker's pool between onUpstreamReady and release.
//
// Thread affinity: the worker loop that accepted the connection. Everything is noexcept: it runs
// from libuv callbacks.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "crypto/cosmos_auth.h"
#include "policy/json/transformer.h"
#include "policy/route/route.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/admission/throttle.h"
#include "proxy/exchange/context.h"
#include "proxy/exchange/metadata_fetch.h"
#include "proxy/exchange/routing_map_cache.h"
#include "proxy/http1/codec.h"
#include "proxy/upstream/pool.h"
#include "proxy/upstream/region_table.h"

namespace cosmoseal::proxy {

class DownstreamConnection;

// The answer of Exchange::start() to a request head.
struct Admission {
  common::Status status;  // OK: admitted
  // A refusal about the message itself (unroutable target, body over a limit or over the buffer
  // budget): answered at once and the connection closed. Other refusals (auth, rules,
  // throttling, policy) keep the connection: the body is read, discarded, then answered.
  bool closes_connection = false;
  // Not decided yet: the app's Entra ID token names a signing key the sidecar does not hold, and
  // a refresh of the tenant's keys it can wait for was asked (proxy/admission/auth.h, "Unknown
  // kid"). The connection reads nothing more of the request and calls resumeAdmission() on its
  // timer until the answer is something else (status is OK while holding).
  bool hold = false;
};

// Where an exchange is in its life. Forward only, except that a retried request goes back to
// kConnecting. kAborted and kFinished can follow any phase.
enum class ExchangePhase : uint8_t {
  kAdmitting,              // head received; start() classifies, authenticates, decides (or
                           // holds for the tenant's keys: resumeAdmission)
  kReceivingBody,          // admitted; the request body is arriving
  kResolvingNames,         // MetadataFetches read the names behind a RID-addressed route
  kResolvingPartitionKey,  // a MetadataFetch reads the container's partition-key paths
  kResolvingRoutes,        // MetadataFetches read the container's definition and pkranges
  kFanningOut,             // a bulk regrouped per real range: one upstream request per range
  kConnecting,             // waiting for an upstream connection (pooled or fresh)
  kAwaitingResponse,       // request written upstream, no response head yet
  kBufferingResponse,      // response head in; the body is collected to be read (decrypt, rewrite)
  kResponding,             // the response head went to the app; its body follows
  kAborted,                // the app went away or a local reply replaced the response
  kFinished,               // outcome recorded (metrics + audit); waits to be deleted
};

const char* exchangePhaseName(ExchangePhase phase) noexcept;
// Whether an exchange may move from `from` to `to` (a move it does not allow is a COSMOSEAL_BUG).
bool exchangePhaseCanMove(ExchangePhase from, ExchangePhase to) noexcept;

class Exchange final : public UpstreamUser, private MetadataFetch::Callbacks {
 public:
  // `context` is built by the worker for this request; `conn` outlives the exchange.
  Exchange(DownstreamConnection* conn, ExchangeContext context, MessageHead head);
  ~Exchange() override;

  // Head received: classify, authenticate, decide. A refusal becomes a local reply; see Admission.
  Admission start() noexcept;
  // After an Admission with `hold`: authenticates again once the tenant's key set has moved on
  // (or the wait, entra.unknown_kid_wait, is over); answers `hold` again while neither happened.
  // Cheap while holding (two loads): the connection polls it every few milliseconds.
  Admission resumeAdmission() noexcept;
  common::Status onRequestBody(std::string_view data) noexcept;
  void onRequestComplete() noexcept;
  // The downstream connection is going away: drop the upstream side.
  void abort() noexcept;
  // Records the outcome once (metrics + audit line): status sent to the app and the detail code
  // of a local reply ("" for a proxied response). Later calls are ignored; an exchange destroyed
  // without one is recorded as 499 client_closed.
  void finish(int status, std::string_view detail) noexcept;
  // Downstream write buffer drained (backpressure release).
  void onDownstreamDrained() noexcept;

  bool expectsBody() const noexcept { return head_.framing != Framing::kNone; }
  // x-ms-retry-after-ms advice when start() refused with 429.
  uint64_t retryAfterMs() const noexcept { return retry_after_ms_; }
  bool responseStarted() const noexcept { return phase_ == ExchangePhase::kResponding; }
  ExchangePhase phase() const noexcept { return phase_; }
  // The response is written: wipe and free the buffered bodies (they may hold plaintext) and
  // return their share of limits.max_buffered_bytes before the exchange waits to be deleted.
  void releaseBuffers() noexcept;

  // UpstreamUser
  void onUpstreamReady(UpstreamConnection* conn) noexcept override;
  void onUpstreamFailed(const common::Status& status, UpstreamFailure kind,
                        bool response_started) noexcept override;
  common::Status onUpstreamHead(MessageHead& head) noexcept override;
  common::Status onUpstreamBody(std::string_view data) noexcept override;
  void onUpstreamComplete() noexcept override;
  void onUpstreamDrained() noexcept override;

 private:
  // start() from the app's credential on: authenticate, upstream credential, region, rules,
  // throttle, route decision, body limits.
  Admission admitClient() noexcept;
  // verify() answered auth.token_key_unknown: hold (Admission::hold) or refuse.
  Admission onUnknownKid(const common::Status& status) noexcept;
  // The hold is over (resumed or aborted): its slot of entra.unknown_kid_max_held is free.
  void endHold() noexcept;
  bool needsPartitionKeyPlan() const noexcept;
  // Partition-key plan, request transform, then the upstream request.
  void continueRequest() noexcept;
  common::Status resolvePartitionKeyPlan() noexcept;
  // RID-addressed routes: maps route_'s RIDs to names from the cache (false: unknown, fetch them).
  bool namesFromCache() noexcept;
  enum class NameStep : uint8_t { kNone, kCollection, kDatabase };
  void fetchNames(NameStep step) noexcept;
  void onNamesFetched(int status, const std::string& body) noexcept;
  // MetadataFetch::Callbacks
  void onMetadataFetched(int status, std::string body) noexcept override;
  void onMetadataFailed(const common::Status& status, UpstreamFailure kind, bool response_started,
                        bool was_reused) noexcept override;
  // Counts and logs an upstream failure, or decides to retry it once on a fresh connection
  // (true: the caller sends again).
  bool retryOnFreshConnection(const common::Status& status, UpstreamFailure kind,
                              bool response_started, bool was_reused) noexcept;
  void learnFromMetadata(std::string_view body) noexcept;
  common::Status transformRequest() noexcept;

  // Routing on protected partition keys (routing.cc). Whether this request carries something an
  // SDK computed from the plaintext key (range id, EPK bounds, a session token chosen by range).
  bool carriesRoutingHeaders() const noexcept;
  bool needsRouting() const noexcept;
  // The container's routing map is loaded and fresh (false: a read was started, or failed and
  // was answered; the exchange resumes in continueRequest()).
  bool routingReady() noexcept;
  enum class RoutingStep : uint8_t { kNone, kCollection, kPkRanges };
  void fetchRouting(RoutingStep step) noexcept;
  void onRoutingFetched(int status, const std::string& body) noexcept;
  // Recomputes range id, EPK bounds and session token from the sealed key; may plan a fan-out.
  // *reload: the map must be reloaded first (an unknown range id or boundary).
  common::Status applyRouting(bool* reload) noexcept;
  // The session token to send for a real range: the latest seen upstream, else the app's own
  // for that range, else none ("").
  std::string sessionTokenFor(std::string_view range_id) const noexcept;
  // After an upstream answer of a protected container: session tokens, stale maps and stale
  // learned paths (P5).
  void learnFromAnswer(const MessageHead& answer) noexcept;
  // P5: a 400 saying the partition key does not match the document (learned paths only).
  void checkPartitionKeyMismatch() noexcept;
  common::Status regroupFanOut() noexcept;
  void sendFanOutPart() noexcept;
  void onFanOutAnswer(int status, std::string body) noexcept;
  void finishFanOut() noexcept;
  // crypto.key_budget when a randomized key of `policy` has spent its budget.
  common::Status checkKeyBudget(const policy::ContainerPolicy& policy) noexcept;
  // Whose fault a failed buffered response is: the upstream's answer (an unreadable account
  // document, or no budget to hold it: counted as an upstream error) or the data in it (an
  // envelope that does not open, a listing that cannot be filtered).
  enum class ResponseFault : uint8_t { kUpstream, kData };
  // Decrypts a buffered response of a protected container (the shape follows the operation).
  common::Status decryptResponse(std::string* body, ResponseFault* fault) noexcept;
  void sendUpstream() noexcept;
  // Where this request goes: the regional endpoint of the region port it arrived on, else
  // upstream.endpoint (both with the snapshot's TLS client context and timeouts).
  const UpstreamTarget& upstreamTarget() const noexcept;
  // Admission on a region port: picks region_ (503 upstream.region_unknown when none yet).
  common::Status chooseRegion() noexcept;
  // The reply when the regional endpoint (region_) could not be reached and nothing was sent:
  // 403/3 for a write, 503 for a read (upstream_detail::kRegionWriteUnreachable).
  common::Status regionUnreachable(const common::Status& cause) const;
  // Transparent mode: a connection for a regional host name discovery named (SNI, checked
  // against Host) goes to that region's endpoint; any other keeps upstream.endpoint.
  void chooseRegionByHost(std::string_view sni) noexcept;
  const std::string& upstreamHostHeader() const noexcept;
  void buildUpstreamHead(std::string* out) noexcept;
  void startResponse(int status, std::string_view reason, const common::HeaderMap& headers,
                     Framing framing, uint64_t content_length) noexcept;
  common::Status finishBufferedResponse(ResponseFault* fault) noexcept;
  void releaseUpstream(bool reusable) noexcept;
  // Sets *charge to `total` bytes of limits.max_buffered_bytes, or 503 overload.buffer_budget.
  common::Status chargeBuffer(BufferCharge* charge, uint64_t total) noexcept;
  void moveTo(ExchangePhase next) noexcept;
  bool hashesOnlyUnprotectedPrefix(std::string_view bound) const noexcept;
  const std::vector<const policy::FieldRule*>& pkRules() const noexcept {
    static const std::vector<const policy::FieldRule*> kNoPlan;
    return pk_rules_.has_value() ? *pk_rules_ : kNoPlan;
  }
  const Config& config() const noexcept { return ctx_.state->snapshot->config(); }

  // simdjson needs this many readable bytes past the end of a buffer it parses in place.
  static constexpr size_t kJsonPadding = 64;

  DownstreamConnection* conn_;
  ExchangeContext ctx_;
  MessageHead head_;
  policy::Route route_;
  policy::RouteDecision decision_;
  crypto::CosmosResource resource_;
  const ClientEntry* client_ = nullptr;
  std::string string_to_sign_;  // what the app signed, verified; the account signs it too
  std::string identity_;        // the Entra ID identity of the app's token (audit), or ""
  ThrottleTicket ticket_;       // this client's in-flight slot, released with the exchange
  uint64_t retry_after_ms_ = 0;
  // Held for the tenant's keys (Admission::hold): until the key set reaches hold_generation_ or
  // uv_hrtime() passes hold_deadline_ns_. One hold per request (hold_spent_).
  bool holding_ = false;
  bool hold_spent_ = false;
  bool hold_timed_out_ = false;
  uint64_t hold_generation_ = 0;
  uint64_t hold_deadline_ns_ = 0;
  uint64_t hold_started_ns_ = 0;
  AuditSlot audit_slot_;  // reserved at admission (audit.required), consumed by finish()
  ExchangePhase phase_ = ExchangePhase::kAdmitting;
  bool routed_ = false;  // route_ is valid (classification succeeded)
  uint64_t upstream_start_ns_ = 0;
  uint64_t upstream_ns_ = 0;  // time spent on the upstream exchange
  std::string body_;          // buffered request body
  BufferCharge body_charge_;  // body_ (and its transformed copy while both exist)
  // Reads the container's metadata when the partition-key paths are unknown; kept until the
  // exchange is deleted (never deleted inside its own callback).
  std::unique_ptr<MetadataFetch> metadata_fetch_;
  // A RID-addressed route whose names were not cached: rules and the route decision wait until
  // fetchNames() has read them (the collection, then its database), before anything is sent.
  bool names_pending_ = false;
  NameStep name_step_ = NameStep::kNone;
  std::string fetched_container_;                   // the collection's name, between the two reads
  std::unique_ptr<MetadataFetch> name_fetches_[2];  // [0] collection, [1] database
  // Per partition-key component: the rule protecting it, or nullptr. Empty until the plan is
  // made (only requests that carry or write partition keys of a protected container need one).
  std::optional<std::vector<const policy::FieldRule*>> pk_rules_;
  // Options for the response: learn_metadata_ and listing_member_ are decided on the response
  // head, rows_are_documents_ by the query rewrite.
  bool learn_metadata_ = false;             // tap database/collection metadata (keys, RIDs)
  const char* listing_member_ = nullptr;    // filter this array of a listing response
  policy::TransformStats transform_stats_;  // fields encrypted/decrypted, key ids
  bool rows_are_documents_ = false;         // a SELECT * query: strict path checks on Documents

  // Routing (routing.cc).
  bool transformed_ = false;  // transformRequest() ran (it may not run twice)
  RoutingStep routing_step_ = RoutingStep::kNone;
  bool routing_reloaded_ = false;  // the one reload per request is spent
  std::shared_ptr<const ContainerRouting> routing_;
  policy::PartitionKeyDefinition fetched_definition_;  // between the collection and pkranges reads
  std::string fetched_collection_rid_;
  std::unique_ptr<MetadataFetch> routing_fetch_;
  // A bulk regrouped per real range: the parts, in order of their first operation.
  struct FanOutPart {
    std::string range_id;
    std::vector<size_t> ops;  // indexes into the original operations
  };
  std::vector<FanOutPart> fanout_parts_;
  std::vector<std::string> fanout_ops_;      // the original operations, raw JSON
  std::vector<std::string> fanout_epks_;     // per original operation: its sealed key's EPK
  std::vector<size_t> fanout_pending_;       // operations to regroup after a map reload
  std::vector<std::string> fanout_results_;  // per original operation
  size_t fanout_next_ = 0;
  bool fanout_failed_op_ = false;
  double fanout_charge_ = 0;
  std::string fanout_sessions_;
  std::string range_id_prefix_;  // "collRid," when the app used that form
  std::unique_ptr<MetadataFetch> fanout_fetch_;
  // P5: a 400 whose body may say the partition key does not match (streamed: the first bytes).
  bool watch_pk_mismatch_ = false;
  std::string mismatch_probe_;

  UpstreamConnection* upstream_ = nullptr;  // lent by the pool from onUpstreamReady to release
  // The region of the port the request arrived on (null: the main port), as it was at admission.
  std::shared_ptr<const RegionEndpoint> region_;
  std::optional<UpstreamTarget> regional_target_;  // set with region_
  bool retried_ = false;                    // the one retry on a fresh connection is spent

  // Response.
  MessageHead response_;
  std::string response_body_;
  BufferCharge response_charge_;  // response_body_ (and its transformed copy)
  Framing downstream_framing_ = Framing::kNone;
  bool upstream_paused_ = false;  // reading stopped: the app is slower than the upstream
  uint64_t started_ns_ = 0;
};

}  // namespace cosmoseal::proxy
