#include "policy/route/route.h"

#include <algorithm>
#include <span>
#include <utility>

#include "common/text.h"
#include "common/url.h"
#include "crypto/base64.h"
#include "crypto/cosmos_auth.h"
#include "policy/json/text.h"
#include "policy/route/details.h"

namespace cosmoseal::policy {

namespace rd = route_detail;

using common::Code;
using common::HeaderMap;
using common::Status;
using common::StatusOr;

namespace {

Status badPath(std::string message) {
  return Status(Code::kInvalidArgument, rd::kBadPath, std::move(message));
}

// RFC 3986 pchar minus '%' (handled separately): unreserved / sub-delims / ':' / '@'.
bool isPcharRaw(unsigned char c) noexcept {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':                        // unreserved
    case '!': case '$': case '&': case '\'': case '(': case ')':  // sub-delims
    case '*': case '+': case ',': case ';': case '=':
    case ':': case '@':
      return true;
    default:
      return false;
  }
}

// Strict UTF-8 (no overlongs, no surrogates, max U+10FFFF).
Status decodeSegment(std::string_view raw, std::string* out) {
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (c != '%' && !isPcharRaw(c)) {
      return badPath("path contains a character that must be percent-encoded; expected RFC 3986 "
                     "path characters");
    }
  }
  // The same decoder the signature uses (crypto/cosmos_auth.h), then our stricter checks.
  if (!common::percentDecode(raw, out)) {
    return badPath("malformed percent-escape in path segment; expected %XX with two hex digits");
  }
  for (char ch : *out) {
    const auto d = static_cast<unsigned char>(ch);
    if (d < 0x20 || d == 0x7f) {
      return badPath("path segment decodes to a control character; expected none");
    }
    if (d == '/' || d == '\\') {
      return badPath("path segment decodes to '/' or '\\'; expected none (Cosmos ids cannot "
                     "contain them)");
    }
  }
  if (!isValidUtf8(*out)) return badPath("path segment is not valid UTF-8; expected UTF-8");
  if (*out == "." || *out == "..") {
    return badPath("path contains a '.' or '..' segment; expected none");
  }
  return Status::ok();
}

enum class Tri : uint8_t { kAbsent, kFalse, kTrue, kInvalid };

Tri boolHeader(const HeaderMap& headers, std::string_view name) {
  size_t n = headers.count(name);
  if (n == 0) return Tri::kAbsent;
  if (n > 1) return Tri::kInvalid;
  const std::string_view* v = headers.get(name);
  if (common::equalsIgnoreCase(*v, "true")) return Tri::kTrue;
  if (common::equalsIgnoreCase(*v, "false")) return Tri::kFalse;
  return Tri::kInvalid;
}

struct Signals {
  bool invalid = false;  // a repeated or non-boolean signal header
  bool query = false;
  bool query_plan = false;
  bool batch = false;
  bool atomic = false;
  bool upsert = false;
  bool has_aim = false;
  bool change_feed = false;  // A-IM names a change-feed mode we know
};

Signals readSignals(const HeaderMap& headers) {
  Signals s;
  auto flag = [&](std::string_view name) {
    Tri t = boolHeader(headers, name);
    if (t == Tri::kInvalid) s.invalid = true;
    return t == Tri::kTrue;
  };
  bool isquery = flag("x-ms-documentdb-isquery");
  bool query = flag("x-ms-documentdb-query");
  s.query_plan = flag("x-ms-cosmos-is-query-plan-request");
  s.batch = flag("x-ms-cosmos-is-batch-request");
  s.atomic = flag("x-ms-cosmos-batch-atomic");
  s.upsert = flag("x-ms-documentdb-is-upsert");

  bool query_type = false;
  size_t ct_count = headers.count("content-type");
  if (ct_count > 1) s.invalid = true;
  if (const std::string_view* ct = headers.get("content-type")) {
    std::string_view media = *ct;
    size_t semi = media.find(';');
    if (semi != std::string_view::npos) media = media.substr(0, semi);
    media = common::trimOws(media);
    query_type = common::equalsIgnoreCase(media, "application/query+json") ||
                 common::equalsIgnoreCase(media, "application/sql");
  }
  s.query = isquery || query || query_type || s.query_plan;

  size_t aim_count = headers.count("a-im");
  if (aim_count > 1) s.invalid = true;
  if (const std::string_view* aim = headers.get("a-im")) {
    s.has_aim = true;
    std::string_view v = common::trimOws(*aim);
    s.change_feed = common::equalsIgnoreCase(v, "Incremental Feed") ||
                    common::equalsIgnoreCase(v, "Full-Fidelity Feed");
  }
  return s;
}

