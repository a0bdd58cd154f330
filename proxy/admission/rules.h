#pragma once

// Per-client access rules (`clients[].allow`, DESIGN.md §6; docs/OPERATIONS.md).
//
// Every request maps to (database, container, operation class). A client is allowed when one of
// its rules covers the database and container with enough access:
//   access: read        metadata reads, point reads, read feed, change feed, queries, query plans
//   access: read-write  + creates, upserts, replaces, patches, batch/bulk, deletes, sproc
//                         execution, script (sproc/udf/trigger) management
//   containers: ["*"]   every container of the database
// A rule for database X also permits reading X itself (any access), creating and deleting X
// (read-write), and creating / deleting / replacing the listed containers (read-write).
// Always allowed: account discovery (GET /) and partition-key ranges. Users, permissions and
// client encryption keys of X need read-write on X with containers ["*"]. Offers (throughput,
// account-wide) and anything unclassifiable are refused.
// Listings (GET /dbs, GET /dbs/X/colls and queries on them) are allowed and filtered to what the
// client may see (filterListing).
//
// Refusals: 403 `rules.denied`, message naming client, database, container and operation.

#include <string>
#include <string_view>

#include "common/status.h"
#include "policy/route/route.h"
#include "proxy/config/config.h"

namespace cosmoseal::proxy {

enum class OpClass : uint8_t {
  kDiscovery,     // GET /, pkranges: always allowed
  kMetadataRead,  // read a database / container / script
  kList,          // list or query databases / containers (filtered)
  kRead,          // point read, read feed, change feed, conflicts read
  kQuery,         // document query, query plan
  kWrite,         // create, upsert, replace, patch, batch, bulk, sproc execute, script changes
  kDelete,        // delete a document / conflict
  kAdmin,         // create/delete databases and containers, users, permissions, keys, offers
};

const char* opClassName(OpClass c) noexcept;

// The operation class of a classified request.
OpClass operationClass(const policy::Route& route) noexcept;

// Access check for a request whose target database/container are known from the path.
// Creates whose new id is in the body (POST /dbs, POST /dbs/X/colls) are checked with
// checkCreate() once the body is read.
common::Status checkAccess(const ClientConfig& client, const policy::Route& route) noexcept;

// POST /dbs (database = "", new_id = the database) or POST /dbs/X/colls (new_id = the
// container): allowed with read-write on the database (and, for a container, a rule listing it).
common::Status checkCreate(const ClientConfig& client, const policy::Route& route,
                           std::string_view new_id) noexcept;

// Whether `client` may see database `db` (and, if `container` is not empty, that container) in
// a listing.
bool canSee(const ClientConfig& client, std::string_view db, std::string_view container) noexcept;

}  // namespace cosmoseal::proxy
