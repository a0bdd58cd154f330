#include "policy/json/transformer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto/field_cipher.h"
#include "crypto/keyring.h"
#include "policy/json/internal/scan.h"

namespace cosmoseal::policy {
namespace {

using common::Code;
using common::Status;
using crypto::FieldCipher;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint32_t kPiiId = 0x0a0b0c01;
constexpr uint32_t kCardsId = 0x0c0c0c01;

common::SecretBytes material(uint8_t start) {
  common::SecretBytes s(crypto::kDekSize);
  for (size_t i = 0; i < s.size(); ++i) s.data()[i] = static_cast<uint8_t>(start + i * 7);
  return s;
}

std::shared_ptr<const crypto::Keyring> testKeyring() {
  crypto::KeyringBuilder b;
  EXPECT_TRUE(b.add("pii", 1, kPiiId, material(10)).isOk());
  EXPECT_TRUE(b.add("cards", 1, kCardsId, material(90)).isOk());
  EXPECT_TRUE(b.setPrimary("pii", 1).isOk());
  EXPECT_TRUE(b.setPrimary("cards", 1).isOk());
  return *b.build();
}

FieldSpec field(std::string path, FieldMode mode, std::string key = "pii") {
  FieldSpec f;
  f.path = std::move(path);
  f.mode = mode;
  f.key = std::move(key);
  return f;
}

constexpr FieldMode kRand = FieldMode::kRandomized;
constexpr FieldMode kDet = FieldMode::kDeterministic;

std::shared_ptr<const PolicySet> testPolicies() {
  std::vector<ContainerPolicySpec> specs(4);
  specs[0].database = "shop";
  specs[0].container = "customers";
  specs[0].partition_key_paths = {"/pk"};
  specs[0].fields = {field("/ssn", kDet),           field("/pk", kDet),
                     field("/address", kRand),      field("/cards/*/number", kRand, "cards"),
                     field("/profile/email", kDet), field("/flags/vip", kRand),
                     field("/s p~1x", kRand)};
  // Literal array indices (patch "-" is ambiguous there).
  specs[1].database = "shop";
  specs[1].container = "orders";
  specs[1].fields = {field("/items/0/secret", kRand)};
  // Hierarchical partition key, second level unprotected.
  specs[2].database = "shop";
  specs[2].container = "events";
  specs[2].partition_key_paths = {"/tenant", "/region"};
  specs[2].fields = {field("/tenant", kDet), field("/payload", kRand)};
  // A key the keyring does not have.
  specs[3].database = "shop";
  specs[3].container = "broken";
  specs[3].fields = {field("/secret", kRand, "nokey")};
  auto set = PolicySet::create(specs);
  EXPECT_TRUE(set.isOk()) << set.status().toString();
  return *set;
}

// A body in a buffer with kJsonPadding spare bytes (how the proxy should call us).
struct Body {
  explicit Body(std::string_view s) {
    buf.reserve(s.size() + kJsonPadding);
    buf.assign(s);
  }
  PaddedInput in() const { return PaddedInput::of(buf); }
  std::string buf;
};

class JsonTransformTest : public ::testing::Test {
 protected:
  JsonTransformTest()
      : policies_(testPolicies()),
        cipher_(testKeyring()),
        tx_(&cipher_),
        customers_(*policies_->find("shop", "customers")),
        orders_(*policies_->find("shop", "orders")),
        events_(*policies_->find("shop", "events")) {}

