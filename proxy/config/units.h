#pragma once

// The scalar syntaxes of the configuration file, shared with command-line flags (`prestop
// --delay`). Pure functions: no YAML, no errors to report, nothing owned.
//   * durations: "250ms", "5s", "2m", "1h", or a plain integer = milliseconds; at most 7 days;
//   * sizes: "512B", "64KiB", "4MiB", "1GiB", or a plain integer = bytes;
//   * integers: unsigned decimal, no sign, no spaces.
// All of them return false (and leave *out alone) on anything else, including overflow: a
// mistyped limit must be reported, never wrapped or clamped.

#include <chrono>
#include <cstdint>
#include <string_view>

namespace cosmoseal::proxy {

// Both reject signs, spaces, fractions and unknown units; parseDuration rejects values above
// 7 days.
bool parseDuration(std::string_view text, std::chrono::milliseconds* out);
bool parseSize(std::string_view text, uint64_t* out);
// Unsigned decimal of at most 20 digits that fits in 64 bits.
bool parseU64(std::string_view s, uint64_t* out);

}  // namespace cosmoseal::proxy
