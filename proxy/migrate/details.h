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

}  // namespace cosmoseal::proxy::migrate::details
