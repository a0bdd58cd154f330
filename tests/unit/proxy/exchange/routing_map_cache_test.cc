#include "proxy/exchange/routing_map_cache.h"

#include <gtest/gtest.h>

#include "proxy/exchange/partition_key_cache.h"

namespace cosmoseal::proxy {
namespace {

constexpr const char* kTwoRanges =
    R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"20"},)"
    R"({"id":"1","minInclusive":"20","maxExclusive":"FF"}]})";
constexpr const char* kSplit =
    R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"20"},)"
    R"({"id":"2","minInclusive":"20","maxExclusive":"30","parents":["1"]},)"
    R"({"id":"3","minInclusive":"30","maxExclusive":"FF","parents":["1"]}]})";

ContainerRouting routingOf(const char* body, const char* etag, const char* rid = "gAABAIAAAAE=") {
  auto map = policy::PartitionKeyRangeMap::parse(body, etag);
  EXPECT_TRUE(map.isOk()) << map.status().toString();
  ContainerRouting r;
  r.definition.paths = {"/cust"};
  r.definition.version = 2;
  r.collection_rid = rid;
  r.map = std::make_shared<const policy::PartitionKeyRangeMap>(std::move(map).value());
  return r;
}

TEST(RoutingMapCacheTest, PutGetInvalidateFresh) {
  RoutingMapCache c;
  EXPECT_EQ(c.get("shop", "orders").routing, nullptr);
  c.put("shop", "orders", routingOf(kTwoRanges, "\"e1\""));
  auto l = c.get("shop", "orders");
  ASSERT_NE(l.routing, nullptr);
  EXPECT_FALSE(l.stale);
  EXPECT_EQ(l.routing->map->size(), 2u);
  EXPECT_EQ(l.routing->map->etag(), "\"e1\"");
  c.invalidate("shop", "orders");
  EXPECT_TRUE(c.get("shop", "orders").stale);
  EXPECT_NE(c.get("shop", "orders").routing, nullptr);  // kept for the If-None-Match reload
  c.markFresh("shop", "orders");
  EXPECT_FALSE(c.get("shop", "orders").stale);
  EXPECT_EQ(c.get("shop", "other").routing, nullptr);
}

TEST(RoutingMapCacheTest, BoundariesOfReplacedMapsStayKnown) {
  RoutingMapCache c;
  EXPECT_TRUE(c.isKnownBoundary("shop", "orders", ""));    // always
  EXPECT_TRUE(c.isKnownBoundary("shop", "orders", "FF"));  // always
  EXPECT_FALSE(c.isKnownBoundary("shop", "orders", "20"));
  c.put("shop", "orders", routingOf(kTwoRanges, "\"e1\""));
  EXPECT_TRUE(c.isKnownBoundary("shop", "orders", "20"));
  EXPECT_FALSE(c.isKnownBoundary("shop", "orders", "1A2B"));  // hashed from a key
  c.put("shop", "orders", routingOf(kSplit, "\"e2\""));
  EXPECT_TRUE(c.isKnownBoundary("shop", "orders", "30"));
  EXPECT_TRUE(c.isKnownBoundary("shop", "orders", "20"));
  // A container recreated under the same name (another RID): the old boundaries go.
  c.put("shop", "orders", routingOf(R"({"PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":"FF"}]})", "\"x\"", "gAABAIAAAAI="));
  EXPECT_FALSE(c.isKnownBoundary("shop", "orders", "20"));
}

TEST(RoutingMapCacheTest, SessionTokensPerRangeNeverStepBack) {
  RoutingMapCache c;
  c.noteSessionTokens("shop", "orders", "0:-1#5");  // no entry yet: not kept
  EXPECT_EQ(c.sessionToken("shop", "orders", "0"), "");
  c.put("shop", "orders", routingOf(kTwoRanges, "\"e1\""));
  c.noteSessionTokens("shop", "orders", "0:-1#5, 1:-1#9");
  EXPECT_EQ(c.sessionToken("shop", "orders", "0"), "0:-1#5");
  EXPECT_EQ(c.sessionToken("shop", "orders", "1"), "1:-1#9");
  c.noteSessionTokens("shop", "orders", "1:-1#7");  // an older answer arriving late
  EXPECT_EQ(c.sessionToken("shop", "orders", "1"), "1:-1#9");
  c.noteSessionTokens("shop", "orders", "1:-1#12#2=3");
  EXPECT_EQ(c.sessionToken("shop", "orders", "1"), "1:-1#12#2=3");
  c.noteSessionTokens("shop", "orders", ":bad,,nocolon");
  EXPECT_EQ(c.sessionToken("shop", "orders", "2"), "");
}

TEST(RoutingMapCacheTest, ForgottenWithThePartitionKeyCache) {
  PartitionKeyCache pk;
  pk.routing().put("shop", "orders", routingOf(kTwoRanges, "\"e1\""));
  pk.routing().put("shop", "other", routingOf(kTwoRanges, "\"e1\""));
  pk.routing().put("crm", "orders", routingOf(kTwoRanges, "\"e1\""));
  pk.forget("shop", "orders");
  EXPECT_EQ(pk.routing().get("shop", "orders").routing, nullptr);
  EXPECT_NE(pk.routing().get("shop", "other").routing, nullptr);
  pk.forgetDatabase("shop");
  EXPECT_EQ(pk.routing().get("shop", "other").routing, nullptr);
  EXPECT_NE(pk.routing().get("crm", "orders").routing, nullptr);
  EXPECT_EQ(pk.routing().size(), 1u);
}

TEST(RoutingMapCacheTest, UpperEpk) {
  EXPECT_EQ(upperEpk("0a1bff"), "0A1BFF");
  EXPECT_EQ(upperEpk(""), "");
}

}  // namespace
}  // namespace cosmoseal::proxy
