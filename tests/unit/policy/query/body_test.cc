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

}  // namespace
}  // namespace cosmoseal::policy::query_testing
