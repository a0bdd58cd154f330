// docs/FORMAT.md §6, reproduced byte for byte: through FieldCipher, and again from the
// primitives following the specification (so the document, not only the code, is checked).

#include <gtest/gtest.h>

#include "crypto/aead.h"
#include "crypto/base64.h"
#include "crypto/field_cipher.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using testing::fromHex;
using testing::toHex;

constexpr std::string_view kBinding = "shop/customers:/ssn";
constexpr std::string_view kToken = "\"123-45-6789\"";
constexpr char kPathTag[] = "8e9660eb0045b8e2";
constexpr char kGcmSubkey[] = "34c2c08a6fee1c6734f52da405d98b1cea7a25fc3e0ce58f135ab496755bcd76";
constexpr char kGcmHeader[] =
    "010101020304a0a1a2a3a4a5a6a7a8a9aaabacadaeaf8e9660eb0045b8e2000000000000000000000001";
constexpr char kGcmCiphertext[] = "efa50b7871d071ddc5172cb52e92";
constexpr char kGcmTag[] = "85295da3c0d75f8113addeca68cb0050";
constexpr char kGcmEnvelope[] =
    "csx1:AQEBAgMEoKGio6SlpqeoqaqrrK2ur46WYOsARbjiAAAAAAAAAAAAAAAB76ULeHHQcd3FFyy1LpKFKV2jwNdfgROt3"
    "spoywBQ";
constexpr char kSivKey[] =
    "3ab0d8a1ac4814c88474588636783eb68035cd8e4bcd85d52a83b576a1cac69f"
    "a50bcc72dd4f90d3a9c94efb4f292d40991f6e58cc16fc70644310bbdd50cf50";
constexpr char kSivHeader[] = "0102010203048e9660eb0045b8e2";
constexpr char kSivCiphertext[] = "b811fad382c4925be85be5ef397b";
constexpr char kSiv[] = "6bdb01b4ffb537a2b4c17266af25cf32";
constexpr char kSivEnvelope[] = "csx1:AQIBAgMEjpZg6wBFuOK4EfrTgsSSW+hb5e85e2vbAbT/tTeitMFyZq8lzzI=";

std::shared_ptr<const Keyring> exampleKeyring() {
  KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, 0x01020304, testing::sequentialSecret(64, 0)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
  return *b.build();
}

