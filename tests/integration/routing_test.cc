// Routing on a container whose partition key is sealed (issue 15; docs/ROUTING.md): the proxy
// loads the container's definition and partition-key ranges with its own credentials, rewrites
// range ids and session tokens from the sealed key, refuses EPK bounds hashed from a plaintext
// key, regroups bulk requests per real range and answers them in the original order, reloads
// the map after 410/1002, and forgets learned partition-key paths when the container changed.

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <map>
#include <mutex>
#include <string>

#include "policy/json/batch.h"
#include "policy/routing/epk.h"
#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"

namespace cosmoseal::integration {
namespace {

// shop/orders: partition key /cust (learned from the collection), sealed deterministically.
const char* kOrdersPolicy =
    "  - database: shop\n"
    "    container: orders\n"
    "    fields: [ { path: /cust, mode: deterministic, key: pii } ]\n";

constexpr const char* kOrdersRid = "gAABAIAAAAI=";
constexpr const char* kMid = "20000000000000000000000000000000";

ProxySettings settings() {
  ProxySettings s;
  s.extra_policies = kOrdersPolicy;
  return s;
}

policy::PartitionKeyDefinition ordersDefinition() {
  policy::PartitionKeyDefinition d;
  d.paths = {"/cust"};
  d.kind = policy::PartitionKeyKind::kHash;
  d.version = 2;
  return d;
}

// Two ranges split at kMid (V2 EPKs start with 0..3: both get keys).
struct Orders {
  std::mutex mu;
  int pkranges_reads = 0;
  int gone_left = 0;  // answer this many document requests 410/1002
  std::string etag = "\"e1\"";
  std::map<std::string, int> if_none_match;  // If-None-Match values seen on pkranges

  std::string answer(const HttpMessage& req) {
    std::lock_guard<std::mutex> lock(mu);
    const std::string& line = req.start_line;
    auto is = [&](const std::string& prefix) { return line.rfind(prefix, 0) == 0; };
    if (is("GET /dbs/shop/colls/orders/pkranges ")) {
      ++pkranges_reads;
      if (auto inm = req.header("if-none-match")) {
        ++if_none_match[*inm];
        if (*inm == etag) return jsonResponse(304, "", "etag: " + etag + "\r\n");
      }
      return jsonResponse(
          200,
          std::string(R"({"_rid":")") + kOrdersRid +
              R"(","PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":")" + kMid +
              R"(","parents":[]},{"id":"1","minInclusive":")" + kMid +
              R"(","maxExclusive":"FF","parents":[]}],"_count":2})",
          "etag: " + etag + "\r\n");
    }
    if (is("GET /dbs/shop/colls/orders ")) {
      return jsonResponse(200, std::string(R"({"id":"orders","_rid":")") + kOrdersRid +
                                   R"(","partitionKey":{"paths":["/cust"],"kind":"Hash","version":2}})");
    }
    if (gone_left > 0) {
      --gone_left;
      return jsonResponse(410, R"({"code":"Gone","message":"partition key range is gone"})",
                          "x-ms-substatus: 1002\r\n");
    }
    if (is("POST /dbs/shop/colls/orders/docs ") && req.header("x-ms-cosmos-is-batch-request")) {
      // One result per operation: its id as eTag, so the app can check the order.
      auto ops = policy::batchOperations(req.body);
      std::string out = "[";
      if (ops.isOk()) {
        for (size_t i = 0; i < ops->size(); ++i) {
          const std::string_view raw = (*ops)[i].raw;
          const size_t at = raw.find("\"id\":\"") + 6;
          const std::string id(raw.substr(at, raw.find('"', at) - at));
          if (i != 0) out += ",";
          out += R"({"statusCode":201,"requestCharge":1.5,"eTag":")" + id + "\"}";
        }
      }
      out += "]";
      const std::string range = req.header("x-ms-documentdb-partitionkeyrangeid").value_or("?");
      return jsonResponse(200, out,
                          "x-ms-session-token: " + range + ":-1#7\r\n");
    }
    if (is("GET /dbs/shop/colls/orders/docs")) {
      const std::string range = req.header("x-ms-documentdb-partitionkeyrangeid").value_or("0");
      return jsonResponse(200, R"({"_rid":"x","Documents":[],"_count":0})",
                          "x-ms-session-token: " + range + ":-1#42\r\n");
    }
    return jsonResponse(404, R"({"code":"NotFound"})");
  }
};

