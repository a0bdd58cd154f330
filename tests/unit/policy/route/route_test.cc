#include "policy/route/route.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cosmoseal::policy {
namespace {

using common::HeaderMap;
using ::testing::HasSubstr;
using K = ResourceKind;
using Op = Operation;
using Action = RouteDecision::Action;

HeaderMap headers(std::initializer_list<std::pair<const char*, const char*>> list) {
  HeaderMap h;
  for (const auto& [n, v] : list) h.add(n, v);
  return h;
}

// Headers every JS SDK call carries (ref/cosmos-protocol.md §3); they must not change anything.
HeaderMap sdk(std::initializer_list<std::pair<const char*, const char*>> extra = {}) {
  HeaderMap h = headers({{"x-ms-date", "Sun, 22 Nov 2026 13:05:47 GMT"},
                         {"authorization", "type%3Dmaster%26ver%3D1.0%26sig%3Dx"},
                         {"x-ms-version", "2020-07-15"},
                         {"accept", "application/json"},
                         {"x-ms-documentdb-query-enablecrosspartition", "true"},
                         {"x-ms-cosmos-sdk-supportedcapabilities", "1"},
                         {"x-ms-cosmos-allow-tentative-writes", "true"}});
  for (const auto& [n, v] : extra) h.add(n, v);
  return h;
}

struct Row {
  const char* name;
  const char* method;
  const char* target;
  HeaderMap headers;
  K kind;
  Op op;
  const char* db;
  const char* container;
  const char* item;
};

const char* kDocs = "/dbs/db1/colls/coll1/docs";
const char* kDoc = "/dbs/db1/colls/coll1/docs/a1";
const std::pair<const char*, const char*> kJson = {"content-type", "application/json"};
const std::pair<const char*, const char*> kQueryJson = {"content-type", "application/query+json"};
const std::pair<const char*, const char*> kPk = {"x-ms-documentdb-partitionkey", "[\"p1\"]"};

std::vector<Row> rows() {
  return {
      // §1.2: the path table.
      {"account", "GET", "/", sdk(), K::kAccount, Op::kAccountRead, "", "", ""},
      {"list dbs", "GET", "/dbs", sdk(), K::kDatabaseFeed, Op::kMetadataList, "", "", ""},
      {"create db", "POST", "/dbs", sdk({kJson}), K::kDatabaseFeed, Op::kMetadataCreate, "", "", ""},
      {"query dbs", "POST", "/dbs", sdk({kQueryJson, {"x-ms-documentdb-isquery", "true"}}),
       K::kDatabaseFeed, Op::kMetadataQuery, "", "", ""},
      {"read db", "GET", "/dbs/ToDoList", sdk(), K::kDatabase, Op::kMetadataRead, "ToDoList", "",
       "ToDoList"},
      {"delete db", "DELETE", "/dbs/ToDoList", sdk(), K::kDatabase, Op::kMetadataDelete,
       "ToDoList", "", "ToDoList"},
      {"create coll", "POST", "/dbs/db1/colls", sdk({kJson}), K::kCollectionFeed,
       Op::kMetadataCreate, "db1", "", ""},
      {"list colls", "GET", "/dbs/db1/colls/", sdk(), K::kCollectionFeed, Op::kMetadataList, "db1",
       "", ""},
      {"read coll", "GET", "/dbs/db1/colls/coll1", sdk(), K::kCollection, Op::kMetadataRead, "db1",
       "coll1", "coll1"},
      {"replace coll", "PUT", "/dbs/db1/colls/coll1", sdk({kJson}), K::kCollection,
       Op::kMetadataReplace, "db1", "coll1", "coll1"},
      {"delete coll", "DELETE", "/dbs/db1/colls/coll1", sdk(), K::kCollection,
       Op::kMetadataDelete, "db1", "coll1", "coll1"},
      {"pkranges", "GET", "/dbs/db1/colls/coll1/pkranges", sdk(), K::kPartitionKeyRangeFeed,
       Op::kMetadataList, "db1", "coll1", ""},
      {"pkranges incremental", "GET", "/dbs/db1/colls/coll1/pkranges",
       sdk({{"A-IM", "Incremental Feed"}}), K::kPartitionKeyRangeFeed, Op::kMetadataList, "db1",
       "coll1", ""},
      {"create sproc", "POST", "/dbs/db1/colls/coll1/sprocs", sdk({kJson}),
       K::kStoredProcedureFeed, Op::kMetadataCreate, "db1", "coll1", ""},
      {"list sprocs", "GET", "/dbs/db1/colls/coll1/sprocs", sdk(), K::kStoredProcedureFeed,
       Op::kMetadataList, "db1", "coll1", ""},
      {"create udf", "POST", "/dbs/db1/colls/coll1/udfs", sdk({kJson}), K::kUdfFeed,
       Op::kMetadataCreate, "db1", "coll1", ""},
      {"query udfs", "POST", "/dbs/db1/colls/coll1/udfs", sdk({kQueryJson}), K::kUdfFeed,
       Op::kMetadataQuery, "db1", "coll1", ""},
      {"read udf", "GET", "/dbs/db1/colls/coll1/udfs/u1", sdk(), K::kUdf, Op::kMetadataRead, "db1",
       "coll1", "u1"},
      {"create trigger", "POST", "/dbs/db1/colls/coll1/triggers", sdk({kJson}), K::kTriggerFeed,
       Op::kMetadataCreate, "db1", "coll1", ""},
      {"delete trigger", "DELETE", "/dbs/db1/colls/coll1/triggers/t1", sdk(), K::kTrigger,
       Op::kMetadataDelete, "db1", "coll1", "t1"},
      {"execute sproc", "POST", "/dbs/db1/colls/coll1/sprocs/sp1", sdk({kJson, kPk}),
       K::kStoredProcedure, Op::kSprocExecute, "db1", "coll1", "sp1"},
      {"replace sproc", "PUT", "/dbs/db1/colls/coll1/sprocs/sp1", sdk({kJson}),
       K::kStoredProcedure, Op::kMetadataReplace, "db1", "coll1", "sp1"},
      {"delete sproc", "DELETE", "/dbs/db1/colls/coll1/sprocs/sp1", sdk(), K::kStoredProcedure,
       Op::kMetadataDelete, "db1", "coll1", "sp1"},
      {"list offers", "GET", "/offers", sdk(), K::kOfferFeed, Op::kMetadataList, "", "", ""},
      {"query offers", "POST", "/offers", sdk({kQueryJson, {"x-ms-documentdb-isquery", "True"}}),
       K::kOfferFeed, Op::kMetadataQuery, "", "", ""},
      {"read offer", "GET", "/offers/AbCd", sdk(), K::kOffer, Op::kMetadataRead, "", "", "AbCd"},
      {"replace offer", "PUT", "/offers/AbCd", sdk({kJson}), K::kOffer, Op::kMetadataReplace, "",
       "", "AbCd"},
      {"users", "GET", "/dbs/db1/users", sdk(), K::kUserFeed, Op::kMetadataList, "db1", "", ""},
      {"user", "PUT", "/dbs/db1/users/u1", sdk({kJson}), K::kUser, Op::kMetadataReplace, "db1", "",
       "u1"},
      {"permissions", "POST", "/dbs/db1/users/u1/permissions", sdk({kJson}), K::kPermissionFeed,
       Op::kMetadataCreate, "db1", "", ""},
      {"permission", "GET", "/dbs/db1/users/u1/permissions/p1", sdk(), K::kPermission,
       Op::kMetadataRead, "db1", "", "p1"},
      {"ceks", "GET", "/dbs/db1/clientencryptionkeys", sdk(), K::kClientEncryptionKeyFeed,
       Op::kMetadataList, "db1", "", ""},
      {"cek", "GET", "/dbs/db1/clientencryptionkeys/k1", sdk(), K::kClientEncryptionKey,
       Op::kMetadataRead, "db1", "", "k1"},
      {"conflicts", "GET", "/dbs/db1/colls/coll1/conflicts", sdk(), K::kConflictFeed,
       Op::kMetadataList, "db1", "coll1", ""},
      {"conflict delete", "DELETE", "/dbs/db1/colls/coll1/conflicts/c1", sdk(), K::kConflict,
       Op::kMetadataDelete, "db1", "coll1", "c1"},
      {"addresses", "GET",
       "/addresses/?$resolveFor=dbs%2Fdb1%2Fcolls%2Fcoll1&$filter=protocol%20eq%20rntbd", sdk(),
       K::kAddresses, Op::kMetadataRead, "", "", ""},
      {"partition key delete", "POST", "/dbs/db1/colls/coll1/operations/partitionkeydelete",
       sdk({kJson, kPk}), K::kPartitionKeyDelete, Op::kPartitionKeyDelete, "db1", "coll1", ""},

      // §3: the data-plane table.
      {"create", "POST", kDocs, sdk({kJson, kPk}), K::kDocumentFeed, Op::kCreate, "db1", "coll1",
       ""},
      {"upsert", "POST", kDocs, sdk({kJson, kPk, {"x-ms-documentdb-is-upsert", "true"}}),
       K::kDocumentFeed, Op::kUpsert, "db1", "coll1", ""},
      {"upsert False is create", "POST", kDocs,
       sdk({kJson, kPk, {"x-ms-documentdb-is-upsert", "False"}}), K::kDocumentFeed, Op::kCreate,
       "db1", "coll1", ""},
      {"read", "GET", kDoc, sdk({kPk, {"If-None-Match", "\"e\""}}), K::kDocument, Op::kRead, "db1",
       "coll1", "a1"},
      {"replace", "PUT", kDoc, sdk({kJson, kPk, {"If-Match", "\"e\""}}), K::kDocument,
       Op::kReplace, "db1", "coll1", "a1"},
      {"upsert via PUT", "PUT", kDoc, sdk({kJson, kPk, {"x-ms-documentdb-is-upsert", "TRUE"}}),
       K::kDocument, Op::kUpsert, "db1", "coll1", "a1"},
      {"patch (no content-type)", "PATCH", kDoc, sdk({kPk}), K::kDocument, Op::kPatch, "db1",
       "coll1", "a1"},
      {"delete", "DELETE", kDoc, sdk({kPk}), K::kDocument, Op::kDelete, "db1", "coll1", "a1"},
      {"read feed", "GET", kDocs,
       sdk({{"x-ms-max-item-count", "10"}, {"x-ms-continuation", "{\"token\":\"x\"}"}}),
       K::kDocumentFeed, Op::kReadFeed, "db1", "coll1", ""},
      {"query (JS)", "POST", kDocs, sdk({kQueryJson, {"x-ms-documentdb-isquery", "true"}}),
       K::kDocumentFeed, Op::kQuery, "db1", "coll1", ""},
      {"query (Go)", "POST", kDocs, sdk({kJson, {"x-ms-documentdb-query", "True"}}),
       K::kDocumentFeed, Op::kQuery, "db1", "coll1", ""},
      {"query (content-type only)", "POST", kDocs,
       sdk({{"Content-Type", "Application/Query+JSON; charset=utf-8"}}), K::kDocumentFeed,
       Op::kQuery, "db1", "coll1", ""},
      {"query (application/sql)", "POST", kDocs, sdk({{"content-type", "application/sql"}}),
       K::kDocumentFeed, Op::kQuery, "db1", "coll1", ""},
      {"query plan", "POST", kDocs,
       sdk({kQueryJson,
            {"x-ms-documentdb-isquery", "true"},
            {"x-ms-cosmos-is-query-plan-request", "True"},
            {"x-ms-cosmos-query-version", "1.4"},
            {"x-ms-cosmos-supported-query-features", "Aggregate, Distinct"}}),
       K::kDocumentFeed, Op::kQueryPlan, "db1", "coll1", ""},
      {"batch", "POST", kDocs,
       sdk({kJson, kPk,
            {"x-ms-cosmos-is-batch-request", "true"},
            {"x-ms-cosmos-batch-atomic", "true"}}),
       K::kDocumentFeed, Op::kBatch, "db1", "coll1", ""},
      {"bulk", "POST", kDocs,
       sdk({kJson,
            {"x-ms-cosmos-is-batch-request", "true"},
            {"x-ms-cosmos-batch-atomic", "false"},
            {"x-ms-cosmos-batch-continue-on-error", "true"},
            {"x-ms-documentdb-partitionkeyrangeid", "0"}}),
       K::kDocumentFeed, Op::kBulk, "db1", "coll1", ""},
      {"bulk (no atomic header)", "POST", kDocs,
       sdk({kJson, {"x-ms-cosmos-is-batch-request", "true"}}), K::kDocumentFeed, Op::kBulk, "db1",
       "coll1", ""},
      {"change feed", "GET", kDocs, sdk({{"A-IM", "Incremental Feed"}, {"If-None-Match", "*"}}),
       K::kDocumentFeed, Op::kChangeFeed, "db1", "coll1", ""},
      {"change feed (all versions)", "GET", kDocs,
       sdk({{"a-im", "full-fidelity feed"},
            {"x-ms-cosmos-changefeed-wire-format-version", "2021-09-15"}}),
       K::kDocumentFeed, Op::kChangeFeed, "db1", "coll1", ""},

      // Unknown or ambiguous: never guessed.
      {"HEAD doc", "HEAD", kDoc, sdk(), K::kDocument, Op::kUnknown, "db1", "coll1", "a1"},
      {"POST doc item", "POST", kDoc, sdk({kJson}), K::kDocument, Op::kUnknown, "db1", "coll1",
       "a1"},
      {"lower-case method", "get", kDoc, sdk(), K::kDocument, Op::kUnknown, "db1", "coll1", "a1"},
      {"PUT feed without upsert", "PUT", kDocs, sdk({kJson}), K::kDocumentFeed, Op::kUnknown,
       "db1", "coll1", ""},
      {"upsert and query", "POST", kDocs,
       sdk({kQueryJson, {"x-ms-documentdb-isquery", "true"},
            {"x-ms-documentdb-is-upsert", "true"}}),
       K::kDocumentFeed, Op::kUnknown, "db1", "coll1", ""},
      {"query and batch", "POST", kDocs,
       sdk({kJson, {"x-ms-documentdb-query", "true"}, {"x-ms-cosmos-is-batch-request", "true"}}),
       K::kDocumentFeed, Op::kUnknown, "db1", "coll1", ""},
      {"non-boolean signal", "POST", kDocs, sdk({kJson, {"x-ms-documentdb-isquery", "1"}}),
       K::kDocumentFeed, Op::kUnknown, "db1", "coll1", ""},
      {"repeated signal", "POST", kDocs,
       sdk({kJson, {"x-ms-documentdb-isquery", "false"}, {"X-MS-DOCUMENTDB-ISQUERY", "true"}}),
       K::kDocumentFeed, Op::kUnknown, "db1", "coll1", ""},
      {"repeated content-type", "POST", kDocs, sdk({kJson, kQueryJson}), K::kDocumentFeed,
       Op::kUnknown, "db1", "coll1", ""},
      {"unknown A-IM", "GET", kDocs, sdk({{"A-IM", "Something Else"}}), K::kDocumentFeed,
       Op::kUnknown, "db1", "coll1", ""},
      {"A-IM on POST", "POST", kDocs, sdk({kJson, {"A-IM", "Incremental Feed"}}), K::kDocumentFeed,
       Op::kUnknown, "db1", "coll1", ""},
      {"query header on GET doc", "GET", kDoc, sdk({{"x-ms-documentdb-isquery", "true"}}),
       K::kDocument, Op::kUnknown, "db1", "coll1", "a1"},
      {"attachments", "GET", "/dbs/db1/colls/coll1/docs/a1/attachments", sdk(), K::kUnknown,
       Op::kUnknown, "db1", "coll1", ""},
      {"case variant of docs", "POST", "/dbs/db1/colls/coll1/Docs", sdk({kJson}), K::kUnknown,
       Op::kUnknown, "db1", "coll1", ""},
      {"case variant of dbs", "POST", "/DBS/db1/COLLS/coll1/docs", sdk({kJson}), K::kUnknown,
       Op::kUnknown, "db1", "coll1", ""},
      {"other top level", "GET", "/media/x", sdk(), K::kUnknown, Op::kUnknown, "", "", ""},
      {"POST account", "POST", "/", sdk(), K::kAccount, Op::kUnknown, "", "", ""},
      {"other operation", "POST", "/dbs/db1/colls/coll1/operations/other", sdk(), K::kUnknown,
       Op::kUnknown, "db1", "coll1", ""},
  };
}

TEST(RouteTest, ClassificationTable) {
  for (const Row& r : rows()) {
    auto route = classifyRequest(r.method, r.target, r.headers);
    ASSERT_TRUE(route.isOk()) << r.name << ": " << route.status().toString();
    EXPECT_EQ(resourceKindName(route->kind), std::string(resourceKindName(r.kind))) << r.name;
    EXPECT_EQ(operationName(route->op), std::string(operationName(r.op))) << r.name;
    EXPECT_EQ(route->database, r.db) << r.name;
    EXPECT_EQ(route->container, r.container) << r.name;
    EXPECT_EQ(route->item_id, r.item) << r.name;
    EXPECT_EQ(route->has_partition_key_header, r.headers.has("x-ms-documentdb-partitionkey"))
        << r.name;
  }
}

TEST(RouteTest, PercentDecodingAndQuery) {
  auto r = classifyRequest("GET", "/dbs/db%20full/colls/Items/docs/b%20%C3%A9", sdk());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->database, "db full");
  EXPECT_EQ(r->container, "Items");
  EXPECT_EQ(r->item_id, "b \xC3\xA9");
  EXPECT_EQ(r->segments,
            (std::vector<std::string>{"dbs", "db full", "colls", "Items", "docs", "b \xC3\xA9"}));
  EXPECT_EQ(r->path, "/dbs/db%20full/colls/Items/docs/b%20%C3%A9");
  auto lower = classifyRequest("GET", "/dbs/db%20full/colls/Items/docs/b%20%c3%a9", sdk());
  ASSERT_TRUE(lower.isOk());
  EXPECT_EQ(lower->item_id, "b \xC3\xA9");
  // Sub-delims and other pchars pass raw; '+' is not a space in paths.
  auto raw = classifyRequest("GET", "/dbs/a+b/colls/c!$&'()*,;=:@-._~/docs/x?y=1&z=%20", sdk());
  ASSERT_TRUE(raw.isOk()) << raw.status().toString();
  EXPECT_EQ(raw->database, "a+b");
  EXPECT_EQ(raw->container, "c!$&'()*,;=:@-._~");
  EXPECT_EQ(raw->query, "y=1&z=%20");
  EXPECT_EQ(raw->path, "/dbs/a+b/colls/c!$&'()*,;=:@-._~/docs/x");
  // The query string never changes the route.
  auto q = classifyRequest("GET", "/dbs/d/colls/c/docs?x=/dbs/other", sdk());
  ASSERT_TRUE(q.isOk());
  EXPECT_EQ(q->container, "c");
  EXPECT_EQ(q->kind, K::kDocumentFeed);
}

