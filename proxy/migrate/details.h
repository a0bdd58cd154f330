#pragma once

// Detail codes of `cosmoseal migrate` (docs/MIGRATION.md lists them). A public contract: add,
// never rename.

#include <string_view>

namespace cosmoseal::proxy::migrate::details {

// The account kept answering 429 past RetryPolicy::max_throttle_retries for one request.
inline constexpr std::string_view kThrottledTooLong = "migrate.throttled";
// An answer the migrator cannot continue from (unexpected status on a read, bad JSON).
inline constexpr std::string_view kUpstream = "migrate.upstream";
// The container's partition-key path is protected: documents cannot be rewritten in place
// (their sealed key is another logical partition); use the copy path.
inline constexpr std::string_view kProtectedPartitionKey = "migrate.protected_partition_key";
// No policy for the container in the config (nothing to encrypt).
inline constexpr std::string_view kNoPolicy = "migrate.no_policy";
// A lease document that is not in the documented format.
inline constexpr std::string_view kBadLease = "migrate.bad_lease";
// A document kept changing under the migrator (412 past the retry limit).
inline constexpr std::string_view kTooManyConflicts = "migrate.conflicts";
// The lease container is missing and could not be created.
inline constexpr std::string_view kLeaseContainer = "migrate.lease_container";

// `migrate copy`: the target container does not exist. The migrator does not create it: data-plane
// RBAC cannot create containers, and its throughput and indexing policy are the owner's choice.
inline constexpr std::string_view kTargetMissing = "migrate.target_missing";
// `migrate copy`: the target container's partition-key paths differ from the source's (a copied
// document would land in another logical partition, or be refused).
inline constexpr std::string_view kTargetPartitionKey = "migrate.target_partition_key";

}  // namespace cosmoseal::proxy::migrate::details