// The EPK of the sealed key the upstream received.
std::string upstreamEpk(const HttpMessage& m) {
  auto epk = policy::effectivePartitionKey(
      m.header("x-ms-documentdb-partitionkey").value_or(""), ordersDefinition());
  return epk.isOk() ? *epk : std::string("?");
}

std::string realRangeOf(const std::string& epk) { return epk < kMid ? "0" : "1"; }

std::vector<HttpMessage> documentRequests(const FakeUpstream& u) {
  std::vector<HttpMessage> out;
  for (const HttpMessage& m : u.requests()) {
    if (m.start_line.find("/docs") != std::string::npos) out.push_back(m);
  }
  return out;
}

TEST(RoutingTest, PlaintextEpkBoundsAreRefusedBoundariesPass) {
  Orders orders;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) { return orders.answer(m); });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());

  // A change feed "for a partition key" as Python sends it: the EPK of the plaintext key.
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs", "",
                                     "A-IM: Incremental Feed\r\n"
                                     "x-ms-documentdb-partitionkeyrangeid: 0\r\n"
                                     "x-ms-start-epk: 0A1B2C3D4E5F60718293A4B5C6D7E8F9\r\n"
                                     "x-ms-end-epk: 0A1B2C3D4E5F60718293A4B5C6D7E8F9FF\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "routing.plaintext_epk");
  EXPECT_NE(r.message.body.find("query_items_change_feed"), std::string::npos);
  EXPECT_TRUE(documentRequests(upstream).empty());
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.raw.find("0A1B2C3D4E5F6071"), std::string::npos) << m.start_line;
  }

  // A feed range from pkranges (its bounds are range boundaries): forwarded as it is.
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs", "",
                                     "A-IM: Incremental Feed\r\n"
                                     "x-ms-documentdb-partitionkeyrangeid: 1\r\n"
                                     "x-ms-start-epk: " + std::string(kMid) +
                                         "\r\n"
                                         "x-ms-end-epk: FF\r\n")));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  auto docs = documentRequests(upstream);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].header("x-ms-start-epk").value_or(""), kMid);
  EXPECT_EQ(docs[0].header("x-ms-documentdb-partitionkeyrangeid").value_or(""), "1");
}

