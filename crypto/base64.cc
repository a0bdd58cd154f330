#include "crypto/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

#include "crypto/details.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define COSMOSEAL_BASE64_AVX2 1
#endif

namespace cosmoseal::crypto {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Reverse table: 0..63 for alphabet characters, 0xff for everything else ('=' included).
constexpr std::array<uint8_t, 256> makeReverse() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kReverse = makeReverse();

// Encoder: 12 input bits -> two output characters, as a little-endian uint16 (first character in
// the low byte). 8 KiB, so the hot loop does one lookup per two characters.
constexpr std::array<uint16_t, 4096> makePairs() {
  std::array<uint16_t, 4096> t{};
  for (unsigned v = 0; v < 4096; ++v) {
    t[v] = static_cast<uint16_t>(static_cast<uint8_t>(kAlphabet[v >> 6]) |
                                 (static_cast<uint8_t>(kAlphabet[v & 63]) << 8));
  }
  return t;
}
constexpr std::array<uint16_t, 4096> kPairs = makePairs();

// Decoder: each character's 6 bits pre-shifted to its place in the 24-bit group, so a quad is
// four lookups ORed together. Invalid characters set bit 31, which survives the OR.
constexpr uint32_t kInvalid = 0x80000000u;
constexpr std::array<uint32_t, 256> makeShifted(int shift) {
  std::array<uint32_t, 256> t{};
  for (unsigned c = 0; c < 256; ++c) {
    t[c] = kReverse[c] == 0xff ? kInvalid : static_cast<uint32_t>(kReverse[c]) << shift;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kDec0 = makeShifted(18);
constexpr std::array<uint32_t, 256> kDec1 = makeShifted(12);
constexpr std::array<uint32_t, 256> kDec2 = makeShifted(6);
constexpr std::array<uint32_t, 256> kDec3 = makeShifted(0);

#if COSMOSEAL_BASE64_AVX2
// AVX2 encoder: 24 input bytes -> 32 characters per step (the technique of Muła and Lemire,
// "Faster Base64 Encoding and Decoding Using AVX2 Instructions", 2018), written from the
// published description. Returns how many input bytes it consumed (a multiple of 24, leaving
// at least 4 bytes for the scalar code, since each step reads 28 bytes).
__attribute__((target("avx2"))) size_t encodeAvx2(const uint8_t* data, size_t n,
                                                  char* out) noexcept {
  // Per 128-bit lane, bytes (s0 s1 s2) of each 3-byte group become the 32-bit word
  // [s1 s0 s2 s1], so the 16-bit halves hold s0:s1 and s1:s2 big-endian.
  const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                          1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
  // Shift the four 6-bit fields a b c d into bytes 0..3 (a and c via mulhi, b and d via mullo).
  const __m256i mask_ac = _mm256_set1_epi32(0x0fc0fc00);
  const __m256i mul_ac = _mm256_set1_epi32(0x04000040);
  const __m256i mask_bd = _mm256_set1_epi32(0x003f03f0);
  const __m256i mul_bd = _mm256_set1_epi32(0x01000010);
  // 6-bit value -> ASCII offset: class 0 = 26..51 (+71), 1..10 = 52..61 (-4), 11 = 62 (-19),
  // 12 = 63 (-16), 13 = 0..25 (+65).
  const __m256i offsets =
      _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0,  //
                       71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
  const __m256i k51 = _mm256_set1_epi8(51);
  const __m256i k26 = _mm256_set1_epi8(26);
  const __m256i k13 = _mm256_set1_epi8(13);
  size_t i = 0;
  for (; i + 28 <= n; i += 24) {
    const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i));
    const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + i + 12));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
    v = _mm256_shuffle_epi8(v, spread);
    const __m256i ac = _mm256_mulhi_epu16(_mm256_and_si256(v, mask_ac), mul_ac);
    const __m256i bd = _mm256_mullo_epi16(_mm256_and_si256(v, mask_bd), mul_bd);
    const __m256i idx = _mm256_or_si256(ac, bd);
    __m256i cls = _mm256_subs_epu8(idx, k51);
    cls = _mm256_or_si256(cls, _mm256_and_si256(_mm256_cmpgt_epi8(k26, idx), k13));
    const __m256i chars = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, cls));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i / 3 * 4), chars);
  }
  return i;
}

