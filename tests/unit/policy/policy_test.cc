#include "policy/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace cosmoseal::policy {
namespace {

using ::testing::HasSubstr;
using common::Status;

FieldSpec field(std::string path, FieldMode mode = FieldMode::kRandomized,
                std::string key = "pii") {
  FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = std::move(key);
  return f;
}

ContainerPolicySpec spec(std::string db, std::string container, std::vector<FieldSpec> fields,
                         std::vector<std::string> pk = {}) {
  ContainerPolicySpec s;
  s.database = std::move(db);
  s.container = std::move(container);
  s.fields = std::move(fields);
  s.partition_key_paths = std::move(pk);
  return s;
}

std::vector<std::string> names(const std::vector<PathSegment>& segs) {
  std::vector<std::string> out;
  for (const auto& s : segs) out.push_back(s.wildcard ? "<*>" : s.name);
  return out;
}

std::shared_ptr<const PolicySet> mustCreate(const std::vector<ContainerPolicySpec>& specs) {
  auto set = PolicySet::create(specs);
  EXPECT_TRUE(set.isOk()) << set.status().toString();
  return set.isOk() ? *set : nullptr;
}

// ---- path syntax ----

TEST(FieldPathTest, Valid) {
  std::vector<PathSegment> segs;
  ASSERT_TRUE(parseFieldPath("/ssn", true, &segs).isOk());
  EXPECT_EQ(names(segs), std::vector<std::string>{"ssn"});
  ASSERT_TRUE(parseFieldPath("/cards/*/number", true, &segs).isOk());
  EXPECT_EQ(names(segs), (std::vector<std::string>{"cards", "<*>", "number"}));
  ASSERT_TRUE(parseFieldPath("/a~1b/~0c/~01", true, &segs).isOk());
  EXPECT_EQ(names(segs), (std::vector<std::string>{"a/b", "~c", "~1"}));
  ASSERT_TRUE(parseFieldPath("/a*/ /é", true, &segs).isOk());  // "a*" is a literal name
  EXPECT_EQ(names(segs), (std::vector<std::string>{"a*", " ", "é"}));
  EXPECT_FALSE(segs[0].wildcard);
}

TEST(FieldPathTest, Invalid) {
  std::vector<PathSegment> segs;
  struct Case {
    const char* path;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"", "path is empty; expected a path such as /ssn"},
           {"ssn", "path 'ssn' does not start with '/'; expected a path such as /ssn"},
           {"/", "path '/' has an empty segment"},
           {"/a//b", "path '/a//b' has an empty segment"},
           {"/a/", "path '/a/' ends with '/'; expected no trailing '/'"},
           {"/a~", "has a '~' not followed by 0 or 1"},
           {"/a~2", "has a '~' not followed by 0 or 1"},
           {"/a\tb", "contains a control character"},
       }) {
    Status st = parseFieldPath(c.path, true, &segs);
    ASSERT_FALSE(st.isOk()) << c.path;
    EXPECT_EQ(st.detail(), "policy.bad_path");
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.message)) << c.path;
    EXPECT_THAT(std::string(st.message()), HasSubstr("; expected ")) << c.path;
  }
  std::string deep;
  for (int i = 0; i < 33; ++i) deep += "/x";
  EXPECT_THAT(std::string(parseFieldPath(deep, true, &segs).message()),
              HasSubstr("deeper than 32 segments"));
  EXPECT_THAT(std::string(parseFieldPath("/a/*", false, &segs).message()),
              HasSubstr("contains '*'; expected a path without wildcards"));
}

TEST(FieldPathTest, EscapeRoundTrip) {
  EXPECT_EQ(escapePathSegment("a/b~c"), "a~1b~0c");
  std::vector<PathSegment> segs;
  // append, not "/" + ...: GCC 12 -O3 reports a false -Wrestrict for literal + string&&.
  ASSERT_TRUE(
      parseFieldPath(std::string("/").append(escapePathSegment("a/b~c")), true, &segs).isOk());
  EXPECT_EQ(segs[0].name, "a/b~c");
}

