#pragma once

// The partition-key-range map of one container: its physical partitions as EPK intervals, read
// from a pkranges response (GET dbs/{db}/colls/{coll}/pkranges).
//
// Why: to route a request whose partition key cosmoseal sealed, the proxy must know which range
// holds hash(ciphertext), and to tell a client-computed EPK bound (a range boundary the SDK
// learned from pkranges) from one hashed from a plaintext key (which must never be forwarded).
//
// A map is immutable once built: callers replace the whole map on refresh or after a split
// (410/1002), so readers may share one through a shared_ptr without locks. Ranges are sorted by
// their min and contiguous from "" to "FF". Parents of ranges that were split are remembered (the
// "parents" of each range) so that their boundaries remain recognised.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy {

struct PartitionKeyRange {
  std::string id;
  std::string min;  // minInclusive, as the service spells it
  std::string max;  // maxExclusive
  std::vector<std::string> parents;
};

class PartitionKeyRangeMap {
 public:
  PartitionKeyRangeMap() = default;  // empty: no ranges, rangeOf() finds nothing

  // From a pkranges response body ({"PartitionKeyRanges":[{id,minInclusive,maxExclusive,parents,
  // ...}],...}). Refuses a malformed body, non-hex bounds, gaps, overlaps and not covering
  // "" .. "FF" (InvalidArgument routing.bad_pkranges).
  // Ranges the body lists that are the parent of another listed range (gone after a split or a
  // merge; the incremental feed returns them) are dropped, their bounds kept as boundaries.
  static common::StatusOr<PartitionKeyRangeMap> parse(std::string_view pkranges_body,
                                                      std::string etag = {});

  // An incremental refresh (a pkranges read with If-None-Match: the previous etag and
  // A-IM: Incremental feed returns only the ranges created since): `previous` with the body's
  // ranges added and every range they name as a parent removed. The removed ranges' bounds stay
  // boundaries (isBoundary). Errors as parse(), also when the result is not complete (a parent
  // missing from `previous`: the caller then reads the full list).
  static common::StatusOr<PartitionKeyRangeMap> combine(const PartitionKeyRangeMap& previous,
                                                        std::string_view pkranges_body,
                                                        std::string etag);

  // The range containing `epk` (min <= epk < max); nullptr for an empty map or epk >= "FF".
  const PartitionKeyRange* rangeOf(std::string_view epk) const noexcept;
  const PartitionKeyRange* byId(std::string_view id) const noexcept;
  // Ranges overlapping [min, max) (EPK comparison as the service does: hex strings compared
  // case-insensitively, a shorter prefix sorts first; "" is the minimum, "FF" the maximum), in
  // EPK order; empty when min >= max.
  std::vector<const PartitionKeyRange*> overlapping(std::string_view min,
                                                    std::string_view max) const;
  // True when `epk` is the min or max of a range in this map OR of a parent range it replaced
  // (the routing helper refuses client-sent EPK bounds that are not boundaries: those were hashed
  // from a plaintext key).
  bool isBoundary(std::string_view epk) const noexcept;

  const std::string& etag() const noexcept { return etag_; }
  size_t size() const noexcept { return ranges_.size(); }
  const std::vector<PartitionKeyRange>& ranges() const noexcept { return ranges_; }

 private:
  std::vector<PartitionKeyRange> ranges_;  // sorted by min, contiguous "" .. "FF"
  std::vector<std::string> boundaries_;    // upper-case, sorted, unique; includes parents'
  std::vector<std::string> gone_ids_;      // ids of ranges split or merged away

  static common::StatusOr<PartitionKeyRangeMap> build(std::vector<PartitionKeyRange> ranges,
                                                      std::vector<std::string> gone_ids,
                                                      std::vector<std::string> retired_bounds,
                                                      std::string etag);
  std::string etag_;
};

// Orders two EPKs as the service does: case-insensitive hex, a shorter prefix first; "FF" (the
// maximum bound) sorts after every EPK. Returns <0, 0 or >0.
int compareEpk(std::string_view a, std::string_view b) noexcept;

}  // namespace cosmoseal::policy
