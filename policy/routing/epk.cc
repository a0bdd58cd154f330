#include "policy/routing/epk.h"

#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <utility>

#include "policy/json/text.h"
#include "policy/routing/details.h"

namespace cosmoseal::policy {

namespace rd = routing_detail;

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

// Type markers of the service's binary encoding of partition-key components: one byte before
// each component, in the order the service sorts types.
constexpr uint8_t kMarkerUndefined = 0x00;
constexpr uint8_t kMarkerNull = 0x01;
constexpr uint8_t kMarkerFalse = 0x02;
constexpr uint8_t kMarkerTrue = 0x03;
constexpr uint8_t kMarkerNumber = 0x05;
constexpr uint8_t kMarkerString = 0x08;
constexpr uint8_t kMarkerInfinity = 0xFF;  // V2 string terminator (V1 uses kMarkerUndefined)

// V1 cuts strings to 100 UTF-16 code units before hashing (the service and the .NET SDK use
// String.Substring), and its binary encoding keeps at most 100 UTF-8 bytes (+1, see below).
constexpr size_t kV1MaxStringChars = 100;
constexpr size_t kV1MaxStringBytes = 100;

Status badKey(std::string msg) {
  return Status(Code::kInvalidArgument, rd::kBadPartitionKey, std::move(msg));
}

Status badDefinition(std::string msg) {
  return Status(Code::kInvalidArgument, rd::kBadPartitionKeyDefinition, std::move(msg));
}

struct Component {
  uint8_t marker = kMarkerUndefined;  // kMarkerString / kMarkerNumber / a scalar marker
  double number = 0;
  std::string text;  // UTF-8, strings only
};

// ---------------------------------------------------------------------------------------------
// The header value: a JSON array of scalars. A small dedicated reader rather than simdjson:
// numbers must become the double the SDKs compute (any length of digits, correctly rounded) and
// `{}` is a component of its own; the array is tiny, so speed does not matter here.

void skipSpace(std::string_view s, size_t* i) noexcept {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')) {
    ++*i;
  }
}

// The end of the string token starting at s[i] == '"' (one past its closing quote), or npos.
size_t stringTokenEnd(std::string_view s, size_t i) noexcept {
  for (size_t j = i + 1; j < s.size(); ++j) {
    if (s[j] == '\\') {
      ++j;
    } else if (s[j] == '"') {
      return j + 1;
    }
  }
  return std::string_view::npos;
}

