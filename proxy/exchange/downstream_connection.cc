#include "proxy/exchange/exchange.h"

#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>

#include <cstring>

#include "common/log.h"
#include "policy/account_rewrite.h"
#include "policy/container_meta.h"
#include "policy/query/rewriter.h"
#include "crypto/keyring.h"
#include "policy/route/route.h"
#include "proxy/admission/rules.h"
#include "common/url.h"

namespace cosmoseal::proxy {

using common::Code;
using common::HeaderMap;
using common::Status;

namespace {

// Stop reading from the upstream while this much response data waits for a slow app.
constexpr size_t kDownstreamHighWater = 512 * 1024;
// Stop reading from the app while this many bytes of pipelined requests wait unparsed.
constexpr size_t kPipelineHighWater = 256 * 1024;
// Lingering close: how long we keep reading (and discarding) after our last response.
constexpr uint64_t kLingerMs = 2000;
// simdjson needs this many readable bytes past the end of a buffer it parses in place.
constexpr size_t kJsonPadding = 64;

const Config& configOf(const std::shared_ptr<ThreadState>& s) { return s->snapshot->config(); }

Http1Limits requestLimits(const Config& c) {
  Http1Limits l;
  l.max_head_bytes = c.limits.max_header_bytes;
  l.max_headers = c.limits.max_headers;
  l.max_uri_bytes = c.limits.max_uri_bytes;
  return l;
}


bool isIdempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS";
}

}  // namespace

// =====================================================================================
// Exchange
// =====================================================================================

Exchange::Exchange(DownstreamConnection* conn, std::shared_ptr<ThreadState> state,
                   MessageHead head)
    : conn_(conn),
      state_(std::move(state)),
      head_(std::move(head)),
      body_charge_(&conn->worker()->shared().buffers),
      response_charge_(&conn->worker()->shared().buffers),
      started_ns_(uv_hrtime()) {}

Exchange::~Exchange() {
  abort();
  finish(499, "client_closed");
  releaseBuffers();
}

void Exchange::releaseBuffers() noexcept {
  for (std::string* b : {&body_, &response_body_}) {
    common::secureZero(b->data(), b->size());
    std::string().swap(*b);
  }
  body_charge_.resize(0, 0);
  response_charge_.resize(0, 0);
}

Status Exchange::chargeBuffer(BufferCharge* charge, uint64_t total) noexcept {
  const uint64_t limit = configOf(state_).limits.max_buffered_bytes;
  if (charge->resize(total, limit)) return Status::ok();
  SharedState& shared = conn_->worker()->shared();
  return Status(Code::kUnavailable, "overload.buffer_budget",
                "the sidecar already holds " + std::to_string(shared.buffers.used()) +
                    " bytes of buffered bodies and this message needs " +
                    std::to_string(total - charge->bytes()) +
                    " more, over limits.max_buffered_bytes (" + std::to_string(limit) +
                    "); nothing was sent, try again");
}

void Exchange::finish(int status, std::string_view detail) noexcept {
  if (finished_) return;
  finished_ = true;
  ticket_.reset();  // the in-flight slot is free as soon as the answer is given
  const uint64_t latency_us = (uv_hrtime() - started_ns_) / 1000;
  const std::string_view op = routed_ ? policy::operationName(route_.op) : "unclassified";
  const std::string_view client = client_ != nullptr ? std::string_view(client_->name) : "";
  RequestSample sample;
  sample.client = client;
  sample.operation = op;
  sample.status = status;
  sample.detail = detail;
  sample.latency_us = latency_us;
  sample.upstream_us = upstream_ns_ / 1000;
  sample.encrypted = transform_stats_.encrypted;
  sample.decrypted = transform_stats_.decrypted;
  sample.lookalikes = transform_stats_.lookalikes;
  sample.plaintext_at_protected = transform_stats_.plaintext_at_protected;
  conn_->worker()->metrics().record(sample);
  if (transform_stats_.lookalikes != 0) {
    COSMOSEAL_LOG(kDebug) << transform_stats_.lookalikes << " envelope look-alike string(s) left "
                          << "as they were in " << head_.method << " " << head_.target;
  }
  AuditLog* audit = conn_->worker()->shared().audit.get();
  if (audit == nullptr) return;
  AuditRecord r;
  r.time_ms = conn_->worker()->shared().clock->unixSeconds() * 1000 +
              static_cast<int64_t>((uv_hrtime() / 1000000) % 1000);
  r.client = std::string(client);
  r.verb = head_.method;
  r.resource = routed_ ? policy::resourceKindName(route_.kind) : "unclassified";
  if (routed_) {
    r.database = route_.database;
    r.container = route_.container;
    r.id = route_.item_id;
  }
  r.operation = std::string(op);
  r.status = status;
  r.upstream_status = detail.empty() ? response_.status : 0;
  r.latency_us = latency_us;
  r.request_charge = response_.headers.getOr("x-ms-request-charge", "");
  r.encrypted = transform_stats_.encrypted;
  r.decrypted = transform_stats_.decrypted;
  r.detail = std::string(detail);
  for (uint8_t i = 0; i < transform_stats_.key_id_count; ++i) {
    r.key_ids.push_back(transform_stats_.key_ids[i]);
  }
  if (audit_slot_.valid()) {
    audit_slot_.submit(r);
  } else if (!audit->required()) {
    auto slot = audit->admit();
    if (slot.isOk()) slot->submit(r);
  }
}