TEST(FieldPathTest, Overlap) {
  auto p = [](const char* s) {
    std::vector<PathSegment> segs;
    EXPECT_TRUE(parseFieldPath(s, true, &segs).isOk());
    return segs;
  };
  EXPECT_TRUE(pathsOverlap(p("/a"), p("/a/b")));
  EXPECT_TRUE(pathsOverlap(p("/a/b"), p("/a")));
  EXPECT_TRUE(pathsOverlap(p("/a"), p("/a")));
  EXPECT_TRUE(pathsOverlap(p("/cards/*/number"), p("/cards/0")));
  EXPECT_TRUE(pathsOverlap(p("/a/*"), p("/a/b/c")));
  EXPECT_FALSE(pathsOverlap(p("/a/*/x"), p("/a/b/y")));
  EXPECT_FALSE(pathsOverlap(p("/a"), p("/b")));
  EXPECT_FALSE(pathsOverlap(p("/ssn"), p("/SSN")));  // case-sensitive
}

TEST(CosmosIdTest, Rules) {
  EXPECT_EQ(checkCosmosId("shop"), "");
  EXPECT_EQ(checkCosmosId("db full é"), "");
  EXPECT_THAT(checkCosmosId(""), HasSubstr("name is empty; expected a Cosmos id"));
  EXPECT_THAT(checkCosmosId("a/b"), HasSubstr("contains '/'"));
  EXPECT_THAT(checkCosmosId("a\\b"), HasSubstr("contains '\\'"));
  EXPECT_THAT(checkCosmosId("a?b"), HasSubstr("contains '?'"));
  EXPECT_THAT(checkCosmosId("a#b"), HasSubstr("contains '#'"));
  EXPECT_THAT(checkCosmosId("a\nb"), HasSubstr("control character"));
  EXPECT_THAT(checkCosmosId("ab "), HasSubstr("ends with a space"));
  EXPECT_THAT(checkCosmosId(std::string(256, 'x')), HasSubstr("256 characters long"));
}

// ---- validation ----

TEST(ValidateTest, ValidSpecsHaveNoIssues) {
  std::vector<ContainerPolicySpec> specs = {
      spec("shop", "customers",
           {field("/ssn", FieldMode::kDeterministic), field("/address"),
            field("/cards/*/number"), field("/cards/*/cvv"), field("/a/*/x"), field("/a/b/y")},
           {"/ssn"}),
      spec("shop", "orders", {field("/card/number")}),
      spec("Shop", "customers", {field("/x")}),  // other database (case-sensitive)
  };
  EXPECT_TRUE(validatePolicySpecs(specs).empty());
}

TEST(ValidateTest, IssuesCarryKeyPathsAndPositions) {
  std::vector<ContainerPolicySpec> specs = {
      spec("shop", "c", {field("/pk"), field("/id"), field("/_etag"), field("/ttl"), field("/*"),
                         field("/a"), field("/a/b"), field("/a", FieldMode::kRandomized, "")},
           {"/pk"}),
  };
  specs[0].fields[5].pos = SourcePos{"f.yaml", 7, 9};
  specs[0].fields[6].pos = SourcePos{"f.yaml", 8, 9};
  auto issues = validatePolicySpecs(specs);
  std::vector<std::string> lines;
  for (const auto& i : issues) lines.push_back(formatSpecIssue(i));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[0].fields[0].mode: path '/pk' matches the partition-key path")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[0].fields[1].path: path '/id'")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[0].fields[2].path: path '/_etag' is "
                                                   "a system property")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[0].fields[3].path: path '/ttl'")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[0].fields[4].path: path '/*' would protect every top-level")));
  EXPECT_THAT(lines, ::testing::Contains(
                         "f.yaml:8:9: policies[0].fields[6].path: path '/a/b' overlaps '/a' "
                         "(policies[0].fields[5] at f.yaml:7:9): a protected path is encrypted as "
                         "one value with everything below it; expected paths that are not "
                         "prefixes of each other ('*' matches any segment)"));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[0].fields[7].key: key name is empty")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[0].fields[7].path: duplicate path '/a' (also "
                         "policies[0].fields[5] at f.yaml:7:9)")));
  // fields[7] also overlaps fields[6] (/a/b).
  EXPECT_EQ(issues.size(), 9u);
}

