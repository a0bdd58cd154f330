#include "crypto/jws.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <array>

#include "crypto/details.h"

namespace cosmoseal::crypto {

namespace {

int8_t urlValue(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return static_cast<int8_t>(c - 'A');
  if (c >= 'a' && c <= 'z') return static_cast<int8_t>(c - 'a' + 26);
  if (c >= '0' && c <= '9') return static_cast<int8_t>(c - '0' + 52);
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

common::Status badKey(std::string msg) {
  return common::Status(common::Code::kInvalidArgument, crypto_detail::kTokenKey, std::move(msg));
}

}  // namespace

bool base64UrlDecode(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 == 1) return false;
  out->reserve(in.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int8_t v = urlValue(c);
    if (v < 0) return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // Leftover bits (2 or 4) must be zero: one spelling per byte string.
  return (acc & ((1u << bits) - 1)) == 0;
}

common::StatusOr<std::shared_ptr<const RsaPublicKey>> RsaPublicKey::fromModulusExponent(
    std::string_view n, std::string_view e) {
  while (!n.empty() && n.front() == '\0') n.remove_prefix(1);
  while (!e.empty() && e.front() == '\0') e.remove_prefix(1);
  const int bits = n.empty() ? 0
                             : static_cast<int>(n.size() - 1) * 8 +
                                   (32 - __builtin_clz(static_cast<uint8_t>(n.front())));
  if (bits < 2048 || bits > 16384) {
    return badKey("RSA modulus of " + std::to_string(bits) + " bits; expected 2048 to 16384");
  }
  if (e.empty() || e.size() > 8 || (static_cast<uint8_t>(e.back()) & 1) == 0 ||
      (e.size() == 1 && static_cast<uint8_t>(e.front()) < 3)) {
    return badKey("RSA public exponent is not an odd number >= 3");
  }
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY_CTX* ctx = nullptr;
  EVP_PKEY* pkey = nullptr;
  bool ok = bn_n != nullptr && bn_e != nullptr && bld != nullptr &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1;
  if (ok) params = OSSL_PARAM_BLD_to_param(bld);
  if (params != nullptr) ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  ok = ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
       EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1 && pkey != nullptr;
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!ok) {
    EVP_PKEY_free(pkey);
    return badKey("OpenSSL refused the RSA public key");
  }
  std::shared_ptr<RsaPublicKey> key(new RsaPublicKey());
  key->pkey_ = pkey;
  key->bits_ = bits;
  return std::shared_ptr<const RsaPublicKey>(std::move(key));
}

RsaPublicKey::~RsaPublicKey() { EVP_PKEY_free(pkey_); }

bool RsaPublicKey::verifyRs256(std::string_view signed_data,
                               std::string_view signature) const noexcept {
  // PKCS#1 v1.5 signatures are exactly the modulus length.
  if (signature.size() != static_cast<size_t>((bits_ + 7) / 8)) return false;
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  if (md == nullptr) return false;
  bool ok = EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, pkey_) == 1;
  if (ok) {
    ok = EVP_DigestVerify(
             md, reinterpret_cast<const unsigned char*>(signature.data()), signature.size(),
             reinterpret_cast<const unsigned char*>(signed_data.data()), signed_data.size()) == 1;
  }
  EVP_MD_CTX_free(md);
  return ok;
}

}  // namespace cosmoseal::crypto
