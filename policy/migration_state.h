#pragma once

// The migration state document that `cosmoseal migrate` keeps in the lease container
// (docs/MIGRATION.md): `{"id": "state.<database>.<container>", "kind":
// "cosmoseal.migration.state", "database", "container", "job", "operation":
// "encrypt|rotate|decrypt", "phase": "running|done|verified|failed", "started_at",
// "updated_at", "report": {...}}`. The sidecar reads it for every container whose policy has
// `migration:` and treats the container's data as mixed (plaintext and sealed at protected paths)
// unless the phase is "verified" (policy/query/rewriter.h MixedData).
//
// Pure: parsing and the decision only; the read itself is proxy/exchange/migration_state.h.

#include <string>
#include <string_view>

#include "common/status.h"

namespace cosmoseal::policy {

// "state.<database>.<container>": the id of a container's state document.
std::string migrationStateId(std::string_view database, std::string_view container);

struct MigrationStateDoc {
  std::string job;        // "" when absent
  std::string operation;  // "encrypt", "rotate", "decrypt"; "" when absent
  std::string phase;      // "running", "done", "verified", "failed"
  std::string updated_at;
};

// Parses a state document. `database` / `container` must match the document's members when it
// has them (a document copied from elsewhere does not count). Errors: policy.bad_migration_state
// (not a JSON object, wrong kind, no string phase, another container's document).
common::StatusOr<MigrationStateDoc> parseMigrationState(std::string_view body,
                                                        std::string_view database,
                                                        std::string_view container);

// Only a verified migration ends the mixed state; "done" still needs `cosmoseal migrate verify`.
// A decrypt writes plaintext back on purpose: even verified, its data is plaintext that sealed
// literals would never match, so it stays mixed until the policy itself is removed.
inline bool migrationLeavesMixed(const MigrationStateDoc& doc) noexcept {
  return doc.phase != "verified" || doc.operation == "decrypt";
}

// "migration job 'j' (encrypt) is in phase running (state document state.db.c)": what a refusal
// tells the app.
std::string describeMigrationState(const MigrationStateDoc& doc, std::string_view state_id);

}  // namespace cosmoseal::policy