TEST(RouteTest, MalformedPaths) {
  for (std::string bad : std::vector<std::string>{
           "", "*", "dbs/d", "https://acct/dbs", "//dbs//colls", "/dbs//colls", "/dbs/d//",
           "/dbs/%", "/dbs/%2", "/dbs/%zz", "/dbs/a%2", "/dbs/%00x", "/dbs/%0A", "/dbs/%7F",
           "/dbs/a%2Fb", "/dbs/a%5cb", "/dbs/..", "/dbs/.", "/dbs/%2E%2E", "/dbs/%2e",
           "/dbs/d/colls/../c", "/dbs/a b", std::string("/dbs/a\0b", 8), "/dbs/a\tb",
           "/dbs/\xC3\xA9", "/dbs/%C3", "/dbs/%C3%28", "/dbs/%ED%A0%80", "/dbs/%C0%AF",
           "/dbs/%F4%90%80%80", "/dbs/a\"b", "/dbs/a{b", "/dbs/a\\b", "/dbs/a#b",
           "/dbs/d?x=a b", "/dbs/d?x=\x01", "/dbs/d?x#y", "/dbs/d?x=\xC3\xA9"}) {
    auto r = classifyRequest("GET", bad, sdk());
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "route.bad_path") << bad;
    EXPECT_EQ(r.status().httpStatus(), 400) << bad;
  }
}

