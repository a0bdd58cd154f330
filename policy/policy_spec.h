#pragma once

// Plain field-policy structs, produced by proxy/config (from YAML) and consumed by policy/.
// No YAML types here: policy/ stays pure and fuzzable.

#include <cstdint>
#include <string>
#include <vector>

namespace cosmoseal::policy {

enum class FieldMode : uint8_t { kRandomized, kDeterministic };

// Where a spec item came from in the config file, for error messages ("file:line:col").
struct SourcePos {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based
};

// "randomized" / "deterministic" (the YAML spelling).
const char* fieldModeName(FieldMode mode) noexcept;

struct FieldSpec {
  std::string path;  // JSON-pointer-like: "/ssn", "/address", "/cards/*/number"
  FieldMode mode = FieldMode::kRandomized;
  std::string key;   // keyring key name
  SourcePos pos;     // the `path` value (the field entry when the path is missing)
};

// What an equality query on a deterministic field does while the container's data is mixed
// (policies[].migration.equality; docs/MIGRATION.md "The mixed state").
enum class MixedEquality : uint8_t {
  kRefuse,     // refused: query.migration_in_progress (400)
  kMatchBoth,  // rewritten to match the sealed and the plaintext form (the literal goes upstream
               // in plaintext too: an explicit opt-in)
};

// "refuse" / "match_both" (the YAML spelling).
const char* mixedEqualityName(MixedEquality mode) noexcept;

// policies[].migration: present (`enabled`) while the container may still hold plaintext at
// protected paths (documents written before the policy, not yet sealed by `cosmoseal migrate`).
// The sidecar then reads the migration's state document `state.<database>.<container>` from
// `lease_container` (same database) every `poll_ms` and treats the data as mixed unless its
// phase is "verified".
struct MigrationSpec {
  bool enabled = false;
  std::string lease_container = "cosmoseal-leases";
  MixedEquality equality = MixedEquality::kRefuse;
  uint64_t poll_ms = 30000;
  SourcePos pos;  // the `migration` entry
};

struct ContainerPolicySpec {
  std::string database;
  std::string container;
  // Partition-key path(s) if configured ("/pk", or several for hierarchical keys). When empty,
  // the proxy learns them from container metadata passing through it.
  std::vector<std::string> partition_key_paths;
  std::vector<FieldSpec> fields;
  MigrationSpec migration;      // absent: the container holds sealed values only
  SourcePos pos;                // the policy entry
  SourcePos partition_key_pos;  // the partition_key value (falls back to `pos` when unknown)
};

}  // namespace cosmoseal::policy
