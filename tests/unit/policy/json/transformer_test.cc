// Tests of the shared engine (policy/json/transformer.cc): output contract, padding, validation,
// duplicate keys, lookalikes and seal failures, through JsonTransformer::encryptDocument.

#include <cctype>
#include <string>
#include <vector>

#include "policy/query/rewriter.h"
#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Documents: corpus round trips

// Every envelope in a text, escaped inside a JSON string or not (a query's literals are).
std::vector<std::string> anyEnvelopes(std::string_view text) {
  std::vector<std::string> out;
  for (size_t at = text.find("csx1:"); at != std::string_view::npos;
       at = text.find("csx1:", at + 1)) {
    size_t end = at + 5;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) != 0 ||
                                 text[end] == '+' || text[end] == '/' || text[end] == '=')) {
      ++end;
    }
    out.emplace_back(text.substr(at, end - at));
  }
  return out;
}

// Issue 15 item 3: a number on a deterministic field seals to one envelope on every path that
// carries it - document, patch value, batch body and per-op partition key, the header, query
// literals, parameters and patch conditions - however each one spells it.
TEST_F(JsonTransformTest, DeterministicNumbersSealAlikeOnEveryPath) {
  const std::string doc_pk = envelopeOf(enc(R"({"id":"a","pk":5e0})"), "pk");
  const std::string doc_ssn = envelopeOf(enc(R"({"id":"a","ssn":5e0})"), "ssn");
  // The header, as .NET and Java write it, and as JS does.
  EXPECT_EQ(envelopes(pk("[5.0]")).at(0), doc_pk);
  EXPECT_EQ(envelopes(pk("[5]")).at(0), doc_pk);
  // A patch value.
  EXPECT_EQ(envelopes(patch(R"([{"op":"set","path":"/ssn","value":5.00}])")).at(0), doc_ssn);
  // A batch: the body and the per-op partition key.
  const std::string batch =
      R"([{"operationType":"Create","partitionKey":"[5.0]","resourceBody":{"id":"a","pk":5,"ssn":50e-1}}])";
  std::string out;
  ASSERT_TRUE(
      tx_.encryptBatch(Body(batch).in(), customers_, pkRules(customers_), &out, nullptr).isOk());
  EXPECT_THAT(out, HasSubstr(R"("partitionKey":"[\")" + doc_pk + R"(\"]")"));
  const std::vector<std::string> sealed = envelopes(out);  // the body's (unescaped) ones
  ASSERT_EQ(sealed.size(), 2u) << out;
  EXPECT_EQ(sealed[0], doc_pk);
  EXPECT_EQ(sealed[1], doc_ssn);
  // A query literal and a parameter: WHERE c.ssn = 5.0 finds the document written with 5e0.
  auto query = [&](std::string_view q, std::string_view params) {
    std::string body = R"({"query":")" + std::string(q) + "\"";
    if (!params.empty()) body += R"(,"parameters":)" + std::string(params);
    body += "}";
    auto r = rewriteQueryRequest(body, customers_, cipher_);
    EXPECT_TRUE(r.isOk()) << q << ": " << r.status().toString();
    return r.isOk() ? anyEnvelopes(r->body) : std::vector<std::string>{};
  };
  EXPECT_EQ(query("SELECT * FROM c WHERE c.ssn = 5.0", ""), std::vector<std::string>{doc_ssn});
  EXPECT_EQ(query("SELECT * FROM c WHERE c.ssn IN (5, 500E-2)", ""),
            (std::vector<std::string>{doc_ssn, doc_ssn}));
  EXPECT_EQ(query("SELECT * FROM c WHERE c.pk = @p", R"([{"name":"@p","value":5.0}])"),
            std::vector<std::string>{doc_pk});
  EXPECT_EQ(query("SELECT * FROM c WHERE c.ssn = -0", ""),
            std::vector<std::string>{envelopeOf(enc(R"({"ssn":0})"), "ssn")});
  // A patch condition.
  const std::string cond = patch(
      R"({"operations":[{"op":"set","path":"/n","value":1}],"condition":"FROM c WHERE c.ssn = 5.0"})");
  EXPECT_EQ(anyEnvelopes(cond), std::vector<std::string>{doc_ssn});
  // A number beyond a double is refused on every path, never sealed as spelled.
  auto r = rewriteQueryRequest(R"({"query":"SELECT * FROM c WHERE c.ssn = 1e400"})", customers_,
                               cipher_);
  EXPECT_EQ(r.status().detail(), "query.number_out_of_range");  // query refusals are query.*
  r = rewriteQueryRequest(
      R"({"query":"SELECT * FROM c WHERE c.ssn = @p","parameters":[{"name":"@p","value":-1e400}]})",
      customers_, cipher_);
  EXPECT_EQ(r.status().detail(), "query.bad_body");  // the body's JSON check refuses it first
  std::string header_out = "UNTOUCHED";
  EXPECT_EQ(tx_.encryptPartitionKey("[1e400]", pkRules(customers_), &header_out).detail(),
            "policy.number_out_of_range");
  EXPECT_EQ(patchStatus(R"([{"op":"set","path":"/ssn","value":1e999}])").detail(),
            "policy.number_out_of_range");
}

TEST_F(JsonTransformTest, ResultIsAppendedAndStatsAccumulate) {
  std::string out = "PREFIX|";
  TransformStats st;
  ASSERT_TRUE(tx_.encryptDocument(Body(R"({"ssn":"1","cards":[{"number":"2"}]})").in(), customers_,
                                  &out, &st)
                  .isOk());
  ASSERT_TRUE(tx_.encryptDocument(Body(R"({"ssn":"3"})").in(), customers_, &out, &st).isOk());
  EXPECT_EQ(out.rfind("PREFIX|{", 0), 0u);
  EXPECT_EQ(st.encrypted, 3u);
  ASSERT_EQ(st.key_id_count, 2);
  EXPECT_EQ(st.key_ids[0], kPiiId);
  EXPECT_EQ(st.key_ids[1], kCardsId);
  EXPECT_FALSE(st.key_ids_overflow);
}

TEST_F(JsonTransformTest, UnpaddedInputIsCopiedAndLeftUntouched) {
  const std::string doc = R"({"id":"a","ssn":"CANARY-1","profile":{"email":"e@x"}})";
  const std::string copy = doc;
  std::string out1, out2;
  // Exactly `size` readable bytes: the transformer must not read past them.
  auto exact = std::make_unique<char[]>(doc.size());
  std::memcpy(exact.get(), doc.data(), doc.size());
  ASSERT_TRUE(tx_.encryptDocument(PaddedInput{exact.get(), doc.size(), doc.size()}, customers_,
                                  &out1, nullptr)
                  .isOk());
  ASSERT_TRUE(tx_.encryptDocument(Body(doc).in(), customers_, &out2, nullptr).isOk());
  EXPECT_EQ(out1, out2);  // deterministic fields only
  EXPECT_EQ(std::string_view(exact.get(), doc.size()), copy);
  EXPECT_EQ(dec(out1), doc);
}

TEST_F(JsonTransformTest, EscapedMemberNamesAreUnescapedNamesAreCaseSensitive) {
  // T14: "s\u0073n" is "ssn".
  const std::string stored =
      enc(R"({"s\u0073n":"CANARY","SSN":"visible","pro\u0066ile":{"em\u0061il":"CANARY2"}})");
  EXPECT_THAT(stored, Not(HasSubstr("CANARY")));
  EXPECT_THAT(stored, HasSubstr(R"("SSN":"visible")"));
  EXPECT_EQ(envelopes(stored).size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Document refusals (fail closed, *out untouched)

TEST_F(JsonTransformTest, RefusesMalformedJson) {
  for (std::string_view bad : {
           "",
           "   ",
           "{",
           R"({"ssn":"CANARY")",
           R"({"ssn":"CANARY"} trailing)",
           R"({"ssn":"CANARY"}})",
           R"({"ssn":"CANARY",})",
           R"({"ssn":'x'})",
           R"({"n":01,"ssn":"C"})",
           R"({"n":tru,"ssn":"C"})",
           R"({"n":NaN})",
           R"({"a":[1,],"ssn":"C"})",
           "\xef\xbb\xbf{\"ssn\":\"C\"}",
           "{\"ssn\":\"C\",\"x\":\"\xff\"}",
           "{\"\xc3\x28\":1,\"ssn\":\"C\"}",
           // Far from every protected path: still validated (no parser differential).
           R"({"ssn":"C","zzz":{"a":[1,2,{"b":-}]}})",
       }) {
    refuseDoc(bad, "policy.bad_json");
  }
}

TEST_F(JsonTransformTest, RefusesBadStrings) {
  for (std::string_view bad :
       {R"({"ssn":"\ud800"})", R"({"ssn":"\udc00x"})", R"({"ssn":"\ud800\u0020"})",
        R"({"ssn":"\q"})", R"({"address":{"x":"\ud83d"}})", R"({"notes":"\uDFFF"})",
        "{\"ssn\":\"a\tb\"}"}) {
    refuseDoc(bad, "policy.bad_string");
  }
}

TEST_F(JsonTransformTest, RefusesDeepNesting) {
  std::string ok = R"({"x":)" + std::string(63, '[') + "1" + std::string(63, ']') + "}";
  enc(ok);
  std::string deep = R"({"x":)" + std::string(64, '[') + "1" + std::string(64, ']') + "}";
  refuseDoc(deep, "policy.too_deep");
  std::string very = R"({"ssn":"C","x":)" + std::string(2000, '[') + std::string(2000, ']') + "}";
  refuseDoc(very, "policy.too_deep");
}

// T15: a million-element array and a ~10 MB body are handled iteratively (no recursion over the
// body, bounded stack); the proxy enforces its own body limits before calling us.
TEST_F(JsonTransformTest, LargeBodies) {
  std::string big = R"({"id":"big","x":[)";
  for (int i = 0; i < 1000000; ++i) big += i ? ",7" : "7";
  big += R"(],"notes":")" + std::string(8 << 20, 'n') + R"(","ssn":"CANARY","cards":[)";
  for (int i = 0; i < 1000; ++i) big += i ? R"(,{"number":"CANARY"})" : R"({"number":"CANARY"})";
  big += "]}";
  TransformStats st;
  const std::string stored = enc(big, &st);
  EXPECT_EQ(st.encrypted, 1001u);
  EXPECT_EQ(stored.find("CANARY"), std::string::npos);
  EXPECT_EQ(dec(stored, ResponseShape::kDocument), big);
}

TEST_F(JsonTransformTest, RefusesDuplicateKeysOnThePathToProtectedValues) {
  for (std::string_view bad : {
           R"({"ssn":"CANARY","ssn":"x"})",       // T13
           R"({"ssn":"CANARY","s\u0073n":"x"})",  // unescaped compare
           R"({"\u0073sn":"x","ssn":"CANARY"})",
           R"({"address":{"city":"CANARY"},"address":"plain"})",
           R"({"id":"a","id":"b","ssn":"C"})",  // any member of the root
           R"({"cards":[{"number":"CANARY","number":"1234"}]})",
           R"({"profile":{"email":"CANARY","other":1,"email":"x"}})",
           R"({"flags":{"a":1,"a":2}})",
       }) {
    refuseDoc(bad, "policy.duplicate_key");
  }
  // Not on the path to a protected value: an unprotected subtree, or inside a protected value
  // (which is sealed as one token).
  enc(R"({"meta":{"a":1,"a":2},"ssn":"C"})");
  enc(R"({"address":{"a":1,"a":2}})");
}

// Red-team finding 6: "ss\u0000n" and "ssn\u0000" were other, unprotected members to us and
// went upstream in plaintext; a reader that stops at NUL (or drops controls) sees "ssn".
TEST_F(JsonTransformTest, RefusesControlCharactersInMemberNames) {
  for (std::string_view bad : {
           R"({"ss\u0000n":"CANARY"})",
           R"({"ssn\u0000":"CANARY"})",
           R"({"ssn\u001f":"CANARY"})",
           R"({"\nssn":"CANARY"})",
           R"({"id":"a","profile":{"email\u0000":"CANARY"}})",
           R"({"cards":[{"num\u0007ber":"CANARY"}]})",
       }) {
    refuseDoc(bad, "policy.bad_member_name");
  }
  std::string out;
  Status s = tx_.encryptDocument(Body(R"({"ss\u0000n":"CANARY"})").in(), customers_, &out, nullptr);
  EXPECT_EQ(s.httpStatus(), 400);
  EXPECT_THAT(s.message(), HasSubstr("'ss?n' at byte 2"));
  // Escapes that are not control characters stay fine, and so does an unwalked subtree.
  EXPECT_THAT(enc(R"({"s\u0073n":"CANARY","caf\u00e9":1})"), Not(HasSubstr("CANARY")));
  enc(R"({"ssn":"x","address":{"a\u0000":1}})");
}

TEST_F(JsonTransformTest, RefusesEnvelopeLookalikesOutsideProtectedValues) {
  refuseDoc(R"({"notes":"csx1:AAAA"})", "policy.envelope_lookalike");
  refuseDoc(R"({"id":"csx1:AAAA","ssn":"x"})", "policy.envelope_lookalike");
  refuseDoc(R"({"cards":[{"exp":"csx1:x"}]})", "policy.envelope_lookalike");
  // Inside a protected value it is just data (sealed), and member names are never decrypted.
  enc(R"({"ssn":"csx1:AAAA","address":{"x":"csx1:B"},"csx1:name":1})");
  // Escaped prefix: not an envelope on the way back either.
  enc(R"({"notes":"\u0063sx1:AAAA"})");
}

TEST_F(JsonTransformTest, SealFailuresPropagate) {
  std::string out = "UNTOUCHED";
  Status s = tx_.encryptDocument(Body(R"({"secret":"CANARY"})").in(),
                                 *policies_->find("shop", "broken"), &out, nullptr);
  EXPECT_EQ(s.detail(), "crypto.unknown_key_name");
  EXPECT_EQ(out, "UNTOUCHED");
  // No secret there: nothing to seal, fine.
  EXPECT_EQ(encWith(*policies_->find("shop", "broken"), R"({"x":1})"), R"({"x":1})");
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