  std::string enc(std::string_view body, TransformStats* st = nullptr) {
    return encWith(customers_, body, st);
  }
  std::string encWith(const ContainerPolicy& p, std::string_view body,
                      TransformStats* st = nullptr) {
    std::string out;
    Status s = tx_.encryptDocument(Body(body).in(), p, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    EXPECT_TRUE(internal::validateJson(out).isOk()) << out;
    return out;
  }
  // Expects a refusal with `detail`; *out must be untouched.
  void refuseDoc(std::string_view body, std::string_view detail,
                 const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptDocument(Body(body).in(), p ? *p : customers_, &out, nullptr);
    EXPECT_EQ(s.detail(), detail) << body << " -> " << s.toString();
    EXPECT_EQ(out, "UNTOUCHED") << body;
  }
  std::string patch(std::string_view body, const ContainerPolicy* p = nullptr,
                    TransformStats* st = nullptr) {
    std::string out;
    Status s = tx_.encryptPatch(Body(body).in(), p ? *p : customers_, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    return out;
  }
  Status patchStatus(std::string_view body, const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptPatch(Body(body).in(), p ? *p : customers_, &out, nullptr);
    EXPECT_EQ(out, "UNTOUCHED") << body;
    return s;
  }
  std::string dec(std::string_view body, ResponseShape shape = ResponseShape::kDocument,
                  TransformStats* st = nullptr, const ContainerPolicy* p = nullptr) {
    std::string out;
    Status s = tx_.decryptResponse(Body(body).in(), shape, p ? p : &customers_, &out, st);
    EXPECT_TRUE(s.isOk()) << body << " -> " << s.toString();
    return out;
  }
  Status decStatus(std::string_view body, ResponseShape shape, const ContainerPolicy* p = nullptr) {
    std::string out = "UNTOUCHED";
    Status s = tx_.decryptResponse(Body(body).in(), shape, p ? p : &customers_, &out, nullptr);
    EXPECT_EQ(out, "UNTOUCHED") << body;
    return s;
  }
  std::vector<const FieldRule*> pkRules(const ContainerPolicy& p) {
    std::vector<const FieldRule*> r;
    for (const auto& pk : p.partitionKeyPaths()) r.push_back(pk.rule);
    return r;
  }
  std::string pk(std::string_view header, const ContainerPolicy* p = nullptr) {
    std::string out;
    auto rules = pkRules(p ? *p : customers_);
    Status s = tx_.encryptPartitionKey(header, rules, &out);
    EXPECT_TRUE(s.isOk()) << header << " -> " << s.toString();
    return out;
  }
  // The envelopes (string contents) in a text, in order.
  static std::vector<std::string> envelopes(std::string_view text) {
    std::vector<internal::EnvelopeString> hits;
    internal::findEnvelopeStrings(text, &hits);
    std::vector<std::string> out;
    for (const auto& h : hits) {
      out.emplace_back(text.substr(h.begin + 1, h.end - h.begin - 2));
    }
    return out;
  }
  // The envelope that replaced the value of top-level member `name` in `doc`.
  static std::string envelopeOf(std::string_view doc, std::string_view name) {
    const std::string key = "\"" + std::string(name) + "\":\"";
    const size_t at = doc.find(key);
    if (at == std::string_view::npos) return {};
    const size_t b = at + key.size();
    return std::string(doc.substr(b, doc.find('"', b) - b));
  }

  std::shared_ptr<const PolicySet> policies_;
  FieldCipher cipher_;
  JsonTransformer tx_;
  const ContainerPolicy& customers_;
  const ContainerPolicy& orders_;
  const ContainerPolicy& events_;
};

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
      R"({"id":"c5","pk":"p4","address":12345678901234567890,"ssn":-1.2345678901234567e-300,"flags":{"vip":true,"other":false}})",
      R"({"id":"c6","pk":"p5","address":123456789012345678901234567890,"ssn":1E400,"flags":{"vip":null}})",
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
  // Numbers are not canonicalised.
  EXPECT_NE(envelopeOf(enc(R"({"ssn":1.0})"), "ssn"), envelopeOf(enc(R"({"ssn":1})"), "ssn"));
  // Control characters: short escapes and lower-case \u00XX.
  EXPECT_EQ(envelopeOf(enc(R"({"ssn":"\u000a\u001F"})"), "ssn"),
            envelopeOf(enc(R"({"ssn":"\n\u001f"})"), "ssn"));
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

TEST_F(JsonTransformTest, RefusesNonObjectDocuments) {
  for (std::string_view bad : {"[]", R"(["ssn"])", R"("x")", "5", "null", "true"}) {
    refuseDoc(bad, "policy.bad_document");
  }
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

// ---------------------------------------------------------------------------------------------
// Partition key

TEST_F(JsonTransformTest, PartitionKeyHeaderMatchesTheBodyByteForByte) {
  struct Case {
    std::string body_value, header;
  };
  for (const Case& c : std::vector<Case>{
           {R"("p1")", R"(["p1"])"},
           {R"("café")", R"(["caf\u00e9"])"},  // JS writes non-ASCII as \uXXXX in the header
           {R"("caf\u00e9")", R"(["café"])"},
           {R"("a\"b")", R"(["a\u0022b"])"},
           {"5", "[5]"},
           {"5.0", "[5.0]"},
           {"-12345678901234567890", "[-12345678901234567890]"},
           {"true", "[true]"},
           {"false", "[ false ]"},
           {"null", "[null]"},
       }) {
    const std::string stored = enc(R"({"id":"x","pk":)" + c.body_value + "}");
    const std::string header = pk(c.header);
    if (c.header.find(' ') == std::string::npos) {
      EXPECT_EQ(header, "[\"" + envelopeOf(stored, "pk") + "\"]") << c.header;
    }
    EXPECT_EQ(envelopes(header).at(0), envelopeOf(stored, "pk")) << c.header;
  }
}

TEST_F(JsonTransformTest, PartitionKeyNoneAndPrefixes) {
  EXPECT_EQ(pk("[{}]"), "[{}]");
  EXPECT_EQ(pk("[ { } ]"), "[ { } ]");
  EXPECT_EQ(pk("[]"), "[]");
  // Hierarchical: component 0 protected, component 1 not.
  const std::string h = pk(R"(["t1","eu"])", &events_);
  EXPECT_EQ(envelopes(h).size(), 1u);
  EXPECT_THAT(h, HasSubstr(R"(,"eu"])"));
  const std::string stored = encWith(events_, R"({"tenant":"t1","region":"eu"})");
  EXPECT_EQ(envelopes(h).at(0), envelopeOf(stored, "tenant"));
  EXPECT_EQ(envelopes(pk(R"(["t1"])", &events_)).size(), 1u);  // prefix
  // No rule at all: validated, appended unchanged.
  std::string out = "X";
  ASSERT_TRUE(tx_.encryptPartitionKey(R"(["a", 1])", {}, &out).isOk());
  EXPECT_EQ(out, R"(X["a", 1])");
}

TEST_F(JsonTransformTest, PartitionKeyRefusals) {
  auto rules = pkRules(customers_);
  auto expect = [&](std::string_view header, std::string_view detail,
                    std::span<const FieldRule* const> r) {
    std::string out = "UNTOUCHED";
    Status s = tx_.encryptPartitionKey(header, r, &out);
    EXPECT_EQ(s.detail(), detail) << header << " -> " << s.toString();
    EXPECT_EQ(out, "UNTOUCHED");
  };
  for (std::string_view bad :
       {"", "p1", R"("p1")", R"({"a":1})", R"(["p1")", R"(["p1"] x)", R"([["a"]])", R"([{"a":1}])",
        R"(["a","b"])", R"(["\ud800"])", "\xef\xbb\xbf[\"a\"]"}) {
    expect(bad, "policy.bad_partition_key", rules);
  }
  const FieldRule* randomized = customers_.matchPath(std::vector<std::string_view>{"address"});
  ASSERT_NE(randomized, nullptr);
  std::vector<const FieldRule*> bad_rules = {randomized};
  expect(R"(["p1"])", "policy.randomized_partition_key", bad_rules);
  expect(R"(["x","csx1:AAAA"])", "policy.envelope_lookalike", pkRules(events_));
  std::vector<const FieldRule*> none = {nullptr};
  expect(R"(["csx1:AAAA"])", "policy.envelope_lookalike", none);
}

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
  expect(
      R"([{"operationType":"Patch","resourceBody":{"operations":[{"op":"incr","path":"/ssn","value":1}]}}])",
      "policy.patch_incr_protected");
  expect(R"([{"operationType":"Create","resourceBody":{"notes":"csx1:AA"}}])",
         "policy.envelope_lookalike");
  expect(R"([{"operationType":"Create","resourceBody":{"ssn":"C"}}] [])", "policy.bad_json");
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST_F(JsonTransformTest, QueryPagesDecryptAnywhere) {
  const std::string stored =
      enc(R"({"id":"a","ssn":"111","address":{"c":"x"},"cards":[{"number":"4111"}]})");
  const std::string ssn = envelopeOf(stored, "ssn");
  const std::string addr = envelopes(stored).at(1);
  // ORDER BY wrapper, SELECT VALUE and GROUP BY rows; a cut-and-paste ciphertext in a projection
  // alias is fine here (no path check in queries).
  const std::string page = R"({"_rid":"r","Documents":[)"
                           R"({"_rid":"x","orderByItems":[{"item":")" +
                           ssn + R"("}],"payload":)" + stored +
                           R"(},)"
                           R"(")" +
                           ssn +
                           R"(",)"
                           R"({"groupByItems":[{"item":")" +
                           addr + R"("}],"payload":{"alias":")" + ssn +
                           R"(","n":1}},)"
                           R"({"ssn":")" +
                           addr + R"("}],"_count":4})";
  TransformStats st;
  const std::string out = dec(page, ResponseShape::kQuery, &st);
  EXPECT_EQ(
      out,
      R"({"_rid":"r","Documents":[)"
      R"({"_rid":"x","orderByItems":[{"item":"111"}],"payload":{"id":"a","ssn":"111","address":{"c":"x"},"cards":[{"number":"4111"}]}},)"
      R"("111",)"
      R"({"groupByItems":[{"item":{"c":"x"}}],"payload":{"alias":"111","n":1}},)"
      R"({"ssn":{"c":"x"}}],"_count":4})");
  EXPECT_EQ(st.decrypted, 8u);
  EXPECT_EQ(st.lookalikes, 0u);
  // SELECT VALUE c.ssn: a bare array of envelopes.
  EXPECT_EQ(
      dec(R"({"Documents":[")" + ssn + R"(",")" + ssn + R"("],"_count":2})", ResponseShape::kQuery),
      R"({"Documents":["111","111"],"_count":2})");
  // The same cut-and-paste in a strict feed is an attack.
  EXPECT_EQ(
      decStatus(R"({"Documents":[{"ssn":")" + addr + R"("}]})", ResponseShape::kFeed).detail(),
      "crypto.path_mismatch");
}

