#include "crypto/keyring.h"

#include <gtest/gtest.h>

#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

using testing::sequentialSecret;

std::shared_ptr<const Keyring> twoKeys() {
  KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, 0x11111111, sequentialSecret(64, 1)).isOk());
  EXPECT_TRUE(b.add("pii", 2, 0x22222222, sequentialSecret(64, 2), "2026-01-02T03:04:05Z").isOk());
  EXPECT_TRUE(b.add("cards", 1, 0x33333333, sequentialSecret(64, 3)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 2).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  auto r = b.build();
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return *r;
}

TEST(KeyringTest, LookupsAndList) {
  auto ring = twoKeys();
  ASSERT_NE(ring->primary("pii"), nullptr);
  EXPECT_EQ(ring->primary("pii")->version, 2u);
  EXPECT_EQ(ring->primary("pii")->id, 0x22222222u);
  EXPECT_EQ(ring->primary("cards")->id, 0x33333333u);
  EXPECT_EQ(ring->primary("nope"), nullptr);
  ASSERT_NE(ring->byId(0x11111111), nullptr);
  EXPECT_EQ(ring->byId(0x11111111)->version, 1u);
  EXPECT_EQ(ring->byId(0x11111111)->material.data()[0], 1);
  EXPECT_EQ(ring->byId(0x44444444), nullptr);
  EXPECT_EQ(ring->find("pii", 1)->id, 0x11111111u);
  EXPECT_EQ(ring->names(), (std::vector<std::string>{"cards", "pii"}));

  const auto list = ring->list();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "cards");
  EXPECT_EQ(list[1].name, "pii");
  EXPECT_EQ(list[1].version, 1u);
  EXPECT_FALSE(list[1].primary);
  EXPECT_EQ(list[2].version, 2u);
  EXPECT_TRUE(list[2].primary);
  EXPECT_EQ(list[2].created, "2026-01-02T03:04:05Z");
}

TEST(KeyringTest, BuilderErrors) {
  {
    KeyringBuilder b;
    ASSERT_TRUE(b.add("pii", 1, 7, sequentialSecret(64)).isOk());
    auto s = b.add("other", 1, 7, sequentialSecret(64));
    EXPECT_EQ(s.detail(), "keys.duplicate_id");
    EXPECT_NE(s.message().find("00000007"), std::string_view::npos);
    EXPECT_EQ(b.add("pii", 1, 8, sequentialSecret(64)).detail(), "keys.duplicate_version");
  }
  {
    KeyringBuilder b;
    EXPECT_EQ(b.add("pii", 1, 0, sequentialSecret(64)).detail(), "keys.bad_id");
    EXPECT_EQ(b.add("pii", 0, 1, sequentialSecret(64)).detail(), "keys.bad_version");
    EXPECT_EQ(b.add("pii", 1, 1, sequentialSecret(32)).detail(), "keys.wrong_size");
    EXPECT_EQ(b.add("", 1, 1, sequentialSecret(64)).detail(), "keys.bad_name");
    EXPECT_EQ(b.add("-x", 1, 1, sequentialSecret(64)).detail(), "keys.bad_name");
    EXPECT_EQ(b.add("a b", 1, 1, sequentialSecret(64)).detail(), "keys.bad_name");
    EXPECT_EQ(b.add(std::string(65, 'a'), 1, 1, sequentialSecret(64)).detail(), "keys.bad_name");
    EXPECT_TRUE(b.add("Pii_2.x-y", 1, 1, sequentialSecret(64)).isOk());
  }
  {
    KeyringBuilder b;
    ASSERT_TRUE(b.add("pii", 1, 1, sequentialSecret(64)).isOk());
    auto r = b.build();
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().detail(), "keys.missing_primary");
    EXPECT_EQ(b.setPrimary("pii", 9).detail(), "keys.unknown_version");
  }
  {
    // setPrimary moves the flag; exactly one primary survives.
    KeyringBuilder b;
    ASSERT_TRUE(b.add("pii", 1, 1, sequentialSecret(64)).isOk());
    ASSERT_TRUE(b.add("pii", 2, 2, sequentialSecret(64)).isOk());
    ASSERT_TRUE(b.setPrimary("pii", 1).isOk());
    ASSERT_TRUE(b.setPrimary("pii", 2).isOk());
    EXPECT_EQ(b.maxVersion("pii"), 2u);
    EXPECT_EQ(b.maxVersion("x"), 0u);
    EXPECT_TRUE(b.hasId(2));
    EXPECT_FALSE(b.hasId(3));
    auto r = b.build();
    ASSERT_TRUE(r.isOk());
    EXPECT_EQ((*r)->primary("pii")->version, 2u);
  }
}

TEST(KeyringTest, FromClonesForAddingAVersion) {
  auto ring = twoKeys();
  auto b = KeyringBuilder::from(*ring);
  ASSERT_TRUE(b.add("pii", 3, 0x55555555, sequentialSecret(64, 9)).isOk());
  ASSERT_TRUE(b.setPrimary("pii", 3).isOk());
  auto r = b.build();
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ((*r)->primary("pii")->id, 0x55555555u);
  EXPECT_EQ((*r)->versions().size(), 4u);
  EXPECT_TRUE(
      (*r)->byId(0x11111111)->material.constantTimeEquals(ring->byId(0x11111111)->material));
  // The original is untouched.
  EXPECT_EQ(ring->primary("pii")->version, 2u);
}

