#include "policy/query/rewriter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "policy/json/text.h"

namespace cosmoseal::policy {
namespace {

using crypto::FieldCipher;
using crypto::ValueType;
using ::testing::HasSubstr;
using ::testing::Not;

common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i);
  return s;
}

std::shared_ptr<const crypto::Keyring> testKeyring() {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, 0x0a0b0c01, material(10)).isOk());
  EXPECT_TRUE(b.add("cards", 1, 0x0c0c0c01, material(30)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

FieldSpec field(std::string path, FieldMode mode, std::string key = "pii") {
  FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = std::move(key);
  return f;
}

constexpr FieldMode kDet = FieldMode::kDeterministic;
constexpr FieldMode kRnd = FieldMode::kRandomized;

std::shared_ptr<const PolicySet> testPolicies() {
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

std::string jsonString(std::string_view s) {
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

// ---- supported, forwarded unchanged ----

TEST_F(QueryRewriterTest, SupportedUnchanged) {
  for (const char* q : {
           "SELECT * FROM c",
           "SELECT * from c where c.name = 'x' AND c.age > 3 OR NOT IS_DEFINED(c.x)",
           "SELECT c.id, c.ssn, c.address, c.cards FROM c",
           "SELECT VALUE {\"s\": c.ssn, \"a\": c.address, n: c.cards[0].number} FROM c",
           "SELECT [c.ssn, c.address] AS pair FROM c",
           "SELECT VALUE c.address FROM c WHERE c.name = 'bob'",
           "SELECT * FROM c WHERE IS_DEFINED(c.ssn) AND NOT IS_DEFINED(c.address)",
           "SELECT VALUE COUNT(1) FROM c WHERE IS_DEFINED(c.cards[0].number)",
           "SELECT VALUE COUNT(c) FROM c",
           "SELECT TOP 10 * FROM c WHERE c.age >= 5 ORDER BY c._ts DESC",
           "SELECT * FROM c ORDER BY c.name ASC, c.id",
           "SELECT c.city, COUNT(1) AS n FROM c GROUP BY c.city",
           "SELECT DISTINCT VALUE c.city FROM c",
           "SELECT * FROM c OFFSET 10 LIMIT 5",
           "SELECT t FROM c JOIN t IN c.tags",
           "SELECT k.number, k.expiry FROM c JOIN k IN c.cards WHERE k.expiry > '2025'",
           "SELECT c.id FROM c WHERE ARRAY_LENGTH(c.cards) > 1 AND IS_ARRAY(c.tags)",
           "SELECT c.id FROM c WHERE c.ssn = \"csx1:AAAA\"",
           "SELECT c.ssn ?? 'none' AS s FROM c",
           "SELECT c.vip ? c.ssn : c.email AS contact FROM c",
           "SELECT VALUE (SELECT VALUE t FROM t IN c.tags) FROM c",
           "SELECT VALUE ARRAY(SELECT k.number FROM k IN c.cards) FROM c",
           "SELECT * FROM c WHERE EXISTS(SELECT VALUE k FROM k IN c.cards WHERE k.kind = 'visa')",
           "SELECT a FROM c.address a",
           "SELECT * FROM c WHERE c.ssn = undefined",
           "SELECT c.id FROM c WHERE c.name IN ('a', 'b') AND c.n BETWEEN 1 AND 9",
           "SELECT c.id FROM c WHERE STARTSWITH(c.name, 'a') AND c.name LIKE 'b%'",
           "SELECT c.id FROM c WHERE c.meta.other = 1 AND c.items[1].sku = 'x'",
           "SELECT c.id FROM c WHERE ARRAY_CONTAINS(c.colors, 'red')",
           "SELECT c.id FROM c WHERE c._rid = 'abc' AND c.id = 'x' AND c.ttl = 5",
       }) {
    expectUnchanged(q);
  }
  // Parameters outside protected comparisons stay as they are.
  expectUnchanged("SELECT TOP @n * FROM c WHERE c.name = @name OFFSET @o LIMIT @l",
                  R"([{"name":"@n","value":5},{"name":"@name","value":"bob"},)"
                  R"({"name":"@o","value":0},{"name":"@l","value":10}])");
}

TEST_F(QueryRewriterTest, SelectStar) {
  struct Case {
    const char* query;
    bool star;
  };
  for (const Case& c : std::vector<Case>{
           {"SELECT * FROM c", true},
           {"SELECT TOP 1 * FROM root r WHERE r.x = 1 ORDER BY r.x", true},
           {"SELECT VALUE r FROM root r", true},
           {"SELECT VALUE c FROM c", true},
           {"SELECT * FROM Families AS f OFFSET 1 LIMIT 1", true},
           {"SELECT c.id FROM c", false},
           {"SELECT VALUE c.address FROM c", false},
           {"SELECT * FROM c JOIN t IN c.tags", false},
           {"SELECT * FROM t IN c.tags", false},
           {"SELECT * FROM c.meta m", false},
           {"SELECT * FROM (SELECT * FROM c) s", false},
           {"SELECT VALUE {\"d\": c} FROM c", false},
       }) {
    auto r = run(c.query);
    ASSERT_TRUE(r.isOk()) << c.query << ": " << r.status().toString();
    EXPECT_EQ(r->select_star, c.star) << c.query;
  }
}

// ---- rewritten ----

TEST_F(QueryRewriterTest, EqualityLiteralRewritten) {
  const std::string e = lit("/ssn", "123-45-6789");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = '123-45-6789'"),
            "SELECT * FROM c WHERE c.ssn = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE '123-45-6789' = c.ssn"),
            "SELECT * FROM c WHERE " + e + " = c.ssn");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn != \"123-45-6789\""),
            "SELECT * FROM c WHERE c.ssn != " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn <> '123-45-6789'"),
            "SELECT * FROM c WHERE c.ssn <> " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE (c.ssn) = ('123-45-6789')"),
            "SELECT * FROM c WHERE (c.ssn) = (" + e + ")");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE NOT (c.ssn = '123-45-6789') AND c.name = 'x'"),
            "SELECT * FROM c WHERE NOT (c.ssn = " + e + ") AND c.name = 'x'");
  // In a projection too.
  EXPECT_EQ(rewritten("SELECT c.ssn = '123-45-6789' AS match FROM c"),
            "SELECT c.ssn = " + e + " AS match FROM c");
  // The envelope opens back to the canonical JSON token.
  EXPECT_EQ(open("/ssn", envStr("/ssn", "123-45-6789")), "string:\"123-45-6789\"");
}

