// Tests of the byte-level helpers behind the transform engine (policy/internal/json_scan.h):
// the strict request validator and the envelope-string scanner.

#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "policy/json/internal/scan.h"

namespace cosmoseal::policy::internal {
namespace {

std::string nested(size_t depth, std::string_view inner = "1") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

TEST(JsonValidateTest, AcceptsValidJson) {
  for (std::string_view ok : {
           R"({})", R"([])", R"("")", R"(0)", R"(-0)", R"(-0.0e-0)", R"(1E+2)", R"(true)",
           R"(false)", R"(null)", " \t\r\n{ \"a\" : [ 1 , 2.5 , \"x\" ] } \n",
           R"({"a":{"b":{"c":[{},[],"",0]}}})",
           R"({"big":123456789012345678901234567890,"neg":-12345678901234567890})",
           R"({"huge":1e400,"tiny":-1e-400,"d":0.1234567890123456789012345678901234567890})",
           R"({"esc":"\"\\\/\b\f\n\r\t\u00e9\u00E9\ud83d\ude00"})",
           "{\"utf8\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 \xe2\x82\xac\"}",
           R"({"dup":1,"dup":2})",  // duplicates are a policy matter, not a syntax error
       }) {
    EXPECT_TRUE(validateJson(ok).isOk()) << ok << ": " << validateJson(ok).toString();
  }
  EXPECT_TRUE(validateJson(nested(kMaxJsonDepth)).isOk());
  EXPECT_TRUE(validateJson("{\"a\":" + nested(kMaxJsonDepth - 1) + "}").isOk());
}

TEST(JsonValidateTest, RejectsWithDetailCodes) {
  struct Case {
    std::string text;
    std::string_view detail;
  };
  const std::vector<Case> cases = {
      {"", "policy.bad_json"},
      {"  \n", "policy.bad_json"},
      {"{", "policy.bad_json"},
      {R"({"a":1)", "policy.bad_json"},
      {R"({"a":1}})", "policy.bad_json"},
      {R"({"a":1} x)", "policy.bad_json"},
      {R"({} {})", "policy.bad_json"},
      {R"({"a":1,})", "policy.bad_json"},
      {R"([1,])", "policy.bad_json"},
      {R"([,1])", "policy.bad_json"},
      {R"({"a" 1})", "policy.bad_json"},
      {R"({a:1})", "policy.bad_json"},
      {R"({'a':1})", "policy.bad_json"},
      {R"({"a":01})", "policy.bad_json"},
      {R"({"a":+1})", "policy.bad_json"},
      {R"({"a":1.})", "policy.bad_json"},
      {R"({"a":.5})", "policy.bad_json"},
      {R"({"a":1e})", "policy.bad_json"},
      {R"({"a":-})", "policy.bad_json"},
      {R"({"a":NaN})", "policy.bad_json"},
      {R"({"a":tru})", "policy.bad_json"},
      {R"({"a":nulll})", "policy.bad_json"},
      {R"({"a":"x)", "policy.bad_json"},
      {"\xef\xbb\xbf{}", "policy.bad_json"},            // BOM
      {"{\"a\":\"\xff\"}", "policy.bad_json"},          // invalid UTF-8
      {"{\"\xc0\xaf\":1}", "policy.bad_json"},          // overlong, in a key
      {"{\"a\":\"\xed\xa0\x80\"}", "policy.bad_json"},  // UTF-8 encoded surrogate
      {R"({"a":"\ud800"})", "policy.bad_string"},
      {R"({"a":"\udc00"})", "policy.bad_string"},
      {R"({"a":"\ud800\u0041"})", "policy.bad_string"},
      {R"({"a":"\ud800x"})", "policy.bad_string"},
      {R"({"a":"\x"})", "policy.bad_string"},
      {R"({"a":"\u12"})", "policy.bad_string"},
      {R"({"a":"\u12G4"})", "policy.bad_string"},
      {"{\"a\":\"x\ny\"}", "policy.bad_string"},  // raw control character
      {"{\"a\tb\":1}", "policy.bad_string"},
      {R"({"s\ud800n":1})", "policy.bad_string"},
      {nested(kMaxJsonDepth + 1), "policy.too_deep"},
      {nested(2000), "policy.too_deep"},
      {"{\"a\":" + nested(kMaxJsonDepth) + "}", "policy.too_deep"},
  };
  for (const Case& c : cases) {
    common::Status s = validateJson(c.text);
    EXPECT_EQ(s.detail(), c.detail) << c.text << " -> " << s.toString();
    EXPECT_EQ(s.code(), common::Code::kInvalidArgument) << c.text;
  }
}

TEST(JsonValidateTest, EveryTruncationOfAValidDocumentIsRejected) {
  const std::string doc = R"({"id":"a1","n":[1,-2.5e3,true,false,null,{"k":"v\u00e9\"x"}],"o":{}})";
  ASSERT_TRUE(validateJson(doc).isOk());
  for (size_t n = 0; n < doc.size(); ++n) {
    EXPECT_FALSE(validateJson(std::string_view(doc).substr(0, n)).isOk()) << n;
  }
}

