// Exchange, routing on protected partition keys (issue 15; see exchange.h and docs/ROUTING.md).
//
// The SDKs hash the partition key they were given (the plaintext) to choose a range id, EPK
// bounds, the session token of a range and the grouping of bulk operations. The service placed
// the document at the hash of the ciphertext the sidecar sealed, so on a container whose
// partition key is sealed each of these is recomputed from the sealed key against the container's
// real range map, or refused when the request carries only the plaintext-derived hash.

#include <uv.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>

#include "common/log.h"
#include "common/secret_bytes.h"
#include "common/text.h"
#include "policy/container_meta.h"
#include "policy/json/batch.h"
#include "policy/query/body.h"
#include "policy/routing/details.h"
#include "proxy/exchange/details.h"
#include "proxy/exchange/downstream_connection.h"
#include "proxy/exchange/exchange.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

constexpr std::string_view kRangeIdHeader = "x-ms-documentdb-partitionkeyrangeid";
constexpr std::string_view kStartEpkHeader = "x-ms-start-epk";
constexpr std::string_view kEndEpkHeader = "x-ms-end-epk";
constexpr std::string_view kSessionHeader = "x-ms-session-token";
constexpr std::string_view kPkHeader = "x-ms-documentdb-partitionkey";

// The hex length of one MultiHash component (a V2 hash: 16 bytes).
constexpr size_t kV2HashHex = 32;

int substatusOf(const common::HeaderMap& h) {
  const std::string_view v = h.getOr("x-ms-substatus", "");
  int n = 0;
  for (char c : v) {
    if (c < '0' || c > '9' || n > 100000) return -1;
    n = n * 10 + (c - '0');
  }
  return v.empty() ? -1 : n;
}

// The app's own token for `range_id` out of its (possibly compound) session token.
std::string appTokenFor(std::string_view header, std::string_view range_id) {
  while (!header.empty()) {
    const size_t comma = header.find(',');
    const std::string_view token = common::trimOws(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const size_t colon = token.find(':');
    if (colon != std::string_view::npos && token.substr(0, colon) == range_id) {
      return std::string(token);
    }
  }
  return {};
}

// The readMany shape of the Java (readMany) and Python (read_items) SDKs: a SELECT * whose WHERE
// pins every partition-key path by equality with a parameter, item by item:
//   SELECT * FROM c WHERE ( (c.id = @param0 AND c.pk = @param1) OR ... )
//   SELECT * FROM c WHERE c.pk = @pk AND c.id IN (@id1, ...)
// Its result set is named by (id, key) pairs, so it may run across partitions unchanged.
bool isReadManyQuery(std::string_view query, const policy::PartitionKeyDefinition& def) {
  std::string q;
  q.reserve(query.size());
  for (char c : query) {
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (space) {
      if (!q.empty() && q.back() != ' ') q.push_back(' ');
      continue;
    }
    q.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
  }
  // "( (" -> "((" and "= @" spacing made uniform.
  std::string n;
  for (size_t i = 0; i < q.size(); ++i) {
    if (q[i] == ' ' && i > 0 && i + 1 < q.size() &&
        (q[i - 1] == '(' || q[i + 1] == ')' || q[i + 1] == '=' || q[i - 1] == '=' ||
         q[i + 1] == '(' || q[i + 1] == ',' || q[i - 1] == ',')) {
      continue;
    }
    n.push_back(q[i]);
  }
  if (n.rfind("select * from c where", 0) != 0) return false;
  for (std::string_view bad : {" order by", " group by", " join ", " top ", "distinct", " offset",
                               "count(", "sum(", "avg(", "min(", "max("}) {
    if (n.find(bad) != std::string::npos) return false;
  }
  if (n.find("c.id=@") == std::string::npos && n.find("c.idin(") == std::string::npos &&
      n.find("c.id in(") == std::string::npos) {
    return false;
  }
  for (const std::string& path : def.paths) {
    if (path.size() < 2 || path.find('/', 1) != std::string::npos) return false;
    std::string field = common::toLowerAscii(std::string_view(path).substr(1));
    if (n.find("c." + field + "=@") == std::string::npos &&
        n.find("c[\"" + field + "\"]=@") == std::string::npos) {
      return false;
    }
  }
  return true;
}

// Some Cosmos stand-ins (cosmosdb-server) write a range's "id" as a number ("id":0) where the
// service writes a string; the SDKs accept both. Quotes such ids so the strict parser reads them.
std::string quoteNumericIds(std::string_view body) {
  std::string out;
  out.reserve(body.size() + 16);
  size_t i = 0;
  while (i < body.size()) {
    const size_t at = body.find("\"id\"", i);
    if (at == std::string_view::npos) break;
    size_t j = at + 4;
    while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n')) ++j;
    if (j >= body.size() || body[j] != ':') {
      out.append(body.substr(i, j - i));
      i = j;
      continue;
    }
    ++j;
    while (j < body.size() && (body[j] == ' ' || body[j] == '\t' || body[j] == '\n')) ++j;
    size_t k = j;
    while (k < body.size() && body[k] >= '0' && body[k] <= '9') ++k;
    out.append(body.substr(i, j - i));
    if (k > j) {
      out.push_back('"');
      out.append(body.substr(j, k - j));
      out.push_back('"');
    }
    i = k;
  }
  out.append(body.substr(i));
  return out;
}

double parseCharge(std::string_view v) {
  std::string s(v);
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  return end == s.c_str() ? 0 : d;
}

}  // namespace

