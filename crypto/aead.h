#pragma once

// The primitives under the envelope: AES-256-GCM and AES-SIV with reused EVP contexts, and
// HKDF-SHA256. Everything here is allocation-free per operation except AesSiv (see below).
//
// Hot-path methods return bool (no Status allocation); callers map false to a detail code.
// On a false return from an open*(), the plaintext output buffer has been cleansed: plaintext is
// released only after OpenSSL verified the tag (EVP_*Final_ex checked for != 1; RELIABILITY §B3).
//
// Thread safety: objects are not thread-safe (one per thread); hkdfSha256 is.

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>

#include "common/status.h"
#include "crypto/internal/openssl_ptr.h"

namespace cosmoseal::crypto {

inline constexpr size_t kGcmKeySize = 32;
inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kTagSize = 16;  // GCM tag and SIV synthetic IV; shorter tags never accepted
inline constexpr size_t kSivKeySize = 64;  // AES-256-SIV (two AES-256 keys)
// Largest plaintext accepted by one operation (EVP lengths are int).
inline constexpr size_t kMaxAeadInput = size_t{1} << 30;

using ByteSpan = std::span<const uint8_t>;

// AES-256-GCM, 96-bit nonces, 16-byte tags. The key is installed once (setKey); each operation
// only sets the nonce (EVP_CipherInit_ex2(ctx, NULL, NULL, iv, enc)), which keeps the expanded
// key. The same object can seal and open.
class AesGcm256 {
 public:
  AesGcm256() = default;
  // Error: crypto.cipher_init (kInternal) for a wrong key size or an OpenSSL failure.
  common::Status setKey(ByteSpan key);
  bool hasKey() const noexcept { return ctx_ != nullptr; }

  // ct may equal pt (in place). `tag` receives kTagSize bytes.
  bool seal(const uint8_t* nonce, ByteSpan aad, const uint8_t* pt, size_t n, uint8_t* ct,
            uint8_t* tag) noexcept;
  // Decrypts into `pt` (scratch owned by the caller); true only if the tag verified.
  bool open(const uint8_t* nonce, ByteSpan aad, const uint8_t* ct, size_t n, const uint8_t* tag,
            uint8_t* pt) noexcept;

 private:
  internal::EvpCipherCtxPtr ctx_;
};

// AES-SIV (RFC 5297) through OpenSSL's "AES-{128,192,256}-SIV" (32/48/64-byte keys; the
// envelope uses 64). Each AD component is passed as its own EVP update with out == NULL, then
// the plaintext; the 16-byte SIV is the tag. OpenSSL's SIV context allows one operation per key
// init, so a keyed template context is copied for each operation (EVP_CIPHER_CTX_copy: cheaper
// than re-keying, but it allocates inside OpenSSL; measured in bench/crypto_bench.cc).
class AesSiv {
 public:
  AesSiv() = default;
  common::Status setKey(ByteSpan key);
  bool hasKey() const noexcept { return template_ != nullptr; }

  bool seal(std::initializer_list<ByteSpan> ad, const uint8_t* pt, size_t n, uint8_t* ct,
            uint8_t* siv) noexcept;
  bool open(std::initializer_list<ByteSpan> ad, const uint8_t* ct, size_t n, const uint8_t* siv,
            uint8_t* pt) noexcept;
  // Same with the AD components from a span (KATs with several components).
  bool sealV(std::span<const ByteSpan> ad, const uint8_t* pt, size_t n, uint8_t* ct,
             uint8_t* siv) noexcept;
  bool openV(std::span<const ByteSpan> ad, const uint8_t* ct, size_t n, const uint8_t* siv,
             uint8_t* pt) noexcept;

 private:
  bool start(int enc) noexcept;
  internal::EvpCipherCtxPtr template_;
  internal::EvpCipherCtxPtr work_;
};

// HKDF-SHA256 (RFC 5869, extract-then-expand) via EVP_KDF "HKDF". Empty salt = HashLen zeros
// (the RFC default). out.size() <= 255 * 32. Returns false on failure (out is then cleansed).
bool hkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, std::span<uint8_t> out) noexcept;

// SHA-256 (one shot). Returns false on an OpenSSL failure.
bool sha256(ByteSpan data, uint8_t out[32]) noexcept;

}  // namespace cosmoseal::crypto
