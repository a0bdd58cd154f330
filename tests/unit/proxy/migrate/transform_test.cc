#include "proxy/migrate/transform.h"

#include <gtest/gtest.h>

#include "crypto/keyring.h"
#include "policy/policy.h"

namespace cosmoseal::proxy::migrate {
namespace {

common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i * 3);
  return s;
}

std::shared_ptr<const crypto::Keyring> keyring(int versions) {
  crypto::KeyringBuilder b;
  for (int v = 1; v <= versions; ++v) {
    EXPECT_TRUE(b.add("pii", static_cast<uint32_t>(v), 0x100u + static_cast<uint32_t>(v),
                      material(static_cast<uint8_t>(v * 40)))
                    .isOk());
  }
  EXPECT_TRUE(b.setPrimary("pii", static_cast<uint32_t>(versions)).isOk());
  EXPECT_TRUE(b.setDeterministic("pii", static_cast<uint32_t>(versions)).isOk());
  return *b.build();
}

policy::FieldSpec field(std::string path, policy::FieldMode mode) {
  policy::FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = "pii";
  return f;
}

std::shared_ptr<const policy::PolicySet> policies() {
  std::vector<policy::ContainerPolicySpec> specs(1);
  specs[0].database = "db";
  specs[0].container = "c";
  specs[0].fields = {field("/ssn", policy::FieldMode::kDeterministic),
                     field("/notes", policy::FieldMode::kRandomized)};
  return *policy::PolicySet::create(specs);
}

constexpr std::string_view kStoredPlain =
    R"({"id":"d1","tenant":"t1","ssn":"123-45","notes":{"a":1},"n":1.50,"_rid":"r","_etag":"\"e1\"","_ts":17,"_self":"s","_attachments":"a/"})";

class DocumentTransformTest : public ::testing::Test {
 protected:
  std::shared_ptr<const policy::PolicySet> set_ = policies();
  const policy::ContainerPolicy* policy_ = set_->find("db", "c");
};

