#pragma once

// The plaintext inside an envelope: one type byte + the raw JSON token bytes, exactly as they
// appeared in the document (docs/FORMAT.md §2):
//   * string: the token INCLUDING its quotes and original escapes ("a\u00e9" stays 8 bytes),
//   * number: exactly as spelled (1.0, 1e3, 12345678901234567890 - no reformatting) in
//     randomized mode; in deterministic mode the caller passes the canonical spelling of the
//     double (policy/json/text.h appendCanonicalNumber: 5.0 -> 5), because Cosmos compares
//     numbers as doubles. Either way the type is kNumber and any valid spelling opens,
//     so envelopes sealed as spelled by older versions still read back as they were written,
//   * true / false / null: the literal,
//   * object / array: the raw text of the whole subtree.
// So decrypting gives back the same bytes, and the same JSON type, as were encrypted (for
// deterministic strings and numbers: the canonical bytes the caller sealed).
//
// crypto/ does not parse JSON: it trusts the caller (policy/'s rewriter) for the type and the
// token. It only checks that the token is not empty and, on open, that the type byte is known.
// The byte values are part of the envelope format: never renumber them.

#include <cstdint>
#include <string_view>

namespace cosmoseal::crypto {

enum class ValueType : uint8_t {
  kString = 0x01,
  kNumber = 0x02,
  kTrue = 0x03,
  kFalse = 0x04,
  kNull = 0x05,
  kObject = 0x06,
  kArray = 0x07,
};

constexpr bool isKnownValueType(uint8_t b) noexcept { return b >= 0x01 && b <= 0x07; }

constexpr std::string_view valueTypeName(ValueType t) noexcept {
  switch (t) {
    case ValueType::kString:
      return "string";
    case ValueType::kNumber:
      return "number";
    case ValueType::kTrue:
      return "true";
    case ValueType::kFalse:
      return "false";
    case ValueType::kNull:
      return "null";
    case ValueType::kObject:
      return "object";
    case ValueType::kArray:
      return "array";
  }
  return "unknown";
}

}  // namespace cosmoseal::crypto
