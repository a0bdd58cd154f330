// Tests of policy/json/patch.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Patch

TEST_F(JsonTransformTest, PatchSealsProtectedValuesLikeTheDocument) {
  TransformStats st;
  const std::string out = patch(
      R"([{"op":"set","path":"/ssn","value":"CANARY-1"},{"op":"add","path":"/address","value":{"city":"CANARY-2"}},{"op":"replace","path":"/flags/vip","value":true},{"op":"set","path":"/notes","value":"plain"}])",
      nullptr, &st);
  EXPECT_EQ(st.encrypted, 3u);
  EXPECT_THAT(out, Not(HasSubstr("CANARY")));
  EXPECT_THAT(out, HasSubstr(R"({"op":"set","path":"/notes","value":"plain"})"));
  // Deterministic: the same envelope a document write produces.
  EXPECT_EQ(envelopes(out).at(0), envelopeOf(enc(R"({"ssn":"CANARY-1"})"), "ssn"));
  // The bytes come back on a lenient decrypt.
  EXPECT_THAT(dec(out, ResponseShape::kAny), HasSubstr(R"("value":{"city":"CANARY-2"})"));
}

TEST_F(JsonTransformTest, PatchWalksValuesThatContainProtectedPaths) {
  TransformStats st;
  const std::string out = patch(
      R"({"operations":[{"op":"add","path":"/cards/-","value":{"number":"CANARY-1","exp":"1/30"}},{"op":"set","path":"/cards","value":[{"number":"CANARY-2"},{"number":"CANARY-3"}]},{"op":"set","path":"/profile","value":{"email":"CANARY-4","name":"n"}},{"op":"set","path":"/cards/3","value":{"number":"CANARY-5"}},{"op":"set","path":"/flags","value":5}]})",
      nullptr, &st);
  EXPECT_EQ(st.encrypted, 5u);
  EXPECT_THAT(out, Not(HasSubstr("CANARY")));
  EXPECT_THAT(out, HasSubstr(R"("exp":"1/30")"));
  // Sealed with the rules' bindings: they open at those paths in a strict document read.
  const auto envs = envelopes(out);
  ASSERT_EQ(envs.size(), 5u);
  const std::string doc = R"({"cards":[{"number":")" + envs[0] + R"("},{"number":")" + envs[1] +
                          R"("}],"profile":{"email":")" + envs[3] + R"("}})";
  EXPECT_EQ(
      dec(doc),
      R"({"cards":[{"number":"CANARY-1"},{"number":"CANARY-2"}],"profile":{"email":"CANARY-4"}})");
}

