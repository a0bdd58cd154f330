#include "policy/container_meta.h"

#include <gtest/gtest.h>

namespace cosmoseal::policy {
namespace {

std::shared_ptr<const PolicySet> makeSet() {
  ContainerPolicySpec spec;
  spec.database = "shop";
  spec.container = "customers";
  spec.fields = {{"/ssn", FieldMode::kDeterministic, "pii", {}},
                 {"/address", FieldMode::kRandomized, "pii", {}},
                 {"/email", FieldMode::kRandomized, "pii", {}}};
  std::vector<ContainerPolicySpec> specs{spec};
  auto set = PolicySet::create(specs);
  EXPECT_TRUE(set.isOk()) << set.status().toString();
  return *set;
}

TEST(ContainerMetaTest, ParsesCollectionAndList) {
  auto one = parseCollection(
      R"({"id":"customers","partitionKey":{"paths":["/ssn"],"kind":"Hash","version":2},"_rid":"x"})");
  ASSERT_TRUE(one.isOk());
  EXPECT_EQ(one->id, "customers");
  ASSERT_EQ(one->partition_key_paths.size(), 1u);
  EXPECT_EQ(one->partition_key_paths[0], "/ssn");
  auto legacy = parseCollection(R"({"id":"old"})");
  ASSERT_TRUE(legacy.isOk());
  EXPECT_TRUE(legacy->partition_key_paths.empty());
  auto list = parseCollectionList(
      R"({"_rid":"r","DocumentCollections":[{"id":"a","partitionKey":{"paths":["/pk"]}},)"
      R"({"id":"b","partitionKey":{"paths":["/t","/u"],"kind":"MultiHash"}}],"_count":2})");
  ASSERT_TRUE(list.isOk());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].id, "b");
  EXPECT_EQ((*list)[1].partition_key_paths.size(), 2u);
  EXPECT_EQ(parseCollection("not json").status().detail(), "policy.bad_metadata");
  EXPECT_EQ(parseCollection(R"({"id":"a","partitionKey":{"paths":[1]}})").status().detail(),
            "policy.bad_metadata");
  EXPECT_EQ(parseCollection(R"({"partitionKey":{"paths":["/a"]}})").status().detail(),
            "policy.bad_metadata");
}

TEST(ContainerMetaTest, PlansProtectedComponents) {
  auto set = makeSet();
  const ContainerPolicy* p = set->find("shop", "customers");
  ASSERT_NE(p, nullptr);
  auto plan = planPartitionKey(*p, {"/ssn"});
  ASSERT_TRUE(plan.isOk());
  ASSERT_EQ(plan->size(), 1u);
  ASSERT_NE((*plan)[0], nullptr);
  EXPECT_EQ((*plan)[0]->pattern, "/ssn");
  auto plain = planPartitionKey(*p, {"/tenant", "/ssn"});
  ASSERT_TRUE(plain.isOk());
  EXPECT_EQ((*plain)[0], nullptr);
  EXPECT_NE((*plain)[1], nullptr);
  EXPECT_EQ(planPartitionKey(*p, {"/email"}).status().detail(), "policy.randomized_partition_key");
  EXPECT_EQ(planPartitionKey(*p, {"/address/zip"}).status().detail(),
            "policy.partition_key_inside_protected");
  EXPECT_EQ(planPartitionKey(*p, {"no-slash"}).status().detail(), "policy.bad_partition_key_path");
}

}  // namespace
}  // namespace cosmoseal::policy

namespace cosmoseal::policy {
namespace {

TEST(ContainerMetaTest, ParsesResourceId) {
  EXPECT_EQ(*parseResourceId(R"({"id":"shop","x":1})"), "shop");
  EXPECT_EQ(*parseResourceId(R"({"id":"caf\u00e9"})"), "caf\xc3\xa9");
  EXPECT_EQ(parseResourceId(R"({"name":"x"})").status().detail(), "policy.bad_metadata");
  EXPECT_EQ(parseResourceId("[1]").status().detail(), "policy.bad_metadata");
}

TEST(ContainerMetaTest, FiltersListings) {
  auto keep = [](std::string_view id) { return id == "a" || id == "c"; };
  int removed = 0;
  auto out = filterResourceList(
      R"({"_rid":"","Databases":[{"id":"a","_rid":"1"},{"id":"b"},{"id":"c","x":[1,2]},{"id":"d"}],"_count":4})",
      "Databases", keep, &removed);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(*out, R"({"_rid":"","Databases":[{"id":"a","_rid":"1"},{"id":"c","x":[1,2]}],"_count":2})");
  EXPECT_EQ(removed, 2);
  // _count before the array, whitespace, first and last elements dropped.
  out = filterResourceList(
      "{ \"_count\" : 3 , \"DocumentCollections\" : [ {\"id\":\"b\"} , {\"id\":\"a\"} , {\"id\":\"z\"} ] }",
      "DocumentCollections", keep, &removed);
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(*out, "{ \"_count\" : 1 , \"DocumentCollections\" : [ {\"id\":\"a\"} ] }");
  EXPECT_EQ(removed, 2);
  // Nothing visible.
  out = filterResourceList(R"({"Databases":[{"id":"x"},{"id":"y"}],"_count":2})", "Databases", keep,
                           &removed);
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(*out, R"({"Databases":[],"_count":0})");
  // Unchanged when everything is visible.
  out = filterResourceList(R"({"Databases":[{"id":"a"}],"_count":1})", "Databases", keep, &removed);
  EXPECT_EQ(*out, R"({"Databases":[{"id":"a"}],"_count":1})");
  EXPECT_EQ(removed, 0);
  EXPECT_EQ(filterResourceList("nope", "Databases", keep, &removed).status().detail(),
            "policy.bad_metadata");
}

}  // namespace
}  // namespace cosmoseal::policy
