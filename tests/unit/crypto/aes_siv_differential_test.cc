// AesSiv (RFC 5297 written out over AES-CBC/AES-ECB contexts keyed once) against OpenSSL's own
// "AES-{128,192,256}-SIV", which it replaced: the envelopes already stored in customers'
// databases were made by OpenSSL's implementation, so every output byte must stay the same.
//
// The reference below is the code AesSiv used before (one freshly keyed EVP context per
// operation, each AD component one update with out == NULL); it is kept here, test-only.

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/base64.h"
#include "crypto/field_cipher.h"
#include "crypto/internal/openssl_ptr.h"
#include "crypto/keyring.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using testing::fromHex;
using testing::toHex;
using Bytes = std::vector<uint8_t>;
constexpr size_t kAesBlock = 16;

// ---------------------------------------------------------------------------------------------
// Reference: OpenSSL's AES-SIV.

// OpenSSL's SIV takes an update with in == NULL for the final call, so an empty AD component
// must be passed with a non-null pointer to count as a component (RFC 5297 semantics). The old
// AesSiv passed a.data(), which is null for an empty vector: such a call failed there; AesSiv
// now gives it the RFC meaning, checked against this reference.
const uint8_t* nonNull(const Bytes& a) {
  static const uint8_t kEmpty = 0;
  return a.empty() ? &kEmpty : a.data();
}

bool referenceSeal(const Bytes& key, const std::vector<Bytes>& ad, const Bytes& pt, Bytes* ct,
                   Bytes* siv) {
  const EVP_CIPHER* cipher = internal::aesSiv(key.size());
  internal::EvpCipherCtxPtr c(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !c ||
      EVP_CipherInit_ex2(c.get(), cipher, key.data(), nullptr, 1, nullptr) != 1) {
    return false;
  }
  int len = 0;
  for (const Bytes& a : ad) {
    if (EVP_CipherUpdate(c.get(), nullptr, &len, nonNull(a), static_cast<int>(a.size())) != 1) {
      return false;
    }
  }
  ct->assign(pt.size(), 0);
  siv->assign(kTagSize, 0);
  return EVP_CipherUpdate(c.get(), ct->data(), &len, pt.data(), static_cast<int>(pt.size())) == 1 &&
         static_cast<size_t>(len) == pt.size() &&
         EVP_CipherFinal_ex(c.get(), ct->data() + pt.size(), &len) == 1 && len == 0 &&
         EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_AEAD_GET_TAG, kTagSize, siv->data()) == 1;
}

bool referenceOpen(const Bytes& key, const std::vector<Bytes>& ad, const Bytes& ct,
                   const Bytes& siv, Bytes* pt) {
  const EVP_CIPHER* cipher = internal::aesSiv(key.size());
  internal::EvpCipherCtxPtr c(EVP_CIPHER_CTX_new());
  if (cipher == nullptr || !c ||
      EVP_CipherInit_ex2(c.get(), cipher, key.data(), nullptr, 0, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.get(), EVP_CTRL_AEAD_SET_TAG, kTagSize,
                          const_cast<uint8_t*>(siv.data())) != 1) {
    return false;
  }
  int len = 0;
  for (const Bytes& a : ad) {
    if (EVP_CipherUpdate(c.get(), nullptr, &len, nonNull(a), static_cast<int>(a.size())) != 1) {
      return false;
    }
  }
  pt->assign(ct.size(), 0);
  return EVP_CipherUpdate(c.get(), pt->data(), &len, ct.data(), static_cast<int>(ct.size())) == 1 &&
         static_cast<size_t>(len) == ct.size() &&
         EVP_CipherFinal_ex(c.get(), pt->data() + ct.size(), &len) == 1 && len == 0;
}

std::vector<ByteSpan> spans(const std::vector<Bytes>& ad) {
  return std::vector<ByteSpan>(ad.begin(), ad.end());
}

// ---------------------------------------------------------------------------------------------
// The reference itself reproduces RFC 5297 appendix A (so agreeing with it means agreeing with
// the RFC, not with a shared misreading).