bool isMetadataFeed(ResourceKind k) noexcept {
  switch (k) {
    case ResourceKind::kDatabaseFeed:
    case ResourceKind::kCollectionFeed:
    case ResourceKind::kStoredProcedureFeed:
    case ResourceKind::kUdfFeed:
    case ResourceKind::kTriggerFeed:
    case ResourceKind::kConflictFeed:
    case ResourceKind::kUserFeed:
    case ResourceKind::kPermissionFeed:
    case ResourceKind::kClientEncryptionKeyFeed:
    case ResourceKind::kOfferFeed:
      return true;
    default:
      return false;
  }
}

bool isMetadataItem(ResourceKind k) noexcept {
  switch (k) {
    case ResourceKind::kDatabase:
    case ResourceKind::kCollection:
    case ResourceKind::kPartitionKeyRange:
    case ResourceKind::kStoredProcedure:
    case ResourceKind::kUdf:
    case ResourceKind::kTrigger:
    case ResourceKind::kConflict:
    case ResourceKind::kUser:
    case ResourceKind::kPermission:
    case ResourceKind::kClientEncryptionKey:
    case ResourceKind::kOffer:
      return true;
    default:
      return false;
  }
}

// Fills kind, database, container and item_id from the decoded segments.
void classifyPath(Route* r) {
  const auto& s = r->segments;
  const size_t n = s.size();
  r->kind = ResourceKind::kUnknown;
  if (n == 0) {
    r->kind = ResourceKind::kAccount;
    return;
  }
  // Ids by position, even when a resource word differs in case (see the header).
  if (n >= 2 && common::equalsIgnoreCase(s[0], "dbs")) {
    r->database = s[1];
    if (n >= 4 && common::equalsIgnoreCase(s[2], "colls")) r->container = s[3];
  }
  if (s[0] == "offers") {
    if (n == 1) r->kind = ResourceKind::kOfferFeed;
    if (n == 2) {
      r->kind = ResourceKind::kOffer;
      r->item_id = s[1];
    }
    return;
  }
  if (s[0] == "addresses") {
    if (n == 1) r->kind = ResourceKind::kAddresses;
    return;
  }
  if (s[0] != "dbs") return;
  if (n == 1) {
    r->kind = ResourceKind::kDatabaseFeed;
    return;
  }
  if (n == 2) {
    r->kind = ResourceKind::kDatabase;
    r->item_id = s[1];
    return;
  }
  const std::string& t2 = s[2];
  if (t2 == "users") {
    if (n == 3) r->kind = ResourceKind::kUserFeed;
    if (n == 4) r->kind = ResourceKind::kUser;
    if (n >= 5 && s[4] != "permissions") return;
    if (n == 5) r->kind = ResourceKind::kPermissionFeed;
    if (n == 6) r->kind = ResourceKind::kPermission;
    if (n == 4 || n == 6) r->item_id = s[n - 1];
    return;
  }
  if (t2 == "clientencryptionkeys") {
    if (n == 3) r->kind = ResourceKind::kClientEncryptionKeyFeed;
    if (n == 4) {
      r->kind = ResourceKind::kClientEncryptionKey;
      r->item_id = s[3];
    }
    return;
  }
  if (t2 != "colls") return;
  if (n == 3) {
    r->kind = ResourceKind::kCollectionFeed;
    return;
  }
  if (n == 4) {
    r->kind = ResourceKind::kCollection;
    r->item_id = s[3];
    return;
  }
  if (n > 6) return;
  const std::string& t4 = s[4];
  struct Pair {
    const char* word;
    ResourceKind feed;
    ResourceKind item;
  };
  static constexpr Pair kChildren[] = {
      {"docs", ResourceKind::kDocumentFeed, ResourceKind::kDocument},
      {"pkranges", ResourceKind::kPartitionKeyRangeFeed, ResourceKind::kPartitionKeyRange},
      {"sprocs", ResourceKind::kStoredProcedureFeed, ResourceKind::kStoredProcedure},
      {"udfs", ResourceKind::kUdfFeed, ResourceKind::kUdf},
      {"triggers", ResourceKind::kTriggerFeed, ResourceKind::kTrigger},
      {"conflicts", ResourceKind::kConflictFeed, ResourceKind::kConflict},
  };
  for (const Pair& p : kChildren) {
    if (t4 != p.word) continue;
    if (n == 5) {
      r->kind = p.feed;
    } else {
      r->kind = p.item;
      r->item_id = s[5];
    }
    return;
  }
  if (t4 == "operations" && n == 6 && s[5] == "partitionkeydelete") {
    r->kind = ResourceKind::kPartitionKeyDelete;
  }
}

