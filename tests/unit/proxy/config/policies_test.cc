// The policies section (proxy/config/policies.cc), through the whole-file loader.
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

std::string policyConfig(const std::string& policies) {
  return std::string(kMinimal) + "keys: { keyring_file: kr, kek_file: kek }\n" + policies;
}

TEST(ConfigPolicyTest, PartitionKeyAndFieldShapes) {
  Config c = mustParse(policyConfig(R"(policies:
  - database: shop
    container: orders
    partition_key: /customerId
    fields: [ { path: /customerId, mode: deterministic, key: pii } ]
  - database: shop
    container: events
    partition_key: [/tenant, /user/id]
    fields: [ { path: "/a~1b/~0c", mode: randomized, key: k2 } ]
)"));
  ASSERT_EQ(c.policies.size(), 2u);
  EXPECT_EQ(c.policies[0].partition_key_paths, std::vector<std::string>{"/customerId"});
  EXPECT_EQ(c.policies[0].partition_key_pos.line, 12);
  EXPECT_EQ(c.policies[0].partition_key_pos.column, 20);
  EXPECT_EQ(c.policies[1].partition_key_paths,
            (std::vector<std::string>{"/tenant", "/user/id"}));
  EXPECT_EQ(c.policies[1].fields[0].path, "/a~1b/~0c");
}

TEST(ConfigPolicyTest, FieldErrorsWithPositions) {
  std::string msg = errorsOf(policyConfig(R"(policies:
  - database: shop
    container: customers
    partition_key: /pk
    fields:
      - { path: /pk, mode: randomized, key: pii }
      - { path: /id, mode: deterministic, key: pii }
      - { path: /_ts, mode: deterministic, key: pii }
      - { path: /ttl, mode: deterministic, key: pii }
      - { path: ssn, mode: deterministic, key: pii }
      - { path: /a//b, mode: deterministic, key: pii }
      - { path: /a/, mode: deterministic, key: pii }
      - { path: /a~2, mode: deterministic, key: pii }
      - { path: /cards/*/number, mode: randomized, key: pii }
      - { path: /cards/0, mode: randomized, key: pii }
      - { path: /x, mode: fast, key: pii }
      - { path: /y, mode: randomized }
      - { path: /z, mode: randomized, key: "" }
  - database: shop
    container: customers
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
  - database: shop
    container: other
    fields: []
)"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:14:17: policies[0].fields[0].mode: path '/pk' matches the "
                             "partition-key path '/pk' and is randomized, but a protected "
                             "partition-key path must be deterministic; expected mode: "
                             "deterministic"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:15:17: policies[0].fields[1].path: path '/id' would encrypt "
                             "the document id"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:16:17: policies[0].fields[2].path: path '/_ts' is a system "
                             "property"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:17:17: policies[0].fields[3].path: path '/ttl' would "
                             "encrypt ttl"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:18:17: policies[0].fields[4].path: path 'ssn' does not "
                             "start with '/'"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:19:17: policies[0].fields[5].path: path '/a//b' has an "
                             "empty segment"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:20:17: policies[0].fields[6].path: path '/a/' ends with "
                             "'/'"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:21:17: policies[0].fields[7].path: path '/a~2' has a '~' "
                             "not followed by 0 or 1"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:23:17: policies[0].fields[9].path: path '/cards/0' overlaps "
                             "'/cards/*/number' (policies[0].fields[8] at t.yaml:22:17)"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:24:27: policies[0].fields[10].mode: 'fast' is not allowed; "
                             "expected one of: randomized, deterministic"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:25:9: policies[0].fields[11].key: missing; expected the "
                             "name of a keyring key"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:26:17: policies[0].fields[12].key: key name is empty"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:27:5: policies[1]: duplicate policy for database 'shop', "
                             "container 'customers' (first in policies[0] at t.yaml:10:5); "
                             "expected one policy per container"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:30:5: policies[2].fields: no fields; expected at least one "
                             "field"));
  EXPECT_EQ(lineCount(msg), 14u) << msg;
  // Every line has the required shape.
  std::istringstream lines(msg);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_THAT(line, ::testing::MatchesRegex("t\\.yaml:[0-9]+:[0-9]+: [^:]+: .*; expected .*"))
        << line;
  }
}

TEST(ConfigPolicyTest, BadPartitionKeyPath) {
  std::string msg = errorsOf(policyConfig(R"(policies:
  - database: shop
    container: c
    partition_key: [/a/*, /b, /b]
    fields: [ { path: /x, mode: randomized, key: pii } ]
)"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:12:20: policies[0].partition_key: partition-key path "
                             "'/a/*' contains '*'; expected a path without wildcards"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:12:20: policies[0].partition_key: partition-key path '/b' "
                             "is listed twice"));
}

TEST(ConfigPolicyTest, TypeErrorsAreReportedOnce) {
  // A field whose path is a list is reported by the loader and not again by the policy checks.
  std::string msg = errorsOf(policyConfig(R"(policies:
  - database: [shop]
    container: c
    fields:
      - { path: [a], mode: randomized, key: pii }
      - { path: /b, mode: randomized, key: pii }
)"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:10:15: policies[0].database: is a list; expected a database "
                             "name"));
  EXPECT_THAT(msg, HasSubstr("t.yaml:13:17: policies[0].fields[0].path: is a list; expected a "
                             "field path"));
  EXPECT_EQ(lineCount(msg), 2u) << msg;
}

TEST(ConfigPolicyTest, Migration) {
  Config c = mustParse(policyConfig(R"(policies:
  - database: shop
    container: a
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
  - database: shop
    container: b
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration: {}
  - database: shop
    container: c
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration: { lease_container: jobs, equality: match_both, poll: 5s }
  - database: shop
    container: d
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration:
)"));
  ASSERT_EQ(c.policies.size(), 4u);
  EXPECT_FALSE(c.policies[0].migration.enabled);
  EXPECT_TRUE(c.policies[1].migration.enabled);
  EXPECT_EQ(c.policies[1].migration.lease_container, "cosmoseal-leases");
  EXPECT_EQ(c.policies[1].migration.equality, policy::MixedEquality::kRefuse);
  EXPECT_EQ(c.policies[1].migration.poll_ms, 30000u);
  EXPECT_TRUE(c.policies[2].migration.enabled);
  EXPECT_EQ(c.policies[2].migration.lease_container, "jobs");
  EXPECT_EQ(c.policies[2].migration.equality, policy::MixedEquality::kMatchBoth);
  EXPECT_EQ(c.policies[2].migration.poll_ms, 5000u);
  EXPECT_TRUE(c.policies[3].migration.enabled);
}

TEST(ConfigPolicyTest, MigrationErrors) {
  std::string msg = errorsOf(policyConfig(R"(policies:
  - database: shop
    container: a
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration: { equality: both, poll: 10ms, lease_container: "a/b", lease: x }
  - database: shop
    container: b
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration: { equality: match_both, poll: 0s }
  - database: shop
    container: c
    fields: [ { path: /ssn, mode: deterministic, key: pii } ]
    migration: [ refuse ]
)"));
  EXPECT_THAT(msg, HasSubstr("policies[0].migration"));
  EXPECT_THAT(msg, HasSubstr("lease"));
  EXPECT_THAT(msg, HasSubstr("policies[1].migration.poll"));
  EXPECT_THAT(msg, HasSubstr("policies[2].migration"));
}

}  // namespace
}  // namespace cosmoseal::proxy