TEST_F(JsonTransformTest, CutAndPasteFailsInStrictShapes) {
  const std::string stored = enc(R"({"ssn":"111","profile":{"email":"e@x"}})");
  const std::string ssn = envelopeOf(stored, "ssn");
  const std::string moved = R"({"ssn":"x","profile":{"email":")" + ssn + R"("}})";
  for (ResponseShape shape : {ResponseShape::kDocument}) {
    Status s = decStatus(moved, shape);
    EXPECT_EQ(s.detail(), "crypto.path_mismatch");
    EXPECT_EQ(s.code(), Code::kBadGateway);
    EXPECT_EQ(s.httpStatus(), 502);
  }
  EXPECT_EQ(
      decStatus(R"({"Documents":[)" + stored + "," + moved + "]}", ResponseShape::kFeed).detail(),
      "crypto.path_mismatch");
  EXPECT_EQ(decStatus("[{\"resourceBody\":" + moved + "}]", ResponseShape::kBatchResults).detail(),
            "crypto.path_mismatch");
  EXPECT_EQ(decStatus(R"({"Documents":[{"current":)" + moved + "}]}",
                      ResponseShape::kChangeFeedAllVersions)
                .detail(),
            "crypto.path_mismatch");
  // A ciphertext moved to an unprotected member is opened without the check.
  EXPECT_EQ(dec(R"({"copy":")" + ssn + R"("})"), R"({"copy":"111"})");
  // Another container (other bindings) fails as well.
  EXPECT_EQ(
      decStatus(R"({"tenant":")" + ssn + R"("})", ResponseShape::kDocument, &events_).detail(),
      "crypto.path_mismatch");
}