// Cosmos accepts redundant leading slashes (an SDK joining "https://acct:443/" and "/dbs/...");
// they route exactly as the single-slash path, which is what Route::path holds.
TEST(RouteTest, RedundantLeadingSlashes) {
  for (std::string target : {"//dbs/x/colls/y/docs/a", "///dbs/x/colls/y/docs/a"}) {
    auto r = classifyRequest("GET", target, sdk());
    ASSERT_TRUE(r.isOk()) << target << ": " << r.status().toString();
    auto one = classifyRequest("GET", "/dbs/x/colls/y/docs/a", sdk());
    EXPECT_EQ(r->path, "/dbs/x/colls/y/docs/a");
    EXPECT_EQ(r->segments, one->segments);
    EXPECT_EQ(r->kind, K::kDocument);
    EXPECT_EQ(r->op, Op::kRead);
    EXPECT_EQ(r->database, "x");
    EXPECT_EQ(r->container, "y");
    EXPECT_EQ(r->item_id, "a");
  }
  auto q = classifyRequest("GET", "//dbs/x/colls/y/docs?a=1", sdk());
  ASSERT_TRUE(q.isOk());
  EXPECT_EQ(q->path, "/dbs/x/colls/y/docs");
  EXPECT_EQ(q->query, "a=1");
  auto root = classifyRequest("GET", "//", sdk());
  ASSERT_TRUE(root.isOk());
  EXPECT_EQ(root->path, "/");
  EXPECT_EQ(root->kind, K::kAccount);
  // Only leading ones: an empty segment elsewhere stays refused.
  for (std::string bad : {"//dbs//colls", "//dbs/x//colls/y", "/dbs/x/colls/y//", "//dbs/x//"}) {
    auto r = classifyRequest("GET", bad, sdk());
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "route.bad_path") << bad;
  }
}