TEST(AesSivDifferentialTest, ReferenceReproducesRfc5297Vectors) {
  Bytes ct, siv, back;
  const Bytes k1 =
      fromHex("fffefdfc fbfaf9f8 f7f6f5f4 f3f2f1f0 f0f1f2f3 f4f5f6f7 f8f9fafb fcfdfeff");
  const std::vector<Bytes> ad1 = {fromHex("10111213 14151617 18191a1b 1c1d1e1f 20212223 24252627")};
  const Bytes pt1 = fromHex("11223344 55667788 99aabbcc ddee");
  ASSERT_TRUE(referenceSeal(k1, ad1, pt1, &ct, &siv));
  EXPECT_EQ(toHex(siv), "85632d07c6e8f37f950acd320a2ecc93");
  EXPECT_EQ(toHex(ct), "40c02b9690c4dc04daef7f6afe5c");
  ASSERT_TRUE(referenceOpen(k1, ad1, ct, siv, &back));
  EXPECT_EQ(back, pt1);

  const Bytes k2 =
      fromHex("7f7e7d7c 7b7a7978 77767574 73727170 40414243 44454647 48494a4b 4c4d4e4f");
  const std::vector<Bytes> ad2 = {
      fromHex("00112233 44556677 8899aabb ccddeeff deaddada deaddada ffeeddcc bbaa9988 77665544 "
              "33221100"),
      fromHex("10203040 50607080 90a0"), fromHex("09f91102 9d74e35b d84156c5 635688c0")};
  const Bytes pt2 = fromHex(
      "74686973 20697320 736f6d65 20706c61 696e7465 78742074 6f20656e 63727970 74207573 696e6720"
      "5349562d 414553");
  ASSERT_TRUE(referenceSeal(k2, ad2, pt2, &ct, &siv));
  EXPECT_EQ(toHex(siv), "7bdb6e3b432667eb06f4d14bff2fbd0f");
  EXPECT_EQ(toHex(ct),
            "cb900f2fddbe404326601965c889bf17dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c48"
            "5b62a3fd5c0d");
}

// ---------------------------------------------------------------------------------------------
// Random differential test.

struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  size_t below(size_t n) { return static_cast<size_t>(rng() % n); }
  Bytes bytes(size_t n) {
    Bytes b(n);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    return b;
  }
  // Plaintext lengths 1..4096: every length up to 80 (all the CMAC/xorend/padding branches),
  // lengths around the 512-byte chunk of AesSiv's stack buffers and its multiples, and uniform.
  size_t plaintextLength() {
    switch (below(4)) {
      case 0:
        return 1 + below(80);
      case 1: {
        const size_t base = 512 * (1 + below(8));  // 512 .. 4096
        const size_t n = base - 20 + below(41);
        return std::clamp<size_t>(n, 1, 4096);
      }
      case 2:
        return 1 + below(4096);
      default:
        return 1 + below(300);
    }
  }
  // AD as FieldCipher passes it: one component, the 14-byte deterministic header
  // (version 0x01, algorithm 0x02, key id, path tag); mostly one of `pool` (24 headers, more
  // than AesSiv's 16 cached ones, so its AD cache both hits and evicts), sometimes a fresh one.
  // Otherwise the general API: one component of 0..16 bytes (also cached), or 0..4 components
  // of 0..1100 bytes (empty ones included: they count in S2V).
  Bytes header() {
    Bytes h = bytes(kSivHeaderSize);
    h[0] = kEnvelopeVersion;
    h[1] = kAlgAes256Siv;
    return h;
  }
  std::vector<Bytes> ad(const std::vector<Bytes>& pool) {
    const size_t kind = below(20);
    if (kind < 12) return {pool[below(pool.size())]};
    if (kind < 15) return {header()};
    if (kind < 17) return {bytes(below(kAesBlock + 1))};
    std::vector<Bytes> ad(below(5));
    for (auto& a : ad) {
      const size_t k = below(4);
      a = bytes(k == 0 ? 0 : k == 1 ? 1 + below(40) : k == 2 ? 16 * below(4) : below(1100));
    }
    return ad;
  }
  size_t keySize() {
    const size_t k = below(10);
    return k == 0 ? 32 : k == 1 ? 48 : 64;  // mostly the envelope's 64
  }
};

