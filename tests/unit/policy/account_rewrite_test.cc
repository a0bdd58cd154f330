#include "policy/account_rewrite.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cosmoseal::policy {
namespace {

using ::testing::HasSubstr;

constexpr const char* kOwn = "https://localhost:8081/";

std::string rewrite(std::string_view in, int* count = nullptr) {
  auto out = rewriteAccountDocument(in, kOwn, count);
  EXPECT_TRUE(out.isOk()) << out.status().toString() << "\n" << in;
  return out.isOk() ? *out : std::string();
}

// A realistic account document (ref/cosmos-protocol.md §2), with thin-client lists at the start,
// in the middle and at the end, an escaped key, unicode, odd number spellings, and the JSON
// document that queryEngineConfiguration carries as a string.
constexpr const char* kAccount = R"({
  "thinClientWritableLocations": [
    { "name": "East US", "databaseAccountEndpoint": "https://myaccount-eastus.documents.azure.com:10250/" }
  ],
  "_self": "",
  "id": "myaccount",
  "_rid": "myaccount.documents.azure.com",
  "media": "//media/",
  "addresses": "//addresses/",
  "_dbs": "//dbs/",
  "writableLocations": [
    { "name": "East US", "databaseAccountEndpoint": "https://myaccount-eastus.documents.azure.com:443/" }
  ],
  "thinClientReadableLocations": [{"name":"East US","databaseAccountEndpoint":"https://myaccount-eastus.documents.azure.com:10250/"},{"name":"West Europe","databaseAccountEndpoint":"https://myaccount-westeurope.documents.azure.com:10250/"}],
  "readableLocations": [
    { "name": "East US", "databaseAccountEndpoint": "https://myaccount-eastus.documents.azure.com:443/" },
    { "name": "West Europe", "database\u0041ccountEndpoint" : "https:\/\/myaccount-westeurope.documents.azure.com:443\/" },
    { "name": "Zürich \u2603 \ud83d\ude00", "databaseAccountEndpoint":"https://myaccount-switzerlandnorth.documents.azure.com:443/"}
  ],
  "enableMultipleWriteLocations": false,
  "userReplicationPolicy": { "asyncReplication": false, "minReplicaSetSize": 3, "maxReplicasetSize": 4 },
  "userConsistencyPolicy": { "defaultConsistencyLevel": "Session" },
  "systemReplicationPolicy": { "minReplicaSetSize": 3, "maxReplicasetSize": 4 },
  "readPolicy": { "primaryReadCoefficient": 1, "secondaryReadCoefficient": 1.0E+0 },
  "queryEngineConfiguration": "{\"maxSqlQueryInputLength\":262144,\"maxJoinsPerSqlQuery\":5,\"databaseAccountEndpoint\":\"https://not-a-member/\",\"spatialMaxGeometryPointCount\":256}",
  "big": 123456789012345678901234567890,
  "nothing": null,
  "enablePerPartitionFailoverBehavior": false,
  "thinClientWritableLocations": []
}
)";

constexpr const char* kAccountRewritten = R"({
  "_self": "",
  "id": "myaccount",
  "_rid": "myaccount.documents.azure.com",
  "media": "//media/",
  "addresses": "//addresses/",
  "_dbs": "//dbs/",
  "writableLocations": [
    { "name": "East US", "databaseAccountEndpoint": "https://localhost:8081/" }
  ],
  "readableLocations": [
    { "name": "East US", "databaseAccountEndpoint": "https://localhost:8081/" },
    { "name": "West Europe", "database\u0041ccountEndpoint" : "https://localhost:8081/" },
    { "name": "Zürich \u2603 \ud83d\ude00", "databaseAccountEndpoint":"https://localhost:8081/"}
  ],
  "enableMultipleWriteLocations": false,
  "userReplicationPolicy": { "asyncReplication": false, "minReplicaSetSize": 3, "maxReplicasetSize": 4 },
  "userConsistencyPolicy": { "defaultConsistencyLevel": "Session" },
  "systemReplicationPolicy": { "minReplicaSetSize": 3, "maxReplicasetSize": 4 },
  "readPolicy": { "primaryReadCoefficient": 1, "secondaryReadCoefficient": 1.0E+0 },
  "queryEngineConfiguration": "{\"maxSqlQueryInputLength\":262144,\"maxJoinsPerSqlQuery\":5,\"databaseAccountEndpoint\":\"https://not-a-member/\",\"spatialMaxGeometryPointCount\":256}",
  "big": 123456789012345678901234567890,
  "nothing": null,
  "enablePerPartitionFailoverBehavior": false
}
)";

