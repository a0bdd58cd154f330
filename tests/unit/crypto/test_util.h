#pragma once

// Small helpers shared by the crypto unit tests.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret_bytes.h"

namespace cosmoseal::crypto::testing {

inline std::vector<uint8_t> fromHex(std::string_view hex) {
  std::vector<uint8_t> out;
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : hex) {
    const int v = nib(c);
    if (v < 0) continue;  // allows spaces in vectors copied from RFCs
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>((hi << 4) | v));
      hi = -1;
    }
  }
  return out;
}

inline std::string toHex(std::span<const uint8_t> b) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s.push_back(kHex[x >> 4]);
    s.push_back(kHex[x & 15]);
  }
  return s;
}

inline std::string toHex(std::string_view b) {
  return toHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(b.data()), b.size()));
}

inline common::SecretBytes secretFromHex(std::string_view hex) {
  const auto v = fromHex(hex);
  return common::SecretBytes::copyOf(std::span<const uint8_t>(v.data(), v.size()));
}

// Bytes 0, 1, 2, ... n-1 (mod 256) as a secret.
inline common::SecretBytes sequentialSecret(size_t n, uint8_t start = 0) {
  common::SecretBytes s(n);
  for (size_t i = 0; i < n; ++i) s.data()[i] = static_cast<uint8_t>(start + i);
  return s;
}

}  // namespace cosmoseal::crypto::testing
