#pragma once

// Cosmos DB request classification (gateway REST protocol; see ref/cosmos-protocol.md §1.2, §3).
//
// classifyRequest() turns (method, request-target, headers) into a Route: the percent-decoded
// path segments, the resource kind, the database / container / item ids and the operation.
// decideRoute() combines a Route with the policy set into what the proxy must do with the
// request: pass it through (streaming allowed), transform it (buffer bodies and run the JSON
// engine), or reject it (fail closed). Both are pure functions: no I/O, no exceptions.
//
// Path rules (violations: 400 "route.bad_path"):
//   * origin-form only ("/..."); the query string is split off and kept raw; no '#';
//   * at least one leading '/' (redundant leading ones, "//dbs/...", are dropped as Cosmos
//     drops them: Route::path is the single-slash path), at most one trailing '/', no other
//     empty segments ("/dbs//colls");
//   * raw characters limited to RFC 3986 pchar (unreserved, sub-delims, ':', '@') and '%';
//   * each segment is percent-decoded (hex in either case); a bad escape, a decoded NUL or other
//     control character, '/', '\\', invalid UTF-8, or a segment "." / ".." is rejected (those
//     would make our reading of the path differ from the upstream's);
//   * the query string may hold printable ASCII only.
// Resource words ("dbs", "colls", "docs", ...) are matched exactly. If one differs only in case
// ("/dbs/x/colls/y/Docs") the kind is kUnknown but database/container are still filled in, so a
// protected container rejects the request instead of letting an alias through.
//
// Operation (header values compare case-insensitively: "True" == "true"; a header that is
// repeated, or whose value is neither true nor false, makes the operation kUnknown):
//   docs feed  POST  query signal        -> kQuery, or kQueryPlan with
//                                           x-ms-cosmos-is-query-plan-request: true
//                    batch signal        -> kBatch if x-ms-cosmos-batch-atomic: true, else kBulk
//                    upsert signal       -> kUpsert
//                    none of them        -> kCreate
//                    more than one kind, or an A-IM header -> kUnknown
//              GET   A-IM: Incremental Feed | Full-Fidelity Feed -> kChangeFeed
//                    other A-IM value, or a query/batch signal   -> kUnknown
//                    otherwise                                   -> kReadFeed
//   docs item  GET -> kRead, PUT -> kReplace (kUpsert with the upsert signal), PATCH -> kPatch,
//              DELETE -> kDelete (a query or batch signal on an item -> kUnknown)
//   sproc item POST -> kSprocExecute
//   other feeds (dbs, colls, sprocs, udfs, triggers, users, permissions, clientencryptionkeys,
//              offers, conflicts): POST -> kMetadataCreate (kMetadataQuery with a query signal),
//              GET -> kMetadataList; pkranges: GET -> kMetadataList
//   other items: GET -> kMetadataRead, PUT -> kMetadataReplace, DELETE -> kMetadataDelete
//   GET /      -> kAccountRead; /addresses GET -> kMetadataRead;
//   POST /dbs/{db}/colls/{c}/operations/partitionkeydelete -> kPartitionKeyDelete
//   anything else (other methods, HEAD, OPTIONS, deeper paths such as attachments) -> kUnknown
// Signals: query = x-ms-documentdb-isquery: true, x-ms-documentdb-query: true, or Content-Type
// application/query+json or application/sql (parameters ignored); query plan =
// x-ms-cosmos-is-query-plan-request: true (it implies a query); batch =
// x-ms-cosmos-is-batch-request: true; upsert = x-ms-documentdb-is-upsert: true.
//
// RID-based paths (/dbs/AbCdEA==/colls/AbCdEKEFGH0=/pkranges) address the same resources by
// their _rid instead of their name: the .NET and Java SDKs read partition-key ranges (and more)
// that way. The classifier does not guess names: it only sets `rid_like` when the database (and,
// if present, the container) segment has the exact shape of a RID (isRidShaped: base64 of 4 / 8
// bytes). The proxy maps such a route to names (learned from metadata, or read from the service)
// and sets `rid_resolved` with database/container holding the names; rules and policies then
// apply as for the name-based route. decideRoute() refuses an UNRESOLVED RID-like container route
// whenever any policy is configured and no policy matches the segments as names (see the table).
//
// decideRoute() decision table. "protected" = a policy exists for (database, container).
//   kind / operation                         | protected: action       | unprotected
//   -----------------------------------------+-------------------------+-------------------------
//   addresses (Direct mode)                  | reject 403 discovery.direct_mode_refused (always)
//   account, kAccountRead                    | pass; rewrite_account (discovery rewrite, always)
//   docs: create, upsert, replace, patch,    | transform request +     | pass
//         batch, bulk, query, query plan     |   response              |
//   docs: read, read feed, change feed       | transform response      | pass
//   docs: delete                             | pass                    | pass
//   sproc execute                            | reject 400              | pass
//                                            |   route.sproc_on_protected (arguments are
//                                            |   arbitrary JSON: we cannot know what to encrypt)
//   conflicts: list, read, query             | reject 400              | pass
//                                            |   route.conflicts_on_protected (conflict
//                                            |   resources embed documents as strings)
//   conflicts: delete                        | pass                    | pass
//   a trigger header (x-ms-documentdb-pre-   | reject 400              | pass
//   or post-trigger-include), any operation  |   route.trigger_on_protected (the trigger's
//                                            |   JS runs on the server over ciphertext)
//   collection read/replace/delete, pkranges,| pass (the proxy checks a | pass
//                                            |   create/replace body:
//                                            |   container_definition.h)
//   sprocs/udfs/triggers CRUD, list, query   |  (scripts only ever see ciphertext)
//   partition-key delete                     | pass (partition key header handled below)
//   unknown kind or operation in a protected | reject 400 route.unclassified
//   container                                |
//   RID-like container route, some policy    | reject 400 route.rid_path
//   configured, no policy for the segments   |
//   anything else (no container, unknown     | pass
//   outside protected containers)            |
// Partition-key header (x-ms-documentdb-partitionkey) on a route that is not rejected, in a
// protected container: kTransform if a configured partition-key path is protected,
// kPassThrough if the partition-key paths are configured and none is protected, kResolve when
// they are not configured (the proxy must learn them from the container's metadata first, or
// reject: the header would otherwise carry a protected value in plaintext).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/headers.h"
#include "common/status.h"
#include "policy/policy.h"