TEST(AccountRewriteTest, RealisticDocument) {
  int count = -1;
  std::string out = rewrite(kAccount, &count);
  EXPECT_EQ(out, kAccountRewritten);
  EXPECT_EQ(count, 4);
  // The output is itself valid (the rewriter validates strictly) and a fixed point.
  int again = -1;
  EXPECT_EQ(rewrite(out, &again), out);
  EXPECT_EQ(again, 4);
}

TEST(AccountRewriteTest, RemovalPositions) {
  struct Case {
    const char* in;
    const char* out;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"thinClientWritableLocations":[1],"a":1})", R"({"a":1})"},
           {R"({"a":1,"thinClientWritableLocations":[1],"b":2})", R"({"a":1,"b":2})"},
           {R"({"a":1,"thinClientReadableLocations":[]})", R"({"a":1})"},
           {R"({"thinClientWritableLocations":[]})", R"({})"},
           {R"({"thinClientWritableLocations":[],"thinClientReadableLocations":[]})", R"({})"},
           {R"({ "thinClientWritableLocations" : [ ] , "thinClientReadableLocations":[{"x":"}"}] })",
            R"({  })"},
           {R"({"a":1,"thinClientWritableLocations":[],"thinClientReadableLocations":{},"b":2})",
            R"({"a":1,"b":2})"},
           {R"({"thinClientWritableLocations":[],"thinClientReadableLocations":0,"b":2})",
            R"({"b":2})"},
           {"{\n  \"a\": 1,\n  \"thinClientWritableLocations\": [],\n  \"b\": 2\n}",
            "{\n  \"a\": 1,\n  \"b\": 2\n}"},
           {"{\n  \"a\": 1,\n  \"thinClientWritableLocations\": [\"]\", \"\\\"]\"]\n}",
            "{\n  \"a\": 1\n}"},
           {R"({"x":{"thinClientWritableLocations":1,"databaseAccountEndpoint":"u"}})",
            R"({"x":{"databaseAccountEndpoint":"https://localhost:8081/"}})"},
           {R"({"thinClient\u0057ritableLocations":"x","a":[]})", R"({"a":[]})"},
           {R"({"ThinClientWritableLocations":[]})", R"({"ThinClientWritableLocations":[]})"},
       }) {
    EXPECT_EQ(rewrite(c.in), c.out) << c.in;
  }
}

TEST(AccountRewriteTest, EndpointsAnywhereButOnlyStrings) {
  int count = -1;
  EXPECT_EQ(rewrite(R"({"a":[[{"databaseAccountEndpoint":"x"}]],"databaseAccountEndpoint":"y"})",
                    &count),
            R"({"a":[[{"databaseAccountEndpoint":"https://localhost:8081/"}]],)"
            R"("databaseAccountEndpoint":"https://localhost:8081/"})");
  EXPECT_EQ(count, 2);
  // Non-string values are left alone and not counted; case matters.
  EXPECT_EQ(rewrite(R"({"databaseAccountEndpoint":null,"DatabaseAccountEndpoint":"z"})", &count),
            R"({"databaseAccountEndpoint":null,"DatabaseAccountEndpoint":"z"})");
  EXPECT_EQ(count, 0);
  // Endpoints inside removed lists are not counted.
  rewrite(R"({"thinClientWritableLocations":[{"databaseAccountEndpoint":"x"}]})", &count);
  EXPECT_EQ(count, 0);
}

TEST(AccountRewriteTest, OwnUrlIsJsonEscaped) {
  auto out = rewriteAccountDocument(R"({"databaseAccountEndpoint":"x"})", "a\"b\\c");
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(*out, R"({"databaseAccountEndpoint":"a\"b\\c"})");
}