Status Exchange::start() noexcept {
  const ConfigSnapshot& rt = *state_->snapshot;
  const Config& cfg = rt.config();
  SharedState& shared = conn_->worker()->shared();
  if (shared.audit) {
    // Reserve the audit line before anything happens: with audit.required, no unaudited access.
    auto slot = shared.audit->admit();
    if (!slot.isOk()) return slot.status();
    audit_slot_ = std::move(slot).value();
  }
  auto route = policy::classifyRequest(head_.method, head_.target, head_.headers);
  if (!route.isOk()) return route.status();
  route_ = std::move(route).value();
  routed_ = true;
  // Direct mode would send documents straight to the backend replicas, in plaintext and around
  // the sidecar. Refused before authentication: SDKs sign /addresses with another link, and the
  // answer (switch to Gateway mode) is the same for everyone.
  if (route_.kind == policy::ResourceKind::kAddresses) {
    return policy::decideRoute(route_, rt.policies().get()).rejection;
  }
  if (cfg.listen.mode == ListenMode::kTransparent) {
    // The intercepted connection was accepted for its SNI name: the Host header must name the
    // same host (no domain fronting to another account through the interception certificate).
    const std::string sni = conn_->serverName();
    std::string_view host = head_.headers.getOr("host", "");
    if (host.size() > 0 && host.front() != '[') host = host.substr(0, host.find(':'));
    if (sni.empty() || !common::equalsIgnoreCase(host, sni)) {
      return Status(Code::kInvalidArgument, "transparent.host_mismatch",
                    "the Host header does not match the TLS server name of this connection");
    }
  }
  // Sign with the segments the strict classifier decoded: routing and signing read one path.
  resource_ = crypto::cosmosResourceFromSegments(route_.segments);

  auto client = state_->auth.verify(head_.method, resource_, head_.headers,
                                    shared.clock->unixSeconds(), &string_to_sign_);
  if (!client.isOk()) return client.status();
  client_ = *client;
  COSMOSEAL_RETURN_IF_ERROR(checkAccess(*client_->config, route_));
  auto ticket = shared.throttle.admit(client_->name, shared.clock->monotonicNanos(),
                                      &retry_after_ms_);
  if (!ticket.isOk()) return ticket.status();
  ticket_ = std::move(ticket).value();

  decision_ = policy::decideRoute(route_, rt.policies().get());
  if (decision_.action == policy::RouteDecision::Action::kReject) return decision_.rejection;

  if (head_.framing == Framing::kContentLength &&
      head_.content_length > cfg.limits.max_body_bytes) {
    return Status(Code::kTooLarge, "http1.body_too_large",
                  "request body of " + std::to_string(head_.content_length) +
                      " bytes is over the limit of " + std::to_string(cfg.limits.max_body_bytes));
  }
  if (head_.framing == Framing::kContentLength) {
    // The whole announced body is charged up front: refused now, before a byte of it is read.
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(&body_charge_, head_.content_length + kJsonPadding));
    body_.reserve(static_cast<size_t>(head_.content_length) + kJsonPadding);
  }
  return Status::ok();
}

Status Exchange::onRequestBody(std::string_view data) noexcept {
  const Config& cfg = configOf(state_);
  if (body_.size() + data.size() > cfg.limits.max_body_bytes) {
    return Status(Code::kTooLarge, "http1.body_too_large",
                  "request body over the limit of " + std::to_string(cfg.limits.max_body_bytes) +
                      " bytes");
  }
  if (body_.size() + data.size() > body_charge_.bytes()) {  // chunked: charged as it grows
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(&body_charge_, body_.size() + data.size()));
  }
  body_.append(data.data(), data.size());
  return Status::ok();
}

void Exchange::onRequestComplete() noexcept {
  request_complete_ = true;
  continueRequest();
}

bool Exchange::needsPartitionKeyPlan() const noexcept {
  if (decision_.policy == nullptr) return false;
  using Op = policy::Operation;
  switch (route_.op) {
    case Op::kCreate:
    case Op::kUpsert:
    case Op::kReplace:
    case Op::kPatch:
    case Op::kBatch:
    case Op::kBulk:
      return true;
    default:
      return route_.has_partition_key_header;
  }
}