TEST_F(JsonTransformTest, PatchOperationMatrix) {
  struct Case {
    std::string op;           // op + path + value/from JSON members
    std::string_view detail;  // "" = accepted
  };
  const std::vector<Case> cases = {
      // set/add/replace x relation
      {R"("op":"set","path":"/ssn","value":"x")", ""},
      {R"("op":"add","path":"/profile","value":{"email":"x"})", ""},
      {R"("op":"replace","path":"/notes","value":"x")", ""},
      {R"("op":"set","path":"/address/city","value":"x")", "policy.patch_inside_protected"},
      {R"("op":"add","path":"/cards/0/number/x","value":"x")", "policy.patch_inside_protected"},
      {R"("op":"replace","path":"/address/a/b","value":1)", "policy.patch_inside_protected"},
      // incr
      {R"("op":"incr","path":"/ssn","value":1)", "policy.patch_incr_protected"},
      {R"("op":"incr","path":"/address/n","value":1)", "policy.patch_incr_protected"},
      {R"("op":"incr","path":"/cards/2/number","value":1)", "policy.patch_incr_protected"},
      {R"("op":"incr","path":"/count","value":1)", ""},
      {R"("op":"incr","path":"/profile","value":1)", ""},
      // remove: always fine
      {R"("op":"remove","path":"/ssn")", ""},
      {R"("op":"remove","path":"/address/city")", ""},
      {R"("op":"remove","path":"/cards")", ""},
      // move / copy
      {R"("op":"move","from":"/ssn","path":"/notes")", "policy.patch_move_protected"},
      {R"("op":"move","from":"/notes","path":"/ssn")", "policy.patch_move_protected"},
      {R"("op":"move","from":"/cards","path":"/old")", "policy.patch_move_protected"},
      {R"("op":"move","from":"/x","path":"/address/y")", "policy.patch_move_protected"},
      {R"("op":"copy","from":"/profile/email","path":"/x")", "policy.patch_move_protected"},
      {R"("op":"move","from":"/a","path":"/b")", ""},
      {R"("op":"copy","from":"/a/b","path":"/c/d")", ""},
      // malformed
      {R"("op":"frobnicate","path":"/x","value":1)", "policy.bad_patch"},
      {R"("op":"Set","path":"/ssn","value":"CANARY")", "policy.bad_patch"},
      {R"("path":"/x","value":1)", "policy.bad_patch"},
      {R"("op":"set","value":1)", "policy.bad_patch"},
      {R"("op":"set","path":"/x")", "policy.bad_patch"},
      {R"("op":"remove","path":"/ssn","value":"CANARY")", "policy.bad_patch"},
      {R"("op":"move","path":"/x")", "policy.bad_patch"},
      {R"("op":"move","path":"/x","from":"/y","value":1)", "policy.bad_patch"},
      {R"("op":"set","path":"/x","value":1,"from":"/y")", "policy.bad_patch"},
      {R"("op":"set","path":"ssn","value":"CANARY")", "policy.bad_patch"},
      {R"("op":"set","path":"/","value":"CANARY")", "policy.bad_patch"},
      {R"("op":"set","path":"/*","value":"CANARY")", "policy.bad_patch"},
      {R"("op":"set","path":"/a//b","value":"CANARY")", "policy.bad_patch"},
      {R"("op":"set","path":"/ssn","value":"CANARY","extra":1)", "policy.bad_patch"},
      {R"("op":1,"path":"/x","value":1)", "policy.bad_patch"},
      {R"("op":"set","path":["/ssn"],"value":1)", "policy.bad_patch"},
      // ambiguity and lookalikes
      {R"("op":"set","path":"/ssn","path":"/notes","value":"CANARY")", "policy.duplicate_key"},
      {R"("op":"set","path":"/notes","value":"csx1:AAAA")", "policy.envelope_lookalike"},
      {R"("op":"set","path":"/ssn","value":"csx1:AAAA")", ""},
      {R"("op":"set","path":"/s\u0073n","value":"x")", ""},
  };
  for (const Case& c : cases) {
    const std::string body = "[{" + c.op + "}]";
    if (c.detail.empty()) {
      TransformStats st;
      const std::string out = patch(body, nullptr, &st);
      EXPECT_EQ(envelopes(out).size(), st.encrypted) << body;
      if (c.op.find("\"/ssn\"") != std::string::npos && c.op.find("set") != std::string::npos) {
        EXPECT_EQ(st.encrypted, 1u) << body;
      }
    } else {
      EXPECT_EQ(patchStatus(body).detail(), c.detail) << body;
    }
  }
  EXPECT_EQ(envelopes(patch(R"([{"op":"set","path":"/s\u0073n","value":"x"}])")).size(), 1u);
}

TEST_F(JsonTransformTest, PatchShapesAndConditions) {
  EXPECT_EQ(patch(R"({"operations":[]})"), R"({"operations":[]})");
  EXPECT_EQ(patch("[]"), "[]");
  const std::string ok =
      R"({"operations":[{"op":"set","path":"/ssn","value":"CANARY"}],"condition":"FROM c WHERE c.status = 'active' AND c.n > 3"})";
  EXPECT_EQ(envelopes(patch(ok)).size(), 1u);
  // Conditions go through the query rewriter: equality on deterministic fields is rewritten
  // (the literal becomes an envelope), anything Cosmos cannot evaluate on ciphertext is refused.
  auto withCondition = [](std::string_view cond) {
    return R"({"operations":[{"op":"set","path":"/n","value":1}],"condition":")" +
           std::string(cond) + "\"}";
  };
  for (std::string_view cond : {
           "FROM c WHERE c.ssn = '123'",
           "from c where c[\\\"ssn\\\"] = 'x'",     // c["ssn"]
           "FROM c WHERE c.profile.email = 'a@b'",  // deterministic, two levels down
           "FROM c WHERE c['\\\\u0073sn'] = 'y'",   // SQL escape spelling ssn
       }) {
    const std::string out = patch(withCondition(cond));
    EXPECT_NE(out.find("csx1:"), std::string::npos) << cond << " -> " << out;
    EXPECT_EQ(out.find("'123'"), std::string::npos) << out;
  }
  const std::string plain = withCondition("FROM c WHERE c.status = 'active'");
  EXPECT_EQ(patch(plain), plain);  // nothing protected: forwarded byte for byte
  const std::pair<std::string_view, std::string_view> refused[] = {
      {"FROM c JOIN x IN c.cards WHERE x.number = '4111'", "query.predicate_on_randomized"},
      {"FROM c WHERE c['s p/x'] = 1", "query.predicate_on_randomized"},
      {"FROM c WHERE c.ssn > '100'", "query.range_on_protected"},
      {"FROM c WHERE c.address.city = 'x'", "query.inside_protected"},
      {"FROM c WHERE STARTSWITH(c.ssn, '1')", "query.function_on_protected"},
  };
  for (const auto& [cond, detail] : refused) {
    EXPECT_EQ(patchStatus(withCondition(cond)).detail(), detail) << cond;
  }
  for (std::string_view bad : {
           R"({"condition":"FROM c"})",
           R"({"operations":{}})",
           R"({"operations":[],"condition":5})",
           R"({"operations":[],"condition":null})",
           R"({"operations":[],"other":1})",
           R"("set")",
           "5",
           R"([5])",
           R"([[]])",
       }) {
    EXPECT_EQ(patchStatus(bad).detail(), "policy.bad_patch") << bad;
  }
  EXPECT_EQ(
      patchStatus(R"({"operations":[],"operations":[{"op":"set","path":"/ssn","value":"C"}]})")
          .detail(),
      "policy.duplicate_key");
  EXPECT_EQ(patchStatus(R"([{"op":"set","path":"/ssn","value":"C"}] x)").detail(),
            "policy.bad_json");
  // Control characters in a path's member names (finding 6: the path parser refuses them), and
  // in an operation's own member names.
  EXPECT_EQ(patchStatus(R"([{"op":"set","path":"/ssn\u0000","value":"CANARY"}])").detail(),
            "policy.bad_patch");
  EXPECT_EQ(patchStatus(R"([{"op":"set","path":"/profile/e\u0000mail","value":"C"}])").detail(),
            "policy.bad_patch");
  EXPECT_EQ(patchStatus(R"([{"op":"set","path":"/ssn","val\u0000ue":"C"}])").detail(),
            "policy.bad_member_name");
}

TEST_F(JsonTransformTest, PatchAppendIsAmbiguousWithLiteralIndexRules) {
  EXPECT_EQ(patchStatus(R"([{"op":"add","path":"/items/-","value":{"secret":"CANARY"}}])", &orders_)
                .detail(),
            "policy.patch_ambiguous_path");
  EXPECT_EQ(
      patchStatus(R"([{"op":"add","path":"/items/00","value":{"secret":"CANARY"}}])", &orders_)
          .detail(),
      "policy.patch_ambiguous_path");
  EXPECT_EQ(
      envelopes(patch(R"([{"op":"add","path":"/items/0","value":{"secret":"CANARY"}}])", &orders_))
          .size(),
      1u);
  EXPECT_EQ(envelopes(patch(R"([{"op":"add","path":"/items/1","value":{"secret":"x"}}])", &orders_))
                .size(),
            0u);
  // With a wildcard rule "-" is just another element.
  EXPECT_EQ(envelopes(patch(R"([{"op":"add","path":"/cards/-","value":{"number":"1"}}])")).size(),
            1u);
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