TEST(KeyringTest, KeyIdText) {
  EXPECT_EQ(formatKeyId(0x1a2b3c4d), "1a2b3c4d");
  EXPECT_EQ(formatKeyId(7), "00000007");
  uint32_t id = 0;
  EXPECT_TRUE(parseKeyId("1A2b3C4d", &id));
  EXPECT_EQ(id, 0x1a2b3c4du);
  EXPECT_FALSE(parseKeyId("1a2b3c4", &id));
  EXPECT_FALSE(parseKeyId("1a2b3c4d0", &id));
  EXPECT_FALSE(parseKeyId("0x1a2b3c", &id));
  EXPECT_FALSE(parseKeyId("1a2b3c4g", &id));
}

TEST(KeyWrapTest, RoundTripAndBinding) {
  const auto kek = sequentialSecret(32, 100);
  const auto dek = sequentialSecret(64, 7);
  auto wrapped = wrapKey(kek, "pii", 2, 0xabcdef01, dek, systemRandom());
  ASSERT_TRUE(wrapped.isOk()) << wrapped.status().toString();
  EXPECT_EQ(wrapped->size(), kWrappedKeySize);

  auto back = unwrapKey(kek, "pii", 2, 0xabcdef01, *wrapped);
  ASSERT_TRUE(back.isOk());
  EXPECT_TRUE(back->constantTimeEquals(dek));

  // Swapping the wrapped key to another entry (name, version or id) fails.
  EXPECT_EQ(unwrapKey(kek, "pij", 2, 0xabcdef01, *wrapped).status().detail(), "keys.unwrap_failed");
  EXPECT_EQ(unwrapKey(kek, "pii", 3, 0xabcdef01, *wrapped).status().detail(), "keys.unwrap_failed");
  EXPECT_EQ(unwrapKey(kek, "pii", 2, 0xabcdef02, *wrapped).status().detail(), "keys.unwrap_failed");
  // Wrong KEK.
  EXPECT_EQ(unwrapKey(sequentialSecret(32, 101), "pii", 2, 0xabcdef01, *wrapped).status().detail(),
            "keys.unwrap_failed");
  // Every altered byte.
  for (size_t i = 1; i < wrapped->size(); ++i) {
    std::string w = *wrapped;
    w[i] ^= 0x40;
    EXPECT_EQ(unwrapKey(kek, "pii", 2, 0xabcdef01, w).status().detail(), "keys.unwrap_failed") << i;
  }
  std::string w = *wrapped;
  w[0] = 2;
  EXPECT_EQ(unwrapKey(kek, "pii", 2, 0xabcdef01, w).status().detail(), "keys.bad_wrapped");
  EXPECT_EQ(unwrapKey(kek, "pii", 2, 0xabcdef01, wrapped->substr(1)).status().detail(),
            "keys.bad_wrapped");
  EXPECT_EQ(unwrapKey(sequentialSecret(16), "pii", 2, 0xabcdef01, *wrapped).status().detail(),
            "keys.wrong_size");
}

TEST(KeyWrapTest, FreshNonceEachTimeAndRngFailure) {
  const auto kek = sequentialSecret(32);
  const auto dek = sequentialSecret(64);
  auto a = wrapKey(kek, "pii", 1, 1, dek, systemRandom());
  auto b = wrapKey(kek, "pii", 1, 1, dek, systemRandom());
  ASSERT_TRUE(a.isOk() && b.isOk());
  EXPECT_NE(*a, *b);
  FailingRandomForTest bad;
  auto c = wrapKey(kek, "pii", 1, 1, dek, bad);
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().detail(), "crypto.rng_failed");
}

}  // namespace
}  // namespace cosmoseal::crypto

namespace cosmoseal::crypto {
namespace {

// Deterministic seals must keep using one version across rotations (equality queries and
// partition keys find documents written before the rotation).
TEST(KeyringDeterministicTest, LowestVersionUnlessPinned) {
  auto material = [](uint8_t b) { return common::SecretBytes::copyOf(std::string(kDekSize, static_cast<char>(b))); };
  KeyringBuilder b;
  ASSERT_TRUE(b.add("pii", 1, 0x11111111, material(1)).isOk());
  ASSERT_TRUE(b.add("pii", 2, 0x22222222, material(2)).isOk());
  ASSERT_TRUE(b.add("pii", 3, 0x33333333, material(3)).isOk());
  ASSERT_TRUE(b.setPrimary("pii", 3).isOk());
  auto ring = b.build();
  ASSERT_TRUE(ring.isOk());
  EXPECT_EQ((*ring)->primary("pii")->version, 3u);
  EXPECT_EQ((*ring)->deterministic("pii")->version, 1u);

  KeyringBuilder pinned = KeyringBuilder::from(**ring);
  ASSERT_TRUE(pinned.setDeterministic("pii", 2).isOk());
  EXPECT_EQ(pinned.setDeterministic("pii", 9).detail(), "keys.unknown_version");
  auto ring2 = pinned.build();
  ASSERT_TRUE(ring2.isOk());
  EXPECT_EQ((*ring2)->deterministic("pii")->version, 2u);
  EXPECT_EQ((*ring2)->deterministic("other"), nullptr);
  int flagged = 0;
  for (const auto& info : (*ring2)->list()) flagged += info.deterministic ? 1 : 0;
  EXPECT_EQ(flagged, 1);
}

}  // namespace
}  // namespace cosmoseal::crypto
