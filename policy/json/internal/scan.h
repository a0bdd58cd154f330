#pragma once

// Byte-level JSON helpers used by the transform engine (policy/json/transformer.h). Internal:
// nothing outside policy/ (and its tests and fuzz targets) includes this header.
//
//  * validateJson(): a strict, allocation-free RFC 8259 validator. The transform engine runs it
//    on every request body before anything is forwarded, so the whole body is checked, not only
//    the values an on-demand walk happens to visit (a targeted walk leaves skipped values
//    unvalidated: a parser differential with Cosmos). It accepts numbers of any size, which
//    simdjson's DOM parser does not (it refuses integers beyond 64 bits and doubles that
//    overflow), so valid documents with big numbers are not refused.
//  * findEnvelopeStrings(): finds every JSON string whose raw bytes start with `"csx1:`.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::policy::internal {

// Deepest nesting of objects/arrays accepted in a request body (the root container is depth 1).
// Well below simdjson's 1024 and small enough for a 64-bit container-kind stack.
inline constexpr size_t kMaxJsonDepth = 64;

// Checks that `text` is exactly one JSON value (RFC 8259) with optional surrounding whitespace:
//   * valid UTF-8 everywhere, no byte order mark;
//   * strings without raw control characters, only the escapes of RFC 8259 §7, and \u escapes
//     that form valid code points (a high surrogate must be followed by a low one; lone or
//     mis-ordered surrogates are refused);
//   * numbers by the RFC grammar (no leading zeros, no '+', no bare '.'), of any length;
//   * nesting depth at most `max_depth` (clamped to kMaxJsonDepth);
//   * nothing but whitespace after the value.
// Detail codes (kInvalidArgument): policy.bad_json (syntax, trailing content, empty, invalid
// UTF-8, BOM), policy.bad_string (string content), policy.too_deep. Messages name the byte
// offset. Never reads outside `text`.
common::Status validateJson(std::string_view text, size_t max_depth = kMaxJsonDepth);

// One string token found by findEnvelopeStrings(), as byte offsets into the scanned text.
struct EnvelopeString {
  size_t begin = 0;         // offset of the opening quote
  size_t end = 0;           // offset just past the closing quote
  bool has_escape = false;  // a backslash occurs inside (the content must be unescaped first)
  bool is_key = false;      // followed (after whitespace) by ':' - an object member name
};

// Appends to *out, in order, every JSON string token whose raw bytes start with `"csx1:`.
// Exact on valid JSON: an unescaped '"' followed by a letter can only open a string (a closing
// quote is followed by whitespace, ',', ':', '}' or ']'), and a quote preceded by an odd number
// of backslashes is escaped (backslashes occur only inside strings). On invalid JSON it never
// reads outside `text` and never crashes; a string that is not terminated is not reported.
void findEnvelopeStrings(std::string_view text, std::vector<EnvelopeString>* out);

}  // namespace cosmoseal::policy::internal
