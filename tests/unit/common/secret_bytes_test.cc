#include "common/secret_bytes.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace cosmoseal::common {
namespace {

struct Observed {
  int calls = 0;
  bool all_zero = true;
  size_t mapped = 0;
};
Observed g_observed;

void observe(const uint8_t* data, size_t mapped) {
  ++g_observed.calls;
  g_observed.mapped = mapped;
  for (size_t i = 0; i < mapped; ++i) {
    if (data[i] != 0) g_observed.all_zero = false;
  }
}

TEST(SecretBytesTest, CopyAndAccess) {
  const char kKey[] = "0123456789abcdef0123456789abcdef";
  auto s = SecretBytes::copyOf(std::string_view(kKey, 32));
  ASSERT_EQ(s.size(), 32u);
  EXPECT_EQ(std::memcmp(s.data(), kKey, 32), 0);
  auto c = s.clone();
  EXPECT_TRUE(c.constantTimeEquals(s));
  c.data()[0] ^= 1;
  EXPECT_FALSE(c.constantTimeEquals(s));
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  auto a = SecretBytes::copyOf(std::string_view("secret"));
  SecretBytes b = std::move(a);
  EXPECT_EQ(b.size(), 6u);
  // The moved-from state is specified (empty, no mapping): reading it is the point of the test.
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move,clang-analyzer-cplusplus.Move)
  EXPECT_EQ(a.data(), nullptr);
}

TEST(SecretBytesTest, FreedBytesAreZeroedBeforeUnmap) {
  g_observed = {};
  SecretBytes::setReleaseObserverForTest(&observe);
  {
    std::vector<uint8_t> key(64, 0xA5);
    auto s = SecretBytes::copyOf(std::span<const uint8_t>(key));
    ASSERT_EQ(s.data()[10], 0xA5);
  }
  SecretBytes::setReleaseObserverForTest(nullptr);
  EXPECT_EQ(g_observed.calls, 1);
  EXPECT_GE(g_observed.mapped, 64u);
  EXPECT_TRUE(g_observed.all_zero);
}

TEST(SecretBytesTest, MoveAssignReleasesOldValue) {
  g_observed = {};
  SecretBytes::setReleaseObserverForTest(&observe);
  auto a = SecretBytes::copyOf(std::string_view("first-secret"));
  a = SecretBytes::copyOf(std::string_view("second"));
  EXPECT_EQ(g_observed.calls, 1);
  EXPECT_TRUE(g_observed.all_zero);
  SecretBytes::setReleaseObserverForTest(nullptr);
  EXPECT_EQ(a.size(), 6u);
}

TEST(SecretBytesTest, SecureZero) {
  char buf[16];
  std::memset(buf, 'x', sizeof(buf));
  secureZero(buf, sizeof(buf));
  for (char c : buf) EXPECT_EQ(c, 0);
}

// The string helpers keep plaintext out of freed heap blocks (issue 13, finding 3).
TEST(WipingStringTest, WipeStringZeroesTheWholeBlockAndKeepsIt) {
  std::string s(200, 'S');
  s.resize(10);  // 190 stale bytes stay in the block after a plain shrink
  const char* block = s.data();
  const size_t cap = s.capacity();
  wipeString(&s);
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.capacity(), cap);
  ASSERT_EQ(s.data(), block);
  s.resize(cap);  // look at the whole block through the string (resize within capacity)
  for (size_t i = 0; i < cap; ++i) ASSERT_EQ(s[i], '\0') << i;
}

TEST(WipingStringTest, WipeAndFreeReleasesTheBlock) {
  std::string s(500, 'x');
  wipeAndFree(&s);
  EXPECT_TRUE(s.empty());
  EXPECT_LT(s.capacity(), 500u);
}

TEST(WipingStringTest, AppendWipingKeepsContentsAndGrowsGeometrically) {
  std::string s;
  std::string expect;
  size_t reallocations = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string piece = "piece-" + std::to_string(i) + ";";
    const size_t cap = s.capacity();
    appendWiping(&s, piece);
    if (s.capacity() != cap) ++reallocations;
    expect += piece;
  }
  EXPECT_EQ(s, expect);
  EXPECT_LT(reallocations, 20u);
  reserveWiping(&s, s.size() + 100000);
  EXPECT_GE(s.capacity(), expect.size() + 100000);
  EXPECT_EQ(s, expect);
  const size_t cap = s.capacity();
  reserveWiping(&s, 1);  // never shrinks
  EXPECT_EQ(s.capacity(), cap);
}

}  // namespace
}  // namespace cosmoseal::common
