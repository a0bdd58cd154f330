// Unit tests of the harness's own logic: histogram precision and merging, the document
// generator, option parsing, request signing (against ref/cosmos-protocol.md §1.3 vectors).

#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <random>
#include <vector>

#include "bench/harness/cosmos_request.h"
#include "bench/harness/docgen.h"
#include "bench/harness/histogram.h"
#include "bench/harness/json_writer.h"
#include "bench/harness/load.h"
#include "bench/harness/options.h"
#include "crypto/base64.h"
#include "crypto/cosmos_auth.h"

namespace cosmoseal::bench {
namespace {

TEST(LatencyHistogram, ExactBelow256AndBucketGeometry) {
  for (uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(LatencyHistogram::bucketIndex(v), v);
    EXPECT_EQ(LatencyHistogram::bucketLowest(v), v);
    EXPECT_EQ(LatencyHistogram::bucketHighest(v), v);
  }
  // Buckets tile the value range without gaps or overlaps, and are at most 1/128 wide.
  for (size_t i = 256; i + 1 < LatencyHistogram::kBuckets; ++i) {
    const uint64_t lo = LatencyHistogram::bucketLowest(i);
    const uint64_t hi = LatencyHistogram::bucketHighest(i);
    ASSERT_EQ(LatencyHistogram::bucketLowest(i + 1), hi + 1) << i;
    ASSERT_EQ(LatencyHistogram::bucketIndex(lo), i);
    ASSERT_EQ(LatencyHistogram::bucketIndex(hi), i);
    ASSERT_LE(static_cast<double>(hi - lo + 1) / static_cast<double>(lo), 1.0 / 128 + 1e-12);
  }
  EXPECT_EQ(LatencyHistogram::bucketIndex(UINT64_MAX), LatencyHistogram::kBuckets - 1);
}

TEST(LatencyHistogram, PercentilesWithinOnePercent) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(13.0, 1.0);  // ~0.4 ms median, long tail
  std::vector<uint64_t> samples;
  LatencyHistogram h;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = static_cast<uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
    const size_t rank = static_cast<size_t>(std::ceil(p / 100 * samples.size()));
    const double exact = static_cast<double>(samples[rank - 1]);
    const double got = static_cast<double>(h.percentile(p));
    EXPECT_GE(got, exact) << p;  // the bucket's upper edge: never optimistic
    EXPECT_LE((got - exact) / exact, 0.008) << p;
  }
  EXPECT_EQ(h.max(), samples.back());
  EXPECT_EQ(h.min(), samples.front());
  EXPECT_EQ(h.percentile(100), samples.back());
  EXPECT_EQ(h.count(), samples.size());
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  LatencyHistogram a, b, all;
  for (uint64_t v = 1; v < 5'000'000; v = v * 3 / 2 + 7) {
    ((v & 1) ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 90.0, 99.0, 99.9}) EXPECT_EQ(a.percentile(p), all.percentile(p));
  LatencyHistogram empty;
  EXPECT_EQ(empty.percentile(50), 0u);
  a.merge(empty);
  EXPECT_EQ(a.count(), all.count());
}

bool validJson(const std::string& s) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  return parser.parse(s).get(e) == simdjson::SUCCESS;
}

TEST(DocumentGenerator, ExactSizeDeterministicValidJson) {
  for (size_t size : {700u, 1024u, 4096u, 65536u}) {
    DocSpec spec;
    spec.target_bytes = size;
    DocumentGenerator gen(spec);
    const std::string a = gen.make(42, "d0000000042");
    EXPECT_EQ(a.size(), size);
    EXPECT_EQ(a, gen.make(42, "d0000000042"));
    EXPECT_NE(a, gen.make(43, "d0000000042"));
    EXPECT_TRUE(validJson(a)) << a;
  }
  DocSpec spec;
  DocumentGenerator gen(spec);
  for (uint64_t i = 0; i < 500; ++i) ASSERT_TRUE(validJson(gen.make(i, docId(i)))) << i;
}

TEST(DocumentGenerator, ProtectedFieldsAndShapes) {
  DocSpec spec;
  spec.protected_fields = 10;
  DocumentGenerator gen(spec);
  const std::string d = gen.make(7, "d0000000007");
  simdjson::dom::parser parser;
  simdjson::dom::element e = parser.parse(d);
  for (const std::string& name : DocumentGenerator::protectedFieldNames(10)) {
    std::string_view v;
    EXPECT_EQ(e[name].get(v), simdjson::SUCCESS) << name;
  }
  EXPECT_EQ(DocumentGenerator::protectedFieldNames(3),
            (std::vector<std::string>{"ssn", "email", "creditCard"}));
  std::string_view pk;
  ASSERT_EQ(e["pk"].get(pk), simdjson::SUCCESS);
  EXPECT_EQ(pk, gen.partitionKey(7));
  EXPECT_TRUE(e["address"]["geo"]["lat"].is_double());
  EXPECT_TRUE(e["orders"].is_array());
  EXPECT_NE(d.find("\\\""), std::string::npos);   // escapes
  EXPECT_NE(d.find("\\n"), std::string::npos);
  EXPECT_NE(d.find("\xc3"), std::string::npos);  // UTF-8
}

