#include "policy/routing/range_map.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/routing/epk.h"

namespace cosmoseal::policy {
namespace {

// Three ranges as the service lists them (the shape of a real GET .../pkranges body, trimmed).
constexpr std::string_view kThree = R"({"_rid":"abc=","PartitionKeyRanges":[
  {"_rid":"abc=AgAAAAAAAAA=","id":"1","_etag":"\"0\"","minInclusive":"15555555555555555555555555555555",
   "maxExclusive":"2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","ridPrefix":1,"throughputFraction":0.33,
   "status":"online","parents":[],"_ts":1},
  {"id":"0","minInclusive":"","maxExclusive":"15555555555555555555555555555555","parents":[]},
  {"id":"2","minInclusive":"2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","maxExclusive":"FF","parents":[]}
],"_count":3})";

std::vector<std::string> ids(const std::vector<const PartitionKeyRange*>& rs) {
  std::vector<std::string> out;
  out.reserve(rs.size());
  for (const auto* r : rs) out.push_back(r->id);
  return out;
}

TEST(RangeMapTest, CompareEpk) {
  EXPECT_EQ(compareEpk("", ""), 0);
  EXPECT_LT(compareEpk("", "00"), 0);
  EXPECT_LT(compareEpk("05", "05C1"), 0);  // a shorter prefix first
  EXPECT_EQ(compareEpk("0abc", "0ABC"), 0);
  EXPECT_LT(compareEpk("3FFFFFFF", "FF"), 0);
  EXPECT_GT(compareEpk("FF", "FF00"), 0);  // "FF" is the maximum
  EXPECT_EQ(compareEpk("ff", "FF"), 0);
  EXPECT_LT(compareEpk("1A", "1b"), 0);
}

TEST(RangeMapTest, ParsesSortsAndLooksUp) {
  auto map = PartitionKeyRangeMap::parse(kThree, "\"etag-1\"");
  ASSERT_TRUE(map.isOk()) << map.status().toString();
  EXPECT_EQ(map->size(), 3u);
  EXPECT_EQ(map->etag(), "\"etag-1\"");
  ASSERT_EQ(map->ranges()[0].id, "0");
  EXPECT_EQ(map->ranges()[1].id, "1");
  EXPECT_EQ(map->ranges()[2].id, "2");

  EXPECT_EQ(map->rangeOf("")->id, "0");
  EXPECT_EQ(map->rangeOf("05C1D9C1C5517C05C014")->id, "0");
  EXPECT_EQ(map->rangeOf("15555555555555555555555555555555")->id, "1");  // min is inclusive
  EXPECT_EQ(map->rangeOf("15555555555555555555555555555554")->id, "0");
  EXPECT_EQ(map->rangeOf("2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")->id, "2");  // any case
  EXPECT_EQ(map->rangeOf("3FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF")->id, "2");
  EXPECT_EQ(map->rangeOf("FF"), nullptr);
  EXPECT_EQ(map->byId("1")->min, "15555555555555555555555555555555");
  EXPECT_EQ(map->byId("7"), nullptr);

  // A real key lands in the range its EPK falls in.
  PartitionKeyDefinition def;
  def.paths = {"/pk"};
  def.version = 2;
  auto e = effectivePartitionKey(R"(["redmond"])", def);  // 22E342F3...: range 1
  ASSERT_TRUE(e.isOk());
  EXPECT_EQ(map->rangeOf(*e)->id, "1");
}

