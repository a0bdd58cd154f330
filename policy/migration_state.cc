#include "policy/migration_state.h"

#include <simdjson.h>

#include "policy/details.h"

namespace cosmoseal::policy {

using common::Code;
using common::Status;

namespace {

Status badState(std::string msg) {
  return Status(Code::kBadGateway, policy_detail::kBadMigrationState, std::move(msg));
}

// A string member, or "" when it is absent; false when present with another type.
bool optionalString(simdjson::dom::element obj, std::string_view key, std::string* out) {
  simdjson::dom::element v;
  if (obj[key].get(v) != simdjson::SUCCESS || v.is_null()) return true;
  std::string_view s;
  if (v.get(s) != simdjson::SUCCESS) return false;
  out->assign(s);
  return true;
}

}  // namespace

std::string migrationStateId(std::string_view database, std::string_view container) {
  std::string id = "state.";
  id.append(database).push_back('.');
  id.append(container);
  return id;
}

common::StatusOr<MigrationStateDoc> parseMigrationState(std::string_view body,
                                                        std::string_view database,
                                                        std::string_view container) {
  simdjson::dom::parser parser;
  const simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return badState("the migration state document is not a JSON object");
  }
  MigrationStateDoc out;
  std::string kind;
  std::string db;
  std::string coll;
  if (!optionalString(doc, "kind", &kind) || !optionalString(doc, "database", &db) ||
      !optionalString(doc, "container", &coll) || !optionalString(doc, "job", &out.job) ||
      !optionalString(doc, "operation", &out.operation) ||
      !optionalString(doc, "phase", &out.phase) ||
      !optionalString(doc, "updated_at", &out.updated_at)) {
    return badState("the migration state document has a member of the wrong type");
  }
  if (kind != "cosmoseal.migration.state") {
    return badState("the document is not a migration state (kind '" + kind +
                    "'; expected cosmoseal.migration.state)");
  }
  if ((!db.empty() && db != database) || (!coll.empty() && coll != container)) {
    return badState("the migration state document names another container (" + db + "/" + coll +
                    ")");
  }
  if (out.phase.empty()) return badState("the migration state document has no phase");
  return out;
}

std::string describeMigrationState(const MigrationStateDoc& doc, std::string_view state_id) {
  std::string out = "migration job '" + doc.job + "'";
  if (!doc.operation.empty()) out += " (" + doc.operation + ")";
  out += " is in phase " + doc.phase;
  if (!doc.updated_at.empty()) out += " (updated " + doc.updated_at + ")";
  out += "; state document ";
  out.append(state_id);
  return out;
}

}  // namespace cosmoseal::policy
