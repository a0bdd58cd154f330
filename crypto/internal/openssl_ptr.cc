#include "crypto/internal/openssl_ptr.h"

namespace cosmoseal::crypto::internal {

// Function-local statics: thread-safe one-time initialisation; the pointers are leaked on purpose
// (see the header).

const EVP_CIPHER* aes256Gcm() noexcept {
  static EVP_CIPHER* const kCipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return kCipher;
}

const EVP_CIPHER* aesSiv(size_t key_size) noexcept {
  static EVP_CIPHER* const k128 = EVP_CIPHER_fetch(nullptr, "AES-128-SIV", nullptr);
  static EVP_CIPHER* const k192 = EVP_CIPHER_fetch(nullptr, "AES-192-SIV", nullptr);
  static EVP_CIPHER* const k256 = EVP_CIPHER_fetch(nullptr, "AES-256-SIV", nullptr);
  switch (key_size) {
    case 32:
      return k128;
    case 48:
      return k192;
    case 64:
      return k256;
    default:
      return nullptr;
  }
}

const EVP_CIPHER* aesCbc(size_t key_size) noexcept {
  static EVP_CIPHER* const k128 = EVP_CIPHER_fetch(nullptr, "AES-128-CBC", nullptr);
  static EVP_CIPHER* const k192 = EVP_CIPHER_fetch(nullptr, "AES-192-CBC", nullptr);
  static EVP_CIPHER* const k256 = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  switch (key_size) {
    case 16:
      return k128;
    case 24:
      return k192;
    case 32:
      return k256;
    default:
      return nullptr;
  }
}

const EVP_CIPHER* aesEcb(size_t key_size) noexcept {
  static EVP_CIPHER* const k128 = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
  static EVP_CIPHER* const k192 = EVP_CIPHER_fetch(nullptr, "AES-192-ECB", nullptr);
  static EVP_CIPHER* const k256 = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
  switch (key_size) {
    case 16:
      return k128;
    case 24:
      return k192;
    case 32:
      return k256;
    default:
      return nullptr;
  }
}

const EVP_MD* sha256() noexcept {
  static EVP_MD* const kMd = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return kMd;
}

EVP_KDF* hkdf() noexcept {
  static EVP_KDF* const kKdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kKdf;
}

EVP_MAC* hmac() noexcept {
  static EVP_MAC* const kMac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return kMac;
}

}  // namespace cosmoseal::crypto::internal
