#include "crypto/jws.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <string>

namespace cosmoseal::crypto {
namespace {

std::string bytes(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(pkey, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

std::string sign(EVP_PKEY* pkey, std::string_view data) {
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  size_t len = 0;
  EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, pkey);
  EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                 data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  EVP_MD_CTX_free(md);
  return sig;
}

TEST(JwsTest, Base64UrlDecodesTheUrlAlphabetWithoutPadding) {
  std::string out;
  ASSERT_TRUE(base64UrlDecode("", &out));
  EXPECT_EQ(out, "");
  ASSERT_TRUE(base64UrlDecode("Zg", &out));
  EXPECT_EQ(out, "f");
  ASSERT_TRUE(base64UrlDecode("Zm8", &out));
  EXPECT_EQ(out, "fo");
  ASSERT_TRUE(base64UrlDecode("Zm9v", &out));
  EXPECT_EQ(out, "foo");
  ASSERT_TRUE(base64UrlDecode("-_8", &out));
  EXPECT_EQ(out, std::string("\xfb\xff", 2));
  ASSERT_TRUE(base64UrlDecode("eyJhbGciOiJSUzI1NiJ9", &out));
  EXPECT_EQ(out, R"({"alg":"RS256"})");
}

TEST(JwsTest, Base64UrlRefusesPaddingOtherAlphabetsAndNonCanonicalText) {
  std::string out;
  for (const char* bad : {"Zg==", "Zm8=", "+/8", "Z", "Zm9v!", "Zm 9v", "Zh", "Zm9"}) {
    EXPECT_FALSE(base64UrlDecode(bad, &out)) << bad;
  }
}

TEST(JwsTest, VerifiesRs256AndRefusesAnythingElse) {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  ASSERT_NE(pkey, nullptr);
  auto key = RsaPublicKey::fromModulusExponent(bytes(pkey, OSSL_PKEY_PARAM_RSA_N),
                                               bytes(pkey, OSSL_PKEY_PARAM_RSA_E));
  ASSERT_TRUE(key.isOk()) << key.status().toString();
  EXPECT_EQ((*key)->bits(), 2048);
  const std::string data = "header.payload";
  std::string sig = sign(pkey, data);
  EXPECT_TRUE((*key)->verifyRs256(data, sig));
  EXPECT_FALSE((*key)->verifyRs256("header.payloaD", sig));
  EXPECT_FALSE((*key)->verifyRs256(data, sig.substr(1)));
  EXPECT_FALSE((*key)->verifyRs256(data, ""));
  sig[10] = static_cast<char>(sig[10] ^ 1);
  EXPECT_FALSE((*key)->verifyRs256(data, sig));
  EVP_PKEY_free(pkey);
}

TEST(JwsTest, RefusesWeakOrOddKeys) {
  EVP_PKEY* small = EVP_RSA_gen(1024);
  ASSERT_NE(small, nullptr);
  auto weak = RsaPublicKey::fromModulusExponent(bytes(small, OSSL_PKEY_PARAM_RSA_N),
                                                bytes(small, OSSL_PKEY_PARAM_RSA_E));
  ASSERT_FALSE(weak.isOk());
  EXPECT_EQ(weak.status().detail(), "auth.token_key");
  EVP_PKEY_free(small);

  const std::string n(256, '\xc5');
  EXPECT_FALSE(RsaPublicKey::fromModulusExponent(n, std::string("\x01\x00\x00", 3)).isOk());
  EXPECT_FALSE(RsaPublicKey::fromModulusExponent(n, std::string("\x01", 1)).isOk());
  EXPECT_FALSE(RsaPublicKey::fromModulusExponent(n, "").isOk());
  EXPECT_FALSE(RsaPublicKey::fromModulusExponent("", std::string("\x01\x00\x01", 3)).isOk());
  // Leading zero bytes do not count towards the size.
  EXPECT_FALSE(RsaPublicKey::fromModulusExponent(std::string(200, '\0') + std::string(100, '\xc5'),
                                                 std::string("\x01\x00\x01", 3))
                   .isOk());
}

}  // namespace
}  // namespace cosmoseal::crypto
