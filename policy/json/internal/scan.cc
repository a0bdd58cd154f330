#include "policy/json/internal/scan.h"

#include <simdjson.h>

#include <cstring>
#include <string>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "policy/json/details.h"

namespace cosmoseal::policy::internal {

namespace jd = json_detail;

using common::Code;
using common::Status;

namespace {

Status badJson(std::string_view what, size_t at) {
  return Status(Code::kInvalidArgument, jd::kBadJson,
                std::string(what) + " at byte " + std::to_string(at) +
                    "; expected one complete, valid JSON value (RFC 8259)");
}

Status badString(std::string_view what, size_t at) {
  return Status(Code::kInvalidArgument, jd::kBadString,
                std::string(what) + " in a string at byte " + std::to_string(at) +
                    "; expected valid JSON string escapes and UTF-8");
}

inline bool isWs(unsigned char c) noexcept {
  // One compare for the common case (minified JSON has no whitespace between tokens).
  return c <= ' ' && (c == ' ' || c == '\n' || c == '\r' || c == '\t');
}

inline bool isDigit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }

inline int hexValue(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (p + 4 <= end checked by the caller). -1 if not hex.
inline int32_t hex4(const unsigned char* p) noexcept {
  int32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hexValue(p[i]);
    if (h < 0) return -1;
    v = (v << 4) | h;
  }
  return v;
}

// Advances p to the first byte in [p, end) that is '"', '\\' or a control character (< 0x20);
// returns end if there is none.
inline const unsigned char* findStringSpecial(const unsigned char* p,
                                              const unsigned char* end) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i ctl_max = _mm_set1_epi8(0x1f);
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // v <= 0x1f (unsigned)  <=>  max(v, 0x1f) == 0x1f
    const __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, ctl_max), ctl_max);
    const __m128i hit =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)), ctl);
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(hit));
    if (mask != 0) return p + __builtin_ctz(mask);
    p += 16;
  }
#endif
  while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) ++p;
  return p;
}

// Fast path for the common string: p is just past the opening quote, and the closing quote is
// the first '"', '\\' or control character within the next 16 bytes. Returns the position just
// past it, or nullptr when the general scanner must decide.
inline const unsigned char* shortPlainString(const unsigned char* p,
                                             const unsigned char* end) noexcept {
#if defined(__SSE2__)
  if (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i ctl_max = _mm_set1_epi8(0x1f);
    const __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, ctl_max), ctl_max);
    const __m128i special = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
        ctl);
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    if (mask != 0) {
      const unsigned char* q = p + __builtin_ctz(mask);
      if (*q == '"') return q + 1;
    }
    return nullptr;
  }
#endif
  (void)p;
  (void)end;
  return nullptr;
}

// p is just past an opening quote. Returns the position just past the closing quote, or nullptr
// with *err set.
const unsigned char* scanString(const unsigned char* begin, const unsigned char* p,
                                const unsigned char* end, Status* err) {
  auto at = [&](const unsigned char* q) { return static_cast<size_t>(q - begin); };
  for (;;) {
    p = findStringSpecial(p, end);
    if (p == end) {
      *err = badJson("unterminated string", at(p));
      return nullptr;
    }
    if (*p == '"') return p + 1;
    if (*p < 0x20) {
      *err = badString("raw control character", at(p));
      return nullptr;
    }
    // A backslash.
    if (end - p < 2) {
      *err = badString("dangling backslash", at(p));
      return nullptr;
    }
    const unsigned char e = p[1];
    if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
        e == 't') {
      p += 2;
      continue;
    }
    if (e != 'u') {
      *err = badString("unknown escape", at(p));
      return nullptr;
    }
    const int32_t cp = end - p >= 6 ? hex4(p + 2) : -1;
    if (cp < 0) {
      *err = badString("bad \\u escape", at(p));
      return nullptr;
    }
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
      *err = badString("lone low surrogate", at(p));
      return nullptr;
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      const int32_t lo = (end - p >= 12 && p[6] == '\\' && p[7] == 'u') ? hex4(p + 8) : -1;
      if (lo < 0xDC00 || lo > 0xDFFF) {
        *err = badString("lone high surrogate", at(p));
        return nullptr;
      }
      p += 12;
    } else {
      p += 6;
    }
  }
}

}  // namespace

