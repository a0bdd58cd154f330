// The YAML reader of the config loader, driven directly: typed reads, the mapping checks, and
// one sorted error list. (Whole files are covered by loader_test.cc.)
#include "proxy/config/reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cosmoseal::proxy::config {
namespace {

using ::testing::HasSubstr;

TEST(ConfigReaderTest, TypedReadsReportAndKeepDefaults) {
  const YAML::Node doc = YAML::Load("port: 70000\nflag: yes\nfile: sub/../k.pem\nwait: 5s\n");
  Reader reader("/etc/c.yaml", "/etc");
  MapReader m(reader, doc, doc.Mark(), "", {"port", "flag", "file", "wait"});
  ASSERT_TRUE(m.ok());
  uint16_t port = 8081;
  bool flag = false;
  std::string file;
  std::chrono::milliseconds wait{};
  EXPECT_FALSE(reader.port(*m.get("port"), &port));
  EXPECT_EQ(port, 8081);
  EXPECT_FALSE(reader.boolean(*m.get("flag"), &flag));
  ASSERT_TRUE(reader.path(*m.get("file"), &file));
  EXPECT_EQ(file, "/etc/k.pem");
  ASSERT_TRUE(reader.duration(*m.get("wait"), std::chrono::milliseconds(1), &wait));
  EXPECT_EQ(wait.count(), 5000);

  const common::Status s = reader.finish();
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.detail(), "config.invalid");
  EXPECT_EQ(std::string(s.message()),
            "/etc/c.yaml:1:7: port: 70000 is out of range; expected an integer 1-65535\n"
            "/etc/c.yaml:2:7: flag: 'yes' is not a boolean; expected true or false");
}

TEST(ConfigReaderTest, MappingChecksAndSortedErrors) {
  const YAML::Node doc = YAML::Load("timeout: 1\nlisten: 2\nlisten: 3\n");
  Reader reader("c.yaml", "");
  // Reported out of order on purpose: finish() sorts by position.
  reader.error(doc["timeout"].Mark(), "late", "reported first");
  MapReader m(reader, doc, doc.Mark(), "", {"listen", "timeouts"});
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m.require("admin", "an admin section"), nullptr);
  EXPECT_NE(m.get("listen"), nullptr);
  EXPECT_EQ(m.childPath("x"), "x");

  const std::string msg(reader.finish().message());
  EXPECT_THAT(msg, HasSubstr("c.yaml:1:1: timeout: unknown key 'timeout' (did you mean "
                             "'timeouts'?); expected one of: listen, timeouts"));
  EXPECT_THAT(msg, HasSubstr("c.yaml:3:1: listen: duplicate key 'listen' (first at line 2, "
                             "column 1); expected each key once"));
  EXPECT_THAT(msg, HasSubstr("c.yaml:1:1: admin: missing; expected an admin section"));
  EXPECT_LT(msg.find("late: reported first"), msg.find("listen: duplicate"));

  Reader scalar_reader("s.yaml", "");
  MapReader not_a_map(scalar_reader, YAML::Load("[1, 2]"), YAML::Mark(), "limits", {"a"});
  EXPECT_FALSE(not_a_map.ok());
  EXPECT_THAT(std::string(scalar_reader.finish().message()),
              HasSubstr("limits: is a list; expected a mapping with keys: a"));
}

}  // namespace
}  // namespace cosmoseal::proxy::config