void Exchange::continueRequest() noexcept {
  if (route_.op == policy::Operation::kMetadataCreate &&
      (route_.kind == policy::ResourceKind::kDatabaseFeed ||
       route_.kind == policy::ResourceKind::kCollectionFeed)) {
    // The new database / container is named in the body: check the rules now.
    auto id = policy::parseResourceId(body_);
    Status s = id.isOk() ? checkCreate(*client_->config, route_, *id)
                         : Status(Code::kInvalidArgument, "rules.bad_create",
                                  "the create request has no readable id; nothing was sent");
    if (!s.isOk()) {
      done_ = true;
      conn_->localReply(s, false);
      return;
    }
  }
  if (needsPartitionKeyPlan() && !pk_plan_ready_) {
    Status s = resolvePartitionKeyPlan();
    if (!s.isOk()) {
      done_ = true;
      conn_->localReply(s, false);
      return;
    }
    if (!pk_plan_ready_) return;  // a metadata read is in flight; onPartitionKeyFetched resumes
  }
  Status s = transformRequest();
  if (!s.isOk()) {
    done_ = true;
    conn_->localReply(s, false);
    return;
  }
  stage_ = Stage::kMain;
  sendUpstream();
}

Status Exchange::resolvePartitionKeyPlan() noexcept {
  const policy::ContainerPolicy& p = *decision_.policy;
  std::vector<std::string> paths;
  if (p.partitionKeyKnown()) {
    for (const policy::PartitionKeyPath& k : p.partitionKeyPaths()) paths.push_back(k.path);
  } else if (auto cached = conn_->worker()->shared().partition_keys.get(route_.database,
                                                                          route_.container)) {
    paths = std::move(*cached);
  } else {
    // Unknown: read the container's metadata ourselves (signed with the account key) before the
    // request may go anywhere. Its partition-key header may hold a protected value.
    stage_ = Stage::kFetchPartitionKey;
    sendUpstream();
    return Status::ok();
  }
  auto plan = policy::planPartitionKey(p, paths);
  if (!plan.isOk()) return plan.status();
  pk_rules_ = std::move(plan).value();
  pk_plan_ready_ = true;
  return Status::ok();
}

void Exchange::onPartitionKeyFetched() noexcept {
  const int status = response_.status;
  std::string body = std::move(response_body_);
  response_body_.clear();
  response_ = MessageHead();
  buffer_response_ = false;
  stage_ = Stage::kMain;
  if (status != 200) {
    done_ = true;
    conn_->localReply(
        Status(status == 404 ? Code::kNotFound : Code::kBadGateway,
               "policy.partition_key_unresolved",
               "cannot read the partition key of protected container " + route_.database + "/" +
                   route_.container + " (metadata read answered " + std::to_string(status) +
                   "); nothing was sent"),
        false);
    return;
  }
  auto coll = policy::parseCollection(body);
  if (!coll.isOk()) {
    done_ = true;
    conn_->localReply(coll.status(), false);
    return;
  }
  conn_->worker()->shared().partition_keys.put(route_.database, route_.container,
                                               std::move(coll->partition_key_paths));
  COSMOSEAL_LOG(kInfo) << "learned partition key of " << route_.database << "/"
                       << route_.container << " from its metadata";
  continueRequest();
}

Status Exchange::transformRequest() noexcept {
  const policy::ContainerPolicy* policy = decision_.policy;
  if (policy == nullptr) return Status::ok();
  const Config& cfg = configOf(state_);
  policy::JsonTransformer* tx = state_->transformer.get();
  if (tx == nullptr) {
    return Status(Code::kInternal, "policy.no_keyring",
                  "protected container without a keyring; nothing was sent");
  }
  if (decision_.transform_request_body) {
    COSMOSEAL_RETURN_IF_ERROR(checkKeyBudget(*policy));
    const std::string_view* enc = head_.headers.get("content-encoding");
    if (enc != nullptr && !common::equalsIgnoreCase(*enc, "identity")) {
      return Status(Code::kUnsupportedMedia, "policy.compressed_body",
                    "compressed request bodies cannot be inspected on a protected container; "
                    "send it uncompressed");
    }
    if (!body_.empty() && static_cast<unsigned char>(body_[0]) == 0x80) {
      return Status(Code::kUnsupportedMedia, "policy.binary_body",
                    "binary (CosmosBinary) bodies cannot be inspected on a protected container; "
                    "configure the SDK for JSON text");
    }
    std::string out;
    const size_t out_reserve = body_.size() + body_.size() / 2 + 1024;
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(&body_charge_, body_.capacity() + out_reserve));
    out.reserve(out_reserve);
    Status s;
    const policy::PaddedInput in = policy::PaddedInput::of(body_);
    using Op = policy::Operation;
    switch (route_.op) {
      case Op::kCreate:
      case Op::kUpsert:
      case Op::kReplace:
        s = tx->encryptDocument(in, *policy, &out, &transform_stats_);
        break;
      case Op::kPatch:
        s = tx->encryptPatch(in, *policy, &out, &transform_stats_);
        break;
      case Op::kBatch:
      case Op::kBulk:
        s = tx->encryptBatch(in, *policy, pk_rules_, &out, &transform_stats_);
        break;
      case Op::kQuery:
      case Op::kQueryPlan: {
        auto q = policy::rewriteQueryRequest(body_, *policy, *state_->cipher);
        if (!q.isOk()) {
          s = q.status();
          break;
        }
        rows_are_documents_ = q->select_star;
        transform_stats_.encrypted += q->rewritten;
        out = std::move(q->body);
        break;
      }
      default:
        // The decision table only asks for request bodies of the operations above.
        return Status(Code::kInternal, "policy.unexpected_operation",
                      "no request transform for this operation; nothing was sent");
    }
    if (!s.isOk()) return s;
    if (out.size() > cfg.limits.max_item_bytes) {
      common::secureZero(out.data(), out.size());
      return Status(Code::kTooLarge, "policy.too_large_after_encrypt",
                    "the request is " + std::to_string(out.size()) +
                        " bytes after encryption, over Cosmos's item limit of " +
                        std::to_string(cfg.limits.max_item_bytes) +
                        " bytes: store less data in protected fields or split the document");
    }
    common::secureZero(body_.data(), body_.size());  // the plaintext body
    body_ = std::move(out);
    body_charge_.resize(body_.capacity(), 0);  // the plaintext copy is gone
  }
  bool pk_protected = false;
  for (const policy::FieldRule* r : pk_rules_) pk_protected = pk_protected || r != nullptr;
  if (route_.has_partition_key_header && pk_protected) {
    std::string pk;
    COSMOSEAL_RETURN_IF_ERROR(tx->encryptPartitionKey(
        head_.headers.getOr("x-ms-documentdb-partitionkey", ""), pk_rules_, &pk,
        &transform_stats_));
    head_.headers.set("x-ms-documentdb-partitionkey", pk);
  }
  return Status::ok();
}

