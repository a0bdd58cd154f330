// Tests of policy/json/partition_key.cc through JsonTransformer (the shared fixture is in
// transformer_fixture.h).

#include <string>
#include <vector>

#include "tests/unit/policy/json/transformer_fixture.h"

namespace cosmoseal::policy::json_testing {
namespace {

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
           {"5", "[5.0]"},  // .NET and Java write the header as [5.0] for a body's 5
           {"5e0", "[5]"},
           {"-0", "[0]"},
           {"-12345678901234567890", "[-12345678901234567890]"},
           {"-12345678901234567890", "[-1.2345678901234567e19]"},
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

}  // namespace
}  // namespace cosmoseal::policy::json_testing