// Decoder tables (same technique, same paper). Validation: a byte with high nibble h and low
// nibble l is in the alphabet iff kValidLo[l] & kValidHi[h] == 0. Each high nibble that can
// start an alphabet character gets a bit; kValidLo[l] has that bit set when (h, l) is NOT in the
// alphabet. Other high nibbles get bit 7, which every kValidLo entry has.
struct DecodeLuts {
  uint8_t lo[16];
  uint8_t hi[16];
};
constexpr DecodeLuts makeDecodeLuts() {
  DecodeLuts t{};
  for (int h = 0; h < 16; ++h) {
    t.hi[h] = (h >= 2 && h <= 7) ? static_cast<uint8_t>(1 << (h - 2)) : 0x80;
  }
  for (int l = 0; l < 16; ++l) {
    uint8_t bits = 0x80;
    for (int h = 2; h <= 7; ++h) {
      if (kReverse[static_cast<size_t>(h) * 16 + static_cast<size_t>(l)] == 0xff) {
        bits |= static_cast<uint8_t>(1 << (h - 2));
      }
    }
    t.lo[l] = bits;
  }
  return t;
}
constexpr DecodeLuts kDecodeLuts = makeDecodeLuts();

// Decodes 32 characters -> 24 bytes per step while at least `limit` characters remain before
// the end of the unpadded region. Returns the number of characters consumed (multiple of 32)
// or SIZE_MAX if a character outside the alphabet was seen.
__attribute__((target("avx2"))) size_t decodeAvx2(const uint8_t* s, size_t n,
                                                  uint8_t* out) noexcept {
  const __m256i lut_lo = _mm256_broadcastsi128_si256(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kDecodeLuts.lo)));
  const __m256i lut_hi = _mm256_broadcastsi128_si256(
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(kDecodeLuts.hi)));
  // Offset to add, by high nibble ('/' is steered to index 1 below): '/' +16, '+' +19,
  // digits +4, upper case -65, lower case -71.
  const __m256i lut_roll =
      _mm256_setr_epi8(0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0,  //
                       0, 16, 19, 4, -65, -65, -71, -71, 0, 0, 0, 0, 0, 0, 0, 0);
  const __m256i nibble = _mm256_set1_epi8(0x0f);
  const __m256i slash = _mm256_set1_epi8('/');
  const __m256i merge_pairs = _mm256_set1_epi32(0x01400140);  // a*64 + b, c*64 + d
  const __m256i merge_quads = _mm256_set1_epi32(0x00011000);  // ab*4096 + cd
  const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                                        2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(c, 4), nibble);
    const __m256i lo = _mm256_and_si256(c, nibble);
    const __m256i bad =
        _mm256_and_si256(_mm256_shuffle_epi8(lut_lo, lo), _mm256_shuffle_epi8(lut_hi, hi));
    if (!_mm256_testz_si256(bad, bad)) return SIZE_MAX;
    const __m256i roll =
        _mm256_shuffle_epi8(lut_roll, _mm256_add_epi8(hi, _mm256_cmpeq_epi8(c, slash)));
    const __m256i values = _mm256_add_epi8(c, roll);
    const __m256i pairs = _mm256_maddubs_epi16(values, merge_pairs);
    const __m256i quads = _mm256_madd_epi16(pairs, merge_quads);
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_shuffle_epi8(quads, pack), lanes);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i / 4 * 3), _mm256_castsi256_si128(bytes));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(out + i / 4 * 3 + 16),
                     _mm256_extracti128_si256(bytes, 1));
  }
  return i;
}

bool haveAvx2() noexcept {
  static const bool kHave = __builtin_cpu_supports("avx2");
  return kHave;
}
#endif

bool isSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

void base64EncodeTo(const uint8_t* data, size_t n, char* out) noexcept {
  size_t i = 0;
#if COSMOSEAL_BASE64_AVX2
  if (n >= 28 && haveAvx2()) {
    i = encodeAvx2(data, n, out);
    out += i / 3 * 4;
  }
#endif
  // 6 input bytes -> 8 characters per step, reading 8 bytes (so 2 bytes of look-ahead) and
  // writing one 64-bit word. Byte order: the first input byte holds the top bits.
  for (; i + 8 <= n; i += 6) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    w = __builtin_bswap64(w);
    const uint64_t chars =
        uint64_t{kPairs[(w >> 52) & 0xfff]} | (uint64_t{kPairs[(w >> 40) & 0xfff]} << 16) |
        (uint64_t{kPairs[(w >> 28) & 0xfff]} << 32) | (uint64_t{kPairs[(w >> 16) & 0xfff]} << 48);
    std::memcpy(out, &chars, 8);
    out += 8;
  }
  for (; i + 3 <= n; i += 3) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = kAlphabet[v & 63];
    out += 4;
  }
  const size_t rest = n - i;
  if (rest == 1) {
    const uint32_t v = uint32_t{data[i]} << 16;
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = '=';
    out[3] = '=';
  } else if (rest == 2) {
    const uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out[0] = kAlphabet[v >> 18];
    out[1] = kAlphabet[(v >> 12) & 63];
    out[2] = kAlphabet[(v >> 6) & 63];
    out[3] = '=';
  }
}

