// Token responses (Entra token endpoint, IMDS, App Service), form encoding, base64url.

#include "proxy/identity/token.h"

#include <gtest/gtest.h>

#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {
namespace {

constexpr int64_t kNow = 1'700'000'000;

TEST(TokenResponseTest, TokenEndpointAnswer) {
  auto t = parseTokenResponse(
      R"({"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0.eyJ1.c2ln"})",
      kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->view(), "eyJ0.eyJ1.c2ln");
  EXPECT_EQ(t->expires_on, kNow + 3599);
  EXPECT_EQ(t->obtained_at, kNow);
}

TEST(TokenResponseTest, ManagedIdentityAnswersWithStrings) {
  // IMDS sends numbers as strings; expires_in wins over expires_on (immune to clock skew).
  auto t = parseTokenResponse(
      R"({"access_token":"abc","refresh_token":"","expires_in":"86399","expires_on":"1","not_before":"1","resource":"https://x/","token_type":"Bearer"})",
      kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->expires_on, kNow + 86399);
  // App Service (2019-08-01): expires_on only, as Unix seconds.
  t = parseTokenResponse(R"({"access_token":"abc","expires_on":1700003600,"client_id":"c"})", kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->expires_on, 1700003600);
}

TEST(TokenResponseTest, ProviderErrorsAreNamed) {
  auto t = parseTokenResponse(
      R"({"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]})",
      kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), identity_detail::kTokenEndpointError);
  EXPECT_NE(t.status().message().find("invalid_client"), std::string_view::npos);
  EXPECT_NE(t.status().message().find("AADSTS7000215"), std::string_view::npos);
}

TEST(TokenResponseTest, RefusesUnusableAnswers) {
  for (const char* bad : {
           "", "[]", "not json", R"({"access_token":"a"})",         // no expiry
           R"({"expires_in":60})",                                  // no token
           R"({"access_token":"","expires_in":60})",                // empty token
           R"({"access_token":"a","expires_in":-5})",               // already expired
           R"({"access_token":"a","expires_in":"soon"})",           // not a number
           R"({"access_token":"a b","expires_in":60})",             // not header-safe
           R"({"access_token":"a\r\nX-Evil: 1","expires_in":60})",  // header smuggling
           R"({"access_token":"a","expires_in":60} trailing)",      // junk after
           R"({"access_token":"a","expires_in":60)",                // unclosed
       }) {
    auto t = parseTokenResponse(bad, kNow);
    EXPECT_FALSE(t.isOk()) << bad;
    if (!t.isOk()) {
      EXPECT_EQ(t.status().detail(), identity_detail::kBadTokenResponse) << bad;
    }
  }
}

TEST(TokenResponseTest, MessagesNeverHoldTheToken) {
  auto t = parseTokenResponse(R"({"access_token":"SECRET-TOKEN","expires_in":0})", kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().toString().find("SECRET"), std::string::npos);
}

TEST(TokenResponseTest, StringsAreUnescapedAndNestedValuesSkipped) {
  // Escapes in the token itself (\/ and \u are legal JSON for any character), numbers as
  // strings, and nested members (error_codes, a bracket inside a string) around them.
  auto t = parseTokenResponse(
      R"( { "scope" : "x\"y\\z{", "error_codes": {"b":[1,"}"]}, "access_token" : "eyJ\u0030.a\/b",
            "ok": true, "n": null, "expires_in" : "3599" } )",
      kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->view(), "eyJ0.a/b");
  EXPECT_EQ(t->expires_on, kNow + 3599);
  // Error descriptions are unescaped (surrogate pairs too) and a non-string error is shown as
  // JSON.
  t = parseTokenResponse(
      R"({"error":"invalid_grant","error_description":"caf\u00e9 \ud83d\ude00"})", kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), identity_detail::kTokenEndpointError);
  EXPECT_NE(t.status().message().find("invalid_grant (caf\xC3\xA9 \xF0\x9F\x98\x80)"),
            std::string_view::npos)
      << t.status().message();
  t = parseTokenResponse(R"({"error":42})", kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), identity_detail::kTokenEndpointError);
  EXPECT_NE(t.status().message().find("42"), std::string_view::npos);
}

TEST(TokenResponseTest, MissingOrUnusableFields) {
  for (const char* bad : {
           "{}",
           R"({"access_token":"a","expires_in":null})",       // null expiry
           R"({"access_token":"a","expires_in":3599.5})",     // not whole seconds
           R"({"access_token":"a","expires_in":" 3599"})",    // not only digits
           R"({"access_token":"a","expires_in":{"s":60}})",   // nested
           R"({"access_token":7,"expires_in":60})",           // token not a string
           R"({"access_token":"a","expires_in":"\x"})",       // bad escape
           "{\"access_token\":\"a\x01\",\"expires_in\":60}",  // control character
           R"({a:1})",
           R"({"a":1,})",
           R"({"a")",
       }) {
    auto t = parseTokenResponse(bad, kNow);
    EXPECT_FALSE(t.isOk()) << bad;
    if (!t.isOk()) {
      EXPECT_EQ(t.status().detail(), identity_detail::kBadTokenResponse) << bad;
    }
  }
  // expires_in unusable: expires_on (a numeric string) serves instead.
  auto t = parseTokenResponse(R"({"access_token":"a","expires_in":"x","expires_on":"1700000060"})",
                              kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->expires_on, kNow + 60);
}

TEST(FormEncodingTest, ReservedCharactersAreEscaped) {
  std::string out;
  appendFormEncoded(&out, "https://acct.documents.azure.com/.default a+b&c=d~_-.");
  EXPECT_EQ(out, "https%3A%2F%2Facct.documents.azure.com%2F.default%20a%2Bb%26c%3Dd~_-.");
}

TEST(Base64UrlTest, NoPaddingUrlAlphabet) {
  EXPECT_EQ(base64UrlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(base64UrlEncode("a"), "YQ");
  EXPECT_EQ(base64UrlEncode(""), "");
}

}  // namespace
}  // namespace cosmoseal::proxy::identity
