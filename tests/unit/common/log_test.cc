#include "common/log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace cosmoseal::common {
namespace {

std::string captureLine(LogLevel level, LogLevel threshold) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  log::setFdForTest(fds[1]);
  LogLevel old = log::level();
  log::setLevel(threshold);
  switch (level) {
    case LogLevel::kDebug: COSMOSEAL_LOG(kDebug) << "value=" << 42; break;
    case LogLevel::kWarn: COSMOSEAL_LOG(kWarn) << "value=" << 42; break;
    default: COSMOSEAL_LOG(kInfo) << "value=" << 42; break;
  }
  log::setLevel(old);
  log::setFdForTest(-1);
  close(fds[1]);
  char buf[512];
  ssize_t n = read(fds[0], buf, sizeof(buf));
  close(fds[0]);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

TEST(LogTest, WritesOneLineWithLevel) {
  std::string line = captureLine(LogLevel::kWarn, LogLevel::kInfo);
  EXPECT_NE(line.find(" warn "), std::string::npos) << line;
  EXPECT_NE(line.find("value=42\n"), std::string::npos) << line;
}

TEST(LogTest, SuppressedBelowThreshold) {
  EXPECT_EQ(captureLine(LogLevel::kDebug, LogLevel::kInfo), "");
}

TEST(LogTest, ParseLevel) {
  LogLevel l;
  EXPECT_TRUE(log::parseLevel("debug", &l));
  EXPECT_EQ(l, LogLevel::kDebug);
  EXPECT_FALSE(log::parseLevel("loud", &l));
}

}  // namespace
}  // namespace cosmoseal::common
