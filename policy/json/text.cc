#include "policy/json/text.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <system_error>

#include "common/text.h"
#include "policy/json/details.h"

namespace cosmoseal::policy {

namespace jd = json_detail;

using common::Code;
using common::Status;

namespace {

Status badString(std::string msg) {
  return Status(Code::kInvalidArgument, jd::kBadString, std::move(msg));
}

int hexValueImpl(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool read4Hex(std::string_view s, size_t at, uint32_t* out) noexcept {
  if (at + 4 > s.size()) return false;
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    int h = hexDigitValue(s[at + i]);
    if (h < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(h);
  }
  *out = v;
  return true;
}

}  // namespace

int hexDigitValue(char c) noexcept { return hexValueImpl(c); }

void appendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool isJsonNumber(std::string_view s) noexcept {
  size_t i = 0;
  auto digit = [&](size_t k) { return k < s.size() && s[k] >= '0' && s[k] <= '9'; };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    while (digit(i)) ++i;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digit(i)) return false;
    while (digit(i)) ++i;
  }
  return i == s.size();
}

namespace {

// For a valid JSON number that from_chars reports out of range: true if its magnitude is too
// large for a double (overflow), false if too small (underflow). The decimal exponent of the
// first non-zero significant digit decides; the exponent saturates so huge ones cannot overflow.
bool overflowsDouble(std::string_view tok) noexcept {
  size_t i = tok.empty() || tok[0] != '-' ? 0 : 1;
  int64_t int_digits = 0;  // digits before the point, counted from the first non-zero digit
  int64_t lead_zeros = 0;  // zeros after the point before the first non-zero digit
  bool seen_nonzero = false;
  for (; i < tok.size() && tok[i] >= '0' && tok[i] <= '9'; ++i) {
    seen_nonzero = seen_nonzero || tok[i] != '0';
    if (seen_nonzero) ++int_digits;
  }
  if (i < tok.size() && tok[i] == '.') {
    for (++i; i < tok.size() && tok[i] >= '0' && tok[i] <= '9'; ++i) {
      if (!seen_nonzero && tok[i] == '0') ++lead_zeros;
      seen_nonzero = seen_nonzero || tok[i] != '0';
    }
  }
  int64_t exp = 0;
  if (i < tok.size() && (tok[i] == 'e' || tok[i] == 'E')) {
    ++i;
    const bool neg = i < tok.size() && tok[i] == '-';
    if (i < tok.size() && (tok[i] == '+' || tok[i] == '-')) ++i;
    for (; i < tok.size(); ++i) exp = std::min<int64_t>(exp * 10 + (tok[i] - '0'), 1'000'000'000);
    if (neg) exp = -exp;
  }
  // The first significant digit stands for 10^(int_digits - 1) or 10^-(lead_zeros + 1).
  const int64_t lead = int_digits > 0 ? int_digits - 1 : -(lead_zeros + 1);
  return lead + exp >= 0;
}

}  // namespace

Status appendCanonicalNumber(std::string_view token, std::string* out) {
  if (!isJsonNumber(token)) {
    return Status(Code::kInvalidArgument, jd::kBadJson, "not a JSON number");
  }
  double v = 0;
  const auto parsed = std::from_chars(token.data(), token.data() + token.size(), v);
  if (parsed.ec == std::errc::result_out_of_range) {
    if (overflowsDouble(token)) {
      return Status(Code::kInvalidArgument, jd::kNumberOutOfRange,
                    "a number for a deterministic field is beyond the range of an IEEE-754 double "
                    "(|x| <= 1.7976931348623157e308), which is how Cosmos DB stores and compares "
                    "numbers; expected a number within that range");
    }
    v = 0;  // underflow: the nearest double is zero
  } else if (parsed.ec != std::errc() || parsed.ptr != token.data() + token.size()) {
    return Status(Code::kInvalidArgument, jd::kBadJson, "not a JSON number");
  }
  if (v == 0) {  // 0 and -0 are equal in Cosmos
    out->push_back('0');
    return Status::ok();
  }
  if (v < 0) {
    out->push_back('-');
    v = -v;
  }
  // Shortest round-trip digits and the exponent: "d.ddde+XX" (or "de+XX").
  char sci[40];
  const auto w = std::to_chars(sci, sci + sizeof(sci), v, std::chars_format::scientific);
  const std::string_view s(sci, static_cast<size_t>(w.ptr - sci));
  const size_t e_at = s.find('e');
  std::string digits;
  digits.reserve(20);
  for (size_t i = 0; i < e_at; ++i) {
    if (s[i] != '.') digits.push_back(s[i]);
  }
  int e10 = 0;
  std::from_chars(s.data() + e_at + (s[e_at + 1] == '+' ? 2 : 1), s.data() + s.size(), e10);
  // ECMAScript Number::toString: k digits, value = 0.d1d2..dk * 10^n.
  const int k = static_cast<int>(digits.size());
  const int n = e10 + 1;
  if (k <= n && n <= 21) {
    out->append(digits);
    out->append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out->append(digits, 0, static_cast<size_t>(n));
    out->push_back('.');
    out->append(digits, static_cast<size_t>(n));
  } else if (-6 < n && n <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-n), '0');
    out->append(digits);
  } else {
    out->push_back(digits[0]);
    if (k > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    out->push_back('e');
    out->push_back(n - 1 < 0 ? '-' : '+');
    out->append(std::to_string(n - 1 < 0 ? 1 - n : n - 1));
  }
  return Status::ok();
}

