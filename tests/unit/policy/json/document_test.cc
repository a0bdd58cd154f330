// Tests of policy/json/document.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

// ---------------------------------------------------------------------------------------------
// Documents: corpus round trips

// Real document shapes. Values at deterministic paths (/ssn, /pk, /profile/email) are written in
// canonical spelling here, so every document must round-trip byte for byte.
const std::vector<std::string>& corpus() {
  static const std::vector<std::string> docs = {
      R"({"id":"c1","pk":"p1","ssn":"CANARY-ssn-0001","name":"Ann"})",
      R"({"id":"c2","pk":"p1","address":{"street":"1 Main St","city":"CANARY-city","zip":"02139","geo":{"lat":42.3601,"lon":-71.0589}},"_rid":"abc==","_ts":1700000000})",
      R"({"id":"c3","pk":"p2","cards":[{"number":"CANARY-4111111111111111","exp":"12/30"},{"number":"CANARY-5500000000000004","exp":"01/29"},{"exp":"x"},"not-an-object",7]})",
      R"({"id":"c4","pk":"p3","profile":{"email":"CANARY@example.com","phone":"+1 555"},"tags":["a","b"],"notes":"line1\nline2 \"quoted\" caf\u00e9 \\ slash\/"})",
      R"({"id":"c5","pk":"p4","address":12345678901234567890,"ssn":-1.2345678901234568e-300,"flags":{"vip":true,"other":false}})",
      R"({"id":"c6","pk":"p5","address":123456789012345678901234567890,"ssn":1e+21,"flags":{"vip":1E400}})",
      R"({"id":"c7","pk":"p6","address":"","ssn":"","cards":[],"profile":{},"flags":{"vip":false}})",
      R"({"id":"c8","pk":"p7","address":{},"ssn":[],"cards":[{"number":{}},{"number":[]},{"number":""}]})",
      R"({"id":"c9","pk":"p8","address":"CANARY \"escaped\" \u00e9\ud83d\ude00 \n\t","ssn":"café € 😀"})",
      R"({"id":"c10","pk":null,"ssn":true,"address":false,"profile":{"email":null}})",
      "{\n  \"id\" : \"c11\" ,\n  \"pk\" : \"p9\" ,\n  \"address\" : {\n    \"city\" : "
      "\"CANARY-pretty\" ,\n    \"lines\" : [ 1 , 2 ]\n  } ,\n  \"ssn\" : 42 \n}\n",
      R"({"id":"c12","pk":"p10","s p/x":"CANARY-odd-name","nested":{"deeper":{"ssn":"not-protected-here"}}})",
      R"({"id":"c13","pk":"p11","address":{"a":{"b":{"c":{"d":[[[["CANARY-deep"]]]]}}}}})",
      R"({"id":"c14","pk":"p12","cards":[{"number":17.0e+3},{"number":-0},{"number":"CANARY-x","number2":"y"}],"ttl":3600})",
      R"({"id":"c15"})",
      R"({})",
  };
  return docs;
}

TEST_F(JsonTransformTest, CorpusRoundTripsByteForByteAndHidesCanaries) {
  const std::vector<uint32_t> expected_encrypted = {2, 2, 3, 2, 4, 4, 4, 6, 3, 4, 3, 2, 2, 4, 0, 0};
  ASSERT_EQ(expected_encrypted.size(), corpus().size());
  for (size_t i = 0; i < corpus().size(); ++i) {
    const std::string& doc = corpus()[i];
    TransformStats st;
    const std::string stored = enc(doc, &st);
    EXPECT_EQ(st.encrypted, expected_encrypted[i]) << doc << "\n" << stored;
    EXPECT_THAT(stored, Not(HasSubstr("CANARY"))) << stored;
    EXPECT_EQ(envelopes(stored).size(), st.encrypted) << stored;
    TransformStats dst;
    EXPECT_EQ(dec(stored, ResponseShape::kDocument, &dst), doc);
    EXPECT_EQ(dst.decrypted, st.encrypted);
    EXPECT_EQ(dst.plaintext_at_protected, 0u);
    EXPECT_EQ(dst.lookalikes, 0u);
    // Every response shape that can carry this document decrypts it the same way.
    EXPECT_EQ(dec(stored, ResponseShape::kAny), doc);
    const std::string feed =
        R"({"_rid":"r==","Documents":[)" + stored + "," + stored + R"(],"_count":2})";
    EXPECT_EQ(dec(feed, ResponseShape::kFeed),
              R"({"_rid":"r==","Documents":[)" + doc + "," + doc + R"(],"_count":2})");
  }
}

TEST_F(JsonTransformTest, UnprotectedBytesAreCopiedVerbatim) {
  const std::string doc =
      "{ \"id\":\"x\",\t\"n\" : 1.50E+10 , \"ssn\" : \"CANARY\" , \"s\":\"\\u00e9\\/\" }";
  const std::string stored = enc(doc);
  const std::string env = envelopes(stored).at(0);
  std::string expected = doc;
  expected.replace(expected.find("\"CANARY\""), 8, "\"" + env + "\"");
  EXPECT_EQ(stored, expected);
}

TEST_F(JsonTransformTest, RandomizedEnvelopesDifferDeterministicOnesRepeat) {
  const std::string doc = R"({"address":"same","ssn":"same"})";
  const std::string a = enc(doc), b = enc(doc);
  EXPECT_NE(envelopeOf(a, "address"), envelopeOf(b, "address"));
  EXPECT_EQ(envelopeOf(a, "ssn"), envelopeOf(b, "ssn"));
}

// ---------------------------------------------------------------------------------------------
// Deterministic canonical plaintext

