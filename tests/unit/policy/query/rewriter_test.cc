// Tests of policy/query/rewriter.cc (literal and parameter rewriting); the shared fixture is in
// rewriter_fixture.h.

#include <string>
#include <vector>

#include "tests/unit/policy/query/rewriter_fixture.h"

namespace cosmoseal::policy::query_testing {
namespace {

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
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "1.5"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 1E+3"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "1000"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = true"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kTrue, "true"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = false"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kFalse, "false"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.flag = null"),
            "SELECT * FROM c WHERE c.flag = " + litTok("/flag", ValueType::kNull, "null"));
  // Number literals are sealed in their canonical spelling (policy/json/text.h), as documents
  // are: 5, 5.0 and 5e0 are one double, so one envelope.
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 5.0"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "5"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = 5e0"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "5"));
  EXPECT_EQ(rewritten("SELECT * FROM c WHERE c.ssn = -0.0"),
            "SELECT * FROM c WHERE c.ssn = " + litTok("/ssn", ValueType::kNumber, "0"));
  // The cipher itself seals what it is given: the spelling matters below this layer.
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
           {"12.50", ValueType::kNumber, "12.5"},
           {"-0", ValueType::kNumber, "0"},
           {"5.0", ValueType::kNumber, "5"},
           {"1e21", ValueType::kNumber, "1e+21"},
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
}  // namespace cosmoseal::policy::query_testing
