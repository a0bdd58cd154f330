#include "crypto/aead.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using testing::fromHex;
using testing::toHex;

// ---------------------------------------------------------------------------------------------
// AES-256-GCM: test cases 13-16 of McGrew & Viega, "The Galois/Counter Mode of Operation"
// (the 256-bit-key cases with 96-bit IVs; cases 17-18 use 64- and 480-bit IVs, which this
// wrapper deliberately does not support).

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* pt;
  const char* aad;
  const char* ct;
  const char* tag;
};

constexpr char kK15[] = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
constexpr char kP15[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
constexpr char kC15[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad";
constexpr char kP16[] =
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
    "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
constexpr char kC16[] =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";

const GcmVector kGcmVectors[] = {
    {"TC13", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"TC14", "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"TC15", kK15, "cafebabefacedbaddecaf888", kP15, "", kC15, "b094dac5d93471bdec1a502270e3cc6c"},
    {"TC16", kK15, "cafebabefacedbaddecaf888", kP16, "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     kC16, "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(AesGcmTest, NistVectorsSealAndOpen) {
  for (const auto& v : kGcmVectors) {
    SCOPED_TRACE(v.name);
    const auto key = fromHex(v.key), iv = fromHex(v.iv), pt = fromHex(v.pt), aad = fromHex(v.aad);
    AesGcm256 gcm;
    ASSERT_TRUE(gcm.setKey(key).isOk());
    std::vector<uint8_t> ct(pt.size() + 1), tag(kTagSize);
    ASSERT_TRUE(gcm.seal(iv.data(), aad, pt.data(), pt.size(), ct.data(), tag.data()));
    ct.resize(pt.size());
    EXPECT_EQ(toHex(ct), v.ct);
    EXPECT_EQ(toHex(tag), v.tag);

    std::vector<uint8_t> back(pt.size() + 1, 0xee);
    ASSERT_TRUE(gcm.open(iv.data(), aad, ct.data(), ct.size(), tag.data(), back.data()));
    back.resize(pt.size());
    EXPECT_EQ(back, pt);
  }
}

TEST(AesGcmTest, ReusedContextGivesSameAnswersRepeatedly) {
  const auto& v = kGcmVectors[3];
  AesGcm256 gcm;
  ASSERT_TRUE(gcm.setKey(fromHex(v.key)).isOk());
  const auto iv = fromHex(v.iv), pt = fromHex(v.pt), aad = fromHex(v.aad);
  for (int i = 0; i < 5; ++i) {
    std::vector<uint8_t> ct(pt.size()), tag(kTagSize), back(pt.size());
    ASSERT_TRUE(gcm.seal(iv.data(), aad, pt.data(), pt.size(), ct.data(), tag.data()));
    EXPECT_EQ(toHex(tag), v.tag);
    // Interleave decryption on the same context.
    ASSERT_TRUE(gcm.open(iv.data(), aad, ct.data(), ct.size(), tag.data(), back.data()));
    EXPECT_EQ(back, pt);
  }
}

TEST(AesGcmTest, TamperedInputsFailAndScratchIsCleansed) {
  const auto& v = kGcmVectors[3];
  AesGcm256 gcm;
  ASSERT_TRUE(gcm.setKey(fromHex(v.key)).isOk());
  const auto iv = fromHex(v.iv), aad = fromHex(v.aad);
  const auto ct = fromHex(v.ct), tag = fromHex(v.tag);
  auto expectFail = [&](std::vector<uint8_t> i, std::vector<uint8_t> a, std::vector<uint8_t> c,
                        std::vector<uint8_t> t) {
    std::vector<uint8_t> out(c.size(), 0xee);
    EXPECT_FALSE(gcm.open(i.data(), a, c.data(), c.size(), t.data(), out.data()));
    for (uint8_t b : out) ASSERT_EQ(b, 0) << "plaintext scratch not cleansed";
  };
  auto t2 = tag;
  t2[15] ^= 1;
  expectFail(iv, aad, ct, t2);
  auto c2 = ct;
  c2[0] ^= 0x80;
  expectFail(iv, aad, c2, tag);
  auto a2 = aad;
  a2[3] ^= 4;
  expectFail(iv, a2, ct, tag);
  auto i2 = iv;
  i2[11] ^= 1;
  expectFail(i2, aad, ct, tag);
  expectFail(iv, {}, ct, tag);  // AAD dropped
}

TEST(AesGcmTest, RejectsWrongKeySizeAndUnkeyedUse) {
  AesGcm256 gcm;
  EXPECT_EQ(gcm.setKey(std::vector<uint8_t>(16)).detail(), "crypto.cipher_init");
  EXPECT_FALSE(gcm.hasKey());
  uint8_t iv[12] = {}, buf[16] = {}, tag[16] = {};
  EXPECT_FALSE(gcm.seal(iv, {}, buf, sizeof(buf), buf, tag));
}

// ---------------------------------------------------------------------------------------------
// AES-SIV: RFC 5297 appendix A. AesSiv takes each AD component (and the nonce, which S2V
// treats as the last component) as its own span. RFC output is V || C; we return C and V.

TEST(AesSivTest, Rfc5297A1Deterministic) {
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(fromHex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0"
                                 "f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff"))
                  .isOk());
  const auto ad = fromHex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627");
  const auto pt = fromHex("11223344 55667788 99aabbcc ddee");
  std::vector<uint8_t> ct(pt.size()), v(kTagSize);
  ASSERT_TRUE(siv.seal({ad}, pt.data(), pt.size(), ct.data(), v.data()));
  EXPECT_EQ(toHex(v), "85632d07c6e8f37f950acd320a2ecc93");
  EXPECT_EQ(toHex(ct), "40c02b9690c4dc04daef7f6afe5c");
  // Deterministic and repeatable on the reused contexts.
  std::vector<uint8_t> ct2(pt.size()), v2(kTagSize);
  ASSERT_TRUE(siv.seal({ad}, pt.data(), pt.size(), ct2.data(), v2.data()));
  EXPECT_EQ(ct2, ct);
  EXPECT_EQ(v2, v);
  std::vector<uint8_t> back(pt.size());
  ASSERT_TRUE(siv.open({ad}, ct.data(), ct.size(), v.data(), back.data()));
  EXPECT_EQ(back, pt);
}

TEST(AesSivTest, Rfc5297A2NonceBased) {
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(fromHex("7f7e7d7c 7b7a7978 77767574 73727170"
                                 "40414243 44454647 48494a4b 4c4d4e4f"))
                  .isOk());
  const auto ad1 = fromHex(
      "00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 33221100");
  const auto ad2 = fromHex("10203040 50607080 90a0");
  const auto nonce = fromHex("09f91102 9d74e35b d84156c5 635688c0");
  const auto pt = fromHex(
      "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720"
      "5349562d 414553");
  std::vector<uint8_t> ct(pt.size()), v(kTagSize);
  const ByteSpan ad[] = {ad1, ad2, nonce};
  ASSERT_TRUE(siv.sealV(ad, pt.data(), pt.size(), ct.data(), v.data()));
  EXPECT_EQ(toHex(v), "7bdb6e3b432667eb06f4d14bff2fbd0f");
  EXPECT_EQ(toHex(ct),
            "cb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c48"
            "5b62a3fd5c0d");
  std::vector<uint8_t> back(pt.size());
  ASSERT_TRUE(siv.openV(ad, ct.data(), ct.size(), v.data(), back.data()));
  EXPECT_EQ(back, pt);
}

TEST(AesSivTest, TamperFailsAndCleanses) {
  AesSiv siv;
  std::vector<uint8_t> key(64);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(siv.setKey(key).isOk());
  const std::vector<uint8_t> ad = {1, 2, 3}, pt = {'"', 'x', '"'};
  std::vector<uint8_t> ct(3), v(16);
  ASSERT_TRUE(siv.seal({ad}, pt.data(), pt.size(), ct.data(), v.data()));
  for (size_t i = 0; i < ct.size() + v.size(); ++i) {
    auto c = ct;
    auto t = v;
    if (i < c.size()) {
      c[i] ^= 1;
    } else {
      t[i - c.size()] ^= 1;
    }
    std::vector<uint8_t> out(3, 0xee);
    EXPECT_FALSE(siv.open({ad}, c.data(), c.size(), t.data(), out.data()));
    EXPECT_EQ(out, std::vector<uint8_t>(3, 0));
  }
  std::vector<uint8_t> out(3);
  const std::vector<uint8_t> other_ad = {1, 2, 4};
  EXPECT_FALSE(siv.open({other_ad}, ct.data(), ct.size(), v.data(), out.data()));
  // Still usable after failures.
  EXPECT_TRUE(siv.open({ad}, ct.data(), ct.size(), v.data(), out.data()));
  EXPECT_EQ(out, pt);
}

TEST(AesSivTest, RejectsBadKeySize) {
  AesSiv siv;
  EXPECT_EQ(siv.setKey(std::vector<uint8_t>(33)).detail(), "crypto.cipher_init");
  EXPECT_FALSE(siv.hasKey());
}

// ---------------------------------------------------------------------------------------------
// HKDF-SHA256: RFC 5869 appendix A, test cases 1-3.

TEST(HkdfTest, Rfc5869Sha256Vectors) {
  struct V {
    std::vector<uint8_t> ikm, salt, info;
    const char* okm;
  };
  std::vector<uint8_t> ikm2, salt2, info2;
  for (int i = 0x00; i <= 0x4f; ++i) ikm2.push_back(static_cast<uint8_t>(i));
  for (int i = 0x60; i <= 0xaf; ++i) salt2.push_back(static_cast<uint8_t>(i));
  for (int i = 0xb0; i <= 0xff; ++i) info2.push_back(static_cast<uint8_t>(i));
  const V vectors[] = {
      {std::vector<uint8_t>(22, 0x0b), fromHex("000102030405060708090a0b0c"),
       fromHex("f0f1f2f3f4f5f6f7f8f9"),
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {ikm2, salt2, info2,
       "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41"
       "c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
      {std::vector<uint8_t>(22, 0x0b),
       {},
       {},
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const auto& v : vectors) {
    std::vector<uint8_t> out(std::string_view(v.okm).size() / 2);
    ASSERT_TRUE(hkdfSha256(v.ikm, v.salt, v.info, out));
    EXPECT_EQ(toHex(out), v.okm);
  }
}

TEST(HkdfTest, RefusesEmptyKeyAndOversizedOutput) {
  std::vector<uint8_t> out(32);
  EXPECT_FALSE(hkdfSha256({}, {}, {}, out));
  std::vector<uint8_t> big(255 * 32 + 1);
  const std::vector<uint8_t> ikm(32, 1);
  EXPECT_FALSE(hkdfSha256(ikm, {}, {}, big));
}

TEST(Sha256Test, KnownAnswer) {
  uint8_t d[32];
  const std::string_view abc = "abc";
  ASSERT_TRUE(sha256(ByteSpan(reinterpret_cast<const uint8_t*>(abc.data()), abc.size()), d));
  EXPECT_EQ(toHex(ByteSpan(d, 32)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace cosmoseal::crypto
