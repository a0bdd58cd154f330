#include "crypto/internal/ttlv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace cosmoseal::crypto::ttlv {
namespace {

std::vector<uint8_t> hex(std::string_view h) {
  std::string digits;
  for (char c : h) {
    if (c != ' ') digits += c;
  }
  auto nib = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(nib(digits[i]) << 4 | nib(digits[i + 1])));
  }
  return out;
}

// The KMIP 1.4 test-case encodings (spec §9.1.2 examples).
TEST(TtlvWriterTest, EncodesEachTypeAsTheSpecShows) {
  uint8_t buf[256];
  Writer w(buf);
  w.integer(0x420020, 8);
  w.enumeration(0x420020, 255);
  w.boolean(0x420020, true);
  w.text(0x420020, "Hello World");
  w.bytes(0x420020, std::vector<uint8_t>{1, 2, 3});
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(std::vector<uint8_t>(w.encoded().begin(), w.encoded().end()),
            hex("42002002 00000004 00000008 00000000"
                "42002005 00000004 000000FF 00000000"
                "42002006 00000008 00000000 00000001"
                "42002007 0000000B 48656C6C 6F20576F 726C6400 00000000"
                "42002008 00000003 01020300 00000000"));
}

TEST(TtlvWriterTest, StructureLengthsAreFilledInWhenClosed) {
  uint8_t buf[64];
  Writer w(buf);
  w.beginStructure(0x420020);
  w.enumeration(0x420004, 254);
  w.integer(0x420005, 255);
  w.endStructure();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(std::vector<uint8_t>(w.encoded().begin(), w.encoded().end()),
            hex("42002001 00000020 42000405 00000004 000000FE 00000000"
                "42000502 00000004 000000FF 00000000"));
}

TEST(TtlvWriterTest, ReportsOverflowAndUnbalancedStructures) {
  uint8_t small[20];
  Writer w(small);
  w.text(0x420020, "more than twelve bytes");
  EXPECT_FALSE(w.ok());
  uint8_t buf[64];
  Writer open(buf);
  open.beginStructure(0x420020);
  EXPECT_FALSE(open.ok());
  Writer extra(buf);
  extra.endStructure();
  EXPECT_FALSE(extra.ok());
  Writer deep(buf);
  for (int i = 0; i <= kMaxDepth; ++i) deep.beginStructure(0x420020);
  EXPECT_FALSE(deep.ok());
}

TEST(TtlvReaderTest, DecodesWhatTheWriterWrote) {
  uint8_t buf[256];
  Writer w(buf);
  w.beginStructure(0x42007B);
  w.integer(0x42006A, -3);
  w.text(0x420094, "uid-1");
  w.beginStructure(0x42000F);
  w.boolean(0x420120, false);
  w.bytes(0x4200C2, std::vector<uint8_t>(17, 0xAB));
  w.endStructure();
  w.endStructure();
  ASSERT_TRUE(w.ok());

  Reader top(w.encoded());
  Item msg;
  ASSERT_TRUE(top.next(&msg));
  EXPECT_EQ(msg.tag, 0x42007Bu);
  EXPECT_EQ(msg.type, Type::kStructure);
  Error err = Error::kNone;
  auto body = top.open(msg, &err);
  Item rest;
  EXPECT_FALSE(top.next(&rest));
  EXPECT_TRUE(top.atEnd());
  ASSERT_TRUE(body.has_value());
  EXPECT_EQ(body->find(0x42006A)->asInteger(), -3);
  EXPECT_EQ(body->find(0x420094)->asText(), "uid-1");
  EXPECT_FALSE(body->find(0x420094)->asInteger().has_value()) << "type is checked";
  auto inner = body->open(*body->find(0x42000F), &err);
  ASSERT_TRUE(inner.has_value());
  EXPECT_EQ(inner->find(0x420120)->asBoolean(), false);
  EXPECT_EQ(inner->find(0x4200C2)->asBytes()->size(), 17u);
  EXPECT_FALSE(inner->find(0x420999).has_value());
  Item it;
  int n = 0;
  while (inner->next(&it)) ++n;
  EXPECT_EQ(n, 2);
  EXPECT_TRUE(inner->atEnd());
}