// A hierarchical key /tenant + /cust with only /cust sealed: bounds made of the hash of the
// unprotected /tenant alone (a prefix query or feed range on the tenant) are a function of an
// unprotected value, the same over the sealed key: forwarded. A bound that also hashes /cust is
// plaintext-derived: refused, and never sent.
TEST(RoutingTest, PrefixBoundsOfAnUnprotectedLeadingLevelPass) {
  policy::PartitionKeyDefinition def;
  def.paths = {"/tenant", "/cust"};
  def.kind = policy::PartitionKeyKind::kMultiHash;
  def.version = 2;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) {
      const std::string& line = m.start_line;
      if (line.rfind("GET /dbs/shop/colls/multi/pkranges ", 0) == 0) {
        return jsonResponse(
            200,
            std::string(
                R"({"_rid":"gAABAIAAAAM=","PartitionKeyRanges":[{"id":"0","minInclusive":"","maxExclusive":")") +
                kMid + R"(","parents":[]},{"id":"1","minInclusive":")" + kMid +
                R"(","maxExclusive":"FF","parents":[]}],"_count":2})",
            "etag: \"m1\"\r\n");
      }
      if (line.rfind("GET /dbs/shop/colls/multi ", 0) == 0) {
        return jsonResponse(
            200,
            R"({"id":"multi","_rid":"gAABAIAAAAM=","partitionKey":{"paths":["/tenant","/cust"],"kind":"MultiHash","version":2}})");
      }
      return jsonResponse(200, R"({"_rid":"x","Documents":[],"_count":0})");
    });
  });
  ProxySettings s;
  s.extra_policies =
      "  - database: shop\n"
      "    container: multi\n"
      "    partition_key: [/tenant, /cust]\n"
      "    fields: [ { path: /cust, mode: deterministic, key: pii } ]\n";
  ProxyUnderTest proxy(upstream.port(), s);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());

  auto tenant = policy::effectivePartitionKey(R"(["acme"])", def);
  auto full = policy::effectivePartitionKey(R"(["acme","alice"])", def);
  ASSERT_TRUE(tenant.isOk() && full.isOk());
  ASSERT_EQ(tenant->size(), 32u);
  std::string t = *tenant;
  for (char& c : t) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string f = *full;
  for (char& c : f) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  auto query = [&](const std::string& start, const std::string& end) {
    EXPECT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/multi/docs",
                                       R"({"query":"SELECT * FROM c","parameters":[]})",
                                       "x-ms-documentdb-isquery: True\r\n"
                                       "x-ms-documentdb-query-enablecrosspartition: True\r\n"
                                       "x-ms-documentdb-partitionkeyrangeid: 0\r\n"
                                       "x-ms-start-epk: " +
                                           start + "\r\nx-ms-end-epk: " + end + "\r\n")));
    return app.readResponse();
  };
  ReadResult r = query(t, t + "FF");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  std::vector<HttpMessage> docs = documentRequests(upstream);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].header("x-ms-start-epk").value_or(""), t);
  EXPECT_EQ(docs[0].header("x-ms-end-epk").value_or(""), t + "FF");

  r = query(f, f + "FF");
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 400) << r.message.raw;
  EXPECT_EQ(r.message.header("x-cosmoseal-detail").value_or(""), "routing.plaintext_epk");
  EXPECT_EQ(documentRequests(upstream).size(), 1u);
  for (const HttpMessage& m : upstream.requests()) {
    EXPECT_EQ(m.raw.find(f.substr(32, 16)), std::string::npos) << m.start_line;
  }
}

TEST(RoutingTest, RangeIdAndSessionTokenFollowTheSealedKey) {
  Orders orders;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) { return orders.answer(m); });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());

  for (const char* key : {"alice", "bob", "carol", "dave", "erin", "frank"}) {
    // The SDK named range 0 for every key (its hash of the plaintext) and a session token of it.
    ASSERT_TRUE(app.send(proxy.request(
        "GET", "/dbs/shop/colls/orders/docs", "",
        std::string("A-IM: Incremental Feed\r\nx-ms-documentdb-partitionkey: [\"") + key +
            "\"]\r\nx-ms-documentdb-partitionkeyrangeid: 0\r\n"
            "x-ms-session-token: 0:-1#5\r\n")));
    ReadResult r = app.readResponse();
    ASSERT_TRUE(r.ok()) << readEndName(r.end);
    EXPECT_EQ(r.message.status, 200) << r.message.raw;
  }
  auto docs = documentRequests(upstream);
  ASSERT_EQ(docs.size(), 6u);
  std::map<std::string, int> per_range;
  for (const HttpMessage& m : docs) {
    const std::string real = realRangeOf(upstreamEpk(m));
    ++per_range[real];
    EXPECT_EQ(m.header("x-ms-documentdb-partitionkeyrangeid").value_or(""), real);
    // The session token is the one of the real range, or none.
    const std::string token = m.header("x-ms-session-token").value_or("");
    if (!token.empty()) {
      EXPECT_EQ(token.substr(0, token.find(':')), real) << token;
    }
  }
  // The map was read once (collection + pkranges), whatever the number of requests.
  EXPECT_EQ(orders.pkranges_reads, 1);
}