Status Exchange::checkKeyBudget(const policy::ContainerPolicy& policy) noexcept {
  auto exhausted = conn_->worker()->shared().exhausted_keys.load();
  if (!exhausted || exhausted->empty()) return Status::ok();
  const crypto::Keyring* ring = state_->snapshot->keyring().get();
  for (const policy::FieldRule& rule : policy.rules()) {
    if (rule.mode != policy::FieldMode::kRandomized || ring == nullptr) continue;
    const crypto::KeyVersion* v = ring->primary(rule.key);
    if (v == nullptr) continue;
    for (uint32_t id : *exhausted) {
      if (id == v->id) {
        return Status(Code::kUnavailable, "crypto.key_budget",
                      "key '" + rule.key + "' version " + std::to_string(v->version) +
                          " has used its randomized-encryption budget "
                          "(keys.refuse_after_seals): rotate it with `cosmoseal keygen` and reload");
      }
    }
  }
  return Status::ok();
}

Status Exchange::decryptResponse(std::string* body) noexcept {
  policy::JsonTransformer* tx = state_->transformer.get();
  if (tx == nullptr) return Status::ok();
  using Op = policy::Operation;
  using Shape = policy::ResponseShape;
  Shape shape = Shape::kAny;
  switch (route_.op) {
    case Op::kRead:
    case Op::kCreate:
    case Op::kUpsert:
    case Op::kReplace:
    case Op::kPatch:
      shape = Shape::kDocument;
      break;
    case Op::kReadFeed:
      shape = Shape::kFeed;
      break;
    case Op::kChangeFeed:
      shape = common::equalsIgnoreCase(head_.headers.getOr("a-im", ""), "Full-Fidelity Feed")
                  ? Shape::kChangeFeedAllVersions
                  : Shape::kFeed;
      break;
    case Op::kQuery:
      shape = rows_are_documents_ ? Shape::kFeed : Shape::kQuery;
      break;
    case Op::kBatch:
    case Op::kBulk:
      shape = Shape::kBatchResults;
      break;
    default:
      shape = Shape::kAny;  // query plans, anything else: decrypt wherever an envelope lands
  }
  std::string out;
  COSMOSEAL_RETURN_IF_ERROR(
      chargeBuffer(&response_charge_, body->capacity() + body->size() + 1024));
  out.reserve(body->size() + 1024);
  Status s = tx->decryptResponse(policy::PaddedInput::of(*body), shape, decision_.policy, &out,
                                 &transform_stats_);
  if (!s.isOk()) return s;
  common::secureZero(body->data(), body->size());
  *body = std::move(out);
  response_charge_.resize(body->capacity(), 0);  // the encrypted copy is gone
  return Status::ok();
}

void Exchange::buildMetadataRequest(std::string* out) noexcept {
  const ConfigSnapshot& rt = *state_->snapshot;
  std::string target = "/dbs/" + common::percentEncodeSegment(route_.database) + "/colls/" +
                       common::percentEncodeSegment(route_.container);
  crypto::CosmosResource res =
      crypto::cosmosResourceFromSegments({"dbs", route_.database, "colls", route_.container});
  HeaderMap h;
  h.add("Host", rt.upstreamHostHeader());
  h.add("x-ms-date", crypto::formatHttpDate(conn_->worker()->shared().clock->unixSeconds()));
  h.add("x-ms-version", head_.headers.getOr("x-ms-version", "2020-07-15"));
  h.add("Accept", "application/json");
  h.add("Accept-Encoding", "identity");
  h.add("User-Agent", "cosmoseal");
  Status s = state_->auth.resign("GET", res, &h);
  (void)s;  // a failure leaves no authorization: the upstream answers 401, handled as an error
  appendRequestHead(out, "GET", target, h);
}

