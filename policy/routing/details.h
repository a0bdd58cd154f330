#pragma once

// Detail codes of effective partition keys and the partition-key-range map (policy/routing/).
// Stable, public contract: logged, counted, asserted by tests and clients; never rename or reword
// one. All are given with InvalidArgument (400) by this module; a caller that parses what Cosmos
// returned (a collection, a pkranges page) may answer 502 instead.

#include <string_view>

namespace cosmoseal::policy::routing_detail {

// A partition-key value that is not a JSON array of supported components, or that does not fit
// the container's definition (more components than paths, a non-array for a hash key).
inline constexpr std::string_view kBadPartitionKey = "routing.bad_partition_key";
// A collection's "partitionKey" member that is missing or malformed (paths, kind, version).
inline constexpr std::string_view kBadPartitionKeyDefinition =
    "routing.bad_partition_key_definition";
// A pkranges body that is not the expected shape, or whose ranges leave a gap, overlap or do not
// cover "" .. "FF".
inline constexpr std::string_view kBadPkRanges = "routing.bad_pkranges";
// An EPK that is not hex (upper- or lower-case digits only) where one is required.
inline constexpr std::string_view kBadEpk = "routing.bad_epk";

}  // namespace cosmoseal::policy::routing_detail