bool Exchange::carriesRoutingHeaders() const noexcept {
  const common::HeaderMap& h = head_.headers;
  return h.has(kRangeIdHeader) || h.has(kStartEpkHeader) || h.has(kEndEpkHeader);
}

bool Exchange::needsRouting() const noexcept {
  if (decision_.policy == nullptr) return false;
  bool pk_protected = false;
  for (const policy::FieldRule* r : pkRules()) pk_protected = pk_protected || r != nullptr;
  if (!pk_protected) return false;
  return carriesRoutingHeaders() ||
         (route_.has_partition_key_header && head_.headers.has(kSessionHeader));
}

bool Exchange::routingReady() noexcept {
  RoutingMapCache& cache = ctx_.partition_keys->routing();
  RoutingMapCache::Lookup l = cache.get(route_.database, route_.container);
  if (l.routing && !l.stale) {
    routing_ = std::move(l.routing);
    return true;
  }
  const bool need_definition = !l.routing && fetched_definition_.paths.empty();
  fetchRouting(need_definition ? RoutingStep::kCollection : RoutingStep::kPkRanges);
  return false;
}

// Reads the collection (its partition-key definition: paths, kind, version), then its
// partition-key ranges, with the account key, before the request may go anywhere.
void Exchange::fetchRouting(RoutingStep step) noexcept {
  // A fan-out reloading its map after a part answered 410 stays in kFanningOut.
  if (phase_ != ExchangePhase::kResolvingRoutes && phase_ != ExchangePhase::kFanningOut) {
    moveTo(ExchangePhase::kResolvingRoutes);
  }
  routing_step_ = step;
  std::vector<std::string> segments = {"dbs", route_.database, "colls", route_.container};
  if (step == RoutingStep::kPkRanges) segments.emplace_back("pkranges");
  MetadataFetch::Callbacks* callbacks = this;  // a private base: converted here
  routing_fetch_ = std::make_unique<MetadataFetch>(
      ctx_, &response_charge_, callbacks, std::move(segments), /*by_rid=*/false,
      std::string(head_.headers.getOr("x-ms-version", "2020-07-15")));
  if (step == RoutingStep::kPkRanges) {
    RoutingMapCache::Lookup l =
        ctx_.partition_keys->routing().get(route_.database, route_.container);
    if (l.routing && l.routing->map && !l.routing->map->etag().empty()) {
      routing_fetch_->addHeader("If-None-Match", l.routing->map->etag());
    }
  }
  routing_fetch_->start();
}