void Exchange::sendUpstream() noexcept {
  waiting_for_upstream_ = true;
  conn_->worker()->pool().acquire(state_->snapshot->upstream(), this);
}

void Exchange::buildUpstreamHead(std::string* out) noexcept {
  using common::HeaderToken;
  const ConfigSnapshot& rt = *state_->snapshot;
  out->reserve(out->size() + 1024 + body_.size());
  out->append(head_.method);
  out->push_back(' ');
  out->append(head_.target);
  out->append(" HTTP/1.1\r\n", 11);
  // The app's fields, less hop-by-hop ones (and those its Connection headers name) and the ones
  // the sidecar sets itself.
  const ConnectionNominated nominated(head_.headers);
  bool wants_serialization_formats = false;
  for (const common::Header& h : head_.headers.fields()) {
    switch (h.token) {
      case HeaderToken::kHost:
      case HeaderToken::kExpect:
      case HeaderToken::kAuthorization:
      case HeaderToken::kAcceptEncoding:
        continue;
      case HeaderToken::kXMsCosmosSupportedSerializationFormats:
        wants_serialization_formats = true;
        continue;
      default:
        break;
    }
    if (isHopByHopOrFraming(h.token) || nominated.contains(h.name)) continue;
    appendHeader(out, h.name, h.value);
  }
  appendHeader(out, "Host", rt.upstreamHostHeader());
  // JSON text only: binary (CosmosBinary) bodies could not be inspected, and no compression,
  // so every response body we must transform is readable as is.
  appendHeader(out, "Accept-Encoding", "identity");
  if (wants_serialization_formats) {
    appendHeader(out, "x-ms-cosmos-supported-serialization-formats", "JsonText");
  }
  if (!body_.empty() || head_.method == "POST" || head_.method == "PUT" ||
      head_.method == "PATCH") {
    char len[24];
    const int n = snprintf(len, sizeof(len), "%zu", body_.size());
    appendHeader(out, "Content-Length", std::string_view(len, static_cast<size_t>(n)));
  }
  // The account signature covers the string the app's signature was verified over (same method,
  // resource and date headers): no second build of it. If signing fails the request goes
  // without Authorization (upstream answers 401), never with the client's token.
  std::string authorization;
  if (state_->auth.sign(string_to_sign_, &authorization).isOk()) {
    appendHeader(out, "authorization", authorization);
  }
  out->append("\r\n", 2);
}

void Exchange::onUpstreamReady(UpstreamConnection* conn) noexcept {
  waiting_for_upstream_ = false;
  upstream_ = conn;
  std::string out;
  if (stage_ == Stage::kFetchPartitionKey) {
    buildMetadataRequest(&out);
    conn->setNoBodyExpected(false);
    conn->send(out);
    conn->flush(true);
    return;
  }
  buildUpstreamHead(&out);
  out.append(body_);
  upstream_start_ns_ = uv_hrtime();
  conn->setNoBodyExpected(head_.method == "HEAD");
  conn->send(out);
  conn->flush(true);
}

void Exchange::onUpstreamFailed(const Status& status, bool response_started) noexcept {
  const bool was_reused = upstream_ != nullptr && upstream_->reused();
  upstream_ = nullptr;
  waiting_for_upstream_ = false;
  WorkerStats& st = conn_->worker()->stats();
  const bool connection_lost = status.detail() == "upstream.connection_closed" ||
                               status.detail() == "net.read_error" ||
                               status.detail() == "net.write_error";
  if (!response_started && was_reused && !retried_ && isIdempotent(head_.method) &&
      connection_lost) {
    // A pooled connection the server had just closed: retry once, on a fresh connection, and
    // only for idempotent requests (writes are never retried by cosmoseal).
    retried_ = true;
    st.inc(st.upstream_retries);
    COSMOSEAL_LOG(kInfo) << "retrying " << head_.method << " " << head_.target
                         << " on a fresh upstream connection (" << status.detail() << ")";
    sendUpstream();
    return;
  }
  st.inc(st.upstream_errors);
  COSMOSEAL_LOG(kWarn) << "upstream error for " << head_.method << " " << head_.target << ": "
                       << status.toString();
  if (response_head_sent_) {
    conn_->abortConnection();
    return;
  }
  done_ = true;
  if (stage_ == Stage::kFetchPartitionKey) {
    conn_->localReply(Status(Code::kBadGateway, "policy.partition_key_unresolved",
                             "cannot read the partition key of protected container " +
                                 route_.database + "/" + route_.container + ": " +
                                 std::string(status.message()) + "; nothing was sent"),
                      false);
    return;
  }
  conn_->localReply(status, false);
}

