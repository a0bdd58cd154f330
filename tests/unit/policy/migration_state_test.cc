// Tests of policy/migration_state.cc: the migration state document the sidecar reads.

#include "policy/migration_state.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "policy/details.h"

namespace cosmoseal::policy {
namespace {

using ::testing::HasSubstr;

TEST(MigrationStateTest, Id) {
  EXPECT_EQ(migrationStateId("shop", "customers"), "state.shop.customers");
}

TEST(MigrationStateTest, ParsesAndDecides) {
  auto doc = parseMigrationState(
      R"({"id":"state.shop.customers","kind":"cosmoseal.migration.state","database":"shop",
          "container":"customers","job":"enc-1","operation":"encrypt","phase":"running",
          "started_at":"2026-12-06T18:00:00Z","updated_at":"2026-12-06T18:05:00Z",
          "report":{"scanned":10},"_etag":"\"x\"","_ts":1})",
      "shop", "customers");
  ASSERT_TRUE(doc.isOk()) << doc.status().toString();
  EXPECT_EQ(doc->job, "enc-1");
  EXPECT_EQ(doc->operation, "encrypt");
  EXPECT_EQ(doc->phase, "running");
  EXPECT_TRUE(migrationLeavesMixed(*doc));
  EXPECT_EQ(describeMigrationState(*doc, "state.shop.customers"),
            "migration job 'enc-1' (encrypt) is in phase running (updated "
            "2026-12-06T18:05:00Z); state document state.shop.customers");
  for (const char* phase : {"done", "failed", "running", "unknown-future-phase"}) {
    MigrationStateDoc d = *doc;
    d.phase = phase;
    EXPECT_TRUE(migrationLeavesMixed(d)) << phase;
  }
  MigrationStateDoc d = *doc;
  d.phase = "verified";
  EXPECT_FALSE(migrationLeavesMixed(d));
  d.operation = "rotate";
  EXPECT_FALSE(migrationLeavesMixed(d));
  d.operation = "decrypt";  // verified plaintext: sealed literals match nothing
  EXPECT_TRUE(migrationLeavesMixed(d));
}

TEST(MigrationStateTest, RefusesWhatIsNotAStateDocument) {
  for (const char* body : {
           "",
           "[]",
           "not json",
           R"({"kind":"cosmoseal.migration.lease","phase":"verified"})",
           R"({"phase":"verified"})",
           R"({"kind":"cosmoseal.migration.state"})",
           R"({"kind":"cosmoseal.migration.state","phase":7})",
           R"({"kind":"cosmoseal.migration.state","phase":"verified","database":"other"})",
           R"({"kind":"cosmoseal.migration.state","phase":"verified","container":"other"})",
       }) {
    auto doc = parseMigrationState(body, "shop", "customers");
    ASSERT_FALSE(doc.isOk()) << body;
    EXPECT_EQ(doc.status().detail(), policy_detail::kBadMigrationState) << body;
  }
  auto doc = parseMigrationState(R"({"kind":"cosmoseal.migration.state","phase":"verified",
      "database":"other","container":"customers"})",
                                 "shop", "customers");
  ASSERT_FALSE(doc.isOk());
  EXPECT_THAT(std::string(doc.status().message()), HasSubstr("another container"));
}

}  // namespace
}  // namespace cosmoseal::policy