void Exchange::onRoutingFetched(int status, const std::string& body) noexcept {
  const RoutingStep step = routing_step_;
  RoutingMapCache& cache = ctx_.partition_keys->routing();
  auto unavailable = [&](const std::string& why) {
    routing_step_ = RoutingStep::kNone;
    conn_->localReply(Status(status == 404 ? Code::kNotFound : Code::kBadGateway,
                             exchange_detail::kRoutingUnavailable,
                             "cannot load the routing map of protected container " +
                                 route_.database + "/" + route_.container + " (" + why +
                                 "); nothing was sent"),
                      false);
  };
  if (step == RoutingStep::kCollection) {
    if (status != 200) {
      unavailable("the collection read answered " + std::to_string(status));
      return;
    }
    auto def = policy::parsePartitionKeyDefinition(body);
    if (!def.isOk()) {
      unavailable(std::string(def.status().message()));
      return;
    }
    auto coll = policy::parseCollection(body);
    fetched_definition_ = std::move(def).value();
    fetched_collection_rid_ = coll.isOk() ? coll->rid : std::string();
    fetchRouting(RoutingStep::kPkRanges);
    return;
  }
  // pkranges
  const MessageHead& head = routing_fetch_->responseHead();
  RoutingMapCache::Lookup current = cache.get(route_.database, route_.container);
  if (status == 304 && current.routing) {
    cache.markFresh(route_.database, route_.container);
    routing_ = std::move(current.routing);
  } else if (status == 200) {
    std::string etag(head.headers.getOr("etag", ""));
    auto map = policy::PartitionKeyRangeMap::parse(body, etag);
    if (!map.isOk()) map = policy::PartitionKeyRangeMap::parse(quoteNumericIds(body), etag);
    if (!map.isOk()) {
      unavailable(std::string(map.status().message()));
      return;
    }
    ContainerRouting r;
    if (current.routing && fetched_definition_.paths.empty()) {
      r.definition = current.routing->definition;
      r.collection_rid = current.routing->collection_rid;
    } else {
      r.definition = fetched_definition_;
      r.collection_rid = fetched_collection_rid_;
    }
    const size_t ranges = map->size();
    r.map = std::make_shared<const policy::PartitionKeyRangeMap>(std::move(map).value());
    const char* why = current.routing ? (current.stale ? "stale (split, or an unknown range)"
                                                       : "refreshed")
                                      : "first use";
    cache.put(route_.database, route_.container, std::move(r));
    routing_ = cache.get(route_.database, route_.container).routing;
    COSMOSEAL_LOG(kInfo) << "routing map of " << route_.database << "/" << route_.container
                         << " loaded: " << ranges << " range(s), " << why;
  } else {
    unavailable("the pkranges read answered " + std::to_string(status));
    return;
  }
  if (!routing_) {  // the cache is full: route with the map just read
    unavailable("the routing cache is full");
    return;
  }
  routing_step_ = RoutingStep::kNone;
  fetched_definition_ = {};
  if (phase_ == ExchangePhase::kFanningOut) {
    // A part was refused with 410 (a split): its operations and those not sent yet are
    // regrouped on the new map.
    Status s = regroupFanOut();
    if (!s.isOk()) {
      conn_->localReply(s, false);
      return;
    }
    sendFanOutPart();
    return;
  }
  continueRequest();
}

Status Exchange::regroupFanOut() noexcept {
  const policy::PartitionKeyRangeMap& map = *routing_->map;
  std::vector<size_t> pending = std::move(fanout_pending_);
  fanout_pending_.clear();
  const size_t first_new = fanout_parts_.size();
  for (size_t i : pending) {
    const policy::PartitionKeyRange* range = map.rangeOf(fanout_epks_[i]);
    if (range == nullptr) {
      return Status(Code::kBadGateway, exchange_detail::kRoutingUnavailable,
                    "the routing map of " + route_.database + "/" + route_.container +
                        " has no range for an operation");
    }
    FanOutPart* part = nullptr;
    for (size_t k = first_new; k < fanout_parts_.size(); ++k) {
      if (fanout_parts_[k].range_id == range->id) part = &fanout_parts_[k];
    }
    if (part == nullptr) part = &fanout_parts_.emplace_back(FanOutPart{range->id, {}});
    part->ops.push_back(i);
  }
  return Status::ok();
}