TEST(RoutingTest, BulkIsRegroupedPerRealRangeAndAnsweredInOrder) {
  Orders orders;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) { return orders.answer(m); });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());

  std::string body = "[";
  const int n = 12;
  for (int i = 0; i < n; ++i) {
    if (i != 0) body += ",";
    const std::string cust = "customer-" + std::to_string(i);
    body += R"({"operationType":"Create","partitionKey":"[\")" + cust +
            R"(\"]","resourceBody":{"id":"op)" + std::to_string(i) + R"(","cust":")" + cust +
            R"("}})";
  }
  body += "]";
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/orders/docs", body,
                                     "x-ms-cosmos-is-batch-request: true\r\n"
                                     "x-ms-cosmos-batch-atomic: false\r\n"
                                     "x-ms-cosmos-batch-continue-on-error: true\r\n"
                                     "x-ms-documentdb-partitionkeyrangeid: 0\r\n")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  ASSERT_EQ(r.message.status, 200) << r.message.raw;
  // One upstream request per real range, each holding only keys of that range.
  auto docs = documentRequests(upstream);
  ASSERT_EQ(docs.size(), 2u) << "12 keys should land in both ranges";
  size_t ops_sent = 0;
  for (const HttpMessage& m : docs) {
    const std::string range = m.header("x-ms-documentdb-partitionkeyrangeid").value_or("");
    auto ops = policy::batchOperations(m.body);
    ASSERT_TRUE(ops.isOk());
    ops_sent += ops->size();
    for (const policy::BatchOperationView& op : *ops) {
      auto epk = policy::effectivePartitionKey(op.partition_key, ordersDefinition());
      ASSERT_TRUE(epk.isOk());
      EXPECT_EQ(realRangeOf(*epk), range);
      EXPECT_EQ(op.raw.find("customer-"), std::string::npos) << "the key was sealed";
    }
  }
  EXPECT_EQ(ops_sent, static_cast<size_t>(n));
  // The answer: every operation's result in the original order, charges summed.
  auto results = policy::jsonArrayElements(r.message.body);
  ASSERT_TRUE(results.isOk()) << r.message.body;
  ASSERT_EQ(results->size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    EXPECT_NE((*results)[i].find("\"op" + std::to_string(i) + "\""), std::string::npos)
        << (*results)[i];
  }
  EXPECT_EQ(r.message.header("x-ms-request-charge").value_or(""), "2.00");  // 1 + 1
  // One range's token (the first part's): SDKs read a range-addressed answer's token as one.
  const std::string sessions = r.message.header("x-ms-session-token").value_or("");
  EXPECT_TRUE(sessions == "0:-1#7" || sessions == "1:-1#7") << sessions;
}

TEST(RoutingTest, ReadManyQueryRunsAcrossPartitionsOtherQueriesKeepTheirRange) {
  Orders orders;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) {
      if (m.start_line.rfind("POST /dbs/shop/colls/orders/docs ", 0) == 0) {
        return jsonResponse(200, R"({"_rid":"x","Documents":[],"_count":0})");
      }
      return orders.answer(m);
    });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  const std::string headers =
      "x-ms-documentdb-isquery: true\r\n"
      "x-ms-documentdb-partitionkeyrangeid: 1\r\n";
  // Java readMany: items grouped by the plaintext hash, one query per range.
  const std::string read_many =
      R"J({"query":"SELECT * FROM c WHERE ( (c.id = @param0 AND c.cust = @param1) OR (c.id = @param2 AND c.cust = @param3) )","parameters":[{"name":"@param0","value":"a"},{"name":"@param1","value":"alice"},{"name":"@param2","value":"b"},{"name":"@param3","value":"bob"}]})J";
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/orders/docs", read_many, headers)));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  // A per-range query of the SDK's own plan (no key pinned): its range id stays.
  const std::string per_range = R"({"query":"SELECT * FROM c WHERE c.n > 3"})";
  ASSERT_TRUE(app.send(proxy.request("POST", "/dbs/shop/colls/orders/docs", per_range, headers)));
  r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200) << r.message.raw;
  auto docs = documentRequests(upstream);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_FALSE(docs[0].hasHeader("x-ms-documentdb-partitionkeyrangeid"));
  EXPECT_EQ(docs[0].header("x-ms-documentdb-query-enablecrosspartition").value_or(""), "true");
  EXPECT_EQ(docs[0].body.find("alice"), std::string::npos) << "the key was sealed";
  EXPECT_EQ(docs[1].header("x-ms-documentdb-partitionkeyrangeid").value_or(""), "1");
}