TEST(TtlvReaderTest, RefusesTruncatedInputAtEveryLength) {
  uint8_t buf[128];
  Writer w(buf);
  w.beginStructure(0x42007B);
  w.text(0x420094, "a unique identifier");
  w.integer(0x42006A, 1);
  w.endStructure();
  ASSERT_TRUE(w.ok());
  const auto full = w.encoded();
  for (size_t len = 1; len < full.size(); ++len) {
    Reader r(full.first(len));
    Item item;
    EXPECT_FALSE(r.next(&item)) << "a " << len << "-byte prefix decoded";
    EXPECT_EQ(r.error(), Error::kTruncated) << len;
  }
}

TEST(TtlvReaderTest, RefusesOversizedLengthsBadTypesAndPadding) {
  // Length larger than the input (a hostile server claiming 4 GiB).
  auto big = hex("42009407 FFFFFFF8 41414141 41414141");
  Reader r1(big);
  Item item;
  EXPECT_FALSE(r1.next(&item));
  EXPECT_EQ(r1.error(), Error::kTruncated);
  // A fixed-size type with the wrong length.
  auto badlen = hex("42006A02 00000008 00000000 00000001");
  Reader r2(badlen);
  EXPECT_FALSE(r2.next(&item));
  EXPECT_EQ(r2.error(), Error::kBadLength);
  // A structure whose length is not a multiple of 8.
  auto badstruct = hex("42007B01 00000004 00000000 00000000");
  Reader r3(badstruct);
  EXPECT_FALSE(r3.next(&item));
  EXPECT_EQ(r3.error(), Error::kBadLength);
  // Unknown type 0x0B and type 0.
  for (const char* t : {"42009A0B 00000000", "42009A00 00000000"}) {
    auto unknown = hex(t);
    Reader r(unknown);
    EXPECT_FALSE(r.next(&item));
    EXPECT_EQ(r.error(), Error::kBadType);
  }
  // Non-zero padding after a 3-byte string.
  auto pad = hex("42009407 00000003 41424301 00000000");
  Reader r4(pad);
  EXPECT_FALSE(r4.next(&item));
  EXPECT_EQ(r4.error(), Error::kBadPadding);
  // A boolean that is neither 0 nor 1.
  auto boolean = hex("42012006 00000008 00000000 00000002");
  Reader r5(boolean);
  ASSERT_TRUE(r5.next(&item));
  EXPECT_FALSE(item.asBoolean().has_value());
}

TEST(TtlvReaderTest, BoundsNesting) {
  // kMaxDepth + 1 nested empty-ended structures, built by hand from the inside out.
  std::vector<uint8_t> bytes;
  for (int i = 0; i <= kMaxDepth; ++i) {
    std::vector<uint8_t> outer = hex("42000101 00000000");
    const uint32_t n = static_cast<uint32_t>(bytes.size());
    outer[4] = static_cast<uint8_t>(n >> 24);
    outer[5] = static_cast<uint8_t>(n >> 16);
    outer[6] = static_cast<uint8_t>(n >> 8);
    outer[7] = static_cast<uint8_t>(n);
    outer.insert(outer.end(), bytes.begin(), bytes.end());
    bytes = std::move(outer);
  }
  std::optional<Reader> r = Reader(bytes);
  Error err = Error::kNone;
  int depth = 0;
  Item item;
  while (r && r->next(&item)) {
    r = r->open(item, &err);
    ++depth;
  }
  EXPECT_EQ(err, Error::kTooDeep);
  EXPECT_LT(depth, kMaxDepth + 1);
}

TEST(TtlvMessageSizeTest, ChecksTagTypeAndBound) {
  const auto ok = hex("42007B01 00000010");
  EXPECT_EQ(
      messageSize(std::span<const uint8_t, kHeaderSize>(ok.data(), kHeaderSize), 0x42007B, 1024),
      24u);
  EXPECT_FALSE(
      messageSize(std::span<const uint8_t, kHeaderSize>(ok.data(), kHeaderSize), 0x420078, 1024));
  const auto huge = hex("42007B01 7FFFFFF8");
  EXPECT_FALSE(messageSize(std::span<const uint8_t, kHeaderSize>(huge.data(), kHeaderSize),
                           0x42007B, 65536));
  const auto odd = hex("42007B01 00000011");
  EXPECT_FALSE(
      messageSize(std::span<const uint8_t, kHeaderSize>(odd.data(), kHeaderSize), 0x42007B, 1024));
  const auto text = hex("42007B07 00000010");
  EXPECT_FALSE(
      messageSize(std::span<const uint8_t, kHeaderSize>(text.data(), kHeaderSize), 0x42007B, 1024));
}

}  // namespace
}  // namespace cosmoseal::crypto::ttlv
