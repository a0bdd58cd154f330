#include "proxy/admission/rules.h"

#include "proxy/admission/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;
using policy::Operation;
using policy::ResourceKind;

const char* opClassName(OpClass c) noexcept {
  switch (c) {
    case OpClass::kDiscovery: return "discovery";
    case OpClass::kMetadataRead: return "metadata-read";
    case OpClass::kList: return "list";
    case OpClass::kRead: return "read";
    case OpClass::kQuery: return "query";
    case OpClass::kWrite: return "write";
    case OpClass::kDelete: return "delete";
    case OpClass::kAdmin: return "admin";
  }
  return "unknown";
}

namespace {

bool isListing(Operation op) noexcept {
  return op == Operation::kMetadataList || op == Operation::kMetadataQuery;
}

bool isMetadataRead(Operation op) noexcept {
  return op == Operation::kMetadataRead || isListing(op);
}

bool covers(const AllowRule& r, std::string_view container) noexcept {
  for (const std::string& c : r.containers) {
    if (c == "*" || c == container) return true;
  }
  return false;
}

bool coversAll(const AllowRule& r) noexcept {
  for (const std::string& c : r.containers) {
    if (c == "*") return true;
  }
  return false;
}

bool anyRule(const ClientConfig& client, std::string_view db, bool need_write,
             std::string_view container, bool need_all) noexcept {
  for (const AllowRule& r : client.allow) {
    if (r.database != db) continue;
    if (need_write && r.access != Access::kReadWrite) continue;
    if (need_all && !coversAll(r)) continue;
    if (!container.empty() && !covers(r, container)) continue;
    return true;
  }
  return false;
}

Status denied(const ClientConfig& client, const policy::Route& route, OpClass cls,
              std::string_view container_override = {}) {
  std::string where;
  if (!route.database.empty()) where = " database '" + route.database + "'";
  std::string_view c = container_override.empty() ? std::string_view(route.container)
                                                  : container_override;
  if (!c.empty()) where += " container '" + std::string(c) + "'";
  if (where.empty()) where = " this account-level resource";
  return Status(Code::kPermissionDenied, admission_detail::kDenied,
                "client '" + client.name + "' is not allowed to " + opClassName(cls) + " (" +
                    policy::operationName(route.op) + " on " +
                    policy::resourceKindName(route.kind) + ") in" + where);
}

}  // namespace

OpClass operationClass(const policy::Route& r) noexcept {
  const Operation op = r.op;
  switch (r.kind) {
    case ResourceKind::kAccount:
      return op == Operation::kAccountRead ? OpClass::kDiscovery : OpClass::kAdmin;
    case ResourceKind::kPartitionKeyRangeFeed:
    case ResourceKind::kPartitionKeyRange:
      return isMetadataRead(op) ? OpClass::kDiscovery : OpClass::kAdmin;
    case ResourceKind::kDatabaseFeed:
    case ResourceKind::kCollectionFeed:
      return isListing(op) ? OpClass::kList : OpClass::kAdmin;
    case ResourceKind::kDatabase:
    case ResourceKind::kCollection:
      return op == Operation::kMetadataRead ? OpClass::kMetadataRead : OpClass::kAdmin;
    case ResourceKind::kDocumentFeed:
    case ResourceKind::kDocument:
      switch (op) {
        case Operation::kRead:
        case Operation::kReadFeed:
        case Operation::kChangeFeed:
          return OpClass::kRead;
        case Operation::kQuery:
        case Operation::kQueryPlan:
          return OpClass::kQuery;
        case Operation::kDelete:
          return OpClass::kDelete;
        default:
          return OpClass::kWrite;  // create, upsert, replace, patch, batch, bulk, unknown
      }
    case ResourceKind::kStoredProcedure:
      if (op == Operation::kSprocExecute) return OpClass::kWrite;
      [[fallthrough]];
    case ResourceKind::kStoredProcedureFeed:
    case ResourceKind::kUdfFeed:
    case ResourceKind::kUdf:
    case ResourceKind::kTriggerFeed:
    case ResourceKind::kTrigger:
      return isMetadataRead(op) ? OpClass::kMetadataRead : OpClass::kWrite;
    case ResourceKind::kConflictFeed:
    case ResourceKind::kConflict:
      return op == Operation::kMetadataDelete ? OpClass::kDelete : OpClass::kRead;
    case ResourceKind::kPartitionKeyDelete:
      return OpClass::kDelete;
    case ResourceKind::kUserFeed:
    case ResourceKind::kUser:
    case ResourceKind::kPermissionFeed:
    case ResourceKind::kPermission:
    case ResourceKind::kClientEncryptionKeyFeed:
    case ResourceKind::kClientEncryptionKey:
    case ResourceKind::kOfferFeed:
    case ResourceKind::kOffer:
    case ResourceKind::kAddresses:
    case ResourceKind::kUnknown:
      return OpClass::kAdmin;
  }
  return OpClass::kAdmin;
}

