#include "crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cstring>

#include "crypto/details.h"

namespace cosmoseal::crypto {
namespace {

common::Status initError(std::string message) {
  return common::internalError(crypto_detail::kCipherInit, std::move(message));
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
// AES-SIV (RFC 5297)
//
// OpenSSL 3.0's "AES-*-SIV" allows one operation per key setup, so using it means copying a
// keyed context per operation (EVP_CIPHER_CTX_copy, about 4.3K instructions plus allocations).
// This is RFC 5297 written out over two contexts that are keyed once:
//
// * S2V (§2.4) needs AES-CMAC (RFC 4493) of each AD component and of the plaintext. CMAC is
//   CBC-MAC from a zero IV whose last block is first XORed with subkey K1 (complete block) or
//   padded 10* and XORed with K2. Every CMAC here goes through one AES-CBC context, mac_, whose
//   IV is set once in setKey and never again: setting an IV costs an EVP dispatch of about the
//   price of a short message's AES (perf-baselines §6). Instead cbcMac() remembers the chaining
//   value the context holds (its last output block, kChain) and XORs it into the first block of
//   the next message, so CBC computes E(M1 ^ chain ^ chain) = E(M1), exactly as from a zero IV.
//   Every block mac_ encrypts goes through cbcMac(), which keeps that value in step; if an
//   update ever fails, the context goes back to a zero IV, or is dropped (the object is then
//   unkeyed and fails closed).
// * CTR (§2.5): Q = V with bits 31 and 63 (counting from the right, 0-based: the top bits of
//   bytes 8 and 12) cleared; keystream E(K2, Q) | E(K2, Q+1) | ... with Q+i mod 2^128. The
//   counter blocks are laid out in a stack buffer and encrypted by one AES-ECB update (nothing
//   to re-IV either), then XORed into the output.
// * S2V's value after the AD (D before the plaintext) depends only on the key and the AD. For a
//   single AD component of at most 16 bytes (FieldCipher's 14-byte header, the same for every
//   value of one key version and binding) it is kept in a small table in the key's secret
//   memory, which saves one CMAC per operation. The AD is public; the table is filled on use
//   (round robin), and a miss costs one CMAC, so forged headers can only cost time they pay for.
//
// The result is compared with OpenSSL's AES-SIV in aes_siv_differential_test.cc.

namespace {

constexpr size_t kBlock = 16;
// Stack buffer for CBC output and keystream: one EVP call covers any field up to this size.
constexpr size_t kSivChunk = 512;
constexpr uint8_t kZeroBlock[kBlock] = {};
static_assert(std::endian::native == std::endian::little, "loadBe64/storeBe64 assume it");

uint64_t loadBe64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

void storeBe64(uint8_t* p, uint64_t v) noexcept {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

// dst ^= src, one block.
inline void xorBlock(uint8_t* dst, const uint8_t* src) noexcept {
  uint64_t a[2], b[2];
  std::memcpy(a, dst, kBlock);
  std::memcpy(b, src, kBlock);
  a[0] ^= b[0];
  a[1] ^= b[1];
  std::memcpy(dst, a, kBlock);
}

// out = a ^ b over n bytes; out may be a or b.
void xorTo(uint8_t* out, const uint8_t* a, const uint8_t* b, size_t n) noexcept {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    x ^= y;
    std::memcpy(out + i, &x, 8);
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(a[i] ^ b[i]);
}

// dbl() of RFC 5297 §2.3 / RFC 4493: multiplication by x in GF(2^128), big-endian, without a
// key-dependent branch. out may be in.
void dbl(const uint8_t* in, uint8_t* out) noexcept {
  const uint64_t hi = loadBe64(in);
  const uint64_t lo = loadBe64(in + 8);
  const uint64_t reduce = (uint64_t{0} - (hi >> 63)) & 0x87;
  storeBe64(out, (hi << 1) | (lo >> 63));
  storeBe64(out + 8, (lo << 1) ^ reduce);
}

}  // namespace

// Per-operation stack scratch. Everything in it is key- or plaintext-derived: cleansed on the
// way out, whatever the result (only the part of buf that was used).
struct AesSiv::Scratch {
  struct Small {
    uint8_t d[kBlock];         // S2V's running value
    uint8_t c[kBlock];         // CMAC of one AD component
    uint8_t last[kBlock];      // CMAC's last block
    uint8_t tail[2 * kBlock];  // S2V's last one or two blocks of T
    uint8_t got[kBlock];       // recomputed SIV (open)
  } s;
  size_t used = 0;
  uint8_t buf[kSivChunk];  // CBC output or keystream

  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    OPENSSL_cleanse(&s, sizeof(s));
    if (used != 0) OPENSSL_cleanse(buf, used);
  }
};

common::Status AesSiv::setKey(ByteSpan key) {
  mac_.reset();
  ctr_.reset();
  state_ = common::SecretBytes();
  next_ad_slot_ = 0;
  if (key.size() != 32 && key.size() != 48 && key.size() != 64) {
    return initError("AES-SIV needs a 32, 48 or 64-byte key");
  }
  const size_t half = key.size() / 2;  // RFC 5297 §2.6: K1 (S2V) = leftmost half, K2 (CTR) = rest
  const EVP_CIPHER* cbc = internal::aesCbc(half);
  const EVP_CIPHER* ecb = internal::aesEcb(half);
  if (cbc == nullptr || ecb == nullptr) return initError("OpenSSL has no AES-CBC or AES-ECB");
  internal::EvpCipherCtxPtr mac(EVP_CIPHER_CTX_new());
  internal::EvpCipherCtxPtr ctr(EVP_CIPHER_CTX_new());
  if (!mac || !ctr || EVP_CipherInit_ex2(mac.get(), cbc, key.data(), kZeroBlock, 1, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(mac.get(), 0) != 1 ||
      EVP_CipherInit_ex2(ctr.get(), ecb, key.data() + half, nullptr, 1, nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctr.get(), 0) != 1) {
    return initError("AES-SIV key setup failed");
  }
  mac_ = std::move(mac);
  ctr_ = std::move(ctr);
  // Zeroed: the chaining value is mac_'s zero IV, and every AD cache slot is empty.
  state_ = common::SecretBytes(kStateSize);
  uint8_t* s = state_.data();
  // RFC 4493 §2.3: L = E(K, 0^128), K1 = dbl(L), K2 = dbl(K1). S2V's first D = CMAC(<zero>),
  // and CMAC of one complete zero block is E(K, 0 ^ K1).
  Scratch sc;
  bool ok = cbcMac(sc, kZeroBlock, kBlock, nullptr, 0, sc.s.c);
  if (ok) {
    dbl(sc.s.c, s + kSubkey1);
    dbl(s + kSubkey1, s + kSubkey2);
    ok = cbcMac(sc, s + kSubkey1, kBlock, nullptr, 0, s + kD0);
  }
  if (!ok || !mac_) {
    mac_.reset();
    ctr_.reset();
    state_ = common::SecretBytes();
    return initError("AES-SIV subkey derivation failed");
  }
  return common::Status::ok();
}

// CBC-MAC from a zero IV over head | tail (byte counts multiples of 16, not both zero); `out`
// receives the last ciphertext block. Both parts go through the same stack buffer, so a message
// up to kSivChunk bytes is one EVP call.
bool AesSiv::cbcMac(Scratch& sc, const uint8_t* head, size_t head_n, const uint8_t* tail,
                    size_t tail_n, uint8_t* out) noexcept {
  if (!mac_) return false;
  uint8_t* buf = sc.buf;
  uint8_t* chain = state_.data() + kChain;
  bool first = true;
  bool ok = true;
  size_t h = 0, t = 0;
  while (ok && (h < head_n || t < tail_n)) {
    size_t fill = 0;
    if (h < head_n) {
      fill = std::min(head_n - h, kSivChunk);
      std::memcpy(buf, head + h, fill);
      h += fill;
    }
    if (h == head_n && t < tail_n && fill < kSivChunk) {
      const size_t take = std::min(tail_n - t, kSivChunk - fill);
      std::memcpy(buf + fill, tail + t, take);
      t += take;
      fill += take;
    }
    sc.used = std::max(sc.used, fill);
    // Cancel the chaining value left by the previous message (see the comment above).
    if (first) xorBlock(buf, chain);
    first = false;
    int len = 0;
    ok = EVP_EncryptUpdate(mac_.get(), buf, &len, buf, static_cast<int>(fill)) == 1 &&
         static_cast<size_t>(len) == fill;
    if (ok) std::memcpy(chain, buf + fill - kBlock, kBlock);
  }
  if (ok) {
    std::memcpy(out, chain, kBlock);
    return true;
  }
  // The context's chaining value is unknown now: back to a zero IV, or fail closed for good.
  if (EVP_CipherInit_ex2(mac_.get(), nullptr, nullptr, kZeroBlock, 1, nullptr) == 1) {
    std::memset(chain, 0, kBlock);
  } else {
    mac_.reset();
  }
  return false;
}

// AES-CMAC (RFC 4493) of m.
bool AesSiv::cmac(Scratch& sc, const uint8_t* m, size_t n, uint8_t* out) noexcept {
  const uint8_t* s = state_.data();
  uint8_t* last = sc.s.last;
  std::memset(last, 0, kBlock);
  size_t head = 0;
  if (n == 0) {
    last[0] = 0x80;
    xorBlock(last, s + kSubkey2);
  } else {
    head = (n - 1) / kBlock * kBlock;
    const size_t r = n - head;  // 1..16 bytes in the last block
    std::memcpy(last, m + head, r);
    if (r == kBlock) {
      xorBlock(last, s + kSubkey1);
    } else {
      last[r] = 0x80;
      xorBlock(last, s + kSubkey2);
    }
  }
  return cbcMac(sc, m, head, last, kBlock, out);
}

// S2V over the AD components: sc.s.d = D just before the plaintext (RFC 5297 §2.4:
// D = CMAC(<zero>), then D = dbl(D) xor CMAC(Si) for each component).
bool AesSiv::absorbAd(Scratch& sc, std::span<const ByteSpan> ad) noexcept {
  if (!mac_) return false;
  uint8_t* s = state_.data();
  // The cache key: the component zero-padded to 16 bytes, plus its length + 1 (0 = free slot).
  uint8_t key[kBlock] = {};
  uint8_t tag = 0;
  if (ad.size() == 1 && ad[0].size() <= kBlock) {
    if (!ad[0].empty()) std::memcpy(key, ad[0].data(), ad[0].size());
    tag = static_cast<uint8_t>(ad[0].size() + 1);
    for (size_t i = 0; i < kAdSlots; ++i) {
      const uint8_t* slot = s + kAdCache + i * kAdSlotSize;
      // Public data (the AD): an ordinary comparison is fine.
      if (slot[kBlock] == tag && std::memcmp(slot, key, kBlock) == 0) {
        std::memcpy(sc.s.d, slot + 2 * kBlock, kBlock);
        return true;
      }
    }
  }
  std::memcpy(sc.s.d, s + kD0, kBlock);
  for (const ByteSpan& a : ad) {
    if (!sizeOk(a.size()) || !cmac(sc, a.data(), a.size(), sc.s.c)) return false;
    dbl(sc.s.d, sc.s.d);
    xorBlock(sc.s.d, sc.s.c);
  }
  if (tag != 0) {
    uint8_t* slot = s + kAdCache + next_ad_slot_ * kAdSlotSize;
    next_ad_slot_ = (next_ad_slot_ + 1) % kAdSlots;
    std::memcpy(slot, key, kBlock);
    slot[kBlock] = tag;
    std::memcpy(slot + 2 * kBlock, sc.s.d, kBlock);
  }
  return true;
}

// The end of S2V: v = CMAC(T) with T from the plaintext (the last component) and sc.s.d.
bool AesSiv::s2vFinal(Scratch& sc, const uint8_t* pt, size_t n, uint8_t* v) noexcept {
  const uint8_t* s = state_.data();
  uint8_t* d = sc.s.d;
  uint8_t* tail = sc.s.tail;
  std::memset(tail, 0, sizeof(sc.s.tail));
  if (n >= kBlock) {
    // T = Sn xorend D, then CMAC(T). Only the last 16..31 bytes of T differ from Sn or need
    // CMAC's last-block treatment; they are built in `tail`, the rest is read in place.
    const size_t head = (n - kBlock) / kBlock * kBlock;
    const size_t t = n - head;  // 16..31
    std::memcpy(tail, pt + head, t);
    xorBlock(tail + t - kBlock, d);
    if (t == kBlock) {
      xorBlock(tail, s + kSubkey1);
      return cbcMac(sc, pt, head, tail, kBlock, v);
    }
    tail[t] = 0x80;
    xorBlock(tail + kBlock, s + kSubkey2);
    return cbcMac(sc, pt, head, tail, 2 * kBlock, v);
  }
  // T = dbl(D) xor pad(Sn): one complete block, so CMAC(T) = E(T xor K1).
  std::memcpy(tail, pt, n);
  tail[n] = 0x80;
  dbl(d, d);
  xorBlock(tail, d);
  xorBlock(tail, s + kSubkey1);
  return cbcMac(sc, nullptr, 0, tail, kBlock, v);
}

// CTR (RFC 5297 §2.5) keyed with the second half of the key, IV from the SIV: out = in xor
// keystream. out may be in.
bool AesSiv::ctr(Scratch& sc, const uint8_t* siv, const uint8_t* in, size_t n,
                 uint8_t* out) noexcept {
  if (!ctr_) return false;
  // Q = V with bits 63 and 31 of its right half cleared.
  const uint64_t hi = loadBe64(siv);
  uint64_t lo = loadBe64(siv + 8) & ~((uint64_t{1} << 63) | (uint64_t{1} << 31));
  uint64_t carry = 0;
  uint8_t* ks = sc.buf;
  for (size_t done = 0; done < n;) {
    const size_t take = std::min(n - done, kSivChunk);
    const size_t bytes = (take + kBlock - 1) / kBlock * kBlock;
    for (size_t i = 0; i < bytes; i += kBlock) {
      // Q + i mod 2^128. The carry into the left half never happens (lo starts below 2^63 and
      // n <= 2^30), but the RFC's arithmetic is kept.
      storeBe64(ks + i, hi + carry);
      storeBe64(ks + i + 8, lo);
      ++lo;
      carry += lo == 0 ? 1 : 0;
    }
    sc.used = std::max(sc.used, bytes);
    int len = 0;
    if (EVP_EncryptUpdate(ctr_.get(), ks, &len, ks, static_cast<int>(bytes)) != 1 ||
        static_cast<size_t>(len) != bytes) {
      return false;
    }
    xorTo(out + done, in + done, ks, take);
    done += take;
  }
  return true;
}

bool AesSiv::sealV(std::span<const ByteSpan> ad, const uint8_t* pt, size_t n, uint8_t* ct,
                   uint8_t* siv) noexcept {
  if (!hasKey() || !sizeOk(n) || n == 0) return false;
  Scratch sc;
  uint8_t v[kBlock];  // the SIV: public once written out
  if (!absorbAd(sc, ad) || !s2vFinal(sc, pt, n, v) || !ctr(sc, v, pt, n, ct)) return false;
  std::memcpy(siv, v, kBlock);
  return true;
}

bool AesSiv::openV(std::span<const ByteSpan> ad, const uint8_t* ct, size_t n, const uint8_t* siv,
                   uint8_t* pt) noexcept {
  if (!hasKey() || !sizeOk(n) || n == 0) return false;
  Scratch sc;
  uint8_t want[kBlock];
  std::memcpy(want, siv, kBlock);  // copied first: siv may lie in the buffer pt is written to
  // Decrypt into the caller's scratch, recompute the SIV over that plaintext, and release it
  // only if both SIVs are equal (constant-time compare).
  const bool ok = ctr(sc, want, ct, n, pt) && absorbAd(sc, ad) && s2vFinal(sc, pt, n, sc.s.got) &&
                  CRYPTO_memcmp(sc.s.got, want, kBlock) == 0;
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