TEST(AesSivDifferentialTest, MatchesOpenSslOnRandomInputsAndOpensCrosswise) {
  constexpr uint64_t kSeed = 0x5eed5175;
  constexpr int kKeys = 200;
  constexpr int kOpsPerKey = 60;  // one AesSiv per key, reused: its contexts carry state across ops
  Gen g(kSeed);
  int cases = 0, tampered = 0, in_place = 0, fieldcipher_shaped = 0;
  for (int k = 0; k < kKeys; ++k) {
    const Bytes key = g.bytes(g.keySize());
    AesSiv siv;
    ASSERT_TRUE(siv.setKey(key).isOk());
    std::vector<Bytes> pool;
    for (int i = 0; i < 24; ++i) pool.push_back(g.header());
    for (int op = 0; op < kOpsPerKey; ++op, ++cases) {
      SCOPED_TRACE("seed " + std::to_string(kSeed) + ", key " + std::to_string(k) + ", op " +
                   std::to_string(op));
      const std::vector<Bytes> ad = g.ad(pool);
      const auto ad_spans = spans(ad);
      if (ad.size() == 1 && ad[0].size() == kSivHeaderSize) ++fieldcipher_shaped;
      const Bytes pt = g.bytes(g.plaintextLength());

      Bytes want_ct, want_siv;
      ASSERT_TRUE(referenceSeal(key, ad, pt, &want_ct, &want_siv));

      Bytes ct(pt.size()), tag(kTagSize);
      ASSERT_TRUE(siv.sealV(ad_spans, pt.data(), pt.size(), ct.data(), tag.data()));
      ASSERT_EQ(toHex(tag), toHex(want_siv)) << "pt " << pt.size() << " B, " << ad.size() << " AD";
      ASSERT_EQ(ct, want_ct) << "pt " << pt.size() << " B";

      // Ours opens OpenSSL's output; OpenSSL opens ours (identical bytes, but check anyway).
      Bytes back(pt.size(), 0xee);
      ASSERT_TRUE(
          siv.openV(ad_spans, want_ct.data(), want_ct.size(), want_siv.data(), back.data()));
      ASSERT_EQ(back, pt);
      Bytes ref_back;
      ASSERT_TRUE(referenceOpen(key, ad, ct, tag, &ref_back));
      ASSERT_EQ(ref_back, pt);

      // In place, every few operations.
      if (op % 4 == 0) {
        ++in_place;
        Bytes buf = pt, t2(kTagSize);
        ASSERT_TRUE(siv.sealV(ad_spans, buf.data(), buf.size(), buf.data(), t2.data()));
        ASSERT_EQ(buf, want_ct);
        ASSERT_EQ(t2, want_siv);
        ASSERT_TRUE(siv.openV(ad_spans, buf.data(), buf.size(), t2.data(), buf.data()));
        ASSERT_EQ(buf, pt);
      }

      // One flipped bit anywhere (ciphertext, SIV or an AD byte) fails closed, for both
      // implementations, and our scratch is cleansed.
      if (op % 3 == 0) {
        ++tampered;
        Bytes c2 = ct, t2 = tag;
        std::vector<Bytes> ad2 = ad;
        size_t ad_bytes = 0;
        for (const auto& a : ad) ad_bytes += a.size();
        size_t pos = g.below(c2.size() + t2.size() + ad_bytes);
        const uint8_t bit = static_cast<uint8_t>(1u << g.below(8));
        if (pos < c2.size()) {
          c2[pos] ^= bit;
        } else if ((pos -= c2.size()) < t2.size()) {
          t2[pos] ^= bit;
        } else {
          pos -= t2.size();
          for (auto& a : ad2) {
            if (pos < a.size()) {
              a[pos] ^= bit;
              break;
            }
            pos -= a.size();
          }
        }
        Bytes out(pt.size(), 0xee);
        EXPECT_FALSE(siv.openV(spans(ad2), c2.data(), c2.size(), t2.data(), out.data()));
        EXPECT_TRUE(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0; }))
            << "plaintext scratch not cleansed";
        Bytes ref_out;
        EXPECT_FALSE(referenceOpen(key, ad2, c2, t2, &ref_out));
      }
    }
  }
  EXPECT_GE(cases, 10000);
  EXPECT_GE(fieldcipher_shaped, cases / 2);
  RecordProperty("cases", cases);
  RecordProperty("tampered", tampered);
  RecordProperty("in_place", in_place);
  std::printf(
      "[ differential ] %d random cases (%d FieldCipher-shaped AD, %d in place, %d tampered)"
      " identical to OpenSSL AES-SIV\n",
      cases, fieldcipher_shaped, in_place, tampered);
}

