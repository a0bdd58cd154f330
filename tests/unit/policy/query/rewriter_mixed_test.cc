// Tests of policy/query/rewriter.cc while a container's data is mixed (MixedData): equalities
// on deterministic fields refused (query.migration_in_progress) or rewritten to match both the
// sealed and the plaintext form (policies[].migration.equality: match_both).

#include <string>

#include "policy/query/details.h"
#include "tests/unit/policy/query/rewriter_fixture.h"

namespace cosmoseal::policy::query_testing {
namespace {

namespace qd = query_detail;

class MixedQueryTest : public QueryRewriterTest {
 protected:
  MixedQueryTest() {
    refuse_.equality = MixedEquality::kRefuse;
    refuse_.state = "migration job 'enc-1' (encrypt) is in phase running";
    both_ = refuse_;
    both_.equality = MixedEquality::kMatchBoth;
  }

  common::StatusOr<QueryRewriteResult> runMixed(const MixedData& mixed, std::string_view query,
                                                std::string_view params = {}) {
    return rewriteQueryRequest(body(query, params), policy_, cipher_, QueryBodyFormat::kJson,
                               &mixed);
  }

  std::string both(std::string_view query) {
    auto r = runMixed(both_, query);
    EXPECT_TRUE(r.isOk()) << query << ": " << r.status().toString();
    return r.isOk() ? queryOf(r->body) : std::string();
  }

  void expectMixedRefusal(const MixedData& mixed, std::string_view query,
                          std::string_view message_part, std::string_view params = {}) {
    auto r = runMixed(mixed, query, params);
    ASSERT_FALSE(r.isOk()) << query << " was accepted: " << r->body;
    EXPECT_EQ(r.status().detail(), qd::kMigrationInProgress) << r.status().toString();
    EXPECT_EQ(r.status().httpStatus(), 400);
    const std::string msg(r.status().message());
    EXPECT_THAT(msg, HasSubstr(std::string(message_part)));
    // The job and its phase are named; the literal never is.
    EXPECT_THAT(msg, HasSubstr("migration job 'enc-1' (encrypt) is in phase running"));
    EXPECT_THAT(msg, Not(HasSubstr("123-45-6789")));
  }

  MixedData refuse_;
  MixedData both_;
};

TEST_F(MixedQueryTest, RefuseModeRefusesEveryEqualityOnADeterministicField) {
  for (const char* q : {
           "SELECT * FROM c WHERE c.ssn = '123-45-6789'",
           "SELECT * FROM c WHERE '123-45-6789' = c.ssn",
           "SELECT * FROM c WHERE c.ssn != '123-45-6789'",
           "SELECT * FROM c WHERE c.ssn IN ('123-45-6789', 'x')",
           "SELECT * FROM c WHERE c.ssn NOT IN ('123-45-6789')",
           "SELECT * FROM c WHERE ARRAY_CONTAINS(['123-45-6789'], c.ssn)",
           "SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, '123-45-6789')",
           "SELECT * FROM c JOIN t IN c.tags WHERE t = '123-45-6789'",
           "SELECT * FROM c WHERE c.name = 'a' OR c.ssn = '123-45-6789'",
       }) {
    SCOPED_TRACE(q);
    expectMixedRefusal(refuse_, q, "deterministic field");
  }
  expectMixedRefusal(refuse_, "SELECT * FROM c WHERE c.ssn = @p", "/ssn",
                     R"([{"name":"@p","value":"123-45-6789"}])");
  // An envelope already (a query plan's rewritten query echoed back): still an equality on
  // mixed data.
  expectMixedRefusal(refuse_, "SELECT * FROM c WHERE c.ssn = '" + envStr("/ssn", "1") + "'",
                     "/ssn");
}

TEST_F(MixedQueryTest, QueriesWithoutEqualityOnProtectedFieldsAreUnaffected) {
  for (const MixedData* m : {&refuse_, &both_}) {
    for (const char* q :
         {"SELECT * FROM c", "SELECT * FROM c WHERE c.name = 'x'",
          "SELECT c.ssn, c.address FROM c WHERE c.age > 3", "SELECT VALUE COUNT(1) FROM c"}) {
      auto r = runMixed(*m, q);
      ASSERT_TRUE(r.isOk()) << q << ": " << r.status().toString();
      EXPECT_FALSE(r->changed) << q;
      EXPECT_EQ(r->body, body(q));
    }
  }
  // What the rewriter refuses anyway stays refused with its own code.
  auto r = runMixed(both_, "SELECT * FROM c WHERE c.ssn > '1'");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), qd::kRangeOnProtected);
  r = runMixed(both_, "SELECT * FROM c WHERE c.address = 'x'");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), qd::kPredicateOnRandomized);
}

