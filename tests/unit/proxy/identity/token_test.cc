// Token responses (Entra token endpoint, IMDS, App Service), the flat JSON reader, form encoding.

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

TEST(FlatJsonTest, StringsEscapesAndNestedValues) {
  std::vector<FlatJsonMember> m;
  ASSERT_TRUE(parseFlatJsonObject(
      R"( { "a" : "x\"y\\z\/\u00e9\ud83d\ude00" , "n": 12, "nested": {"b":[1,"}"]}, "t": true } )",
      &m));
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].name, "a");
  EXPECT_EQ(m[0].value, "x\"y\\z/\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_TRUE(m[0].is_string);
  EXPECT_EQ(m[1].value, "12");
  EXPECT_FALSE(m[1].is_string);
  EXPECT_EQ(m[2].name, "t");
  m.clear();
  EXPECT_TRUE(parseFlatJsonObject("{}", &m));
  for (const char* bad : {R"({"a":"\x"})", R"({"a":"\udc00"})", "{\"a\":\"\x01\"}", R"({"a")",
                          R"({a:1})", R"({"a":1,})"}) {
    m.clear();
    EXPECT_FALSE(parseFlatJsonObject(bad, &m)) << bad;
  }
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