TEST(RangeMapTest, Overlapping) {
  auto map = PartitionKeyRangeMap::parse(kThree);
  ASSERT_TRUE(map.isOk());
  EXPECT_EQ(ids(map->overlapping("", "FF")), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(ids(map->overlapping("", "15555555555555555555555555555555")),
            (std::vector<std::string>{"0"}));  // max is exclusive
  EXPECT_EQ(ids(map->overlapping("10", "20")), (std::vector<std::string>{"0", "1"}));
  // A prefix hierarchical key's range: [epk, epk + "FF").
  EXPECT_EQ(ids(map->overlapping("22E342F38A486A088463DFF7838A5963",
                                 "22E342F38A486A088463DFF7838A5963FF")),
            (std::vector<std::string>{"1"}));
  EXPECT_TRUE(map->overlapping("20", "20").empty());
  EXPECT_TRUE(map->overlapping("30", "20").empty());
}

TEST(RangeMapTest, Boundaries) {
  auto map = PartitionKeyRangeMap::parse(kThree);
  ASSERT_TRUE(map.isOk());
  EXPECT_TRUE(map->isBoundary(""));
  EXPECT_TRUE(map->isBoundary("FF"));
  EXPECT_TRUE(map->isBoundary("15555555555555555555555555555555"));
  EXPECT_TRUE(map->isBoundary("2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  EXPECT_FALSE(map->isBoundary("22E342F38A486A088463DFF7838A5963"));  // hashed from a key
  EXPECT_FALSE(map->isBoundary("1555555555555555555555555555555"));   // a prefix of one
}

TEST(RangeMapTest, SplitKeepsTheParentsBoundariesAndDropsGoneRanges) {
  // The incremental feed after range 1 split into 3 and 4.
  constexpr std::string_view kSplit = R"({"PartitionKeyRanges":[
    {"id":"3","minInclusive":"15555555555555555555555555555555","maxExclusive":"20","parents":["1"]},
    {"id":"4","minInclusive":"20","maxExclusive":"2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","parents":["1"]}
  ]})";
  auto before = PartitionKeyRangeMap::parse(kThree, "\"1\"");
  ASSERT_TRUE(before.isOk());
  auto after = PartitionKeyRangeMap::combine(*before, kSplit, "\"2\"");
  ASSERT_TRUE(after.isOk()) << after.status().toString();
  EXPECT_EQ(after->size(), 4u);
  EXPECT_EQ(after->etag(), "\"2\"");
  EXPECT_EQ(after->byId("1"), nullptr);
  EXPECT_EQ(after->rangeOf("22E342F38A486A088463DFF7838A5963")->id, "4");
  EXPECT_EQ(after->rangeOf("1F")->id, "3");
  EXPECT_TRUE(after->isBoundary("20"));

  // A merge of 3 and 4 back into 5: the middle bound "20" is no longer a range bound but it was
  // one, so a client that learned it is still recognised.
  constexpr std::string_view kMerge = R"({"PartitionKeyRanges":[
    {"id":"5","minInclusive":"15555555555555555555555555555555",
     "maxExclusive":"2AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","parents":["3","4"]}]})";
  auto merged = PartitionKeyRangeMap::combine(*after, kMerge, "\"3\"");
  ASSERT_TRUE(merged.isOk()) << merged.status().toString();
  EXPECT_EQ(merged->size(), 3u);
  EXPECT_TRUE(merged->isBoundary("20"));
  EXPECT_EQ(merged->rangeOf("1F")->id, "5");

  // A later feed that lists a gone range again does not bring it back.
  auto again = PartitionKeyRangeMap::combine(
      *merged,
      R"({"PartitionKeyRanges":[{"id":"3","minInclusive":"15555555555555555555555555555555",
          "maxExclusive":"20","parents":["1"]}]})",
      "\"4\"");
  ASSERT_TRUE(again.isOk()) << again.status().toString();
  EXPECT_EQ(again->size(), 3u);
  EXPECT_EQ(again->rangeOf("1F")->id, "5");

  // A full read that still lists the gone parent (as the change feed of ranges does) drops it.
  constexpr std::string_view kFullWithParent = R"({"PartitionKeyRanges":[
    {"id":"0","minInclusive":"","maxExclusive":"40","parents":[]},
    {"id":"1","minInclusive":"40","maxExclusive":"FF","parents":[]},
    {"id":"2","minInclusive":"40","maxExclusive":"80","parents":["1"]},
    {"id":"3","minInclusive":"80","maxExclusive":"FF","parents":["1"]}]})";
  auto full = PartitionKeyRangeMap::parse(kFullWithParent);
  ASSERT_TRUE(full.isOk()) << full.status().toString();
  EXPECT_EQ(full->size(), 3u);
  EXPECT_EQ(full->byId("1"), nullptr);
  EXPECT_TRUE(full->isBoundary("80"));

  // A split whose parent the previous map never had leaves a gap: refused.
  auto orphan = PartitionKeyRangeMap::combine(
      *before,
      R"({"PartitionKeyRanges":[{"id":"9","minInclusive":"20","maxExclusive":"21","parents":["8"]}]})",
      "x");
  EXPECT_EQ(orphan.status().detail(), "routing.bad_pkranges");
}

TEST(RangeMapTest, RefusesIncompleteOrMalformedLists) {
  for (
      std::string_view bad : {
          "not json",
          "[]",
          R"({"PartitionKeyRanges":[]})",
          R"({"PartitionKeyRanges":5})",
          // not starting at ""
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"00","maxExclusive":"FF"}]})",
          // not ending at FF
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"80"}]})",
          // gap
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"40"},
               {"id":"1","minInclusive":"50","maxExclusive":"FF"}]})",
          // overlap
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"60"},
               {"id":"1","minInclusive":"50","maxExclusive":"FF"}]})",
          // duplicate id
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"50"},
               {"id":"0","minInclusive":"50","maxExclusive":"FF"}]})",
          // empty range
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":""},
               {"id":"1","minInclusive":"","maxExclusive":"FF"}]})",
          // non-hex bound, missing fields, bad parents
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"ZZ"}]})",
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":""}]})",
          R"({"PartitionKeyRanges":[{"minInclusive":"","maxExclusive":"FF"}]})",
          R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"FF","parents":"x"}]})",
      }) {
    auto r = PartitionKeyRangeMap::parse(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "routing.bad_pkranges") << bad;
  }
  // A single range covering everything is fine (one physical partition).
  auto one = PartitionKeyRangeMap::parse(
      R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"FF","parents":null}]})");
  ASSERT_TRUE(one.isOk()) << one.status().toString();
  EXPECT_EQ(one->rangeOf("05C1")->id, "0");
}

TEST(RangeMapTest, EmptyMapFindsNothing) {
  PartitionKeyRangeMap map;
  EXPECT_EQ(map.size(), 0u);
  EXPECT_EQ(map.rangeOf(""), nullptr);
  EXPECT_EQ(map.byId("0"), nullptr);
  EXPECT_TRUE(map.overlapping("", "FF").empty());
  EXPECT_FALSE(map.isBoundary(""));
}

}  // namespace
}  // namespace cosmoseal::policy