Status Exchange::onUpstreamHead(MessageHead& head) noexcept {
  response_ = std::move(head);
  if (stage_ == Stage::kFetchPartitionKey) {
    buffer_response_ = true;
    return Status::ok();
  }
  const bool ok = response_.status >= 200 && response_.status < 300;
  learn_metadata_ = ok && !state_->snapshot->policies()->empty() &&
                    (route_.kind == policy::ResourceKind::kCollection ||
                     route_.kind == policy::ResourceKind::kCollectionFeed) &&
                    head_.method != "DELETE";
  if (ok && (route_.op == policy::Operation::kMetadataList ||
             route_.op == policy::Operation::kMetadataQuery)) {
    if (route_.kind == policy::ResourceKind::kDatabaseFeed) listing_member_ = "Databases";
    if (route_.kind == policy::ResourceKind::kCollectionFeed) listing_member_ = "DocumentCollections";
  }
  // Responses the sidecar must read before forwarding: account discovery (rewrite), collection
  // metadata (partition keys), listings (filter) and document responses of protected
  // containers (decrypt). Everything else streams.
  const bool decrypt = decision_.transform_response_body && ok;
  const bool account = decision_.rewrite_account && response_.status == 200;
  if ((account || learn_metadata_ || listing_member_ != nullptr || decrypt) &&
      response_.framing != Framing::kNone) {
    const std::string_view* enc = response_.headers.get("content-encoding");
    if (enc != nullptr && !common::equalsIgnoreCase(*enc, "identity")) {
      return Status(Code::kBadGateway, "upstream.compressed_response",
                    "the upstream compressed a response the sidecar must read (cosmoseal asks "
                    "for Accept-Encoding: identity)");
    }
    buffer_response_ = true;
    if (response_.framing == Framing::kContentLength) {
      COSMOSEAL_RETURN_IF_ERROR(
          chargeBuffer(&response_charge_, response_.content_length + kJsonPadding));
      response_body_.reserve(static_cast<size_t>(response_.content_length) + kJsonPadding);
    }
    return Status::ok();
  }
  HeaderMap headers = std::move(response_.headers);
  startResponse(response_.status, response_.reason, std::move(headers), response_.framing,
                response_.content_length);
  return Status::ok();
}

void Exchange::startResponse(int status, std::string_view reason, HeaderMap headers,
                             Framing framing, uint64_t content_length) noexcept {
  const ConfigSnapshot& rt = *state_->snapshot;
  HeaderMap out;
  const ConnectionNominated nominated(headers);
  for (const common::Header& h : headers.fields()) {
    if (isHopByHopOrFraming(h.token) || nominated.contains(h.name)) continue;
    if (common::equalsIgnoreCase(h.name, "content-location") ||
        common::equalsIgnoreCase(h.name, "location")) {
      out.add(h.name, policy::rewriteAbsoluteUrl(h.value, rt.upstreamOrigin(),
                                                 conn_->ownOrigin(head_.headers)));
      continue;
    }
    out.add(h.name, h.value);
  }
  const bool no_body = head_.method == "HEAD" || status == 204 || status == 304;
  if (!head_.keep_alive) conn_->setCloseAfterResponse();
  switch (framing) {
    case Framing::kContentLength:
      out.add("Content-Length", std::to_string(content_length));
      downstream_framing_ = Framing::kContentLength;
      break;
    case Framing::kChunked:
    case Framing::kUntilClose:
      if (head_.version_minor >= 1) {
        out.add("Transfer-Encoding", "chunked");
        downstream_framing_ = Framing::kChunked;
      } else {
        conn_->setCloseAfterResponse();
        downstream_framing_ = Framing::kUntilClose;
      }
      break;
    case Framing::kNone:
      if (!no_body) out.add("Content-Length", "0");
      downstream_framing_ = Framing::kNone;
      break;
  }
  if (conn_->mustClose() || conn_->worker()->draining()) {
    conn_->setCloseAfterResponse();
    out.add("Connection", "close");
  }
  std::string head;
  head.reserve(512);
  appendResponseHead(&head, status, reason, out);
  conn_->write(head);
  response_head_sent_ = true;
  conn_->worker()->stats().countStatus(status);
}

Status Exchange::onUpstreamBody(std::string_view data) noexcept {
  if (buffer_response_) {
    const uint64_t limit = configOf(state_).limits.max_response_body_bytes;
    if (response_body_.size() + data.size() > limit) {
      return Status(Code::kBadGateway, "upstream.response_too_large",
                    "upstream response over the buffering limit of " + std::to_string(limit) +
                        " bytes");
    }
    if (response_body_.size() + data.size() > response_charge_.bytes()) {
      COSMOSEAL_RETURN_IF_ERROR(
          chargeBuffer(&response_charge_, response_body_.size() + data.size()));
    }
    response_body_.append(data.data(), data.size());
    return Status::ok();
  }
  if (downstream_framing_ == Framing::kChunked) {
    std::string chunk;
    chunk.reserve(data.size() + 16);
    appendChunk(&chunk, data);
    conn_->write(chunk);
  } else {
    conn_->write(data);
  }
  conn_->flush();
  if (conn_->queuedBytes() > kDownstreamHighWater && upstream_ != nullptr && !upstream_paused_) {
    upstream_->pauseReading();
    upstream_paused_ = true;
  }
  return Status::ok();
}

