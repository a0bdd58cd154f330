#include "common/headers.h"

#include <algorithm>

namespace cosmoseal::common {
namespace {
inline char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string toLowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

void HeaderMap::add(std::string_view name, std::string_view value) {
  fields_.push_back(Header{std::string(name), std::string(value)});
}

void HeaderMap::set(std::string_view name, std::string_view value) {
  remove(name);
  add(name, value);
}

size_t HeaderMap::remove(std::string_view name) {
  auto it = std::remove_if(fields_.begin(), fields_.end(),
                           [&](const Header& h) { return equalsIgnoreCase(h.name, name); });
  size_t n = static_cast<size_t>(fields_.end() - it);
  fields_.erase(it, fields_.end());
  return n;
}

const std::string* HeaderMap::get(std::string_view name) const noexcept {
  for (const Header& h : fields_) {
    if (equalsIgnoreCase(h.name, name)) return &h.value;
  }
  return nullptr;
}

std::string_view HeaderMap::getOr(std::string_view name, std::string_view fallback) const noexcept {
  const std::string* v = get(name);
  return v ? std::string_view(*v) : fallback;
}

size_t HeaderMap::count(std::string_view name) const noexcept {
  size_t n = 0;
  for (const Header& h : fields_) {
    if (equalsIgnoreCase(h.name, name)) ++n;
  }
  return n;
}

}  // namespace cosmoseal::common
