// Tests of policy/json/batch.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "policy/json/batch.h"
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

// The per-operation metadata the Java and .NET SDKs write (Java bulk adds
// "minimalReturnPreference" when contentResponseOnWrite is off) is forwarded as it is.
TEST_F(JsonTransformTest, BatchKnownMetadataMembers) {
  auto rules = pkRules(customers_);
  const std::string body =
      R"([{"operationType":"Create","partitionKey":"[\"p1\"]","minimalReturnPreference":true,)"
      R"("resourceBody":{"id":"a","pk":"p1","ssn":"CANARY-1"}},)"
      R"({"operationType":"Upsert","minimalReturnPreference":false,"resourceType":"Document",)"
      R"("indexingDirective":"Exclude","timeToLiveInSeconds":3600,"isClientEncrypted":false,)"
      R"("binaryId":"YQ==","ifNoneMatch":"*","resourceBody":{"id":"b","ssn":"CANARY-2"}},)"
      R"({"operationType":"Delete","id":"c","ifMatch":"\"e\"","timeToLiveInSeconds":-1}])";
  std::string out;
  TransformStats st;
  Status s = tx_.encryptBatch(Body(body).in(), customers_, rules, &out, &st);
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_THAT(out, Not(HasSubstr("CANARY")));
  EXPECT_EQ(st.encrypted, 4u);  // pk string + pk + 2 ssn
  ASSERT_TRUE(internal::validateJson(out).isOk()) << out;
  for (const char* kept :
       {R"("minimalReturnPreference":true)", R"("minimalReturnPreference":false)",
        R"("resourceType":"Document")", R"("indexingDirective":"Exclude")",
        R"("timeToLiveInSeconds":3600)", R"("isClientEncrypted":false)", R"("binaryId":"YQ==")",
        R"("ifNoneMatch":"*")", R"("timeToLiveInSeconds":-1)"}) {
    EXPECT_THAT(out, HasSubstr(kept));
  }
  // effectivePartitionKey is a hash of the plaintext partition key: fine when the key is not
  // protected, refused when it is.
  const std::string epk =
      R"([{"operationType":"Read","id":"a","partitionKey":"[\"p1\"]","effectivePartitionKey":"05C1"}])";
  std::string plain;
  ASSERT_TRUE(tx_.encryptBatch(Body(epk).in(), customers_, {}, &plain, nullptr).isOk());
  EXPECT_THAT(plain, HasSubstr(R"("effectivePartitionKey":"05C1")"));
  std::string refused = "UNTOUCHED";
  EXPECT_EQ(tx_.encryptBatch(Body(epk).in(), customers_, rules, &refused, nullptr).detail(),
            "policy.bad_batch");
  EXPECT_EQ(refused, "UNTOUCHED");
}

TEST_F(JsonTransformTest, BatchMetadataMembersOfTheWrongTypeOrUnknown) {
  auto rules = pkRules(customers_);
  for (std::string member :
       {R"("minimalReturnPreference":"true")", R"("minimalReturnPreference":1)",
        R"("minimalReturnPreference":null)", R"("minimalReturnPreference":{"ssn":"CANARY"})",
        R"("indexingDirective":["CANARY"])", R"("timeToLiveInSeconds":"60")",
        R"("ifMatch":{"ssn":"CANARY"})", R"("id":7)", R"("resourceType":null)", R"("binaryId":[1])",
        R"("isClientEncrypted":"no")", R"("sessionToken":"0:1#2")",
        R"("MinimalReturnPreference":true)", R"("partialBody":{"ssn":"CANARY"})"}) {
    const std::string body =
        R"([{"operationType":"Create",)" + member + R"(,"resourceBody":{"id":"a","ssn":"C1"}}])";
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptBatch(Body(body).in(), customers_, rules, &out, nullptr);
    EXPECT_EQ(s.detail(), "policy.bad_batch") << body << " -> " << s.toString();
    EXPECT_EQ(out, "UNTOUCHED");
  }
}

