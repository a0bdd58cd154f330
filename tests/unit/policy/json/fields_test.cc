#include "policy/json/fields.h"

#include <gtest/gtest.h>

namespace cosmoseal::policy {
namespace {

TEST(JsonFields, TopLevelMembersKeepRawValues) {
  auto m = topLevelMembers(R"({"id":"a\u0062","n":1.50e1, "o":{"x":[1, 2]},"s\"q":null})");
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  ASSERT_EQ(m->size(), 4u);
  EXPECT_EQ((*m)[0].name, "id");
  EXPECT_EQ((*m)[0].raw, R"("a\u0062")");
  EXPECT_EQ((*m)[1].raw, "1.50e1");
  EXPECT_EQ((*m)[2].raw, R"({"x":[1, 2]})");
  EXPECT_EQ((*m)[3].name, "s\"q");
}

TEST(JsonFields, NotAnObjectIsBadJson) {
  EXPECT_EQ(topLevelMembers("[1]").status().detail(), "policy.bad_json");
  EXPECT_EQ(topLevelMembers("{\"a\":").status().detail(), "policy.bad_json");
}

TEST(JsonFields, ArrayMemberElements) {
  auto e = arrayMemberElements(
      R"({"_rid":"x","Documents":[{"id":"1"}, {"id":"2","v":[1]}],"_count":2})", "Documents");
  ASSERT_TRUE(e.isOk());
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[1], R"({"id":"2","v":[1]})");
  auto none = arrayMemberElements(R"({"a":1})", "Documents");
  ASSERT_TRUE(none.isOk());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(arrayMemberElements(R"({"Documents":1})", "Documents").isOk());
}

TEST(JsonFields, RawValueAt) {
  const std::string doc = R"({"a":{"b":"x","c":3},"d":true})";
  auto v = rawValueAt(doc, std::vector<std::string>{"a", "b"});
  ASSERT_TRUE(v.isOk());
  EXPECT_EQ(v->value_or(""), "\"x\"");
  auto missing = rawValueAt(doc, std::vector<std::string>{"a", "z"});
  ASSERT_TRUE(missing.isOk());
  EXPECT_FALSE(missing->has_value());
  auto through_scalar = rawValueAt(doc, std::vector<std::string>{"d", "x"});
  ASSERT_TRUE(through_scalar.isOk());
  EXPECT_FALSE(through_scalar->has_value());
}

TEST(JsonFields, StringValue) {
  EXPECT_EQ(jsonStringValue(R"("a\nb")").value_or("?"), "a\nb");
  EXPECT_FALSE(jsonStringValue("12").has_value());
}

TEST(JsonFields, WithoutSystemPropertiesKeepsEverythingElseByteForByte) {
  auto s = withoutSystemProperties(
      R"({"id":"1","n":1.0E2,"_rid":"r","_self":"s","_etag":"\"0\"","_attachments":"a/","_ts":5,"_lsn":7,"_user":1,"t":"\u00e9"})");
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(*s, R"({"id":"1","n":1.0E2,"_user":1,"t":"\u00e9"})");
  EXPECT_TRUE(isCosmosSystemProperty("_etag"));
  EXPECT_FALSE(isCosmosSystemProperty("_user"));
}

}  // namespace
}  // namespace cosmoseal::policy
