#pragma once

// Base64 (RFC 4648 §4: standard alphabet, '=' padding) and key text.
//
// The decoder is strict, because ciphertext envelopes and signatures must have exactly one
// spelling: no whitespace anywhere, only alphabet characters, length a multiple of 4, padding
// only at the end and only as needed, and unused trailing bits zero ("non-canonical" input such
// as "QR==" for "QQ==" is refused). Every refusal has detail code "crypto.bad_base64".
//
// Thread-safe; no allocation except in the std::string-returning helpers.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace cosmoseal::crypto {

// Encoded length of `n` bytes (padding included).
constexpr size_t base64EncodedSize(size_t n) noexcept { return (n + 2) / 3 * 4; }
// Upper bound of the decoded length of `n` characters.
constexpr size_t base64DecodedMaxSize(size_t n) noexcept { return n / 4 * 3; }

std::string base64Encode(std::span<const uint8_t> data);
std::string base64Encode(std::string_view data);
// Hot path: appends the encoding of `data` to *out (amortised: no allocation once *out has
// capacity).
void base64Append(std::span<const uint8_t> data, std::string* out);
// Writes exactly base64EncodedSize(n) characters to `out` (no terminator).
void base64EncodeTo(const uint8_t* data, size_t n, char* out) noexcept;

// Strict decode into `out`, which must hold base64DecodedMaxSize(in.size()) bytes. Returns false
// on any malformed input (then *out_len is 0 and `out` may hold partial output: callers that
// decode secrets cleanse it). Allocation-free; for hot paths.
bool base64DecodeTo(std::string_view in, uint8_t* out, size_t* out_len) noexcept;
// Strict decode; detail "crypto.bad_base64" (kInvalidArgument) on malformed input.
common::StatusOr<std::string> base64Decode(std::string_view in);

// Key text as stored in key files, environment variables and Azure's portal: base64 of the key
// bytes, surrounded by optional whitespace/newlines (files usually end with "\n"), which are
// trimmed. Whitespace inside the text is refused. Empty or malformed text -> "keys.bad_key"
// (kFailedPrecondition; the message never contains the text). Decoded bytes only ever live in
// SecretBytes; scratch is cleansed.
common::StatusOr<common::SecretBytes> decodeKeyText(std::string_view text);

}  // namespace cosmoseal::crypto