Status Exchange::finishBufferedResponse() noexcept {
  std::string body;
  if (decision_.rewrite_account) {
    const std::string own = conn_->ownOrigin(head_.headers) + "/";
    int rewritten = 0;
    auto r = policy::rewriteAccountDocument(response_body_, own, &rewritten);
    if (!r.isOk()) {
      return Status(Code::kBadGateway, "discovery.bad_json",
                    "cannot rewrite the account document: " + std::string(r.status().message()));
    }
    body = std::move(r).value();
    conn_->worker()->stats().inc(conn_->worker()->stats().discovery_rewrites);
    COSMOSEAL_LOG(kDebug) << "account discovery: " << rewritten << " endpoint(s) rewritten to "
                          << own;
  } else if (decision_.transform_response_body) {
    COSMOSEAL_RETURN_IF_ERROR(decryptResponse(&response_body_));
    body = std::move(response_body_);
  } else {
    if (learn_metadata_) learnFromMetadata(response_body_);
    if (listing_member_ != nullptr) {
      // Listings show only the databases / containers this client may use.
      const ClientConfig& client = *client_->config;
      const std::string& db = route_.database;
      const bool databases = route_.kind == policy::ResourceKind::kDatabaseFeed;
      int removed = 0;
      auto filtered = policy::filterResourceList(
          response_body_, listing_member_,
          [&](std::string_view id) { return databases ? canSee(client, id, {}) : canSee(client, db, id); },
          &removed);
      if (!filtered.isOk()) return filtered.status();
      body = std::move(filtered).value();
    } else {
      body = std::move(response_body_);
    }
  }
  HeaderMap headers = std::move(response_.headers);
  startResponse(response_.status, response_.reason, std::move(headers), Framing::kContentLength,
                body.size());
  conn_->write(body);
  return Status::ok();
}

void Exchange::learnFromMetadata(std::string_view body) noexcept {
  PartitionKeyCache& cache = conn_->worker()->shared().partition_keys;
  const policy::PolicySet& policies = *state_->snapshot->policies();
  auto remember = [&](policy::CollectionInfo& c) {
    if (policies.find(route_.database, c.id) != nullptr) {
      cache.put(route_.database, c.id, std::move(c.partition_key_paths));
    }
  };
  // A collection read/replace or create answers with the collection; a list or query with
  // {"DocumentCollections":[...]}. Metadata we cannot read is simply not learned.
  const bool single = route_.kind == policy::ResourceKind::kCollection ||
                      route_.op == policy::Operation::kMetadataCreate;
  if (single) {
    auto c = policy::parseCollection(body);
    if (c.isOk()) remember(*c);
    return;
  }
  auto list = policy::parseCollectionList(body);
  if (!list.isOk()) return;
  for (policy::CollectionInfo& c : *list) remember(c);
}

void Exchange::onUpstreamComplete() noexcept {
  if (upstream_start_ns_ != 0) upstream_ns_ += uv_hrtime() - upstream_start_ns_;
  upstream_start_ns_ = 0;
  if (stage_ == Stage::kFetchPartitionKey) {
    releaseUpstream(response_.keep_alive);
    onPartitionKeyFetched();
    return;
  }
  if (head_.method == "DELETE" && response_.status >= 200 && response_.status < 300) {
    PartitionKeyCache& cache = conn_->worker()->shared().partition_keys;
    if (route_.kind == policy::ResourceKind::kCollection) {
      cache.forget(route_.database, route_.container);
    } else if (route_.kind == policy::ResourceKind::kDatabase) {
      cache.forgetDatabase(route_.database);
    }
  }
  if (buffer_response_) {
    Status s = finishBufferedResponse();
    if (!s.isOk()) {
      // The upstream exchange itself succeeded (a decrypt / rewrite failure is about the data):
      // the connection stays reusable and this is not an upstream error.
      releaseUpstream(response_.keep_alive);
      done_ = true;
      if (s.detail().rfind("crypto.", 0) != 0 && s.detail().rfind("policy.", 0) != 0) {
        conn_->worker()->stats().inc(conn_->worker()->stats().upstream_errors);
      }
      conn_->localReply(s, false);
      return;
    }
  } else if (downstream_framing_ == Framing::kChunked) {
    conn_->write(kLastChunk);
  }
  conn_->flush();
  releaseUpstream(response_.keep_alive);
  done_ = true;
  finish(response_.status, "");
  COSMOSEAL_LOG(kDebug) << head_.method << " " << head_.target << " -> " << response_.status
                        << " client=" << (client_ ? client_->name : "-") << " "
                        << (uv_hrtime() - started_ns_) / 1000 << "us";
  conn_->exchangeDone();  // may retire (and later delete) this exchange: nothing after this
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
  conn_->worker()->pool().release(u, reusable);
}

void Exchange::abort() noexcept {
  if (waiting_for_upstream_) {
    conn_->worker()->pool().cancel(this);
    waiting_for_upstream_ = false;
  }
  releaseUpstream(false);
}

void Exchange::fail(const Status& status) noexcept {
  releaseUpstream(false);
  if (response_head_sent_) {
    conn_->abortConnection();
    return;
  }
  done_ = true;
  conn_->localReply(status, false);
}