TEST(RouteTest, RidShapes) {
  auto rid = classifyRequest("POST", "/dbs/gAACAA==/colls/gAACAIAAAAE=/docs", sdk({kJson}));
  ASSERT_TRUE(rid.isOk());
  EXPECT_TRUE(rid->rid_like);
  EXPECT_TRUE(classifyRequest("GET", "/dbs/gAACAA==/colls/orders/docs", sdk())->rid_like);
  EXPECT_TRUE(classifyRequest("GET", "/dbs/shop/colls/gA-CAIAAAAE=/docs", sdk())->rid_like);
  EXPECT_FALSE(classifyRequest("GET", "/dbs/shop/colls/orders/docs", sdk())->rid_like);
  EXPECT_FALSE(classifyRequest("GET", "/dbs/gAACAA=/colls/orders/docs", sdk())->rid_like);
  EXPECT_FALSE(classifyRequest("GET", "/offers/gAACAA==", sdk())->rid_like);
}

TEST(RouteTest, OperationFacts) {
  EXPECT_TRUE(isReadOnly(Op::kQuery));
  EXPECT_TRUE(isReadOnly(Op::kChangeFeed));
  EXPECT_TRUE(isReadOnly(Op::kAccountRead));
  EXPECT_FALSE(isReadOnly(Op::kBatch));
  EXPECT_FALSE(isReadOnly(Op::kSprocExecute));
  EXPECT_FALSE(isReadOnly(Op::kUnknown));
  EXPECT_TRUE(requestCarriesUserData(Op::kPatch));
  EXPECT_TRUE(requestCarriesUserData(Op::kQueryPlan));
  EXPECT_FALSE(requestCarriesUserData(Op::kRead));
  EXPECT_TRUE(responseCarriesDocuments(Op::kChangeFeed));
  EXPECT_FALSE(responseCarriesDocuments(Op::kDelete));
}

