// Tests of policy/query/body.cc (the query request body), through rewriteQueryRequest; the
// shared fixture is in rewriter_fixture.h.

#include <string>
#include <vector>

#include "tests/unit/policy/query/rewriter_fixture.h"

namespace cosmoseal::policy::query_testing {
namespace {

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

// Content-Type application/sql (the Java SDK's query compatibility mode): the body is the SQL
// text; it is analyzed and rewritten as the "query" member would be, and forwarded in the same
// form (no JSON wrapper added).
TEST_F(QueryRewriterTest, SqlBodies) {
  namespace qd = query_detail;
  EXPECT_EQ(queryBodyFormat("application/sql"), QueryBodyFormat::kSql);
  EXPECT_EQ(queryBodyFormat(" Application/SQL ; charset=utf-8"), QueryBodyFormat::kSql);
  EXPECT_EQ(queryBodyFormat("application/query+json"), QueryBodyFormat::kJson);
  EXPECT_EQ(queryBodyFormat(""), QueryBodyFormat::kJson);
  EXPECT_EQ(queryBodyFormat("application/sqlx"), QueryBodyFormat::kJson);

  const std::string sql = "SELECT * FROM c WHERE c.ssn = 'CANARY-1'";
  auto r = rewriteQueryRequest(sql, policy_, cipher_, QueryBodyFormat::kSql);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->changed);
  EXPECT_EQ(r->rewritten, 1u);
  EXPECT_TRUE(r->select_star);
  EXPECT_EQ(r->body, "SELECT * FROM c WHERE c.ssn = " + lit("/ssn", "CANARY-1"));
  EXPECT_THAT(r->body, Not(HasSubstr("CANARY")));
  // The same text in a JSON body is rewritten to the same query.
  auto j = rewriteQueryRequest("{\"query\":" + jsonString(sql) + "}", policy_, cipher_);
  ASSERT_TRUE(j.isOk()) << j.status().toString();
  EXPECT_EQ(j->body, "{\"query\":" + jsonString(r->body) + "}");
  // Unchanged queries are forwarded byte for byte; a JSON-looking text is not unwrapped.
  for (std::string same : {"SELECT * FROM c WHERE c.name = 'x'", "SELECT VALUE COUNT(1) FROM c\n",
                           "{\"query\":\"SELECT * FROM c\"}"}) {
    auto u = rewriteQueryRequest(same, policy_, cipher_, QueryBodyFormat::kSql);
    if (same.front() == '{') {
      ASSERT_FALSE(u.isOk());
      EXPECT_EQ(u.status().detail(), qd::kSyntax) << u.status().toString();
      continue;
    }
    ASSERT_TRUE(u.isOk()) << same << ": " << u.status().toString();
    EXPECT_FALSE(u->changed);
    EXPECT_EQ(u->body, same);
  }
  // Refusals are the ones the JSON form gets.
  auto range = rewriteQueryRequest("SELECT * FROM c WHERE c.ssn > 'CANARY'", policy_, cipher_,
                                   QueryBodyFormat::kSql);
  ASSERT_FALSE(range.isOk());
  EXPECT_EQ(range.status().detail(), qd::kRangeOnProtected);
  for (std::string bad : {std::string(""), std::string(" \r\n"), std::string("SELECT '\xC3'")}) {
    auto b = rewriteQueryRequest(bad, policy_, cipher_, QueryBodyFormat::kSql);
    ASSERT_FALSE(b.isOk()) << bad;
    EXPECT_EQ(b.status().detail(), qd::kBadBody) << b.status().toString();
  }
}

}  // namespace
}  // namespace cosmoseal::policy::query_testing