Operation classifyOperation(std::string_view method, ResourceKind kind, const Signals& sig) {
  if (sig.invalid) return Operation::kUnknown;
  const bool get = method == "GET";
  const bool post = method == "POST";
  const bool put = method == "PUT";
  const bool del = method == "DELETE";
  switch (kind) {
    case ResourceKind::kAccount:
      return get ? Operation::kAccountRead : Operation::kUnknown;
    case ResourceKind::kAddresses:
      return get ? Operation::kMetadataRead : Operation::kUnknown;
    case ResourceKind::kDocumentFeed:
      if (post) {
        if (sig.has_aim) return Operation::kUnknown;
        int kinds = int(sig.query) + int(sig.batch) + int(sig.upsert);
        if (kinds > 1) return Operation::kUnknown;
        if (sig.query) return sig.query_plan ? Operation::kQueryPlan : Operation::kQuery;
        if (sig.batch) return sig.atomic ? Operation::kBatch : Operation::kBulk;
        if (sig.upsert) return Operation::kUpsert;
        return Operation::kCreate;
      }
      if (get) {
        if (sig.query || sig.batch) return Operation::kUnknown;
        if (sig.has_aim) return sig.change_feed ? Operation::kChangeFeed : Operation::kUnknown;
        return Operation::kReadFeed;
      }
      return Operation::kUnknown;
    case ResourceKind::kDocument:
      if (sig.query || sig.batch) return Operation::kUnknown;
      if (get) return Operation::kRead;
      if (put) return sig.upsert ? Operation::kUpsert : Operation::kReplace;
      if (method == "PATCH") return Operation::kPatch;
      if (del) return Operation::kDelete;
      return Operation::kUnknown;
    case ResourceKind::kPartitionKeyDelete:
      return post && !sig.query && !sig.batch ? Operation::kPartitionKeyDelete
                                              : Operation::kUnknown;
    case ResourceKind::kPartitionKeyRangeFeed:
      return get ? Operation::kMetadataList : Operation::kUnknown;
    case ResourceKind::kUnknown:
      return Operation::kUnknown;
    default:
      break;
  }
  if (sig.batch) return Operation::kUnknown;
  if (isMetadataFeed(kind)) {
    if (post) return sig.query ? Operation::kMetadataQuery : Operation::kMetadataCreate;
    if (get) return Operation::kMetadataList;
    return Operation::kUnknown;
  }
  if (isMetadataItem(kind)) {
    if (sig.query) return Operation::kUnknown;
    if (kind == ResourceKind::kStoredProcedure && post) return Operation::kSprocExecute;
    if (get) return Operation::kMetadataRead;
    if (put) return Operation::kMetadataReplace;
    if (del) return Operation::kMetadataDelete;
  }
  return Operation::kUnknown;
}

}  // namespace

