// Exchange, request side: body collection, partition-key plan, request transform, upstream head
// and re-signing (see exchange.h).

#include <cstdio>

#include "common/log.h"
#include "common/secret_bytes.h"
#include "common/text.h"
#include "crypto/keyring.h"
#include "policy/container_definition.h"
#include "policy/container_meta.h"
#include "policy/query/rewriter.h"
#include "policy/routing/epk.h"
#include "proxy/admission/rules.h"
#include "proxy/exchange/details.h"
#include "proxy/exchange/downstream_connection.h"
#include "proxy/exchange/exchange.h"
#include "proxy/exchange/migration_state.h"

namespace cosmoseal::proxy {

namespace {

// While a migration of the container is not verified its data may be mixed (migration_state.h):
// equalities with deterministic fields in queries and patch conditions are refused or match both
// forms. Fills *mixed and returns it then; null when the data is all sealed.
const policy::MixedData* mixedData(const policy::ContainerPolicy& policy,
                                   const MigrationStates* migrations, const policy::Route& route,
                                   policy::MixedData* mixed) {
  if (!policy.migration().enabled) return nullptr;
  MigrationStatus ms;  // mixed unless the poller has read a verified state
  ms.description = "the migration state is not known";
  if (migrations != nullptr) ms = migrations->lookup(policy.database(), policy.container());
  if (!ms.mixed) return nullptr;
  mixed->equality = policy.migration().equality;
  mixed->state = std::move(ms.description);
  mixed->partition_key_header = route.has_partition_key_header;
  return mixed;
}

}  // namespace

using common::Code;
using common::Status;

Status Exchange::onRequestBody(std::string_view data) noexcept {
  const Config& cfg = config();
  if (body_.size() + data.size() > cfg.limits.max_body_bytes) {
    return Status(
        Code::kTooLarge, exchange_detail::kBodyTooLarge,
        "request body over the limit of " + std::to_string(cfg.limits.max_body_bytes) + " bytes");
  }
  if (body_.size() + data.size() > body_charge_.bytes()) {  // chunked: charged as it grows
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(&body_charge_, body_.size() + data.size()));
  }
  // A chunked body grows: appendWiping wipes each block it leaves (plain append would free it
  // with the app's plaintext in it).
  common::appendWiping(&body_, data);
  return Status::ok();
}

void Exchange::onRequestComplete() noexcept { continueRequest(); }

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
      // Range ids and EPK bounds are recomputed (or refused) when the partition key is sealed:
      // the plan says whether it is.
      return route_.has_partition_key_header || carriesRoutingHeaders();
  }
}

void Exchange::continueRequest() noexcept {
  if (names_pending_) {
    fetchNames(route_.inContainer() ? NameStep::kCollection : NameStep::kDatabase);
    return;
  }
  if (route_.op == policy::Operation::kMetadataCreate &&
      (route_.kind == policy::ResourceKind::kDatabaseFeed ||
       route_.kind == policy::ResourceKind::kCollectionFeed)) {
    // The new database / container is named in the body: check the rules now.
    auto id = policy::parseResourceId(body_);
    Status s = id.isOk() ? checkCreate(*client_->config, route_, *id)
                         : Status(Code::kInvalidArgument, exchange_detail::kBadCreate,
                                  "the create request has no readable id; nothing was sent");
    if (!s.isOk()) {
      conn_->localReply(s, false);
      return;
    }
  }
  // A protected container's definition (created or replaced) must not run server-side logic
  // over its protected paths (policy/container_definition.h).
  if ((route_.op == policy::Operation::kMetadataCreate &&
       route_.kind == policy::ResourceKind::kCollectionFeed) ||
      (route_.op == policy::Operation::kMetadataReplace &&
       route_.kind == policy::ResourceKind::kCollection)) {
    const policy::PolicySet* set = ctx_.state->snapshot->policies().get();
    auto id = route_.inContainer() ? common::StatusOr<std::string>(route_.container)
                                   : policy::parseResourceId(body_);
    const policy::ContainerPolicy* defined =
        set != nullptr && id.isOk() ? set->find(route_.database, *id) : nullptr;
    if (defined != nullptr) {
      if (Status s = policy::checkContainerDefinition(body_, *defined); !s.isOk()) {
        conn_->localReply(s, false);
        return;
      }
    }
  }
  if (needsPartitionKeyPlan() && !pk_rules_.has_value()) {
    Status s = resolvePartitionKeyPlan();
    if (!s.isOk()) {
      conn_->localReply(s, false);
      return;
    }
    if (!pk_rules_.has_value())
      return;  // a metadata read is in flight; onPartitionKeyFetched resumes
  }
  if (!transformed_) {
    transformed_ = true;
    Status s = transformRequest();
    if (!s.isOk()) {
      conn_->localReply(s, false);
      return;
    }
  }
  if (needsRouting()) {
    if (!routingReady()) return;  // a read of the routing map is in flight (or was refused)
    bool reload = false;
    Status s = applyRouting(&reload);
    if (!s.isOk()) {
      conn_->localReply(s, false);
      return;
    }
    if (reload) {
      fetchRouting(RoutingStep::kPkRanges);
      return;
    }
    if (!fanout_parts_.empty()) {
      moveTo(ExchangePhase::kFanningOut);
      sendFanOutPart();
      return;
    }
  }
  sendUpstream();
}