TEST(AccountRewriteTest, InvalidJsonIsRejected) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  for (std::string bad : std::vector<std::string>{
           "", "   ", "[]", "\"x\"", "42", "{", "{\"a\":1", "{\"a\":1}x", "{\"a\":1}}",
           "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":tru}", "{\"a\":nul}",
           "{\"thinClientWritableLocations\":[tru]}", "{\"a\":\"\x01\"}",
           "{\"a\":\"\xff\"}", "{\"a\\q\":1}", "{\"a\":\"\\ud800\"}", "{\"a\":1,}",
           "{\"a\" 1}", "{'a':1}", deep}) {
    auto out = rewriteAccountDocument(bad, kOwn);
    ASSERT_FALSE(out.isOk()) << bad;
    EXPECT_EQ(out.status().detail(), "discovery.bad_json") << bad;
    EXPECT_EQ(out.status().httpStatus(), 502);
  }
}

// ---- URLs and hosts ----

TEST(HostHeaderTest, Valid) {
  for (const char* ok : {"localhost", "localhost:8081", "127.0.0.1", "127.0.0.1:1",
                         "a-b.example.com:65535", "[::1]", "[::1]:8081", "[2001:db8::1]:443",
                         "[::ffff:127.0.0.1]:8081", "xn--caf-dma.example", "A.B"}) {
    EXPECT_TRUE(isValidHostHeader(ok)) << ok;
  }
}

TEST(HostHeaderTest, Invalid) {
  for (const char* bad :
       {"", ":8081", "localhost:", "localhost:0", "localhost:65536", "localhost:08081",
        "localhost:+1", "local host", "a_b", "-a.com", "a-.com", "a..b", "a.", ".a",
        "evil.com/x", "evil.com@x", "evil.com\r\nX: y", "1.2.3", "1.2.3.256", "01.2.3.4",
        "::1", "[::1", "[::1]x", "[::1]:", "[fe80::1%25eth0]", "[]", "[1.2.3.4]",
        "\"host\"", "host:80:80"}) {
    EXPECT_FALSE(isValidHostHeader(bad)) << bad;
  }
  EXPECT_FALSE(isValidHostHeader(std::string(64, 'a') + ".com"));
  EXPECT_FALSE(isValidHostHeader(std::string(254, 'a')));
}

TEST(OriginTest, Parse) {
  auto o = parseHttpOrigin("https://MyAccount.documents.azure.com:443/");
  ASSERT_TRUE(o.isOk());
  EXPECT_EQ(o->scheme, "https");
  EXPECT_EQ(o->host, "myaccount.documents.azure.com");
  EXPECT_EQ(o->port, 443);
  EXPECT_TRUE(o->port_explicit);
  EXPECT_EQ(o->url(), "https://myaccount.documents.azure.com:443/");
  auto v6 = parseHttpOrigin("HTTP://[::1]");
  ASSERT_TRUE(v6.isOk());
  EXPECT_EQ(v6->scheme, "http");
  EXPECT_EQ(v6->port, 80);
  EXPECT_FALSE(v6->port_explicit);
  EXPECT_TRUE(v6->ipv6);
  EXPECT_EQ(v6->authority(), "[::1]:80");
  for (const char* bad : {"", "localhost", "//h/", "ws://h/", "https://", "https://h/x",
                          "https://h?q", "https://h#f", "https://u@h/", "https://h:/",
                          "https://[::1/"}) {
    auto r = parseHttpOrigin(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "url.bad_origin");
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("; expected https://host[:port]/"));
  }
}

