#include "crypto/base64.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <random>

namespace cosmoseal::crypto {
namespace {

TEST(Base64Test, Rfc4648Vectors) {
  EXPECT_EQ(base64Encode(std::string_view("")), "");
  EXPECT_EQ(base64Encode(std::string_view("f")), "Zg==");
  EXPECT_EQ(base64Encode(std::string_view("fo")), "Zm8=");
  EXPECT_EQ(base64Encode(std::string_view("foo")), "Zm9v");
  EXPECT_EQ(base64Encode(std::string_view("foob")), "Zm9vYg==");
  EXPECT_EQ(base64Encode(std::string_view("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64Encode(std::string_view("foobar")), "Zm9vYmFy");
  for (std::string_view s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto d = base64Decode(base64Encode(s));
    ASSERT_TRUE(d.isOk());
    EXPECT_EQ(*d, s);
  }
}

TEST(Base64Test, AppendKeepsExistingContent) {
  std::string out = "csx1:";
  const uint8_t b[] = {0xfb, 0xff, 0xbf};
  base64Append(b, &out);
  EXPECT_EQ(out, "csx1:+/+/");
}

TEST(Base64Test, RoundTripAllLengthsAndBytes) {
  std::mt19937 rng(7);
  for (size_t n = 0; n < 300; ++n) {
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng());
    const std::string enc = base64Encode(s);
    EXPECT_EQ(enc.size(), base64EncodedSize(n));
    auto d = base64Decode(enc);
    ASSERT_TRUE(d.isOk()) << n;
    EXPECT_EQ(*d, s);
  }
}

// The vectorised and table-driven paths against OpenSSL's encoder, every length to 1 KiB.
TEST(Base64Test, MatchesOpenSslEncoderForAllLengths) {
  std::mt19937 rng(11);
  for (size_t n = 0; n <= 1024; ++n) {
    std::vector<uint8_t> in(n);
    for (auto& b : in) b = static_cast<uint8_t>(rng());
    if (n % 7 == 0) std::fill(in.begin(), in.end(), 0xff);  // all-ones (63s)
    std::string want(base64EncodedSize(n) + 1, '\0');
    const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(want.data()), in.data(),
                                    static_cast<int>(n));
    want.resize(static_cast<size_t>(len));
    ASSERT_EQ(base64Encode(in), want) << n;
    // Decoding lands exactly on the input, with no writes past the decoded length.
    std::vector<uint8_t> out(base64DecodedMaxSize(want.size()) + 8, 0xa5);
    size_t got = 0;
    ASSERT_TRUE(base64DecodeTo(want, out.data(), &got));
    ASSERT_EQ(got, n);
    EXPECT_TRUE(std::equal(in.begin(), in.end(), out.begin()));
    for (size_t i = base64DecodedMaxSize(want.size()); i < out.size(); ++i) {
      ASSERT_EQ(out[i], 0xa5) << n;
    }
  }
}

TEST(Base64Test, StrictDecoderRefuses) {
  for (std::string_view bad : {
           "Zg=",        // length not a multiple of 4
           "Zg",         // missing padding
           "Zm9v\n",     // trailing newline
           "Zm 9v",      // space inside
           " Zm9v",      // leading space
           "Zm9v!A==",   // bad character
           "Zm9-",       // URL-safe alphabet
           "Zm9_",       //
           "Z===",       // too much padding
           "====",       //
           "Zg==Zg==",   // padding in the middle
           "Zh==",       // non-canonical: unused bits set ("Zg==" is canonical)
           "Zm9=",       // non-canonical two-byte tail ("Zm8=" is canonical)
           "Zg=A",       // '=' then data
           "Zm9vYg=\0",  //
       }) {
    auto d = base64Decode(bad);
    ASSERT_FALSE(d.isOk()) << bad;
    EXPECT_EQ(d.status().detail(), "crypto.bad_base64");
  }
  // Embedded NUL
  auto d = base64Decode(std::string_view("Zm\0v", 4));
  EXPECT_FALSE(d.isOk());
}

TEST(Base64Test, EveryNonAlphabetByteIsRefused) {
  for (int c = 0; c < 256; ++c) {
    const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '+' || c == '/';
    std::string s = "AAAA";
    s[1] = static_cast<char>(c);
    EXPECT_EQ(base64Decode(s).isOk(), alpha) << c;
  }
}

// Long inputs go through the vectorised validator: every byte value at every position before
// the final quad must be accepted exactly when it is in the alphabet.
TEST(Base64Test, EveryNonAlphabetByteIsRefusedInLongInputs) {
  std::vector<uint8_t> data(150);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 37 + 1);
  const std::string good = base64Encode(data);
  ASSERT_EQ(good.size(), 200u);
  std::vector<uint8_t> out(base64DecodedMaxSize(good.size()));
  for (size_t pos = 0; pos + 4 < good.size(); ++pos) {
    for (int c = 0; c < 256; ++c) {
      const bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '+' || c == '/';
      std::string s = good;
      s[pos] = static_cast<char>(c);
      size_t len = 0;
      ASSERT_EQ(base64DecodeTo(s, out.data(), &len), alpha) << pos << " " << c;
      if (alpha) {
        // Same as decoding with the 4-character scalar path, quad by quad.
        const size_t q = pos / 4 * 4;
        auto quad = base64Decode(s.substr(q, 4));
        ASSERT_TRUE(quad.isOk());
        EXPECT_EQ(std::string(reinterpret_cast<const char*>(out.data()) + q / 4 * 3, 3), *quad);
      }
    }
  }
}

TEST(Base64Test, DecodeKeyTextTrimsSurroundingWhitespace) {
  auto k = decodeKeyText("  Zm9vYmFy\r\n");
  ASSERT_TRUE(k.isOk());
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(k->data()), k->size()), "foobar");
  auto k2 = decodeKeyText("Zm9vYmFy\n");
  ASSERT_TRUE(k2.isOk());
  EXPECT_EQ(k2->size(), 6u);
}

TEST(Base64Test, DecodeKeyTextRefusesEmptyAndMalformed) {
  for (std::string_view bad : {"", "\n", "   \n", "Zm9v YmFy", "Zm9v\nYmFy", "not base64!"}) {
    auto k = decodeKeyText(bad);
    ASSERT_FALSE(k.isOk()) << bad;
    EXPECT_EQ(k.status().detail(), "keys.bad_key");
    EXPECT_EQ(k.status().message().find("Zm9v"), std::string_view::npos)
        << "key text must never be echoed";
  }
}

}  // namespace
}  // namespace cosmoseal::crypto