TEST(Options, Parsers) {
  uint64_t ns = 0;
  EXPECT_TRUE(parseDuration("10s", &ns));
  EXPECT_EQ(ns, 10'000'000'000u);
  EXPECT_TRUE(parseDuration("250ms", &ns));
  EXPECT_EQ(ns, 250'000'000u);
  EXPECT_TRUE(parseDuration("2m", &ns));
  EXPECT_EQ(ns, 120'000'000'000u);
  EXPECT_TRUE(parseDuration("1.5", &ns));
  EXPECT_EQ(ns, 1'500'000'000u);
  EXPECT_FALSE(parseDuration("ten", &ns));
  EXPECT_FALSE(parseDuration("-1s", &ns));
  EXPECT_FALSE(parseDuration("8d", &ns));
  uint64_t b = 0;
  EXPECT_TRUE(parseSize("4k", &b));
  EXPECT_EQ(b, 4096u);
  EXPECT_TRUE(parseSize("1KB", &b));
  EXPECT_EQ(b, 1024u);
  EXPECT_TRUE(parseSize("1KiB", &b));
  EXPECT_EQ(b, 1024u);
  EXPECT_TRUE(parseSize("512", &b));
  EXPECT_EQ(b, 512u);
  EXPECT_FALSE(parseSize("k", &b));
  double r = 0;
  EXPECT_TRUE(parseRate("2000/s", &r));
  EXPECT_EQ(r, 2000);
  EXPECT_EQ(splitList("a,,b"), (std::vector<std::string>{"a", "b"}));
}

TEST(CosmosRequestBuilder, SignsLikeTheProtocolVectors) {
  // ref/cosmos-protocol.md §1.3: POST docs dbs/db1/colls/coll1 at Thu, 27 Apr 2017 00:51:12 GMT.
  auto key = crypto::decodeKeyText(
      "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==");
  ASSERT_TRUE(key.isOk());
  auto when = crypto::parseHttpDate("Thu, 27 Apr 2017 00:51:12 GMT");
  ASSERT_TRUE(when.isOk());
  RequestTarget t;
  t.host_header = "localhost:8081";
  t.database = "db1";
  t.container = "coll1";
  CosmosRequestBuilder builder(*key, t);
  std::string req;
  builder.build(Op::kCreate, "a1", "p1", "{\"id\":\"a1\"}", *when, &req);
  EXPECT_EQ(req.rfind("POST /dbs/db1/colls/coll1/docs HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("x-ms-date: Thu, 27 Apr 2017 00:51:12 GMT\r\n"), std::string::npos);
  EXPECT_NE(req.find(crypto::cosmosAuthorizationHeader(
                "9yU9qvx5XX6iRaOMpVLw+sXE8DUynMDSMcADdfsx5eQ=")),
            std::string::npos)
      << req;
  EXPECT_NE(req.find("x-ms-documentdb-partitionkey: [\"p1\"]\r\n"), std::string::npos);
  EXPECT_NE(req.find("Content-Length: 11\r\n\r\n{\"id\":\"a1\"}"), std::string::npos);

  // Point read of an id with a space and non-ASCII: encoded path, raw signed link.
  t.database = "db full";
  t.container = "Items";
  CosmosRequestBuilder b2(*key, t);
  auto when2 = crypto::parseHttpDate("Sun, 22 Nov 2026 13:05:47 GMT");
  ASSERT_TRUE(when2.isOk());
  req.clear();
  b2.build(Op::kRead, "b \xc3\xa9", "p1", "", *when2, &req);
  EXPECT_EQ(req.rfind("GET /dbs/db%20full/colls/Items/docs/b%20%C3%A9 HTTP/1.1\r\n", 0), 0u);
  EXPECT_NE(req.find(crypto::cosmosAuthorizationHeader(
                "q3B6di6v996GfSl+xCV3tiR/1UhXlqi9JEZ0xXMvX7U=")),
            std::string::npos)
      << req;

  // Query: headers and body.
  req.clear();
  builder.build(Op::kQuery, "", "", "", *when, &req);
  EXPECT_NE(req.find("x-ms-documentdb-isquery: true\r\n"), std::string::npos);
  EXPECT_NE(req.find("Content-Type: application/query+json\r\n"), std::string::npos);
  EXPECT_NE(req.find("x-ms-max-item-count: 60\r\n"), std::string::npos);
  EXPECT_NE(req.find("{\"query\":\"SELECT * FROM c\",\"parameters\":[]}"), std::string::npos);
}

TEST(JsonWriter, EscapesAndNesting) {
  JsonWriter j(false);
  j.beginObject().kv("a\"b", "x\n\x01").key("n").beginArray().value(1).value(2.5).null().endArray();
  j.endObject();
  EXPECT_EQ(j.str(), "{\"a\\\"b\":\"x\\n\\u0001\",\"n\":[1,2.5,null]}");
  EXPECT_TRUE(validJson(j.str()));
}

}  // namespace
}  // namespace cosmoseal::bench