bool isValidUtf8(std::string_view s) noexcept {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

Status unescapeJsonString(std::string_view token, std::string* out) {
  if (token.size() < 2 || token.front() != '"' || token.back() != '"') {
    return badString("not a JSON string token");
  }
  std::string_view s = token.substr(1, token.size() - 2);
  const size_t start = out->size();
  size_t run = 0;  // start of the current run of plain bytes
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20) return badString("raw control character in a string");
    if (c == '"') return badString("unescaped quote in a string");
    if (c != '\\') {
      ++i;
      continue;
    }
    out->append(s.data() + run, i - run);
    if (i + 1 >= s.size()) return badString("dangling backslash in a string");
    const char e = s[i + 1];
    switch (e) {
      case '"': out->push_back('"'); i += 2; break;
      case '\\': out->push_back('\\'); i += 2; break;
      case '/': out->push_back('/'); i += 2; break;
      case 'b': out->push_back('\b'); i += 2; break;
      case 'f': out->push_back('\f'); i += 2; break;
      case 'n': out->push_back('\n'); i += 2; break;
      case 'r': out->push_back('\r'); i += 2; break;
      case 't': out->push_back('\t'); i += 2; break;
      case 'u': {
        uint32_t cp;
        if (!read4Hex(s, i + 2, &cp)) return badString("bad \\u escape in a string");
        i += 6;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return badString("lone low surrogate in a string");
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (i + 1 >= s.size() || s[i] != '\\' || s[i + 1] != 'u' || !read4Hex(s, i + 2, &lo) ||
              lo < 0xDC00 || lo > 0xDFFF) {
            return badString("lone high surrogate in a string");
          }
          i += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        appendUtf8(cp, out);
        break;
      }
      default:
        return badString("unknown escape in a string");
    }
    run = i;
  }
  out->append(s.data() + run, s.size() - run);
  if (!isValidUtf8(std::string_view(*out).substr(start))) {
    out->resize(start);
    return badString("invalid UTF-8 in a string");
  }
  return Status::ok();
}

void appendCanonicalJsonString(std::string_view value, std::string* out) {
  out->push_back('"');
  common::appendJsonEscaped(out, value);
  out->push_back('"');
}

common::StatusOr<std::string> canonicalStringToken(std::string_view token) {
  std::string value;
  Status s = unescapeJsonString(token, &value);
  if (!s.isOk()) return s;
  std::string out;
  out.reserve(value.size() + 2);
  appendCanonicalJsonString(value, &out);
  return out;
}

}  // namespace cosmoseal::policy
