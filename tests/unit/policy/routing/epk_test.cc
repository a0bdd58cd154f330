#include "policy/routing/epk.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace cosmoseal::policy {
namespace {

PartitionKeyDefinition hashDef(int version) {
  PartitionKeyDefinition def;
  def.paths = {"/pk"};
  def.kind = PartitionKeyKind::kHash;
  def.version = version;
  return def;
}

PartitionKeyDefinition multiDef(size_t levels) {
  PartitionKeyDefinition def;
  for (size_t k = 0; k < levels; ++k) def.paths.push_back("/p" + std::to_string(k));
  def.kind = PartitionKeyKind::kMultiHash;
  def.version = 2;
  return def;
}

std::string epk(std::string_view key, const PartitionKeyDefinition& def) {
  auto r = effectivePartitionKey(key, def);
  EXPECT_TRUE(r.isOk()) << key << ": " << r.status().toString();
  return r.isOk() ? *r : std::string("<error>");
}

using Vectors = std::vector<std::pair<std::string, std::string>>;

std::string repeat(std::string_view piece, size_t n) {
  std::string out;
  for (size_t k = 0; k < n; ++k) out += piece;
  return out;
}

// The V1 EPK of any string of 100 or more 'a' (truncated to 100 characters): the SDK vectors
// spell it out as "05C1EB5921F70608" + 100 x "62" + "00".
const std::string kLongV1 = "05C1EB5921F70608" + repeat("62", 100) + "00";

// Hash V1. Keys given as the x-ms-documentdb-partitionkey header spells them.
TEST(EpkTest, HashV1SdkVectors) {
  // Source: Azure/azure-sdk-for-js sdk/cosmosdb/cosmos/test/internal/unit/hashing/v1.spec.ts
  const Vectors js = {
      {R"(["partitionKey"])", "05C1E1B3D9CD2608716273756A756A706F4C667A00"},
      {R"(["redmond"])", "05C1EFE313830C087366656E706F6500"},
      {R"(["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"])",
       kLongV1},
      {R"([""])", "05C1CF33970FF80800"},
      {R"(["aa"])", "05C1C7B7270FE008626200"},
      {"[null]", "05C1ED45D7475601"},
      {"[true]", "05C1D7C5A903D803"},
      {"[false]", "05C1DB857D857C02"},
      {"[{}]", "05C1D529E345DC00"},
      {"[5]", "05C1D9C1C5517C05C014"},
      {"[5.5]", "05C1D7A771716C05C016"},
      {"[12313.1221]", "05C1ED154D592E05C0C90723F50FC925D8"},
      {"[123456789]", "05C1D9E1A5311C05C19DB7CD8B40"},
  };
  // Source: Azure/azure-sdk-for-java sdk/cosmos/.../PartitionKeyHashingTests.java
  // (effectivePartitionKeyHashV1): Byte/Integer/Long MIN/MAX, Double MIN/MAX, a 1024-char string.
  const Vectors java = {
      {"[" + std::string("\"") + std::string(1024, 'a') + "\"]", kLongV1},
      {"[-128]", "05C1D73349F54C053FA0"},
      {"[127]", "05C1DD539DDFCC05C05FE0"},
      {"[-9223372036854775808]", "05C1DB35F33D1C053C20"},
      {"[9223372036854775807]", "05C1B799AB2DD005C3E0"},
      {"[-2147483648]", "05C1DFBF252BCC053E20"},
      {"[2147483647]", "05C1E1F503DFB205C1DFFFFFFFFC"},
      {"[4.9E-324]", "05C1E5C91F4D3005800101010101010102"},
      {"[1.7976931348623157E308]", "05C1CBE367C53005FFEFFFFFFFFFFFFFFE"},
  };
  for (const auto& [key, want] : js) EXPECT_EQ(epk(key, hashDef(1)), want) << key;
  for (const auto& [key, want] : java) EXPECT_EQ(epk(key, hashDef(1)), want) << key;
}

TEST(EpkTest, HashV2SdkVectors) {
  // Source: Azure/azure-sdk-for-js sdk/cosmosdb/cosmos/test/internal/unit/hashing/v2.spec.ts
  const Vectors js = {
      {R"(["redmond"])", "22E342F38A486A088463DFF7838A5963"},
      {R"(["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"])",
       "0BA3E9CA8EE4C14538828D1612A4B652"},
      {R"([""])", "32E9366E637A71B4E710384B2F4970A0"},
      {R"(["aa"])", "05033626483AE80D00E44FBD35362B19"},
      {"[null]", "378867E4430E67857ACE5C908374FE16"},
      {"[true]", "0E711127C5B5A8E4726AC6DD306A3E59"},
      {"[false]", "2FE1BE91E90A3439635E0E9E37361EF2"},
      {"[{}]", "11622DAA78F835834610ABE56EFF5CB5"},
      {"[5]", "19C08621B135968252FB34B4CF66F811"},
      {"[5.5]", "0E2EE47829D1AF775EEFB6540FD1D0ED"},
      {"[12313.1221]", "27E7ECA8F2EE3E53424DE8D5220631C6"},
      {"[123456789]", "1F56D2538088EBA82CCF988F36E16760"},
  };
  // Source: Azure/azure-sdk-for-java sdk/cosmos/.../PartitionKeyHashingTests.java
  // (effectivePartitionKeyHashV2).
  const Vectors java = {
      {R"(["partitionKey"])", "013AEFCF77FA271571CF665A58C933F1"},
      {"[" + std::string("\"") + std::string(1024, 'a') + "\"]",
       "332BDF5512AE49615F32C7D98C2DB86C"},
      {"[-128]", "01DAEDABF913540367FE219B2AD06148"},
      {"[127]", "0C507ACAC853ECA7977BF4CEFB562A25"},
      {"[-9223372036854775808]", "23D5C6395512BDFEAFADAD15328AD2BB"},
      {"[9223372036854775807]", "2EDB959178DFCCA18983F89384D1629B"},
      {"[-2147483648]", "0B1660D5233C3171725B30D4A5F4CC1F"},
      {"[2147483647]", "2D9349D64712AEB5EB1406E2F0BE2725"},
      {"[4.9E-324]", "0E6CBA63A280927DE485DEF865800139"},
      {"[1.7976931348623157E308]", "31424D996457102634591FF245DBCC4D"},
  };
  for (const auto& [key, want] : js) EXPECT_EQ(epk(key, hashDef(2)), want) << key;
  for (const auto& [key, want] : java) EXPECT_EQ(epk(key, hashDef(2)), want) << key;

  // Source: Azure/azure-sdk-for-rust sdk/cosmos/azure_data_cosmos, the effective-partition-key
  // tests (test_single_string_hash_v2, test_effective_partition_key_hash_v2).
  EXPECT_EQ(epk(R"(["customer42"])", hashDef(2)), "19819C94CE42A1654CCC8110539D9589");
  EXPECT_EQ(epk("[5.123124190509124]", hashDef(2)), "0EF2E2D82460884AF0F6440BE4F726A8");

  // Source: v2.spec.ts, the multi-component vector (all components in one V2 hash).
  PartitionKeyDefinition eight = hashDef(2);
  eight.paths.assign(8, "/x");
  EXPECT_EQ(epk(R"(["redmond", 50, 5.5, true, false, null, "", 12313.1221])", eight),
            "1A5E512F591E980E07A6D8AD5BD5AB2F");
  // Source: azure-sdk-for-rust, test_effective_partition_key_hash_v2_multiple_keys.
  PartitionKeyDefinition four = hashDef(2);
  four.paths.assign(4, "/x");
  EXPECT_EQ(epk(R"([5.0, "redmond", true, null])", four), "3032DECBE2AB1768D8E0AEDEA35881DF");
}

// Source: Azure/azure-cosmos-dotnet-v3 Microsoft.Azure.Cosmos/tests/Microsoft.Azure.Cosmos.Tests/
// BaselineTest/TestBaseline/EffectivePartitionKeyBaselineTest.{Numbers,Singletons}.xml. (The
// Strings.xml file of that folder baselines another hash of strings, not the EPK: its "" is not
// the 32E9366E... that the JS, Java and Rust SDKs' EPK vectors give, so it is not used here.)
// "EffectivePartitionKeyV2" is the V2 EPK; "EffectivePartitionKeyV1" is the V1 MurmurHash3-32
// value (little-endian, zero-padded), the hash the V1 EPK starts with.
struct DotnetVector {
  std::string key;
  uint32_t v1_hash;
  std::string v2;
};

// The service's order-preserving number encoding, restated here (test-only) to turn a baseline's
// V1 hash value into the bytes a V1 EPK starts with.
std::string numberEncodingHex(double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof(bits));
  uint64_t p = bits < (1ULL << 63) ? bits ^ (1ULL << 63) : ~bits + 1;
  std::vector<uint8_t> out = {0x05, static_cast<uint8_t>(p >> 56)};
  p <<= 8;
  uint8_t last = 0;
  bool first = true;
  do {
    if (!first) out.push_back(last);
    first = false;
    last = static_cast<uint8_t>((p >> 56) | 1);
    p <<= 7;
  } while (p != 0);
  out.push_back(last & 0xFE);
  std::string hex;
  for (uint8_t b : out) {
    static constexpr char kDigits[] = "0123456789ABCDEF";
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

TEST(EpkTest, DotnetBaselineVectors) {
  const std::vector<DotnetVector> vectors = {
      {"[0]", 0x1EDA80A6, "155B95BEDAC4B1E9EC1CDC9BB0DDDE58"},
      {"[-0.0]", 0xB03DA650, "3D018BB1DF3DB27235766E81FD10406E"},
      {"[1]", 0xE1655A93, "20CD98B339BA78A5D0CF6953B87070B0"},
      {"[-1]", 0x452BDBE7, "19938E7A936C1C5B9E3AE842BBC16839"},
      {"[4.94065645841247E-324]", 0xAC83D318, "0E6CBA63A280927DE485DEF865800139"},
      {"[1.7976931348623157E+308]", 0x378B3C46, "31424D996457102634591FF245DBCC4D"},
      {"[-1.7976931348623157E+308]", 0xE38DD8A1, "27050CC4910CFD9DACE1283D3801DF25"},
      {"[9223372036854775807]", 0x1732A96D, "2EDB959178DFCCA18983F89384D1629B"},
      {"[9223372036854775806]", 0x1732A96D, "2EDB959178DFCCA18983F89384D1629B"},
      {"[-9223372036854775808]", 0x69AF2787, "23D5C6395512BDFEAFADAD15328AD2BB"},
      {"[9007199254740991]", 0x13F69B8A, "12C221C7032CED1F9E6693CE1428E6CF"},
      {"[9007199254740990]", 0xE5744366, "0FEA3467D94AA6E4628EF0B248C1FD9B"},
      {"[9007199254740992]", 0xA30CCE12, "15335910D01122E3D99DA5DE569B065D"},
      {"[{}]", 0x514E28B7, "11622DAA78F835834610ABE56EFF5CB5"},
      {"[null]", 0xE45AD1AB, "378867E4430E67857ACE5C908374FE16"},
      {"[true]", 0x5E2A8076, "0E711127C5B5A8E4726AC6DD306A3E59"},
      {"[false]", 0x6C27D09F, "2FE1BE91E90A3439635E0E9E37361EF2"},
  };
  for (const auto& v : vectors) {
    EXPECT_EQ(epk(v.key, hashDef(2)), v.v2) << v.key;
    // The V1 EPK starts with the baseline's hash value in the number encoding.
    const std::string v1 = epk(v.key, hashDef(1));
    const std::string number_encoding = numberEncodingHex(static_cast<double>(v.v1_hash));
    EXPECT_EQ(v1.substr(0, number_encoding.size()), number_encoding) << v.key;
  }
}

TEST(EpkTest, MultiHashIsOneV2HashPerComponentAndPrefixesArePrefixes) {
  const std::string a = epk(R"(["redmond"])", hashDef(2));
  const std::string b = epk("[5.5]", hashDef(2));
  const std::string c = epk("[true]", hashDef(2));
  EXPECT_EQ(epk(R"(["redmond",5.5,true])", multiDef(3)), a + b + c);
  EXPECT_EQ(epk(R"(["redmond",5.5])", multiDef(3)), a + b);  // a prefix key
  EXPECT_EQ(epk(R"(["redmond"])", multiDef(3)), a);
  EXPECT_EQ(epk("[]", multiDef(3)), "");
  EXPECT_EQ(effectivePartitionKey(R"(["a","b","c","d"])", multiDef(3)).status().detail(),
            "routing.bad_partition_key");
}

TEST(EpkTest, EmptyKeyIsTheMinimumEpk) {
  EXPECT_EQ(epk("[]", hashDef(1)), "");
  EXPECT_EQ(epk(" [ ] ", hashDef(2)), "");
}

TEST(EpkTest, NumbersHashByTheirDoubleValue) {
  for (int v : {1, 2}) {
    EXPECT_EQ(epk("[5]", hashDef(v)), epk("[5.0]", hashDef(v)));
    EXPECT_EQ(epk("[5]", hashDef(v)), epk("[5e0]", hashDef(v)));
    EXPECT_EQ(epk("[5]", hashDef(v)), epk("[0.5E1]", hashDef(v)));
    // 2^53 + 1 is not a double: it rounds to 2^53, as JSON.parse and the .NET parser do.
    EXPECT_EQ(epk("[9007199254740993]", hashDef(v)), epk("[9007199254740992]", hashDef(v)));
    // -0 keeps its sign bit (JS JSON.parse("-0") is -0): a different EPK from 0.
    EXPECT_NE(epk("[-0]", hashDef(v)), epk("[0]", hashDef(v)));
    EXPECT_EQ(epk("[-0]", hashDef(v)), epk("[-0.0]", hashDef(v)));
  }
  // A value whose number encoding ends in a zero 7-bit group keeps its last 0x00 byte (.NET,
  // Java, Python, the service); the JS SDK drops it (05C0 instead of 05C000 for 2). Source of the
  // rule: NumberPartitionKeyComponent.WriteForBinaryEncoding (azure-cosmos Java and .NET).
  EXPECT_EQ(epk("[2]", hashDef(1)).substr(14), "05C000");
  EXPECT_EQ(epk("[0]", hashDef(1)).substr(14), "058000");
}

TEST(EpkTest, V1TruncatesStringsAtOneHundredUtf16Units) {
  const std::string a100(100, 'a');
  EXPECT_EQ(epk("[\"" + a100 + "\"]", hashDef(1)), epk("[\"" + a100 + "zzz\"]", hashDef(1)));
  EXPECT_NE(epk("[\"" + a100 + "\"]", hashDef(2)), epk("[\"" + a100 + "zzz\"]", hashDef(2)));
  // 99 'a' then U+1F600 (two UTF-16 units): the cut leaves a lone high surrogate, which the
  // service's UTF-8 encoder writes as U+FFFD.
  const std::string a99(99, 'a');
  EXPECT_EQ(epk("[\"" + a99 + "\xF0\x9F\x98\x80\"]", hashDef(1)),
            epk("[\"" + a99 + "\xEF\xBF\xBD\"]", hashDef(1)));
  // 60 'é' = 120 UTF-8 bytes after truncation: the binary encoding keeps 101 bytes and no
  // terminator (StringPartitionKeyComponent.WriteForBinaryEncoding, .NET and Java).
  std::string e60;
  for (int k = 0; k < 60; ++k) e60 += "\xC3\xA9";
  const std::string v1 = epk("[\"" + e60 + "\"]", hashDef(1));
  // 05 + 5 hash bytes ... then 08 and 101 encoded bytes.
  const size_t string_at = v1.find("08C4AA");
  ASSERT_NE(string_at, std::string::npos) << v1;
  EXPECT_EQ(v1.size() - string_at, 2 * (1 + 101u)) << v1;
}

TEST(EpkTest, EscapesAreUnescapedBeforeHashing) {
  EXPECT_EQ(epk(R"(["\u00e9t\u00E9"])", hashDef(2)), epk("[\"\xC3\xA9t\xC3\xA9\"]", hashDef(2)));
  EXPECT_EQ(epk(R"(["\ud83d\ude00"])", hashDef(2)), epk("[\"\xF0\x9F\x98\x80\"]", hashDef(2)));
  EXPECT_EQ(epk(R"(["a\/b"])", hashDef(1)), epk(R"(["a/b"])", hashDef(1)));
}

TEST(EpkTest, RefusesWhatIsNotAPartitionKey) {
  for (std::string_view bad :
       {"", "5", "\"a\"", "[", "[1,", "[1 2]", "[[1]]", R"([{"a":1}])", "[1e400]", "[NaN]", "[01]",
        "[tru]", R"(["\ud800"])", R"(["a"] x)", "[\"a\x01\"]"}) {
    auto r = effectivePartitionKey(bad, hashDef(2));
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "routing.bad_partition_key") << bad;
  }
  EXPECT_EQ(effectivePartitionKey(R"(["a","b"])", hashDef(2)).status().detail(),
            "routing.bad_partition_key");
}

TEST(EpkTest, MurmurPrimitives) {
  // Reference values of MurmurHash3 (SMHasher's implementation) for short inputs.
  EXPECT_EQ(murmurHash3x86_32("", 0), 0u);
  EXPECT_EQ(murmurHash3x86_32("", 1), 0x514E28B7u);
  EXPECT_EQ(murmurHash3x86_32("hello", 0), 0x248BFA47u);
  EXPECT_EQ(murmurHash3x86_32("The quick brown fox jumps over the lazy dog", 0), 0x2E4FF723u);
  const auto empty = murmurHash3x64_128("", 0);
  EXPECT_EQ(empty[0], 0u);
  EXPECT_EQ(empty[1], 0u);
  const auto fox = murmurHash3x64_128("The quick brown fox jumps over the lazy dog", 0);
  EXPECT_EQ(fox[0], 0xE34BBC7BBC071B6CULL);
  EXPECT_EQ(fox[1], 0x7A433CA9C49A9347ULL);
}

TEST(EpkTest, ParsesPartitionKeyDefinitions) {
  auto v2 = parsePartitionKeyDefinition(
      R"({"id":"c","partitionKey":{"paths":["/pk"],"kind":"Hash","version":2},"_rid":"x"})");
  ASSERT_TRUE(v2.isOk()) << v2.status().toString();
  EXPECT_EQ(v2->paths, std::vector<std::string>{"/pk"});
  EXPECT_EQ(v2->kind, PartitionKeyKind::kHash);
  EXPECT_EQ(v2->version, 2);
  auto v1 = parsePartitionKeyDefinition(R"({"id":"c","partitionKey":{"paths":["/pk"]}})");
  ASSERT_TRUE(v1.isOk());
  EXPECT_EQ(v1->version, 1);
  EXPECT_EQ(v1->kind, PartitionKeyKind::kHash);
  auto multi = parsePartitionKeyDefinition(
      R"({"partitionKey":{"paths":["/t","/u","/v"],"kind":"MultiHash","version":2}})");
  ASSERT_TRUE(multi.isOk());
  EXPECT_EQ(multi->kind, PartitionKeyKind::kMultiHash);
  EXPECT_EQ(multi->paths.size(), 3u);
  auto bare = parsePartitionKeyDefinition(R"({"paths":["/pk"],"kind":"Hash","version":2})");
  ASSERT_TRUE(bare.isOk());
  EXPECT_EQ(bare->version, 2);

  for (std::string_view bad :
       {"nope", "[]", R"({"id":"c"})", R"({"partitionKey":5})", R"({"partitionKey":{}})",
        R"({"partitionKey":{"paths":[]}})", R"({"partitionKey":{"paths":["pk"]}})",
        R"({"partitionKey":{"paths":[1]}})", R"({"partitionKey":{"paths":["/a"],"kind":"Range"}})",
        R"({"partitionKey":{"paths":["/a"],"version":3}})",
        R"({"partitionKey":{"paths":["/a","/b"],"kind":"Hash"}})"}) {
    auto r = parsePartitionKeyDefinition(bad);
    ASSERT_FALSE(r.isOk()) << bad;
    EXPECT_EQ(r.status().detail(), "routing.bad_partition_key_definition") << bad;
  }
}

}  // namespace
}  // namespace cosmoseal::policy
