#include "policy/routing/range_map.h"

#include "policy/routing/details.h"

namespace cosmoseal::policy {

common::StatusOr<PartitionKeyRangeMap> PartitionKeyRangeMap::parse(std::string_view, std::string) {
  return common::invalidArgument(routing_detail::kBadPkRanges, "not implemented");
}
const PartitionKeyRange* PartitionKeyRangeMap::rangeOf(std::string_view) const noexcept {
  return nullptr;
}
const PartitionKeyRange* PartitionKeyRangeMap::byId(std::string_view) const noexcept {
  return nullptr;
}
std::vector<const PartitionKeyRange*> PartitionKeyRangeMap::overlapping(std::string_view,
                                                                        std::string_view) const {
  return {};
}
bool PartitionKeyRangeMap::isBoundary(std::string_view) const noexcept { return false; }
int compareEpk(std::string_view a, std::string_view b) noexcept { return a.compare(b); }

}  // namespace cosmoseal::policy