TEST_F(QueryRewriterTest, TypePreservingTokens) {
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 5"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "5"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = -5"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "-5"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 1.50"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "1.50"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 1E+3"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "1E+3"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = true"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kTrue, "true"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = false"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kFalse, "false"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = null"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kNull, "null"));
  // 5 and 5.0 are different spellings, so different envelopes (documented caveat).
  EXPECT_NE(env("/ssn", ValueType::kNumber, "5"), env("/ssn", ValueType::kNumber, "5.0"));
  // The string "5" is not the number 5.
  EXPECT_NE(envStr("/ssn", "5"), env("/ssn", ValueType::kNumber, "5"));
  EXPECT_EQ(open("/flag", env("/flag", ValueType::kNull, "null")), "null:null");
  EXPECT_EQ(open("/ssn", env("/ssn", ValueType::kNumber, "-5")), "number:-5");
}

TEST_F(QueryRewriterTest, SqlStringEscapesGiveTheCanonicalEnvelope) {
  // 'é', "\u00e9" and the JSON parameter "\u00e9" all mean the same string.
  const std::string e = lit("/ssn", "\xc3\xa9");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = '\xc3\xa9'"),
            "SELECT * FROM c WHERE c.ssn = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = \"\\u00e9\""),
            "SELECT * FROM c WHERE c.ssn = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = '\\u00E9'"),
            "SELECT * FROM c WHERE c.ssn = " + e);
  EXPECT_EQ(open("/ssn", envStr("/ssn", "\xc3\xa9")), "string:\"\xc3\xa9\"");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 'it\\'s'"),
            "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "it's"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = \"it's\""),
            "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "it's"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 'a\\\"b\\\\c\\/d\\te\\n'"),
            "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "a\"b\\c/d\te\n"));
  EXPECT_EQ(open("/ssn", envStr("/ssn", "a\"b\\c/d\te\n")), "string:\"a\\\"b\\\\c/d\\te\\n\"");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = '\\ud83d\\ude00'"),
            "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "\xf0\x9f\x98\x80"));

  auto r = run("SELECT * FROM c WHERE c.ssn = @s", R"([{"name":"@s","value":"\u00e9"}])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, body("SELECT * FROM c WHERE c.ssn = @s",
                          "[{\"name\":\"@s\",\"value\":\"" + envStr("/ssn", "\xc3\xa9") + "\"}]"));
}

TEST_F(QueryRewriterTest, InListAndArrayContains) {
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn IN ('a', 'b', 3)", 3),
            "SELECT * FROM c WHERE c.ssn IN (" + lit("/ssn", "a") + ", " + lit("/ssn", "b") + ", " +
                litTok("/ssn", ValueType::kNumber, "3") + ")");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn NOT IN ('a')"),
            "SELECT * FROM c WHERE c.ssn NOT IN (" + lit("/ssn", "a") + ")");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE ARRAY_CONTAINS(['a', 'b'], c.email)", 2),
            "SELECT * FROM c WHERE ARRAY_CONTAINS([" + lit("/email", "a") + ", " +
                lit("/email", "b") + "], c.email)");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE array_contains(['a'], c.email, false)"),
            "SELECT * FROM c WHERE array_contains([" + lit("/email", "a") + "], c.email, false)");
  // Deterministic array elements: search for the literal.
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, 'vip')"),
            "SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, " + lit("/tags/*", "vip") + ")");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.tags[0] = 'vip'"),
            "SELECT * FROM c WHERE c.tags[0] = " + lit("/tags/*", "vip"));
}

