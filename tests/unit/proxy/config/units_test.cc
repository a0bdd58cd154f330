// The scalar syntaxes of units.h (durations, sizes, integers), used by the config file and by
// command-line flags.
#include "proxy/config/units.h"

#include <gtest/gtest.h>

namespace cosmoseal::proxy {
namespace {

TEST(ConfigScalarTest, Durations) {
  std::chrono::milliseconds d{};
  ASSERT_TRUE(parseDuration("250ms", &d));
  EXPECT_EQ(d.count(), 250);
  ASSERT_TRUE(parseDuration("5s", &d));
  EXPECT_EQ(d.count(), 5000);
  ASSERT_TRUE(parseDuration("2m", &d));
  EXPECT_EQ(d.count(), 120000);
  ASSERT_TRUE(parseDuration("1h", &d));
  EXPECT_EQ(d.count(), 3600000);
  ASSERT_TRUE(parseDuration("1500", &d));
  EXPECT_EQ(d.count(), 1500);
  ASSERT_TRUE(parseDuration("0", &d));
  EXPECT_EQ(d.count(), 0);
  ASSERT_TRUE(parseDuration("168h", &d));
  for (const char* bad : {"", "s", "5 s", "-5s", "+5s", "1.5s", "5S", "5sec", "5d", "169h",
                          "99999999999999999999999ms", "0x10", "5ms "}) {
    EXPECT_FALSE(parseDuration(bad, &d)) << bad;
  }
}

TEST(ConfigScalarTest, Sizes) {
  uint64_t v = 0;
  ASSERT_TRUE(parseSize("64KiB", &v));
  EXPECT_EQ(v, 65536u);
  ASSERT_TRUE(parseSize("4MiB", &v));
  EXPECT_EQ(v, 4u << 20);
  ASSERT_TRUE(parseSize("1GiB", &v));
  EXPECT_EQ(v, 1u << 30);
  ASSERT_TRUE(parseSize("512B", &v));
  EXPECT_EQ(v, 512u);
  ASSERT_TRUE(parseSize("1048576", &v));
  EXPECT_EQ(v, 1048576u);
  for (const char* bad : {"", "KiB", "64K", "64KB", "64kib", "4 MiB", "-1", "1.5MiB",
                          "99999999999999999999GiB", "18446744073709551616"}) {
    EXPECT_FALSE(parseSize(bad, &v)) << bad;
  }
}

TEST(ConfigScalarTest, UnsignedIntegers) {
  uint64_t v = 7;
  ASSERT_TRUE(parseU64("18446744073709551615", &v));
  EXPECT_EQ(v, UINT64_MAX);
  ASSERT_TRUE(parseU64("00443", &v));
  EXPECT_EQ(v, 443u);
  v = 7;
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1.0", "0x10", "18446744073709551616",
                          "000000000000000000001"}) {
    EXPECT_FALSE(parseU64(bad, &v)) << bad;
    EXPECT_EQ(v, 7u) << bad;  // untouched on failure
  }
}

}  // namespace
}  // namespace cosmoseal::proxy