// Edge cases of the message layout, exhaustively for small sizes: AD component lengths 0..40,
// plaintext lengths 1..100, and the number of AD components 0..8.
TEST(AesSivDifferentialTest, ExhaustiveSmallLengthsAndComponentCounts) {
  Gen g(7);
  const Bytes key = g.bytes(64);
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(key).isOk());
  auto check = [&](const std::vector<Bytes>& ad, const Bytes& pt) {
    Bytes want_ct, want_siv, ct(pt.size()), tag(kTagSize);
    ASSERT_TRUE(referenceSeal(key, ad, pt, &want_ct, &want_siv));
    ASSERT_TRUE(siv.sealV(spans(ad), pt.data(), pt.size(), ct.data(), tag.data()));
    ASSERT_EQ(ct, want_ct);
    ASSERT_EQ(tag, want_siv);
  };
  for (size_t a = 0; a <= 40; ++a) {
    for (size_t n = 1; n <= 100; ++n) {
      SCOPED_TRACE("ad " + std::to_string(a) + ", pt " + std::to_string(n));
      check({g.bytes(a)}, g.bytes(n));
    }
  }
  for (size_t count = 0; count <= 8; ++count) {
    SCOPED_TRACE("components " + std::to_string(count));
    std::vector<Bytes> ad;
    for (size_t i = 0; i < count; ++i) ad.push_back(g.bytes(g.below(3) == 0 ? 0 : g.below(50)));
    check(ad, g.bytes(1 + g.below(64)));
  }
}

// AesSiv caches S2V's state after a single AD component of up to 16 bytes, keyed by the
// zero-padded bytes and the length: ADs that differ only in trailing zero bytes, or in one bit,
// must not share an entry; more distinct ADs than slots evict; and every answer, first (computed)
// or repeated (cached), is OpenSSL's.
TEST(AesSivDifferentialTest, AdCacheKeepsLookalikeAdsApart) {
  Gen g(13);
  const Bytes key = g.bytes(64);
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(key).isOk());
  std::vector<Bytes> ads;
  for (size_t n = 0; n <= kAesBlock; ++n) ads.push_back(Bytes(n, 0));  // "", 00, 00 00, ...
  for (size_t n = 1; n <= kAesBlock; ++n) {
    Bytes a(n, 0);
    a[n - 1] = 0x80;  // looks like CMAC padding
    ads.push_back(a);
  }
  Bytes h = g.header();
  ads.push_back(h);
  for (int bit = 0; bit < 8; ++bit) {
    Bytes h2 = h;
    h2[13] ^= static_cast<uint8_t>(1u << bit);
    ads.push_back(h2);
  }
  const Bytes pt = g.bytes(21);
  for (int round = 0; round < 3; ++round) {
    for (size_t i = 0; i < ads.size(); ++i) {
      // Forwards then backwards: some lookups hit, some were evicted.
      const Bytes& a = ads[round == 1 ? ads.size() - 1 - i : i];
      SCOPED_TRACE("round " + std::to_string(round) + ", ad " + toHex(a));
      Bytes want_ct, want_siv, ct(pt.size()), tag(kTagSize), back(pt.size());
      ASSERT_TRUE(referenceSeal(key, {a}, pt, &want_ct, &want_siv));
      ASSERT_TRUE(siv.seal({a}, pt.data(), pt.size(), ct.data(), tag.data()));
      ASSERT_EQ(tag, want_siv);
      ASSERT_EQ(ct, want_ct);
      ASSERT_TRUE(siv.open({a}, ct.data(), ct.size(), tag.data(), back.data()));
      ASSERT_EQ(back, pt);
      // The same bytes as two components, or as a longer single one, are other ADs.
      if (!a.empty()) {
        const Bytes first(a.begin(), a.begin() + 1), rest(a.begin() + 1, a.end());
        EXPECT_FALSE(siv.openV(std::vector<ByteSpan>{first, rest}, ct.data(), ct.size(), tag.data(),
                               back.data()));
      }
      Bytes longer = a;
      longer.push_back(0);
      EXPECT_FALSE(siv.open({longer}, ct.data(), ct.size(), tag.data(), back.data()));
    }
  }
}