// ---- decisions ----

class DecideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = [](std::string c, std::vector<std::string> pk, FieldMode pk_mode) {
      ContainerPolicySpec s;
      s.database = "shop";
      s.container = std::move(c);
      s.partition_key_paths = std::move(pk);
      FieldSpec ssn;
      ssn.path = "/ssn";
      ssn.mode = FieldMode::kDeterministic;
      ssn.key = "pii";
      s.fields.push_back(ssn);
      FieldSpec tenant;
      tenant.path = "/tenant";
      tenant.mode = pk_mode;
      tenant.key = "pii";
      s.fields.push_back(tenant);
      return s;
    };
    auto set = PolicySet::create(std::vector<ContainerPolicySpec>{
        spec("customers", {"/tenant"}, FieldMode::kDeterministic),
        spec("plainpk", {"/pk"}, FieldMode::kRandomized),
        spec("nopk", {}, FieldMode::kRandomized)});
    ASSERT_TRUE(set.isOk()) << set.status().toString();
    policies_ = *set;
  }

  RouteDecision decide(const char* method, const std::string& target, const HeaderMap& h,
                       const PolicySet* set = nullptr) {
    auto r = classifyRequest(method, target, h);
    EXPECT_TRUE(r.isOk()) << target;
    return decideRoute(*r, set != nullptr ? set : policies_.get());
  }

  std::shared_ptr<const PolicySet> policies_;
};

