#pragma once

// Detail codes of the policy model (policy.h: specs, paths, the trie) and of container metadata
// (container_meta.h). Stable, public contract: logged, counted, asserted by tests and clients;
// never rename or reword one. The sub-modules own theirs: json/details.h, query/details.h,
// route/details.h.

#include <string_view>

namespace cosmoseal::policy::policy_detail {

// Policy specs (configuration load and reload).
inline constexpr std::string_view kBadPath = "policy.bad_path";          // 400: a field path
inline constexpr std::string_view kInvalidSpec = "policy.invalid_spec";  // 412
inline constexpr std::string_view kUnknownKey = "policy.unknown_key";    // 412
inline constexpr std::string_view kTooComplex = "policy.too_complex";    // 412
inline constexpr std::string_view kOverlap = "policy.overlap";           // 500: never expected

// Container metadata (502: what Cosmos returned cannot be used; 400: the policy and the
// container's partition key disagree).
inline constexpr std::string_view kBadMetadata = "policy.bad_metadata";
inline constexpr std::string_view kBadPartitionKeyPath = "policy.bad_partition_key_path";
inline constexpr std::string_view kPartitionKeyInsideProtected =
    "policy.partition_key_inside_protected";
// A partition-key path protected by a randomized field (also refused by the partition-key
// transform, json/partition_key.cc).
inline constexpr std::string_view kRandomizedPartitionKey = "policy.randomized_partition_key";

// The migration state document (migration_state.h) cannot be used: 502 in logs; the sidecar
// then treats the container's data as mixed (fail closed).
inline constexpr std::string_view kBadMigrationState = "policy.bad_migration_state";

// The account-document rewrite (account_rewrite.h).
inline constexpr std::string_view kDiscoveryBadJson = "discovery.bad_json";
inline constexpr std::string_view kDiscoveryOverlap = "discovery.overlap";
inline constexpr std::string_view kUrlBadOrigin = "url.bad_origin";

}  // namespace cosmoseal::policy::policy_detail