Status checkAccess(const ClientConfig& client, const policy::Route& route) noexcept {
  const OpClass cls = operationClass(route);
  const std::string& db = route.database;
  switch (cls) {
    case OpClass::kDiscovery:
      return Status::ok();
    case OpClass::kList:
      // GET /dbs is filtered to the client's databases; a container listing needs the database.
      if (route.kind == ResourceKind::kDatabaseFeed || anyRule(client, db, false, {}, false)) {
        return Status::ok();
      }
      return denied(client, route, cls);
    default:
      break;
  }
  switch (route.kind) {
    case ResourceKind::kDatabaseFeed:
    case ResourceKind::kCollectionFeed:
      // Creates: the new id is in the body (checkCreate). Anything else here is unknown.
      if (route.op == Operation::kMetadataCreate) return Status::ok();
      return denied(client, route, cls);
    case ResourceKind::kDatabase:
      if (cls == OpClass::kMetadataRead && anyRule(client, db, false, {}, false)) {
        return Status::ok();
      }
      if (route.op == Operation::kMetadataDelete && anyRule(client, db, true, {}, false)) {
        return Status::ok();
      }
      return denied(client, route, cls);
    case ResourceKind::kCollection:
      if (anyRule(client, db, cls != OpClass::kMetadataRead, route.container, false)) {
        return Status::ok();
      }
      return denied(client, route, cls);
    case ResourceKind::kUserFeed:
    case ResourceKind::kUser:
    case ResourceKind::kPermissionFeed:
    case ResourceKind::kPermission:
    case ResourceKind::kClientEncryptionKeyFeed:
    case ResourceKind::kClientEncryptionKey:
      if (!db.empty() && anyRule(client, db, true, {}, true)) return Status::ok();
      return denied(client, route, cls);
    default:
      break;
  }
  if (db.empty() || route.container.empty()) return denied(client, route, cls);
  const bool need_write = cls == OpClass::kWrite || cls == OpClass::kDelete ||
                          cls == OpClass::kAdmin;
  if (anyRule(client, db, need_write, route.container, false)) return Status::ok();
  return denied(client, route, cls);
}

Status checkCreate(const ClientConfig& client, const policy::Route& route,
                   std::string_view new_id) noexcept {
  if (route.kind == ResourceKind::kDatabaseFeed) {
    for (const AllowRule& r : client.allow) {
      if (r.database == new_id && r.access == Access::kReadWrite) return Status::ok();
    }
    return Status(Code::kPermissionDenied, admission_detail::kDenied,
                  "client '" + client.name + "' is not allowed to create database '" +
                      std::string(new_id) + "' (needs a read-write rule for it)");
  }
  if (anyRule(client, route.database, true, new_id, false)) return Status::ok();
  return denied(client, route, OpClass::kAdmin, new_id);
}

bool canSee(const ClientConfig& client, std::string_view db, std::string_view container) noexcept {
  return anyRule(client, db, false, container, false);
}

}  // namespace cosmoseal::proxy