std::string Exchange::sessionTokenFor(std::string_view range_id) const noexcept {
  std::string ours =
      ctx_.partition_keys->routing().sessionToken(route_.database, route_.container, range_id);
  if (!ours.empty()) return ours;
  return appTokenFor(head_.headers.getOr(kSessionHeader, ""), range_id);
}

// A bound of a hierarchical (MultiHash) key made of the hashes of its first k components only,
// none of which is protected (prefix queries and feed ranges on a leading unprotected level, e.g.
// /tenant of /tenant + /cust): a function of unprotected values, the same over the sealed key,
// so it is right as sent and reveals nothing. 32 hex digits per component; an end bound may carry
// the "FF" the SDKs append to a prefix.
bool Exchange::hashesOnlyUnprotectedPrefix(std::string_view bound) const noexcept {
  if (routing_ == nullptr || routing_->definition.kind != policy::PartitionKeyKind::kMultiHash) {
    return false;
  }
  size_t hex = bound.size();
  if (hex % kV2HashHex == 2 && (bound.substr(hex - 2) == "FF" || bound.substr(hex - 2) == "ff")) {
    hex -= 2;
  }
  if (hex == 0 || hex % kV2HashHex != 0) return false;
  const size_t components = hex / kV2HashHex;
  const std::vector<const policy::FieldRule*>& rules = pkRules();
  if (components >= routing_->definition.paths.size() || components > rules.size()) return false;
  for (size_t i = 0; i < components; ++i) {
    if (rules[i] != nullptr) return false;
  }
  for (char c : bound) {
    if (std::isxdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

Status Exchange::applyRouting(bool* reload) noexcept {
  *reload = false;
  const ContainerRouting& r = *routing_;
  const policy::PartitionKeyRangeMap& map = *r.map;
  common::HeaderMap& h = head_.headers;
  const RoutingMapCache& cache = ctx_.partition_keys->routing();
  // An unknown range id or boundary: the map may be older than the SDK's. Reload it once.
  auto wantReload = [&]() {
    if (routing_reloaded_) return false;
    routing_reloaded_ = true;
    ctx_.partition_keys->routing().invalidate(route_.database, route_.container);
    *reload = true;
    return true;
  };

  // The sealed key of the request, and its EPK (a prefix of a hierarchical key spans a range).
  std::string epk;
  bool have_key = false;
  bool prefix = false;
  if (route_.has_partition_key_header) {
    auto e = policy::effectivePartitionKey(h.getOr(kPkHeader, ""), r.definition);
    if (!e.isOk()) return e.status();
    epk = std::move(*e);  // upper-case hex already (policy/routing/epk.h)
    have_key = true;
    prefix = r.definition.kind == policy::PartitionKeyKind::kMultiHash &&
             epk.size() < kV2HashHex * r.definition.paths.size();
  }
  const policy::PartitionKeyRange* real = nullptr;
  if (have_key && !prefix) real = map.rangeOf(epk);
  if (have_key && prefix) {
    const std::string end = epk + "FF";
    auto ranges = map.overlapping(epk, end);
    if (ranges.size() == 1) real = ranges[0];
  }

  // EPK bounds.
  const std::string_view* start = h.get(kStartEpkHeader);
  const std::string_view* end = h.get(kEndEpkHeader);
  if (start != nullptr || end != nullptr) {
    if (have_key) {
      if (!prefix) {
        // The sealed key scopes the request exactly: the plaintext-derived bounds go.
        h.remove(kStartEpkHeader);
        h.remove(kEndEpkHeader);
        h.remove("x-ms-read-key-type");
      } else if (real != nullptr) {
        h.set(kStartEpkHeader, epk);
        h.set(kEndEpkHeader, epk + "FF");
      } else {
        return Status(Code::kInvalidArgument, exchange_detail::kPrefixKeySpansRanges,
                      "the prefix partition key of this request spans several partition-key "
                      "ranges of " + route_.database + "/" + route_.container +
                          ", which one request cannot address once the key is encrypted; use "
                          "a query with the partition-key values in its WHERE clause instead");
      }
    } else {
      for (const std::string_view* b : {start, end}) {
        if (b == nullptr || cache.isKnownBoundary(route_.database, route_.container, *b) ||
            hashesOnlyUnprotectedPrefix(*b)) {
          continue;
        }
        if (wantReload()) return Status::ok();
        return Status(
            Code::kInvalidArgument, exchange_detail::kPlaintextEpk,
            "x-ms-start-epk/x-ms-end-epk of this request were hashed by the SDK from a plaintext "
            "partition key of " + route_.database + "/" + route_.container +
                ", whose partition key cosmoseal encrypts: forwarding them would read nothing "
                "and reveal a hash of the protected value. Instead of a change feed or feed "
                "range for one partition key (Python query_items_change_feed(partition_key=...) "
                "or feed_range_from_partition_key, prefix hierarchical keys, .NET/Java prefix "
                "queries), query with the partition key (partition_key=... / "
                "x-ms-documentdb-partitionkey), or read the change feed of the whole container "
                "or of a feed range from read_feed_ranges() and filter by the key");
      }
    }
  }

  // Range id.
  const std::string_view* rid = h.get(kRangeIdHeader);
  std::string named_id;
  if (rid != nullptr) {
    const size_t comma = rid->find(',');
    if (comma != std::string_view::npos) {
      range_id_prefix_.assign(rid->substr(0, comma + 1));
      named_id.assign(rid->substr(comma + 1));
    } else {
      named_id.assign(*rid);
    }
  }
  using Op = policy::Operation;
  if (rid != nullptr && (route_.op == Op::kBulk || route_.op == Op::kBatch)) {
    auto ops = policy::batchOperations(body_);
    if (!ops.isOk()) return ops.status();
    // One part per real range, in the order of each range's first operation.
    std::vector<FanOutPart> parts;
    std::vector<std::string> epks;
    for (size_t i = 0; i < ops->size(); ++i) {
      const policy::BatchOperationView& op = (*ops)[i];
      std::string op_epk;
      if (op.has_partition_key) {
        auto e = policy::effectivePartitionKey(op.partition_key, r.definition);
        if (!e.isOk()) return e.status().withContext("batch operation #" + std::to_string(i));
        op_epk = std::move(*e);
      } else if (have_key && !prefix) {
        op_epk = epk;
      } else {
        return Status(Code::kInvalidArgument, exchange_detail::kBulkUnroutable,
                      "batch operation #" + std::to_string(i) +
                          " has no partition key, so the sidecar cannot tell its real range; "
                          "nothing was sent");
      }
      const policy::PartitionKeyRange* range = map.rangeOf(op_epk);
      if (range == nullptr) {
        return Status(Code::kBadGateway, exchange_detail::kRoutingUnavailable,
                      "the routing map of " + route_.database + "/" + route_.container +
                          " has no range for an operation; nothing was sent");
      }
      epks.push_back(std::move(op_epk));
      FanOutPart* part = nullptr;
      for (FanOutPart& p : parts) {
        if (p.range_id == range->id) part = &p;
      }
      if (part == nullptr) part = &parts.emplace_back(FanOutPart{range->id, {}});
      part->ops.push_back(i);
    }
    if (parts.size() <= 1 || route_.op == Op::kBatch) {
      // One range (or a transactional batch, which the service keeps to one key): rewrite.
      const std::string& id = parts.empty() ? named_id : parts[0].range_id;
      h.set(kRangeIdHeader, range_id_prefix_ + id);
      if (!parts.empty() && h.has(kSessionHeader)) {
        const std::string token = sessionTokenFor(id);
        if (token.empty()) {
          h.remove(kSessionHeader);
        } else {
          h.set(kSessionHeader, token);
        }
      }
      return Status::ok();
    }
    fanout_ops_.reserve(ops->size());
    for (const policy::BatchOperationView& op : *ops) fanout_ops_.emplace_back(op.raw);
    fanout_results_.assign(ops->size(), std::string());
    fanout_parts_ = std::move(parts);
    fanout_epks_ = std::move(epks);
    COSMOSEAL_LOG(kDebug) << "bulk of " << ops->size() << " operation(s) on " << route_.database
                          << "/" << route_.container << " regrouped into "
                          << fanout_parts_.size() << " real range(s)";
    return Status::ok();
  }
  if (rid != nullptr && !have_key && route_.op == Op::kQuery) {
    policy::QueryBody q;
    const Status parsed =
        q.parse(body_, policy::queryBodyFormat(h.getOr("content-type", "")));
    if (parsed.isOk() && isReadManyQuery(q.query(), r.definition)) {
      // readMany grouped by the plaintext hash: the SDK's range holds only some of the items.
      // The query names its items by (id, key): it runs across partitions instead, where the
      // gateway finds each item in its real range.
      h.remove(kRangeIdHeader);
      h.remove(kStartEpkHeader);
      h.remove(kEndEpkHeader);
      h.remove("x-ms-read-key-type");
      h.set("x-ms-documentdb-query-enablecrosspartition", "true");
      COSMOSEAL_LOG(kDebug) << "readMany query on " << route_.database << "/" << route_.container
                            << " sent across partitions instead of range " << named_id;
      return Status::ok();
    }
  }
  if (rid != nullptr) {
    if (real != nullptr) {
      h.set(kRangeIdHeader, range_id_prefix_ + real->id);
    } else if (have_key) {
      return Status(Code::kInvalidArgument, exchange_detail::kPrefixKeySpansRanges,
                    "the prefix partition key of this request spans several partition-key ranges "
                    "of " + route_.database + "/" + route_.container +
                        " once encrypted; query with the prefix in the WHERE clause instead");
    } else if (map.byId(named_id) == nullptr && wantReload()) {
      return Status::ok();
    }
    // Otherwise a range id from the range map (a per-range feed or query of the SDK): it names
    // a real range; an id the service no longer knows is answered 410 and the SDK refreshes.
  }

  // Session token: the one of the real range.
  if (real != nullptr && h.has(kSessionHeader)) {
    const std::string token = sessionTokenFor(real->id);
    if (token.empty()) {
      h.remove(kSessionHeader);
    } else {
      h.set(kSessionHeader, token);
    }
  }
  return Status::ok();
}

void Exchange::learnFromAnswer(const MessageHead& answer) noexcept {
  if (decision_.policy == nullptr || !route_.inContainer()) return;
  RoutingMapCache& routing = ctx_.partition_keys->routing();
  const int sub = substatusOf(answer.headers);
  if (const std::string_view* token = answer.headers.get(kSessionHeader)) {
    routing.noteSessionTokens(route_.database, route_.container, *token);
  }
  if (answer.status == 410 && (sub == 1002 || sub == 1007 || sub == 1008)) {
    routing.invalidate(route_.database, route_.container);
    COSMOSEAL_LOG(kInfo) << "routing map of " << route_.database << "/" << route_.container
                         << " marked stale: upstream answered 410/" << sub;
  }
  // Learned partition-key paths (no `partition_key` in the policy) are dropped when the service
  // says the container is not the one they were learned from (docs/ROUTING.md).
  if (decision_.policy->partitionKeyKnown()) return;
  const char* why = nullptr;
  if (answer.status == 404 && sub == 1003) why = "404/1003 (owner resource gone)";
  if (answer.status == 410 && sub == 1000) why = "410/1000 (name cache stale)";
  if (why == nullptr) {
    for (std::string_view name : {"x-ms-content-path", "x-ms-alt-content-path"}) {
      std::string_view v = answer.headers.getOr(name, "");
      while (!v.empty() && v.back() == '/') v.remove_suffix(1);
      const std::string_view last = v.substr(v.rfind('/') + 1);
      if (!policy::isRidShaped(last, 8)) continue;
      auto learned = ctx_.partition_keys->ridOfContainer(route_.database, route_.container);
      if (learned && *learned != last) why = "its collection RID changed";
      break;
    }
  }
  if (why == nullptr) {
    watch_pk_mismatch_ = answer.status == 400;
    return;
  }
  ctx_.partition_keys->forget(route_.database, route_.container);
  COSMOSEAL_LOG(kInfo) << "forgot the learned partition key of " << route_.database << "/"
                       << route_.container << ": " << why;
}

void Exchange::checkPartitionKeyMismatch() noexcept {
  if (!watch_pk_mismatch_) return;
  watch_pk_mismatch_ = false;
  std::string lower = common::toLowerAscii(mismatch_probe_);
  common::secureZero(mismatch_probe_.data(), mismatch_probe_.size());
  mismatch_probe_.clear();
  if (lower.find("partitionkey extracted from document") == std::string::npos &&
      lower.find("partition key provided either doesn't correspond") == std::string::npos) {
    return;
  }
  ctx_.partition_keys->forget(route_.database, route_.container);
  COSMOSEAL_LOG(kInfo) << "forgot the learned partition key of " << route_.database << "/"
                       << route_.container << ": the service says the partition key does not "
                       << "match the document";
}

void Exchange::sendFanOutPart() noexcept {
  const FanOutPart& part = fanout_parts_[fanout_next_];
  std::string sub = "[";
  for (size_t k = 0; k < part.ops.size(); ++k) {
    if (k != 0) sub.push_back(',');
    sub.append(fanout_ops_[part.ops[k]]);
  }
  sub.push_back(']');
  common::HeaderMap& h = head_.headers;
  const std::string app_session(h.getOr(kSessionHeader, ""));
  h.set(kRangeIdHeader, range_id_prefix_ + part.range_id);
  if (!app_session.empty()) {
    const std::string token = sessionTokenFor(part.range_id);
    if (token.empty()) {
      h.remove(kSessionHeader);
    } else {
      h.set(kSessionHeader, token);
    }
  }
  // The same method, resource and date for every part: the app's verified string-to-sign is
  // signed again for each.
  std::string request;
  body_.swap(sub);
  buildUpstreamHead(&request);
  request.append(body_);
  body_.swap(sub);
  if (!app_session.empty()) h.set(kSessionHeader, app_session);
  MetadataFetch::Callbacks* callbacks = this;  // a private base: converted here
  fanout_fetch_ = MetadataFetch::raw(ctx_, &response_charge_, callbacks, std::move(request));
  fanout_fetch_->setTarget(&upstreamTarget());  // the region the app's request was for
  if (upstream_start_ns_ == 0) upstream_start_ns_ = uv_hrtime();
  fanout_fetch_->start();
}

void Exchange::onFanOutAnswer(int status, std::string body) noexcept {
  const MessageHead& head = fanout_fetch_->responseHead();
  if (status != 503 || head.status != 0) learnFromAnswer(head);
  const int gone_sub = head.status == 410 ? substatusOf(head.headers) : -1;
  if ((gone_sub == 1002 || gone_sub == 1007 || gone_sub == 1008) && !routing_reloaded_) {
    // The range split under this part: nothing of it ran. Reload the map once and send this
    // part's operations, and those not sent yet, to the ranges that hold them now.
    routing_reloaded_ = true;
    for (size_t k = fanout_next_; k < fanout_parts_.size(); ++k) {
      for (size_t i : fanout_parts_[k].ops) fanout_pending_.push_back(i);
    }
    fanout_parts_.resize(fanout_next_);
    common::secureZero(body.data(), body.size());
    fetchRouting(RoutingStep::kPkRanges);
    return;
  }
  const FanOutPart& part = fanout_parts_[fanout_next_];
  if (fanout_next_ == 0 && head.status != 0) response_ = head;  // headers of the answer
  fanout_charge_ += parseCharge(head.headers.getOr("x-ms-request-charge", ""));
  // One range's token only: an SDK reads the token of a range-addressed answer as
  // "rangeId:token" (the Java SDK splits a compound one wrongly and sends back an invalid
  // token). The others are kept by the sidecar (learnFromAnswer) and sent where they belong.
  if (const std::string_view* token = head.headers.get(kSessionHeader)) {
    if (fanout_sessions_.empty() && token->find(',') == std::string_view::npos) {
      fanout_sessions_.assign(*token);
    }
  }
  bool filled = false;
  if (status == 200 || status == 207) {
    auto results = policy::jsonArrayElements(body);
    if (results.isOk() && results->size() == part.ops.size()) {
      for (size_t k = 0; k < part.ops.size(); ++k) {
        fanout_results_[part.ops[k]].assign((*results)[k]);
      }
      filled = true;
      if (status == 207) fanout_failed_op_ = true;
    }
  }
  if (!filled) {
    // The part failed as a whole (throttled, gone, unreadable): each of its operations carries
    // that status, as the service reports per-operation failures.
    const int sub = head.status != 0 ? substatusOf(head.headers) : -1;
    std::string result = "{\"statusCode\":" + std::to_string(status == 200 ? 500 : status);
    if (sub >= 0) result += ",\"subStatusCode\":" + std::to_string(sub);
    const std::string_view retry = head.headers.getOr("x-ms-retry-after-ms", "");
    if (!retry.empty() && retry.find_first_not_of("0123456789") == std::string_view::npos) {
      result += ",\"retryAfterMilliseconds\":" + std::string(retry);
    }
    result += ",\"requestCharge\":0}";
    for (size_t i : part.ops) fanout_results_[i] = result;
    fanout_failed_op_ = true;
  }
  common::secureZero(body.data(), body.size());
  ++fanout_next_;
  if (fanout_next_ < fanout_parts_.size()) {
    sendFanOutPart();
    return;
  }
  finishFanOut();
}

void Exchange::finishFanOut() noexcept {
  if (upstream_start_ns_ != 0) upstream_ns_ += uv_hrtime() - upstream_start_ns_;
  upstream_start_ns_ = 0;
  std::string merged = "[";
  for (size_t i = 0; i < fanout_results_.size(); ++i) {
    if (i != 0) merged.push_back(',');
    merged.append(fanout_results_[i]);
    common::secureZero(fanout_results_[i].data(), fanout_results_[i].size());
  }
  merged.push_back(']');
  fanout_results_.clear();
  response_.status = fanout_failed_op_ ? 207 : 200;
  response_.reason = fanout_failed_op_ ? "Multi-Status" : "OK";
  char charge[32];
  snprintf(charge, sizeof(charge), "%.2f", fanout_charge_);
  response_.headers.set("x-ms-request-charge", charge);
  if (!fanout_sessions_.empty()) response_.headers.set(kSessionHeader, fanout_sessions_);
  response_.headers.remove(kRangeIdHeader);
  response_.framing = Framing::kContentLength;
  response_.content_length = merged.size();
  moveTo(ExchangePhase::kBufferingResponse);
  Status s = chargeBuffer(&response_charge_, merged.size() + kJsonPadding);
  if (s.isOk()) {
    response_body_ = std::move(merged);
    ResponseFault fault = ResponseFault::kUpstream;
    s = finishBufferedResponse(&fault);
  }
  if (!s.isOk()) {
    conn_->localReply(s, false);
    return;
  }
  conn_->flush();
  finish(response_.status, "");
  conn_->exchangeDone();  // may retire (and later delete) this exchange: nothing after this
}

}  // namespace cosmoseal::proxy