TEST(ValidateTest, PartitionKeyCoveredFromAbove) {
  auto issues = validatePolicySpecs(std::vector<ContainerPolicySpec>{
      spec("d", "c", {field("/address", FieldMode::kDeterministic)}, {"/address/zip"})});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_THAT(issues[0].message, HasSubstr("covers the partition-key path '/address/zip'"));
  // A wildcard that matches the partition-key path must be deterministic too.
  issues = validatePolicySpecs(std::vector<ContainerPolicySpec>{
      spec("d", "c", {field("/t/*")}, {"/t/pk"})});
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].key_path, "policies[0].fields[0].mode");
}

TEST(ValidateTest, PolicyLevelRules) {
  auto issues = validatePolicySpecs(std::vector<ContainerPolicySpec>{
      spec("", "c", {field("/x")}),
      spec("d", "c/x", {field("/x")}),
      spec("d", "c", {}, {"/a", "/b", "/c", "/d"}),
      spec("d", "c", {field("/x")}),
  });
  std::vector<std::string> lines;
  for (const auto& i : issues) lines.push_back(formatSpecIssue(i));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[0].database: database name is empty")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[1].container: container name 'c/x'")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[2].partition_key: 4 partition-key paths; expected at most 3")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("policies[2].fields: no fields")));
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr(
                         "policies[3]: duplicate policy for database 'd', container 'c' (first "
                         "in policies[2]); expected one policy per container")));
  EXPECT_EQ(issues.size(), 5u);
}

TEST(ValidateTest, SkipFunctionSilencesItems) {
  std::vector<ContainerPolicySpec> specs = {spec("", "c", {field(""), field("/ok")})};
  auto skip = [](size_t i, size_t j) { return i == 0 && (j == kWholePolicy || j == 0); };
  EXPECT_TRUE(validatePolicySpecs(specs, skip).empty());
  EXPECT_EQ(validatePolicySpecs(specs).size(), 2u);
}

// ---- PolicySet ----

TEST(PolicySetTest, CreateRejectsInvalidSpecs) {
  auto set = PolicySet::create(std::vector<ContainerPolicySpec>{spec("d", "c", {field("/id")})});
  ASSERT_FALSE(set.isOk());
  EXPECT_EQ(set.status().detail(), "policy.invalid_spec");
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr("policies[0].fields[0].path: path '/id'"));
}

TEST(PolicySetTest, UnknownKeysAreListed) {
  std::vector<ContainerPolicySpec> specs = {
      spec("d", "c", {field("/a", FieldMode::kRandomized, "pii"),
                      field("/b", FieldMode::kRandomized, "cards")})};
  std::set<std::string> keyring = {"pii"};
  auto set = PolicySet::create(specs, [&](std::string_view k) {
    return keyring.count(std::string(k)) != 0;
  });
  ASSERT_FALSE(set.isOk());
  EXPECT_EQ(set.status().detail(), "policy.unknown_key");
  EXPECT_THAT(std::string(set.status().message()),
              HasSubstr("policies[0].fields[1].key: key 'cards' is not in the keyring"));
  keyring.insert("cards");
  EXPECT_TRUE(PolicySet::create(specs, [&](std::string_view k) {
                return keyring.count(std::string(k)) != 0;
              }).isOk());
}

TEST(PolicySetTest, FindIsExactAndCaseSensitive) {
  auto set = mustCreate({spec("shop", "customers", {field("/ssn")}),
                         spec("shop", "orders", {field("/card")}),
                         spec("db full", "Items é", {field("/x")})});
  ASSERT_NE(set, nullptr);
  EXPECT_EQ(set->size(), 3u);
  EXPECT_FALSE(set->empty());
  ASSERT_NE(set->find("shop", "customers"), nullptr);
  EXPECT_EQ(set->find("shop", "customers")->container(), "customers");
  EXPECT_EQ(set->find("shop", "Customers"), nullptr);
  EXPECT_EQ(set->find("Shop", "customers"), nullptr);
  EXPECT_EQ(set->find("shop", "customer"), nullptr);
  EXPECT_EQ(set->find("shop", ""), nullptr);
  EXPECT_NE(set->find("db full", "Items é"), nullptr);
  EXPECT_EQ(set->all().size(), 3u);
  auto empty = mustCreate({});
  EXPECT_TRUE(empty->empty());
  EXPECT_EQ(empty->find("shop", "customers"), nullptr);
}

