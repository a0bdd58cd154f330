#include "policy/json/text.h"

#include <gtest/gtest.h>

namespace cosmoseal::policy {
namespace {

std::string canon(std::string_view tok) {
  auto r = canonicalStringToken(tok);
  EXPECT_TRUE(r.isOk()) << tok << ": " << r.status().toString();
  return r.isOk() ? *r : std::string();
}

TEST(JsonTextTest, EquivalentSpellingsHaveOneCanonicalForm) {
  EXPECT_EQ(canon("\"\\u00e9t\\u00C9\""), "\"\xc3\xa9t\xc3\x89\"");
  EXPECT_EQ(canon("\"\xc3\xa9t\xc3\x89\""), "\"\xc3\xa9t\xc3\x89\"");
  EXPECT_EQ(canon("\"a\\/b\""), "\"a/b\"");
  EXPECT_EQ(canon("\"\\ud83d\\ude00\""), "\"\xf0\x9f\x98\x80\"");
  EXPECT_EQ(canon("\"q\\\"b\\\\s\""), "\"q\\\"b\\\\s\"");
  EXPECT_EQ(canon("\"\\u0001\\n\\t\\u001F\""), "\"\\u0001\\n\\t\\u001f\"");
  EXPECT_EQ(canon("\"\""), "\"\"");
}

TEST(JsonTextTest, RejectsBrokenStrings) {
  for (std::string_view bad :
       {"\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"", "\"\\x\"", "\"\\u12\"", "\"a\\\"",
        "\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "abc", "\"\n\""}) {
    std::string out;
    common::Status s = unescapeJsonString(bad, &out);
    EXPECT_EQ(s.detail(), "policy.bad_string") << bad;
  }
}

TEST(JsonTextTest, Utf8Validation) {
  EXPECT_TRUE(isValidUtf8("plain ascii"));
  EXPECT_TRUE(isValidUtf8("\xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(isValidUtf8("\xe2\x82"));
  EXPECT_FALSE(isValidUtf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(isValidUtf8("\xe0\x80\x80"));      // overlong
}

}  // namespace
}  // namespace cosmoseal::policy