TEST(AbsoluteUrlTest, Rewrite) {
  const char* own = "https://localhost:8081/";
  EXPECT_EQ(rewriteAbsoluteUrl("https://acct.documents.azure.com:443/dbs/d/colls/c/docs/x",
                               "acct.documents.azure.com:443", own),
            "https://localhost:8081/dbs/d/colls/c/docs/x");
  // Default port on either side, case-insensitive scheme and host, origin form for the upstream.
  EXPECT_EQ(rewriteAbsoluteUrl("HTTPS://ACCT.documents.azure.com/dbs/d",
                               "https://acct.documents.azure.com:443/", own),
            "https://localhost:8081/dbs/d");
  EXPECT_EQ(rewriteAbsoluteUrl("https://acct.documents.azure.com:443/dbs?x=1",
                               "acct.documents.azure.com", "https://localhost:8081"),
            "https://localhost:8081/dbs?x=1");
  EXPECT_EQ(rewriteAbsoluteUrl("https://127.0.0.1:8082", "https://127.0.0.1:8082", own),
            "https://localhost:8081");
  EXPECT_EQ(rewriteAbsoluteUrl("http://[::1]:8082/x", "http://[::1]:8082", own),
            "https://localhost:8081/x");
  // Left alone: another host, port or scheme, a lookalike host, a relative value.
  for (const char* keep :
       {"https://other.documents.azure.com/dbs", "https://acct.documents.azure.com:444/dbs",
        "http://acct.documents.azure.com/dbs", "https://acct.documents.azure.com.evil.com/dbs",
        "https://acct.documents.azure.com@evil.com/dbs", "/dbs/d", "dbs/d", ""}) {
    EXPECT_EQ(rewriteAbsoluteUrl(keep, "acct.documents.azure.com:443", own), keep) << keep;
  }
}

}  // namespace
}  // namespace cosmoseal::policy

