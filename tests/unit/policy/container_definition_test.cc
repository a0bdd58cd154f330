// Tests of policy/container_definition.cc: container create / replace bodies checked against the
// container's policy (issue 15 item 6).

#include "policy/container_definition.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace cosmoseal::policy {
namespace {

FieldSpec field(std::string path, FieldMode mode) {
  FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = "pii";
  return f;
}

constexpr FieldMode kDet = FieldMode::kDeterministic;
constexpr FieldMode kRnd = FieldMode::kRandomized;

class ContainerDefinitionTest : public ::testing::Test {
 protected:
  ContainerDefinitionTest() {
    ContainerPolicySpec s;
    s.database = "shop";
    s.container = "customers";
    s.partition_key_paths = {"/pk"};
    s.fields = {field("/pk", kDet),
                field("/ssn", kDet),
                field("/email", kDet),
                field("/address", kRnd),
                field("/cards/*/number", kRnd),
                field("/profile/tax id", kDet),
                field("/notes", kRnd)};
    ContainerPolicySpec u = s;  // no partition_key configured
    u.container = "unkeyed";
    u.partition_key_paths.clear();
    std::vector<ContainerPolicySpec> specs{s, u};
    auto set = PolicySet::create(specs);
    EXPECT_TRUE(set.isOk()) << set.status().toString();
    set_ = *set;
  }

  const ContainerPolicy& customers() const { return *set_->find("shop", "customers"); }
  const ContainerPolicy& unkeyed() const { return *set_->find("shop", "unkeyed"); }

  // A definition with partitionKey /pk and `extra` members.
  static std::string def(const std::string& extra) {
    std::string b = R"({"id":"customers","partitionKey":{"paths":["/pk"],"kind":"Hash"})";
    if (!extra.empty()) b += "," + extra;
    return b + "}";
  }

  std::string check(const std::string& body, const ContainerPolicy* p = nullptr) {
    common::Status s = checkContainerDefinition(body, p != nullptr ? *p : customers());
    if (!s.isOk()) {
      EXPECT_FALSE(s.message().empty());
    }
    return s.isOk() ? std::string("ok") : std::string(s.detail());
  }

  std::shared_ptr<const PolicySet> set_;
};

TEST_F(ContainerDefinitionTest, IndexPathSyntax) {
  std::vector<PathSegment> segs;
  ASSERT_TRUE(parseIndexPath("/a/b/?", &segs).isOk());
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].name, "a");
  EXPECT_EQ(segs[1].name, "b");
  ASSERT_TRUE(parseIndexPath("/a/*", &segs).isOk());
  EXPECT_EQ(segs.size(), 1u);
  ASSERT_TRUE(parseIndexPath("/*", &segs).isOk());
  EXPECT_TRUE(segs.empty());
  ASSERT_TRUE(parseIndexPath("/", &segs).isOk());
  EXPECT_TRUE(segs.empty());
  ASSERT_TRUE(parseIndexPath("/tags/[]/?", &segs).isOk());
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_TRUE(segs[1].wildcard);
  ASSERT_TRUE(parseIndexPath("/\"a/b c\"/\"q\\\"x\"/?", &segs).isOk());
  ASSERT_EQ(segs.size(), 2u);
  EXPECT_EQ(segs[0].name, "a/b c");
  EXPECT_EQ(segs[1].name, "q\"x");
  ASSERT_TRUE(parseIndexPath("/email", &segs).isOk());
  ASSERT_EQ(segs.size(), 1u);
  for (std::string_view bad : {"", "a/b", "/a//b", "/a/", "/a/?/b", "/*/a", "/\"open", "/\"a\"b"}) {
    EXPECT_EQ(parseIndexPath(bad, &segs).detail(), "definition.bad_path") << bad;
  }
}