Status validateJson(std::string_view text, size_t max_depth) {
  if (max_depth > kMaxJsonDepth) max_depth = kMaxJsonDepth;
  const auto* const begin = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* const end = begin + text.size();
  auto at = [&](const unsigned char* p) { return static_cast<size_t>(p - begin); };

  if (text.size() >= 3 && begin[0] == 0xEF && begin[1] == 0xBB && begin[2] == 0xBF) {
    return badJson("byte order mark", 0);
  }
  if (!simdjson::validate_utf8(text.data(), text.size())) return badJson("invalid UTF-8", 0);

  // Bit d of `is_object` says whether the container at depth d+1 is an object.
  uint64_t is_object = 0;
  size_t depth = 0;
  const unsigned char* p = begin;
  while (p < end && isWs(*p)) ++p;
  if (p == end) return badJson("empty body", at(p));

  enum class State { kValue, kKey, kAfterValue };
  State state = State::kValue;
  for (;;) {
    switch (state) {
      case State::kValue: {
        if (p == end) return badJson("unexpected end of input, expected a value", at(p));
        const unsigned char c = *p;
        if (c == '{' || c == '[') {
          if (depth >= max_depth) {
            return Status(Code::kInvalidArgument, jd::kTooDeep,
                          "JSON nesting deeper than " + std::to_string(max_depth) +
                              " levels at byte " + std::to_string(at(p)) + "; expected at most " +
                              std::to_string(max_depth));
          }
          const uint64_t bit = uint64_t{1} << depth;
          is_object = c == '{' ? (is_object | bit) : (is_object & ~bit);
          ++depth;
          ++p;
          while (p < end && isWs(*p)) ++p;
          if (p < end && *p == static_cast<unsigned char>(c == '{' ? '}' : ']')) {
            ++p;
            --depth;
            state = State::kAfterValue;
          } else {
            state = c == '{' ? State::kKey : State::kValue;
          }
          continue;
        }
        if (c == '"') {
          const unsigned char* q = shortPlainString(p + 1, end);
          if (q != nullptr) {
            p = q;
            state = State::kAfterValue;
            continue;
          }
          Status err;
          p = scanString(begin, p + 1, end, &err);
          if (p == nullptr) return err;
          state = State::kAfterValue;
          continue;
        }
        if (c == '-' || isDigit(c)) {
          const unsigned char* start = p;
          if (*p == '-') ++p;
          if (p == end || !isDigit(*p)) return badJson("bad number", at(start));
          if (*p == '0') {
            ++p;
          } else {
            while (p < end && isDigit(*p)) ++p;
          }
          if (p < end && *p == '.') {
            ++p;
            if (p == end || !isDigit(*p)) return badJson("bad number fraction", at(start));
            while (p < end && isDigit(*p)) ++p;
          }
          if (p < end && (*p == 'e' || *p == 'E')) {
            ++p;
            if (p < end && (*p == '+' || *p == '-')) ++p;
            if (p == end || !isDigit(*p)) return badJson("bad number exponent", at(start));
            while (p < end && isDigit(*p)) ++p;
          }
          state = State::kAfterValue;
          continue;
        }
        std::string_view lit;
        if (c == 't') {
          lit = "true";
        } else if (c == 'f') {
          lit = "false";
        } else if (c == 'n') {
          lit = "null";
        } else {
          return badJson("unexpected character", at(p));
        }
        if (static_cast<size_t>(end - p) < lit.size() ||
            std::memcmp(p, lit.data(), lit.size()) != 0) {
          return badJson("bad literal", at(p));
        }
        p += lit.size();
        state = State::kAfterValue;
        continue;
      }
      case State::kKey: {
        // A member name: a string, then ':', then a value.
        if (p == end || *p != '"') return badJson("expected a member name", at(p));
        state = State::kValue;
        const unsigned char* q = shortPlainString(p + 1, end);
        if (q != nullptr) {
          p = q;
        } else {
          Status err;
          p = scanString(begin, p + 1, end, &err);
          if (p == nullptr) return err;
        }
        while (p < end && isWs(*p)) ++p;
        if (p == end || *p != ':') return badJson("expected ':' after a member name", at(p));
        ++p;
        while (p < end && isWs(*p)) ++p;
        continue;
      }
      case State::kAfterValue: {
        while (p < end && isWs(*p)) ++p;
        if (depth == 0) {
          if (p != end) return badJson("trailing content after the JSON value", at(p));
          return Status::ok();
        }
        if (p == end) return badJson("unexpected end of input inside a container", at(p));
        const bool in_object = (is_object >> (depth - 1)) & 1;
        if (*p == ',') {
          ++p;
          while (p < end && isWs(*p)) ++p;
          state = in_object ? State::kKey : State::kValue;
          continue;
        }
        if (*p == static_cast<unsigned char>(in_object ? '}' : ']')) {
          ++p;
          --depth;
          continue;  // still kAfterValue
        }
        return badJson(in_object ? "expected ',' or '}'" : "expected ',' or ']'", at(p));
      }
    }
  }
}

