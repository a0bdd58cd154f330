#include "crypto/field_cipher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "crypto/base64.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using testing::sequentialSecret;

constexpr uint32_t kPiiV1 = 0x0a0b0c01;
constexpr uint32_t kPiiV2 = 0x0a0b0c02;
constexpr uint32_t kCards = 0x0c0c0c01;
constexpr std::string_view kBinding = "shop/customers:/ssn";
constexpr std::string_view kOtherBinding = "shop/customers:/name";

std::shared_ptr<const Keyring> makeKeyring(bool with_v2 = true, bool with_v1 = true) {
  KeyringBuilder b;
  if (with_v1) {
    EXPECT_TRUE(b.add("pii", 1, kPiiV1, sequentialSecret(64, 10)).isOk());
  }
  if (with_v2) {
    EXPECT_TRUE(b.add("pii", 2, kPiiV2, sequentialSecret(64, 20)).isOk());
  }
  EXPECT_TRUE(b.add("cards", 1, kCards, sequentialSecret(64, 30)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", with_v2 ? 2 : 1).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

std::vector<uint8_t> decodeEnvelope(std::string_view env) {
  EXPECT_TRUE(FieldCipher::hasEnvelopePrefix(env));
  auto d = base64Decode(env.substr(kEnvelopePrefix.size()));
  EXPECT_TRUE(d.isOk());
  return std::vector<uint8_t>(d->begin(), d->end());
}

std::string encodeEnvelope(const std::vector<uint8_t>& bin) {
  std::string s(kEnvelopePrefix);
  base64Append(bin, &s);
  return s;
}

std::string sealOk(FieldCipher& fc, Mode mode, std::string_view binding, ValueType type,
                   std::string_view token, std::string_view key = "pii") {
  std::string out;
  auto s = fc.seal(mode, key, binding, type, token, &out);
  EXPECT_TRUE(s.isOk()) << s.toString();
  return out;
}

struct Sample {
  ValueType type;
  std::string token;
};

std::vector<Sample> samples() {
  std::vector<Sample> v = {
      {ValueType::kString, R"("123-45-6789")"},
      {ValueType::kString, R"("")"},
      {ValueType::kString, R"("caf\u00e9 \ud83d\ude00 \"q\" \\ \/")"},
      {ValueType::kString, "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
      {ValueType::kNumber, "0"},
      {ValueType::kNumber, "-0.0"},
      {ValueType::kNumber, "1.7976931348623157e+308"},
      {ValueType::kNumber, "0.30000000000000004"},
      {ValueType::kNumber, "123456789012345678901234567890123456789"},
      {ValueType::kNumber, "1E-7"},
      {ValueType::kTrue, "true"},
      {ValueType::kFalse, "false"},
      {ValueType::kNull, "null"},
      {ValueType::kObject, "{}"},
      {ValueType::kArray, "[]"},
      {ValueType::kObject, R"({ "a" : [1, {"b": null}], "c":"x\n" })"},
      {ValueType::kArray, R"([1,2.50,"x",[[]],{"k":{}}])"},
  };
  // 1 byte .. 64 KiB.
  std::mt19937 rng(42);
  for (size_t n :
       {1u, 2u, 3u, 15u, 16u, 17u, 31u, 32u, 33u, 255u, 256u, 257u, 1000u, 4096u, 65535u, 65536u}) {
    std::string t(n, '\0');
    for (auto& c : t) c = static_cast<char>(rng());
    v.push_back({ValueType::kObject, t});
  }
  return v;
}

TEST(FieldCipherTest, RoundTripAllTypesAndSizesBothModes) {
  FieldCipher fc(makeKeyring());
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    for (const auto& s : samples()) {
      std::string out = "[";
      ASSERT_TRUE(fc.seal(mode, "pii", kBinding, s.type, s.token, &out).isOk());
      ASSERT_EQ(out[0], '[');
      const std::string env = out.substr(1);
      std::string back = "prefix:";
      auto opened = fc.open(env, &kBinding, &back);
      ASSERT_TRUE(opened.isOk()) << opened.status().toString();
      EXPECT_EQ(back, "prefix:" + s.token) << s.token.size();
      EXPECT_EQ(opened->type, s.type);
      // Randomized seals use the primary (v2); deterministic ones the lowest version (v1).
      EXPECT_EQ(opened->key_id, mode == Mode::kRandomized ? kPiiV2 : kPiiV1);
      EXPECT_EQ(opened->mode, mode);
      // Sizes follow the documented layout.
      const auto bin = decodeEnvelope(env);
      const size_t header = mode == Mode::kRandomized ? kGcmHeaderSize : kSivHeaderSize;
      EXPECT_EQ(bin.size(), header + 1 + s.token.size() + kTagSize);
      EXPECT_EQ(bin[0], kEnvelopeVersion);
      EXPECT_EQ(bin[1], mode == Mode::kRandomized ? kAlgAes256GcmEpoch : kAlgAes256Siv);
    }
  }
}

TEST(FieldCipherTest, EnvelopeNeedsNoJsonEscapingAndHidesThePlaintext) {
  FieldCipher fc(makeKeyring());
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    const std::string env = sealOk(fc, mode, kBinding, ValueType::kString, "\"CANARY-1234\"");
    EXPECT_TRUE(env.starts_with("csx1:"));
    for (char c : env) {
      EXPECT_TRUE(c >= 0x20 && c < 0x7f && c != '"' && c != '\\') << int(c);
    }
    EXPECT_EQ(env.find("CANARY"), std::string::npos);
    const auto bin = decodeEnvelope(env);
    EXPECT_EQ(std::search(bin.begin(), bin.end(), std::string_view("CANARY").begin(),
                          std::string_view("CANARY").end()),
              bin.end());
  }
}

TEST(FieldCipherTest, DeterministicEqualitySeparatedByBindingAndKey) {
  auto ring = makeKeyring();
  FieldCipher a(ring), b(ring);
  const auto d1 = sealOk(a, Mode::kDeterministic, kBinding, ValueType::kString, "\"x\"");
  const auto d2 = sealOk(a, Mode::kDeterministic, kBinding, ValueType::kString, "\"x\"");
  const auto d3 = sealOk(b, Mode::kDeterministic, kBinding, ValueType::kString, "\"x\"");
  EXPECT_EQ(d1, d2);
  EXPECT_EQ(d1, d3);  // another instance (another worker) agrees: equality queries work
  EXPECT_NE(d1, sealOk(a, Mode::kDeterministic, kOtherBinding, ValueType::kString, "\"x\""));
  EXPECT_NE(d1,
            sealOk(a, Mode::kDeterministic, "other/customers:/ssn", ValueType::kString, "\"x\""));
  EXPECT_NE(d1, sealOk(a, Mode::kDeterministic, kBinding, ValueType::kString, "\"x\"", "cards"));
  EXPECT_NE(d1, sealOk(a, Mode::kDeterministic, kBinding, ValueType::kString, "\"y\""));
  // Same bytes, other JSON type: other plaintext.
  EXPECT_NE(sealOk(a, Mode::kDeterministic, kBinding, ValueType::kNumber, "1"),
            sealOk(a, Mode::kDeterministic, kBinding, ValueType::kString, "1"));
  // Randomized never repeats.
  EXPECT_NE(sealOk(a, Mode::kRandomized, kBinding, ValueType::kString, "\"x\""),
            sealOk(a, Mode::kRandomized, kBinding, ValueType::kString, "\"x\""));
}

TEST(FieldCipherTest, PathTagChecksCutAndPaste) {
  FieldCipher fc(makeKeyring());
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    const auto env = sealOk(fc, mode, kBinding, ValueType::kString, "\"s\"");
    std::string out = "keep";
    auto moved = fc.open(env, &kOtherBinding, &out);
    ASSERT_FALSE(moved.isOk());
    EXPECT_EQ(moved.status().detail(), "crypto.path_mismatch");
    EXPECT_EQ(moved.status().httpStatus(), 502);
    EXPECT_EQ(out, "keep");
    // Projections: no expected binding, no check.
    auto proj = fc.open(env, nullptr, &out);
    ASSERT_TRUE(proj.isOk());
    EXPECT_EQ(out, "keep\"s\"");
  }
  EXPECT_EQ(fc.stats().failureCount("crypto.path_mismatch"), 2u);
}

// FieldCipher caches key names, key ids and path tags (a few recent ones, then a bounded map
// that is cleared when full). Whatever the cache state, every envelope carries
// computePathTag(binding) and the id of the version its mode uses, equals what a fresh FieldCipher seals, and
// opens with its binding (and only with it): alternating bindings and keys, past the recent
// slots and past the map's capacity.
TEST(FieldCipherTest, CachedBindingsAndKeysGiveTheSameEnvelopesAsAFreshCipher) {
  auto ring = makeKeyring();
  FieldCipher fc(ring);
  std::unique_ptr<FieldCipher> fresh;
  const std::string_view keys[] = {"pii", "cards"};
  const uint32_t rnd_ids[] = {kPiiV2, kCards};  // primary versions
  const uint32_t det_ids[] = {kPiiV1, kCards};  // deterministic (lowest) versions
  std::vector<std::string> bindings;
  for (int i = 0; i < 12; ++i) bindings.push_back("shop/customers:/f" + std::to_string(i));
  std::mt19937 rng(5);
  for (int i = 0; i < 9000; ++i) {
    // Mostly one of 12 bindings (more than the recent slots), sometimes a new one (the map
    // passes its 4096 entries and is cleared once).
    std::string binding = bindings[rng() % bindings.size()];
    if (rng() % 2 == 0) binding = "db/c" + std::to_string(i) + ":/x";
    const size_t k = rng() % 2;
    const Mode mode = rng() % 2 ? Mode::kDeterministic : Mode::kRandomized;
    SCOPED_TRACE(binding + " " + std::string(keys[k]) + " " + std::to_string(i));
    const std::string env = sealOk(fc, mode, binding, ValueType::kNumber, "42", keys[k]);
    const auto bin = decodeEnvelope(env);
    PathTag tag;
    ASSERT_TRUE(computePathTag(binding, &tag));
    const size_t tag_at = mode == Mode::kRandomized ? 6 + kEpochSaltSize : 6;
    ASSERT_TRUE(std::equal(tag.begin(), tag.end(), bin.begin() + tag_at));
    ASSERT_EQ(
        (uint32_t{bin[2]} << 24) | (uint32_t{bin[3]} << 16) | (uint32_t{bin[4]} << 8) | bin[5],
        mode == Mode::kDeterministic ? det_ids[k] : rnd_ids[k]);
    if (mode == Mode::kDeterministic && i % 97 == 0) {
      fresh = std::make_unique<FieldCipher>(ring);
      ASSERT_EQ(sealOk(*fresh, mode, binding, ValueType::kNumber, "42", keys[k]), env);
    }
    std::string out;
    const std::string_view expected = binding;
    ASSERT_TRUE(fc.open(env, &expected, &out).isOk());
    ASSERT_EQ(out, "42");
    const std::string_view other = bindings[(i + 1) % bindings.size()];
    if (other != binding) {
      auto r = fc.open(env, &other, &out);
      ASSERT_FALSE(r.isOk());
      ASSERT_EQ(r.status().detail(), "crypto.path_mismatch");
    }
  }
}

// Expected failure code for a flipped byte at `i` of a binary envelope.
std::string_view expectedTamperCode(size_t i) {
  if (i == 0) return "crypto.unsupported_version";
  if (i == 1) return "crypto.unsupported_algorithm";
  if (i < 6) return "crypto.unknown_key";
  return "crypto.auth_failed";
}

TEST(FieldCipherTest, TamperEveryByteAndEveryBitOfSomeBytes) {
  FieldCipher fc(makeKeyring());
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    SCOPED_TRACE(mode == Mode::kRandomized ? "randomized" : "deterministic");
    const auto env = sealOk(fc, mode, kBinding, ValueType::kString, "\"123-45-6789\"");
    const auto bin = decodeEnvelope(env);
    const uint64_t auth_before = fc.stats().failureCount("crypto.auth_failed");
    uint64_t auth_expected = 0;
    auto check = [&](const std::vector<uint8_t>& t, std::string_view code) {
      std::string out;
      auto r = fc.open(encodeEnvelope(t), &kBinding, &out);
      ASSERT_FALSE(r.isOk());
      EXPECT_EQ(r.status().detail(), code);
      EXPECT_EQ(r.status().httpStatus(), 502);
      EXPECT_TRUE(out.empty()) << "plaintext appended on failure";
      if (code == "crypto.auth_failed") ++auth_expected;
    };
    for (size_t i = 0; i < bin.size(); ++i) {
      auto t = bin;
      t[i] ^= 0x01;
      check(t, expectedTamperCode(i));
    }
    // Every bit of: the algorithm byte, a key id byte, the first path-tag byte, the first and
    // last ciphertext bytes and the last tag byte.
    const size_t header = mode == Mode::kRandomized ? kGcmHeaderSize : kSivHeaderSize;
    const size_t path_tag_at = mode == Mode::kRandomized ? 6 + kEpochSaltSize : 6;
    for (size_t i :
         {size_t{1}, size_t{5}, path_tag_at, header, bin.size() - kTagSize - 1, bin.size() - 1}) {
      for (int bit = 0; bit < 8; ++bit) {
        auto t = bin;
        t[i] ^= static_cast<uint8_t>(1 << bit);
        std::string_view code = expectedTamperCode(i);
        if (i == 1) {
          // Flipping an algorithm bit may land on the other algorithm: then the header size
          // differs and the tag cannot verify.
          const uint8_t alg = t[1];
          if (alg == kAlgAes256GcmEpoch || alg == kAlgAes256Siv) code = "crypto.auth_failed";
        }
        check(t, code);
      }
    }
    EXPECT_EQ(fc.stats().failureCount("crypto.auth_failed") - auth_before, auth_expected);
    // The genuine envelope still opens.
    std::string out;
    EXPECT_TRUE(fc.open(env, &kBinding, &out).isOk());
  }
}

