#pragma once

// Compiled field policies.
//
// A PolicySet is built once from plain ContainerPolicySpec structs (produced by proxy/config from
// YAML, or by tests) and is immutable afterwards: it is shared between worker threads as a
// `shared_ptr<const PolicySet>` snapshot and swapped as a whole on reload. Nothing in here
// allocates or fails after create().
//
// Field paths ("/ssn", "/address", "/cards/*/number") use JSON Pointer syntax (RFC 6901):
//   * every path starts with "/", segments are separated by "/", no empty segments, no trailing
//     "/"; inside a segment "~1" means "/" and "~0" means "~" (any other "~" is an error);
//   * a segment that is exactly "*" is a wildcard: every member of an object and every element
//     of an array. (There is no way to name a member literally called "*".)
//   * a literal segment matches the object member with that (unescaped) name and, as in JSON
//     Pointer, the array element whose decimal index is spelled that way ("0", "12"; never "01"
//     or "-"). Member names are compared byte-for-byte (case-sensitive: "SSN" is not "ssn");
//   * a protected path covers the whole value found there (a subtree is encrypted as one value).
//
// Rules (validatePolicySpecs; the config loader reports them with file:line:col):
//   * never protected: a top-level "id", "ttl", any top-level member starting with "_" (system
//     properties) and a top-level "*" (it would match all of those);
//   * no two paths of one container overlap: one may not be a prefix of the other, where "*"
//     matches any segment ("/a" vs "/a/b", "/cards/*/number" vs "/cards/0"); a duplicate path is
//     the special case of equal paths. (An overlap would encrypt a value inside a ciphertext.)
//   * a field that matches a configured partition-key path must be deterministic (the partition
//     key header and the stored value must transform identically), and no field may cover a
//     partition-key path from above ("/address" when the partition key is "/address/zip");
//   * database and container names are Cosmos ids; one policy per (database, container).

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/policy_spec.h"

namespace cosmoseal::policy {

inline constexpr size_t kMaxPathDepth = 32;             // segments per field path
inline constexpr size_t kMaxFieldsPerContainer = 256;
inline constexpr size_t kMaxPartitionKeyPaths = 3;      // hierarchical partition keys
inline constexpr size_t kMaxTrieNodesPerContainer = 65536;

// ---------------------------------------------------------------------------------------------
// Field path syntax

struct PathSegment {
  std::string name;       // unescaped ("a/b" for "a~1b"); "*" for the wildcard
  bool wildcard = false;  // the segment was exactly "*"
};

// Parses a field path. On failure returns InvalidArgument "policy.bad_path" whose message reads
// "<what is wrong>; expected <what>". `allow_wildcard` = false for partition-key paths.
common::Status parseFieldPath(std::string_view path, bool allow_wildcard,
                              std::vector<PathSegment>* out);

// Escapes one member name for display in a path ("a/b" -> "a~1b").
std::string escapePathSegment(std::string_view name);

// True if the two parsed paths overlap: over the length of the shorter one every segment pair
// is equal or one of them is "*".
bool pathsOverlap(std::span<const PathSegment> a, std::span<const PathSegment> b) noexcept;

// Cosmos id rules for database and container names: 1..255 bytes, no '/', '\\', '?', '#',
// no control characters, no trailing space. Returns "" if valid, else "<what>; expected <what>".
std::string checkCosmosId(std::string_view id);

// ---------------------------------------------------------------------------------------------
// Validation (no YAML: the config loader adds nothing but the positions it already stored)

struct SpecIssue {
  SourcePos pos;          // where the offending item was written (file may be empty)
  std::string key_path;   // "policies[0].fields[2].path"
  std::string message;    // "<what is wrong>; expected <what>"
};

// "FILE:LINE:COL: key_path: message" (the position part is omitted when unknown).
std::string formatSpecIssue(const SpecIssue& issue);
std::string formatPos(const SourcePos& pos);  // "FILE:LINE:COL", or "" when unknown

// Lets a caller exclude items it has already reported (for instance YAML type errors) from the
// checks, so one mistake gives one message. Called with (policy index, field index) for fields,
// with (policy index, kWholePolicy) for the policy's own database/container/partition_key
// checks, and with (policy index, kFieldList) for the "at least one field" check.
inline constexpr size_t kWholePolicy = static_cast<size_t>(-1);
inline constexpr size_t kFieldList = static_cast<size_t>(-2);
using SpecSkipFn = std::function<bool(size_t policy_index, size_t field_index)>;

// Checks every rule listed at the top of this file; returns all problems found (empty = valid).
// Key paths index into `specs` as "policies[i]" / "policies[i].fields[j]".
std::vector<SpecIssue> validatePolicySpecs(std::span<const ContainerPolicySpec> specs,
                                           const SpecSkipFn& skip = {});

// ---------------------------------------------------------------------------------------------
// Compiled form

struct FieldRule {
  FieldMode mode = FieldMode::kRandomized;
  std::string key;      // keyring key name
  std::string pattern;  // the path as configured, "/cards/*/number"
  // Context bound into every ciphertext of this field (AAD / path tag input):
  // database + "/" + container + ":" + pattern.
  std::string binding;
  bool partition_key = false;  // the pattern matches a configured partition-key path
  SourcePos pos;
};

// One node of a container's path trie. The trie is deterministic: `*` patterns are merged into
// every named sibling when it is built, so a walker follows exactly one node per JSON value:
//   object member  -> node->member(unescaped_name)
//   array element  -> node->element(index)
// A node with a rule() is a leaf (no overlaps are allowed, so it has no children): the whole
// value there is protected. nullptr from member()/element() means nothing below is protected.
class PathNode {
 public:
  using Children = std::map<std::string, std::unique_ptr<PathNode>, std::less<>>;