TEST_F(QueryRewriterTest, Aliases) {
  const std::string e = lit("/ssn", "1");
  EXPECT_EQ(rewritten("SELECT * FROM customers x WHERE x.ssn = '1'"),
            "SELECT * FROM customers x WHERE x.ssn = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM root AS r WHERE r['ssn'] = '1'"),
            "SELECT * FROM root AS r WHERE r['ssn'] = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c[\"ssn\"] = '1'"),
            "SELECT * FROM c WHERE c[\"ssn\"] = " + e);
  // The container name stays resolvable next to its alias.
  EXPECT_EQ(rewritten("SELECT * FROM Families f WHERE Families.ssn = '1'"),
            "SELECT * FROM Families f WHERE Families.ssn = " + e);
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.meta.code = 'A'"),
            "SELECT * FROM c WHERE c.meta.code = " + lit("/meta/code", "A"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c[\"meta\"]['code'] = 'A'"),
            "SELECT * FROM c WHERE c[\"meta\"]['code'] = " + lit("/meta/code", "A"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c['a b'] = 'A'"),
            "SELECT * FROM c WHERE c['a b'] = " + lit("/a b", "A"));
  EXPECT_EQ(rewritten("SELECT * FROM c.meta m WHERE m.code = 'A'"),
            "SELECT * FROM c.meta m WHERE m.code = " + lit("/meta/code", "A"));
  EXPECT_EQ(rewritten("SELECT * FROM c.meta WHERE meta.code = 'A'"),
            "SELECT * FROM c.meta WHERE meta.code = " + lit("/meta/code", "A"));
  EXPECT_EQ(rewritten("SELECT * FROM c.ssn s WHERE s = '1'"),
            "SELECT * FROM c.ssn s WHERE s = " + e);
  // JOIN / IN iteration.
  const std::string vip = lit("/tags/*", "vip");
  EXPECT_EQ(rewritten("SELECT c.id FROM c JOIN t IN c.tags WHERE t = 'vip'"),
            "SELECT c.id FROM c JOIN t IN c.tags WHERE t = " + vip);
  EXPECT_EQ(rewritten("SELECT * FROM t IN c.tags WHERE t = 'vip'"),
            "SELECT * FROM t IN c.tags WHERE t = " + vip);
  EXPECT_EQ(rewritten("SELECT * FROM t IN Families.tags WHERE t IN ('vip')"),
            "SELECT * FROM t IN Families.tags WHERE t IN (" + vip + ")");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = "
                      "'vip')"),
            "SELECT * FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = " + vip + ")");
  // Nested subqueries over outer aliases; the inner FROM c rebinds c to itself.
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE EXISTS(SELECT VALUE 1 FROM x IN c.list WHERE "
                      "EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = 'vip'))"),
            "SELECT * FROM c WHERE EXISTS(SELECT VALUE 1 FROM x IN c.list WHERE "
            "EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = " +
                vip + "))");
  EXPECT_EQ(rewritten("SELECT VALUE (SELECT VALUE COUNT(1) FROM c WHERE c.ssn = '1') FROM c"),
            "SELECT VALUE (SELECT VALUE COUNT(1) FROM c WHERE c.ssn = " + e + ") FROM c");
  EXPECT_EQ(rewritten("SELECT * FROM c JOIN (SELECT VALUE t FROM t IN c.tags WHERE t = 'vip') x"),
            "SELECT * FROM c JOIN (SELECT VALUE t FROM t IN c.tags WHERE t = " + vip + ") x");
  EXPECT_EQ(rewritten("SELECT * FROM (SELECT * FROM c WHERE c.ssn = '1') s"),
            "SELECT * FROM (SELECT * FROM c WHERE c.ssn = " + e + ") s");
  // A scalar subquery returning a protected field is compared like the field itself.
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE (SELECT VALUE t FROM t IN c.tags) = 'vip'"),
            "SELECT * FROM c WHERE (SELECT VALUE t FROM t IN c.tags) = " + vip);
  // A subquery's row value, bound by FROM.
  EXPECT_EQ(rewritten("SELECT * FROM (SELECT VALUE c.ssn FROM c) s WHERE s = '1'"),
            "SELECT * FROM (SELECT VALUE c.ssn FROM c) s WHERE s = " + e);
  // Partition-key field.
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.pk = 'p1' AND c.ssn = '1'", 2),
            "SELECT * FROM c WHERE c.pk = " + lit("/pk", "p1") + " AND c.ssn = " + e);
}

