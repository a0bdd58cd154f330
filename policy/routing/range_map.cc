#include "policy/routing/range_map.h"

#include <simdjson.h>

#include <algorithm>
#include <unordered_set>
#include <utility>

#include "common/text.h"
#include "policy/routing/details.h"

namespace cosmoseal::policy {

namespace rd = routing_detail;

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

Status badRanges(std::string msg) {
  return Status(Code::kInvalidArgument, rd::kBadPkRanges, std::move(msg));
}

using common::upperAscii;
constexpr char upper(char c) noexcept { return upperAscii(c); }

bool isHex(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  });
}

bool isMaxEpk(std::string_view s) noexcept {
  return s.size() == 2 && upper(s[0]) == 'F' && upper(s[1]) == 'F';
}

std::string upperCopy(std::string_view s) { return common::toUpperAscii(s); }

Status readRanges(std::string_view body, std::vector<PartitionKeyRange>* out) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(body);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return badRanges("the pkranges body is not a JSON object");
  }
  simdjson::dom::array list;
  if (doc["PartitionKeyRanges"].get(list) != simdjson::SUCCESS) {
    return badRanges("the pkranges body has no PartitionKeyRanges array");
  }
  for (simdjson::dom::element e : list) {
    PartitionKeyRange r;
    std::string_view id;
    std::string_view min;
    std::string_view max;
    if (e["id"].get(id) != simdjson::SUCCESS || id.empty() ||
        e["minInclusive"].get(min) != simdjson::SUCCESS ||
        e["maxExclusive"].get(max) != simdjson::SUCCESS) {
      return badRanges("a partition-key range lacks a string id, minInclusive or maxExclusive");
    }
    if (!isHex(min) || !isHex(max)) {
      return badRanges("partition-key range " + std::string(id) + " has a non-hex bound");
    }
    r.id = std::string(id);
    r.min = std::string(min);
    r.max = std::string(max);
    simdjson::dom::element parents;
    if (e["parents"].get(parents) == simdjson::SUCCESS && !parents.is_null()) {
      simdjson::dom::array arr;
      if (parents.get(arr) != simdjson::SUCCESS) {
        return badRanges("partition-key range " + r.id + " has parents that are not an array");
      }
      for (simdjson::dom::element p : arr) {
        std::string_view pid;
        if (p.get(pid) != simdjson::SUCCESS) {
          return badRanges("partition-key range " + r.id + " has a parent id that is not a string");
        }
        r.parents.emplace_back(pid);
      }
    }
    out->push_back(std::move(r));
  }
  return Status::ok();
}

// Removes from `ranges` those gone after a split or merge: named as a parent by another range, or
// already known as gone (`gone`, which gains the new ones). Their bounds go to `retired`.
void dropParents(std::vector<PartitionKeyRange>* ranges, std::vector<std::string>* gone,
                 std::vector<std::string>* retired) {
  std::unordered_set<std::string> all(gone->begin(), gone->end());
  for (const PartitionKeyRange& r : *ranges) {
    for (const std::string& p : r.parents) {
      if (all.insert(p).second) gone->push_back(p);
    }
  }
  auto it = std::remove_if(ranges->begin(), ranges->end(), [&](const PartitionKeyRange& r) {
    if (all.count(r.id) == 0) return false;
    retired->push_back(r.min);
    retired->push_back(r.max);
    return true;
  });
  ranges->erase(it, ranges->end());
}

}  // namespace