TEST(PolicySetTest, RulesAndBindings) {
  auto set = mustCreate({spec("shop", "customers",
                              {field("/ssn", FieldMode::kDeterministic), field("/cards/*/number")})});
  const ContainerPolicy* cp = set->find("shop", "customers");
  ASSERT_NE(cp, nullptr);
  ASSERT_EQ(cp->rules().size(), 2u);
  EXPECT_EQ(cp->rules()[0].binding, "shop/customers:/ssn");
  EXPECT_EQ(cp->rules()[0].mode, FieldMode::kDeterministic);
  EXPECT_EQ(cp->rules()[1].binding, "shop/customers:/cards/*/number");
  EXPECT_EQ(cp->rules()[1].pattern, "/cards/*/number");
  EXPECT_EQ(cp->rules()[1].key, "pii");
}

using Segs = std::vector<std::string_view>;

TEST(PolicySetTest, TrieWalk) {
  auto set = mustCreate({spec("d", "c",
                              {field("/ssn"), field("/cards/*/number"), field("/cards/0/cvv"),
                               field("/a~1b"), field("/m/*")})});
  const ContainerPolicy* cp = set->find("d", "c");
  const PathNode& root = cp->root();
  EXPECT_EQ(root.rule(), nullptr);
  ASSERT_NE(root.member("ssn"), nullptr);
  EXPECT_EQ(root.member("ssn")->rule()->pattern, "/ssn");
  EXPECT_EQ(root.member("SSN"), nullptr);
  EXPECT_EQ(root.member("other"), nullptr);
  EXPECT_NE(root.member("a/b"), nullptr);  // unescaped names

  const PathNode* cards = root.member("cards");
  ASSERT_NE(cards, nullptr);
  EXPECT_EQ(cards->rule(), nullptr);
  // Element 0 sees both the literal "0" pattern and the wildcard pattern.
  const PathNode* e0 = cards->element(0);
  ASSERT_NE(e0, nullptr);
  ASSERT_NE(e0->member("number"), nullptr);
  EXPECT_EQ(e0->member("number")->rule()->pattern, "/cards/*/number");
  ASSERT_NE(e0->member("cvv"), nullptr);
  EXPECT_EQ(e0->member("cvv")->rule()->pattern, "/cards/0/cvv");
  // Element 1 only sees the wildcard pattern.
  const PathNode* e1 = cards->element(1);
  ASSERT_NE(e1, nullptr);
  EXPECT_NE(e1->member("number"), nullptr);
  EXPECT_EQ(e1->member("cvv"), nullptr);
  // Object members are matched the same way (JSON Pointer: "0" names a member or an index).
  EXPECT_EQ(cards->member("0"), e0);
  EXPECT_EQ(cards->member("x"), cards->wildcard());

  const PathNode* m = root.member("m");
  ASSERT_NE(m, nullptr);
  EXPECT_NE(m->element(7), nullptr);
  EXPECT_EQ(m->element(7)->rule()->pattern, "/m/*");
  EXPECT_FALSE(m->element(7)->hasChildren());
}