bool Exchange::namesFromCache() noexcept {
  const PartitionKeyCache& cache = *ctx_.partition_keys;
  if (route_.inContainer()) {
    auto names = cache.containerOfRid(route_.container);
    // The collection's RID carries its database's: a path pairing it with another one is not
    // mapped here (the service answers it).
    if (!names || policy::databaseRidOf(route_.container) != route_.database) return false;
    route_.database = std::move(names->database);
    route_.container = std::move(names->container);
  } else {
    auto name = cache.databaseOfRid(route_.database);
    if (!name) return false;
    route_.database = std::move(*name);
  }
  route_.rid_resolved = true;
  return true;
}

// Reads the collection (its id), then the database (its id) the route's RIDs address, signed
// over the RIDs with the account key, before the rules and the route decision may run.
void Exchange::fetchNames(NameStep step) noexcept {
  if (phase_ != ExchangePhase::kResolvingNames) moveTo(ExchangePhase::kResolvingNames);
  name_step_ = step;
  std::vector<std::string> segments = {"dbs", route_.segments[1]};
  if (step == NameStep::kCollection) {
    segments.emplace_back("colls");
    segments.emplace_back(route_.segments[3]);
  }
  MetadataFetch::Callbacks* callbacks = this;  // a private base: converted here
  std::unique_ptr<MetadataFetch>& fetch = name_fetches_[step == NameStep::kCollection ? 0 : 1];
  fetch = std::make_unique<MetadataFetch>(
      ctx_, &response_charge_, callbacks, std::move(segments), /*by_rid=*/true,
      std::string(head_.headers.getOr("x-ms-version", "2020-07-15")));
  fetch->start();
}

void Exchange::onNamesFetched(int status, const std::string& body) noexcept {
  auto unresolved = [&](Code code, const std::string& why) {
    conn_->localReply(Status(code, exchange_detail::kRidUnresolved,
                             "cannot map the resource ids of " + head_.target + " to names (" +
                                 why + "); nothing was sent"),
                      false);
  };
  if (status != 200) {
    unresolved(status == 404 ? Code::kNotFound : Code::kBadGateway,
               "the metadata read answered " + std::to_string(status));
    return;
  }
  if (name_step_ == NameStep::kCollection) {
    auto coll = policy::parseCollection(body);
    if (!coll.isOk()) {
      unresolved(Code::kBadGateway, std::string(coll.status().message()));
      return;
    }
    fetched_container_ = std::move(coll->id);
    fetchNames(NameStep::kDatabase);
    return;
  }
  auto db = policy::parseResourceName(body);
  if (!db.isOk()) {
    unresolved(Code::kBadGateway, std::string(db.status().message()));
    return;
  }
  PartitionKeyCache& cache = *ctx_.partition_keys;
  cache.putDatabaseRid(route_.segments[1], db->id);
  if (route_.inContainer()) {
    cache.putCollectionRid(route_.segments[3], db->id, fetched_container_);
    route_.container = fetched_container_;
  }
  route_.database = db->id;
  route_.rid_resolved = true;
  names_pending_ = false;
  name_step_ = NameStep::kNone;
  COSMOSEAL_LOG(kInfo) << "learned the names behind " << route_.segments[1]
                       << (route_.inContainer() ? "/" + route_.segments[3] : std::string()) << ": "
                       << route_.database
                       << (route_.inContainer() ? "/" + route_.container : std::string());
  Status s = checkAccess(*client_->config, route_);
  if (s.isOk()) {
    decision_ = policy::decideRoute(route_, ctx_.state->snapshot->policies().get());
    if (decision_.action == policy::RouteDecision::Action::kReject) s = decision_.rejection;
  }
  if (!s.isOk()) {
    conn_->localReply(s, false);
    return;
  }
  continueRequest();
}