TEST_F(DocumentTransformTest, EncryptSealsPlaintextAndStripsSystemProperties) {
  DocumentTransform t(keyring(1), policy_, {"/tenant"});
  DocumentOutcome o;
  ASSERT_TRUE(t.apply(Operation::kEncrypt, kStoredPlain, &o).isOk());
  EXPECT_TRUE(o.change);
  EXPECT_EQ(o.id, "d1");
  EXPECT_EQ(o.etag, "\"e1\"");
  EXPECT_EQ(o.pk_header, R"(["t1"])");
  EXPECT_EQ(o.before.plaintext_at_protected, 2u);
  EXPECT_EQ(o.body.find("123-45"), std::string::npos);
  EXPECT_EQ(o.body.find("_rid"), std::string::npos);
  EXPECT_EQ(o.body.find("_etag"), std::string::npos);
  EXPECT_NE(o.body.find(R"("n":1.50)"), std::string::npos);
  EXPECT_NE(o.body.find(R"("ssn":"csx1:)"), std::string::npos);
}

TEST_F(DocumentTransformTest, ASealedDocumentNeedsNoWriteUnderEncryptOrRotate) {
  DocumentTransform t(keyring(1), policy_, {"/tenant"});
  DocumentOutcome o;
  ASSERT_TRUE(t.apply(Operation::kEncrypt, kStoredPlain, &o).isOk());
  const std::string sealed = o.body;
  ASSERT_TRUE(t.apply(Operation::kEncrypt, sealed, &o).isOk());
  EXPECT_FALSE(o.change);
  ASSERT_TRUE(t.apply(Operation::kRotate, sealed, &o).isOk());
  EXPECT_FALSE(o.change);
  EXPECT_EQ(o.before.decrypted, 2u);
}

TEST_F(DocumentTransformTest, RotateResealsOldVersionsAndDecryptRestoresTheOriginal) {
  DocumentTransform v1(keyring(1), policy_, {"/tenant"});
  DocumentOutcome o;
  ASSERT_TRUE(v1.apply(Operation::kEncrypt, kStoredPlain, &o).isOk());
  const std::string sealed_v1 = o.body;
  DocumentTransform v2(keyring(2), policy_, {"/tenant"});
  ASSERT_TRUE(v2.apply(Operation::kRotate, sealed_v1, &o).isOk());
  EXPECT_TRUE(o.change);
  EXPECT_EQ(o.before.stale_envelopes, 2u);
  const std::string sealed_v2 = o.body;
  ASSERT_TRUE(v2.apply(Operation::kVerify, sealed_v2, &o).isOk());
  EXPECT_EQ(o.before.stale_envelopes, 0u);
  ASSERT_EQ(o.before.key_id_count, 1u);
  EXPECT_EQ(o.before.key_ids[0], 0x102u);
  ASSERT_TRUE(v2.apply(Operation::kDecrypt, sealed_v2, &o).isOk());
  EXPECT_TRUE(o.change);
  EXPECT_EQ(o.body, R"({"id":"d1","tenant":"t1","ssn":"123-45","notes":{"a":1},"n":1.50})");
}

TEST_F(DocumentTransformTest, VerifyCountsWithoutABody) {
  DocumentTransform t(keyring(1), policy_, {"/tenant"});
  DocumentOutcome o;
  ASSERT_TRUE(t.apply(Operation::kVerify, kStoredPlain, &o).isOk());
  EXPECT_FALSE(o.change);
  EXPECT_TRUE(o.body.empty());
  EXPECT_EQ(o.before.plaintext_at_protected, 2u);
}

TEST_F(DocumentTransformTest, PartitionKeyHeader) {
  DocumentTransform t(keyring(1), policy_, {"/a/b", "/missing"});
  auto h = t.partitionKeyHeader(R"({"a":{"b":12.0}})");
  ASSERT_TRUE(h.isOk());
  EXPECT_EQ(*h, R"([12.0,{}])");
}

TEST_F(DocumentTransformTest, ATamperedEnvelopeFails) {
  DocumentTransform t(keyring(1), policy_, {"/tenant"});
  DocumentOutcome o;
  ASSERT_TRUE(t.apply(Operation::kEncrypt, kStoredPlain, &o).isOk());
  std::string bad = o.body;
  const size_t at = bad.find("csx1:") + 20;
  bad[at] = bad[at] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(t.apply(Operation::kVerify, bad, &o).isOk());
}

// migrate copy: the target's policy protects the partition key; the source holds plaintext.
std::shared_ptr<const policy::PolicySet> copyPolicies() {
  std::vector<policy::ContainerPolicySpec> specs(2);
  specs[0].database = "db";
  specs[0].container = "c";
  specs[0].fields = {field("/ssn", policy::FieldMode::kDeterministic)};
  specs[1].database = "db";
  specs[1].container = "c2";
  specs[1].fields = {field("/tenant", policy::FieldMode::kDeterministic),
                     field("/ssn", policy::FieldMode::kDeterministic),
                     field("/notes", policy::FieldMode::kRandomized)};
  return *policy::PolicySet::create(specs);
}

TEST_F(DocumentTransformTest, CopySealsWithTheTargetPolicyPartitionKeyIncluded) {
  auto set = copyPolicies();
  DocumentTransform t(keyring(1), set->find("db", "c"), {"/tenant"});
  t.setTarget(set->find("db", "c2"));
  DocumentOutcome o;
  ASSERT_TRUE(t.apply(Operation::kCopy, kStoredPlain, &o).isOk());
  EXPECT_TRUE(o.change);
  EXPECT_EQ(o.ts, 17);
  EXPECT_EQ(o.id, "d1");
  // The source counts plaintext by its own policy (ssn only).
  EXPECT_EQ(o.before.plaintext_at_protected, 1u);
  EXPECT_EQ(o.body.find(R"("tenant":"t1")"), std::string::npos) << o.body;
  EXPECT_EQ(o.body.find("123-45"), std::string::npos);
  EXPECT_EQ(o.body.find("_ts"), std::string::npos);
  EXPECT_NE(o.body.find(R"("n":1.50)"), std::string::npos);
  // The header is the sealed partition key, byte for byte as in the body, and deterministic.
  ASSERT_EQ(o.pk_header.rfind(R"(["csx1:)", 0), 0u) << o.pk_header;
  const std::string sealed = o.pk_header.substr(1, o.pk_header.size() - 2);
  EXPECT_NE(o.body.find(R"("tenant":)" + sealed), std::string::npos);
  DocumentOutcome again;
  ASSERT_TRUE(t.apply(Operation::kCopy, kStoredPlain, &again).isOk());
  EXPECT_EQ(again.pk_header, o.pk_header);
  // Opened with the target's policy, the copy is the source's plaintext without system
  // properties; the source has the same plaintext.
  std::string copied;
  std::string source;
  policy::TransformStats cs;
  policy::TransformStats ss;
  ASSERT_TRUE(t.plaintext(o.body, set->find("db", "c2"), &copied, &cs).isOk());
  ASSERT_TRUE(t.plaintext(kStoredPlain, set->find("db", "c"), &source, &ss).isOk());
  EXPECT_EQ(copied, source);
  EXPECT_EQ(cs.plaintext_at_protected, 0u);
  EXPECT_EQ(cs.decrypted, 3u);
  EXPECT_EQ(source, R"({"id":"d1","tenant":"t1","ssn":"123-45","notes":{"a":1},"n":1.50})");
}

TEST_F(DocumentTransformTest, CopyOpensASealedSourceAndNeedsATarget) {
  auto set = copyPolicies();
  DocumentTransform seal(keyring(1), set->find("db", "c"), {"/tenant"});
  DocumentOutcome sealed;
  ASSERT_TRUE(seal.apply(Operation::kEncrypt, kStoredPlain, &sealed).isOk());
  DocumentTransform t(keyring(1), set->find("db", "c"), {"/tenant"});
  DocumentOutcome o;
  common::Status s = t.apply(Operation::kCopy, sealed.body, &o);
  EXPECT_EQ(s.detail(), "migrate.no_policy");
  t.setTarget(set->find("db", "c2"));
  ASSERT_TRUE(t.apply(Operation::kCopy, sealed.body, &o).isOk());
  EXPECT_EQ(o.before.decrypted, 1u);
  std::string copied;
  policy::TransformStats cs;
  ASSERT_TRUE(t.plaintext(o.body, set->find("db", "c2"), &copied, &cs).isOk());
  EXPECT_EQ(copied, R"({"id":"d1","tenant":"t1","ssn":"123-45","notes":{"a":1},"n":1.50})");
  // Plaintext at a protected path of the target is counted when opened with its policy.
  ASSERT_TRUE(t.plaintext(kStoredPlain, set->find("db", "c2"), &copied, &cs).isOk());
  EXPECT_EQ(cs.plaintext_at_protected, 3u);
}

}  // namespace
}  // namespace cosmoseal::proxy::migrate
