// listen.region_ports and the upstream freshness keys (proxy/config/sections.cc, loader.cc).

#include "proxy/config/sections.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/proxy/config/test_util.h"

namespace cosmoseal::proxy {
namespace {

using config_test::errorsOf;
using config_test::kMinimal;
using config_test::mustParse;
using ::testing::HasSubstr;

TEST(RegionPortsConfig, DefaultsToNone) {
  Config c = mustParse(kMinimal);
  EXPECT_TRUE(c.listen.region_ports.empty());
  EXPECT_EQ(c.upstream.max_age, std::chrono::minutes(5));
  EXPECT_EQ(c.upstream.dns_ttl, std::chrono::seconds(30));
}

TEST(RegionPortsConfig, ParsesInOrder) {
  Config c =
      mustParse(std::string(kMinimal) + "listen: { port: 8081, region_ports: [8083, 8082] }\n");
  ASSERT_EQ(c.listen.region_ports.size(), 2u);
  EXPECT_EQ(c.listen.region_ports[0], 8083);
  EXPECT_EQ(c.listen.region_ports[1], 8082);
  EXPECT_EQ(c.listen.region_ports_pos.line, 8);
}

TEST(RegionPortsConfig, Errors) {
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen: { region_ports: [8082, 8082] }\n"),
              HasSubstr("listen.region_ports[1]: 8082 is listed twice; expected distinct ports"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen: { region_ports: [8081] }\n"),
              HasSubstr("listen.region_ports[0]: 8081 is also listen.port; expected a different "
                        "port"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen: { region_ports: [0] }\n"),
              HasSubstr("listen.region_ports[0]"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen: { region_ports: 8082 }\n"),
              HasSubstr("listen.region_ports"));
  EXPECT_THAT(errorsOf(std::string(kMinimal) + "listen: { region_ports: [9901] }\n"),
              HasSubstr("listen.region_ports: 9901 is also the admin port"));
  mustParse(std::string(kMinimal) +
            "listen: { region_ports: [9901] }\nadmin: { enabled: false }\n");
}

TEST(RegionPortsConfig, NotWithTransparentMode) {
  EXPECT_THAT(
      errorsOf(std::string(kMinimal) + "listen:\n  mode: transparent\n  region_ports: [8082]\n"
                                       "  transparent: { ca_cert: ca.pem, ca_key: ca.key }\n"),
      HasSubstr("listen.region_ports: not used with listen.mode: transparent"));
}

TEST(UpstreamFreshnessConfig, MaxAgeAndDnsTtl) {
  const std::string head =
      "upstream:\n  endpoint: https://a.documents.azure.com/\n  key_file: /k/a\n";
  const std::string tail =
      "clients:\n  - name: app\n    key_file: /k/app\n"
      "    allow: [ { database: shop, containers: [orders] } ]\n";
  Config c = mustParse(head + "  dns_ttl: 5s\n  pool: { max_age: 0 }\n" + tail);
  EXPECT_EQ(c.upstream.dns_ttl, std::chrono::seconds(5));
  EXPECT_EQ(c.upstream.max_age, std::chrono::milliseconds(0));
  c = mustParse(head + "  pool: { max_age: 2m }\n" + tail);
  EXPECT_EQ(c.upstream.max_age, std::chrono::minutes(2));
  EXPECT_THAT(errorsOf(head + "  pool: { max_age: soon }\n" + tail),
              HasSubstr("upstream.pool.max_age"));
}

}  // namespace
}  // namespace cosmoseal::proxy