TEST(FieldCipherTest, TamperEveryTextCharacter) {
  FieldCipher fc(makeKeyring());
  const std::set<std::string_view> allowed = {"crypto.bad_prefix",
                                              "crypto.bad_base64",
                                              "crypto.truncated",
                                              "crypto.unsupported_version",
                                              "crypto.unsupported_algorithm",
                                              "crypto.unknown_key",
                                              "crypto.auth_failed"};
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    const auto env = sealOk(fc, mode, kBinding, ValueType::kNumber, "42");
    for (size_t i = 0; i < env.size(); ++i) {
      for (char repl : {'A', 'z', '+', '=', ' ', '"'}) {
        if (env[i] == repl) continue;
        std::string t = env;
        t[i] = repl;
        std::string out;
        auto r = fc.open(t, &kBinding, &out);
        ASSERT_FALSE(r.isOk()) << i << " " << repl;
        EXPECT_TRUE(allowed.count(r.status().detail())) << r.status().detail();
        EXPECT_TRUE(out.empty());
      }
    }
  }
}

TEST(FieldCipherTest, TruncatedAndExtendedEnvelopes) {
  FieldCipher fc(makeKeyring());
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    const auto env = sealOk(fc, mode, kBinding, ValueType::kString, "\"abc\"");
    const auto bin = decodeEnvelope(env);
    const size_t header = mode == Mode::kRandomized ? kGcmHeaderSize : kSivHeaderSize;
    // Binary truncation at every length, re-encoded canonically.
    for (size_t len = 0; len < bin.size(); ++len) {
      std::vector<uint8_t> t(bin.begin(), bin.begin() + static_cast<long>(len));
      std::string out;
      auto r = fc.open(encodeEnvelope(t), &kBinding, &out);
      ASSERT_FALSE(r.isOk());
      std::string_view want =
          len < header + 1 + kTagSize ? "crypto.truncated" : "crypto.auth_failed";
      if (len == 0 || len == 1) want = "crypto.truncated";
      EXPECT_EQ(r.status().detail(), want) << len;
      EXPECT_TRUE(out.empty());
    }
    // Text truncation at every length.
    for (size_t len = 0; len < env.size(); ++len) {
      std::string out;
      EXPECT_FALSE(fc.open(env.substr(0, len), &kBinding, &out).isOk());
      EXPECT_TRUE(out.empty());
    }
    // Extra bytes.
    auto longer = bin;
    longer.push_back(0);
    std::string out;
    EXPECT_EQ(fc.open(encodeEnvelope(longer), &kBinding, &out).status().detail(),
              "crypto.auth_failed");
  }
  std::string out;
  EXPECT_EQ(fc.open("", nullptr, &out).status().detail(), "crypto.bad_prefix");
  EXPECT_EQ(fc.open("csx1", nullptr, &out).status().detail(), "crypto.bad_prefix");
  EXPECT_EQ(fc.open("CSX1:AQE=", nullptr, &out).status().detail(), "crypto.bad_prefix");
  EXPECT_EQ(fc.open("csx1:", nullptr, &out).status().detail(), "crypto.truncated");
  EXPECT_EQ(fc.open("csx1:AQE", nullptr, &out).status().detail(), "crypto.bad_base64");
  EXPECT_EQ(fc.open("csx1:AQF=", nullptr, &out).status().detail(), "crypto.bad_base64");
}