const std::string kProtected = "/dbs/shop/colls/customers";

TEST_F(DecideTest, ProtectedDocumentOperations) {
  struct Case {
    const char* name;
    const char* method;
    std::string target;
    HeaderMap headers;
    bool req;
    bool resp;
  };
  const std::string docs = kProtected + "/docs";
  const std::string doc = kProtected + "/docs/a1";
  for (const Case& c : std::vector<Case>{
           {"create", "POST", docs, sdk({kJson}), true, true},
           {"upsert", "POST", docs, sdk({kJson, {"x-ms-documentdb-is-upsert", "true"}}), true, true},
           {"replace", "PUT", doc, sdk({kJson}), true, true},
           {"patch", "PATCH", doc, sdk(), true, true},
           {"query", "POST", docs, sdk({kQueryJson}), true, true},
           {"query plan", "POST", docs,
            sdk({kQueryJson, {"x-ms-cosmos-is-query-plan-request", "True"}}), true, true},
           {"batch", "POST", docs,
            sdk({{"x-ms-cosmos-is-batch-request", "true"}, {"x-ms-cosmos-batch-atomic", "true"}}),
            true, true},
           {"bulk", "POST", docs, sdk({{"x-ms-cosmos-is-batch-request", "true"}}), true, true},
           {"read", "GET", doc, sdk(), false, true},
           {"read feed", "GET", docs, sdk(), false, true},
           {"change feed", "GET", docs, sdk({{"A-IM", "Incremental Feed"}}), false, true},
       }) {
    RouteDecision d = decide(c.method, c.target, c.headers);
    EXPECT_EQ(d.action, Action::kTransform) << c.name;
    EXPECT_EQ(d.transform_request_body, c.req) << c.name;
    EXPECT_EQ(d.transform_response_body, c.resp) << c.name;
    EXPECT_EQ(d.policy, policies_->find("shop", "customers")) << c.name;
    EXPECT_EQ(d.partition_key, PartitionKeyAction::kNone) << c.name;
    EXPECT_TRUE(d.rejection.isOk()) << c.name;
  }
  RouteDecision del = decide("DELETE", doc, sdk());
  EXPECT_EQ(del.action, Action::kPassThrough);
  EXPECT_FALSE(del.transform_request_body || del.transform_response_body);
}

