// The shared text, URL and address helpers (common/text.h, common/url.h, common/net_address.h).

#include "common/text.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <string>

#include "common/net_address.h"
#include "common/url.h"

namespace cosmoseal::common {
namespace {

TEST(TextTest, LowerAndCompareIgnoreOnlyAsciiCase) {
  EXPECT_EQ(toLowerAscii("X-MS-Date \xC3\x89"), "x-ms-date \xC3\x89");  // non-ASCII unchanged
  EXPECT_TRUE(equalsIgnoreCase("Content-Length", "content-length"));
  EXPECT_FALSE(equalsIgnoreCase("content-length", "content-lengt"));
  EXPECT_FALSE(equalsIgnoreCase("a", "\xC1"));  // 'A'+0x80 is not 'a'
  EXPECT_EQ(compareIgnoreCase("ABC", "abd"), -1);
  EXPECT_EQ(compareIgnoreCase("abc", "AB"), 1);
  EXPECT_EQ(compareIgnoreCase("Keep-Alive", "keep-alive"), 0);
  std::string out = "x";
  appendLowerAscii(&out, "DBS");
  EXPECT_EQ(out, "xdbs");
}

TEST(TextTest, TrimOwsStripsOnlySpaceAndTab) {
  EXPECT_EQ(trimOws(" \t chunked \t"), "chunked");
  EXPECT_EQ(trimOws("\r\nx\r\n"), "\r\nx\r\n");
  EXPECT_EQ(trimOws("  "), "");
}

TEST(TextTest, JsonEscapingIsTheCanonicalSpelling) {
  std::string out;
  static constexpr char kIn[] = "a\"b\\c\b\f\n\r\t\x01\x1f\x7f \xC3\xA9";
  appendJsonEscaped(&out, std::string_view(kIn, sizeof(kIn) - 1));
  EXPECT_EQ(out, "a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xC3\xA9");
  out.clear();
  appendJsonEscaped(&out, std::string("\0z", 2));
  EXPECT_EQ(out, "\\u0000z");
}

TEST(UrlTest, PercentDecodeAcceptsBothHexCasesAndRejectsBadEscapes) {
  std::string out;
  EXPECT_TRUE(percentDecode("a%2Fb%2fc+d", &out));
  EXPECT_EQ(out, "a/b/c+d");  // '+' is not a space in a path
  EXPECT_FALSE(percentDecode("a%2", &out));
  EXPECT_FALSE(percentDecode("a%G0", &out));
  EXPECT_FALSE(percentDecode("%", &out));
}

TEST(UrlTest, PercentEncodeKeepsUnreservedOnlyAndRoundTrips) {
  EXPECT_EQ(percentEncodeSegment("Az09-._~"), "Az09-._~");
  EXPECT_EQ(percentEncodeSegment("a b/c%\xC3\xA9"), "a%20b%2Fc%25%C3%A9");
  std::string back;
  ASSERT_TRUE(percentDecode(percentEncodeSegment("d\x01/?#[]"), &back));
  EXPECT_EQ(back, "d\x01/?#[]");
}

TEST(NetAddressTest, IpLiteralsAreToldFromNames) {
  EXPECT_TRUE(isIpLiteral("127.0.0.1"));
  EXPECT_TRUE(isIpLiteral("::1"));
  EXPECT_FALSE(isIpLiteral("[::1]"));
  EXPECT_FALSE(isIpLiteral("localhost"));
  EXPECT_FALSE(isIpLiteral("127.0.0.1 "));
  EXPECT_FALSE(isIpLiteral(std::string("127.0.0.1\0x", 11)));
  sockaddr_storage ss;
  socklen_t len = 0;
  ASSERT_TRUE(sockaddrFromIpLiteral("127.0.0.1", 8081, &ss, &len));
  EXPECT_EQ(ss.ss_family, AF_INET);
  EXPECT_EQ(len, sizeof(sockaddr_in));
  EXPECT_EQ(ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port), 8081);
  ASSERT_TRUE(sockaddrFromIpLiteral("::1", 443, &ss, &len));
  EXPECT_EQ(ss.ss_family, AF_INET6);
  EXPECT_EQ(len, sizeof(sockaddr_in6));
  EXPECT_FALSE(sockaddrFromIpLiteral("example.net", 443, &ss, &len));
  EXPECT_EQ(ss.ss_family, 0);
}

}  // namespace
}  // namespace cosmoseal::common
