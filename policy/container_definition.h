#pragma once

// Container definitions checked against a container's policy (issue 15 item 6).
//
// Creating (POST /dbs/{db}/colls) or replacing (PUT /dbs/{db}/colls/{c}) a container sends its
// definition: partition key, unique keys, computed properties, indexing policy, full-text and
// vector policies. Those run server-side over stored values, and on a protected container the
// stored values are envelopes. Some of that still works (equality on deterministic ciphertext),
// the rest would give silently wrong results, so the definition is refused before it is sent:
//
// Per member of the definition, over a protected path (*):
//   * partitionKey.paths: must equal the policy's partition_key when one is configured
//     (definition.partition_key_mismatch); a randomized field, or a path inside a protected field,
//     is refused (policy.randomized_partition_key, policy.partition_key_inside_protected);
//   * uniqueKeyPolicy.uniqueKeys[].paths: deterministic, at or above: allowed (equal values have
//     equal envelopes, so uniqueness holds); randomized, or inside a protected field: refused
//     (definition.unique_key_on_protected);
//   * computedProperties[].query: reads a protected path, or cannot be analyzed: refused
//     (definition.computed_property_on_protected); so is a computed property NAMED like a
//     protected top-level field (queries on it would seal literals for it);
//   * indexingPolicy.compositeIndexes[][].path: deterministic: allowed (equality prefixes work;
//     the query analyzer refuses ORDER BY on it); randomized or inside: refused
//     (definition.index_on_protected);
//   * indexingPolicy.spatialIndexes / fullTextIndexes / vectorIndexes [].path,
//     fullTextPolicy.fullTextPaths[].path, vectorEmbeddingPolicy.vectorEmbeddings[].path: refused
//     (definition.index_on_protected): geometry, tokens or embeddings of ciphertext mean nothing;
//   * indexingPolicy.includedPaths / excludedPaths: allowed: range indexes over ciphertext are
//     never used, the query analyzer refuses range predicates on protected fields.
//
// (*) "over" = the definition path is the protected path, a parent of it (`/address` or
// `/address/*` when `/address/zip` is protected; `/*` covers everything), or lies inside it
// (`/address/zip/?` when `/address` is protected: that value does not exist on the server).
//
// Definition paths use Cosmos index-path syntax, not JSON Pointer: `/a/b/?` (the scalar at
// /a/b), `/a/*` (everything below /a), `/tags/[]/?` (every element of /tags), `/"a b"/?` (a
// quoted member name, which may hold '/'); no `~` escapes. `[]` matches the policy's `*` and any
// array index; an unquoted number matches the policy's literal index or `*`.
//
// Other failures: definition.bad_body (400) when the body is not a JSON object or a member
// above has the wrong JSON type, definition.bad_path (400) for a path that is not index-path
// syntax. Pure: no I/O. Errors are InvalidArgument (400) with the detail codes below.

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "policy/policy.h"

namespace cosmoseal::policy {

namespace definition_detail {
// Stable, public contract (docs/ROUTING.md): never rename one.
inline constexpr std::string_view kBadBody = "definition.bad_body";
inline constexpr std::string_view kBadPath = "definition.bad_path";
inline constexpr std::string_view kPartitionKeyMismatch = "definition.partition_key_mismatch";
inline constexpr std::string_view kUniqueKeyOnProtected = "definition.unique_key_on_protected";
inline constexpr std::string_view kComputedPropertyOnProtected =
    "definition.computed_property_on_protected";
inline constexpr std::string_view kIndexOnProtected = "definition.index_on_protected";
}  // namespace definition_detail

// Parses a Cosmos index path (`/a/"b c"/[]/?`, `/a/*`) into policy path segments: `[]` becomes
// the wildcard, a trailing `?` or `*` is dropped (both mean "the value here", the whole subtree
// for `*`). Errors: definition.bad_path.
common::Status parseIndexPath(std::string_view path, std::vector<PathSegment>* out);

// Checks a container create / replace body against `policy` (the table above). OK when
// nothing in it runs over a protected path in a way that gives wrong results.
common::Status checkContainerDefinition(std::string_view body, const ContainerPolicy& policy);

}  // namespace cosmoseal::policy