TEST_F(DecideTest, PartitionKeyHeader) {
  const HeaderMap h = sdk({kPk});
  RouteDecision protected_pk = decide("DELETE", kProtected + "/docs/a1", h);
  EXPECT_EQ(protected_pk.action, Action::kTransform);
  EXPECT_EQ(protected_pk.partition_key, PartitionKeyAction::kTransform);
  RouteDecision create = decide("POST", kProtected + "/docs", sdk({kJson, kPk}));
  EXPECT_EQ(create.partition_key, PartitionKeyAction::kTransform);
  RouteDecision plain = decide("DELETE", "/dbs/shop/colls/plainpk/docs/a1", h);
  EXPECT_EQ(plain.action, Action::kPassThrough);
  EXPECT_EQ(plain.partition_key, PartitionKeyAction::kPassThrough);
  RouteDecision unknown = decide("GET", "/dbs/shop/colls/nopk/docs/a1", h);
  EXPECT_EQ(unknown.partition_key, PartitionKeyAction::kResolve);
  RouteDecision pkdelete =
      decide("POST", kProtected + "/operations/partitionkeydelete", sdk({kJson, kPk}));
  EXPECT_EQ(pkdelete.action, Action::kTransform);
  EXPECT_EQ(pkdelete.partition_key, PartitionKeyAction::kTransform);
  EXPECT_FALSE(pkdelete.transform_request_body);
}

TEST_F(DecideTest, ProtectedMetadataPassesThrough) {
  for (const auto& [method, target] : std::vector<std::pair<const char*, std::string>>{
           {"GET", kProtected},
           {"PUT", kProtected},
           {"DELETE", kProtected},
           {"GET", kProtected + "/pkranges"},
           {"POST", kProtected + "/sprocs"},
           {"PUT", kProtected + "/sprocs/sp1"},
           {"POST", kProtected + "/udfs"},
           {"DELETE", kProtected + "/triggers/t1"},
           {"DELETE", kProtected + "/conflicts/c1"},
           {"GET", "/dbs/shop"},
           {"GET", "/dbs/shop/colls"},
           {"GET", "/offers"},
       }) {
    RouteDecision d = decide(method, target, sdk());
    EXPECT_EQ(d.action, Action::kPassThrough) << method << " " << target;
  }
}

TEST_F(DecideTest, Rejections) {
  struct Case {
    const char* method;
    std::string target;
    HeaderMap headers;
    const char* detail;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"POST", kProtected + "/sprocs/sp1", sdk({kJson}), "route.sproc_on_protected", 400},
           {"POST", kProtected + "/docs",
            sdk({kJson, {"x-ms-documentdb-pre-trigger-include", "validate"}}),
            "route.trigger_on_protected", 400},
           {"PUT", kProtected + "/docs/a1",
            sdk({kJson, {"x-ms-documentdb-post-trigger-include", "audit"}}),
            "route.trigger_on_protected", 400},
           {"DELETE", kProtected + "/docs/a1", sdk({{"x-ms-documentdb-pre-trigger-include", ""}}),
            "route.trigger_on_protected", 400},
           {"GET", kProtected + "/conflicts", sdk(), "route.conflicts_on_protected", 400},
           {"GET", kProtected + "/conflicts/c1", sdk(), "route.conflicts_on_protected", 400},
           {"HEAD", kProtected + "/docs/a1", sdk(), "route.unclassified", 400},
           {"POST", kProtected + "/Docs", sdk({kJson}), "route.unclassified", 400},
           {"GET", kProtected + "/docs/a1/attachments", sdk(), "route.unclassified", 400},
           {"POST", kProtected + "/docs", sdk({kJson, {"x-ms-documentdb-isquery", "yes"}}),
            "route.unclassified", 400},
           {"GET", "/addresses?$resolveFor=dbs%2Fshop", sdk(), "discovery.direct_mode_refused", 403},
           {"POST", "/dbs/gAACAA==/colls/gAACAIAAAAE=/docs", sdk({kJson}), "route.rid_path", 400},
       }) {
    RouteDecision d = decide(c.method, c.target, c.headers);
    EXPECT_EQ(d.action, Action::kReject) << c.target;
    EXPECT_EQ(d.rejection.detail(), c.detail) << c.target;
    EXPECT_EQ(d.rejection.httpStatus(), c.status) << c.target;
    EXPECT_FALSE(d.transform_request_body || d.transform_response_body) << c.target;
  }
}