TEST_F(QueryRewriterTest, Parameters) {
  const std::string q = "SELECT * FROM c WHERE c.ssn = @s";
  struct Case {
    const char* value;
    ValueType type;
    const char* token;
  };
  for (const Case& c : std::vector<Case>{
           {R"("777")", ValueType::kString, R"("777")"},
           {R"("a\/b\u0041")", ValueType::kString, R"("a/bA")"},
           {"12.50", ValueType::kNumber, "12.50"},
           {"-0", ValueType::kNumber, "-0"},
           {"true", ValueType::kTrue, "true"},
           {"false", ValueType::kFalse, "false"},
           {"null", ValueType::kNull, "null"},
       }) {
    auto r = run(q, std::string(R"([{"name":"@s","value":)") + c.value + "}]");
    ASSERT_TRUE(r.isOk()) << c.value << ": " << r.status().toString();
    EXPECT_EQ(r->rewritten, 1u);
    EXPECT_EQ(r->body,
              body(q, "[{\"name\":\"@s\",\"value\":\"" + env("/ssn", c.type, c.token) + "\"}]"))
        << c.value;
  }
  // An array parameter for ARRAY_CONTAINS: every element; envelopes left alone.
  const std::string q2 = "SELECT * FROM c WHERE ARRAY_CONTAINS(@list, c.email)";
  auto r = run(q2, R"([{"name":"@list","value":["a", 2, null, "csx1:AAAA"]}])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->rewritten, 3u);
  EXPECT_EQ(r->body, body(q2, "[{\"name\":\"@list\",\"value\":[\"" + envStr("/email", "a") +
                                  "\",\"" + env("/email", ValueType::kNumber, "2") + "\",\"" +
                                  env("/email", ValueType::kNull, "null") + "\",\"csx1:AAAA\"]}]"));
  // The same parameter twice at the same field is encrypted once; other parameters,
  // extra members and other body members are kept verbatim and in order.
  const std::string q3 = "SELECT * FROM c WHERE c.ssn = @s OR @s = c.ssn OR c.name = @n";
  std::string in = "{\"maxItemCount\": 5, \"query\": " + jsonString(q3) +
                   R"(, "parameters": [ {"name": "@s", "value": "1", "x": [1, 2]},)"
                   R"( {"name": "@n", "value": 1.0} ], "tail": {"a" : [true]}})";
  auto r3 = rewriteQueryRequest(in, policy_, cipher_);
  ASSERT_TRUE(r3.isOk()) << r3.status().toString();
  EXPECT_EQ(r3->rewritten, 1u);
  EXPECT_EQ(r3->body, "{\"maxItemCount\":5,\"query\":" + jsonString(q3) +
                          ",\"parameters\":[{\"name\":\"@s\",\"value\":\"" + envStr("/ssn", "1") +
                          "\",\"x\":[1, 2]},{\"name\":\"@n\",\"value\":1.0}],\"tail\":{\"a\" : "
                          "[true]}}");
  // A parameter that already is an envelope is left alone.
  expectUnchanged(q, R"([{"name":"@s","value":"csx1:AAAA"}])");
  // IN with parameters; parameters: null; a parameter without a value entry.
  const std::string q4 = "SELECT * FROM c WHERE c.ssn IN (@a, 'b')";
  auto r4 = run(q4, R"([{"name":"@a","value":"a"}])");
  ASSERT_TRUE(r4.isOk()) << r4.status().toString();
  EXPECT_EQ(r4->rewritten, 2u);
  EXPECT_EQ(queryOf(r4->body), "SELECT * FROM c WHERE c.ssn IN (@a, " + lit("/ssn", "b") + ")");
  auto r5 = run("SELECT * FROM c WHERE c.ssn = @missing", "null");
  ASSERT_TRUE(r5.isOk()) << r5.status().toString();
  EXPECT_FALSE(r5->changed);
  // Element-deterministic arrays with a parameter.
  auto r6 =
      run("SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, @t)", R"([{"name":"@t","value":"vip"}])");
  ASSERT_TRUE(r6.isOk()) << r6.status().toString();
  EXPECT_EQ(r6->body, body("SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, @t)",
                           "[{\"name\":\"@t\",\"value\":\"" + envStr("/tags/*", "vip") + "\"}]"));
}

TEST_F(QueryRewriterTest, CommentsAreRemoved) {
  auto r = run("SELECT * FROM c -- everything\nWHERE c.name = 'x' --c.ssn = '1'");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->rewritten, 0u);
  EXPECT_EQ(queryOf(r->body), "SELECT * FROM c \nWHERE c.name = 'x' ");
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = '1'--x\n"),
            "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "1") + "\n");
}

TEST_F(QueryRewriterTest, CrossPartitionOrderByShape) {
  // The SDK's per-range query with the filter substituted: filter rewritten, plain ORDER BY.
  EXPECT_EQ(rewritten("SELECT c._rid, [{\"item\": c.name}] AS orderByItems, c AS payload FROM c "
                      "WHERE ((c.ssn = '1')) ORDER BY c.name"),
            "SELECT c._rid, [{\"item\": c.name}] AS orderByItems, c AS payload FROM c "
            "WHERE ((c.ssn = " +
                lit("/ssn", "1") + ")) ORDER BY c.name");
  expectUnchanged(
      "SELECT c._rid, [{\"item\": c.name}] AS orderByItems, {\"ssn\": c.ssn} AS "
      "payload FROM c WHERE true ORDER BY c.name DESC");
  // GROUP BY / aggregate wrappers.
  expectUnchanged(
      "SELECT [{\"item\": c.city}] AS groupByItems, {\"city\": c.city, \"n\": "
      "COUNT(1)} AS payload FROM c GROUP BY c.city");
  expectUnchanged("SELECT VALUE [{\"item\": COUNT(1)}] FROM c");
  // ORDER BY over a protected field is refused, however it is spelled.
  expectRefused(
      "SELECT c._rid, [{\"item\": c.ssn}] AS orderByItems, c AS payload FROM c WHERE "
      "(true) ORDER BY c.ssn",
      query_detail::kOrderByProtected, "/ssn");
  // An echoed plan query carrying envelopes passes unchanged.
  const std::string echoed =
      "SELECT c._rid, [{\"item\": c.name}] AS orderByItems, c AS payload "
      "FROM c WHERE (c.ssn = \"" +
      envStr("/ssn", "1") + "\") ORDER BY c.name";
  expectUnchanged(echoed);
}