namespace cosmoseal::policy {

enum class ResourceKind : uint8_t {
  kAccount,                  // GET /
  kDatabaseFeed,             // /dbs
  kDatabase,                 // /dbs/{db}
  kCollectionFeed,           // /dbs/{db}/colls
  kCollection,               // /dbs/{db}/colls/{c}
  kDocumentFeed,             // /dbs/{db}/colls/{c}/docs
  kDocument,                 // /dbs/{db}/colls/{c}/docs/{id}
  kPartitionKeyRangeFeed,    // .../colls/{c}/pkranges
  kPartitionKeyRange,        // .../colls/{c}/pkranges/{id}
  kStoredProcedureFeed,      // .../colls/{c}/sprocs
  kStoredProcedure,          // .../colls/{c}/sprocs/{id}
  kUdfFeed,                  // .../colls/{c}/udfs
  kUdf,                      // .../colls/{c}/udfs/{id}
  kTriggerFeed,              // .../colls/{c}/triggers
  kTrigger,                  // .../colls/{c}/triggers/{id}
  kConflictFeed,             // .../colls/{c}/conflicts
  kConflict,                 // .../colls/{c}/conflicts/{id}
  kUserFeed,                 // /dbs/{db}/users
  kUser,                     // /dbs/{db}/users/{u}
  kPermissionFeed,           // /dbs/{db}/users/{u}/permissions
  kPermission,               // /dbs/{db}/users/{u}/permissions/{p}
  kClientEncryptionKeyFeed,  // /dbs/{db}/clientencryptionkeys
  kClientEncryptionKey,      // /dbs/{db}/clientencryptionkeys/{k}
  kOfferFeed,                // /offers
  kOffer,                    // /offers/{rid}
  kAddresses,                // /addresses (Direct mode address resolution)
  kPartitionKeyDelete,       // /dbs/{db}/colls/{c}/operations/partitionkeydelete
  kUnknown,
};

enum class Operation : uint8_t {
  kAccountRead,
  kCreate,
  kUpsert,
  kRead,
  kReplace,
  kPatch,
  kDelete,
  kReadFeed,
  kChangeFeed,
  kQuery,
  kQueryPlan,
  kBatch,  // transactional (atomic)
  kBulk,   // batch request, not atomic
  kSprocExecute,
  kPartitionKeyDelete,
  kMetadataCreate,
  kMetadataRead,
  kMetadataReplace,
  kMetadataDelete,
  kMetadataList,
  kMetadataQuery,
  kUnknown,
};

// Stable lower-case names for logs and metrics ("document_feed", "change_feed").
const char* resourceKindName(ResourceKind kind) noexcept;
const char* operationName(Operation op) noexcept;

// True for operations that only read (query, read, feeds, metadata read/list/query, account
// read). Everything else, kUnknown included, needs read-write access.
bool isReadOnly(Operation op) noexcept;
// Operation-level facts, independent of any policy (document routes):
// the request body carries user data (documents, patch values, query literals, arguments).
bool requestCarriesUserData(Operation op) noexcept;
// the response body may carry documents or values from them.
bool responseCarriesDocuments(Operation op) noexcept;

struct Route {
  std::string path;   // the request-target without the query string nor redundant leading '/'
  std::string query;  // the raw query string without '?', "" if none
  std::vector<std::string> segments;  // percent-decoded; leading/trailing '/' trimmed
  ResourceKind kind = ResourceKind::kUnknown;
  Operation op = Operation::kUnknown;
  std::string database;   // decoded; "" when the path names none
  std::string container;  // decoded; "" when the path names none
  std::string item_id;    // decoded id of the addressed item (document, sproc, user, ...)
  bool has_partition_key_header = false;
  // x-ms-documentdb-pre-trigger-include or -post-trigger-include is present.
  bool has_trigger_header = false;
  bool rid_like = false;      // database (and container) segments are shaped like RIDs
  bool rid_resolved = false;  // rid_like, and database/container now hold the resources' names

