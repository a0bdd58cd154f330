// Exchange, response side: upstream head and body, decryption, discovery rewrite, streaming vs
// buffering (see exchange.h).

#include <uv.h>

#include <optional>

#include "common/log.h"
#include "common/secret_bytes.h"
#include "policy/account_rewrite.h"
#include "policy/container_meta.h"
#include "proxy/admission/rules.h"
#include "proxy/exchange/details.h"
#include "proxy/exchange/downstream_connection.h"
#include "proxy/exchange/exchange.h"
#include "proxy/upstream/region_table.h"

namespace cosmoseal::proxy {

using common::Code;
using common::HeaderMap;
using common::Status;

Status Exchange::decryptResponse(std::string* body, ResponseFault* fault) noexcept {
  policy::JsonTransformer* tx = ctx_.state->transformer.get();
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
  if (!s.isOk()) {
    *fault = ResponseFault::kData;
    return s;
  }
  common::secureZero(body->data(), body->size());
  *body = std::move(out);
  response_charge_.resize(body->capacity(), 0);  // the encrypted copy is gone
  return Status::ok();
}

Status Exchange::onUpstreamHead(MessageHead& head) noexcept {
  response_ = std::move(head);
  learnFromAnswer(response_);  // session tokens, stale routing maps and learned paths
  const bool ok = response_.status >= 200 && response_.status < 300;
  // Database and collection metadata: partition keys of protected containers, and the RIDs
  // behind names (RID-addressed routes are matched to rules and policies by name).
  learn_metadata_ = ok && head_.method != "DELETE" && (!route_.rid_like || route_.rid_resolved) &&
                    (route_.kind == policy::ResourceKind::kCollection ||
                     route_.kind == policy::ResourceKind::kCollectionFeed ||
                     route_.kind == policy::ResourceKind::kDatabase ||
                     route_.kind == policy::ResourceKind::kDatabaseFeed);
  if (ok && (route_.op == policy::Operation::kMetadataList ||
             route_.op == policy::Operation::kMetadataQuery)) {
    if (route_.kind == policy::ResourceKind::kDatabaseFeed) listing_member_ = "Databases";
    if (route_.kind == policy::ResourceKind::kCollectionFeed)
      listing_member_ = "DocumentCollections";
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
      return Status(Code::kBadGateway, exchange_detail::kCompressedResponse,
                    "the upstream compressed a response the sidecar must read (cosmoseal asks "
                    "for Accept-Encoding: identity)");
    }
    moveTo(ExchangePhase::kBufferingResponse);
    if (response_.framing == Framing::kContentLength) {
      COSMOSEAL_RETURN_IF_ERROR(
          chargeBuffer(&response_charge_, response_.content_length + kJsonPadding));
      response_body_.reserve(static_cast<size_t>(response_.content_length) + kJsonPadding);
    }
    return Status::ok();
  }
  HeaderMap headers = std::move(response_.headers);
  startResponse(response_.status, response_.reason, headers, response_.framing,
                response_.content_length);
  return Status::ok();
}