namespace {

// p points at a '"' inside [begin, end). True if it is preceded by an odd number of backslashes.
inline bool quoteIsEscaped(const char* begin, const char* p) noexcept {
  size_t n = 0;
  while (p > begin && p[-1] == '\\') {
    --p;
    ++n;
  }
  return (n & 1) != 0;
}

constexpr char kNeedle[] = "\"csx1:";
constexpr size_t kNeedleSize = sizeof(kNeedle) - 1;

// q points at `"csx1:`. Finds the closing quote; appends the string unless unterminated.
inline void recordAt(const char* begin, const char* end, const char* q,
                     std::vector<EnvelopeString>* out) {
  if (quoteIsEscaped(begin, q)) return;
  const char* p = q + kNeedleSize;
  bool esc = false;
#if defined(__SSE2__)
  // Envelope text is base64: find the first '"' or '\\' 16 bytes at a time.
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const unsigned mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(
        _mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));
    if (mask != 0) {
      p += __builtin_ctz(mask);
      break;
    }
    p += 16;
  }
#endif
  while (p < end) {
    const char c = *p;
    if (c == '"') break;
    if (c == '\\') {
      esc = true;
      p += 2;
      continue;
    }
    ++p;
  }
  if (p >= end) return;  // unterminated (invalid JSON)
  ++p;                   // past the closing quote
  const char* n = p;
  while (n < end && isWs(static_cast<unsigned char>(*n))) ++n;
  EnvelopeString s;
  s.begin = static_cast<size_t>(q - begin);
  s.end = static_cast<size_t>(p - begin);
  s.has_escape = esc;
  s.is_key = n < end && *n == ':';
  out->push_back(s);
}

inline bool needleAt(const char* p, const char* end) noexcept {
  return end - p >= static_cast<ptrdiff_t>(kNeedleSize) &&
         std::memcmp(p, kNeedle, kNeedleSize) == 0;
}

}  // namespace

void findEnvelopeStrings(std::string_view text, std::vector<EnvelopeString>* out) {
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  const char* p = begin;
  // Hits never overlap, even on invalid JSON: a candidate inside the previous hit is skipped.
  const char* next_allowed = begin;
  auto consider = [&](const char* q) {
    if (q < next_allowed || !needleAt(q, end)) return;
    const size_t before = out->size();
    recordAt(begin, end, q, out);
    if (out->size() != before) next_allowed = begin + out->back().end;
  };
#if defined(__SSE2__)
  // Candidates: a '"' immediately followed by 'c' (two overlapping loads), then the full
  // needle is compared. On JSON text this pair is rare (keys and values starting with 'c').
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i c = _mm_set1_epi8('c');
  while (end - p >= 17) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 1));
    unsigned mask = static_cast<unsigned>(
        _mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, quote), _mm_cmpeq_epi8(b, c))));
    while (mask != 0) {
      const char* q = p + __builtin_ctz(mask);
      mask &= mask - 1;
      consider(q);
    }
    p += 16;
  }
#endif
  for (; end - p >= static_cast<ptrdiff_t>(kNeedleSize); ++p) {
    if (p[0] == '"' && p[1] == 'c') consider(p);
  }
}

}  // namespace cosmoseal::policy::internal