TEST_F(JsonTransformTest, ChangeFeedAllVersionsAndBatchResults) {
  const std::string d1 = R"({"id":"a","ssn":"1","address":{"z":1}})";
  const std::string d2 = R"({"id":"a","ssn":"2","address":null})";
  const std::string s1 = enc(d1), s2 = enc(d2);
  const std::string feed =
      R"({"_rid":"r","Documents":[{"current":)" + s2 + R"(,"previous":)" + s1 +
      R"(,"metadata":{"lsn":7,"operationType":"replace","id":"a"}}],"_count":1})";
  TransformStats st;
  EXPECT_EQ(dec(feed, ResponseShape::kChangeFeedAllVersions, &st),
            R"({"_rid":"r","Documents":[{"current":)" + d2 + R"(,"previous":)" + d1 +
                R"(,"metadata":{"lsn":7,"operationType":"replace","id":"a"}}],"_count":1})");
  EXPECT_EQ(st.decrypted, 4u);
  const std::string results =
      R"([{"statusCode":201,"requestCharge":1,"eTag":"\"e\"","resourceBody":)" + s1 +
      R"(},{"statusCode":204,"requestCharge":1},{"statusCode":200,"resourceBody":)" + s2 + "}]";
  EXPECT_EQ(dec(results, ResponseShape::kBatchResults),
            R"([{"statusCode":201,"requestCharge":1,"eTag":"\"e\"","resourceBody":)" + d1 +
                R"(},{"statusCode":204,"requestCharge":1},{"statusCode":200,"resourceBody":)" + d2 +
                "}]");
}