TEST_F(DecideTest, UnprotectedAndNoPolicies) {
  EXPECT_EQ(decide("POST", "/dbs/shop/colls/orders/docs", sdk({kJson, kPk})).action,
            Action::kPassThrough);
  EXPECT_EQ(decide("HEAD", "/dbs/shop/colls/orders/docs/a1", sdk()).action, Action::kPassThrough);
  EXPECT_EQ(decide("POST", "/dbs/shop/colls/orders/sprocs/sp", sdk()).action,
            Action::kPassThrough);
  // Triggers on an unprotected container run over plaintext: passed.
  EXPECT_EQ(decide("POST", "/dbs/shop/colls/orders/docs",
                   sdk({kJson, {"x-ms-documentdb-pre-trigger-include", "t"}}))
                .action,
            Action::kPassThrough);
  // Names are exact: another case is another (unprotected) container.
  EXPECT_EQ(decide("POST", "/dbs/shop/colls/Customers/docs", sdk({kJson})).action,
            Action::kPassThrough);
  // Without policies, RID paths are not refused; Direct mode always is.
  auto empty = PolicySet::create(std::vector<ContainerPolicySpec>{});
  ASSERT_TRUE(empty.isOk());
  auto r = classifyRequest("POST", "/dbs/gAACAA==/colls/gAACAIAAAAE=/docs", sdk({kJson}));
  EXPECT_EQ(decideRoute(*r, empty->get()).action, Action::kPassThrough);
  EXPECT_EQ(decideRoute(*r, nullptr).action, Action::kPassThrough);
  auto addr = classifyRequest("GET", "/addresses", sdk());
  EXPECT_EQ(decideRoute(*addr, nullptr).action, Action::kReject);
}

TEST_F(DecideTest, AccountRead) {
  RouteDecision d = decide("GET", "/", sdk());
  EXPECT_EQ(d.action, Action::kTransform);
  EXPECT_TRUE(d.rewrite_account);
  EXPECT_EQ(d.policy, nullptr);
  EXPECT_EQ(decide("POST", "/", sdk()).action, Action::kPassThrough);
}

}  // namespace
}  // namespace cosmoseal::policy

namespace cosmoseal::policy {
namespace {

TEST(RouteTest, RandomTargetsNeverMisbehave) {
  uint32_t state = 777;
  auto next = [&]() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  static constexpr char kBytes[] = "/%/%2F%C3%a9..?#dbs/colls/docs/ aZ9\x00\x7f\xff~*+";
  int ok = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string target = "/";
    const size_t len = next() % 40;
    for (size_t i = 0; i < len; ++i) target += kBytes[next() % (sizeof(kBytes) - 1)];
    auto r = classifyRequest("POST", target, sdk());
    if (!r.isOk()) {
      ASSERT_EQ(r.status().detail(), "route.bad_path") << target;
      continue;
    }
    ++ok;
    for (const std::string& seg : r->segments) {
      ASSERT_FALSE(seg.empty()) << target;
      ASSERT_EQ(seg.find('/'), std::string::npos) << target;
      ASSERT_NE(seg, "..") << target;
    }
    (void)decideRoute(*r, nullptr);
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace cosmoseal::policy

namespace cosmoseal::policy {
namespace {

TEST(RidTest, ShapesAndParentDatabase) {
  EXPECT_TRUE(isRidShaped("gAABAA==", 4));
  EXPECT_TRUE(isRidShaped("gAABAIAAAAE=", 8));
  EXPECT_TRUE(isRidShaped("DPZtAKyOj5g=", 8));
  EXPECT_FALSE(isRidShaped("gAABAA=", 4));
  EXPECT_FALSE(isRidShaped("customers", 8));
  EXPECT_EQ(databaseRidOf("gAABAIAAAAE="), std::optional<std::string>("gAABAA=="));
  EXPECT_EQ(databaseRidOf("DPZtAKyOj5g="), std::optional<std::string>("DPZtAA=="));
  // '-' stands for '/' in the service's RIDs, both ways.
  EXPECT_EQ(databaseRidOf("a-8-AKyOj5g="), std::optional<std::string>("a-8-AA=="));
  EXPECT_EQ(databaseRidOf("shop"), std::nullopt);
}

TEST(RidTest, ResolvedRidRoutesAreDecidedByName) {
  ContainerPolicySpec spec;
  spec.database = "shop";
  spec.container = "customers";
  FieldSpec f;
  f.path = "/ssn";
  f.mode = FieldMode::kRandomized;
  f.key = "pii";
  spec.fields = {f};
  auto set = PolicySet::create(std::vector<ContainerPolicySpec>{spec});
  ASSERT_TRUE(set.isOk()) << set.status().toString();
  common::HeaderMap h;
  auto route = classifyRequest("GET", "/dbs/gAABAA==/colls/gAABAIAAAAE=/docs/abc", h);
  ASSERT_TRUE(route.isOk());
  EXPECT_TRUE(route->rid_like);
  EXPECT_EQ(decideRoute(*route, set->get()).rejection.detail(), "route.rid_path");
  route->database = "shop";
  route->container = "customers";
  route->rid_resolved = true;
  const RouteDecision d = decideRoute(*route, set->get());
  EXPECT_EQ(d.action, RouteDecision::Action::kTransform);
  EXPECT_TRUE(d.transform_response_body);
  EXPECT_NE(d.policy, nullptr);
}

}  // namespace
}  // namespace cosmoseal::policy
