#pragma once

// Effective partition keys (EPK): the hash of a partition-key value that Cosmos DB uses to place
// a document in a physical partition, spelled as the upper-case hex string the service and the
// SDKs use for range bounds (pkranges minInclusive/maxExclusive, x-ms-start-epk/x-ms-end-epk).
//
// Why cosmoseal needs it: the SDKs hash the partition key themselves to route (range ids, EPK
// filters, session tokens, bulk grouping). When the partition key is protected, the service
// places the document at the hash of the ciphertext, so the proxy must recompute every such
// value from the sealed key, and it must recognise plaintext-derived ones to refuse them.
//
// The three schemes, as the service defines them:
//   * Hash V1: MurmurHash3 x86 32-bit over a binary encoding of the components (strings cut to
//     100 characters), the hash written first (as a number) followed by the components, in the
//     service's order-preserving key encoding;
//   * Hash V2: MurmurHash3 x64 128-bit over the binary encoding (whole strings), the two top bits
//     of the result cleared, written as 16 bytes big-endian hex;
//   * MultiHash (hierarchical keys): one V2 hash per component, concatenated; a key with fewer
//     components than paths (a prefix) has the EPK of the prefix.
//
// Pure functions: no I/O, no allocation beyond the returned strings, thread-safe.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

enum class PartitionKeyKind : uint8_t { kHash, kMultiHash };

struct PartitionKeyDefinition {
  std::vector<std::string> paths;  // "/tenant", ...
  PartitionKeyKind kind = PartitionKeyKind::kHash;
  int version = 1;  // 1 or 2 (the collection's partitionKey.version; absent = 1)
};

// Parses a collection's "partitionKey" member (the object {paths, kind, version}) out of a
// collection JSON document (the definition object on its own is accepted too). Errors:
// InvalidArgument routing.bad_partition_key_definition (not a JSON object, no partitionKey, no or
// empty paths, a path not starting with '/', unknown kind, version other than 1 or 2, a Hash key
// with more than one path). MultiHash is always hashed with V2, whatever its version says.
common::StatusOr<PartitionKeyDefinition> parsePartitionKeyDefinition(
    std::string_view collection_json);

// The effective partition key of a partition-key value given as the JSON array text the
// x-ms-documentdb-partitionkey header carries ("[\"a\"]", "[5]", "[\"a\",1]", "[{}]" = None,
// "[]" = the empty/undefined key as the SDKs send it, whose EPK is ""), in upper-case hex.
// Hash V1, Hash V2 and MultiHash (one V2 hash per component, concatenated; fewer components than
// paths = a prefix key, whose EPK is the prefix's). Numbers hash by their double value (5, 5.0
// and 5e0 give the same EPK). Errors: InvalidArgument routing.bad_partition_key (not a JSON
// array; a component that is an array, a non-empty object, a bad string or a number out of the
// range of a double; more components than paths).
common::StatusOr<std::string> effectivePartitionKey(std::string_view pk_json_array,
                                                    const PartitionKeyDefinition& def);

// The murmur primitives, exposed for tests: MurmurHash3 x86 32-bit and x64 128-bit (seed given).
// The 128-bit result is {h1, h2} as the reference implementation leaves them.
uint32_t murmurHash3x86_32(std::string_view bytes, uint32_t seed);
std::array<uint64_t, 2> murmurHash3x64_128(std::string_view bytes, uint32_t seed);

}  // namespace cosmoseal::policy
