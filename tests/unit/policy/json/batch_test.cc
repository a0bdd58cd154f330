// Tests of policy/json/batch.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Batch / bulk

TEST_F(JsonTransformTest, BatchTransformsEachOperation) {
  auto rules = pkRules(customers_);
  const std::string body =
      R"([{"operationType":"Create","partitionKey":"[\"p1\"]","resourceBody":{"id":"a","pk":"p1","ssn":"CANARY-1"}},)"
      R"({"operationType":"Upsert","resourceBody":{"id":"b","address":{"c":"CANARY-2"}},"ifMatch":"\"e\""},)"
      R"({"resourceBody":{"id":"c","cards":[{"number":"CANARY-3"}]},"operationType":"Replace","id":"c"},)"
      R"({"operationType":"Patch","id":"d","resourceBody":{"operations":[{"op":"set","path":"/ssn","value":"CANARY-4"}]}},)"
      R"({"operationType":"Read","id":"e","partitionKey":"[\"caf\\u00e9\"]"},)"
      R"({"operationType":"Delete","id":"f","partitionKey":"[{}]"}])";
  std::string out;
  TransformStats st;
  ASSERT_TRUE(tx_.encryptBatch(Body(body).in(), customers_, rules, &out, &st).isOk());
  EXPECT_THAT(out, Not(HasSubstr("CANARY")));
  EXPECT_EQ(st.encrypted, 7u);  // 2 pk strings + pk + 4 fields
  ASSERT_TRUE(internal::validateJson(out).isOk()) << out;
  // The per-op partition keys hold exactly what the header transform gives.
  EXPECT_THAT(out,
              HasSubstr(R"("partitionKey":"[\")" + envelopes(pk(R"(["p1"])")).at(0) + R"(\"]")"));
  EXPECT_THAT(out,
              HasSubstr(R"("partitionKey":"[\")" + envelopes(pk(R"(["café"])")).at(0) + R"(\"]")"));
  EXPECT_THAT(out, HasSubstr(R"("partitionKey":"[{}]")"));
  // ... which is also what the document body gets at /pk.
  EXPECT_EQ(envelopes(pk(R"(["p1"])")).at(0), envelopeOf(enc(R"({"pk":"p1"})"), "pk"));
  EXPECT_THAT(out, HasSubstr(R"("ifMatch":"\"e\"")"));
  // Without partition-key rules, the strings stay as they are.
  std::string plain;
  ASSERT_TRUE(tx_.encryptBatch(Body(body).in(), customers_, {}, &plain, nullptr).isOk());
  EXPECT_THAT(plain, HasSubstr(R"("partitionKey":"[\"p1\"]")"));
  EXPECT_THAT(plain, Not(HasSubstr("CANARY")));
}

TEST_F(JsonTransformTest, BatchRefusals) {
  auto rules = pkRules(customers_);
  auto expect = [&](std::string_view body, std::string_view detail) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptBatch(Body(body).in(), customers_, rules, &out, nullptr);
    EXPECT_EQ(s.detail(), detail) << body << " -> " << s.toString();
    EXPECT_EQ(out, "UNTOUCHED");
  };
  expect(R"({"operationType":"Create"})", "policy.bad_batch");
  expect(R"([1])", "policy.bad_batch");
  expect(R"([{"resourceBody":{"ssn":"CANARY"}}])", "policy.bad_batch");
  expect(R"([{"operationType":"Insert","resourceBody":{"ssn":"CANARY"}}])", "policy.bad_batch");
  expect(R"([{"operationType":"create","resourceBody":{"ssn":"CANARY"}}])", "policy.bad_batch");
  expect(R"([{"operationType":"Create"}])", "policy.bad_batch");
  expect(R"([{"operationType":"Create","resourceBody":[{"ssn":"CANARY"}]}])", "policy.bad_batch");
  expect(R"([{"operationType":"Patch","resourceBody":"x"}])", "policy.bad_batch");
  expect(R"([{"operationType":"Read","id":"a","resourceBody":{"ssn":"CANARY"}}])",
         "policy.bad_batch");
  expect(R"([{"operationType":"Create","resourceBody":{},"partialBody":{"ssn":"CANARY"}}])",
         "policy.bad_batch");
  expect(R"([{"operationType":"Read","id":"a","partitionKey":["p1"]}])", "policy.bad_batch");
  expect(R"([{"operationType":7}])", "policy.bad_batch");
  expect(R"([{"operationType":"Read","id":"a","partitionKey":"p1"}])", "policy.bad_partition_key");
  expect(R"([{"operationType":"Read","id":"a","partitionKey":"[\"a\",\"b\"]"}])",
         "policy.bad_partition_key");
  expect(R"([{"operationType":"Create","operationType":"Read","resourceBody":{"ssn":"C"}}])",
         "policy.duplicate_key");
  expect(R"([{"operationType":"Create","resourceBody":{"ssn":"C","ssn":"D"}}])",
         "policy.duplicate_key");
  expect(R"([{"operationType":"Create","resourceBody":{"ss\u0000n":"CANARY"}}])",
         "policy.bad_member_name");
  expect(
      R"([{"operationType":"Patch","resourceBody":{"operations":[{"op":"incr","path":"/ssn","value":1}]}}])",
      "policy.patch_incr_protected");
  expect(R"([{"operationType":"Create","resourceBody":{"notes":"csx1:AA"}}])",
         "policy.envelope_lookalike");
  expect(R"([{"operationType":"Create","resourceBody":{"ssn":"C"}}] [])", "policy.bad_json");
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
