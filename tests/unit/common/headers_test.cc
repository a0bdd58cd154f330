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

TEST(HeaderMapTest, WellKnownNamesGetTheirToken) {
  EXPECT_EQ(headerToken("Content-Length"), HeaderToken::kContentLength);
  EXPECT_EQ(headerToken("TE"), HeaderToken::kTe);
  EXPECT_EQ(headerToken("x-ms-cosmos-supported-serialization-formats"),
            HeaderToken::kXMsCosmosSupportedSerializationFormats);
  EXPECT_EQ(headerToken("content-lengths"), HeaderToken::kOther);
  EXPECT_EQ(headerToken("content-lengt"), HeaderToken::kOther);
  EXPECT_EQ(headerToken(""), HeaderToken::kOther);
  EXPECT_EQ(headerToken(std::string(200, 'a')), HeaderToken::kOther);

  HeaderMap h;
  h.add("HOST", "a");
  h.add("X-Other", "b");
  h.add("host", "c");
  EXPECT_EQ(h.fields()[0].token, HeaderToken::kHost);
  EXPECT_EQ(h.fields()[1].token, HeaderToken::kOther);
  EXPECT_EQ(h.count(HeaderToken::kHost), 2u);
  EXPECT_EQ(h.count("Host"), 2u);
  EXPECT_EQ(*h.get(HeaderToken::kHost), "a");
  EXPECT_EQ(h.get(HeaderToken::kExpect), nullptr);
  EXPECT_EQ(h.remove("hOsT"), 2u);
  EXPECT_EQ(h.size(), 1u);
}

TEST(HeaderMapTest, ViewsSurviveGrowthMovesAndCopies) {
  HeaderMap h;
  const std::string big(5000, 'v');  // larger than the first storage block
  for (int i = 0; i < 100; ++i) h.add("x-name-" + std::to_string(i), std::to_string(i));
  h.add("x-big", big);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(h.fields()[i].name, "x-name-" + std::to_string(i));
    ASSERT_EQ(h.fields()[i].value, std::to_string(i));
  }
  HeaderMap moved = std::move(h);
  EXPECT_EQ(*moved.get("x-big"), big);
  EXPECT_EQ(*moved.get("X-NAME-42"), "42");
  HeaderMap copy;
  {
    HeaderMap source;
    source.add("A", "1");
    source.add("authorization", "secret");
    copy = source;
    source.set("a", "changed");
  }
  EXPECT_EQ(*copy.get("a"), "1");
  EXPECT_EQ(*copy.get(HeaderToken::kAuthorization), "secret");
  moved.clear();
  EXPECT_TRUE(moved.empty());
  moved.add("Reused", "yes");
  EXPECT_EQ(*moved.get("reused"), "yes");
}

TEST(HeaderMapTest, AsciiHelpers) {
  EXPECT_TRUE(equalsIgnoreCase("Transfer-Encoding", "transfer-encoding"));
  EXPECT_FALSE(equalsIgnoreCase("abc", "abd"));
  EXPECT_FALSE(equalsIgnoreCase("abc", "abcd"));
  EXPECT_EQ(toLowerAscii("GeT / HTTP"), "get / http");
}

}  // namespace
}  // namespace cosmoseal::common
