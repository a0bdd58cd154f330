#include "policy/query/parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace cosmoseal::policy {
namespace {

using ::testing::HasSubstr;

// Renders an expression as a fully parenthesized string, for precedence checks.
std::string show(const Expr* e);

std::string showArgs(const Expr* e, size_t from = 0) {
  std::string s;
  for (size_t i = from; i < e->args.size(); ++i) {
    if (i > from) s += ", ";
    s += show(e->args[i]);
  }
  return s;
}

std::string show(const Expr* e) {
  switch (e->kind) {
    case ExprKind::kLiteral:
      return e->lit == LiteralKind::kString ? "'" + e->text + "'" : e->text;
    case ExprKind::kParam:
    case ExprKind::kIdent:
      return e->text;
    case ExprKind::kMember:
      return show(e->args[0]) + "." + e->text;
    case ExprKind::kIndex:
      return show(e->args[0]) + "[" + show(e->args[1]) + "]";
    case ExprKind::kUnary:
      return "(" + std::string(opName(e->op)) + " " + show(e->args[0]) + ")";
    case ExprKind::kBinary:
      return "(" + show(e->args[0]) + " " + std::string(opName(e->op)) + " " + show(e->args[1]) +
             ")";
    case ExprKind::kAnd:
    case ExprKind::kOr: {
      std::string s = "(";
      for (size_t i = 0; i < e->args.size(); ++i) {
        if (i > 0) s += e->kind == ExprKind::kAnd ? " AND " : " OR ";
        s += show(e->args[i]);
      }
      return s + ")";
    }
    case ExprKind::kIn:
      return "(" + show(e->args[0]) + (e->negated ? " NOT IN (" : " IN (") + showArgs(e, 1) + "))";
    case ExprKind::kLike:
      return "(" + show(e->args[0]) + (e->negated ? " NOT LIKE " : " LIKE ") + show(e->args[1]) +
             ")";
    case ExprKind::kBetween:
      return "(" + show(e->args[0]) + (e->negated ? " NOT BETWEEN " : " BETWEEN ") +
             show(e->args[1]) + " AND " + show(e->args[2]) + ")";
    case ExprKind::kTernary:
      return "(" + show(e->args[0]) + " ? " + show(e->args[1]) + " : " + show(e->args[2]) + ")";
    case ExprKind::kCoalesce:
      return "(" + show(e->args[0]) + " ?? " + show(e->args[1]) + ")";
    case ExprKind::kCall:
      return (e->udf ? "udf." : "") + e->text + "(" + showArgs(e) + ")";
    case ExprKind::kObject: {
      std::string s = "{";
      for (size_t i = 0; i < e->args.size(); ++i) {
        if (i > 0) s += ", ";
        s += e->keys[i] + ": " + show(e->args[i]);
      }
      return s + "}";
    }
    case ExprKind::kArray:
      return "[" + showArgs(e) + "]";
    case ExprKind::kSubquery:
      return "(subquery)";
    case ExprKind::kExists:
      return "EXISTS(subquery)";
    case ExprKind::kArrayQuery:
      return "ARRAY(subquery)";
    case ExprKind::kAllQuery:
      return "ALL(subquery)";
    case ExprKind::kFirstQuery:
      return "FIRST(subquery)";
    case ExprKind::kLastQuery:
      return "LAST(subquery)";
  }
  return "?";
}

std::string whereOf(const std::string& q) {
  ParsedQuery pq;
  common::Status st = parseQuery(q, &pq);
  EXPECT_TRUE(st.isOk()) << q << ": " << st.toString();
  if (!st.isOk() || pq.root->where == nullptr) return "<none>";
  return show(pq.root->where);
}

common::Status parseStatus(const std::string& q) {
  ParsedQuery pq;
  return parseQuery(q, &pq);
}

TEST(QueryParserTest, Precedence) {
  // Multiplicative > additive > relational > equality > & > ^ > | > || (service grammar).
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a + 2 * 3 = 7"), "((c.a + (2 * 3)) = 7)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a < 5 = true"), "((c.a < 5) = true)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a = 'x' || 'y'"), "((c.a = 'x') || 'y')");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a & 1 = 1"), "(c.a & (1 = 1))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a << 1 < 4"), "((c.a << 1) < 4)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a - 1 - 2 = 0"), "(((c.a - 1) - 2) = 0)");
  // NOT is a tight unary operator.
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE NOT c.a = 1"), "((NOT c.a) = 1)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE NOT (c.a = 1)"), "(NOT (c.a = 1))");
  // AND binds tighter than OR; chains are n-ary.
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a = 1 OR c.b = 2 AND c.c = 3 OR c.d = 4"),
            "((c.a = 1) OR ((c.b = 2) AND (c.c = 3)) OR (c.d = 4))");
  // IN / LIKE / BETWEEN take a whole binary operand.
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a + 1 IN (2, @p) AND c.b NOT IN ('x')"),
            "(((c.a + 1) IN (2, @p)) AND (c.b NOT IN ('x')))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a BETWEEN 1 AND 2 AND c.b NOT LIKE 'x%'"),
            "((c.a BETWEEN 1 AND 2) AND (c.b NOT LIKE 'x%'))");
  // ?: is loosest and right-associative; ?? below it.
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a ? c.b : c.c ? 1 : 2"),
            "(c.a ? c.b : (c.c ? 1 : 2))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a ?? c.b ?? c.c"), "((c.a ?? c.b) ?? c.c)");
}

