#include "crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <climits>

namespace cosmoseal::crypto {
namespace {

common::Status initError(std::string message) {
  return common::internalError("crypto.cipher_init", std::move(message));
}

bool sizeOk(size_t n) noexcept { return n <= kMaxAeadInput; }

}  // namespace

// ---------------------------------------------------------------------------------------------
// AES-256-GCM

common::Status AesGcm256::setKey(ByteSpan key) {
  ctx_.reset();
  if (key.size() != kGcmKeySize) return initError("AES-256-GCM needs a 32-byte key");
  const EVP_CIPHER* cipher = internal::aes256Gcm();
  if (cipher == nullptr) return initError("OpenSSL has no AES-256-GCM");
  internal::EvpCipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx || EVP_CipherInit_ex2(ctx.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
    return initError("AES-256-GCM key setup failed");
  }
  // 12-byte IV is the GCM default; set it explicitly so nothing else is ever accepted.
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, kGcmNonceSize, nullptr) != 1) {
    return initError("AES-256-GCM IV length setup failed");
  }
  ctx_ = std::move(ctx);
  return common::Status::ok();
}

bool AesGcm256::seal(const uint8_t* nonce, ByteSpan aad, const uint8_t* pt, size_t n, uint8_t* ct,
                     uint8_t* tag) noexcept {
  if (!ctx_ || !sizeOk(n) || !sizeOk(aad.size())) return false;
  EVP_CIPHER_CTX* c = ctx_.get();
  int len = 0;
  if (EVP_CipherInit_ex2(c, nullptr, nullptr, nonce, 1, nullptr) != 1) return false;
  if (!aad.empty() &&
      EVP_CipherUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  if (n != 0 && (EVP_CipherUpdate(c, ct, &len, pt, static_cast<int>(n)) != 1 ||
                 static_cast<size_t>(len) != n)) {
    return false;
  }
  if (EVP_CipherFinal_ex(c, ct + n, &len) != 1 || len != 0) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) == 1;
}

bool AesGcm256::open(const uint8_t* nonce, ByteSpan aad, const uint8_t* ct, size_t n,
                     const uint8_t* tag, uint8_t* pt) noexcept {
  if (!ctx_ || !sizeOk(n) || !sizeOk(aad.size())) return false;
  EVP_CIPHER_CTX* c = ctx_.get();
  int len = 0;
  bool ok = EVP_CipherInit_ex2(c, nullptr, nullptr, nonce, 0, nullptr) == 1;
  ok = ok && (aad.empty() ||
              EVP_CipherUpdate(c, nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1);
  // GCM's DecryptUpdate emits plaintext before the tag is checked: it goes to the caller's
  // scratch, which is cleansed unless Final verifies the tag.
  ok = ok && (n == 0 || (EVP_CipherUpdate(c, pt, &len, ct, static_cast<int>(n)) == 1 &&
                         static_cast<size_t>(len) == n));
  ok =
      ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) == 1;
  // Final returns 0 (not < 0) on a tag mismatch: check != 1.
  ok = ok && EVP_CipherFinal_ex(c, pt + n, &len) == 1 && len == 0;
  if (!ok && n != 0) OPENSSL_cleanse(pt, n);
  return ok;
}

// ---------------------------------------------------------------------------------------------
// AES-SIV