TEST_F(MixedQueryTest, MatchBothComparisons) {
  const std::string e = lit("/ssn", "123-45-6789");
  EXPECT_EQ(both("SELECT * FROM c WHERE c.ssn = '123-45-6789'"),
            "SELECT * FROM c WHERE (c.ssn = " + e + " OR c.ssn = '123-45-6789')");
  EXPECT_EQ(both("SELECT * FROM c WHERE '123-45-6789' = c.ssn AND c.name = 'n'"),
            "SELECT * FROM c WHERE (" + e + " = c.ssn OR '123-45-6789' = c.ssn) AND c.name = 'n'");
  // != : neither form may match.
  EXPECT_EQ(both("SELECT * FROM c WHERE c.ssn <> '123-45-6789'"),
            "SELECT * FROM c WHERE (c.ssn <> " + e + " AND c.ssn <> '123-45-6789')");
  EXPECT_EQ(both("SELECT * FROM c WHERE NOT (c.ssn = 5)"),
            "SELECT * FROM c WHERE NOT ((c.ssn = " + litTok("/ssn", ValueType::kNumber, "5") +
                " OR c.ssn = 5))");
  // The partition key too (a cross-partition query: no partition-key header).
  EXPECT_EQ(both("SELECT * FROM c WHERE c.pk = 'p1'"),
            "SELECT * FROM c WHERE (c.pk = " + lit("/pk", "p1") + " OR c.pk = 'p1')");
  // Operands in parentheses: the copied predicate stays balanced.
  EXPECT_EQ(both("SELECT * FROM c WHERE (c.ssn) = ('a')"),
            "SELECT * FROM c WHERE ((c.ssn) = (" + lit("/ssn", "a") + ") OR (c.ssn) = ('a'))");
  EXPECT_EQ(both("SELECT * FROM c WHERE ((c.ssn)) = 'a' AND (c.x = 1)"),
            "SELECT * FROM c WHERE (((c.ssn)) = " + lit("/ssn", "a") +
                " OR ((c.ssn)) = 'a') AND (c.x = 1)");
  // Comments elsewhere are still removed.
  EXPECT_EQ(both("SELECT * FROM c -- note\nWHERE c.ssn = 'a'"),
            "SELECT * FROM c \nWHERE (c.ssn = " + lit("/ssn", "a") + " OR c.ssn = 'a')");
}

TEST_F(MixedQueryTest, MatchBothListsAreDoubled) {
  const std::string a = lit("/ssn", "a");
  const std::string b = lit("/ssn", "b");
  EXPECT_EQ(both("SELECT * FROM c WHERE c.ssn IN ('a', 'b')"),
            "SELECT * FROM c WHERE c.ssn IN (" + a + ", 'a', " + b + ", 'b')");
  EXPECT_EQ(both("SELECT * FROM c WHERE c.ssn NOT IN ('a')"),
            "SELECT * FROM c WHERE c.ssn NOT IN (" + a + ", 'a')");
  EXPECT_EQ(both("SELECT * FROM c WHERE ARRAY_CONTAINS(['a', 'b'], c.ssn)"),
            "SELECT * FROM c WHERE ARRAY_CONTAINS([" + a + ", 'a', " + b + ", 'b'], c.ssn)");
  // Elements of a deterministic array: the whole predicate, twice.
  EXPECT_EQ(both("SELECT * FROM c WHERE ARRAY_CONTAINS(c.tags, 'x')"),
            "SELECT * FROM c WHERE (ARRAY_CONTAINS(c.tags, " + lit("/tags/*", "x") +
                ") OR ARRAY_CONTAINS(c.tags, 'x'))");
  // An envelope already in a list stays one form.
  const std::string sealed = envStr("/ssn", "z");
  EXPECT_EQ(both("SELECT * FROM c WHERE c.ssn IN ('" + sealed + "', 'a')"),
            "SELECT * FROM c WHERE c.ssn IN ('" + sealed + "', " + a + ", 'a')");
}