namespace cosmoseal::policy {
namespace {

// Deterministic mutations of a realistic document: every result is either a clean rejection or
// valid output that is a fixed point of the rewrite (run under ASan/UBSan in the sanitizer build).
TEST(AccountRewriteTest, MutationsNeverMisbehave) {
  const std::string base = kAccount;
  uint32_t state = 12345;
  auto next = [&]() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  static constexpr char kBytes[] = "{}[]\":,\\ a0-eE.tfn\x01\xff\xc3";
  int ok = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string doc = base;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits && !doc.empty(); ++e) {
      size_t at = next() % doc.size();
      switch (next() % 3) {
        case 0: doc[at] = kBytes[next() % (sizeof(kBytes) - 1)]; break;
        case 1: doc.erase(at, 1 + next() % 8); break;
        default: doc.insert(at, 1, kBytes[next() % (sizeof(kBytes) - 1)]); break;
      }
    }
    auto out = rewriteAccountDocument(doc, kOwn);
    if (!out.isOk()) {
      ASSERT_EQ(out.status().detail(), "discovery.bad_json") << doc;
      continue;
    }
    ++ok;
    auto again = rewriteAccountDocument(*out, kOwn);
    ASSERT_TRUE(again.isOk()) << doc << "\n->\n" << *out;
    ASSERT_EQ(*again, *out) << doc;
    ASSERT_EQ(out->find("\"thinClientWritableLocations\""), std::string::npos) << doc;
    ASSERT_EQ(out->find("\"thinClientReadableLocations\""), std::string::npos) << doc;
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace cosmoseal::policy

// ---------------------------------------------------------------------------------------------
// Per-region rewrite (listen.region_ports)

namespace cosmoseal::policy {
namespace {

constexpr const char* kTwoRegions = R"({"id":"acct",
  "writableLocations":[{"name":"West US","databaseAccountEndpoint":"https://acct-westus.documents.azure.com:443/"}],
  "readableLocations":[{"databaseAccountEndpoint":"https://acct-westus.documents.azure.com:443/","name":"West US"},
                       {"name":"East US","databaseAccountEndpoint":"https://acct-eastus.documents.azure.com:443/"},
                       {"name":"Zürich","databaseAccountEndpoint":"https:\/\/acct-ch.documents.azure.com\/"}],
  "thinClientReadableLocations":[{"name":"Nowhere","databaseAccountEndpoint":"https://x:10250/"}],
  "enableMultipleWriteLocations":false,"enablePerPartitionFailoverBehavior":true,
  "databaseAccountEndpoint":"https://acct.documents.azure.com:443/"})";

TEST(AccountRewriteRegions, EachLocationGetsItsRegionalUrlInDocumentOrder) {
  std::vector<std::pair<std::string, std::string>> calls;
  RegionalUrl regional = [&](std::string_view name, std::string_view endpoint) {
    calls.emplace_back(std::string(name), std::string(endpoint));
    if (name == "West US") return std::string("https://localhost:8082/");
    if (name == "East US") return std::string("https://localhost:8083/");
    return std::string();  // no port left: the main URL
  };
  int n = 0;
  auto out = rewriteAccountDocument(kTwoRegions, kOwn, regional, &n);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(n, 5);
  ASSERT_EQ(calls.size(), 4u);  // not for the removed thin-client list, nor the unnamed top level
  EXPECT_EQ(calls[0].first, "West US");
  EXPECT_EQ(calls[0].second, "https://acct-westus.documents.azure.com:443/");
  EXPECT_EQ(calls[1].first, "West US");  // the endpoint came before the name: still paired
  EXPECT_EQ(calls[2].first, "East US");
  EXPECT_EQ(calls[3].first, "Zürich");
  EXPECT_EQ(calls[3].second, "https://acct-ch.documents.azure.com/");  // unescaped
  const std::string& s = *out;
  EXPECT_THAT(
      s,
      HasSubstr(
          R"("writableLocations":[{"name":"West US","databaseAccountEndpoint":"https://localhost:8082/"}])"));
  EXPECT_THAT(
      s, HasSubstr(R"({"databaseAccountEndpoint":"https://localhost:8082/","name":"West US"})"));
  EXPECT_THAT(
      s, HasSubstr(R"({"name":"East US","databaseAccountEndpoint":"https://localhost:8083/"})"));
  EXPECT_THAT(
      s, HasSubstr(R"({"name":"Zürich","databaseAccountEndpoint":"https://localhost:8081/"})"));
  // The unnamed (global) endpoint gets the main URL; failover flags stay as the service said.
  EXPECT_THAT(s, HasSubstr(R"("databaseAccountEndpoint":"https://localhost:8081/"})"));
  EXPECT_THAT(
      s, HasSubstr(
             R"("enableMultipleWriteLocations":false,"enablePerPartitionFailoverBehavior":true)"));
  EXPECT_THAT(s, ::testing::Not(HasSubstr("thinClient")));
  EXPECT_THAT(s, ::testing::Not(HasSubstr("documents.azure.com:443")));
}

TEST(AccountRewriteRegions, WithoutCallbackSameAsSingleUrl) {
  auto a = rewriteAccountDocument(kTwoRegions, kOwn, RegionalUrl(), nullptr);
  auto b = rewriteAccountDocument(kTwoRegions, kOwn, nullptr);
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(b.isOk());
  EXPECT_EQ(*a, *b);
}

TEST(AccountRewriteRegions, NonStringNameOrEndpointIsNotALocation) {
  int calls = 0;
  RegionalUrl regional = [&](std::string_view, std::string_view) {
    ++calls;
    return std::string("https://localhost:9999/");
  };
  auto out = rewriteAccountDocument(
      R"({"a":[{"name":5,"databaseAccountEndpoint":"https://x/"},{"name":"R","databaseAccountEndpoint":null}]})",
      kOwn, regional);
  ASSERT_TRUE(out.isOk());
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(
      *out,
      R"({"a":[{"name":5,"databaseAccountEndpoint":"https://localhost:8081/"},{"name":"R","databaseAccountEndpoint":null}]})");
}

TEST(AccountRewriteRegions, BadJsonStillRefused) {
  RegionalUrl regional = [](std::string_view, std::string_view) { return std::string("x"); };
  auto out = rewriteAccountDocument(R"({"a":[{"name":"R","databaseAccountEndpoint":"u"}] ,})", kOwn,
                                    regional);
  ASSERT_FALSE(out.isOk());
  EXPECT_EQ(out.status().detail(), "discovery.bad_json");
}

}  // namespace
}  // namespace cosmoseal::policy