TEST(QueryParserTest, LiteralsAndPaths) {
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.n = -5"), "(c.n = -5)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.n = - 5"), "(c.n = -5)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.n = -(5)"), "(c.n = (- 5))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.n = - -5"), "(c.n = (- -5))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.n = 1.5e3 OR c.n = .5 OR c.n = 5."),
            "((c.n = 1.5e3) OR (c.n = .5) OR (c.n = 5.))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c['a b'].x[0][\"y\"] = true"),
            "(c['a b'].x[0]['y'] = true)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.s = 'it\\'s' AND c.t = \"\\u00e9\\ud83d\\ude00\""),
            "((c.s = 'it's') AND (c.t = '\xc3\xa9\xf0\x9f\x98\x80'))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.a = null AND c.b = undefined AND c.c = false"),
            "((c.a = null) AND (c.b = undefined) AND (c.c = false))");
  // Keywords are case-insensitive, but true/false/null/undefined/udf only lower-case.
  EXPECT_EQ(whereOf("select * from c where c.a = TRUE"), "(c.a = TRUE)");
  ParsedQuery pq;
  ASSERT_TRUE(parseQuery("sElEcT * FrOm c WhErE c.a = TRUE", &pq).isOk());
  EXPECT_EQ(pq.root->where->args[1]->kind, ExprKind::kIdent);
  // Property names after '.' may be keywords.
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE c.value = 1"), "(c.value = 1)");
}

TEST(QueryParserTest, CallsSubqueriesConstructors) {
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE ARRAY_CONTAINS(@a, c.x, false) AND udf.f(c.y, 1)"),
            "(ARRAY_CONTAINS(@a, c.x, false) AND udf.f(c.y, 1))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE LEFT(c.s, 2) = 'ab' AND RIGHT(c.s, 1) = 'b'"),
            "((LEFT(c.s, 2) = 'ab') AND (RIGHT(c.s, 1) = 'b'))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE EXISTS(SELECT VALUE t FROM t IN c.tags WHERE t = 1)"),
            "EXISTS(subquery)");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE ARRAY(SELECT VALUE 1) = [1] AND (SELECT VALUE 1) = 1"),
            "((ARRAY(subquery) = [1]) AND ((subquery) = 1))");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE {\"a\": 1, b: c.x} = {}"), "({a: 1, b: c.x} = {})");
  EXPECT_EQ(whereOf("SELECT * FROM c WHERE ALL(SELECT VALUE true) AND FIRST(SELECT VALUE 1) = 1"),
            "(ALL(subquery) AND (FIRST(subquery) = 1))");
  // ALL / FIRST / LAST are also identifiers.
  EXPECT_EQ(whereOf("SELECT * FROM all WHERE all.first = 1"), "(all.first = 1)");
}