const char* resourceKindName(ResourceKind kind) noexcept {
  switch (kind) {
    case ResourceKind::kAccount: return "account";
    case ResourceKind::kDatabaseFeed: return "database_feed";
    case ResourceKind::kDatabase: return "database";
    case ResourceKind::kCollectionFeed: return "collection_feed";
    case ResourceKind::kCollection: return "collection";
    case ResourceKind::kDocumentFeed: return "document_feed";
    case ResourceKind::kDocument: return "document";
    case ResourceKind::kPartitionKeyRangeFeed: return "pkrange_feed";
    case ResourceKind::kPartitionKeyRange: return "pkrange";
    case ResourceKind::kStoredProcedureFeed: return "sproc_feed";
    case ResourceKind::kStoredProcedure: return "sproc";
    case ResourceKind::kUdfFeed: return "udf_feed";
    case ResourceKind::kUdf: return "udf";
    case ResourceKind::kTriggerFeed: return "trigger_feed";
    case ResourceKind::kTrigger: return "trigger";
    case ResourceKind::kConflictFeed: return "conflict_feed";
    case ResourceKind::kConflict: return "conflict";
    case ResourceKind::kUserFeed: return "user_feed";
    case ResourceKind::kUser: return "user";
    case ResourceKind::kPermissionFeed: return "permission_feed";
    case ResourceKind::kPermission: return "permission";
    case ResourceKind::kClientEncryptionKeyFeed: return "clientencryptionkey_feed";
    case ResourceKind::kClientEncryptionKey: return "clientencryptionkey";
    case ResourceKind::kOfferFeed: return "offer_feed";
    case ResourceKind::kOffer: return "offer";
    case ResourceKind::kAddresses: return "addresses";
    case ResourceKind::kPartitionKeyDelete: return "partitionkey_delete";
    case ResourceKind::kUnknown: return "unknown";
  }
  return "unknown";
}

const char* operationName(Operation op) noexcept {
  switch (op) {
    case Operation::kAccountRead: return "account_read";
    case Operation::kCreate: return "create";
    case Operation::kUpsert: return "upsert";
    case Operation::kRead: return "read";
    case Operation::kReplace: return "replace";
    case Operation::kPatch: return "patch";
    case Operation::kDelete: return "delete";
    case Operation::kReadFeed: return "read_feed";
    case Operation::kChangeFeed: return "change_feed";
    case Operation::kQuery: return "query";
    case Operation::kQueryPlan: return "query_plan";
    case Operation::kBatch: return "batch";
    case Operation::kBulk: return "bulk";
    case Operation::kSprocExecute: return "sproc_execute";
    case Operation::kPartitionKeyDelete: return "partitionkey_delete";
    case Operation::kMetadataCreate: return "metadata_create";
    case Operation::kMetadataRead: return "metadata_read";
    case Operation::kMetadataReplace: return "metadata_replace";
    case Operation::kMetadataDelete: return "metadata_delete";
    case Operation::kMetadataList: return "metadata_list";
    case Operation::kMetadataQuery: return "metadata_query";
    case Operation::kUnknown: return "unknown";
  }
  return "unknown";
}

bool isReadOnly(Operation op) noexcept {
  switch (op) {
    case Operation::kAccountRead:
    case Operation::kRead:
    case Operation::kReadFeed:
    case Operation::kChangeFeed:
    case Operation::kQuery:
    case Operation::kQueryPlan:
    case Operation::kMetadataRead:
    case Operation::kMetadataList:
    case Operation::kMetadataQuery:
      return true;
    default:
      return false;
  }
}

bool requestCarriesUserData(Operation op) noexcept {
  switch (op) {
    case Operation::kCreate:
    case Operation::kUpsert:
    case Operation::kReplace:
    case Operation::kPatch:
    case Operation::kBatch:
    case Operation::kBulk:
    case Operation::kQuery:
    case Operation::kQueryPlan:
    case Operation::kSprocExecute:
      return true;
    default:
      return false;
  }
}

bool responseCarriesDocuments(Operation op) noexcept {
  switch (op) {
    case Operation::kCreate:
    case Operation::kUpsert:
    case Operation::kRead:
    case Operation::kReplace:
    case Operation::kPatch:
    case Operation::kReadFeed:
    case Operation::kChangeFeed:
    case Operation::kQuery:
    case Operation::kQueryPlan:
    case Operation::kBatch:
    case Operation::kBulk:
    case Operation::kSprocExecute:
      return true;
    default:
      return false;
  }
}