// Wherever simdjson's DOM parser (a second, independent implementation) accepts a text, the
// validator must accept it too; where it rejects for reasons other than number range, so must
// the validator.
TEST(JsonValidateTest, AgreesWithSimdjsonDom) {
  simdjson::dom::parser dom;
  // simdjson counts the document itself as one level.
  ASSERT_EQ(dom.allocate(1 << 16, kMaxJsonDepth + 1), simdjson::SUCCESS);
  std::vector<std::string> texts = {
      R"({"a":[1,2,{"b":null}],"c":"\u00e9"})",
      R"([])",
      R"({"a":1,})",
      R"({"a":"\ud800"})",
      R"({"a":"\uD83D\uDE00"})",
      R"([1 2])",
      R"({"a":-0.0})",
      R"({"a":1e-5})",
      "[\"\x01\"]",
      R"({"a":"\/"})",
      R"(["\u0000"])",
      R"([1.5E+300])",
      R"({"":0})",
  };
  for (size_t d = kMaxJsonDepth - 2; d <= kMaxJsonDepth + 1; ++d) texts.push_back(nested(d));
  for (const std::string& t : texts) {
    simdjson::padded_string ps(t);
    simdjson::dom::element e;
    const simdjson::error_code err = dom.parse(ps).get(e);
    const bool ours = validateJson(t).isOk();
    if (err == simdjson::SUCCESS) {
      EXPECT_TRUE(ours) << t;
    } else if (err != simdjson::NUMBER_ERROR) {
      EXPECT_FALSE(ours) << t << " (simdjson: " << simdjson::error_message(err) << ")";
    }
  }
}

std::vector<EnvelopeString> scan(std::string_view text) {
  std::vector<EnvelopeString> out;
  findEnvelopeStrings(text, &out);
  return out;
}

TEST(EnvelopeScanTest, FindsStringsWithThePrefix) {
  const std::string text = R"({"a":"csx1:AAA","b":["x","csx1:B/+="],"csx1:k":1,"c":"csx2:z"})";
  auto hits = scan(text);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(text.substr(hits[0].begin, hits[0].end - hits[0].begin), R"("csx1:AAA")");
  EXPECT_FALSE(hits[0].is_key);
  EXPECT_FALSE(hits[0].has_escape);
  EXPECT_EQ(text.substr(hits[1].begin, hits[1].end - hits[1].begin), R"("csx1:B/+=")");
  EXPECT_EQ(text.substr(hits[2].begin, hits[2].end - hits[2].begin), R"("csx1:k")");
  EXPECT_TRUE(hits[2].is_key);
}

TEST(EnvelopeScanTest, EscapedQuotesAreNotStringStarts) {
  // Inside a string: \"csx1: is an escaped quote (odd backslashes), \\" is a real one.
  auto hits = scan(R"({"a":"x \"csx1:AAA\" y","b":"\\","c":"csx1:ok"})");
  ASSERT_EQ(hits.size(), 1u);
  hits = scan(R"(["\\\"csx1:no"])");
  EXPECT_TRUE(hits.empty());
  hits = scan(R"(["a\\","csx1:yes"])");
  EXPECT_EQ(hits.size(), 1u);
}

TEST(EnvelopeScanTest, EscapesInsideAreFlaggedAndKeysDetectedAcrossWhitespace) {
  auto hits = scan("{ \"csx1:k\" \n : \"csx1:a\\/b\" }");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_TRUE(hits[0].is_key);
  EXPECT_FALSE(hits[1].is_key);
  EXPECT_TRUE(hits[1].has_escape);
}

TEST(EnvelopeScanTest, EveryAlignmentAndTheBufferEnd) {
  for (size_t pad = 0; pad < 40; ++pad) {
    // append, not "[" + std::string(...): GCC 12 -O3 reports a false -Wrestrict for that.
    const std::string text = std::string("[").append(pad, ' ') + "\"csx1:Q\"]";
    auto hits = scan(text);
    ASSERT_EQ(hits.size(), 1u) << pad;
    EXPECT_EQ(hits[0].begin, pad + 1);
    EXPECT_EQ(hits[0].end, text.size() - 1);
    // Cut the text at every point: never a hit past the end, never a crash.
    for (size_t n = 0; n < text.size(); ++n) {
      for (const auto& h : scan(std::string_view(text).substr(0, n))) EXPECT_LE(h.end, n);
    }
  }
}

TEST(EnvelopeScanTest, InvalidInputNeverOverlaps) {
  auto hits = scan(R"("csx1:a"csx1:b"csx1:c")");
  size_t prev = 0;
  for (const auto& h : hits) {
    EXPECT_GE(h.begin, prev);
    prev = h.end;
  }
  EXPECT_TRUE(scan(R"("csx1:unterminated)").empty());
  EXPECT_TRUE(scan(R"("csx1)").empty());
}

}  // namespace
}  // namespace cosmoseal::policy::internal