void Exchange::startResponse(int status, std::string_view reason, const HeaderMap& headers,
                             Framing framing, uint64_t content_length) noexcept {
  const ConfigSnapshot& rt = *ctx_.state->snapshot;
  HeaderMap out;
  const ConnectionNominated nominated(headers);
  for (const common::Header& h : headers.fields()) {
    if (isHopByHopOrFraming(h.token) || nominated.contains(h.name)) continue;
    if (common::equalsIgnoreCase(h.name, "content-location") ||
        common::equalsIgnoreCase(h.name, "location")) {
      out.add(h.name,
              policy::rewriteAbsoluteUrl(h.value, region_ ? region_->origin : rt.upstreamOrigin(),
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
  if (conn_->mustClose()) {
    conn_->setCloseAfterResponse();
    out.add("Connection", "close");
  }
  std::string head;
  head.reserve(512);
  appendResponseHead(&head, status, reason, out);
  conn_->write(head);
  moveTo(ExchangePhase::kResponding);
  ctx_.stats->countStatus(status);
}

Status Exchange::onUpstreamBody(std::string_view data) noexcept {
  if (phase_ == ExchangePhase::kBufferingResponse) {
    const uint64_t limit = config().limits.max_response_body_bytes;
    if (response_body_.size() + data.size() > limit) {
      return Status(
          Code::kBadGateway, exchange_detail::kResponseTooLarge,
          "upstream response over the buffering limit of " + std::to_string(limit) + " bytes");
    }
    if (response_body_.size() + data.size() > response_charge_.bytes()) {
      COSMOSEAL_RETURN_IF_ERROR(
          chargeBuffer(&response_charge_, response_body_.size() + data.size()));
    }
    common::appendWiping(&response_body_, data);  // no unwiped block left when it grows
    return Status::ok();
  }
  if (watch_pk_mismatch_ && mismatch_probe_.size() < 4096) {
    mismatch_probe_.append(data.substr(0, 4096 - mismatch_probe_.size()));
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
  // Backpressure: above the downstream high watermark, or while the budget is overdrawn and this
  // app still has bytes queued, stop reading the upstream; onDownstreamDrained() resumes.
  if (conn_->shouldPauseProducer() && upstream_ != nullptr && !upstream_paused_) {
    upstream_->pauseReading();
    upstream_paused_ = true;
  }
  return Status::ok();
}

Status Exchange::finishBufferedResponse(ResponseFault* fault) noexcept {
  *fault = ResponseFault::kUpstream;
  std::string body;
  if (decision_.rewrite_account) {
    const std::string advertised = conn_->ownOrigin(head_.headers);
    const Config& cfg = ctx_.state->snapshot->config();
    const std::vector<uint16_t>& ports = cfg.listen.region_ports;
    // With region ports, each region is advertised at the advertised origin's host with its own
    // port, and the main port stands for the global endpoint (also when this discovery read came
    // in on a region port).
    std::optional<policy::HttpOrigin> base;
    if (!ports.empty()) {
      auto o = policy::parseHttpOrigin(advertised);
      if (o.isOk()) base = std::move(o).value();
    }
    auto originWithPort = [&](uint16_t port) {
      policy::HttpOrigin o = *base;
      o.port = port;
      return o.url();
    };
    const std::string own = base && ctx_.region >= 0 && cfg.listen.advertise_url.empty()
                                ? originWithPort(cfg.listen.port)
                                : advertised + "/";
    policy::RegionalUrl regional;
    if (base && ctx_.regions != nullptr) {
      regional = [&](std::string_view name, std::string_view endpoint) -> std::string {
        auto ep = policy::parseHttpOrigin(endpoint);
        if (!ep.isOk() || ep->scheme != cfg.upstream.scheme) {
          // Another scheme would need another TLS setup (or none): keep it on the main URL.
          COSMOSEAL_LOG(kWarn) << "region \"" << name << "\": endpoint '" << endpoint
                               << "' is not a " << cfg.upstream.scheme
                               << " origin like upstream.endpoint; advertised at the main URL";
          return {};
        }
        const RegionTable::Learned learned =
            ctx_.regions->learn(name, ep->scheme, ep->host, ep->port);
        if (learned.overflow) {
          COSMOSEAL_LOG(kWarn) << "region \"" << name << "\": more account regions than "
                               << "listen.region_ports (" << ports.size()
                               << "); it is advertised at the main URL " << own;
        }
        if (learned.slot < 0) return {};
        const uint16_t port = ports[static_cast<size_t>(learned.slot)];
        if (learned.added || learned.changed) {
          COSMOSEAL_LOG(kInfo) << "region \"" << name << "\" -> " << cfg.listen.address << ":"
                               << port << " -> " << ep->url()
                               << (learned.changed ? " (endpoint changed)" : "");
        }
        return originWithPort(port);
      };
    }
    if (cfg.listen.mode == ListenMode::kTransparent && cfg.listen.transparent &&
        ctx_.regions != nullptr) {
      // Transparent mode: the app reaches regions by their real host names, which the capture
      // sends to cosmoseal too. A regional endpoint whose host is on the interception allow-list
      // keeps its real URL (and is remembered, so its SNI name is forwarded to it); any other
      // is rewritten to the account host as before.
      regional = [&](std::string_view name, std::string_view endpoint) -> std::string {
        auto ep = policy::parseHttpOrigin(endpoint);
        if (!ep.isOk() || ep->scheme != cfg.upstream.scheme ||
            !TlsContext::hostAllowed(ep->host, cfg.listen.transparent->allowed_hosts)) {
          return {};
        }
        if (ctx_.regions->learnHost(name, ep->scheme, ep->host, ep->port)) {
          COSMOSEAL_LOG(kInfo) << "region \"" << name << "\" -> " << ep->url()
                               << " (transparent mode: its host name is forwarded there)";
        }
        return std::string(endpoint);
      };
    }
    int rewritten = 0;
    auto r = policy::rewriteAccountDocument(response_body_, own, regional, &rewritten);
    if (!r.isOk()) {
      return Status(Code::kBadGateway, exchange_detail::kDiscoveryBadJson,
                    "cannot rewrite the account document: " + std::string(r.status().message()));
    }
    body = std::move(r).value();
    ctx_.stats->inc(ctx_.stats->discovery_rewrites);
    COSMOSEAL_LOG(kDebug) << "account discovery: " << rewritten << " endpoint(s) rewritten to "
                          << own;
  } else if (decision_.transform_response_body) {
    COSMOSEAL_RETURN_IF_ERROR(decryptResponse(&response_body_, fault));
    body.swap(response_body_);  // `body` was empty: response_body_ is left empty
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
          [&](std::string_view id) {
            return databases ? canSee(client, id, {}) : canSee(client, db, id);
          },
          &removed);
      if (!filtered.isOk()) {
        *fault = ResponseFault::kData;
        return filtered.status();
      }
      body = std::move(filtered).value();
    } else {
      body.swap(response_body_);  // `body` was empty: response_body_ is left empty
    }
  }
  // The body goes to the write queue with its charge and stays charged until the kernel has
  // taken it: a slow app keeps its response on the budget. Charged first (both copies while the
  // buffered one still exists; with TLS the ciphertext too), so a refusal comes before the head.
  // (response_body_ is empty when it became `body`; a rewrite or a filter made a new string.)
  const uint64_t queue_cost = conn_->queueCost(body.capacity());
  COSMOSEAL_RETURN_IF_ERROR(
      chargeBuffer(&response_charge_, response_body_.capacity() + queue_cost));
  common::secureZero(response_body_.data(), response_body_.size());
  std::string().swap(response_body_);
  response_charge_.resize(queue_cost, 0);
  HeaderMap headers = std::move(response_.headers);
  startResponse(response_.status, response_.reason, headers, Framing::kContentLength, body.size());
  conn_->writeCharged(std::move(body), &response_charge_);
  return Status::ok();
}

void Exchange::learnFromMetadata(std::string_view body) noexcept {
  PartitionKeyCache& cache = *ctx_.partition_keys;
  const policy::PolicySet& policies = *ctx_.state->snapshot->policies();
  using Kind = policy::ResourceKind;
  if (route_.kind == Kind::kDatabase ||
      (route_.kind == Kind::kDatabaseFeed && route_.op == policy::Operation::kMetadataCreate)) {
    auto db = policy::parseResourceName(body);
    if (db.isOk() && !db->rid.empty()) cache.putDatabaseRid(db->rid, db->id);
    return;
  }
  if (route_.kind == Kind::kDatabaseFeed) {
    auto dbs = policy::parseResourceNames(body, "Databases");
    if (!dbs.isOk()) return;
    for (const policy::ResourceName& db : *dbs) {
      if (!db.rid.empty()) cache.putDatabaseRid(db.rid, db.id);
    }
    return;
  }
  auto remember = [&](policy::CollectionInfo& c) {
    if (!c.rid.empty()) {
      cache.putCollectionRid(c.rid, route_.database, c.id);
      if (auto db_rid = policy::databaseRidOf(c.rid))
        cache.putDatabaseRid(*db_rid, route_.database);
    }
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
  if (head_.method == "DELETE" && response_.status >= 200 && response_.status < 300) {
    PartitionKeyCache& cache = *ctx_.partition_keys;
    if (route_.kind == policy::ResourceKind::kCollection) {
      cache.forget(route_.database, route_.container);
    } else if (route_.kind == policy::ResourceKind::kDatabase) {
      cache.forgetDatabase(route_.database);
    }
  }
  checkPartitionKeyMismatch();
  if (phase_ == ExchangePhase::kBufferingResponse) {
    ResponseFault fault = ResponseFault::kUpstream;
    Status s = finishBufferedResponse(&fault);
    if (!s.isOk()) {
      // The upstream exchange itself succeeded: the connection stays reusable. A decrypt or
      // filter failure is about the data, not an upstream error.
      releaseUpstream(response_.keep_alive);
      if (fault == ResponseFault::kUpstream) ctx_.stats->inc(ctx_.stats->upstream_errors);
      conn_->localReply(s, false);
      return;
    }
  } else if (downstream_framing_ == Framing::kChunked) {
    conn_->write(kLastChunk);
  }
  conn_->flush();
  releaseUpstream(response_.keep_alive);
  finish(response_.status, "");
  COSMOSEAL_LOG(kDebug) << head_.method << " " << head_.target << " -> " << response_.status
                        << " client=" << (client_ ? client_->name : "-")
                        << (region_ ? " region=\"" + region_->name + "\"" : std::string()) << " "
                        << (uv_hrtime() - started_ns_) / 1000 << "us";
  conn_->exchangeDone();  // may retire (and later delete) this exchange: nothing after this
}

}  // namespace cosmoseal::proxy