StatusOr<Route> classifyRequest(std::string_view method, std::string_view target,
                                const HeaderMap& headers) {
  Route r;
  if (target.empty() || target.front() != '/') {
    return badPath("request-target is not in origin-form; expected a path starting with '/'");
  }
  size_t qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  // Cosmos accepts redundant leading slashes ("//dbs/..."): an SDK that joins an endpoint
  // written with a trailing slash ("https://acct:443/", as Azure shows it) and a path sends
  // them. They are routed, signed and forwarded as the single-slash path (r.path); an empty
  // segment anywhere else stays refused.
  while (path.size() > 1 && path[0] == '/' && path[1] == '/') path.remove_prefix(1);
  if (qpos != std::string_view::npos) {
    std::string_view q = target.substr(qpos + 1);
    for (char ch : q) {
      unsigned char c = static_cast<unsigned char>(ch);
      if (c <= 0x20 || c >= 0x7f || c == '#') {
        return badPath("query string contains a space, '#', control or non-ASCII character; "
                       "expected printable ASCII");
      }
    }
    r.query = std::string(q);
  }
  r.path = std::string(path);
  if (path.find('#') != std::string_view::npos) {
    return badPath("request-target contains a fragment; expected none");
  }
  std::string_view body = path.substr(1);  // without the leading '/'
  if (!body.empty() && body.back() == '/') body.remove_suffix(1);
  if (!body.empty()) {
    size_t pos = 0;
    while (true) {
      size_t end = body.find('/', pos);
      if (end == std::string_view::npos) end = body.size();
      std::string_view raw = body.substr(pos, end - pos);
      if (raw.empty()) {
        return badPath("path has an empty segment ('//'); expected segments separated by one '/'");
      }
      std::string seg;
      COSMOSEAL_RETURN_IF_ERROR(decodeSegment(raw, &seg));
      r.segments.push_back(std::move(seg));
      if (end == body.size()) break;
      pos = end + 1;
    }
  }

  classifyPath(&r);
  r.op = classifyOperation(method, r.kind, readSignals(headers));
  r.has_partition_key_header = headers.has("x-ms-documentdb-partitionkey");
  r.has_trigger_header = headers.has("x-ms-documentdb-pre-trigger-include") ||
                         headers.has("x-ms-documentdb-post-trigger-include");
  if (!r.database.empty()) {
    r.rid_like = isRidShaped(r.database, 4) || (!r.container.empty() && isRidShaped(r.container, 8));
  }
  return r;
}