TEST(FieldCipherTest, VersionAlgorithmAndKeyErrors) {
  auto ring = makeKeyring();
  FieldCipher fc(ring);
  auto bin = decodeEnvelope(sealOk(fc, Mode::kRandomized, kBinding, ValueType::kNull, "null"));
  std::string out;
  auto v = bin;
  v[0] = 2;
  EXPECT_EQ(fc.open(encodeEnvelope(v), nullptr, &out).status().detail(),
            "crypto.unsupported_version");
  auto a = bin;
  a[1] = 0x7f;
  EXPECT_EQ(fc.open(encodeEnvelope(a), nullptr, &out).status().detail(),
            "crypto.unsupported_algorithm");
  auto k = bin;
  k[2] = 0xee;
  auto r = fc.open(encodeEnvelope(k), nullptr, &out);
  EXPECT_EQ(r.status().detail(), "crypto.unknown_key");
  EXPECT_NE(r.status().message().find("ee0b0c02"), std::string_view::npos);

  std::string s;
  auto unknown = fc.seal(Mode::kRandomized, "nope", kBinding, ValueType::kNull, "null", &s);
  EXPECT_EQ(unknown.detail(), "crypto.unknown_key_name");
  EXPECT_EQ(unknown.code(), common::Code::kFailedPrecondition);
  auto empty = fc.seal(Mode::kRandomized, "pii", kBinding, ValueType::kString, "", &s);
  EXPECT_EQ(empty.detail(), "crypto.empty_plaintext");
  auto empty_d = fc.seal(Mode::kDeterministic, "pii", kBinding, ValueType::kString, "", &s);
  EXPECT_EQ(empty_d.detail(), "crypto.empty_plaintext");
  auto type = fc.seal(Mode::kRandomized, "pii", kBinding, static_cast<ValueType>(0), "1", &s);
  EXPECT_EQ(type.detail(), "crypto.bad_plaintext_type");
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(fc.stats().failureCount("crypto.empty_plaintext"), 2u);
  EXPECT_EQ(fc.stats().failureCount("crypto.unknown_key_name"), 1u);
  EXPECT_EQ(fc.stats().failureCount("crypto.unknown_key"), 1u);
}

