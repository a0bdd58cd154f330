#pragma once

// HeaderMap: an ordered list of HTTP header fields with case-insensitive lookup.
// Names keep the case they arrived with (they are re-emitted as received; HTTP/1.1 names are
// case-insensitive). Values are stored without leading/trailing whitespace. Duplicates are kept
// in order: callers that must reject duplicates (Content-Length) use count().

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::common {

// ASCII-only case-insensitive comparison (header names are tokens).
bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;
// Lower-cases ASCII letters.
std::string toLowerAscii(std::string_view s);

struct Header {
  std::string name;
  std::string value;
};

class HeaderMap {
 public:
  void add(std::string_view name, std::string_view value);
  // Replaces every field named `name` with one field (appended if absent).
  void set(std::string_view name, std::string_view value);
  // Removes every field named `name`; returns how many were removed.
  size_t remove(std::string_view name);

  // First value of `name`, or nullptr.
  const std::string* get(std::string_view name) const noexcept;
  // First value of `name`, or `fallback`.
  std::string_view getOr(std::string_view name, std::string_view fallback) const noexcept;
  bool has(std::string_view name) const noexcept { return get(name) != nullptr; }
  size_t count(std::string_view name) const noexcept;

  const std::vector<Header>& fields() const noexcept { return fields_; }
  size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<Header> fields_;
};

}  // namespace cosmoseal::common