bool isNumberChar(char c) noexcept {
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

Status readComponent(std::string_view s, size_t* i, Component* out) {
  const char c = s[*i];
  if (c == '"') {
    const size_t end = stringTokenEnd(s, *i);
    if (end == std::string_view::npos) return badKey("unterminated string component");
    Status st = unescapeJsonString(s.substr(*i, end - *i), &out->text);
    if (!st.isOk()) return badKey("bad string component: " + std::string(st.message()));
    out->marker = kMarkerString;
    *i = end;
    return Status::ok();
  }
  if (c == '{') {
    size_t j = *i + 1;
    skipSpace(s, &j);
    if (j >= s.size() || s[j] != '}') {
      return badKey("an object component must be {} (the undefined/None key)");
    }
    out->marker = kMarkerUndefined;
    *i = j + 1;
    return Status::ok();
  }
  for (auto [word, marker] : {std::pair<std::string_view, uint8_t>{"true", kMarkerTrue},
                              {"false", kMarkerFalse},
                              {"null", kMarkerNull}}) {
    if (s.substr(*i, word.size()) == word) {
      out->marker = marker;
      *i += word.size();
      return Status::ok();
    }
  }
  size_t end = *i;
  while (end < s.size() && isNumberChar(s[end])) ++end;
  const std::string_view token = s.substr(*i, end - *i);
  if (token.empty() || !isJsonNumber(token)) return badKey("unsupported partition-key component");
  double v = 0;
  const auto r = std::from_chars(token.data(), token.data() + token.size(), v);
  // Out of range (1e400): JSON.parse gives Infinity, which Cosmos cannot store; refuse it.
  if (r.ec != std::errc() || r.ptr != token.data() + token.size()) {
    return badKey("number component out of the range of a double");
  }
  out->marker = kMarkerNumber;
  out->number = v;
  *i = end;
  return Status::ok();
}

Status parseKeyArray(std::string_view s, std::vector<Component>* out) {
  size_t i = 0;
  skipSpace(s, &i);
  if (i >= s.size() || s[i] != '[') return badKey("the partition key is not a JSON array");
  ++i;
  skipSpace(s, &i);
  if (i < s.size() && s[i] == ']') {
    ++i;
  } else {
    for (;;) {
      skipSpace(s, &i);
      if (i >= s.size()) return badKey("unterminated partition-key array");
      if (s[i] == '[') return badKey("an array is not a partition-key component");
      Component comp;
      COSMOSEAL_RETURN_IF_ERROR(readComponent(s, &i, &comp));
      out->push_back(std::move(comp));
      skipSpace(s, &i);
      if (i < s.size() && s[i] == ',') {
        ++i;
        continue;
      }
      if (i < s.size() && s[i] == ']') {
        ++i;
        break;
      }
      return badKey("expected ',' or ']' in the partition-key array");
    }
  }
  skipSpace(s, &i);
  if (i != s.size()) return badKey("trailing bytes after the partition-key array");
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------
// Encodings.

uint64_t doubleBits(double v) noexcept { return std::bit_cast<uint64_t>(v); }

// The hashing form of a number: its IEEE-754 bits, little-endian (BinaryWriter.Write(double)).
void appendDoubleLe(double v, std::string* out) {
  uint64_t bits = doubleBits(v);
  for (int k = 0; k < 8; ++k) {
    out->push_back(static_cast<char>(bits & 0xFF));
    bits >>= 8;
  }
}

// The service's order-preserving binary encoding of a number (the V1 EPK's hash and number
// components): the IEEE bits with the sign folded so that unsigned order is numeric order, the
// top byte whole, then 7 bits per byte with the low bit saying "more follows". The last byte is
// written even when its 7 bits are zero (0, 2, 2^17, ...), as the .NET, Java and Python SDKs
// and the service do (the JS SDK drops a zero last byte; see epk_test.cc).
void appendNumberBinary(double v, std::string* out) {
  const uint64_t bits = doubleBits(v);
  constexpr uint64_t kSign = 0x8000000000000000ULL;
  uint64_t payload = bits < kSign ? (bits ^ kSign) : (~bits + 1);
  out->push_back(static_cast<char>(kMarkerNumber));
  out->push_back(static_cast<char>(payload >> 56));
  payload <<= 8;
  uint8_t pending = 0;
  bool first = true;
  do {
    if (!first) out->push_back(static_cast<char>(pending));
    first = false;
    pending = static_cast<uint8_t>((payload >> 56) | 0x01);
    payload <<= 7;
  } while (payload != 0);
  out->push_back(static_cast<char>(pending & 0xFE));
}

// The first `max_units` UTF-16 code units of valid UTF-8 `s`, as UTF-8. A cut through a
// surrogate pair leaves a lone high surrogate, which UTF-8 encoders write as U+FFFD (EF BF BD):
// that is what .NET's Substring + Encoding.UTF8 (the service) and JS substr + TextEncoder do.
std::string truncateUtf16Units(std::string_view s, size_t max_units) {
  size_t units = 0;
  size_t i = 0;
  while (i < s.size() && units < max_units) {
    const auto lead = static_cast<unsigned char>(s[i]);
    const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (len == 4) {
      if (units + 2 > max_units) {
        std::string out(s.substr(0, i));
        out.append("\xEF\xBF\xBD");
        return out;
      }
      units += 2;
    } else {
      units += 1;
    }
    i += len;
  }
  return std::string(s.substr(0, i));
}

void appendHashingForm(const Component& c, uint8_t string_terminator, std::string* out) {
  out->push_back(static_cast<char>(c.marker));
  if (c.marker == kMarkerString) {
    out->append(c.text);
    out->push_back(static_cast<char>(string_terminator));
  } else if (c.marker == kMarkerNumber) {
    appendDoubleLe(c.number, out);
  }
}

// V1 binary encoding of a (truncated) component. Strings: each UTF-8 byte + 1 (so that 0x00 can
// terminate), then 0x00; a string over 100 bytes keeps 101 bytes and no terminator.
void appendBinaryForm(const Component& c, std::string* out) {
  if (c.marker == kMarkerNumber) {
    appendNumberBinary(c.number, out);
    return;
  }
  out->push_back(static_cast<char>(c.marker));
  if (c.marker != kMarkerString) return;
  const bool short_string = c.text.size() <= kV1MaxStringBytes;
  const size_t n = short_string ? c.text.size() : kV1MaxStringBytes + 1;
  for (size_t k = 0; k < n; ++k) {
    auto b = static_cast<uint8_t>(c.text[k]);
    if (b < 0xFF) ++b;
    out->push_back(static_cast<char>(b));
  }
  if (short_string) out->push_back(static_cast<char>(kMarkerUndefined));
}

void appendHex(const uint8_t* bytes, size_t n, std::string* out) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  for (size_t k = 0; k < n; ++k) {
    out->push_back(kDigits[bytes[k] >> 4]);
    out->push_back(kDigits[bytes[k] & 0x0F]);
  }
}

void appendHex(std::string_view bytes, std::string* out) {
  appendHex(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), out);
}