TEST(FieldCipherTest, RotationOldVersionsOpenRetiredOnesDoNot) {
  // Sealed under v1 while it was primary.
  FieldCipher old_fc(makeKeyring(/*with_v2=*/false));
  const auto r1 = sealOk(old_fc, Mode::kRandomized, kBinding, ValueType::kString, "\"v1\"");
  const auto d1 = sealOk(old_fc, Mode::kDeterministic, kBinding, ValueType::kString, "\"v1\"");
  // New keyring: v2 primary, v1 decrypt-only.
  FieldCipher fc(makeKeyring());
  std::string out;
  auto o = fc.open(r1, &kBinding, &out);
  ASSERT_TRUE(o.isOk());
  EXPECT_EQ(o->key_id, kPiiV1);
  ASSERT_TRUE(fc.open(d1, &kBinding, &out).isOk());
  EXPECT_EQ(out, "\"v1\"\"v1\"");
  EXPECT_EQ(decodeEnvelope(sealOk(fc, Mode::kRandomized, kBinding, ValueType::kNull, "null"))[5],
            kPiiV2 & 0xff);
  // v1 retired.
  FieldCipher retired(makeKeyring(/*with_v2=*/true, /*with_v1=*/false));
  EXPECT_EQ(retired.open(r1, &kBinding, &out).status().detail(), "crypto.unknown_key");
  EXPECT_EQ(retired.open(d1, &kBinding, &out).status().detail(), "crypto.unknown_key");
}