void base64Append(std::span<const uint8_t> data, std::string* out) {
  const size_t old = out->size();
  out->resize(old + base64EncodedSize(data.size()));
  base64EncodeTo(data.data(), data.size(), out->data() + old);
}

std::string base64Encode(std::span<const uint8_t> data) {
  std::string out;
  base64Append(data, &out);
  return out;
}

std::string base64Encode(std::string_view data) {
  return base64Encode(
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
}

bool base64DecodeTo(std::string_view in, uint8_t* out, size_t* out_len) noexcept {
  *out_len = 0;
  const size_t n = in.size();
  if (n % 4 != 0) return false;
  if (n == 0) return true;
  const auto* s = reinterpret_cast<const uint8_t*>(in.data());
  size_t o = 0;
  // Every quad but the last has no padding.
  const size_t full = n - 4;
  size_t i = 0;
#if COSMOSEAL_BASE64_AVX2
  if (full >= 32 && haveAvx2()) {
    i = decodeAvx2(s, full, out);
    if (i == SIZE_MAX) return false;
    o = i / 4 * 3;
  }
#endif
  // Every quad here is followed by the last quad, which writes at least one byte at out[o + 3]:
  // so each may store 4 bytes (one 32-bit store; the 4th byte is overwritten next).
  for (; i < full; i += 4) {
    const uint32_t v = kDec0[s[i]] | kDec1[s[i + 1]] | kDec2[s[i + 2]] | kDec3[s[i + 3]];
    if (v & kInvalid) return false;
    const uint32_t be = __builtin_bswap32(v << 8);
    std::memcpy(out + o, &be, 4);
    o += 3;
  }
  const uint8_t* q = s + full;
  const uint8_t a = kReverse[q[0]], b = kReverse[q[1]];
  if ((a | b) & 0xc0) return false;
  if (q[2] == '=') {
    // "xx==": one byte; the low 4 bits of b are unused and must be zero.
    if (q[3] != '=' || (b & 0x0f) != 0) return false;
    out[o++] = static_cast<uint8_t>((a << 2) | (b >> 4));
  } else if (q[3] == '=') {
    // "xxx=": two bytes; the low 2 bits of c are unused and must be zero.
    const uint8_t c = kReverse[q[2]];
    if ((c & 0xc0) || (c & 0x03) != 0) return false;
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6);
    out[o++] = static_cast<uint8_t>(v >> 16);
    out[o++] = static_cast<uint8_t>(v >> 8);
  } else {
    const uint8_t c = kReverse[q[2]], d = kReverse[q[3]];
    if ((c | d) & 0xc0) return false;
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    out[o++] = static_cast<uint8_t>(v >> 16);
    out[o++] = static_cast<uint8_t>(v >> 8);
    out[o++] = static_cast<uint8_t>(v);
  }
  *out_len = o;
  return true;
}

common::StatusOr<std::string> base64Decode(std::string_view in) {
  std::string out(base64DecodedMaxSize(in.size()), '\0');
  size_t len = 0;
  if (!base64DecodeTo(in, reinterpret_cast<uint8_t*>(out.data()), &len)) {
    return common::Status(common::Code::kInvalidArgument, crypto_detail::kBadBase64,
                          "not canonical base64 (standard alphabet, '=' padding, no whitespace)");
  }
  out.resize(len);
  return out;
}

common::StatusOr<common::SecretBytes> decodeKeyText(std::string_view text) {
  size_t b = 0, e = text.size();
  while (b < e && isSpace(text[b])) ++b;
  while (e > b && isSpace(text[e - 1])) --e;
  const std::string_view body = text.substr(b, e - b);
  if (body.empty()) {
    return common::failedPrecondition(crypto_detail::kBadKey, "the key is empty");
  }
  // Decode straight into locked, zeroizing memory; copy the exact length into the result. The
  // scratch is zeroized by its destructor on every path.
  common::SecretBytes scratch(base64DecodedMaxSize(body.size()));
  size_t len = 0;
  if (!base64DecodeTo(body, scratch.data(), &len) || len == 0) {
    return common::failedPrecondition(
        crypto_detail::kBadKey,
        "the key is not valid base64 (standard alphabet with '=' padding, one line, "
        "no spaces inside)");
  }
  return common::SecretBytes::copyOf(std::span<const uint8_t>(scratch.data(), len));
}

}  // namespace cosmoseal::crypto