std::string epkV1(const std::vector<Component>& comps) {
  std::vector<Component> truncated = comps;
  for (Component& c : truncated) {
    if (c.marker == kMarkerString) c.text = truncateUtf16Units(c.text, kV1MaxStringChars);
  }
  std::string to_hash;
  for (const Component& c : truncated) appendHashingForm(c, kMarkerUndefined, &to_hash);
  const uint32_t hash = murmurHash3x86_32(to_hash, 0);
  std::string encoded;
  appendNumberBinary(static_cast<double>(hash), &encoded);
  for (const Component& c : truncated) appendBinaryForm(c, &encoded);
  std::string out;
  out.reserve(encoded.size() * 2);
  appendHex(encoded, &out);
  return out;
}

// One V2 hash over `comps`: MurmurHash3 x64 128 (seed 0), the 128-bit value h2:h1 written
// big-endian (the SDKs reverse the little-endian bytes of {h1, h2}), top two bits cleared so
// every EPK sorts below "FF" and the space is 126 bits.
void appendV2(const Component* comps, size_t n, std::string* out) {
  std::string to_hash;
  for (size_t k = 0; k < n; ++k) appendHashingForm(comps[k], kMarkerInfinity, &to_hash);
  const auto h = murmurHash3x64_128(to_hash, 0);
  uint8_t bytes[16];
  for (int k = 0; k < 8; ++k) {
    bytes[k] = static_cast<uint8_t>(h[1] >> (56 - 8 * k));
    bytes[8 + k] = static_cast<uint8_t>(h[0] >> (56 - 8 * k));
  }
  bytes[0] &= 0x3F;
  appendHex(bytes, sizeof(bytes), out);
}

// ---------------------------------------------------------------------------------------------
// MurmurHash3 (Austin Appleby's public-domain design), written from its specification.

constexpr uint32_t rotl32(uint32_t x, int r) noexcept { return (x << r) | (x >> (32 - r)); }
constexpr uint64_t rotl64(uint64_t x, int r) noexcept { return (x << r) | (x >> (64 - r)); }

uint32_t load32le(const unsigned char* p) noexcept {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

uint64_t loadLe(const unsigned char* p, size_t n) noexcept {
  uint64_t v = 0;
  for (size_t k = n; k > 0; --k) v = (v << 8) | p[k - 1];
  return v;
}

constexpr uint64_t fmix64(uint64_t k) noexcept {
  k ^= k >> 33;
  k *= 0xFF51AFD7ED558CCDULL;
  k ^= k >> 33;
  k *= 0xC4CEB9FE1A85EC53ULL;
  k ^= k >> 33;
  return k;
}

}  // namespace

uint32_t murmurHash3x86_32(std::string_view bytes, uint32_t seed) {
  constexpr uint32_t c1 = 0xCC9E2D51;
  constexpr uint32_t c2 = 0x1B873593;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t len = bytes.size();
  uint32_t h = seed;
  const size_t blocks = len / 4;
  for (size_t b = 0; b < blocks; ++b) {
    uint32_t k = load32le(p + 4 * b);
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
    h = rotl32(h, 13);
    h = h * 5 + 0xE6546B64;
  }
  const size_t rest = len & 3;
  if (rest != 0) {
    uint32_t k = static_cast<uint32_t>(loadLe(p + 4 * blocks, rest));
    k *= c1;
    k = rotl32(k, 15);
    k *= c2;
    h ^= k;
  }
  h ^= static_cast<uint32_t>(len);
  h ^= h >> 16;
  h *= 0x85EBCA6B;
  h ^= h >> 13;
  h *= 0xC2B2AE35;
  h ^= h >> 16;
  return h;
}