TEST_F(JsonTransformTest, DeterministicIsEqualAcrossSpellings) {
  const std::string a = enc(R"({"ssn":"café\"x\/"})");
  const std::string b = enc(R"({"ssn":"caf\u00e9\u0022x/"})");
  const std::string c = enc(R"({"ssn":"caf\u00E9\"\u0078\/"})");
  EXPECT_EQ(envelopeOf(a, "ssn"), envelopeOf(b, "ssn"));
  EXPECT_EQ(envelopeOf(a, "ssn"), envelopeOf(c, "ssn"));
  // Another binding gives another envelope for the same value.
  const std::string d = enc(R"({"profile":{"email":"café\"x/"}})");
  EXPECT_NE(envelopes(d).at(0), envelopeOf(a, "ssn"));
  // Decryption gives the canonical spelling.
  EXPECT_EQ(dec(b), R"({"ssn":"café\"x/"})");
  // Numbers compare as doubles (Cosmos's equality): one canonical spelling (text.h).
  EXPECT_EQ(envelopeOf(enc(R"({"ssn":1.0})"), "ssn"), envelopeOf(enc(R"({"ssn":1})"), "ssn"));
  // Control characters: short escapes and lower-case \u00XX.
  EXPECT_EQ(envelopeOf(enc(R"({"ssn":"\u000a\u001F"})"), "ssn"),
            envelopeOf(enc(R"({"ssn":"\n\u001f"})"), "ssn"));
}

TEST_F(JsonTransformTest, DeterministicNumbersAreCanonicalRandomizedKeepTheirSpelling) {
  const std::string five = envelopeOf(enc(R"({"ssn":5})"), "ssn");
  for (const char* spelling : {"5.0", "5e0", "5E+0", "500e-2", "0.5e1"}) {
    EXPECT_EQ(envelopeOf(enc(std::string(R"({"ssn":)") + spelling + "}"), "ssn"), five) << spelling;
  }
  EXPECT_EQ(envelopeOf(enc(R"({"ssn":-0})"), "ssn"), envelopeOf(enc(R"({"ssn":0.0})"), "ssn"));
  EXPECT_NE(envelopeOf(enc(R"({"ssn":5})"), "ssn"), envelopeOf(enc(R"({"ssn":"5"})"), "ssn"));
  // Deterministic numbers decrypt to the canonical spelling, the same double.
  EXPECT_EQ(dec(enc(R"({"ssn":5.0})")), R"({"ssn":5})");
  EXPECT_EQ(dec(enc(R"({"ssn":1E3})")), R"({"ssn":1000})");
  EXPECT_EQ(dec(enc(R"({"ssn":12345678901234567890})")), R"({"ssn":12345678901234567000})");
  // Randomized numbers round-trip byte for byte.
  EXPECT_EQ(dec(enc(R"({"address":5.0})")), R"({"address":5.0})");
  EXPECT_EQ(dec(enc(R"({"address":-0})")), R"({"address":-0})");
  EXPECT_EQ(dec(enc(R"({"address":12345678901234567890})")), R"({"address":12345678901234567890})");
  // A number no double holds has no canonical spelling: refused on deterministic fields only.
  refuseDoc(R"({"ssn":1e400})", "policy.number_out_of_range");
  EXPECT_EQ(dec(enc(R"({"address":1e400})")), R"({"address":1e400})");
}

// An envelope sealed before numbers were canonical (the spelling as written) still opens to
// that spelling: readers do not care which spelling was sealed (docs/FORMAT.md §2, §9).
TEST_F(JsonTransformTest, DeterministicNumberSealedAsSpelledStillOpens) {
  const FieldRule* rule = customers_.matchPath(std::vector<std::string_view>{"ssn"});
  ASSERT_NE(rule, nullptr);
  std::string old_env;
  ASSERT_TRUE(cipher_
                  .seal(crypto::Mode::kDeterministic, rule->key, rule->binding,
                        crypto::ValueType::kNumber, "5.0", &old_env)
                  .isOk());
  EXPECT_EQ(dec(R"({"ssn":")" + old_env + R"("})"), R"({"ssn":5.0})");
  // ... but it is not the envelope new writes of 5.0 get: equality needs a re-encryption.
  EXPECT_NE(envelopeOf(enc(R"({"ssn":5.0})"), "ssn"), old_env);
}

// docs/FORMAT.md §2, the example of canonical deterministic strings.
TEST_F(JsonTransformTest, DeterministicPlaintextIsTheCanonicalTokenAsDocumented) {
  const std::string stored = enc(R"({"ssn":"caf\u00e9\/\u0022x"})");
  const FieldRule* rule = customers_.matchPath(std::vector<std::string_view>{"ssn"});
  ASSERT_NE(rule, nullptr);
  const std::string canonical = "\"caf\xc3\xa9/\\\"x\"";
  ASSERT_EQ(canonical.size(), 11u);  // plaintext = 0x01 + these 11 bytes
  std::string direct;
  ASSERT_TRUE(cipher_
                  .seal(crypto::Mode::kDeterministic, rule->key, rule->binding,
                        crypto::ValueType::kString, canonical, &direct)
                  .isOk());
  EXPECT_EQ(envelopeOf(stored, "ssn"), direct);
}

TEST_F(JsonTransformTest, RandomizedKeepsTheRawSpelling) {
  const std::string doc = R"({"address":"caf\u00E9 \/ \u0041"})";
  EXPECT_EQ(dec(enc(doc)), doc);
}

// ---------------------------------------------------------------------------------------------
// Document refusals (fail closed, *out untouched)

TEST_F(JsonTransformTest, RefusesNonObjectDocuments) {
  for (std::string_view bad : {"[]", R"(["ssn"])", R"("x")", "5", "null", "true"}) {
    refuseDoc(bad, "policy.bad_document");
  }
}

}  // namespace
}  // namespace cosmoseal::policy::json_testing
