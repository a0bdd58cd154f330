#include "proxy/config/units.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace cosmoseal::proxy {
namespace {

constexpr uint64_t kMaxDurationMs = 7ull * 24 * 3600 * 1000;

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits "250ms" into ("250", "ms").
std::pair<std::string_view, std::string_view> splitUnit(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return {s.substr(0, i), s.substr(i)};
}

}  // namespace

bool parseU64(std::string_view s, uint64_t* out) {
  if (!allDigits(s) || s.size() > 20) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

bool parseDuration(std::string_view text, std::chrono::milliseconds* out) {
  auto [digits, unit] = splitUnit(text);
  uint64_t n = 0;
  if (!parseU64(digits, &n)) return false;
  uint64_t mult;
  if (unit.empty() || unit == "ms") {
    mult = 1;
  } else if (unit == "s") {
    mult = 1000;
  } else if (unit == "m") {
    mult = 60 * 1000;
  } else if (unit == "h") {
    mult = 3600 * 1000;
  } else {
    return false;
  }
  if (n > kMaxDurationMs / mult) return false;
  *out = std::chrono::milliseconds(static_cast<int64_t>(n * mult));
  return true;
}

bool parseSize(std::string_view text, uint64_t* out) {
  auto [digits, unit] = splitUnit(text);
  uint64_t n = 0;
  if (!parseU64(digits, &n)) return false;
  uint64_t mult;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB") {
    mult = 1ull << 10;
  } else if (unit == "MiB") {
    mult = 1ull << 20;
  } else if (unit == "GiB") {
    mult = 1ull << 30;
  } else {
    return false;
  }
  if (n > UINT64_MAX / mult) return false;
  *out = n * mult;
  return true;
}

}  // namespace cosmoseal::proxy