std::array<uint64_t, 2> murmurHash3x64_128(std::string_view bytes, uint32_t seed) {
  constexpr uint64_t c1 = 0x87C37B91114253D5ULL;
  constexpr uint64_t c2 = 0x4CF5AD432745937FULL;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t len = bytes.size();
  uint64_t h1 = seed;
  uint64_t h2 = seed;
  const size_t blocks = len / 16;
  for (size_t b = 0; b < blocks; ++b) {
    uint64_t k1 = loadLe(p + 16 * b, 8);
    uint64_t k2 = loadLe(p + 16 * b + 8, 8);
    k1 *= c1;
    k1 = rotl64(k1, 31);
    k1 *= c2;
    h1 ^= k1;
    h1 = rotl64(h1, 27);
    h1 += h2;
    h1 = h1 * 5 + 0x52DCE729;
    k2 *= c2;
    k2 = rotl64(k2, 33);
    k2 *= c1;
    h2 ^= k2;
    h2 = rotl64(h2, 31);
    h2 += h1;
    h2 = h2 * 5 + 0x38495AB5;
  }
  const unsigned char* tail = p + 16 * blocks;
  const size_t rest = len & 15;
  if (rest > 8) {
    uint64_t k2 = loadLe(tail + 8, rest - 8);
    k2 *= c2;
    k2 = rotl64(k2, 33);
    k2 *= c1;
    h2 ^= k2;
  }
  if (rest > 0) {
    uint64_t k1 = loadLe(tail, rest < 8 ? rest : 8);
    k1 *= c1;
    k1 = rotl64(k1, 31);
    k1 *= c2;
    h1 ^= k1;
  }
  h1 ^= len;
  h2 ^= len;
  h1 += h2;
  h2 += h1;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 += h2;
  h2 += h1;
  return {h1, h2};
}

StatusOr<PartitionKeyDefinition> parsePartitionKeyDefinition(std::string_view collection_json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(collection_json);
  simdjson::dom::element doc;
  if (parser.parse(padded).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return badDefinition("the collection is not a JSON object");
  }
  // A collection document carries the definition in "partitionKey"; the definition object on its
  // own ({paths, kind, version}) is accepted too.
  simdjson::dom::element pk;
  if (doc["partitionKey"].get(pk) != simdjson::SUCCESS) {
    if (doc["paths"].error() != simdjson::SUCCESS) {
      return badDefinition("the collection has no partitionKey");
    }
    pk = doc;
  }
  if (!pk.is_object()) return badDefinition("partitionKey is not an object");
  PartitionKeyDefinition def;
  simdjson::dom::array paths;
  if (pk["paths"].get(paths) != simdjson::SUCCESS) {
    return badDefinition("partitionKey has no paths array");
  }
  for (simdjson::dom::element p : paths) {
    std::string_view s;
    if (p.get(s) != simdjson::SUCCESS || s.empty() || s.front() != '/') {
      return badDefinition("a partition-key path is not a string starting with '/'");
    }
    def.paths.emplace_back(s);
  }
  if (def.paths.empty()) return badDefinition("partitionKey.paths is empty");
  simdjson::dom::element kind;
  if (pk["kind"].get(kind) == simdjson::SUCCESS && !kind.is_null()) {
    std::string_view k;
    if (kind.get(k) != simdjson::SUCCESS) return badDefinition("partitionKey.kind is not a string");
    if (k == "Hash") {
      def.kind = PartitionKeyKind::kHash;
    } else if (k == "MultiHash") {
      def.kind = PartitionKeyKind::kMultiHash;
    } else {
      return badDefinition("unsupported partitionKey.kind '" + std::string(k) + "'");
    }
  }
  simdjson::dom::element version;
  if (pk["version"].get(version) == simdjson::SUCCESS && !version.is_null()) {
    int64_t v = 0;
    if (version.get(v) != simdjson::SUCCESS || (v != 1 && v != 2)) {
      return badDefinition("partitionKey.version must be 1 or 2");
    }
    def.version = static_cast<int>(v);
  }
  if (def.kind == PartitionKeyKind::kHash && def.paths.size() != 1) {
    return badDefinition("a Hash partition key has exactly one path");
  }
  return def;
}

StatusOr<std::string> effectivePartitionKey(std::string_view pk_json_array,
                                            const PartitionKeyDefinition& def) {
  std::vector<Component> comps;
  COSMOSEAL_RETURN_IF_ERROR(parseKeyArray(pk_json_array, &comps));
  // The empty key (`[]`, what the SDKs send for a document without a value in a migrated
  // container) is the minimum EPK, as in the service's PartitionKeyInternal.Empty.
  if (comps.empty()) return std::string();
  const size_t max_components = def.paths.empty() ? 1 : def.paths.size();
  if (comps.size() > max_components) {
    return badKey("the partition key has more components than the container has paths");
  }
  std::string out;
  if (def.kind == PartitionKeyKind::kMultiHash) {
    // One V2 hash per component; a prefix key's EPK is the concatenation of its components'.
    out.reserve(32 * comps.size());
    for (const Component& c : comps) appendV2(&c, 1, &out);
    return out;
  }
  if (def.version == 2) {
    out.reserve(32);
    appendV2(comps.data(), comps.size(), &out);
    return out;
  }
  return epkV1(comps);
}

}  // namespace cosmoseal::policy
