// The clients section (proxy/config/clients.cc), through the whole-file loader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/unit/proxy/config/test_util.h"

namespace cosmoseal::proxy {
namespace {

using ::testing::HasSubstr;
using config_test::errorsOf;
using config_test::kMinimal;
using config_test::lineCount;
using config_test::mustParse;

TEST(ConfigTest, RateBurstDefaultsToRate) {
  std::string text = kMinimal;
  std::string client = "    key_file: /k/app\n";
  text.replace(text.find(client), client.size(),
               client + "    rate: { requests_per_second: 20 }\n");
  EXPECT_DOUBLE_EQ(mustParse(text).clients[0].rate.burst, 20);
}

TEST(ConfigErrorTest, Clients) {
  const std::string head = R"(upstream:
  endpoint: https://acct.documents.azure.com:443/
  key_file: /k/account
)";
  EXPECT_THAT(errorsOf(head + "clients: []\n"),
              HasSubstr("t.yaml:4:10: clients: is an empty list; expected at least one client"));
  std::string msg = errorsOf(head + R"(clients:
  - name: app
    key_file: /k/a
    allow: [ { database: shop, containers: [], access: write } ]
  - name: app
    key_file: /k/b
    allow: [ { database: "a/b", containers: [x] } ]
  - name: ""
    key_file: /k/c
    allow: []
  - key_file: /k/d
    allow: [ { containers: [ok] } ]
)");
  EXPECT_THAT(msg, HasSubstr("t.yaml:7:44: clients[0].allow[0].containers: is an empty list; "
                             "expected at least one container name"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:7:56: clients[0].allow[0].access: 'write' is not allowed; "
                             "expected one of: read, read-write"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:8:11: clients[1].name: duplicate client name 'app' (first "
                             "at line 5, column 11); expected unique names"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:10:26: clients[1].allow[0].database: database name 'a/b' "
                             "contains '/'; expected a Cosmos id"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:11:11: clients[2].name: is an empty string; expected 1-64 "
                             "characters"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:13:12: clients[2].allow: is an empty list; expected at "
                             "least one rule"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:14:5: clients[3].name: missing; expected a client name"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:15:14: clients[3].allow[0].database: missing; expected a "
                             "database name"));
  EXPECT_EQ(lineCount(msg), 8u);
}

}  // namespace
}  // namespace cosmoseal::proxy