common::Status AesSiv::setKey(ByteSpan key) {
  template_.reset();
  work_.reset();
  const EVP_CIPHER* cipher = internal::aesSiv(key.size());
  if (cipher == nullptr) return initError("AES-SIV needs a 32, 48 or 64-byte key");
  internal::EvpCipherCtxPtr t(EVP_CIPHER_CTX_new());
  internal::EvpCipherCtxPtr w(EVP_CIPHER_CTX_new());
  if (!t || !w || EVP_CipherInit_ex2(t.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
    return initError("AES-SIV key setup failed");
  }
  template_ = std::move(t);
  work_ = std::move(w);
  return common::Status::ok();
}

bool AesSiv::start(int enc) noexcept {
  if (!template_) return false;
  return EVP_CIPHER_CTX_copy(work_.get(), template_.get()) == 1 &&
         EVP_CipherInit_ex2(work_.get(), nullptr, nullptr, nullptr, enc, nullptr) == 1;
}

bool AesSiv::sealV(std::span<const ByteSpan> ad, const uint8_t* pt, size_t n, uint8_t* ct,
                   uint8_t* siv) noexcept {
  if (!sizeOk(n) || n == 0 || !start(1)) return false;
  EVP_CIPHER_CTX* c = work_.get();
  int len = 0;
  for (const ByteSpan& a : ad) {
    if (!sizeOk(a.size()) ||
        EVP_CipherUpdate(c, nullptr, &len, a.data(), static_cast<int>(a.size())) != 1) {
      return false;
    }
  }
  if (EVP_CipherUpdate(c, ct, &len, pt, static_cast<int>(n)) != 1 ||
      static_cast<size_t>(len) != n) {
    return false;
  }
  if (EVP_CipherFinal_ex(c, ct + n, &len) != 1 || len != 0) return false;
  return EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, kTagSize, siv) == 1;
}

bool AesSiv::openV(std::span<const ByteSpan> ad, const uint8_t* ct, size_t n, const uint8_t* siv,
                   uint8_t* pt) noexcept {
  if (!sizeOk(n) || n == 0 || !start(0)) return false;
  EVP_CIPHER_CTX* c = work_.get();
  int len = 0;
  bool ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, kTagSize, const_cast<uint8_t*>(siv)) == 1;
  for (const ByteSpan& a : ad) {
    ok = ok && sizeOk(a.size()) &&
         EVP_CipherUpdate(c, nullptr, &len, a.data(), static_cast<int>(a.size())) == 1;
  }
  // SIV decrypts, recomputes the SIV and compares it; both Update and Final must succeed.
  ok = ok && EVP_CipherUpdate(c, pt, &len, ct, static_cast<int>(n)) == 1 &&
       static_cast<size_t>(len) == n;
  ok = ok && EVP_CipherFinal_ex(c, pt + n, &len) == 1 && len == 0;
  if (!ok) OPENSSL_cleanse(pt, n);
  return ok;
}

bool AesSiv::seal(std::initializer_list<ByteSpan> ad, const uint8_t* pt, size_t n, uint8_t* ct,
                  uint8_t* siv) noexcept {
  return sealV(std::span<const ByteSpan>(ad.begin(), ad.size()), pt, n, ct, siv);
}

bool AesSiv::open(std::initializer_list<ByteSpan> ad, const uint8_t* ct, size_t n,
                  const uint8_t* siv, uint8_t* pt) noexcept {
  return openV(std::span<const ByteSpan>(ad.begin(), ad.size()), ct, n, siv, pt);
}

// ---------------------------------------------------------------------------------------------
// HKDF / SHA-256

bool hkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, std::span<uint8_t> out) noexcept {
  if (internal::hkdf() == nullptr || ikm.empty() || out.empty() || out.size() > 255 * 32) {
    return false;
  }
  internal::EvpKdfCtxPtr ctx(EVP_KDF_CTX_new(internal::hkdf()));
  if (!ctx) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t i = 0;
  params[i++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<uint8_t*>(ikm.data()), ikm.size());
  if (!salt.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<uint8_t*>(salt.data()), salt.size());
  }
  if (!info.empty()) {
    params[i++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<uint8_t*>(info.data()), info.size());
  }
  params[i] = OSSL_PARAM_construct_end();
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return false;
  }
  return true;
}

bool sha256(ByteSpan data, uint8_t out[32]) noexcept {
  unsigned int len = 0;
  return internal::sha256() != nullptr &&
         EVP_Digest(data.data(), data.size(), out, &len, internal::sha256(), nullptr) == 1 &&
         len == 32;
}

}  // namespace cosmoseal::crypto
