// The Entra ID sections (proxy/config/entra.cc): top-level `entra` and `clients[].entra`, through
// the whole-file loader.
#include "proxy/config/entra.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/proxy/config/test_util.h"

namespace cosmoseal::proxy {
namespace {

using config_test::errorsOf;
using config_test::kMinimal;
using config_test::lineCount;
using config_test::mustParse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kHead = R"(upstream:
  endpoint: https://acct.documents.azure.com:443/
  key_file: /k/account
)";

TEST(EntraConfigTest, DefaultsAndAnEntraOnlyClient) {
  const Config c = mustParse(std::string(kHead) + R"(entra:
  tenant_id: 72f988bf-86f1-41af-91ab-2d7cd011db47
clients:
  - name: orders
    entra: { object_id: 0a0a0a0a-1111-2222-3333-444444444444 }
    allow: [ { database: shop, containers: [orders] } ]
  - name: both
    key_file: /k/both
    entra: { app_id: b0b0b0b0-1111-2222-3333-444444444444 }
    allow: [ { database: shop, containers: ['*'] } ]
)");
  ASSERT_TRUE(c.entra);
  EXPECT_EQ(c.entra->authority_host, "https://login.microsoftonline.com/");
  EXPECT_THAT(c.entra->audiences,
              ElementsAre("https://cosmos.azure.com", "https://acct.documents.azure.com"));
  EXPECT_THAT(
      c.entra->issuers,
      ElementsAre("https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
                  "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"));
  EXPECT_EQ(c.entra->clock_skew, std::chrono::minutes(2));
  EXPECT_EQ(c.entra->jwks_refresh, std::chrono::hours(1));
  EXPECT_EQ(c.entra->jwks_min_interval, std::chrono::seconds(30));
  EXPECT_EQ(config::entraOpenIdConfigurationUrl(*c.entra),
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0/"
            ".well-known/openid-configuration");
  ASSERT_EQ(c.clients.size(), 2u);
  EXPECT_EQ(c.clients[0].key_file, "");
  ASSERT_TRUE(c.clients[0].entra);
  EXPECT_EQ(c.clients[0].entra->object_id, "0a0a0a0a-1111-2222-3333-444444444444");
  EXPECT_EQ(c.clients[1].key_file, "/k/both");
  EXPECT_EQ(c.clients[1].entra->app_id, "b0b0b0b0-1111-2222-3333-444444444444");
}

TEST(EntraConfigTest, EveryKeyCanBeSet) {
  const Config c = mustParse(std::string(kMinimal) + R"(entra:
  tenant_id: contoso.onmicrosoft.com
  authority_host: https://login.microsoftonline.us
  audiences: [ "api://cosmoseal" ]
  accept_v1_tokens: false
  clock_skew: 30s
  jwks_refresh: 10m
  jwks_min_interval: 5s
  ca_file: idp-ca.pem
)",
                             "/etc/cosmoseal/c.yaml");
  ASSERT_TRUE(c.entra);
  EXPECT_EQ(c.entra->authority_host, "https://login.microsoftonline.us/");
  EXPECT_THAT(c.entra->audiences, ElementsAre("api://cosmoseal"));
  EXPECT_THAT(c.entra->issuers,
              ElementsAre("https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0"));
  EXPECT_EQ(c.entra->clock_skew, std::chrono::seconds(30));
  EXPECT_EQ(c.entra->jwks_refresh, std::chrono::minutes(10));
  EXPECT_EQ(c.entra->jwks_min_interval, std::chrono::seconds(5));
  EXPECT_EQ(c.entra->ca_file, "/etc/cosmoseal/idp-ca.pem");

  const Config explicit_issuers = mustParse(std::string(kMinimal) + R"(entra:
  tenant_id: t1
  issuers: [ "https://idp.test/t1/v2.0" ]
)");
  EXPECT_THAT(explicit_issuers.entra->issuers, ElementsAre("https://idp.test/t1/v2.0"));
}

TEST(EntraConfigErrorTest, ReportsEveryProblem) {
  const std::string msg = errorsOf(std::string(kHead) + R"(entra:
  tenant_id: "not a tenant"
  authority_host: http://login.microsoftonline.com/
  audiences: []
  clock_skew: soon
clients:
  - name: nothing
    allow: [ { database: shop, containers: [orders] } ]
  - name: dup1
    entra: { object_id: 0a0a0a0a-1111-2222-3333-444444444444 }
    allow: [ { database: shop, containers: [orders] } ]
  - name: dup2
    entra: { object_id: 0A0A0A0A-1111-2222-3333-444444444444 }
    allow: [ { database: shop, containers: [orders] } ]
  - name: empty
    entra: { }
    allow: [ { database: shop, containers: [orders] } ]
  - name: bad
    entra: { app_id: "x y" }
    allow: [ { database: shop, containers: [orders] } ]
)");
  EXPECT_THAT(msg, HasSubstr("t.yaml:5:14: entra.tenant_id: 'not a tenant' is not a tenant id"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:6:19: entra.authority_host: "
                             "'http://login.microsoftonline.com/' is not an https origin"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:7:14: entra.audiences: is an empty list"));
  EXPECT_THAT(msg, HasSubstr("entra.clock_skew:"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:10:5: clients[0]: has neither key_file nor entra"));
  EXPECT_THAT(msg, HasSubstr("clients[2].entra: object_id '0A0A0A0A-1111-2222-3333-444444444444' "
                             "is also client 'dup1''s"));
  EXPECT_THAT(msg, HasSubstr("clients[3].entra: has neither object_id nor app_id"));
  EXPECT_THAT(msg, HasSubstr("clients[4].entra.app_id: 'x y' is not an id"));
  EXPECT_EQ(lineCount(msg), 8u);
}

TEST(EntraConfigErrorTest, ClientIdentitiesNeedTheTopLevelSection) {
  const std::string msg = errorsOf(std::string(kHead) + R"(clients:
  - name: orders
    entra: { object_id: 0a0a0a0a-1111-2222-3333-444444444444 }
    allow: [ { database: shop, containers: [orders] } ]
)");
  EXPECT_THAT(msg, HasSubstr("t.yaml:6:5: clients[0].entra: needs the top-level entra section"));
  EXPECT_THAT(
      errorsOf(std::string(kMinimal) + "entra: { }\n"),
      HasSubstr("t.yaml:8:1: entra.tenant_id: missing; expected the directory (tenant) id"));
}

}  // namespace
}  // namespace cosmoseal::proxy
