#pragma once

// The query rewriter test fixture shared by
// tests/unit/policy/query/{analyzer,body,rewriter}_test.cc: a keyring, a container policy and
// helpers that run a query and check refusals.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/json/text.h"
#include "policy/query/rewriter.h"

namespace cosmoseal::policy::query_testing {

using crypto::FieldCipher;
using crypto::ValueType;
using ::testing::HasSubstr;
using ::testing::Not;

inline common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i);
  return s;
}

inline std::shared_ptr<const crypto::Keyring> testKeyring() {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, 0x0a0b0c01, material(10)).isOk());
  EXPECT_TRUE(b.add("cards", 1, 0x0c0c0c01, material(30)).isOk());
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

inline constexpr FieldMode kDet = FieldMode::kDeterministic;
inline constexpr FieldMode kRnd = FieldMode::kRandomized;

inline std::shared_ptr<const PolicySet> testPolicies() {
  ContainerPolicySpec s;
  s.database = "shop";
  s.container = "customers";
  s.partition_key_paths = {"/pk"};
  s.fields = {
      field("/ssn", kDet),
      field("/email", kDet),
      field("/address", kRnd),
      field("/cards/*/number", kRnd, "cards"),
      field("/tags/*", kDet),
      field("/pk", kDet),
      field("/meta/code", kDet),
      field("/items/0/sku", kDet),
      field("/flag", kDet),
      field("/a b", kDet),
      field("/nokey", kDet, "missing"),
  };
  std::vector<ContainerPolicySpec> specs{s};
  auto set = PolicySet::create(specs);
  EXPECT_TRUE(set.isOk()) << set.status().toString();
  return *set;
}

inline std::string jsonString(std::string_view s) {
  std::string out;
  appendCanonicalJsonString(s, &out);
  return out;
}

class QueryRewriterTest : public ::testing::Test {
 protected:
  QueryRewriterTest()
      : set_(testPolicies()), policy_(*set_->find("shop", "customers")), cipher_(testKeyring()) {}

  const FieldRule& rule(std::string_view pattern) {
    for (const FieldRule& r : policy_.rules()) {
      if (r.pattern == pattern) return r;
    }
    ADD_FAILURE() << "no rule " << pattern;
    return policy_.rules()[0];
  }

  // The deterministic envelope of `token` at `pattern` (what the document transform stores).
  std::string env(std::string_view pattern, ValueType type, std::string_view token) {
    const FieldRule& r = rule(pattern);
    std::string out;
    EXPECT_TRUE(
        cipher_.seal(crypto::Mode::kDeterministic, r.key, r.binding, type, token, &out).isOk());
    return out;
  }
  std::string envStr(std::string_view pattern, std::string_view utf8) {
    return env(pattern, ValueType::kString, jsonString(utf8));
  }
  // As a SQL literal in the rewritten query.
  std::string lit(std::string_view pattern, std::string_view utf8) {
    return std::string("\"").append(envStr(pattern, utf8)) + "\"";  // see litTok
  }
  std::string litTok(std::string_view pattern, ValueType type, std::string_view token) {
    // append, not "\"" + ...: GCC 12 -O3 reports a false -Wrestrict for literal + string&&.
    return std::string("\"").append(env(pattern, type, token)) + "\"";
  }

  static std::string body(std::string_view query, std::string_view params = {}) {
    std::string b = "{\"query\":" + jsonString(query);
    if (!params.empty()) b += ",\"parameters\":" + std::string(params);
    return b + "}";
  }

  common::StatusOr<QueryRewriteResult> run(std::string_view query, std::string_view params = {}) {
    return rewriteQueryRequest(body(query, params), policy_, cipher_);
  }

  // The "query" member of a rewritten body (which writes it as "query":"..." canonically;
  // simdjson is not used here: its inline code must not mix with the library's build flags).
  static std::string queryOf(const std::string& b) {
    const size_t at = b.find("\"query\":\"");
    if (at == std::string::npos) {
      ADD_FAILURE() << "no query in " << b;
      return "";
    }
    const size_t start = at + 8;
    size_t i = start + 1;
    while (i < b.size() && b[i] != '"') i += b[i] == '\\' ? 2 : 1;
    std::string out;
    EXPECT_TRUE(unescapeJsonString(std::string_view(b).substr(start, i + 1 - start), &out).isOk());
    return out;
  }

  // Rewrites and returns the new query text (failing the test on an error).
  std::string rewritten(std::string_view query, uint32_t expect_count = 1) {
    auto r = run(query);
    EXPECT_TRUE(r.isOk()) << query << ": " << r.status().toString();
    if (!r.isOk()) return "";
    EXPECT_EQ(r->rewritten, expect_count) << query;
    EXPECT_TRUE(r->changed) << query;
    return queryOf(r->body);
  }

  // The query must be accepted and forwarded byte for byte.
  void expectUnchanged(std::string_view query, std::string_view params = {}) {
    auto r = run(query, params);
    ASSERT_TRUE(r.isOk()) << query << ": " << r.status().toString();
    EXPECT_FALSE(r->changed) << query;
    EXPECT_EQ(r->rewritten, 0u) << query;
    EXPECT_EQ(r->body, body(query, params)) << query;
  }

  void expectRefused(std::string_view query, std::string_view detail,
                     std::string_view message_part = {}, std::string_view params = {}) {
    auto r = run(query, params);
    ASSERT_FALSE(r.isOk()) << query << " was accepted: " << r->body;
    EXPECT_EQ(r.status().detail(), detail) << query << ": " << r.status().toString();
    EXPECT_EQ(r.status().httpStatus(), 400) << query;
    if (!message_part.empty()) {
      EXPECT_THAT(std::string(r.status().message()), HasSubstr(std::string(message_part))) << query;
    }
  }

  // Opens an envelope with the binding of `pattern`; returns "type:token".
  std::string open(std::string_view pattern, std::string_view envelope) {
    const FieldRule& r = rule(pattern);
    std::string_view binding = r.binding;
    std::string token;
    auto o = cipher_.open(envelope, &binding, &token);
    EXPECT_TRUE(o.isOk()) << o.status().toString();
    if (!o.isOk()) return "";
    return std::string(crypto::valueTypeName(o->type)) + ":" + token;
  }

  std::shared_ptr<const PolicySet> set_;
  const ContainerPolicy& policy_;
  FieldCipher cipher_;
};

}  // namespace cosmoseal::policy::query_testing