TEST(FieldCipherTest, MillionRandomizedSealsAreAllDistinct) {
  FieldCipher fc(makeKeyring());
  constexpr int kN = 1'000'000;
  std::vector<std::array<uint64_t, 2>> seen;
  seen.reserve(kN);
  std::string env;
  std::vector<uint8_t> bin(256);
  for (int i = 0; i < kN; ++i) {
    env.clear();
    ASSERT_TRUE(
        fc.seal(Mode::kRandomized, "pii", kBinding, ValueType::kString, "\"same\"", &env).isOk());
    // Whole envelope fingerprint: two independent 64-bit hashes of the text.
    const std::string_view t(env);
    seen.push_back({std::hash<std::string_view>{}(t),
                    std::hash<std::string_view>{}(t.substr(kEnvelopePrefix.size() + 8))});
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end());
  // The last one still opens.
  std::string out;
  EXPECT_TRUE(fc.open(env, &kBinding, &out).isOk());
  EXPECT_EQ(fc.stats().keys[2].seals[0], static_cast<uint64_t>(kN));  // pii v2 (index 2)
  EXPECT_EQ(fc.stats().keys[2].epochs, 1u);                           // one RAND_bytes in total
}

TEST(FieldCipherTest, SaltAndNonceUniquenessAcrossEpochs) {
  SequenceRandomForTest rng(5);
  FieldCipher::Options opt;
  opt.epoch_max_seals = 1000;
  FieldCipher fc(makeKeyring(), &rng, opt);
  // std::string keys: comparing std::vector<uint8_t> keys (operator<=>) draws a false GCC 12 -O3
  // -Wstringop-overread from the memcmp it inlines.
  std::set<std::string> salt_nonce, salts;
  for (int i = 0; i < 20'000; ++i) {
    const auto bin =
        decodeEnvelope(sealOk(fc, Mode::kRandomized, kBinding, ValueType::kTrue, "true"));
    std::vector<uint8_t> sn(bin.begin() + 6, bin.begin() + kGcmHeaderSize);
    sn.erase(sn.begin() + kEpochSaltSize, sn.begin() + kEpochSaltSize + kPathTagSize);
    EXPECT_TRUE(salt_nonce.insert(std::string(sn.begin(), sn.end())).second);
    salts.insert(std::string(bin.begin() + 6, bin.begin() + 6 + kEpochSaltSize));
    // Never an all-zero nonce.
    const uint8_t* nonce = bin.data() + 6 + kEpochSaltSize + kPathTagSize;
    EXPECT_FALSE(std::all_of(nonce, nonce + 12, [](uint8_t b) { return b == 0; }));
  }
  EXPECT_EQ(salts.size(), 20u);
  EXPECT_EQ(rng.calls, 20);
}

