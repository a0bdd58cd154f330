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

std::string num(std::string_view tok) {
  std::string out;
  common::Status s = appendCanonicalNumber(tok, &out);
  EXPECT_TRUE(s.isOk()) << tok << ": " << s.toString();
  return out;
}

// One spelling per IEEE-754 double, ECMAScript's Number::toString (what JS and the service
// write), so every spelling Cosmos compares equal seals equal.
TEST(JsonTextTest, CanonicalNumbersAreAFunctionOfTheDouble) {
  for (std::string_view five : {"5", "5.0", "5e0", "5E+0", "500e-2", "0.5e1", "5.000000"}) {
    EXPECT_EQ(num(five), "5") << five;
  }
  EXPECT_EQ(num("-0"), "0");
  EXPECT_EQ(num("0.0e10"), "0");
  EXPECT_EQ(num("-0.0"), "0");
  EXPECT_EQ(num("-5.50"), "-5.5");
  EXPECT_EQ(num("0.1"), "0.1");
  EXPECT_EQ(num("1.50"), "1.5");
  EXPECT_EQ(num("1E+3"), "1000");
  EXPECT_EQ(num("123.456"), "123.456");
  EXPECT_EQ(num("0.000001"), "0.000001");
  EXPECT_EQ(num("1e-7"), "1e-7");
  EXPECT_EQ(num("1.5e-7"), "1.5e-7");
  EXPECT_EQ(num("1e20"), "100000000000000000000");
  EXPECT_EQ(num("1e21"), "1e+21");
  EXPECT_EQ(num("-1.25e30"), "-1.25e+30");
  // Integers beyond 2^53 are rounded to the nearest double, as the service does.
  EXPECT_EQ(num("9007199254740993"), "9007199254740992");
  EXPECT_EQ(num("12345678901234567890"), "12345678901234567000");
  EXPECT_EQ(num("-12345678901234567890"), "-12345678901234567000");
  EXPECT_EQ(num("123456789012345678901234567890"), "1.2345678901234568e+29");
  // The shortest digits that round-trip.
  EXPECT_EQ(num("0.30000000000000004"), "0.30000000000000004");
  EXPECT_EQ(num("0.1000000000000000055511151231257827"), "0.1");
  // Extremes: the largest double, the smallest subnormal, and underflow to zero.
  EXPECT_EQ(num("1.7976931348623157e308"), "1.7976931348623157e+308");
  EXPECT_EQ(num("4.9e-324"), "5e-324");
  EXPECT_EQ(num("1e-400"), "0");
  EXPECT_EQ(num("-0.00000000000000000000000000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000000000000000000000000000000"
                "000000000000000000000000000000000000000000000000000000000000000000000000001"),
            "0");
  EXPECT_EQ(num("1e-99999999999999999999"), "0");
}

TEST(JsonTextTest, CanonicalNumberRefusesOverflowAndNonNumbers) {
  for (std::string_view big : {"1e400", "-1e400", "1.7976931348623159e308",
                               "1e99999999999999999999", "0.0000000001e319"}) {
    std::string out = "x";
    common::Status s = appendCanonicalNumber(big, &out);
    EXPECT_EQ(s.detail(), "policy.number_out_of_range") << big;
    EXPECT_EQ(out, "x") << big;
  }
  for (std::string_view bad : {"", "+5", ".5", "5.", "007", "0x10", "5 ", "NaN", "Infinity", "-"}) {
    std::string out;
    EXPECT_FALSE(appendCanonicalNumber(bad, &out).isOk()) << bad;
  }
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
