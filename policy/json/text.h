#pragma once

// JSON string-token helpers shared by the transform engine and the query rewriter.
//
// Deterministic encryption must give equal ciphertext for equal JSON values, wherever they are
// written: a document body may spell a string "é" while the SDK's partition-key header spells it
// "\u00e9", and a SQL literal spells it 'é'. So deterministic plaintexts use the CANONICAL token:
// the string is unescaped and re-escaped in one fixed form. (Randomized encryption keeps the raw
// token, byte for byte.)
//
// Canonical form: the value's UTF-8 bytes between quotes; only '"' '\\' and control characters
// are escaped ("\b \f \n \r \t" short forms, other controls as \u00XX with lower-case hex);
// '/' and every non-ASCII character are written as they are.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cosmoseal::policy {

// Unescapes a JSON string token INCLUDING its quotes into UTF-8. Rejects bad escapes, lone or
// mis-ordered surrogates, raw control characters and invalid UTF-8 (detail `policy.bad_string`).
common::Status unescapeJsonString(std::string_view token, std::string* out);

// Appends the canonical JSON string token (with quotes) for UTF-8 `value` (assumed valid).
void appendCanonicalJsonString(std::string_view value, std::string* out);

// Canonical form of a JSON string token (with quotes). Errors as unescapeJsonString.
common::StatusOr<std::string> canonicalStringToken(std::string_view token);

// True if `s` is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool isValidUtf8(std::string_view s) noexcept;

// Appends the canonical spelling of the JSON number token `token` (a valid RFC 8259 number, see
// isJsonNumber) to *out. Cosmos DB compares numbers as IEEE-754 doubles (5, 5.0, 5e0 and 500e-2
// are equal; so are 0 and -0), so deterministic sealing must seal a function of the double, not
// of the spelling. The canonical spelling is the one ECMAScript's Number::toString gives (what
// the JS SDK and the service write): the shortest digits that round-trip, plain notation for
// 1e-7 < |x| < 1e21 (`5`, `0.5`, `12345678901234567000`), otherwise `d.ddde+NN` / `de-NN`; the
// value is rounded to the nearest double first (integers beyond 2^53 as the service rounds
// them), -0 is written `0`, a value too small for a double is 0. Fails (400,
// `policy.number_out_of_range`) when the value overflows a double (beyond
// +-1.7976931348623157e308): the service could not store it and there is no double to canonicalize.
common::Status appendCanonicalNumber(std::string_view token, std::string* out);

// True if `s` is exactly one RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
bool isJsonNumber(std::string_view s) noexcept;

// Appends code point `cp` (<= U+10FFFF, not a surrogate) as UTF-8.
void appendUtf8(uint32_t cp, std::string* out);

// 0-15 for a hex digit (either case), -1 otherwise.
int hexDigitValue(char c) noexcept;

}  // namespace cosmoseal::policy