TEST(FieldCipherTest, EpochRollsAtTheThresholdAndOldEpochsStillOpen) {
  SequenceRandomForTest rng(9);
  FieldCipher::Options opt;
  opt.epoch_max_seals = 3;
  FieldCipher fc(makeKeyring(), &rng, opt);
  std::vector<std::string> envs;
  std::vector<std::vector<uint8_t>> salts;
  for (int i = 0; i < 10; ++i) {
    envs.push_back(sealOk(fc, Mode::kRandomized, kBinding, ValueType::kNumber, std::to_string(i)));
    const auto bin = decodeEnvelope(envs.back());
    salts.emplace_back(bin.begin() + 6, bin.begin() + 6 + kEpochSaltSize);
    // Counter restarts at 1 in each epoch.
    EXPECT_EQ(bin[6 + kEpochSaltSize + kPathTagSize + 11], i % 3 + 1);
  }
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(salts[i] == salts[i / 3 * 3], true) << i;
    if (i % 3 == 0 && i > 0) {
      EXPECT_NE(salts[i], salts[i - 1]);
    }
  }
  EXPECT_EQ(fc.stats().keys[2].epochs, 4u);
  EXPECT_EQ(rng.calls, 4);
  // A fresh instance (another worker/pod) opens every epoch's envelopes.
  FieldCipher other(makeKeyring());
  for (int i = 0; i < 10; ++i) {
    std::string out;
    ASSERT_TRUE(other.open(envs[i], &kBinding, &out).isOk()) << i;
    EXPECT_EQ(out, std::to_string(i));
  }
  EXPECT_EQ(other.stats().decrypt_cache_misses, 4u);
  EXPECT_EQ(other.stats().decrypt_cache_hits, 6u);
}