TEST(AesSivDifferentialTest, EmptyPlaintextIsRefusedAsBefore) {
  AesSiv siv;
  ASSERT_TRUE(siv.setKey(Bytes(64, 3)).isOk());
  uint8_t buf[1] = {0}, tag[kTagSize] = {};
  const Bytes ad = {1};
  EXPECT_FALSE(siv.seal({ad}, buf, 0, buf, tag));
  EXPECT_FALSE(siv.open({ad}, buf, 0, tag, buf));
  AesSiv unkeyed;
  EXPECT_FALSE(unkeyed.seal({ad}, buf, 1, buf, tag));
  EXPECT_FALSE(unkeyed.open({ad}, buf, 1, tag, buf));
}

// ---------------------------------------------------------------------------------------------
// Whole envelopes: FieldCipher's deterministic output equals docs/FORMAT.md §3.2 computed with
// the reference (HKDF, path tag, header, OpenSSL AES-SIV, base64), for random keys, bindings and
// tokens, with bindings alternating between calls (the path-tag cache).

TEST(AesSivDifferentialTest, FieldCipherEnvelopesMatchTheSpecWithOpenSslSiv) {
  Gen g(11);
  for (int k = 0; k < 8; ++k) {
    const Bytes dek = g.bytes(kDekSize);
    const uint32_t id = 0x10000000u + static_cast<uint32_t>(g.below(0x0fffffff)) + 1;
    KeyringBuilder b;
    ASSERT_TRUE(b.add("pii", 1, id, common::SecretBytes::copyOf(dek)).isOk());
    ASSERT_TRUE(b.setPrimary("pii", 1).isOk());
    FieldCipher fc(*b.build());

    Bytes siv_key(kSivKeySize);
    const std::string_view info = "cosmoseal/v1/aes-256-siv";
    ASSERT_TRUE(hkdfSha256(dek, ByteSpan(),
                           ByteSpan(reinterpret_cast<const uint8_t*>(info.data()), info.size()),
                           siv_key));
    std::vector<std::string> bindings;
    for (int i = 0; i < 6; ++i) {
      bindings.push_back("db" + std::to_string(g.below(3)) + "/c:/f" + std::to_string(i));
    }
    for (int i = 0; i < 200; ++i) {
      const std::string& binding = bindings[g.below(bindings.size())];
      std::string token = "\"";
      const size_t len = g.below(4) == 0 ? g.below(2000) : g.below(40);
      for (size_t j = 0; j < len; ++j) token.push_back(static_cast<char>('a' + g.below(26)));
      token += "\"";
      std::string env;
      ASSERT_TRUE(
          fc.seal(Mode::kDeterministic, "pii", binding, ValueType::kString, token, &env).isOk());

      // The spec, by hand.
      PathTag tag;
      ASSERT_TRUE(computePathTag(binding, &tag));
      Bytes header = {kEnvelopeVersion,
                      kAlgAes256Siv,
                      static_cast<uint8_t>(id >> 24),
                      static_cast<uint8_t>(id >> 16),
                      static_cast<uint8_t>(id >> 8),
                      static_cast<uint8_t>(id)};
      header.insert(header.end(), tag.begin(), tag.end());
      Bytes pt = {static_cast<uint8_t>(ValueType::kString)};
      pt.insert(pt.end(), token.begin(), token.end());
      Bytes ct, siv;
      ASSERT_TRUE(referenceSeal(siv_key, {header}, pt, &ct, &siv));
      Bytes bin = header;
      bin.insert(bin.end(), ct.begin(), ct.end());
      bin.insert(bin.end(), siv.begin(), siv.end());
      ASSERT_EQ(env, std::string(kEnvelopePrefix) + base64Encode(bin)) << binding << " " << token;

      std::string out;
      const std::string_view expected = binding;
      ASSERT_TRUE(fc.open(env, &expected, &out).isOk());
      ASSERT_EQ(out, token);
    }
  }
}

}  // namespace
}  // namespace cosmoseal::crypto
