#include "bench/harness/options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace cosmoseal::bench {

namespace {

bool parseDouble(std::string_view text, double* out) {
  if (text.empty() || text.size() > 40) return false;
  const std::string s(text);
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

bool parseUint(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

bool parseDuration(std::string_view text, uint64_t* ns) {
  struct Unit {
    std::string_view suffix;
    double ns;
  };
  static constexpr Unit kUnits[] = {{"ms", 1e6}, {"us", 1e3}, {"ns", 1.0},
                                    {"s", 1e9},  {"m", 60e9}, {"h", 3600e9}};
  double mult = 1e9;
  for (const Unit& u : kUnits) {
    if (endsWith(text, u.suffix)) {
      text.remove_suffix(u.suffix.size());
      mult = u.ns;
      break;
    }
  }
  double v;
  if (!parseDouble(text, &v)) return false;
  const double total = v * mult;
  if (total > 7.0 * 24 * 3600e9) return false;
  *ns = static_cast<uint64_t>(total);
  return true;
}

bool parseSize(std::string_view text, uint64_t* bytes) {
  uint64_t mult = 1;
  std::string lower;
  for (char c : text) lower.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
  std::string_view t = lower;
  for (std::string_view suffix : {"kib", "kb", "k"}) {
    if (endsWith(t, suffix)) {
      t.remove_suffix(suffix.size());
      mult = 1024;
      break;
    }
  }
  if (mult == 1) {
    for (std::string_view suffix : {"mib", "mb", "m"}) {
      if (endsWith(t, suffix)) {
        t.remove_suffix(suffix.size());
        mult = 1024 * 1024;
        break;
      }
    }
  }
  if (mult == 1 && endsWith(t, "b")) t.remove_suffix(1);
  double v;
  if (!parseDouble(t, &v)) return false;
  *bytes = static_cast<uint64_t>(v * static_cast<double>(mult));
  return true;
}

bool parseRate(std::string_view text, double* out) {
  if (endsWith(text, "/s")) text.remove_suffix(2);
  return parseDouble(text, out);
}

std::vector<std::string> splitList(std::string_view text, char sep) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const size_t at = text.find(sep);
    std::string_view item = text.substr(0, at);
    if (!item.empty()) out.emplace_back(item);
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

bool ArgReader::next() {
  if (++i_ >= argc_) return false;
  std::string_view a = argv_[i_];
  has_inline_ = false;
  inline_value_.clear();
  is_option_ = a.size() > 1 && a[0] == '-';
  if (is_option_ && a.substr(0, 2) == "--") {
    const size_t eq = a.find('=');
    if (eq != std::string_view::npos) {
      inline_value_ = std::string(a.substr(eq + 1));
      has_inline_ = true;
      a = a.substr(0, eq);
    }
  }
  name_ = std::string(a);
  return true;
}

bool ArgReader::value(std::string* out) {
  if (has_inline_) {
    *out = inline_value_;
    return true;
  }
  if (i_ + 1 >= argc_) return false;
  *out = argv_[++i_];
  return true;
}

}  // namespace cosmoseal::bench