TEST(QueryParserTest, Clauses) {
  ParsedQuery pq;
  ASSERT_TRUE(parseQuery("SELECT DISTINCT TOP 5 VALUE c.x FROM c", &pq).isOk());
  EXPECT_TRUE(pq.root->distinct);
  EXPECT_EQ(pq.root->select, Query::Select::kValue);
  ASSERT_NE(pq.root->top, nullptr);
  EXPECT_EQ(pq.root->top->text, "5");

  ParsedQuery p2;
  ASSERT_TRUE(parseQuery("SELECT TOP @n c.a AS x, c.b y, c.c FROM Families f JOIN t IN f.tags "
                         "JOIN (SELECT VALUE 1) s WHERE t = 1 GROUP BY c.a, c.b "
                         "ORDER BY c.a DESC, c.b ASC, c.c OFFSET 10 LIMIT @l",
                         &p2)
                  .isOk());
  const Query& q = *p2.root;
  ASSERT_EQ(q.items.size(), 3u);
  EXPECT_EQ(q.items[0].alias, "x");
  EXPECT_EQ(q.items[1].alias, "y");
  EXPECT_EQ(q.items[2].alias, "");
  ASSERT_EQ(q.from.size(), 3u);
  EXPECT_EQ(q.from[0].alias, "f");
  EXPECT_EQ(q.from[1].kind, FromSource::Kind::kIn);
  EXPECT_EQ(q.from[1].alias, "t");
  EXPECT_NE(q.from[2].subquery, nullptr);
  EXPECT_EQ(q.group_by.size(), 2u);
  ASSERT_EQ(q.order_by.size(), 3u);
  EXPECT_TRUE(q.order_by[0].descending);
  EXPECT_FALSE(q.order_by[1].descending);
  EXPECT_EQ(q.offset->text, "10");
  EXPECT_EQ(q.limit->text, "@l");

  // FROM paths with literal steps; IN sources; ORDER BY RANK.
  EXPECT_TRUE(parseStatus("SELECT * FROM c.children[0]['x'] ch").isOk());
  EXPECT_TRUE(parseStatus("SELECT * FROM x IN Families.children").isOk());
  EXPECT_TRUE(parseStatus("SELECT TOP 5 * FROM c ORDER BY RANK FullTextScore(c.t, 'a')").isOk());
  // The SDK's cross-partition ORDER BY query.
  EXPECT_TRUE(parseStatus("SELECT c._rid, [{\"item\": c.ssn}] AS orderByItems, c AS payload "
                          "FROM c WHERE (true) ORDER BY c.ssn")
                  .isOk());
}

TEST(QueryParserTest, Comments) {
  ParsedQuery pq;
  ASSERT_TRUE(
      parseQuery("SELECT * -- all\nFROM c -- the container\r\nWHERE c.a = '--x'--", &pq).isOk());
  ASSERT_EQ(pq.lex.comments.size(), 3u);
  EXPECT_EQ(show(pq.root->where), "(c.a = '--x')");
}

TEST(QueryParserTest, Condition) {
  ParsedQuery pq;
  ASSERT_TRUE(parseCondition("from c where c.a = 1", &pq).isOk());
  EXPECT_EQ(pq.root->select, Query::Select::kNone);
  EXPECT_EQ(show(pq.root->where), "(c.a = 1)");
  ParsedQuery p2;
  EXPECT_TRUE(parseCondition("SELECT * FROM c WHERE c.a = 1", &p2).isOk());
  ParsedQuery p3;
  EXPECT_EQ(parseCondition("WHERE c.a = 1", &p3).detail(), "query.syntax");
}

TEST(QueryParserTest, SyntaxErrors) {
  struct Case {
    const char* query;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"SELECT * FROM c WHERE c.a = 'abc", "line 1, column 29: unterminated string"},
           {"SELECT * FROM c WHERE c.a = 'a\\x'", "unknown escape"},
           {"SELECT * FROM c WHERE c.a = '\\u12'", "\\u must be followed by 4 hex digits"},
           {"SELECT * FROM c WHERE c.a = '\\ud800'", "high surrogate"},
           {"SELECT * FROM c WHERE c.a = '\\udc00'", "lone low surrogate"},
           {"SELECT * FROM c WHERE c.a = 'a\tb'", "control character inside a string"},
           {"SELECT * FROM c WHERE c.a = #", "unexpected character '#'"},
           {"SELECT * FROM c WHERE c.a = 1 /* x */", "block comments"},
           {"SELECT * FROM c WHERE c.a = 5x", "unexpected character after a number"},
           {"SELECT * FROM c WHERE c.a ! 1", "'!' must be followed by '='"},
           {"SELECT * FROM c WHERE c.a == 1", "expected an expression, found '='"},
           {"SELECT * FROM c WHERE \xc3\xa9", "non-ASCII character outside a string"},
           {"SELECT * FROM c WHERE @ = 1", "parameter name after '@'"},
           {"SELECT FROM c", "expected an expression, found keyword FROM"},
           {"SELECT * FROM", "expected a collection name"},
           {"SELECT * FROM c AS", "expected an alias after AS"},
           {"SELECT * FROM c WHERE", "expected an expression, found end of query"},
           {"SELECT * FROM c WHERE (c.a = 1", "expected ')'"},
           {"SELECT * FROM c WHERE c.a = 1)", "unbalanced ')'"},
           {"SELECT * FROM c WHERE c.a = 1 c.b", "expected end of query"},
           {"SELECT * FROM c WHERE c.a NOT = 1", "expected IN, LIKE or BETWEEN after NOT"},
           {"SELECT * FROM c WHERE c.a IN 1", "expected '(' after IN"},
           {"SELECT * FROM c WHERE c.a BETWEEN 1 OR 2", "expected AND"},
           {"SELECT * FROM c WHERE EXISTS c.a", "expected '(SELECT ...)' after EXISTS"},
           {"SELECT * FROM c WHERE ARRAY(1)", "expected '(SELECT ...)' after ARRAY"},
           {"SELECT * FROM c WHERE c.a LIKE 'x' ESCAPE 1", "string literal after ESCAPE"},
           {"SELECT * FROM c WHERE c. = 1", "property name after '.'"},
           {"SELECT * FROM c WHERE c[1 = 1", "expected ']'"},
           {"SELECT * FROM c WHERE {1: 2}", "expected a property name in the object"},
           {"SELECT * FROM c WHERE udf(1)", "'.' after udf"},
           {"SELECT TOP c.a * FROM c", "number or a parameter after TOP"},
           {"SELECT * FROM c OFFSET 1", "expected LIMIT"},
           {"SELECT * FROM c ORDER BY RANK c.a", "scoring function call"},
           {"SELECT * FROM c.a[c.b] x", "number or a string literal inside [ ]"},
           {"SELECT * FROM (1)", "expected a collection name"},
           {"SELECT * FROM c WHERE c.a = 'x' AND", "expected an expression"},
       }) {
    common::Status st = parseStatus(c.query);
    ASSERT_FALSE(st.isOk()) << c.query;
    EXPECT_EQ(st.detail(), "query.syntax") << c.query;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.message)) << c.query;
    EXPECT_THAT(std::string(st.message()), HasSubstr("syntax error at line")) << c.query;
  }
}