TEST_F(JsonTransformTest, LookalikesAndTampering) {
  // At an unprotected path: left and counted. At a protected path: the response fails.
  TransformStats st;
  EXPECT_EQ(dec(R"({"notes":"csx1:garbage"})", ResponseShape::kDocument, &st),
            R"({"notes":"csx1:garbage"})");
  EXPECT_EQ(st.lookalikes, 1u);
  EXPECT_EQ(decStatus(R"({"ssn":"csx1:garbage"})", ResponseShape::kDocument).detail(),
            "crypto.bad_base64");
  EXPECT_EQ(dec(R"({"ssn":"csx1:garbage"})", ResponseShape::kQuery), R"({"ssn":"csx1:garbage"})");
  // Tampered (every position of the envelope text, one at a time).
  const std::string stored = enc(R"({"ssn":"123-45-6789","address":"CANARY"})");
  const std::string env = envelopeOf(stored, "ssn");
  for (size_t i = crypto::kEnvelopePrefix.size(); i < env.size(); ++i) {
    std::string t = env;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    const std::string doc = R"({"ssn":")" + t + R"("})";
    Status s = decStatus(doc, ResponseShape::kDocument);
    EXPECT_FALSE(s.isOk()) << i;
    EXPECT_EQ(s.code(), Code::kBadGateway) << i;
    std::string out;
    TransformStats qst;
    ASSERT_TRUE(
        tx_.decryptResponse(Body(doc).in(), ResponseShape::kQuery, &customers_, &out, &qst).isOk());
    EXPECT_EQ(out, doc);
    EXPECT_EQ(qst.lookalikes, 1u);
  }
  // A failure after earlier successes leaves *out exactly as it was.
  const std::string two = R"({"address":")" + envelopes(stored).at(1) + R"(","ssn":"csx1:AQ=="})";
  EXPECT_EQ(decStatus(two, ResponseShape::kDocument).detail(), "crypto.truncated");
}