// The .NET SDK's transactional batch and bulk bodies are HybridRow binary: refused with a detail
// that says what it is, not as malformed JSON.
TEST_F(JsonTransformTest, BatchBinaryBodyIsRefusedAsSuch) {
  auto rules = pkRules(customers_);
  const std::string hybrid_row(
      "\x81\x02\x00\x00\x00\x14\x00\x00\x00ssn\x00"
      "CANARY",
      19);
  for (const std::string& body : {hybrid_row, std::string(" \r\n") + hybrid_row,
                                  std::string("\x01[]", 3), std::string("\x00", 1)}) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptBatch(Body(body).in(), customers_, rules, &out, nullptr);
    EXPECT_EQ(s.detail(), "policy.binary_batch") << s.toString();
    EXPECT_EQ(s.httpStatus(), 400);
    EXPECT_THAT(std::string(s.message()), HasSubstr("HybridRow"));
    EXPECT_EQ(out, "UNTOUCHED");
  }
  // Text that is not JSON stays policy.bad_json.
  for (std::string body : {"hello", "[{\"operationType\":", "", " "}) {
    std::string out;
    EXPECT_EQ(tx_.encryptBatch(Body(body).in(), customers_, rules, &out, nullptr).detail(),
              "policy.bad_json")
        << body;
  }
}

// ---------------------------------------------------------------------------------------------
// Bulk bodies read for routing (batch.h)

TEST(BatchRoutingTest, OperationsAndTheirPartitionKeys) {
  const std::string body =
      R"( [ {"operationType":"Create","partitionKey":"[\"a\\\"b\"]","resourceBody":{"id":"1"}} ,)"
      R"({"operationType":"Read","id":"2"}, {"partitionKey":"[5]","operationType":"Delete","id":"3"} ] )";
  auto ops = batchOperations(body);
  ASSERT_TRUE(ops.isOk()) << ops.status().toString();
  ASSERT_EQ(ops->size(), 3u);
  EXPECT_EQ((*ops)[0].raw,
            R"({"operationType":"Create","partitionKey":"[\"a\\\"b\"]","resourceBody":{"id":"1"}})");
  EXPECT_TRUE((*ops)[0].has_partition_key);
  EXPECT_EQ((*ops)[0].partition_key, R"(["a\"b"])");  // the string's content, unescaped
  EXPECT_FALSE((*ops)[1].has_partition_key);
  EXPECT_EQ((*ops)[1].raw, R"({"operationType":"Read","id":"2"})");
  EXPECT_EQ((*ops)[2].partition_key, "[5]");
}

TEST(BatchRoutingTest, Refusals) {
  for (const char* bad : {"{}", "[1,2]", R"([{"partitionKey":["a"]}])", "not json", "[{"}) {
    auto ops = batchOperations(bad);
    EXPECT_FALSE(ops.isOk()) << bad;
    if (!ops.isOk()) {
      EXPECT_EQ(ops.status().detail(), "policy.bad_batch") << bad;
    }
  }
}

TEST(BatchRoutingTest, ArrayElementsByteForByte) {
  auto e = jsonArrayElements(R"([{"statusCode":201,"eTag":"x"}, {"statusCode":409} ,7,"s",[1,2]])");
  ASSERT_TRUE(e.isOk());
  ASSERT_EQ(e->size(), 5u);
  EXPECT_EQ((*e)[0], R"({"statusCode":201,"eTag":"x"})");
  EXPECT_EQ((*e)[1], R"({"statusCode":409})");
  EXPECT_EQ((*e)[2], "7");
  EXPECT_EQ((*e)[3], R"("s")");
  EXPECT_EQ((*e)[4], "[1,2]");
  auto empty = jsonArrayElements("[]");
  ASSERT_TRUE(empty.isOk());
  EXPECT_TRUE(empty->empty());
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
