#include "crypto/cosmos_auth.h"

#include <gtest/gtest.h>

#include "crypto/base64.h"

namespace cosmoseal::crypto {
namespace {

// The public Cosmos DB emulator key (ref/cosmos-protocol.md §1.3).
constexpr char kEmulatorKey[] =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
constexpr char kDate2017[] = "Thu, 27 Apr 2017 00:51:12 GMT";
constexpr char kDate2026[] = "Sun, 22 Nov 2026 13:05:47 GMT";
// "b é" in UTF-8, spelled as bytes so the source encoding does not matter.
constexpr char kBE[] = "b \xc3\xa9";

common::SecretBytes emulatorKey() {
  auto k = decodeKeyText(kEmulatorKey);
  EXPECT_TRUE(k.isOk());
  EXPECT_EQ(k->size(), 64u);
  return std::move(k).value();
}

struct SigVector {
  const char* verb;
  const char* type;
  std::string link;
  const char* date;
  const char* sig;
};

std::vector<SigVector> sigVectors() {
  return {
      {"GET", "dbs", "dbs/ToDoList", kDate2017, "mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY="},
      {"GET", "", "", kDate2017, "gFB1bRB/PLJTG3bCgMuoVgNzOyFvZAamzEtLuSITjRc="},
      {"POST", "dbs", "", kDate2017, "CHjhNtQltyEuPdWLf2/f+hSkSlYg+7UuFlwMyv8L7mI="},
      {"POST", "docs", "dbs/db1/colls/coll1", kDate2017,
       "9yU9qvx5XX6iRaOMpVLw+sXE8DUynMDSMcADdfsx5eQ="},
      {"GET", "docs", std::string("dbs/db1/colls/coll1/docs/") + kBE, kDate2017,
       "8iHozTo/g+qqPKDgy+Do2NXOcIuO9V26f5YcloWFWi4="},
      {"POST", "sprocs", "dbs/db1/colls/coll1/sprocs/sp1", kDate2017,
       "vP2R8fiis2h/ALmBPgU5eXpE418anE8vdE46SJCxE3c="},
      {"GET", "pkranges", "dbs/db1/colls/coll1", kDate2017,
       "+CvVW7cwN45VFGSYxLNvuqbdnllcXK9dXUs/rjdP4Y8="},
      {"POST", "docs", "dbs/db full/colls/Items", kDate2026,
       "uhL/iAY0dN1+V0qTlFMg712fPM3s1Tkw/uePrm/g4bM="},
      {"GET", "docs", std::string("dbs/db full/colls/Items/docs/") + kBE, kDate2026,
       "q3B6di6v996GfSl+xCV3tiR/1UhXlqi9JEZ0xXMvX7U="},
  };
}

TEST(CosmosAuthTest, AllNineProtocolVectors) {
  const auto key = emulatorKey();
  HmacSha256 hmac(key);
  ASSERT_TRUE(hmac.ok());
  for (const auto& v : sigVectors()) {
    SCOPED_TRACE(std::string(v.verb) + " " + v.link);
    const std::string sts = cosmosStringToSign(v.verb, v.type, v.link, v.date, "");
    EXPECT_EQ(cosmosSignature(key, sts), v.sig);
    EXPECT_EQ(hmac.macBase64(sts), v.sig);  // reused context, same answers
  }
}

// RFC 4231 test cases 1, 2 and 6: a short key, a 4-byte key and a key longer than the block
// (hashed first). HmacSha256 is our own RFC 2104 construction, so it is checked on its own.
TEST(CosmosAuthTest, HmacSha256Rfc4231Vectors) {
  struct Case {
    std::string key;
    std::string data;
    const char* hex;
  };
  const Case cases[] = {
      {std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
  };
  for (const auto& c : cases) {
    HmacSha256 h(common::SecretBytes::copyOf(std::string_view(c.key)));
    ASSERT_TRUE(h.ok());
    for (int round = 0; round < 2; ++round) {  // the reused context gives the same answer
      const auto m = h.mac(c.data);
      std::string hex;
      for (uint8_t b : m) {
        static constexpr char kHex[] = "0123456789abcdef";
        hex.push_back(kHex[b >> 4]);
        hex.push_back(kHex[b & 15]);
      }
      EXPECT_EQ(hex, c.hex) << "key size " << c.key.size();
    }
  }
  // An empty key is refused (ok() false, all-zero MAC that never matches).
  HmacSha256 empty{common::SecretBytes()};
  EXPECT_FALSE(empty.ok());
  EXPECT_EQ(empty.mac("x"), (std::array<uint8_t, 32>{}));
}

// The .NET SDK's signature baseline (Azure/azure-cosmos-dotnet-v3,
// Microsoft.Azure.Cosmos/tests/Microsoft.Azure.Cosmos.Tests/AuthorizationHelperTests.cs, test key
// "VGhpcyBpcyBhIHNhbXBsZSBzdHJpbmc="): RID-addressed requests are signed over the addressed
// resource's RID, lowercased; name-addressed ones over the name link.
TEST(CosmosAuthTest, DotNetBaselineRidAndNameLinks) {
  auto key = decodeKeyText("VGhpcyBpcyBhIHNhbXBsZSBzdHJpbmc=");
  ASSERT_TRUE(key.isOk());
  struct Row {
    const char* verb;
    const char* path;
    bool by_rid;
    const char* date;
    const char* sig;
  };
  const Row rows[] = {
      {"GET", "/dbs/92dc837c73484349852a2c8f05777565", false, "Tue, 21 Jul 2020 17:55:36 GMT",
       "niv0JZU/T0s8tmaod36QbBmZJBCIbkJU31r5Rp+rJGQ="},
      {"POST", "/dbs/92dc837c73484349852a2c8f05777565/colls", false,
       "Tue, 21 Jul 2020 17:55:36 GMT", "2MIgOuCzkrWLI6+j5NYnmKYm8a7oS1dmcvETQAs3sEQ="},
      {"GET", "/dbs/DPZtAA==/colls/DPZtAKyOj5g=/pkranges", true, "Tue, 21 Jul 2020 17:55:37 GMT",
       "qH73yd16s9pr9e3X4azaZc97zyqs4oyxkB1L+LdsGbk="},
      {"GET", "/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs", true, "Tue, 21 Jul 2020 17:55:37 GMT",
       "nWZ29vBWEbWx7UZlJP+TzbgHoYCVVy6mz004thDJuPc="},
      {"PUT", "/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs/DPZtAKyOj5gBAAAAAAAAAA==", true,
       "Tue, 21 Jul 2020 17:55:37 GMT", "F8ZE0qxkWE1DszV7y46GWQs42kdkFfT2+hGHK0zJp7U="},
      {"DELETE", "/dbs/DPZtAA==/colls/DPZtAKyOj5g=/docs/DPZtAKyOj5gBAAAAAAAAAA==", true,
       "Tue, 21 Jul 2020 17:55:38 GMT", "yw/Thc12voLUXMZ7NMDp5VsCgAwRGNF2K38oulEfpGg="},
  };
  for (const Row& r : rows) {
    SCOPED_TRACE(std::string(r.verb) + " " + r.path);
    auto res = cosmosResourceFromPath(r.path);
    ASSERT_TRUE(res.isOk());
    const std::string link = r.by_rid ? cosmosRidLink(res->link) : res->link;
    EXPECT_EQ(cosmosSignature(*key, cosmosStringToSign(r.verb, res->type, link, r.date, "")),
              r.sig);
  }
  auto pk = cosmosResourceFromPath("/dbs/DPZtAA==/colls/DPZtAKyOj5g=/pkranges");
  ASSERT_TRUE(pk.isOk());
  EXPECT_EQ(cosmosStringToSign("GET", pk->type, cosmosRidLink(pk->link),
                               "Tue, 21 Jul 2020 17:55:37 GMT", ""),
            "get\npkranges\ndpztakyoj5g=\ntue, 21 jul 2020 17:55:37 gmt\n\n");
  EXPECT_EQ(cosmosRidLink("dbs/DPZtAA=="), "dpztaa==");
  EXPECT_EQ(cosmosRidLink(""), "");
}

TEST(CosmosAuthTest, StringToSignFirstRowInFull) {
  EXPECT_EQ(cosmosStringToSign("GET", "dbs", "dbs/ToDoList", kDate2017, ""),
            "get\ndbs\ndbs/ToDoList\nthu, 27 apr 2017 00:51:12 gmt\n\n");
  // Link keeps its case; type and verb are lowercased.
  EXPECT_EQ(cosmosStringToSign("PoSt", "DOCS", "dbs/A/colls/B", "X", ""),
            "post\ndocs\ndbs/A/colls/B\nx\n\n");
  // The Date header is used only when x-ms-date is empty.
  EXPECT_EQ(cosmosStringToSign("GET", "dbs", "", "", kDate2017),
            "get\ndbs\n\n\nthu, 27 apr 2017 00:51:12 gmt\n");
  EXPECT_EQ(cosmosStringToSign("GET", "dbs", "", kDate2017, "Mon, 01 Jan 2024 00:00:00 GMT"),
            "get\ndbs\n\nthu, 27 apr 2017 00:51:12 gmt\n\n");
}

TEST(CosmosAuthTest, CapturedUrlGivesTheSignedLink) {
  auto r = cosmosResourceFromPath("/dbs/db%20full/colls/Items/docs/b%20%C3%A9");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->type, "docs");
  EXPECT_EQ(r->link, std::string("dbs/db full/colls/Items/docs/") + kBE);
  const auto key = emulatorKey();
  EXPECT_EQ(cosmosSignature(key, cosmosStringToSign("GET", r->type, r->link, kDate2026, "")),
            "q3B6di6v996GfSl+xCV3tiR/1UhXlqi9JEZ0xXMvX7U=");
  ASSERT_EQ(r->segments.size(), 6u);
  EXPECT_EQ(r->segments[1], "db full");
  EXPECT_EQ(r->segments[5], kBE);
}

TEST(CosmosAuthTest, PathTable) {
  struct Row {
    const char* path;
    const char* type;
    const char* link;
  };
  const Row rows[] = {
      {"/", "", ""},
      {"", "", ""},
      {"/dbs", "dbs", ""},
      {"/dbs/", "dbs", ""},
      {"/dbs/shop", "dbs", "dbs/shop"},
      {"/dbs/shop/colls", "colls", "dbs/shop"},
      {"/dbs/shop/colls/customers", "colls", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/docs", "docs", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/docs?x=1&y=/a", "docs", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/docs/a1", "docs", "dbs/shop/colls/customers/docs/a1"},
      {"/dbs/shop/colls/customers/pkranges", "pkranges", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/sprocs", "sprocs", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/udfs", "udfs", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/triggers", "triggers", "dbs/shop/colls/customers"},
      {"/dbs/shop/colls/customers/sprocs/sp1", "sprocs", "dbs/shop/colls/customers/sprocs/sp1"},
      {"/offers", "offers", ""},
      {"/offers/AbCd==", "offers", "abcd=="},
      {"/dbs/shop/users", "users", "dbs/shop"},
      {"/dbs/shop/users/u1", "users", "dbs/shop/users/u1"},
      {"/dbs/shop/users/u1/permissions", "permissions", "dbs/shop/users/u1"},
      {"/dbs/shop/users/u1/permissions/p1", "permissions", "dbs/shop/users/u1/permissions/p1"},
      {"/dbs/shop/clientencryptionkeys", "clientencryptionkeys", "dbs/shop"},
      {"/dbs/Shop/colls/Cust+omers/docs/A%2bb", "docs", "dbs/Shop/colls/Cust+omers/docs/A+b"},
      // Redundant leading slashes, as Cosmos accepts them (endpoint "https://acct:443/" + path).
      {"//dbs/x/colls/y/docs/a", "docs", "dbs/x/colls/y/docs/a"},
      {"///dbs/x/colls/y/docs?q=1", "docs", "dbs/x/colls/y"},
      {"/dbs/x/", "dbs", "dbs/x"},
  };
  for (const auto& row : rows) {
    auto r = cosmosResourceFromPath(row.path);
    ASSERT_TRUE(r.isOk()) << row.path;
    EXPECT_EQ(r->type, row.type) << row.path;
    EXPECT_EQ(r->link, row.link) << row.path;
  }
}

TEST(CosmosAuthTest, BadPathsAreRefused) {
  for (const char* p : {"/dbs/a%2", "/dbs/a%zz", "/dbs/%", "/dbs//colls", "/dbs/a%2Fb/colls",
                        "/dbs/a%00b", "/dbs/a#frag", "/dbs/a//",
                        "//dbs/a//colls"}) {
    auto r = cosmosResourceFromPath(p);
    ASSERT_FALSE(r.isOk()) << p;
    EXPECT_EQ(r.status().detail(), "auth.bad_path") << p;
  }
}

TEST(CosmosAuthTest, HeaderEncodeLikeTheJsSdk) {
  EXPECT_EQ(cosmosAuthorizationHeader("mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY="),
            "type%3Dmaster%26ver%3D1.0%26sig%3DmM0rMK%2F7o1MZhQwDitGRoGisPRPx09os%2F86Jk0YwquY%3D");
}

TEST(CosmosAuthTest, HeaderParseRoundTripUpperAndLowerHexAndPlus) {
  const std::string sig = "CHjhNtQltyEuPdWLf2/f+hSkSlYg+7UuFlwMyv8L7mI=";
  auto p = parseCosmosAuthorization(cosmosAuthorizationHeader(sig));
  ASSERT_TRUE(p.isOk());
  EXPECT_EQ(p->type, "master");
  EXPECT_EQ(p->version, "1.0");
  EXPECT_EQ(p->sig, sig);

  // .NET style: lower-case hex.
  auto q = parseCosmosAuthorization(
      "type%3dmaster%26ver%3d1.0%26sig%3dCHjhNtQltyEuPdWLf2%2ff%2bhSkSlYg%2b7UuFlwMyv8L7mI%3d");
  ASSERT_TRUE(q.isOk());
  EXPECT_EQ(q->sig, sig);

  // A literal '+' stays '+', it is not a space.
  auto r = parseCosmosAuthorization(
      "type%3Dmaster%26ver%3D1.0%26sig%3DCHjhNtQltyEuPdWLf2/f+hSkSlYg+7UuFlwMyv8L7mI=");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->sig, sig);

  // Not encoded at all, and the first '=' splits (base64 padding survives).
  auto s = parseCosmosAuthorization("type=master&ver=1.0&sig=" + sig);
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->sig, sig);

  auto t = parseCosmosAuthorization("type%3Dresource%26ver%3D1%26sig%3Dabc%3Bdef%3B");
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(t->type, "resource");
  EXPECT_EQ(t->sig, "abc;def;");
}

TEST(CosmosAuthTest, MalformedHeaders) {
  const std::string long_header = "type=master&ver=1.0&sig=" + std::string(1001, 'A');
  for (const std::string& h :
       {std::string(""), std::string("type=master&ver=1.0"), std::string("type=master&sig=x"),
        std::string("type=master&ver=1.0&sig=x&extra=1"),
        std::string("type=master&ver=1.0&sig=x&sig=y"), std::string("type=master&ver=1.0&sig="),
        std::string("type=master&ver=1.0&sig"), std::string("type%3Dmaster%2"),
        std::string("type%3Dmaster%26ver%3D1.0%26sig%3Dab%ZZ"), std::string("&&"), long_header}) {
    auto p = parseCosmosAuthorization(h);
    ASSERT_FALSE(p.isOk()) << h;
    EXPECT_EQ(p.status().detail(), "auth.malformed") << h;
  }
  EXPECT_EQ(long_header.size(), 1025u);
}

TEST(CosmosAuthTest, SignatureEqualsIsStrict) {
  const std::string a = "mM0rMK/7o1MZhQwDitGRoGisPRPx09os/86Jk0YwquY=";
  EXPECT_TRUE(signatureEquals(a, a));
  std::string b = a;
  b[3] = 'N';
  EXPECT_FALSE(signatureEquals(a, b));
  EXPECT_FALSE(signatureEquals(a, a.substr(0, 40)));
  EXPECT_FALSE(signatureEquals(a, a + "AAAA"));
  EXPECT_FALSE(signatureEquals(a, "not base64!"));
  EXPECT_FALSE(signatureEquals("", ""));
  EXPECT_FALSE(signatureEquals(a, std::string(200, 'A')));
}

TEST(CosmosAuthTest, HttpDates) {
  auto t = parseHttpDate(kDate2026);
  ASSERT_TRUE(t.isOk());
  EXPECT_EQ(*t, 1795352747);  // the _ts of the sample document in the protocol notes
  EXPECT_EQ(formatHttpDate(*t), kDate2026);
  EXPECT_EQ(*parseHttpDate("sun, 22 nov 2026 13:05:47 gmt"), 1795352747);
  EXPECT_EQ(*parseHttpDate("SUN, 22 NOV 2026 13:05:47 GMT"), 1795352747);
  EXPECT_EQ(*parseHttpDate("Thu, 1 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(*parseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
  EXPECT_EQ(*parseHttpDate("Thu, 29 Feb 2024 12:00:00 GMT"), 1709208000);
  EXPECT_EQ(formatHttpDate(0), "Thu, 01 Jan 1970 00:00:00 GMT");
  EXPECT_EQ(formatHttpDate(1709208000), "Thu, 29 Feb 2024 12:00:00 GMT");
  for (int64_t s : {int64_t{0}, int64_t{951782400}, int64_t{1493254272}, int64_t{4102444799}}) {
    EXPECT_EQ(*parseHttpDate(formatHttpDate(s)), s);
  }
  for (const char* bad : {"", "Sun, 22 Nov 2026 13:05:47", "Sun, 22 Nov 2026 13:05:47 UTC",
                          "Sunday, 22-Nov-26 13:05:47 GMT", "Sun Nov 22 13:05:47 2026",
                          "Sun, 31 Feb 2026 13:05:47 GMT", "Sun, 29 Feb 2025 13:05:47 GMT",
                          "Sun, 22 Nov 2026 24:05:47 GMT", "Sun, 22 Nov 2026 13:60:47 GMT",
                          "Sun, 22 Nov 2026 13:05:60 GMT", "Sun, 00 Nov 2026 13:05:47 GMT",
                          "Xyz, 22 Nov 2026 13:05:47 GMT", "Sun, 22 Nox 2026 13:05:47 GMT",
                          "Sun,  22 Nov 2026 13:05:47 GMT", "Sun, 22 Nov 2026 13:05:47 GMT ",
                          "Sun, 22 Nov 1969 13:05:47 GMT", "Sun, 22 Nov 2026 1:05:47 GMT"}) {
    auto r = parseHttpDate(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "auth.bad_date");
  }
}

}  // namespace
}  // namespace cosmoseal::crypto