Status Exchange::resolvePartitionKeyPlan() noexcept {
  const policy::ContainerPolicy& p = *decision_.policy;
  std::vector<std::string> paths;
  if (p.partitionKeyKnown()) {
    for (const policy::PartitionKeyPath& k : p.partitionKeyPaths()) paths.push_back(k.path);
  } else if (auto cached = ctx_.partition_keys->get(route_.database, route_.container)) {
    paths = std::move(*cached);
  } else {
    // Unknown: read the container's metadata ourselves (signed with the account key) before the
    // request may go anywhere. Its partition-key header may hold a protected value.
    moveTo(ExchangePhase::kResolvingPartitionKey);
    MetadataFetch::Callbacks* callbacks = this;  // a private base: converted here
    metadata_fetch_ = std::make_unique<MetadataFetch>(
        ctx_, &response_charge_, callbacks,
        std::vector<std::string>{"dbs", route_.database, "colls", route_.container},
        /*by_rid=*/false, std::string(head_.headers.getOr("x-ms-version", "2020-07-15")));
    metadata_fetch_->start();
    return Status::ok();
  }
  auto plan = policy::planPartitionKey(p, paths);
  if (!plan.isOk()) return plan.status();
  pk_rules_ = std::move(plan).value();
  return Status::ok();
}

void Exchange::onMetadataFetched(int status, std::string body) noexcept {
  if (routing_step_ != RoutingStep::kNone) {
    onRoutingFetched(status, body);
    return;
  }
  if (phase_ == ExchangePhase::kFanningOut) {
    onFanOutAnswer(status, std::move(body));
    return;
  }
  if (name_step_ != NameStep::kNone) {
    onNamesFetched(status, body);
    return;
  }
  if (status != 200) {
    conn_->localReply(
        Status(status == 404 ? Code::kNotFound : Code::kBadGateway,
               exchange_detail::kPartitionKeyUnresolved,
               "cannot read the partition key of protected container " + route_.database + "/" +
                   route_.container + " (metadata read answered " + std::to_string(status) +
                   "); nothing was sent"),
        false);
    return;
  }
  auto coll = policy::parseCollection(body);
  if (!coll.isOk()) {
    conn_->localReply(coll.status(), false);
    return;
  }
  // The definition (kind, version) serves the routing map too, if this request needs one.
  if (auto def = policy::parsePartitionKeyDefinition(body); def.isOk()) {
    fetched_definition_ = std::move(def).value();
    fetched_collection_rid_ = coll->rid;
  }
  // Its RID too: an answer naming another collection RID later says the container was replaced
  // (docs/ROUTING.md, learned paths).
  if (!coll->rid.empty()) {
    ctx_.partition_keys->putCollectionRid(coll->rid, route_.database, route_.container);
  }
  ctx_.partition_keys->put(route_.database, route_.container, std::move(coll->partition_key_paths));
  COSMOSEAL_LOG(kInfo) << "learned partition key of " << route_.database << "/" << route_.container
                       << " from its metadata";
  continueRequest();
}

