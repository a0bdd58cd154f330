#include "proxy/admission/rules.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cosmoseal::proxy {
namespace {

ClientConfig client() {
  ClientConfig c;
  c.name = "orders-api";
  AllowRule shop;
  shop.database = "shop";
  shop.containers = {"orders", "customers"};
  shop.access = Access::kReadWrite;
  AllowRule analytics;
  analytics.database = "analytics";
  analytics.containers = {"*"};
  analytics.access = Access::kRead;
  c.allow = {shop, analytics};
  return c;
}

enum class Sig { kNone, kQuery, kUpsert, kBatch, kBulk, kChangeFeed };

policy::Route route(const std::string& method, const std::string& path, Sig sig = Sig::kNone) {
  common::HeaderMap h;
  switch (sig) {
    case Sig::kQuery: h.add("x-ms-documentdb-isquery", "true"); break;
    case Sig::kUpsert: h.add("x-ms-documentdb-is-upsert", "true"); break;
    case Sig::kBatch:
      h.add("x-ms-cosmos-is-batch-request", "true");
      h.add("x-ms-cosmos-batch-atomic", "true");
      break;
    case Sig::kBulk: h.add("x-ms-cosmos-is-batch-request", "true"); break;
    case Sig::kChangeFeed: h.add("A-IM", "Incremental Feed"); break;
    case Sig::kNone: break;
  }
  auto r = policy::classifyRequest(method, path, h);
  EXPECT_TRUE(r.isOk()) << method << " " << path;
  return r.isOk() ? *r : policy::Route();
}

struct Case {
  const char* method;
  const char* path;
  Sig sig;
  OpClass cls;
  bool allowed;
};

TEST(RulesTest, Matrix) {
  const ClientConfig c = client();
  const std::vector<Case> cases = {
      {"GET", "/", Sig::kNone, OpClass::kDiscovery, true},
      {"GET", "/dbs", Sig::kNone, OpClass::kList, true},
      {"POST", "/dbs", Sig::kQuery, OpClass::kList, true},
      {"GET", "/dbs/shop", Sig::kNone, OpClass::kMetadataRead, true},
      {"GET", "/dbs/analytics", Sig::kNone, OpClass::kMetadataRead, true},
      {"GET", "/dbs/other", Sig::kNone, OpClass::kMetadataRead, false},
      {"DELETE", "/dbs/shop", Sig::kNone, OpClass::kAdmin, true},
      {"DELETE", "/dbs/analytics", Sig::kNone, OpClass::kAdmin, false},
      {"GET", "/dbs/shop/colls", Sig::kNone, OpClass::kList, true},
      {"GET", "/dbs/other/colls", Sig::kNone, OpClass::kList, false},
      {"GET", "/dbs/shop/colls/orders", Sig::kNone, OpClass::kMetadataRead, true},
      {"GET", "/dbs/shop/colls/secret", Sig::kNone, OpClass::kMetadataRead, false},
      {"GET", "/dbs/analytics/colls/anything", Sig::kNone, OpClass::kMetadataRead, true},
      {"DELETE", "/dbs/shop/colls/orders", Sig::kNone, OpClass::kAdmin, true},
      {"PUT", "/dbs/shop/colls/orders", Sig::kNone, OpClass::kAdmin, true},
      {"DELETE", "/dbs/analytics/colls/x", Sig::kNone, OpClass::kAdmin, false},
      {"GET", "/dbs/shop/colls/secret/pkranges", Sig::kNone, OpClass::kDiscovery, true},
      // Documents, read-write container.
      {"GET", "/dbs/shop/colls/orders/docs/1", Sig::kNone, OpClass::kRead, true},
      {"GET", "/dbs/shop/colls/orders/docs", Sig::kNone, OpClass::kRead, true},
      {"GET", "/dbs/shop/colls/orders/docs", Sig::kChangeFeed, OpClass::kRead, true},
      {"POST", "/dbs/shop/colls/orders/docs", Sig::kQuery, OpClass::kQuery, true},
      {"POST", "/dbs/shop/colls/orders/docs", Sig::kNone, OpClass::kWrite, true},
      {"POST", "/dbs/shop/colls/orders/docs", Sig::kUpsert, OpClass::kWrite, true},
      {"PUT", "/dbs/shop/colls/orders/docs/1", Sig::kNone, OpClass::kWrite, true},
      {"PATCH", "/dbs/shop/colls/orders/docs/1", Sig::kNone, OpClass::kWrite, true},
      {"POST", "/dbs/shop/colls/orders/docs", Sig::kBatch, OpClass::kWrite, true},
      {"POST", "/dbs/shop/colls/orders/docs", Sig::kBulk, OpClass::kWrite, true},
      {"DELETE", "/dbs/shop/colls/orders/docs/1", Sig::kNone, OpClass::kDelete, true},
      {"POST", "/dbs/shop/colls/orders/sprocs/sp1", Sig::kNone, OpClass::kWrite, true},
      // Documents, read-only database.
      {"GET", "/dbs/analytics/colls/x/docs/1", Sig::kNone, OpClass::kRead, true},
      {"POST", "/dbs/analytics/colls/x/docs", Sig::kQuery, OpClass::kQuery, true},
      {"POST", "/dbs/analytics/colls/x/docs", Sig::kNone, OpClass::kWrite, false},
      {"PATCH", "/dbs/analytics/colls/x/docs/1", Sig::kNone, OpClass::kWrite, false},
      {"DELETE", "/dbs/analytics/colls/x/docs/1", Sig::kNone, OpClass::kDelete, false},
      {"POST", "/dbs/analytics/colls/x/docs", Sig::kBulk, OpClass::kWrite, false},
      {"POST", "/dbs/analytics/colls/x/sprocs/sp1", Sig::kNone, OpClass::kWrite, false},
      {"GET", "/dbs/analytics/colls/x/sprocs", Sig::kNone, OpClass::kMetadataRead, true},
      {"POST", "/dbs/analytics/colls/x/sprocs", Sig::kNone, OpClass::kWrite, false},
      // A container not listed, another database.
      {"GET", "/dbs/shop/colls/secret/docs/1", Sig::kNone, OpClass::kRead, false},
      {"POST", "/dbs/shop/colls/secret/docs", Sig::kQuery, OpClass::kQuery, false},
      {"GET", "/dbs/other/colls/x/docs/1", Sig::kNone, OpClass::kRead, false},
      // Admin resources.
      {"GET", "/dbs/shop/users", Sig::kNone, OpClass::kAdmin, false},
      {"GET", "/offers", Sig::kNone, OpClass::kAdmin, false},
      {"GET", "/dbs/shop/colls/orders/conflicts", Sig::kNone, OpClass::kRead, true},
      {"DELETE", "/dbs/analytics/colls/x/conflicts/c1", Sig::kNone, OpClass::kDelete, false},
  };
  for (const Case& k : cases) {
    policy::Route r = route(k.method, k.path, k.sig);
    EXPECT_EQ(operationClass(r), k.cls) << k.method << " " << k.path;
    common::Status s = checkAccess(c, r);
    EXPECT_EQ(s.isOk(), k.allowed) << k.method << " " << k.path << ": " << s.toString();
    if (!k.allowed) {
      EXPECT_EQ(s.detail(), "rules.denied");
      EXPECT_EQ(s.httpStatus(), 403);
      EXPECT_NE(s.message().find("orders-api"), std::string_view::npos) << s.message();
    }
  }
}

TEST(RulesTest, DeniedMessageNamesEverything) {
  common::Status s = checkAccess(client(), route("POST", "/dbs/analytics/colls/events/docs"));
  EXPECT_EQ(s.message(),
            "client 'orders-api' is not allowed to write (create on document_feed) in database "
            "'analytics' container 'events'");
}

TEST(RulesTest, CreatesAreCheckedAgainstTheNewId) {
  const ClientConfig c = client();
  policy::Route dbs = route("POST", "/dbs");
  EXPECT_TRUE(checkAccess(c, dbs).isOk());  // deferred until the body names the database
  EXPECT_TRUE(checkCreate(c, dbs, "shop").isOk());
  EXPECT_EQ(checkCreate(c, dbs, "analytics").detail(), "rules.denied");  // read-only
  EXPECT_EQ(checkCreate(c, dbs, "other").detail(), "rules.denied");
  policy::Route colls = route("POST", "/dbs/shop/colls");
  EXPECT_TRUE(checkCreate(c, colls, "orders").isOk());
  EXPECT_EQ(checkCreate(c, colls, "secret").detail(), "rules.denied");
  EXPECT_EQ(checkCreate(c, route("POST", "/dbs/analytics/colls"), "x").detail(), "rules.denied");
}

TEST(RulesTest, WildcardReadWriteGrantsUsersAndVisibility) {
  ClientConfig admin;
  admin.name = "ops";
  AllowRule all;
  all.database = "shop";
  all.containers = {"*"};
  all.access = Access::kReadWrite;
  admin.allow = {all};
  EXPECT_TRUE(checkAccess(admin, route("GET", "/dbs/shop/users")).isOk());
  EXPECT_TRUE(checkAccess(admin, route("POST", "/dbs/shop/colls/any/docs")).isOk());
  EXPECT_FALSE(checkAccess(admin, route("GET", "/offers")).isOk());
  EXPECT_TRUE(canSee(admin, "shop", "whatever"));
  EXPECT_FALSE(canSee(admin, "other", ""));
  const ClientConfig c = client();
  EXPECT_TRUE(canSee(c, "shop", ""));
  EXPECT_TRUE(canSee(c, "shop", "orders"));
  EXPECT_FALSE(canSee(c, "shop", "secret"));
  EXPECT_TRUE(canSee(c, "analytics", "x"));
}

}  // namespace
}  // namespace cosmoseal::proxy