// =====================================================================================
// DownstreamConnection
// =====================================================================================

DownstreamConnection::DownstreamConnection(Worker* worker)
    : worker_(worker),
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
  if (rt.config().listen.mode == ListenMode::kTransparent) logOriginalDestination();
  if (rt.listenerTls()) transport_.enableTls(rt.listenerTls(), "");
  Status s = transport_.startAccepted();
  if (!s.isOk()) {
    transport_.closeNow();
    return;
  }
  // The first request must start arriving within the header timeout.
  phase_ = Phase::kIdle;
  transport_.armTimer(static_cast<uint64_t>(rt.config().timeouts.header.count()));
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
  const bool has_body = head.framing != Framing::kNone;
  const bool expect_continue = head.expect_continue;
  phase_ = has_body ? Phase::kBody : Phase::kWaiting;
  if (has_body) {
    transport_.armTimer(static_cast<uint64_t>(configOf(worker_->state()).timeouts.body.count()));
  } else {
    transport_.disarmTimer();
  }
  exchange_ = std::make_unique<Exchange>(this, worker_->state(), std::move(head));
  Status s = exchange_->start();
  if (!s.isOk()) {
    // Framing-level problems close the connection. A refusal of a well-framed request (auth,
    // rules, throttling, policy) keeps it: the body is read and discarded, never forwarded.
    // An Expect: 100-continue client will not send the body it announced: answer now, close.
    // Over the buffer budget: answer now and close rather than read a body nobody can hold.
    if (s.detail().rfind("http1.", 0) == 0 || s.detail().rfind("route.", 0) == 0 ||
        s.detail().rfind("overload.", 0) == 0 || (expect_continue && has_body)) {
      return s;
    }
    refusal_ = std::move(s);
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

Status DownstreamConnection::onMessageBody(std::string_view data) noexcept {
  const Config& cfg = configOf(worker_->state());
  transport_.armTimer(static_cast<uint64_t>(cfg.timeouts.body.count()));
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

void DownstreamConnection::abortConnection() noexcept {
  if (exchange_) {
    exchange_->abort();
    retired_.push_back(std::move(exchange_));
  }
  phase_ = Phase::kClosing;
  transport_.closeNow(true);
}

void DownstreamConnection::localReply(const Status& status, bool close,
                                      uint64_t retry_after_ms) noexcept {
  if (phase_ == Phase::kClosing) return;
  if (!exchange_) recordUnparsed(status);
  if (exchange_) {
    exchange_->finish(status.httpStatus(), status.detail());
    exchange_->abort();
    retired_.push_back(std::move(exchange_));
  }
  const int code = status.httpStatus();
  const std::string body = localErrorBody(code, status.detail(), status.message());
  HeaderMap h;
  h.add("Content-Type", "application/json");
  h.add("Content-Length", std::to_string(body.size()));
  h.add("x-cosmoseal-detail", status.detail());
  h.add("x-ms-request-charge", "0");
  if (code == 429) h.add("x-ms-retry-after-ms", std::to_string(retry_after_ms ? retry_after_ms : 100));
  if (close || close_after_response_ || worker_->draining()) {
    close = true;
    h.add("Connection", "close");
  }
  std::string out;
  appendResponseHead(&out, code, "", h);
  out += body;
  transport_.write(out);
  transport_.flush();
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
  RequestSample sample;
  sample.status = status.httpStatus();
  sample.detail = status.detail();
  worker_->metrics().record(sample);
  AuditLog* audit = worker_->shared().audit.get();
  if (audit == nullptr) return;
  auto slot = audit->admit();
  if (!slot.isOk()) return;  // audit unavailable: the connection is refused and closed anyway
  AuditRecord r;
  r.time_ms = worker_->shared().clock->unixSeconds() * 1000;
  r.resource = "unclassified";
  r.operation = "unclassified";
  r.status = sample.status;
  r.detail = std::string(status.detail());
  slot->submit(r);
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

void DownstreamConnection::onTransportTimer() noexcept {
  switch (phase_) {
    case Phase::kIdle:
      phase_ = Phase::kClosing;
      transport_.closeNow();
      return;
    case Phase::kHead:
      localReply(Status(Code::kRequestTimeout, "http1.header_timeout",
                        "the request head did not arrive within the header timeout"),
                 true);
      return;
    case Phase::kBody:
      localReply(Status(Code::kRequestTimeout, "http1.body_timeout",
                        "the request body stalled longer than the body timeout"),
                 true);
      return;
    case Phase::kWaiting:
    case Phase::kClosing:
      return;
  }
}

void DownstreamConnection::onTransportClosed() noexcept {
  worker_->stats().inc(worker_->stats().bytes_to_clients, transport_.bytesOut());
  if (exchange_) exchange_->abort();
  worker_->connectionClosed(this);  // deletes this
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

std::string DownstreamConnection::serverName() const {
  return transport_.tlsEnabled() ? const_cast<Transport&>(transport_).tls()->serverName() : std::string();
}

std::string DownstreamConnection::ownOrigin(const HeaderMap& request_headers) const {
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