int compareEpk(std::string_view a, std::string_view b) noexcept {
  // "FF" is the maximum bound, above every EPK (all of which start below it: V2 hashes have their
  // top two bits cleared, V1 EPKs start with the number marker 05).
  const bool a_max = isMaxEpk(a);
  const bool b_max = isMaxEpk(b);
  if (a_max || b_max) return a_max == b_max ? 0 : (a_max ? 1 : -1);
  const size_t n = std::min(a.size(), b.size());
  for (size_t k = 0; k < n; ++k) {
    const char x = upper(a[k]);
    const char y = upper(b[k]);
    if (x != y) return x < y ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

StatusOr<PartitionKeyRangeMap> PartitionKeyRangeMap::build(std::vector<PartitionKeyRange> ranges,
                                                           std::vector<std::string> gone,
                                                           std::vector<std::string> retired,
                                                           std::string etag) {
  dropParents(&ranges, &gone, &retired);
  if (ranges.empty()) return badRanges("the pkranges list is empty");
  std::sort(ranges.begin(), ranges.end(),
            [](const PartitionKeyRange& x, const PartitionKeyRange& y) {
              return compareEpk(x.min, y.min) < 0;
            });
  std::unordered_set<std::string> ids;
  for (size_t k = 0; k < ranges.size(); ++k) {
    const PartitionKeyRange& r = ranges[k];
    if (!ids.insert(r.id).second) return badRanges("duplicate partition-key range id " + r.id);
    if (compareEpk(r.min, r.max) >= 0) {
      return badRanges("partition-key range " + r.id + " is empty or inverted");
    }
    if (k == 0 && !r.min.empty()) return badRanges("the ranges do not start at \"\"");
    if (k + 1 < ranges.size()) {
      const int c = compareEpk(r.max, ranges[k + 1].min);
      if (c < 0) return badRanges("gap after partition-key range " + r.id);
      if (c > 0) return badRanges("partition-key range " + r.id + " overlaps the next");
    } else if (!isMaxEpk(r.max)) {
      return badRanges("the ranges do not end at \"FF\"");
    }
  }
  PartitionKeyRangeMap map;
  for (const PartitionKeyRange& r : ranges) {
    map.boundaries_.push_back(upperCopy(r.min));
    map.boundaries_.push_back(upperCopy(r.max));
  }
  for (const std::string& b : retired) map.boundaries_.push_back(upperCopy(b));
  std::sort(map.boundaries_.begin(), map.boundaries_.end());
  map.boundaries_.erase(std::unique(map.boundaries_.begin(), map.boundaries_.end()),
                        map.boundaries_.end());
  map.ranges_ = std::move(ranges);
  map.gone_ids_ = std::move(gone);
  map.etag_ = std::move(etag);
  return map;
}

StatusOr<PartitionKeyRangeMap> PartitionKeyRangeMap::parse(std::string_view pkranges_body,
                                                           std::string etag) {
  std::vector<PartitionKeyRange> ranges;
  COSMOSEAL_RETURN_IF_ERROR(readRanges(pkranges_body, &ranges));
  return build(std::move(ranges), {}, {}, std::move(etag));
}

StatusOr<PartitionKeyRangeMap> PartitionKeyRangeMap::combine(const PartitionKeyRangeMap& previous,
                                                             std::string_view pkranges_body,
                                                             std::string etag) {
  std::vector<PartitionKeyRange> added;
  COSMOSEAL_RETURN_IF_ERROR(readRanges(pkranges_body, &added));
  std::vector<PartitionKeyRange> ranges = previous.ranges_;
  for (PartitionKeyRange& r : added) {
    // A range listed again (same id) replaces the old copy.
    auto same = std::find_if(ranges.begin(), ranges.end(),
                             [&](const PartitionKeyRange& o) { return o.id == r.id; });
    if (same != ranges.end()) {
      *same = std::move(r);
    } else {
      ranges.push_back(std::move(r));
    }
  }
  // Ranges the previous map knew as gone stay gone (a later feed may list one again); its retired
  // bounds stay boundaries.
  return build(std::move(ranges), previous.gone_ids_, previous.boundaries_, std::move(etag));
}

const PartitionKeyRange* PartitionKeyRangeMap::rangeOf(std::string_view epk) const noexcept {
  // The last range whose min <= epk; contiguity makes it the one, unless epk >= "FF".
  auto it = std::upper_bound(
      ranges_.begin(), ranges_.end(), epk,
      [](std::string_view e, const PartitionKeyRange& r) { return compareEpk(e, r.min) < 0; });
  if (it == ranges_.begin()) return nullptr;
  --it;
  return compareEpk(epk, it->max) < 0 ? &*it : nullptr;
}

const PartitionKeyRange* PartitionKeyRangeMap::byId(std::string_view id) const noexcept {
  for (const PartitionKeyRange& r : ranges_) {
    if (r.id == id) return &r;
  }
  return nullptr;
}

std::vector<const PartitionKeyRange*> PartitionKeyRangeMap::overlapping(
    std::string_view min, std::string_view max) const {
  std::vector<const PartitionKeyRange*> out;
  if (compareEpk(min, max) >= 0) return out;
  for (const PartitionKeyRange& r : ranges_) {
    if (compareEpk(r.max, min) <= 0) continue;
    if (compareEpk(r.min, max) >= 0) break;
    out.push_back(&r);
  }
  return out;
}

bool PartitionKeyRangeMap::isBoundary(std::string_view epk) const noexcept {
  // boundaries_ holds upper-case spellings sorted bytewise; compare the same way.
  auto less = [](std::string_view x, std::string_view y) {
    const size_t n = std::min(x.size(), y.size());
    for (size_t k = 0; k < n; ++k) {
      const char a = upper(x[k]);
      const char b = upper(y[k]);
      if (a != b) return a < b;
    }
    return x.size() < y.size();
  };
  auto it = std::lower_bound(boundaries_.begin(), boundaries_.end(), epk,
                             [&](const std::string& b, std::string_view e) { return less(b, e); });
  return it != boundaries_.end() && !less(epk, *it);
}

}  // namespace cosmoseal::policy