TEST_F(JsonTransformTest, PlaintextAtProtectedPathsIsCountedAndLeft) {
  const std::string doc =
      R"({"ssn":"123","address":{"city":"x"},"cards":[{"number":4111}],"pk":null})";
  TransformStats st;
  EXPECT_EQ(dec(doc, ResponseShape::kDocument, &st), doc);
  EXPECT_EQ(st.plaintext_at_protected, 4u);
  EXPECT_EQ(st.decrypted, 0u);
}

TEST_F(JsonTransformTest, MemberNamesAndEscapedEnvelopes) {
  const std::string stored = enc(R"({"ssn":"1"})");
  const std::string env = envelopeOf(stored, "ssn");
  // Never decrypt a member name.
  TransformStats st;
  const std::string named = R"({")" + env + R"(":1})";
  EXPECT_EQ(dec(named, ResponseShape::kAny, &st), named);
  EXPECT_EQ(st.lookalikes, 1u);
  // An envelope written with escapes (\/ for /, or the prefix as \u0063) still opens, with the
  // path check at a protected path.
  std::string escaped = env;
  for (size_t p = escaped.find('/'); p != std::string::npos; p = escaped.find('/', p + 2)) {
    escaped.replace(p, 1, "\\/");
  }
  char last[8];
  std::snprintf(last, sizeof(last), "\\u%04x", static_cast<unsigned>(escaped.back()));
  escaped = escaped.substr(0, escaped.size() - 1) + last;
  EXPECT_EQ(dec(R"({"ssn":")" + escaped + R"("})"), R"({"ssn":"1"})");
  const std::string hidden = "\\u0063" + env.substr(1);
  EXPECT_EQ(dec(R"({"ssn":")" + hidden + R"("})"), R"({"ssn":"1"})");
  EXPECT_EQ(
      decStatus(R"({"profile":{"email":")" + hidden + R"("}})", ResponseShape::kDocument).detail(),
      "crypto.path_mismatch");
}

TEST_F(JsonTransformTest, ResponsesThatAreNotJson) {
  EXPECT_EQ(dec(""), "");
  EXPECT_EQ(dec("  "), "  ");
  EXPECT_EQ(dec("<html>oops</html>", ResponseShape::kAny), "<html>oops</html>");
  Status s = decStatus("<html>oops</html>", ResponseShape::kDocument);
  EXPECT_EQ(s.detail(), "policy.bad_response");
  EXPECT_EQ(s.code(), Code::kBadGateway);
  // Shapes that do not match are not an error: no documents where the shape expects them.
  EXPECT_EQ(dec(R"([1,2])", ResponseShape::kDocument), "[1,2]");
  EXPECT_EQ(dec(R"({"code":"NotFound","message":"x"})", ResponseShape::kFeed),
            R"({"code":"NotFound","message":"x"})");
  EXPECT_EQ(dec(R"({"Documents":5})", ResponseShape::kFeed), R"({"Documents":5})");
  // No policy: lenient everywhere.
  std::string out;
  const std::string stored = enc(R"({"ssn":"1"})");
  ASSERT_TRUE(
      tx_.decryptResponse(Body(stored).in(), ResponseShape::kDocument, nullptr, &out, nullptr)
          .isOk());
  EXPECT_EQ(out, R"({"ssn":"1"})");
}

TEST_F(JsonTransformTest, DecryptAppendsAndReportsKeyIds) {
  const std::string stored = enc(R"({"ssn":"1","cards":[{"number":"2"}]})");
  std::string out = "PREFIX|";
  TransformStats st;
  ASSERT_TRUE(
      tx_.decryptResponse(Body(stored).in(), ResponseShape::kDocument, &customers_, &out, &st)
          .isOk());
  EXPECT_EQ(out, R"(PREFIX|{"ssn":"1","cards":[{"number":"2"}]})");
  ASSERT_EQ(st.key_id_count, 2);
  EXPECT_EQ(st.key_ids[0], kPiiId);
  EXPECT_EQ(st.key_ids[1], kCardsId);
  EXPECT_EQ(responseShapeName(ResponseShape::kChangeFeedAllVersions), "change_feed_all_versions");
}

}  // namespace
}  // namespace cosmoseal::policy
