// Tests of policy/query/analyzer.cc (what a query may do with protected fields), through
// rewriteQueryRequest; the shared fixture is in rewriter_fixture.h.

#include <string>
#include <vector>

#include "tests/unit/policy/query/rewriter_fixture.h"

namespace cosmoseal::policy::query_testing {
namespace {

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

TEST_F(QueryRewriterTest, SyntaxAndLimitsThroughTheBody) {
  expectRefused("SELECT * FROM c WHERE c.ssn = '1", query_detail::kSyntax, "line 1, column 31");
  expectRefused("SELECT * FROM c WHERE c.ssn = '1' /* x */", query_detail::kSyntax, "block");
  expectRefused("SELECT * FROM c WHERE " + std::string(200, '(') + "1" + std::string(200, ')'),
                query_detail::kTooComplex);
}

}  // namespace
}  // namespace cosmoseal::policy::query_testing