TEST_F(QueryRewriterTest, Refused) {
  namespace qd = query_detail;
  struct Case {
    const char* query;
    std::string_view detail;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           // range
           {"SELECT * FROM c WHERE c.ssn > '1'", qd::kRangeOnProtected,
            "comparison '>' on protected field /ssn"},
           {"SELECT * FROM c WHERE '1' <= c.ssn", qd::kRangeOnProtected, "'<='"},
           {"SELECT * FROM c WHERE c.ssn BETWEEN '1' AND '2'", qd::kRangeOnProtected, "BETWEEN"},
           {"SELECT * FROM c WHERE c.n BETWEEN c.ssn AND 2", qd::kRangeOnProtected, "/ssn"},
           {"SELECT * FROM c WHERE c.cards < 1", qd::kRangeOnProtected, "/cards"},
           // functions
           {"SELECT * FROM c WHERE STARTSWITH(c.ssn, '1')", qd::kFunctionOnProtected,
            "function STARTSWITH on protected field /ssn"},
           {"SELECT * FROM c WHERE ENDSWITH(c.ssn, '1')", qd::kFunctionOnProtected, "ENDSWITH"},
           {"SELECT * FROM c WHERE CONTAINS(c.email, 'x')", qd::kFunctionOnProtected, "/email"},
           {"SELECT * FROM c WHERE StringEquals(c.ssn, '1', true)", qd::kFunctionOnProtected,
            "STRINGEQUALS"},
           {"SELECT * FROM c WHERE LOWER(c.ssn) = '1'", qd::kFunctionOnProtected, "LOWER"},
           {"SELECT UPPER(c.ssn) FROM c", qd::kFunctionOnProtected, "UPPER"},
           {"SELECT * FROM c WHERE LENGTH(c.ssn) = 9", qd::kFunctionOnProtected, "LENGTH"},
           {"SELECT SUBSTRING(c.ssn, 0, 3) FROM c", qd::kFunctionOnProtected, "SUBSTRING"},
           {"SELECT * FROM c WHERE IS_STRING(c.ssn)", qd::kFunctionOnProtected, "IS_STRING"},
           {"SELECT * FROM c WHERE IS_NULL(c.ssn)", qd::kFunctionOnProtected, "IS_NULL"},
           {"SELECT * FROM c WHERE IS_NUMBER(c.vip ? c.ssn : 1)", qd::kFunctionOnProtected,
            "IS_NUMBER"},
           {"SELECT * FROM c WHERE ABS(c.ssn) = 1", qd::kFunctionOnProtected, "ABS"},
           {"SELECT * FROM c WHERE udf.check(c.ssn)", qd::kFunctionOnProtected, "udf.check"},
           {"SELECT * FROM c WHERE c.ssn LIKE '1%'", qd::kFunctionOnProtected, "LIKE"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(c.ssn, '1')", qd::kFunctionOnProtected,
            "ARRAY_CONTAINS"},
           {"SELECT * FROM c WHERE TOSTRING(c) = 'x'", qd::kFunctionOnProtected, "whole document"},
           // operators
           {"SELECT * FROM c WHERE c.ssn || 'x' = '1x'", qd::kOperatorOnProtected, "operator ||"},
           {"SELECT * FROM c WHERE c.ssn + 1 = 2", qd::kOperatorOnProtected, "operator +"},
           {"SELECT -c.ssn FROM c", qd::kOperatorOnProtected, "operator -"},
           {"SELECT ~c.ssn FROM c", qd::kOperatorOnProtected, "operator ~"},
           {"SELECT c.ssn * 2 FROM c", qd::kOperatorOnProtected, "operator *"},
           {"SELECT * FROM c WHERE c.x[c.ssn] = 1", qd::kOperatorOnProtected, "property name"},
           // ORDER BY / GROUP BY / aggregates / DISTINCT
           {"SELECT * FROM c ORDER BY c.ssn", qd::kOrderByProtected,
            "ORDER BY on protected field /ssn"},
           {"SELECT * FROM c ORDER BY c.name, c.address DESC", qd::kOrderByProtected, "/address"},
           {"SELECT * FROM c ORDER BY c.cards", qd::kOrderByProtected, "/cards"},
           {"SELECT t FROM c JOIN t IN c.tags ORDER BY t", qd::kOrderByProtected, "/tags/*"},
           {"SELECT COUNT(1) FROM c GROUP BY c.ssn", qd::kGroupByProtected,
            "GROUP BY on protected field /ssn"},
           {"SELECT VALUE MAX(c.ssn) FROM c", qd::kAggregateOnProtected, "aggregate MAX"},
           {"SELECT VALUE min(c.pk) FROM c", qd::kAggregateOnProtected, "MIN"},
           {"SELECT VALUE SUM(c.cards[0].number) FROM c", qd::kAggregateOnProtected, "SUM"},
           {"SELECT VALUE AVG(c.email) FROM c", qd::kAggregateOnProtected, "AVG"},
           {"SELECT VALUE COUNT(c.ssn) FROM c", qd::kAggregateOnProtected, "COUNT"},
           {"SELECT VALUE SUM(c.cards) FROM c", qd::kAggregateOnProtected, "SUM"},
           {"SELECT DISTINCT c.ssn FROM c", qd::kDistinctOnProtected, "/ssn"},
           {"SELECT DISTINCT VALUE c.address FROM c", qd::kDistinctOnProtected, "/address"},
           {"SELECT DISTINCT * FROM c", qd::kDistinctOnProtected, "DISTINCT *"},
           {"SELECT DISTINCT VALUE {\"s\": c.ssn} FROM c", qd::kDistinctOnProtected, "DISTINCT"},
           // randomized: no predicate at all
           {"SELECT * FROM c WHERE c.address = 'x'", qd::kPredicateOnRandomized,
            "comparison '=' on protected field /address (randomized)"},
           {"SELECT * FROM c WHERE 'x' != c.address", qd::kPredicateOnRandomized, "/address"},
           {"SELECT * FROM c WHERE c.address > 'x'", qd::kPredicateOnRandomized, "/address"},
           {"SELECT * FROM c WHERE c.address IN ('x')", qd::kPredicateOnRandomized, "IN"},
           {"SELECT * FROM c WHERE c.address BETWEEN 'a' AND 'b'", qd::kPredicateOnRandomized,
            "BETWEEN"},
           {"SELECT * FROM c WHERE c.address LIKE 'x%'", qd::kPredicateOnRandomized, "LIKE"},
           {"SELECT * FROM c WHERE c.address", qd::kPredicateOnRandomized, "condition (WHERE)"},
           {"SELECT * FROM c WHERE NOT c.address", qd::kPredicateOnRandomized, "NOT"},
           {"SELECT * FROM c WHERE c.x = 1 AND c.address", qd::kPredicateOnRandomized, "AND"},
           {"SELECT * FROM c WHERE c.cards[0].number = '4111'", qd::kPredicateOnRandomized,
            "/cards/*/number"},
           {"SELECT * FROM c JOIN k IN c.cards WHERE k.number = '4111'", qd::kPredicateOnRandomized,
            "/cards/*/number"},
           {"SELECT * FROM c WHERE EXISTS(SELECT VALUE k FROM k IN c.cards WHERE k.number = '1')",
            qd::kPredicateOnRandomized, "/cards/*/number"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(['x'], c.address)", qd::kPredicateOnRandomized,
            "ARRAY_CONTAINS"},
           {"SELECT * FROM c WHERE c.address = c.ssn", qd::kPredicateOnRandomized, "/address"},
           {"SELECT * FROM c.address a WHERE a = 'x'", qd::kPredicateOnRandomized, "/address"},
           {"SELECT c.address = 'x' FROM c", qd::kPredicateOnRandomized, "/address"},
           // inside a protected subtree
           {"SELECT * FROM c WHERE c.address.city = 'x'", qd::kInsideProtected,
            "path /address/city lies inside protected field /address"},
           {"SELECT c.address.city FROM c", qd::kInsideProtected, "/address/city"},
           {"SELECT * FROM c WHERE IS_DEFINED(c.address.city)", qd::kInsideProtected, "/address"},
           {"SELECT * FROM c WHERE c.ssn.x = 1", qd::kInsideProtected, "/ssn"},
           {"SELECT * FROM c WHERE c.address['zip'] = 1", qd::kInsideProtected, "/address"},
           {"SELECT * FROM c JOIN l IN c.address.lines", qd::kInsideProtected, "/address/lines"},
           {"SELECT * FROM c.address.lines", qd::kInsideProtected, "/address"},
           {"SELECT * FROM c JOIN k IN c.cards WHERE k.number.x = 1", qd::kInsideProtected,
            "/cards/*/number"},
           {"SELECT * FROM c WHERE (SELECT VALUE c.address FROM c).city = 1", qd::kInsideProtected,
            "/address"},
           // equality that cannot be rewritten
           {"SELECT * FROM c WHERE c.ssn = c.email", qd::kUnsupportedOnProtected, "two protected"},
           {"SELECT * FROM c WHERE c.ssn = c.name", qd::kUnsupportedOnProtected,
            "literal or a @parameter"},
           {"SELECT * FROM c WHERE c.ssn = LOWER('x')", qd::kUnsupportedOnProtected,
            "literal or a @parameter"},
           {"SELECT * FROM c WHERE c.ssn = {\"a\": 1}", qd::kUnsupportedOnProtected, "/ssn"},
           {"SELECT * FROM c WHERE c.ssn = ['1']", qd::kUnsupportedOnProtected, "/ssn"},
           {"SELECT * FROM c WHERE c.cards = []", qd::kUnsupportedOnProtected,
            "/cards, which contains protected fields"},
           {"SELECT * FROM c WHERE c = {}", qd::kUnsupportedOnProtected, "whole document"},
           {"SELECT * FROM c WHERE c.meta = {\"code\": \"A\"}", qd::kUnsupportedOnProtected,
            "/meta"},
           {"SELECT * FROM c WHERE c.flag", qd::kUnsupportedOnProtected, "condition (WHERE)"},
           {"SELECT * FROM c WHERE c.flag ? true : false", qd::kUnsupportedOnProtected, "?:"},
           {"SELECT * FROM c WHERE c.ssn IN (c.name)", qd::kUnsupportedOnProtected, "every item"},
           {"SELECT * FROM c WHERE 'x' IN (c.ssn)", qd::kUnsupportedOnProtected, "IN list item"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(c.list, c.ssn)", qd::kUnsupportedOnProtected,
            "literal array"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(['1'], c.ssn, true)", qd::kUnsupportedOnProtected,
            "literal false"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(c.cards, {\"number\": \"1\"}, true)",
            qd::kUnsupportedOnProtected, "/cards"},
           {"SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, c.name)", qd::kUnsupportedOnProtected,
            "/tags/*"},
           {"SELECT * FROM c WHERE c.ssn = .5", qd::kUnsupportedOnProtected, "JSON number"},
           {"SELECT * FROM c WHERE c.ssn = 007", qd::kUnsupportedOnProtected, "JSON number"},
           {"SELECT * FROM c WHERE c.ssn = 5.", qd::kUnsupportedOnProtected, "JSON number"},
           {"SELECT * FROM c WHERE c.ssn = -(5)", qd::kUnsupportedOnProtected,
            "literal or a @parameter"},
           {"SELECT * FROM c JOIN a IN c.address", qd::kUnsupportedOnProtected,
            "JOIN/IN iteration over protected field /address"},
           {"SELECT * FROM t IN c.ssn", qd::kUnsupportedOnProtected, "iteration"},
           {"SELECT * FROM c JOIN i IN c.items WHERE i.sku = 'x'", qd::kUnsupportedOnProtected,
            "may be the protected field /items/0/sku"},
           {"SELECT * FROM c WHERE c[@f] = 'x'", qd::kUnsupportedOnProtected, "may be"},
           {"SELECT * FROM c WHERE (c.ssn ?? 'x') = 'y'", qd::kUnsupportedOnProtected, "may hold"},
           {"SELECT * FROM c WHERE ALL(SELECT VALUE t FROM t IN c.tags)",
            qd::kUnsupportedOnProtected, "ALL"},
           // identifiers
           {"SELECT * FROM c WHERE x.ssn = '1'", qd::kUnknownIdentifier, "identifier 'x'"},
           {"SELECT * FROM c WHERE c.flag = TRUE", qd::kUnknownIdentifier, "'TRUE'"},
           {"SELECT * FROM c WHERE C.ssn = '1'", qd::kUnknownIdentifier, "'C'"},
           {"SELECT * FROM c JOIN t IN d.tags", qd::kUnknownIdentifier, "'d'"},
           {"SELECT * FROM c WHERE EXISTS(SELECT VALUE 1 FROM d)", qd::kUnknownIdentifier, "'d'"},
           {"SELECT * FROM c.ssn s WHERE c.ssn = '1'", qd::kUnknownIdentifier, "'c'"},
           {"SELECT c.ssn AS s FROM c ORDER BY s", qd::kUnknownIdentifier, "'s'"},
           // aliases defined twice / hiding
           {"SELECT * FROM c JOIN c IN c.tags WHERE c = 'x'", qd::kSyntax, "defined twice"},
           {"SELECT * FROM c WHERE EXISTS(SELECT VALUE c FROM c IN c.tags WHERE c = 'x')",
            qd::kSyntax, "hides an alias"},
       }) {
    expectRefused(c.query, c.detail, c.message);
  }
}

TEST_F(QueryRewriterTest, RefusalMessagesNeverQuoteLiterals) {
  for (const char* q : {"SELECT * FROM c WHERE c.ssn > '123-45-6789'",
                        "SELECT * FROM c WHERE c.address = '123-45-6789'",
                        "SELECT * FROM c WHERE c.ssn = LOWER('123-45-6789')",
                        "SELECT * FROM c WHERE c.ssn = 123456789.",
                        "SELECT * FROM c WHERE STARTSWITH(c.ssn, '123-45-6789')"}) {
    auto r = run(q);
    ASSERT_FALSE(r.isOk()) << q;
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("123456789"))) << q;
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("123-45"))) << q;
  }
}

