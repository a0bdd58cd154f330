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

struct ContainerPolicySpec {
  std::string database;
  std::string container;
  // Partition-key path(s) if configured ("/pk", or several for hierarchical keys). When empty,
  // the proxy learns them from container metadata passing through it.
  std::vector<std::string> partition_key_paths;
  std::vector<FieldSpec> fields;
  SourcePos pos;                // the policy entry
  SourcePos partition_key_pos;  // the partition_key value (falls back to `pos` when unknown)
};

}  // namespace cosmoseal::policy