TEST(FieldCipherTest, RandomSourceFailureEmitsNothing) {
  FailingRandomForTest bad;
  FieldCipher fc(makeKeyring(), &bad);
  std::string out = "untouched";
  auto s = fc.seal(Mode::kRandomized, "pii", kBinding, ValueType::kString, "\"x\"", &out);
  EXPECT_EQ(s.detail(), "crypto.rng_failed");
  EXPECT_EQ(s.code(), common::Code::kInternal);
  EXPECT_EQ(out, "untouched");
  // Deterministic sealing needs no randomness.
  EXPECT_TRUE(
      fc.seal(Mode::kDeterministic, "pii", kBinding, ValueType::kString, "\"x\"", &out).isOk());

  // RNG fails exactly when an exhausted epoch must roll: refuse rather than reuse.
  SequenceRandomForTest seq(3);
  FieldCipher::Options opt;
  opt.epoch_max_seals = 2;
  FieldCipher fc2(makeKeyring(), &seq, opt);
  std::string o2;
  ASSERT_TRUE(fc2.seal(Mode::kRandomized, "pii", kBinding, ValueType::kNull, "null", &o2).isOk());
  ASSERT_TRUE(fc2.seal(Mode::kRandomized, "pii", kBinding, ValueType::kNull, "null", &o2).isOk());
  seq.fail = true;
  const std::string before = o2;
  EXPECT_EQ(fc2.seal(Mode::kRandomized, "pii", kBinding, ValueType::kNull, "null", &o2).detail(),
            "crypto.rng_failed");
  EXPECT_EQ(o2, before);
  seq.fail = false;
  EXPECT_TRUE(fc2.seal(Mode::kRandomized, "pii", kBinding, ValueType::kNull, "null", &o2).isOk());
  EXPECT_EQ(fc2.stats().failureCount("crypto.rng_failed"), 1u);
}

TEST(FieldCipherTest, DecryptCacheIsBoundedAndForgedSaltsDoNotEnterIt) {
  SequenceRandomForTest rng(11);
  FieldCipher::Options seal_opt;
  seal_opt.epoch_max_seals = 1;  // a new salt for every seal
  FieldCipher sealer(makeKeyring(), &rng, seal_opt);
  std::vector<std::string> envs;
  for (int i = 0; i < 6; ++i) {
    envs.push_back(sealOk(sealer, Mode::kRandomized, kBinding, ValueType::kNumber, "1"));
  }
  FieldCipher::Options open_opt;
  open_opt.decrypt_cache_size = 4;
  FieldCipher fc(makeKeyring(), nullptr, open_opt);
  std::string out;
  for (const auto& e : envs) ASSERT_TRUE(fc.open(e, nullptr, &out).isOk());
  EXPECT_EQ(fc.stats().decrypt_cache_misses, 6u);
  // The 4 most recent hit; the 2 oldest were evicted.
  for (int i = 5; i >= 2; --i) ASSERT_TRUE(fc.open(envs[i], nullptr, &out).isOk());
  EXPECT_EQ(fc.stats().decrypt_cache_hits, 4u);
  ASSERT_TRUE(fc.open(envs[0], nullptr, &out).isOk());
  EXPECT_EQ(fc.stats().decrypt_cache_misses, 7u);

  // A forged salt misses, fails, and evicts nothing.
  auto bin = decodeEnvelope(envs[2]);
  bin[7] ^= 0xff;
  EXPECT_EQ(fc.open(encodeEnvelope(bin), nullptr, &out).status().detail(), "crypto.auth_failed");
  EXPECT_EQ(fc.stats().decrypt_cache_misses, 8u);
  const uint64_t hits = fc.stats().decrypt_cache_hits;
  for (int i : {0, 2, 3, 4}) ASSERT_TRUE(fc.open(envs[i], nullptr, &out).isOk());
  EXPECT_EQ(fc.stats().decrypt_cache_hits, hits + 4);
}