TEST_F(QueryRewriterTest, ParameterConflicts) {
  const std::string p = R"([{"name":"@p","value":"1"}])";
  namespace qd = query_detail;
  expectRefused("SELECT * FROM c WHERE c.ssn = @p AND c.name = @p", qd::kParameterConflict,
                "parameter @p is compared with protected field /ssn", p);
  expectRefused("SELECT * FROM c WHERE c.name = @p AND c.ssn = @p", qd::kParameterConflict,
                "plaintext", p);
  expectRefused("SELECT @p AS x FROM c WHERE c.ssn = @p", qd::kParameterConflict, "@p", p);
  expectRefused("SELECT TOP @p * FROM c WHERE c.ssn = @p", qd::kParameterConflict, "@p", p);
  expectRefused("SELECT * FROM c WHERE c.ssn = @p OR c.email = @p", qd::kParameterConflict,
                "/ssn and /email", p);
  expectRefused("SELECT * FROM c WHERE c.ssn = @p OR ARRAY_CONTAINS(@p, c.ssn)",
                qd::kParameterConflict, "array", p);
  expectRefused("SELECT * FROM c WHERE c.ssn = @p OR ARRAY_CONTAINS(c.tags, @p)",
                qd::kParameterConflict, "/ssn and /tags/*", p);
  // Wrong parameter shapes for protected comparisons.
  expectRefused("SELECT * FROM c WHERE c.ssn = @p", qd::kUnsupportedOnProtected, "an object",
                R"([{"name":"@p","value":{"a":1}}])");
  expectRefused("SELECT * FROM c WHERE c.ssn = @p", qd::kUnsupportedOnProtected, "an array",
                R"([{"name":"@p","value":["a"]}])");
  expectRefused("SELECT * FROM c WHERE ARRAY_CONTAINS(@p, c.ssn)", qd::kUnsupportedOnProtected,
                "not an array", p);
  expectRefused("SELECT * FROM c WHERE ARRAY_CONTAINS(@p, c.ssn)", qd::kUnsupportedOnProtected,
                "an element", R"([{"name":"@p","value":[["a"]]}])");
  // A parameter compared with a randomized field.
  expectRefused("SELECT * FROM c WHERE c.address = @p", qd::kPredicateOnRandomized, "/address", p);
}

