#include "proxy/observability/audit.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

namespace cosmoseal::proxy {
namespace {

using common::Status;

std::string readFile(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::string& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

AuditRecord record(int i) {
  AuditRecord r;
  r.time_ms = 1795352747000 + i;
  r.client = "orders-api";
  r.verb = "POST";
  r.resource = "document_feed";
  r.database = "shop";
  r.container = "customers";
  r.id = "c" + std::to_string(i);
  r.operation = "create";
  r.status = 201;
  r.upstream_status = 201;
  r.latency_us = 1200;
  r.request_charge = "6.29";
  r.encrypted = 3;
  r.key_ids = {0x9f3a01c2};
  return r;
}

class AuditTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-audit-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/audit.log";
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  void writeRecords(const std::string& path, int from, int count) {
    AuditConfig c;
    c.enabled = true;
    c.path = path;
    auto log = AuditLog::open(c);
    ASSERT_TRUE(log.isOk()) << log.status().toString();
    for (int i = from; i < from + count; ++i) {
      auto slot = (*log)->admit();
      ASSERT_TRUE(slot.isOk());
      slot->submit(record(i));
    }
    (*log)->close();
    // Every open writes its audit_started record first.
    EXPECT_EQ((*log)->stats().written, static_cast<uint64_t>(count) + 1);
  }

  Status verify(const std::vector<std::string>& files) {
    std::vector<std::string> texts;
    for (const auto& f : files) texts.push_back(readFile(f));
    uint64_t n = 0;
    Status s = verifyAuditText(texts, files, &n);
    records_ = n;
    return s;
  }

  std::string dir_, path_;
  uint64_t records_ = 0;
};

TEST_F(AuditTest, LinesAreChainedAndVerify) {
  writeRecords(path_, 0, 5);
  struct stat st;
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = readFile(path_);
  EXPECT_EQ(text.rfind("{\"seq\":1,\"time\":\"", 0), 0u) << text.substr(0, 80);
  EXPECT_NE(text.substr(0, text.find('\n')).find("\"event\":\"audit_started\""),
            std::string::npos);
  EXPECT_NE(text.find("{\"seq\":2,\"time\":\"2026-11-22T"), std::string::npos);
  EXPECT_NE(text.find("\"keys\":[\"9f3a01c2\"]"), std::string::npos);
  ASSERT_TRUE(verify({path_}).isOk());
  EXPECT_EQ(records_, 6u);
}

TEST_F(AuditTest, RestartContinuesTheChain) {
  writeRecords(path_, 0, 3);
  writeRecords(path_, 3, 2);
  ASSERT_TRUE(verify({path_}).isOk()) << verify({path_}).toString();
  EXPECT_EQ(records_, 7u);  // two starts + 5 records, one chain
  EXPECT_NE(readFile(path_).find("{\"seq\":7,"), std::string::npos);
}

TEST_F(AuditTest, DetectsEditsDeletionsAndReordering) {
  writeRecords(path_, 0, 4);
  const std::string text = readFile(path_);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 5u);  // audit_started + 4 records
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += l + "\n";
    return s;
  };
  // Edit: a status changed on line 3.
  std::vector<std::string> edited = lines;
  edited[2].replace(edited[2].find("\"status\":201"), 12, "\"status\":200");
  writeFile(path_, join(edited));
  Status s = verify({path_});
  EXPECT_EQ(s.detail(), "audit.chain_broken");
  EXPECT_NE(s.message().find(":3:"), std::string_view::npos) << s.message();
  // Deletion of line 3.
  writeFile(path_, join({lines[0], lines[1], lines[3], lines[4]}));
  s = verify({path_});
  EXPECT_EQ(s.detail(), "audit.chain_broken");
  EXPECT_NE(s.message().find(":3:"), std::string_view::npos) << s.message();
  // Reordering.
  writeFile(path_, join({lines[0], lines[1], lines[3], lines[2], lines[4]}));
  EXPECT_EQ(verify({path_}).detail(), "audit.chain_broken");
  // Garbage line.
  writeFile(path_, join({lines[0], "not a record", lines[1]}));
  EXPECT_EQ(verify({path_}).detail(), "audit.bad_line");
  // The untouched log still verifies.
  writeFile(path_, text);
  EXPECT_TRUE(verify({path_}).isOk());
}

TEST_F(AuditTest, RotationLinksFiles) {
  AuditConfig c;
  c.enabled = true;
  c.path = path_;
  auto log = AuditLog::open(c);
  ASSERT_TRUE(log.isOk());
  for (int i = 0; i < 3; ++i) (*log)->admit()->submit(record(i));
  // Wait until written, then rotate like logrotate does (rename, then signal).
  for (int i = 0; i < 200 && (*log)->stats().written < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string old = dir_ + "/audit.log.1";
  ASSERT_EQ(rename(path_.c_str(), old.c_str()), 0);
  (*log)->requestReopen();
  for (int i = 0; i < 200 && (*log)->stats().reopens < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int i = 3; i < 5; ++i) (*log)->admit()->submit(record(i));
  (*log)->close();
  EXPECT_TRUE(verify({old, path_}).isOk()) << verify({old, path_}).toString();
  EXPECT_EQ(records_, 6u);  // audit_started + 5
  EXPECT_TRUE(verify({path_}).isOk());  // alone: anchored at its first record
  EXPECT_EQ(verify({path_, old}).detail(), "audit.chain_broken");  // wrong order
}

TEST_F(AuditTest, RequiredModeRefusesWhenFullOrFailing) {
  AuditConfig c;
  c.enabled = true;
  c.required = true;
  c.queue_size = 2;
  c.path = path_;
  auto log = AuditLog::open(c);
  ASSERT_TRUE(log.isOk());
  auto a = (*log)->admit();
  auto b = (*log)->admit();
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(b.isOk());
  auto full = (*log)->admit();
  ASSERT_FALSE(full.isOk());
  EXPECT_EQ(full.status().detail(), "audit.unavailable");
  EXPECT_EQ(full.status().httpStatus(), 503);
  a = common::StatusOr<AuditSlot>(AuditSlot());  // an unsubmitted slot gives its place back
  EXPECT_TRUE((*log)->admit().isOk());
  (*log)->close();

  // /dev/full: every write fails with ENOSPC. Required: cosmoseal must not even start.
  AuditConfig f = c;
  f.path = "/dev/full";
  auto refused_start = AuditLog::open(f);
  ASSERT_FALSE(refused_start.isOk());
  EXPECT_EQ(refused_start.status().detail(), "audit.unavailable");
  // Not required: it starts, drops records and counts the failures.
  f.required = false;
  auto lax = AuditLog::open(f);
  ASSERT_TRUE(lax.isOk());
  (*lax)->admit()->submit(record(0));
  for (int i = 0; i < 200 && (*lax)->stats().write_failures < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE((*lax)->stats().write_failures, 1u);
  EXPECT_TRUE((*lax)->admit().isOk());  // not required: requests keep flowing
  (*lax)->close();
}

}  // namespace
}  // namespace cosmoseal::proxy