  // True when the route is inside a container (database and container are set).
  bool inContainer() const noexcept { return !container.empty(); }
};

// Classifies one request. Fails only on a malformed target: 400 "route.bad_path". An unusual but
// well-formed request is returned with kind and/or op kUnknown; decideRoute() decides.
common::StatusOr<Route> classifyRequest(std::string_view method, std::string_view target,
                                        const common::HeaderMap& headers);

enum class PartitionKeyAction : uint8_t {
  kNone,         // no partition-key header, or the container is not protected
  kPassThrough,  // partition-key paths are configured and none is protected
  kTransform,    // a protected partition-key path: transform the header deterministically
  kResolve,      // unknown partition-key paths: learn them first, or reject
};

struct RouteDecision {
  enum class Action : uint8_t { kPassThrough, kTransform, kReject };
  Action action = Action::kPassThrough;
  bool transform_request_body = false;   // buffer the request body and encrypt it
  bool transform_response_body = false;  // buffer the response body and decrypt it
  bool rewrite_account = false;          // GET /: rewrite discovery endpoints
  PartitionKeyAction partition_key = PartitionKeyAction::kNone;
  const ContainerPolicy* policy = nullptr;  // the container's policy, if any (owned by the set)
  common::Status rejection;                 // set when action == kReject
};

// True if `s` has the exact shape of a Cosmos resource id of `bytes` bytes: base64 with padding,
// '-' standing for '/' as in the service's RIDs ("gAABAA==" is a database, "gAABAIAAAAE=" a
// collection).
bool isRidShaped(std::string_view s, size_t bytes) noexcept;

// The database RID a collection RID belongs to (its first 4 bytes, re-encoded as the service
// spells RIDs); nullopt if `collection_rid` is not shaped like a collection RID.
std::optional<std::string> databaseRidOf(std::string_view collection_rid);

// Applies the decision table above. `policies` may be nullptr (no policies configured).
// The returned `policy` pointer lives as long as the PolicySet snapshot.
RouteDecision decideRoute(const Route& route, const PolicySet* policies);

}  // namespace cosmoseal::policy
