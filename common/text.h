#pragma once

// Small ASCII text helpers shared by every module (one copy each; see docs/ARCHITECTURE.md).
// All are locale-independent: HTTP tokens, Cosmos resource types and SQL keywords are ASCII.

#include <string>
#include <string_view>

namespace cosmoseal::common {

// 'A'..'Z' -> 'a'..'z'; every other byte unchanged.
constexpr char lowerAscii(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

// 'a'..'z' -> 'A'..'Z'; every other byte unchanged.
constexpr char upperAscii(char c) noexcept {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - ('a' - 'A')) : c;
}

// ASCII-only case-insensitive comparison (header names are tokens).
bool equalsIgnoreCase(std::string_view a, std::string_view b) noexcept;
// <0, 0, >0 like strcmp, ignoring ASCII case.
int compareIgnoreCase(std::string_view a, std::string_view b) noexcept;
// Lower-cases ASCII letters.
std::string toLowerAscii(std::string_view s);
// Upper-cases ASCII letters (hex spellings such as effective partition keys).
std::string toUpperAscii(std::string_view s);
// Appends `s` with ASCII letters lower-cased.
void appendLowerAscii(std::string* out, std::string_view s);

// Strips HTTP optional white space (SP and HTAB, RFC 9110 §5.6.3) from both ends.
std::string_view trimOws(std::string_view s) noexcept;

// Appends `s` as the inside of a JSON string (no quotes): '"' and '\\' escaped, \b \f \n \r \t by
// their short forms, other bytes below 0x20 as \u00XX (lower-case hex), everything else as is.
// This is the canonical spelling deterministic sealing relies on (policy/json/text.h): do not
// change the output for any input.
void appendJsonEscaped(std::string* out, std::string_view s);

}  // namespace cosmoseal::common
