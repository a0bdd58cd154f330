// `cosmoseal audit verify`: the command around proxy's verifyAuditText (whose chain checks are
// tested in tests/unit/proxy/observability/audit_test.cc).
#include "cli/audit_verify.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "proxy/observability/audit.h"

namespace cosmoseal::cli {
namespace {

class AuditVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-audit-verify-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.log";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void writeRecords(int count) {
    proxy::AuditConfig c;
    c.enabled = true;
    c.path = path_;
    auto log = proxy::AuditLog::open(c);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    for (int i = 0; i < count; ++i) {
      auto slot = (*log)->admit();
      ASSERT_TRUE(slot.isOk());
      proxy::AuditRecord r;
      r.time_ms = 1795352747000 + i;
      r.client = "orders-api";
      r.verb = "POST";
      r.id = "c" + std::to_string(i);
      r.status = 201;
      slot->submit(std::move(r));
    }
    (*log)->close();
  }

  int verify(const Args& args) {
    out_.str("");
    err_.str("");
    return runAuditVerify(args, out_, err_);
  }

  std::string dir_, path_;
  std::ostringstream out_, err_;
};

TEST_F(AuditVerifyTest, VerifyCli) {
  writeRecords(2);
  EXPECT_EQ(verify({path_}), 0);
  // Two records and the audit_started record every open writes first.
  EXPECT_EQ(out_.str(), "audit verify OK: 3 records, sequence and hash chain intact\n");
  std::ofstream(path_, std::ios::app) << "{\"seq\":9}\n";
  EXPECT_EQ(verify({path_}), 1);
  EXPECT_EQ(err_.str().rfind("audit verify FAILED: " + path_ + ":4: ", 0), 0u) << err_.str();
}

TEST_F(AuditVerifyTest, UsageAndUnreadableFiles) {
  EXPECT_EQ(verify({}), 2);
  EXPECT_EQ(err_.str().rfind("usage: cosmoseal audit verify FILE [FILE...]\n", 0), 0u);
  EXPECT_EQ(verify({"--help"}), 0);
  EXPECT_EQ(out_.str().rfind("usage: cosmoseal audit verify FILE [FILE...]\n", 0), 0u);
  EXPECT_EQ(verify({dir_ + "/missing.log"}), 1);
  EXPECT_EQ(err_.str(), "cosmoseal audit verify: cannot read " + dir_ +
                            "/missing.log: No such file or directory\n");
  EXPECT_EQ(verify({"--colour"}), 2);
  EXPECT_EQ(err_.str().rfind("cosmoseal audit verify: unknown option '--colour'\n", 0), 0u);
}

}  // namespace
}  // namespace cosmoseal::cli