void Exchange::onMetadataFailed(const Status& status, UpstreamFailure kind, bool response_started,
                                bool was_reused) noexcept {
  if (kind == UpstreamFailure::kConnect && region_ != nullptr &&
      phase_ != ExchangePhase::kFanningOut) {
    // The region itself is unreachable: the request it prepares cannot go there either.
    conn_->localReply(regionUnreachable(status), false);
    return;
  }
  if (routing_step_ != RoutingStep::kNone) {
    if (retryOnFreshConnection(status, kind, response_started, was_reused)) {
      routing_fetch_->start();
      return;
    }
    response_ = routing_fetch_->responseHead();
    conn_->localReply(Status(Code::kBadGateway, exchange_detail::kRoutingUnavailable,
                             "cannot read the partition-key ranges of " + route_.database + "/" +
                                 route_.container + ": " + std::string(status.message()) +
                                 "; nothing was sent"),
                      false);
    return;
  }
  if (phase_ == ExchangePhase::kFanningOut) {
    // A write is never retried by cosmoseal: this part's operations answer 503 (the SDK retries
    // them), the others go on.
    onFanOutAnswer(503, std::string());
    return;
  }
  if (name_step_ != NameStep::kNone) {
    MetadataFetch& fetch = *name_fetches_[name_step_ == NameStep::kCollection ? 0 : 1];
    if (retryOnFreshConnection(status, kind, response_started, was_reused)) {
      fetch.start();
      return;
    }
    response_ = fetch.responseHead();
    conn_->localReply(Status(Code::kBadGateway, exchange_detail::kRidUnresolved,
                             "cannot map the resource ids of " + head_.target + " to names: " +
                                 std::string(status.message()) + "; nothing was sent"),
                      false);
    return;
  }
  if (retryOnFreshConnection(status, kind, response_started, was_reused)) {
    metadata_fetch_->start();
    return;
  }
  // The read's head, if one came, stands in for the response in the record: its charge was spent.
  response_ = metadata_fetch_->responseHead();
  conn_->localReply(
      Status(Code::kBadGateway, exchange_detail::kPartitionKeyUnresolved,
             "cannot read the partition key of protected container " + route_.database + "/" +
                 route_.container + ": " + std::string(status.message()) + "; nothing was sent"),
      false);
}

Status Exchange::transformRequest() noexcept {
  const policy::ContainerPolicy* policy = decision_.policy;
  if (policy == nullptr) return Status::ok();
  const Config& cfg = config();
  policy::JsonTransformer* tx = ctx_.state->transformer.get();
  if (tx == nullptr) {
    return Status(Code::kInternal, exchange_detail::kNoKeyring,
                  "protected container without a keyring; nothing was sent");
  }
  if (decision_.transform_request_body) {
    COSMOSEAL_RETURN_IF_ERROR(checkKeyBudget(*policy));
    const std::string_view* enc = head_.headers.get("content-encoding");
    if (enc != nullptr && !common::equalsIgnoreCase(*enc, "identity")) {
      return Status(Code::kUnsupportedMedia, exchange_detail::kCompressedBody,
                    "compressed request bodies cannot be inspected on a protected container; "
                    "send it uncompressed");
    }
    if (!body_.empty() && static_cast<unsigned char>(body_[0]) == 0x80) {
      return Status(Code::kUnsupportedMedia, exchange_detail::kBinaryBody,
                    "binary (CosmosBinary) bodies cannot be inspected on a protected container; "
                    "configure the SDK for JSON text");
    }
    std::string out;
    const size_t out_reserve = body_.size() + body_.size() / 2 + 1024;
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(&body_charge_, body_.capacity() + out_reserve));
    out.reserve(out_reserve);
    Status s;
    const policy::PaddedInput in = policy::PaddedInput::of(body_);
    policy::MixedData mixed;
    using Op = policy::Operation;
    switch (route_.op) {
      case Op::kCreate:
      case Op::kUpsert:
      case Op::kReplace:
        s = tx->encryptDocument(in, *policy, &out, &transform_stats_);
        break;
      case Op::kPatch:
        s = tx->encryptPatch(in, *policy, &out, &transform_stats_,
                             mixedData(*policy, ctx_.migrations, route_, &mixed));
        break;
      case Op::kBatch:
      case Op::kBulk:
        s = tx->encryptBatch(in, *policy, pkRules(), &out, &transform_stats_,
                             mixedData(*policy, ctx_.migrations, route_, &mixed));
        break;
      case Op::kQuery:
      case Op::kQueryPlan: {
        // application/sql (the Java SDK's query compatibility mode) carries the bare SQL text.
        auto q = policy::rewriteQueryRequest(
            body_, *policy, *ctx_.state->cipher,
            policy::queryBodyFormat(head_.headers.getOr("content-type", "")),
            mixedData(*policy, ctx_.migrations, route_, &mixed));
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
        return Status(Code::kInternal, exchange_detail::kUnexpectedOperation,
                      "no request transform for this operation; nothing was sent");
    }
    if (!s.isOk()) return s;
    if (out.size() > cfg.limits.max_item_bytes) {
      common::secureZero(out.data(), out.size());
      return Status(Code::kTooLarge, exchange_detail::kTooLargeAfterEncrypt,
                    "the request is " + std::to_string(out.size()) +
                        " bytes after encryption, over Cosmos's item limit of " +
                        std::to_string(cfg.limits.max_item_bytes) +
                        " bytes: store less data in protected fields or split the document");
    }
    common::wipeAndFree(&body_);  // the plaintext body (its whole block)
    body_ = std::move(out);
    body_charge_.resize(body_.capacity(), 0);  // the plaintext copy is gone
  }
  bool pk_protected = false;
  for (const policy::FieldRule* r : pkRules()) pk_protected = pk_protected || r != nullptr;
  if (route_.has_partition_key_header && pk_protected) {
    std::string pk;
    const std::string_view plain_pk = head_.headers.getOr("x-ms-documentdb-partitionkey", "");
    COSMOSEAL_RETURN_IF_ERROR(tx->encryptPartitionKey(plain_pk, pkRules(), &pk, &transform_stats_));
    // set() leaves the app's plaintext value in the map's block: wipe it (the block is the
    // map's own, writable memory).
    common::secureZero(const_cast<char*>(plain_pk.data()), plain_pk.size());
    head_.headers.set("x-ms-documentdb-partitionkey", pk);
  }
  return Status::ok();
}