TEST(RoutingTest, GoneReloadsTheMapWithIfNoneMatch) {
  Orders orders;
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) { return orders.answer(m); });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  auto read = [&]() {
    EXPECT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs", "",
                                       "A-IM: Incremental Feed\r\n"
                                       "x-ms-documentdb-partitionkey: [\"alice\"]\r\n"
                                       "x-ms-documentdb-partitionkeyrangeid: 0\r\n")));
    return app.readResponse();
  };
  ReadResult r = read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 200);
  {
    std::lock_guard<std::mutex> lock(orders.mu);
    orders.gone_left = 1;
  }
  r = read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 410);  // the app's SDK retries; the map is stale now
  r = read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 200);
  std::lock_guard<std::mutex> lock(orders.mu);
  EXPECT_EQ(orders.pkranges_reads, 2);
  EXPECT_EQ(orders.if_none_match["\"e1\""], 1);
}

TEST(RoutingTest, LearnedPartitionKeyIsForgottenWhenTheContainerIsGone) {
  std::atomic<int> collection_reads{0};
  std::atomic<bool> gone{false};
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) {
      if (m.start_line.rfind("GET /dbs/shop/colls/orders ", 0) == 0) {
        ++collection_reads;
        return jsonResponse(200, std::string(R"({"id":"orders","_rid":")") + kOrdersRid +
                                     R"(","partitionKey":{"paths":["/cust"],"version":2}})");
      }
      if (gone.exchange(false)) {
        return jsonResponse(404, R"({"code":"NotFound"})", "x-ms-substatus: 1003\r\n");
      }
      return jsonResponse(200, R"({"id":"a","cust":"x"})");
    });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  auto read = [&]() {
    EXPECT_TRUE(app.send(proxy.request("DELETE", "/dbs/shop/colls/orders/docs/a", "",
                                       "x-ms-documentdb-partitionkey: [\"alice\"]\r\n")));
    return app.readResponse();
  };
  ASSERT_TRUE(read().ok());
  ASSERT_TRUE(read().ok());
  EXPECT_EQ(collection_reads.load(), 1);  // learned once
  gone = true;
  ReadResult r = read();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.message.status, 404);
  ASSERT_TRUE(read().ok());
  EXPECT_EQ(collection_reads.load(), 2);  // 404/1003: learned again before the next request
}

TEST(RoutingTest, LearnedPartitionKeyIsForgottenWhenTheCollectionRidChanges) {
  std::atomic<int> collection_reads{0};
  std::atomic<bool> replaced{false};
  FakeUpstream upstream([&](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [&](const HttpMessage& m) {
      if (m.start_line.rfind("GET /dbs/shop/colls/orders ", 0) == 0) {
        ++collection_reads;
        return jsonResponse(200, std::string(R"({"id":"orders","_rid":")") + kOrdersRid +
                                     R"(","partitionKey":{"paths":["/cust"],"version":2}})");
      }
      // Another container now answers under the same name.
      const std::string rid = replaced ? "gAABAIAAAAM=" : kOrdersRid;
      return jsonResponse(200, R"({"id":"a","cust":"x"})", "x-ms-content-path: " + rid + "\r\n");
    });
  });
  ProxyUnderTest proxy(upstream.port(), settings());
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  Wire app = Wire::connectLocal(proxy.port());
  auto del = [&]() {
    EXPECT_TRUE(app.send(proxy.request("DELETE", "/dbs/shop/colls/orders/docs/a", "",
                                       "x-ms-documentdb-partitionkey: [\"alice\"]\r\n")));
    return app.readResponse();
  };
  ASSERT_TRUE(del().ok());
  ASSERT_TRUE(del().ok());
  EXPECT_EQ(collection_reads.load(), 1);
  replaced = true;
  ASSERT_TRUE(del().ok());  // answered with the other RID: the learned paths go
  ASSERT_TRUE(del().ok());
  EXPECT_EQ(collection_reads.load(), 2);
}

}  // namespace
}  // namespace cosmoseal::integration
