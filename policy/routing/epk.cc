#include "policy/routing/epk.h"

#include "policy/routing/details.h"

namespace cosmoseal::policy {

common::StatusOr<PartitionKeyDefinition> parsePartitionKeyDefinition(std::string_view) {
  return common::invalidArgument(routing_detail::kBadPartitionKeyDefinition, "not implemented");
}

common::StatusOr<std::string> effectivePartitionKey(std::string_view,
                                                    const PartitionKeyDefinition&) {
  return common::invalidArgument(routing_detail::kBadPartitionKey, "not implemented");
}

uint32_t murmurHash3x86_32(std::string_view, uint32_t) { return 0; }
std::array<uint64_t, 2> murmurHash3x64_128(std::string_view, uint32_t) { return {0, 0}; }

}  // namespace cosmoseal::policy