TEST(FieldCipherTest, StatsCountPerKeyAndMode) {
  FieldCipher fc(makeKeyring());
  const auto r = sealOk(fc, Mode::kRandomized, kBinding, ValueType::kNull, "null");
  const auto d = sealOk(fc, Mode::kDeterministic, kBinding, ValueType::kNull, "null", "cards");
  std::string out;
  ASSERT_TRUE(fc.open(r, nullptr, &out).isOk());
  ASSERT_TRUE(fc.open(d, nullptr, &out).isOk());
  ASSERT_TRUE(fc.open(d, nullptr, &out).isOk());
  const auto s = fc.stats();
  ASSERT_EQ(s.keys.size(), 3u);
  // Keyring order: cards v1, pii v1, pii v2.
  EXPECT_EQ(s.keys[0].id, kCards);
  EXPECT_EQ(s.keys[0].seals[1], 1u);
  EXPECT_EQ(s.keys[0].opens[1], 2u);
  EXPECT_EQ(s.keys[2].id, kPiiV2);
  EXPECT_EQ(s.keys[2].seals[0], 1u);
  EXPECT_EQ(s.keys[2].opens[0], 1u);
  EXPECT_EQ(s.keys[1].seals[0] + s.keys[1].opens[0], 0u);
  EXPECT_EQ(s.failures.size(), 14u);
  EXPECT_EQ(s.failureCount("crypto.auth_failed"), 0u);
}

TEST(FieldCipherTest, HugeValuesRoundTripAndOversizedAreRefused) {
  FieldCipher fc(makeKeyring());
  const std::string big = "[" + std::string(2 << 20, '1') + "]";  // 2 MiB, scratch is released
  for (Mode mode : {Mode::kRandomized, Mode::kDeterministic}) {
    std::string env, out;
    ASSERT_TRUE(fc.seal(mode, "pii", kBinding, ValueType::kArray, big, &env).isOk());
    ASSERT_TRUE(fc.open(env, &kBinding, &out).isOk());
    EXPECT_EQ(out, big);
    // Small values keep working after the scratch was released.
    EXPECT_EQ(fc.open(sealOk(fc, mode, kBinding, ValueType::kTrue, "true"), &kBinding, &out)
                  .status()
                  .isOk(),
              true);
  }
  std::string s;
  const std::string too_big(kMaxTokenSize + 1, '1');
  auto r = fc.seal(Mode::kRandomized, "pii", kBinding, ValueType::kNumber, too_big, &s);
  EXPECT_EQ(r.detail(), "crypto.too_large");
  EXPECT_EQ(r.httpStatus(), 413);
  EXPECT_TRUE(s.empty());
}

TEST(FieldCipherTest, PrefixCheck) {
  EXPECT_TRUE(FieldCipher::hasEnvelopePrefix("csx1:AAAA"));
  EXPECT_TRUE(FieldCipher::hasEnvelopePrefix("csx1:"));
  EXPECT_FALSE(FieldCipher::hasEnvelopePrefix("csx1"));
  EXPECT_FALSE(FieldCipher::hasEnvelopePrefix("Csx1:AAAA"));
  EXPECT_FALSE(FieldCipher::hasEnvelopePrefix(""));
}

}  // namespace
}  // namespace cosmoseal::crypto

namespace cosmoseal::crypto {
namespace {

// Key rotation: randomized seals move to the new primary; deterministic seals stay on the
// keyring's deterministic version, so equality queries and partition keys written before the
// rotation keep matching.
TEST(FieldCipherRotationTest, DeterministicSealsStayOnTheDeterministicVersion) {
  FieldCipher before(makeKeyring(/*with_v2=*/false));
  const std::string det_v1 = sealOk(before, Mode::kDeterministic, kBinding, ValueType::kString,
                                    "\"078-05-1120\"");
  FieldCipher after(makeKeyring(/*with_v2=*/true));  // v2 added and primary
  const std::string det_after = sealOk(after, Mode::kDeterministic, kBinding, ValueType::kString,
                                       "\"078-05-1120\"");
  EXPECT_EQ(det_after, det_v1);
  auto keyId = [](const std::string& env) {
    const std::vector<uint8_t> b = decodeEnvelope(env);
    return (uint32_t{b[2]} << 24) | (uint32_t{b[3]} << 16) | (uint32_t{b[4]} << 8) | b[5];
  };
  EXPECT_EQ(keyId(det_after), kPiiV1);
  const std::string rnd = sealOk(after, Mode::kRandomized, kBinding, ValueType::kString,
                                 "\"078-05-1120\"");
  EXPECT_EQ(keyId(rnd), kPiiV2);
  // Both still open with the rotated keyring.
  std::string out;
  ASSERT_TRUE(after.open(det_v1, &kBinding, &out).isOk());
  EXPECT_EQ(out, "\"078-05-1120\"");
}

}  // namespace
}  // namespace cosmoseal::crypto