// Cosmos RIDs are base64 (with '-' for '/') of 4 bytes for a database, 8 for a collection.
bool isRidShaped(std::string_view s, size_t bytes) noexcept {
  const size_t total = (bytes + 2) / 3 * 4;
  const size_t pad = (3 - bytes % 3) % 3;
  if (s.size() != total) return false;
  for (size_t i = 0; i < total; ++i) {
    char c = s[i];
    if (i >= total - pad) {
      if (c != '=') return false;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> databaseRidOf(std::string_view collection_rid) {
  if (!isRidShaped(collection_rid, 8)) return std::nullopt;
  std::string text(collection_rid);
  std::replace(text.begin(), text.end(), '-', '/');
  uint8_t bytes[crypto::base64DecodedMaxSize(12)];
  size_t n = 0;
  if (!crypto::base64DecodeTo(text, bytes, &n) || n != 8) return std::nullopt;
  std::string db = crypto::base64Encode(std::span<const uint8_t>(bytes, 4));
  std::replace(db.begin(), db.end(), '/', '-');
  return db;
}

namespace {

RouteDecision reject(RouteDecision d, Code code, std::string_view detail, std::string message) {
  d.action = RouteDecision::Action::kReject;
  d.transform_request_body = false;
  d.transform_response_body = false;
  d.rewrite_account = false;
  d.partition_key = PartitionKeyAction::kNone;
  d.rejection = Status(code, detail, std::move(message));
  return d;
}

}  // namespace

RouteDecision decideRoute(const Route& route, const PolicySet* policies) {
  RouteDecision d;
  if (route.kind == ResourceKind::kAddresses) {
    return reject(std::move(d), Code::kPermissionDenied, rd::kDirectModeRefused,
                  "Direct mode (/addresses) is not supported through cosmoseal: protected "
                  "fields would bypass it. Configure the SDK for Gateway mode (.NET: "
                  "ConnectionMode.Gateway; Java: gatewayMode()).");
  }
  if (route.kind == ResourceKind::kAccount && route.op == Operation::kAccountRead) {
    d.rewrite_account = true;
    d.action = RouteDecision::Action::kTransform;
    return d;
  }
  const bool any_policy = policies != nullptr && !policies->empty();
  const ContainerPolicy* policy =
      any_policy && route.inContainer() ? policies->find(route.database, route.container)
                                        : nullptr;
  if (policy == nullptr) {
    if (any_policy && route.rid_like && !route.rid_resolved && route.inContainer()) {
      return reject(std::move(d), Code::kInvalidArgument, rd::kRidPath,
                    "resource-id (_rid) based paths are refused while field policies are "
                    "configured, because they cannot be matched to a policy; use name-based "
                    "links");
    }
    return d;  // not a protected container: pass through
  }
  d.policy = policy;

  auto unclassified = [&](RouteDecision dd) {
    return reject(std::move(dd), Code::kInvalidArgument, rd::kUnclassified,
                  std::string("cannot classify ") + resourceKindName(route.kind) + " / " +
                      operationName(route.op) +
                      " on a container with protected fields; refusing rather than risk "
                      "forwarding plaintext");
  };
  if (route.op == Operation::kUnknown) return unclassified(std::move(d));
  if (route.has_trigger_header) {
    return reject(std::move(d), Code::kInvalidArgument, rd::kTriggerOnProtected,
                  "pre- and post-triggers (x-ms-documentdb-pre-trigger-include, "
                  "x-ms-documentdb-post-trigger-include) on a container with protected fields are "
                  "refused: trigger scripts run on the server over ciphertext");
  }

  switch (route.kind) {
    case ResourceKind::kDocumentFeed:
    case ResourceKind::kDocument:
      d.transform_request_body = requestCarriesUserData(route.op);
      d.transform_response_body = responseCarriesDocuments(route.op);
      break;
    case ResourceKind::kStoredProcedure:
      if (route.op == Operation::kSprocExecute) {
        return reject(std::move(d), Code::kInvalidArgument, rd::kSprocOnProtected,
                      "stored procedure execution on a container with protected fields is "
                      "refused: its arguments are arbitrary JSON, so cosmoseal cannot tell "
                      "which values to encrypt");
      }
      break;
    case ResourceKind::kConflictFeed:
    case ResourceKind::kConflict:
      if (route.op != Operation::kMetadataDelete) {
        return reject(std::move(d), Code::kInvalidArgument, rd::kConflictsOnProtected,
                      "reading conflicts of a container with protected fields is refused: "
                      "conflict resources embed documents that cosmoseal cannot decrypt");
      }
      break;
    case ResourceKind::kCollection:
    case ResourceKind::kPartitionKeyRangeFeed:
    case ResourceKind::kPartitionKeyRange:
    case ResourceKind::kStoredProcedureFeed:
    case ResourceKind::kUdfFeed:
    case ResourceKind::kUdf:
    case ResourceKind::kTriggerFeed:
    case ResourceKind::kTrigger:
    case ResourceKind::kPartitionKeyDelete:
      break;
    default:
      return unclassified(std::move(d));
  }

  if (route.has_partition_key_header) {
    if (!policy->partitionKeyKnown()) {
      d.partition_key = PartitionKeyAction::kResolve;
    } else if (policy->partitionKeyProtected()) {
      d.partition_key = PartitionKeyAction::kTransform;
    } else {
      d.partition_key = PartitionKeyAction::kPassThrough;
    }
  }
  if (d.transform_request_body || d.transform_response_body ||
      d.partition_key == PartitionKeyAction::kTransform ||
      d.partition_key == PartitionKeyAction::kResolve) {
    d.action = RouteDecision::Action::kTransform;
  }
  return d;
}

}  // namespace cosmoseal::policy