std::vector<uint8_t> exampleSalt() { return fromHex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"); }

std::vector<uint8_t> examplePlaintext() {
  std::vector<uint8_t> pt = {0x01};
  pt.insert(pt.end(), kToken.begin(), kToken.end());
  return pt;
}

ByteSpan bytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(FormatExampleTest, FieldCipherProducesTheDocumentedEnvelopes) {
  const auto salt = exampleSalt();
  ScriptedRandomForTest rng(salt);
  FieldCipher fc(exampleKeyring(), &rng);
  std::string gcm, siv;
  ASSERT_TRUE(fc.seal(Mode::kRandomized, "pii", kBinding, ValueType::kString, kToken, &gcm).isOk());
  ASSERT_TRUE(
      fc.seal(Mode::kDeterministic, "pii", kBinding, ValueType::kString, kToken, &siv).isOk());
  EXPECT_EQ(gcm, kGcmEnvelope);
  EXPECT_EQ(siv, kSivEnvelope);

  // Any FieldCipher with the same keyring opens them (no RandomSource involved).
  FieldCipher reader(exampleKeyring());
  for (const char* env : {kGcmEnvelope, kSivEnvelope}) {
    std::string out;
    auto r = reader.open(env, &kBinding, &out);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(out, kToken);
    EXPECT_EQ(r->type, ValueType::kString);
    EXPECT_EQ(r->key_id, 0x01020304u);
  }
}

TEST(FormatExampleTest, PrimitivesFollowingTheSpecGiveTheSameBytes) {
  const auto dek = testing::sequentialSecret(64, 0);
  const auto salt = exampleSalt();
  const auto pt = examplePlaintext();
  EXPECT_EQ(toHex(pt), "01223132332d34352d3637383922");

  PathTag tag;
  ASSERT_TRUE(computePathTag(kBinding, &tag));
  EXPECT_EQ(toHex(tag), kPathTag);

  // §3.1
  std::vector<uint8_t> subkey(32);
  ASSERT_TRUE(hkdfSha256(dek.view(), salt, bytes("cosmoseal/v1/aes-256-gcm/epoch"), subkey));
  EXPECT_EQ(toHex(subkey), kGcmSubkey);
  const auto header = fromHex(kGcmHeader);
  ASSERT_EQ(header.size(), kGcmHeaderSize);
  AesGcm256 gcm;
  ASSERT_TRUE(gcm.setKey(subkey).isOk());
  std::vector<uint8_t> ct(pt.size()), gtag(16);
  ASSERT_TRUE(gcm.seal(header.data() + 30, header, pt.data(), pt.size(), ct.data(), gtag.data()));
  EXPECT_EQ(toHex(ct), kGcmCiphertext);
  EXPECT_EQ(toHex(gtag), kGcmTag);
  std::vector<uint8_t> env = header;
  env.insert(env.end(), ct.begin(), ct.end());
  env.insert(env.end(), gtag.begin(), gtag.end());
  EXPECT_EQ("csx1:" + base64Encode(env), kGcmEnvelope);

  // §3.2
  std::vector<uint8_t> sivkey(64);
  ASSERT_TRUE(hkdfSha256(dek.view(), {}, bytes("cosmoseal/v1/aes-256-siv"), sivkey));
  EXPECT_EQ(toHex(sivkey), kSivKey);
  const auto sheader = fromHex(kSivHeader);
  ASSERT_EQ(sheader.size(), kSivHeaderSize);
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(sivkey).isOk());
  std::vector<uint8_t> sct(pt.size()), v(16);
  ASSERT_TRUE(siv.seal({sheader}, pt.data(), pt.size(), sct.data(), v.data()));
  EXPECT_EQ(toHex(sct), kSivCiphertext);
  EXPECT_EQ(toHex(v), kSiv);
  std::vector<uint8_t> senv = sheader;
  senv.insert(senv.end(), sct.begin(), sct.end());
  senv.insert(senv.end(), v.begin(), v.end());
  EXPECT_EQ("csx1:" + base64Encode(senv), kSivEnvelope);
}

// Authentic envelopes (built from the primitives with the real keys) whose plaintext breaks §2:
// they authenticate, and are still refused.
TEST(FormatExampleTest, AuthenticButInvalidPlaintextIsRefused) {
  const auto dek = testing::sequentialSecret(64, 0);
  std::vector<uint8_t> sivkey(64);
  ASSERT_TRUE(hkdfSha256(dek.view(), {}, bytes("cosmoseal/v1/aes-256-siv"), sivkey));
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(sivkey).isOk());
  const auto header = fromHex(kSivHeader);
  FieldCipher reader(exampleKeyring());
  auto build = [&](std::vector<uint8_t> pt) {
    std::vector<uint8_t> ct(pt.size()), v(16);
    EXPECT_TRUE(siv.seal({header}, pt.data(), pt.size(), ct.data(), v.data()));
    std::vector<uint8_t> env = header;
    env.insert(env.end(), ct.begin(), ct.end());
    env.insert(env.end(), v.begin(), v.end());
    return "csx1:" + base64Encode(env);
  };
  std::string out;
  EXPECT_EQ(reader.open(build({0x09, '1'}), &kBinding, &out).status().detail(),
            "crypto.bad_plaintext_type");
  EXPECT_EQ(reader.open(build({0x00, '1'}), &kBinding, &out).status().detail(),
            "crypto.bad_plaintext_type");
  EXPECT_EQ(reader.open(build({0x01}), &kBinding, &out).status().detail(),
            "crypto.empty_plaintext");
  EXPECT_TRUE(out.empty());
  auto ok = reader.open(build({0x02, '7'}), &kBinding, &out);
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(ok->type, ValueType::kNumber);
  EXPECT_EQ(out, "7");
}

}  // namespace
}  // namespace cosmoseal::crypto
