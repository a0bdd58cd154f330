#pragma once

// The primitives under the envelope: AES-256-GCM and AES-SIV with reused EVP contexts, and
// HKDF-SHA256. The AEADs are allocation-free per operation.
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

#include "common/secret_bytes.h"
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

// AES-SIV (RFC 5297), deterministic authenticated encryption: 32/48/64-byte keys (AES-128/192/
// 256; the envelope uses 64). The first half of the key is the S2V (CMAC) key, the second half
// the CTR key. Each AD component is one S2V vector component (an empty component counts), then
// the plaintext (never empty); the 16-byte SIV is the tag. RFC 5297 outputs SIV || C; here C
// and SIV go to separate buffers.
//
// Built on two EVP contexts keyed once in setKey: AES-CBC under the S2V key, which carries the
// CMAC chains, and AES-ECB under the CTR key, which makes the keystream. No operation re-keys,
// copies or even re-IVs a context (OpenSSL's own "AES-*-SIV" allows one operation per key setup,
// so using it costs an EVP_CIPHER_CTX_copy per operation). The output is byte-identical to
// OpenSSL's AES-SIV (tests/unit/crypto/aes_siv_differential_test.cc). No allocation per
// operation.
//
// open() decrypts into `pt` (the caller's scratch), recomputes the SIV over the result, compares
// it with CRYPTO_memcmp and cleanses `pt` on a mismatch. ct may equal pt (in place).
class AesSiv {
 public:
  AesSiv() = default;
  // Error: crypto.cipher_init (kInternal) for a key that is not 32, 48 or 64 bytes, or an
  // OpenSSL failure. A failed setKey leaves the object unkeyed.
  common::Status setKey(ByteSpan key);
  bool hasKey() const noexcept { return mac_ != nullptr; }

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
  struct Scratch;  // per-operation stack scratch (aead.cc)

  // Layout of state_: everything is derived from the S2V key, hence secret, hence SecretBytes.
  static constexpr size_t kSubkey1 = 0;   // CMAC subkey K1 (RFC 4493 §2.3)
  static constexpr size_t kSubkey2 = 16;  // CMAC subkey K2
  static constexpr size_t kD0 = 32;       // S2V's first D = CMAC(<zero>), a per-key constant
  static constexpr size_t kChain = 48;    // mac_'s current CBC chaining value
  // S2V's D after a single short AD component (see aead.cc), kAdSlots slots of
  // [AD zero-padded to 16][AD length + 1, 0 = free][15 unused][D].
  static constexpr size_t kAdCache = 64;
  static constexpr size_t kAdSlots = 16;
  static constexpr size_t kAdSlotSize = 48;
  static constexpr size_t kStateSize = kAdCache + kAdSlots * kAdSlotSize;

  bool absorbAd(Scratch& sc, std::span<const ByteSpan> ad) noexcept;
  bool s2vFinal(Scratch& sc, const uint8_t* pt, size_t n, uint8_t* v) noexcept;
  bool cmac(Scratch& sc, const uint8_t* m, size_t n, uint8_t* out) noexcept;
  bool cbcMac(Scratch& sc, const uint8_t* head, size_t head_n, const uint8_t* tail, size_t tail_n,
              uint8_t* out) noexcept;
  bool ctr(Scratch& sc, const uint8_t* siv, const uint8_t* in, size_t n, uint8_t* out) noexcept;

  internal::EvpCipherCtxPtr mac_;  // AES-CBC, S2V key, no padding; IV set once (see aead.cc)
  internal::EvpCipherCtxPtr ctr_;  // AES-ECB, CTR key, no padding
  common::SecretBytes state_;
  size_t next_ad_slot_ = 0;
};

// HKDF-SHA256 (RFC 5869, extract-then-expand) via EVP_KDF "HKDF". Empty salt = HashLen zeros
// (the RFC default). out.size() <= 255 * 32. Returns false on failure (out is then cleansed).
bool hkdfSha256(ByteSpan ikm, ByteSpan salt, ByteSpan info, std::span<uint8_t> out) noexcept;

// SHA-256 (one shot). Returns false on an OpenSSL failure.
bool sha256(ByteSpan data, uint8_t out[32]) noexcept;

}  // namespace cosmoseal::crypto
