#include "common/headers.h"

#include <gtest/gtest.h>

namespace cosmoseal::common {
namespace {

TEST(HeaderMapTest, CaseInsensitiveLookupKeepsOrderAndCase) {
  HeaderMap h;
  h.add("Content-Type", "application/json");
  h.add("x-ms-date", "Thu, 27 Apr 2017 00:51:12 GMT");
  h.add("X-Custom", "a");
  h.add("x-custom", "b");
  ASSERT_NE(h.get("content-type"), nullptr);
  EXPECT_EQ(*h.get("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(h.count("X-CUSTOM"), 2u);
  EXPECT_EQ(*h.get("x-custom"), "a");
  EXPECT_EQ(h.fields()[0].name, "Content-Type");
  EXPECT_EQ(h.getOr("missing", "dflt"), "dflt");
  EXPECT_FALSE(h.has("missing"));
}

TEST(HeaderMapTest, SetReplacesAllAndRemoveCounts) {
  HeaderMap h;
  h.add("A", "1");
  h.add("a", "2");
  h.add("B", "3");
  h.set("a", "9");
  EXPECT_EQ(h.count("A"), 1u);
  EXPECT_EQ(*h.get("A"), "9");
  EXPECT_EQ(h.fields().back().name, "a");
  EXPECT_EQ(h.remove("b"), 1u);
  EXPECT_EQ(h.size(), 1u);
}

TEST(HeaderMapTest, AsciiHelpers) {
  EXPECT_TRUE(equalsIgnoreCase("Transfer-Encoding", "transfer-encoding"));
  EXPECT_FALSE(equalsIgnoreCase("abc", "abd"));
  EXPECT_FALSE(equalsIgnoreCase("abc", "abcd"));
  EXPECT_EQ(toLowerAscii("GeT / HTTP"), "get / http");
}

}  // namespace
}  // namespace cosmoseal::common