TEST_F(QueryRewriterTest, BadBodies) {
  namespace qd = query_detail;
  for (const char* b : {
           "",
           "not json",
           "[1]",
           "\"q\"",
           "{}",
           "{\"query\": 5}",
           "{\"query\": null}",
           "{\"query\": \"SELECT * FROM c\", \"query\": \"SELECT 1\"}",
           "{\"query\": \"SELECT * FROM c\", \"Query\": \"SELECT 1\"}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": {}}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [1]}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [{\"value\": 1}]}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [{\"name\": 1}]}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [{\"name\": \"@a\", \"name\": "
           "\"@b\"}]}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [{\"name\": \"@a\"}, {\"name\": "
           "\"@A\"}]}",
           "{\"query\": \"SELECT * FROM c\", \"parameters\": [], \"parameters\": []}",
           "{\"query\": \"SELECT * FROM c\"} x",
           "{\"query\": \"SELECT * FROM c\", \"x\": [1,}",
       }) {
    auto r = rewriteQueryRequest(b, policy_, cipher_);
    ASSERT_FALSE(r.isOk()) << b;
    EXPECT_EQ(r.status().detail(), qd::kBadBody) << b << ": " << r.status().toString();
  }
  // The query's @S with a parameter named @s: refused rather than guessing.
  expectRefused("SELECT * FROM c WHERE c.ssn = @S", qd::kBadBody, "differ only in case",
                R"([{"name":"@s","value":"1"}])");
  expectRefused("SELECT * FROM c WHERE c.ssn = @s", qd::kBadBody, "in the '@'",
                R"([{"name":"s","value":"1"}])");
  // "Query" in another case is the query (a case-insensitive deserializer would take it).
  auto r =
      rewriteQueryRequest("{\"Query\":\"SELECT * FROM c WHERE c.ssn = '1'\"}", policy_, cipher_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body,
            "{\"Query\":" + jsonString("SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "1")) + "}");
}

TEST_F(QueryRewriterTest, SyntaxAndLimitsThroughTheBody) {
  expectRefused("SELECT * FROM c WHERE c.ssn = '1", query_detail::kSyntax, "line 1, column 31");
  expectRefused("SELECT * FROM c WHERE c.ssn = '1' /* x */", query_detail::kSyntax, "block");
  expectRefused("SELECT * FROM c WHERE " + std::string(200, '(') + "1" + std::string(200, ')'),
                query_detail::kTooComplex);
}

TEST_F(QueryRewriterTest, SealErrorsPropagate) {
  auto r = run("SELECT * FROM c WHERE c.nokey = 'x'");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), "crypto.unknown_key_name");
}