TEST_F(MixedQueryTest, MatchBothParametersGetAPlaintextTwin) {
  auto r = runMixed(both_, "SELECT * FROM c WHERE c.ssn = @p OR c.email IN (@e, 'x')",
                    R"([{"name":"@p","value":"123-45-6789"},{"name":"@e","value":"m@x"}])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(queryOf(r->body),
            "SELECT * FROM c WHERE (c.ssn = @p OR c.ssn = @p__plain) OR c.email IN (@e, "
            "@e__plain, " +
                lit("/email", "x") + ", 'x')");
  EXPECT_THAT(r->body,
              HasSubstr("{\"name\":\"@p\",\"value\":\"" + envStr("/ssn", "123-45-6789") + "\"}"));
  EXPECT_THAT(r->body, HasSubstr("{\"name\":\"@p__plain\",\"value\":\"123-45-6789\"}"));
  EXPECT_THAT(r->body, HasSubstr("{\"name\":\"@e__plain\",\"value\":\"m@x\"}"));
  // A twin name already taken is made unique.
  r = runMixed(both_, "SELECT * FROM c WHERE c.ssn = @p AND c.name = @p__plain",
               R"([{"name":"@p","value":"1"},{"name":"@P__PLAIN","value":"n"}])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(queryOf(r->body),
            "SELECT * FROM c WHERE (c.ssn = @p OR c.ssn = @p__plain_) AND c.name = @p__plain");
  EXPECT_THAT(r->body, HasSubstr("{\"name\":\"@p__plain_\",\"value\":\"1\"}"));
  // An array parameter holds both forms of each element.
  r = runMixed(both_, "SELECT * FROM c WHERE ARRAY_CONTAINS(@list, c.ssn)",
               R"([{"name":"@list","value":["a",5]}])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(queryOf(r->body), "SELECT * FROM c WHERE ARRAY_CONTAINS(@list, c.ssn)");
  EXPECT_THAT(r->body, HasSubstr("[\"" + envStr("/ssn", "a") + "\",\"a\",\"" +
                                 env("/ssn", ValueType::kNumber, "5") + "\",5]"));
  // A parameter without a value: nothing to match, the query is left as it was written.
  r = runMixed(both_, "SELECT * FROM c WHERE c.ssn = @none", R"([])");
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(queryOf(r->body), "SELECT * FROM c WHERE c.ssn = @none");
}

TEST_F(MixedQueryTest, MatchBothRefusesACommentInsideTheEquality) {
  auto r = runMixed(both_, "SELECT * FROM c WHERE c.ssn = -- why\n 'a'");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), qd::kMigrationInProgress);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("remove the comment"));
}

TEST_F(MixedQueryTest, PartitionKeyHeaderOnAProtectedPartitionKeyIsRefused) {
  for (MixedData m : {refuse_, both_}) {
    m.partition_key_header = true;
    SCOPED_TRACE(mixedEqualityName(m.equality));
    expectMixedRefusal(m, "SELECT * FROM c", "cross-partition");
    expectMixedRefusal(m, "SELECT * FROM c WHERE c.name = 'x'", "without a partition key");
  }
}

TEST_F(MixedQueryTest, PartitionKeyHeaderIsFineWhenThePartitionKeyIsNotProtected) {
  ContainerPolicySpec s;
  s.database = "shop";
  s.container = "orders";
  s.partition_key_paths = {"/tenant"};
  s.fields = {field("/ssn", kDet)};
  std::vector<ContainerPolicySpec> specs{s};
  auto set = PolicySet::create(specs);
  ASSERT_TRUE(set.isOk());
  MixedData m = both_;
  m.partition_key_header = true;
  const ContainerPolicy& p = *(*set)->find("shop", "orders");
  auto r = rewriteQueryRequest(body("SELECT * FROM c WHERE c.ssn = 'a'"), p, cipher_,
                               QueryBodyFormat::kJson, &m);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_THAT(queryOf(r->body), HasSubstr(" OR c.ssn = 'a')"));
  m.equality = MixedEquality::kRefuse;
  r = rewriteQueryRequest(body("SELECT * FROM c WHERE c.name = 'a'"), p, cipher_,
                          QueryBodyFormat::kJson, &m);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
}

TEST_F(MixedQueryTest, SqlBodyMatchesBothToo) {
  MixedData m = both_;
  auto r = rewriteQueryRequest("SELECT * FROM c WHERE c.ssn = 'a'", policy_, cipher_,
                               QueryBodyFormat::kSql, &m);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, "SELECT * FROM c WHERE (c.ssn = " + lit("/ssn", "a") + " OR c.ssn = 'a')");
}

// A patch condition filters like a query (a failed one answers 412): the same rules, except that
// the partition-key header, which every patch carries, is not a reason to refuse.
TEST_F(MixedQueryTest, PatchConditionsFollowTheSameRules) {
  for (MixedData m : {refuse_, both_}) {
    m.partition_key_header = true;
    auto r = rewritePatchCondition("FROM c WHERE c.name = 'x'", policy_, cipher_, &m);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_EQ(*r, "FROM c WHERE c.name = 'x'");
  }
  MixedData m = refuse_;
  m.partition_key_header = true;
  auto r = rewritePatchCondition("FROM c WHERE c.ssn = '123-45-6789'", policy_, cipher_, &m);
  ASSERT_FALSE(r.isOk()) << *r;
  EXPECT_EQ(r.status().detail(), qd::kMigrationInProgress);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("deterministic field /ssn"));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("123-45-6789")));
  m = both_;
  m.partition_key_header = true;
  r = rewritePatchCondition("FROM c WHERE c.ssn = 'a'", policy_, cipher_, &m);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, "FROM c WHERE (c.ssn = " + lit("/ssn", "a") + " OR c.ssn = 'a')");
  // Not mixed: sealed only.
  r = rewritePatchCondition("FROM c WHERE c.ssn = 'a'", policy_, cipher_);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, "FROM c WHERE c.ssn = " + lit("/ssn", "a"));
}

}  // namespace
}  // namespace cosmoseal::policy::query_testing
