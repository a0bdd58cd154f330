#pragma once

// Test-only Entra ID stand-in: an RSA signing key with a kid, its JWKS entry, and RS256 tokens
// minted with whatever header and claims a test wants (including wrong ones). Used by the unit
// and integration tests of proxy/admission/ (entra_token, jwks, auth).

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/base64.h"
#include "crypto/jws.h"
#include "proxy/admission/jwks.h"

namespace cosmoseal::proxy::testing {

inline std::string base64Url(std::string_view data) {
  std::string s = crypto::base64Encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

inline std::string bnBytes(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(pkey, name, &bn);
  std::string out(static_cast<size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

class TokenMinter {
 public:
  explicit TokenMinter(std::string kid, unsigned bits = 2048)
      : kid_(std::move(kid)), pkey_(EVP_RSA_gen(bits)) {}
  ~TokenMinter() { EVP_PKEY_free(pkey_); }
  TokenMinter(const TokenMinter&) = delete;
  TokenMinter& operator=(const TokenMinter&) = delete;

  const std::string& kid() const { return kid_; }
  std::string modulus() const { return bnBytes(pkey_, OSSL_PKEY_PARAM_RSA_N); }
  std::string exponent() const { return bnBytes(pkey_, OSSL_PKEY_PARAM_RSA_E); }
  // {"kty":"RSA","use":"sig","kid":...,"n":...,"e":...}
  std::string jwk() const {
    return R"({"kty":"RSA","use":"sig","kid":")" + kid_ + R"(","n":")" + base64Url(modulus()) +
           R"(","e":")" + base64Url(exponent()) + R"("})";
  }
  std::shared_ptr<const crypto::RsaPublicKey> publicKey() const {
    return *crypto::RsaPublicKey::fromModulusExponent(modulus(), exponent());
  }

  std::string rs256(std::string_view data) const {
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    size_t len = 0;
    EVP_DigestSignInit(md, nullptr, EVP_sha256(), nullptr, pkey_);
    EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()),
                   data.size());
    std::string sig(len, '\0');
    EVP_DigestSign(md, reinterpret_cast<unsigned char*>(sig.data()), &len,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    EVP_MD_CTX_free(md);
    sig.resize(len);
    return sig;
  }
  // A token with this header and payload JSON, RS256-signed with this key.
  std::string sign(const std::string& header_json, const std::string& payload_json) const {
    const std::string signed_part = base64Url(header_json) + "." + base64Url(payload_json);
    return signed_part + "." + base64Url(rs256(signed_part));
  }
  std::string headerJson(std::string_view alg = "RS256") const {
    return R"({"typ":"JWT","alg":")" + std::string(alg) + R"(","kid":")" + kid_ + R"("})";
  }

 private:
  std::string kid_;
  EVP_PKEY* pkey_;
};

// Claims of a typical v2 token of an app (client credentials) for tenant `tid`.
struct Claims {
  std::string iss;
  std::string aud = "https://cosmos.azure.com";
  std::string tid;
  std::string oid = "11111111-2222-3333-4444-555555555555";
  std::string azp = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  int64_t iat = 0, nbf = 0, exp = 0;
  std::string extra;  // more members, e.g. ,"appid":"..."
  std::string json() const {
    std::string j = "{";
    auto str = [&j](const char* k, const std::string& v) {
      if (v.empty()) return;
      if (j.size() > 1) j += ",";
      j += "\"" + std::string(k) + "\":\"" + v + "\"";
    };
    str("iss", iss);
    str("aud", aud);
    str("tid", tid);
    str("oid", oid);
    str("azp", azp);
    for (auto [k, v] : {std::pair{"iat", iat}, std::pair{"nbf", nbf}, std::pair{"exp", exp}}) {
      if (v == 0) continue;
      if (j.size() > 1) j += ",";
      j += "\"" + std::string(k) + "\":" + std::to_string(v);
    }
    j += extra + "}";
    return j;
  }
};

inline std::shared_ptr<const JwksKeySet> keySetOf(std::initializer_list<const TokenMinter*> ms) {
  auto set = std::make_shared<JwksKeySet>();
  for (const TokenMinter* m : ms) set->keys.emplace(m->kid(), m->publicKey());
  return set;
}

}  // namespace cosmoseal::proxy::testing