TEST_F(QueryRewriterTest, PatchCondition) {
  auto r = rewritePatchCondition("from c where c.ssn = '1' AND c.n > 5", policy_, cipher_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, "from c where c.ssn = " + lit("/ssn", "1") + " AND c.n > 5");
  auto same = rewritePatchCondition("FROM c WHERE c.name = 'x'", policy_, cipher_);
  ASSERT_TRUE(same.isOk());
  EXPECT_EQ(*same, "FROM c WHERE c.name = 'x'");
  auto full = rewritePatchCondition("SELECT * FROM c WHERE c.ssn = '1'", policy_, cipher_);
  ASSERT_TRUE(full.isOk());
  EXPECT_EQ(*full, "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "1"));
  struct Case {
    const char* condition;
    std::string_view detail;
  };
  for (const Case& c : std::vector<Case>{
           {"FROM c WHERE c.address = 'x'", query_detail::kPredicateOnRandomized},
           {"FROM c WHERE c.ssn > '1'", query_detail::kRangeOnProtected},
           {"FROM c WHERE c.ssn = @p", query_detail::kUnsupportedOnProtected},
           {"FROM c WHERE c.address.zip = 1", query_detail::kInsideProtected},
           {"FROM c WHERE", query_detail::kSyntax},
           {"c.ssn = '1'", query_detail::kSyntax},
       }) {
    auto s = rewritePatchCondition(c.condition, policy_, cipher_);
    ASSERT_FALSE(s.isOk()) << c.condition;
    EXPECT_EQ(s.status().detail(), c.detail) << c.condition << ": " << s.status().toString();
  }
}

TEST_F(QueryRewriterTest, RewriteIsIdempotent) {
  for (const char* q : {
           "SELECT * FROM c WHERE c.ssn = '1' AND c.email IN ('a', 'b')",
           "SELECT * FROM c JOIN t IN c.tags WHERE t = 'x' AND ARRAY_CONTAINS(['a'], c.pk)",
           "SELECT * FROM c WHERE c.ssn = -1.5e3 OR c.flag = null",
       }) {
    auto first = run(q);
    ASSERT_TRUE(first.isOk()) << q;
    auto second = rewriteQueryRequest(first->body, policy_, cipher_);
    ASSERT_TRUE(second.isOk()) << q;
    EXPECT_FALSE(second->changed) << q;
    EXPECT_EQ(second->body, first->body) << q;
  }
}

}  // namespace
}  // namespace cosmoseal::policy