  const FieldRule* rule() const noexcept { return rule_; }
  bool hasChildren() const noexcept { return !named_.empty() || wildcard_ != nullptr; }
  // Child for object member `name`: the named child, else the `*` child, else nullptr.
  const PathNode* member(std::string_view name) const noexcept;
  // Child for array element `index`: a named child spelled as the decimal index, else `*`.
  const PathNode* element(size_t index) const noexcept;
  // Children by unescaped name (already including what `*` contributes to them), and the `*`
  // child used for every other name and index.
  const Children& named() const noexcept { return named_; }
  const PathNode* wildcard() const noexcept { return wildcard_.get(); }

 private:
  friend class ContainerPolicy;
  Children named_;
  std::unique_ptr<PathNode> wildcard_;
  const FieldRule* rule_ = nullptr;
};

// How a concrete path (no wildcards; member names and/or decimal indices) relates to a policy.
enum class PathRelation : uint8_t {
  kUnprotected,        // neither the path, an ancestor, nor a descendant is protected
  kProtected,          // exactly at a protected path
  kInsideProtected,    // strictly below a protected path (inside one ciphertext)
  kContainsProtected,  // strictly above at least one protected path
};

struct PartitionKeyPath {
  std::string path;                   // "/pk"
  std::vector<std::string> segments;  // unescaped member names
  const FieldRule* rule = nullptr;    // the (deterministic) rule protecting it, or nullptr
};

class ContainerPolicy {
 public:
  ContainerPolicy(const ContainerPolicy&) = delete;
  ContainerPolicy& operator=(const ContainerPolicy&) = delete;

  const std::string& database() const noexcept { return database_; }
  const std::string& container() const noexcept { return container_; }
  const PathNode& root() const noexcept { return root_; }
  // All rules, in configuration order. Stable addresses for the life of the PolicySet.
  std::span<const FieldRule> rules() const noexcept { return rules_; }

  // The rule whose pattern matches `segments` exactly (array indices match `*`), or nullptr.
  const FieldRule* matchPath(std::span<const std::string_view> segments) const noexcept;
  // The rule at `segments` or at one of its ancestors (the ciphertext that holds it), or nullptr.
  const FieldRule* coveringRule(std::span<const std::string_view> segments) const noexcept;
  // True if some protected path lies strictly below `segments` ("/address" when
  // "/address/zip" is protected; the root path {} whenever there is any rule).
  bool isProtectedPrefix(std::span<const std::string_view> segments) const noexcept;
  // All of the above at once; `rule` (optional) receives the matching/covering rule.
  PathRelation relation(std::span<const std::string_view> segments,
                        const FieldRule** rule = nullptr) const noexcept;

  // Configured partition-key paths (empty: not configured; the proxy has to learn them from
  // the container's metadata before it can tell whether the partition-key header is protected).
  const std::vector<PartitionKeyPath>& partitionKeyPaths() const noexcept { return pk_paths_; }
  bool partitionKeyKnown() const noexcept { return !pk_paths_.empty(); }
  bool partitionKeyProtected() const noexcept { return pk_protected_; }

  // policies[].migration (enabled = false when absent): the data may be mixed, see
  // MigrationSpec; the sidecar's poller decides whether it still is.
  const MigrationSpec& migration() const noexcept { return migration_; }

 private:
  friend class PolicySet;
  struct BuildItem;
  ContainerPolicy() = default;
  common::Status build(const ContainerPolicySpec& spec);
  static common::Status buildNode(PathNode* node, const std::vector<BuildItem>& items,
                                  size_t* budget);

  std::string database_;
  std::string container_;
  std::vector<FieldRule> rules_;  // reserved once; PathNode and PartitionKeyPath point into it
  PathNode root_;
  std::vector<PartitionKeyPath> pk_paths_;
  bool pk_protected_ = false;
  MigrationSpec migration_;
};

// Returns true if the keyring has a key with this name.
using KeyExistsFn = std::function<bool(std::string_view key_name)>;

class PolicySet {
 public:
  // Validates (validatePolicySpecs; detail "policy.invalid_spec", every issue on its own line)
  // and compiles. When `key_exists` is given, every field's key must exist (detail
  // "policy.unknown_key", every missing key listed). An empty `specs` gives an empty set.
  static common::StatusOr<std::shared_ptr<const PolicySet>> create(
      std::span<const ContainerPolicySpec> specs, const KeyExistsFn& key_exists = {});

  PolicySet(const PolicySet&) = delete;
  PolicySet& operator=(const PolicySet&) = delete;

  // Exact, case-sensitive names (Cosmos ids are case-sensitive). nullptr: not protected.
  const ContainerPolicy* find(std::string_view database,
                              std::string_view container) const noexcept;
  bool empty() const noexcept { return count_ == 0; }
  size_t size() const noexcept { return count_; }
  // Every container policy, ordered by (database, container).
  std::vector<const ContainerPolicy*> all() const;

 private:
  PolicySet() = default;
  using Containers = std::map<std::string, std::unique_ptr<ContainerPolicy>, std::less<>>;
  std::map<std::string, Containers, std::less<>> by_db_;
  size_t count_ = 0;
};

}  // namespace cosmoseal::policy
