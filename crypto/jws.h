#pragma once

// The cryptographic half of JSON Web Token checks (RFC 7515/7518), kept here because crypto/ sees
// OpenSSL but no JSON: base64url text and RS256 (RSASSA-PKCS1-v1_5 with SHA-256) signatures made
// by an RSA public key given as a JWK's modulus `n` and exponent `e`. Parsing the token's JSON and
// deciding which claims to accept is proxy/admission/entra_token.h.
//
// Only RS256 exists here on purpose: a verifier that could also do HS256 or "none" is the classic
// algorithm-confusion hole (an RSA public key used as an HMAC secret). Keys below 2048 bits are
// refused.
//
// RsaPublicKey is immutable once built and safe to use from many threads at once (each verify
// makes its own digest context).

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cosmoseal::crypto {

// base64url (RFC 4648 §5) without padding, as JWTs use it. Strict: only the url-safe alphabet, no
// '=' and no whitespace, no length that cannot occur (n % 4 == 1), unused trailing bits zero.
// Returns false on malformed input (*out is then unspecified).
bool base64UrlDecode(std::string_view in, std::string* out);

class RsaPublicKey {
 public:
  // From the big-endian bytes of the modulus and the public exponent (a JWK's decoded `n` and
  // `e`). Fails (kInvalidArgument, "auth.token_key") on a modulus under 2048 bits, an even or
  // tiny exponent, or if OpenSSL refuses the key.
  static common::StatusOr<std::shared_ptr<const RsaPublicKey>> fromModulusExponent(
      std::string_view n, std::string_view e);
  ~RsaPublicKey();
  RsaPublicKey(const RsaPublicKey&) = delete;
  RsaPublicKey& operator=(const RsaPublicKey&) = delete;

  // True if `signature` is this key's RS256 signature over `signed_data`. Never throws.
  bool verifyRs256(std::string_view signed_data, std::string_view signature) const noexcept;
  int bits() const noexcept { return bits_; }

 private:
  RsaPublicKey() = default;
  EVP_PKEY* pkey_ = nullptr;
  int bits_ = 0;
};

}  // namespace cosmoseal::crypto