TEST_F(ContainerDefinitionTest, PlainDefinitionsPass) {
  EXPECT_EQ(check(def("")), "ok");
  EXPECT_EQ(
      check(def(
          R"("indexingPolicy":{"indexingMode":"consistent","includedPaths":[{"path":"/*"}],"excludedPaths":[{"path":"/\"_etag\"/?"}]})")),
      "ok");
  EXPECT_EQ(check(def(R"("uniqueKeyPolicy":null,"computedProperties":[],"fullTextPolicy":null)")),
            "ok");
}

TEST_F(ContainerDefinitionTest, UniqueKeys) {
  auto uk = [](const std::string& paths) {
    return def(R"("uniqueKeyPolicy":{"uniqueKeys":[{"paths":[)" + paths + "]}]}");
  };
  // Deterministic: equal values have equal envelopes, uniqueness holds.
  EXPECT_EQ(check(uk(R"("/ssn")")), "ok");
  EXPECT_EQ(check(uk(R"("/email","/name")")), "ok");
  EXPECT_EQ(check(uk(R"("/profile")")), "ok");  // holds only a deterministic field
  EXPECT_EQ(check(uk(R"("/profile/\"tax id\"")")), "ok");
  EXPECT_EQ(check(uk(R"("/name")")), "ok");
  // Randomized, at or above; inside a protected field.
  EXPECT_EQ(check(uk(R"("/address")")), "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("/name","/notes")")), "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("/cards")")), "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("/cards/0/number")")), "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("/address/zip")")), "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("/ssn/last4")")), "definition.unique_key_on_protected");
  // Member names are matched case-insensitively, so no spelling slips past.
  EXPECT_EQ(check(def(R"("UniqueKeyPolicy":{"UniqueKeys":[{"Paths":["/notes"]}]})")),
            "definition.unique_key_on_protected");
  // A second, duplicate member is checked too.
  EXPECT_EQ(
      check(def(
          R"("uniqueKeyPolicy":{"uniqueKeys":[]},"uniqueKeyPolicy":{"uniqueKeys":[{"paths":["/notes"]}]})")),
      "definition.unique_key_on_protected");
  EXPECT_EQ(check(uk(R"("notes")")), "definition.bad_path");
  EXPECT_EQ(check(def(R"("uniqueKeyPolicy":{"uniqueKeys":{"paths":[]}})")), "definition.bad_body");
}

TEST_F(ContainerDefinitionTest, ComputedProperties) {
  auto cp = [](const std::string& name, const std::string& query) {
    return def(R"("computedProperties":[{"name":")" + name + R"(","query":")" + query + "\"}]");
  };
  EXPECT_EQ(check(cp("cp_lower", "SELECT VALUE LOWER(c.name) FROM c")), "ok");
  EXPECT_EQ(check(cp("cp_len", "SELECT VALUE LENGTH(c.profile.city) FROM c")), "ok");
  for (std::string_view q : {
           "SELECT VALUE LOWER(c.ssn) FROM c",            // a function over ciphertext
           "SELECT VALUE c.email FROM c",                 // a copy of it
           "SELECT VALUE c.ssn = '1' FROM c",             // equality inside a definition
           "SELECT VALUE LENGTH(c.address.city) FROM c",  // inside a ciphertext
           "SELECT VALUE c.cards[0].number FROM c",
           "SELECT VALUE IS_DEFINED(c.profile) FROM c",  // holds a protected field
           "SELECT VALUE c[\\\"ssn\\\"] FROM c",
           "SELECT VALUE not a query",
       }) {
    EXPECT_EQ(check(cp("cp_x", std::string(q))), "definition.computed_property_on_protected") << q;
  }
  // A computed property named like a protected field would make queries seal literals for it.
  EXPECT_EQ(check(cp("ssn", "SELECT VALUE LOWER(c.name) FROM c")),
            "definition.computed_property_on_protected");
  EXPECT_EQ(check(cp("profile", "SELECT VALUE LOWER(c.name) FROM c")),
            "definition.computed_property_on_protected");
}

TEST_F(ContainerDefinitionTest, Indexes) {
  auto ip = [](const std::string& inner) { return def(R"("indexingPolicy":{)" + inner + "}"); };
  // Composite: deterministic fields keep equality (ORDER BY on them is refused by queries).
  EXPECT_EQ(
      check(ip(
          R"("compositeIndexes":[[{"path":"/ssn","order":"ascending"},{"path":"/ts","order":"descending"}]])")),
      "ok");
  EXPECT_EQ(check(ip(R"("compositeIndexes":[[{"path":"/name"},{"path":"/address"}]])")),
            "definition.index_on_protected");
  EXPECT_EQ(check(ip(R"("compositeIndexes":[[{"path":"/name"},{"path":"/cards/[]/number"}]])")),
            "definition.index_on_protected");
  // Spatial, full-text, vector: never over a protected path, at, above or below.
  EXPECT_EQ(check(ip(R"("spatialIndexes":[{"path":"/location/*","types":["Point"]}])")), "ok");
  EXPECT_EQ(check(ip(R"("spatialIndexes":[{"path":"/address/*","types":["Point"]}])")),
            "definition.index_on_protected");
  EXPECT_EQ(check(ip(R"("spatialIndexes":[{"path":"/*","types":["Point"]}])")),
            "definition.index_on_protected");
  EXPECT_EQ(check(ip(R"("spatialIndexes":[{"path":"/ssn/?"}])")), "definition.index_on_protected");
  EXPECT_EQ(check(ip(R"("fullTextIndexes":[{"path":"/description"}])")), "ok");
  EXPECT_EQ(check(ip(R"("fullTextIndexes":[{"path":"/notes"}])")), "definition.index_on_protected");
  EXPECT_EQ(check(ip(R"("vectorIndexes":[{"path":"/profile","type":"flat"}])")),
            "definition.index_on_protected");
  EXPECT_EQ(
      check(def(
          R"("fullTextPolicy":{"defaultLanguage":"en-US","fullTextPaths":[{"path":"/notes","language":"en-US"}]})")),
      "definition.index_on_protected");
  EXPECT_EQ(check(def(R"("fullTextPolicy":{"fullTextPaths":[{"path":"/text"}]})")), "ok");
  EXPECT_EQ(
      check(def(
          R"("vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/email","dataType":"float32","dimensions":8}]})")),
      "definition.index_on_protected");
  EXPECT_EQ(check(def(R"("vectorEmbeddingPolicy":{"vectorEmbeddings":[{"path":"/embedding"}]})")),
            "ok");
  EXPECT_EQ(check(ip(R"("compositeIndexes":{"path":"/a"})")), "definition.bad_body");
}

TEST_F(ContainerDefinitionTest, PartitionKey) {
  auto pk = [](const std::string& paths) {
    return R"({"id":"c","partitionKey":{"paths":[)" + paths + R"(],"kind":"Hash"}})";
  };
  EXPECT_EQ(check(pk(R"("/pk")")), "ok");
  EXPECT_EQ(check(pk(R"("/other")")), "definition.partition_key_mismatch");
  EXPECT_EQ(check(pk(R"("/pk","/other")")), "definition.partition_key_mismatch");
  EXPECT_EQ(check(pk("")), "definition.partition_key_mismatch");
  // Without a configured partition_key: any path but a randomized or covered one.
  EXPECT_EQ(check(pk(R"("/tenant")"), &unkeyed()), "ok");
  EXPECT_EQ(check(pk(R"("/ssn")"), &unkeyed()), "ok");
  EXPECT_EQ(check(pk(R"("/notes")"), &unkeyed()), "policy.randomized_partition_key");
  EXPECT_EQ(check(pk(R"("/address/zip")"), &unkeyed()), "policy.partition_key_inside_protected");
  EXPECT_EQ(check(R"({"id":"c","partitionKey":"/pk"})"), "definition.bad_body");
  EXPECT_EQ(check("[]"), "definition.bad_body");
  EXPECT_EQ(check("{"), "definition.bad_body");
}

}  // namespace
}  // namespace cosmoseal::policy