Status Exchange::checkKeyBudget(const policy::ContainerPolicy& policy) noexcept {
  auto exhausted = ctx_.exhausted_keys->load();
  if (!exhausted || exhausted->empty()) return Status::ok();
  const crypto::Keyring* ring = ctx_.state->snapshot->keyring().get();
  for (const policy::FieldRule& rule : policy.rules()) {
    if (rule.mode != policy::FieldMode::kRandomized || ring == nullptr) continue;
    const crypto::KeyVersion* v = ring->primary(rule.key);
    if (v == nullptr) continue;
    for (uint32_t id : *exhausted) {
      if (id == v->id) {
        return Status(
            Code::kUnavailable, exchange_detail::kKeyBudget,
            "key '" + rule.key + "' version " + std::to_string(v->version) +
                " has used its randomized-encryption budget "
                "(keys.refuse_after_seals): rotate it with `cosmoseal keygen` and reload");
      }
    }
  }
  return Status::ok();
}

void Exchange::sendUpstream() noexcept {
  // The Entra ID token may have expired while the body was read: never send without one.
  if (Status s = ctx_.state->auth.upstreamReady(kUpstreamTokenMargin); !s.isOk()) {
    conn_->localReply(s, false);
    return;
  }
  moveTo(ExchangePhase::kConnecting);
  ctx_.pool->acquire(upstreamTarget(), this);
}

void Exchange::buildUpstreamHead(std::string* out) noexcept {
  using common::HeaderToken;
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
  appendHeader(out, "Host", upstreamHostHeader());
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
  if (ctx_.state->auth.sign(string_to_sign_, &authorization).isOk()) {
    appendHeader(out, "authorization", authorization);
  }
  out->append("\r\n", 2);
}

void Exchange::onUpstreamReady(UpstreamConnection* conn) noexcept {
  moveTo(ExchangePhase::kAwaitingResponse);
  upstream_ = conn;
  std::string out;
  buildUpstreamHead(&out);
  out.append(body_);
  upstream_start_ns_ = uv_hrtime();
  conn->setNoBodyExpected(head_.method == "HEAD");
  conn->send(out);
  conn->flush(true);
}

}  // namespace cosmoseal::proxy