TEST(QueryParserTest, ErrorsNeverQuoteLiterals) {
  common::Status st = parseStatus("SELECT * FROM c WHERE c.ssn = '123-45-6789' '987'");
  ASSERT_FALSE(st.isOk());
  EXPECT_THAT(std::string(st.message()), ::testing::Not(HasSubstr("987")));
  EXPECT_THAT(std::string(st.message()), HasSubstr("string literal"));
  st = parseStatus("SELECT * FROM c WHERE c.n = 123456789 987654");
  ASSERT_FALSE(st.isOk());
  EXPECT_THAT(std::string(st.message()), ::testing::Not(HasSubstr("987654")));
}

TEST(QueryParserTest, Limits) {
  // Deep parentheses: refused, not a stack overflow.
  std::string deep =
      "SELECT * FROM c WHERE " + std::string(1000, '(') + "1" + std::string(1000, ')');
  EXPECT_EQ(parseStatus(deep).detail(), "query.too_complex");
  std::string unary = "SELECT * FROM c WHERE " + std::string(50000, '~') + "1 = 1";
  EXPECT_EQ(parseStatus(unary).detail(), "query.too_complex");
  std::string nots = "SELECT * FROM c WHERE ";
  for (int i = 0; i < 1000; ++i) nots += "NOT ";
  EXPECT_EQ(parseStatus(nots + "c.a").detail(), "query.too_complex");
  // A long chain of one binary operator deepens the tree: bounded too.
  std::string chain = "SELECT * FROM c WHERE c.a = 1";
  for (int i = 0; i < 400; ++i) chain += " + 1";
  EXPECT_EQ(parseStatus(chain).detail(), "query.too_complex");
  std::string path = "SELECT * FROM c WHERE c";
  for (int i = 0; i < 400; ++i) path += ".a";
  EXPECT_EQ(parseStatus(path + " = 1").detail(), "query.too_complex");
  // Nested subqueries.
  std::string sub = "SELECT * FROM c WHERE ";
  for (int i = 0; i < 100; ++i) sub += "EXISTS(SELECT VALUE 1 FROM x IN c.a WHERE ";
  EXPECT_EQ(parseStatus(sub).detail(), "query.too_complex");
  // Long OR chains and IN lists are flat: fine.
  std::string ors = "SELECT * FROM c WHERE c.a = 0";
  for (int i = 1; i < 3000; ++i) ors += " OR c.a = " + std::to_string(i);
  EXPECT_TRUE(parseStatus(ors).isOk());
  std::string in = "SELECT * FROM c WHERE c.a IN (0";
  for (int i = 1; i < 5000; ++i) in += ", " + std::to_string(i);
  EXPECT_TRUE(parseStatus(in + ")").isOk());
  // Size and token limits.
  EXPECT_EQ(parseStatus("SELECT * FROM c WHERE c.a = '" + std::string(kMaxQueryBytes, 'x') + "'")
                .detail(),
            "query.too_complex");
  std::string many = "SELECT * FROM c WHERE c.a IN (0";
  for (size_t i = 0; i < kMaxQueryTokens; ++i) many += ",1";
  EXPECT_EQ(parseStatus(many + ")").detail(), "query.too_complex");
}

}  // namespace
}  // namespace cosmoseal::policy
