#include "crypto/internal/openssl_ptr.h"

namespace cosmoseal::crypto::internal {

// Function-local statics: thread-safe one-time initialisation; the pointers are leaked on purpose
// (see the header).

namespace {

EVP_CIPHER* fetch(const char* name) noexcept { return EVP_CIPHER_fetch(nullptr, name, nullptr); }

// One mode's AES-128/192/256 ciphers picked by key size; `base` is the mode's key size for
// AES-128 (SIV keys are twice as long).
const EVP_CIPHER* bySize(EVP_CIPHER* const (&c)[3], size_t key_size, size_t base) noexcept {
  if (key_size == base) return c[0];
  if (key_size == base * 3 / 2) return c[1];
  if (key_size == base * 2) return c[2];
  return nullptr;
}

}  // namespace

const EVP_CIPHER* aes256Gcm() noexcept {
  static EVP_CIPHER* const kCipher = fetch("AES-256-GCM");
  return kCipher;
}

const EVP_CIPHER* aesSiv(size_t key_size) noexcept {
  static EVP_CIPHER* const k[3] = {fetch("AES-128-SIV"), fetch("AES-192-SIV"),
                                    fetch("AES-256-SIV")};
  return bySize(k, key_size, 32);
}

const EVP_CIPHER* aesCbc(size_t key_size) noexcept {
  static EVP_CIPHER* const k[3] = {fetch("AES-128-CBC"), fetch("AES-192-CBC"),
                                    fetch("AES-256-CBC")};
  return bySize(k, key_size, 16);
}

const EVP_CIPHER* aesEcb(size_t key_size) noexcept {
  static EVP_CIPHER* const k[3] = {fetch("AES-128-ECB"), fetch("AES-192-ECB"),
                                    fetch("AES-256-ECB")};
  return bySize(k, key_size, 16);
}

const EVP_MD* sha256() noexcept {
  static EVP_MD* const kMd = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return kMd;
}

EVP_KDF* hkdf() noexcept {
  static EVP_KDF* const kKdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kKdf;
}

}  // namespace cosmoseal::crypto::internal
