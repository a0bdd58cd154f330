#include "crypto/base64.h"

#include <array>

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

bool isSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

void base64EncodeTo(const uint8_t* data, size_t n, char* out) noexcept {
  size_t i = 0;
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
  for (size_t i = 0; i < full; i += 4) {
    const uint8_t a = kReverse[s[i]], b = kReverse[s[i + 1]], c = kReverse[s[i + 2]],
                  d = kReverse[s[i + 3]];
    if ((a | b | c | d) & 0xc0) return false;
    const uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    out[o] = static_cast<uint8_t>(v >> 16);
    out[o + 1] = static_cast<uint8_t>(v >> 8);
    out[o + 2] = static_cast<uint8_t>(v);
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
    return common::Status(common::Code::kInvalidArgument, "crypto.bad_base64",
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
    return common::failedPrecondition("keys.bad_key", "the key is empty");
  }
  // Decode straight into locked, zeroizing memory; copy the exact length into the result. The
  // scratch is zeroized by its destructor on every path.
  common::SecretBytes scratch(base64DecodedMaxSize(body.size()));
  size_t len = 0;
  if (!base64DecodeTo(body, scratch.data(), &len) || len == 0) {
    return common::failedPrecondition(
        "keys.bad_key",
        "the key is not valid base64 (standard alphabet with '=' padding, one line, "
        "no spaces inside)");
  }
  return common::SecretBytes::copyOf(std::span<const uint8_t>(scratch.data(), len));
}

}  // namespace cosmoseal::crypto