TEST(PolicySetTest, PathRelations) {
  auto set = mustCreate({spec("d", "c",
                              {field("/ssn"), field("/address"), field("/cards/*/number"),
                               field("/deep/x/y")})});
  const ContainerPolicy* cp = set->find("d", "c");
  const FieldRule* rule = nullptr;

  EXPECT_EQ(cp->relation(Segs{"ssn"}, &rule), PathRelation::kProtected);
  EXPECT_EQ(rule->pattern, "/ssn");
  EXPECT_EQ(cp->relation(Segs{"address", "city"}, &rule), PathRelation::kInsideProtected);
  EXPECT_EQ(rule->pattern, "/address");
  EXPECT_EQ(cp->relation(Segs{"cards"}, &rule), PathRelation::kContainsProtected);
  EXPECT_EQ(rule, nullptr);
  EXPECT_EQ(cp->relation(Segs{"cards", "3"}), PathRelation::kContainsProtected);
  EXPECT_EQ(cp->relation(Segs{"cards", "3", "number"}), PathRelation::kProtected);
  EXPECT_EQ(cp->relation(Segs{"cards", "3", "name"}), PathRelation::kUnprotected);
  EXPECT_EQ(cp->relation(Segs{"name"}), PathRelation::kUnprotected);
  EXPECT_EQ(cp->relation(Segs{}), PathRelation::kContainsProtected);
  EXPECT_EQ(cp->relation(Segs{"deep", "x"}), PathRelation::kContainsProtected);

  EXPECT_EQ(cp->matchPath(Segs{"cards", "0", "number"})->pattern, "/cards/*/number");
  EXPECT_EQ(cp->matchPath(Segs{"address", "city"}), nullptr);
  EXPECT_EQ(cp->coveringRule(Segs{"address", "city"})->pattern, "/address");
  EXPECT_EQ(cp->coveringRule(Segs{"address"})->pattern, "/address");
  EXPECT_EQ(cp->coveringRule(Segs{"cards"}), nullptr);
  EXPECT_TRUE(cp->isProtectedPrefix(Segs{"cards"}));
  EXPECT_TRUE(cp->isProtectedPrefix(Segs{}));
  EXPECT_FALSE(cp->isProtectedPrefix(Segs{"ssn"}));
  EXPECT_FALSE(cp->isProtectedPrefix(Segs{"address", "city"}));
}

TEST(PolicySetTest, PartitionKeys) {
  auto set = mustCreate({
      spec("d", "protected_pk", {field("/tenant", FieldMode::kDeterministic), field("/x")},
           {"/tenant", "/user/id"}),
      spec("d", "plain_pk", {field("/x")}, {"/pk"}),
      spec("d", "unknown_pk", {field("/x")}),
  });
  const ContainerPolicy* p = set->find("d", "protected_pk");
  ASSERT_EQ(p->partitionKeyPaths().size(), 2u);
  EXPECT_TRUE(p->partitionKeyKnown());
  EXPECT_TRUE(p->partitionKeyProtected());
  EXPECT_EQ(p->partitionKeyPaths()[0].path, "/tenant");
  ASSERT_NE(p->partitionKeyPaths()[0].rule, nullptr);
  EXPECT_TRUE(p->partitionKeyPaths()[0].rule->partition_key);
  EXPECT_EQ(p->partitionKeyPaths()[1].segments, (std::vector<std::string>{"user", "id"}));
  EXPECT_EQ(p->partitionKeyPaths()[1].rule, nullptr);
  EXPECT_FALSE(p->rules()[1].partition_key);

  const ContainerPolicy* plain = set->find("d", "plain_pk");
  EXPECT_TRUE(plain->partitionKeyKnown());
  EXPECT_FALSE(plain->partitionKeyProtected());
  const ContainerPolicy* unknown = set->find("d", "unknown_pk");
  EXPECT_FALSE(unknown->partitionKeyKnown());
  EXPECT_FALSE(unknown->partitionKeyProtected());
}

TEST(PolicySetTest, TrieSizeIsBounded) {
  // Pattern k: /r, then k wildcards, then literals; the last segment makes each one distinct.
  // Merging wildcards into literal siblings doubles the trie at every level.
  std::vector<FieldSpec> fields;
  const int depth = 24;
  for (int k = 0; k < depth; ++k) {
    std::string p = "/r";
    for (int i = 0; i < depth; ++i) p += i < k ? "/*" : "/a";
    p += "/e" + std::to_string(k);
    fields.push_back(field(p));
  }
  std::vector<ContainerPolicySpec> specs = {spec("d", "c", fields)};
  ASSERT_TRUE(validatePolicySpecs(specs).empty());
  auto set = PolicySet::create(specs);
  ASSERT_FALSE(set.isOk());
  EXPECT_EQ(set.status().detail(), "policy.too_complex");
}

}  // namespace
}  // namespace cosmoseal::policy
