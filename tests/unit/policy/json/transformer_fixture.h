#pragma once

// The JsonTransformer test fixture shared by tests/unit/policy/json/*_test.cc: a keyring, four
// container policies and helpers that assert the output contract (refusals leave *out as it was).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "policy/json/internal/scan.h"
#include "policy/json/transformer.h"
#include "policy/policy.h"

namespace cosmoseal::policy::json_testing {

using common::Code;
using common::Status;
using crypto::FieldCipher;
using ::testing::HasSubstr;
using ::testing::Not;

inline constexpr uint32_t kPiiId = 0x0a0b0c01;
inline constexpr uint32_t kCardsId = 0x0c0c0c01;

inline common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i * 7);
  return s;
}

inline std::shared_ptr<const crypto::Keyring> testKeyring() {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, kPiiId, material(10)).isOk());
  EXPECT_TRUE(b.add("cards", 1, kCardsId, material(90)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

inline FieldSpec field(std::string path, FieldMode mode, std::string key = "pii") {
  FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = std::move(key);
  return f;
}

inline constexpr FieldMode kRand = FieldMode::kRandomized;
inline constexpr FieldMode kDet = FieldMode::kDeterministic;

inline std::shared_ptr<const PolicySet> testPolicies() {
  std::vector<ContainerPolicySpec> specs(4);
  specs[0].database = "shop";
  specs[0].container = "customers";
  specs[0].partition_key_paths = {"/pk"};
  specs[0].fields = {field("/ssn", kDet),           field("/pk", kDet),
                     field("/address", kRand),      field("/cards/*/number", kRand, "cards"),
                     field("/profile/email", kDet), field("/flags/vip", kRand),
                     field("/s p~1x", kRand)};
  // Literal array indices (patch "-" is ambiguous there).
  specs[1].database = "shop";
  specs[1].container = "orders";
  specs[1].fields = {field("/items/0/secret", kRand)};
  // Hierarchical partition key, second level unprotected.
  specs[2].database = "shop";
  specs[2].container = "events";
  specs[2].partition_key_paths = {"/tenant", "/region"};
  specs[2].fields = {field("/tenant", kDet), field("/payload", kRand)};
  // A key the keyring does not have.
  specs[3].database = "shop";
  specs[3].container = "broken";
  specs[3].fields = {field("/secret", kRand, "nokey")};
  auto set = PolicySet::create(specs);
  EXPECT_TRUE(set.isOk()) << set.status().toString();
  return *set;
}

// A body in a buffer with kJsonPadding spare bytes (how the proxy should call us).
struct Body {
  explicit Body(std::string_view s) {
    buf.reserve(s.size() + kJsonPadding);
    buf.assign(s);
  }
  PaddedInput in() const { return PaddedInput::of(buf); }
  std::string buf;
};

class JsonTransformTest : public ::testing::Test {
 protected:
  JsonTransformTest()
      : policies_(testPolicies()),
        cipher_(testKeyring()),
        tx_(&cipher_),
        customers_(*policies_->find("shop", "customers")),
        orders_(*policies_->find("shop", "orders")),
        events_(*policies_->find("shop", "events")) {}

  std::string enc(std::string_view body, TransformStats* st = nullptr) {
    return encWith(customers_, body, st);
  }
  std::string encWith(const ContainerPolicy& p, std::string_view body,
                      TransformStats* st = nullptr) {
    std::string out;
    Status s = tx_.encryptDocument(Body(body).in(), p, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    EXPECT_TRUE(internal::validateJson(out).isOk()) << out;
    return out;
  }
  // Expects a refusal with `detail`; *out must be untouched.
  void refuseDoc(std::string_view body, std::string_view detail,
                 const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptDocument(Body(body).in(), p ? *p : customers_, &out, nullptr);
    EXPECT_EQ(s.detail(), detail) << body << " -> " << s.toString();
    EXPECT_EQ(out, "UNTOUCHED") << body;
  }
  std::string patch(std::string_view body, const ContainerPolicy* p = nullptr,
                    TransformStats* st = nullptr) {
    std::string out;
    Status s = tx_.encryptPatch(Body(body).in(), p ? *p : customers_, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    return out;
  }
  Status patchStatus(std::string_view body, const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptPatch(Body(body).in(), p ? *p : customers_, &out, nullptr);
    EXPECT_EQ(out, "UNTOUCHED") << body;
    return s;
  }
  std::string dec(std::string_view body, ResponseShape shape = ResponseShape::kDocument,
                  TransformStats* st = nullptr, const ContainerPolicy* p = nullptr) {
    std::string out;
    Status s = tx_.decryptResponse(Body(body).in(), shape, p ? p : &customers_, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    return out;
  }
  Status decStatus(std::string_view body, ResponseShape shape, const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.decryptResponse(Body(body).in(), shape, p ? p : &customers_, &out, nullptr);
    EXPECT_EQ(out, "UNTOUCHED") << body;
    return s;
  }
  std::vector<const FieldRule*> pkRules(const ContainerPolicy& p) {
    std::vector<const FieldRule*> r;
    for (const auto& pk : p.partitionKeyPaths()) r.push_back(pk.rule);
    return r;
  }
  std::string pk(std::string_view header, const ContainerPolicy* p = nullptr) {
    std::string out;
    auto rules = pkRules(p ? *p : customers_);
    Status s = tx_.encryptPartitionKey(header, rules, &out);
    EXPECT_TRUE(s.isOk()) << header << " -> " << s.toString();
    return out;
  }
  // The envelopes (string contents) in a text, in order.
  static std::vector<std::string> envelopes(std::string_view text) {
    std::vector<internal::EnvelopeString> hits;
    internal::findEnvelopeStrings(text, &hits);
    std::vector<std::string> out;
    for (const auto& h : hits) {
      out.emplace_back(text.substr(h.begin + 1, h.end - h.begin - 2));
    }
    return out;
  }
  // The envelope that replaced the value of top-level member `name` in `doc`.
  static std::string envelopeOf(std::string_view doc, std::string_view name) {
    const std::string key = "\"" + std::string(name) + "\":\"";
    const size_t at = doc.find(key);
    if (at == std::string_view::npos) return {};
    const size_t b = at + key.size();
    return std::string(doc.substr(b, doc.find('"', b) - b));
  }

  std::shared_ptr<const PolicySet> policies_;
  FieldCipher cipher_;
  JsonTransformer tx_;
  const ContainerPolicy& customers_;
  const ContainerPolicy& orders_;
  const ContainerPolicy& events_;
};

}  // namespace cosmoseal::policy::json_testing
