#pragma once

// RandomSource: where crypto/ gets randomness (epoch salts, key ids, DEKs, wrap nonces).
// Injected so tests can make randomness fail or repeat (STYLE.md rule 22). Production uses
// systemRandom() (OpenSSL RAND_bytes). Callers fail closed when fill() returns false:
// nothing is emitted and no all-zero value is ever used in place of random bytes.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace cosmoseal::crypto {

class RandomSource {
 public:
  virtual ~RandomSource() = default;
  // Fills `out` with random bytes; false on failure (contents of `out` then unspecified).
  [[nodiscard]] virtual bool fill(std::span<uint8_t> out) noexcept = 0;
};

// RAND_bytes (thread-safe; OpenSSL's DRBGs are per thread).
RandomSource& systemRandom() noexcept;

// Test RNG: fails every call once `fail` is set.
class FailingRandomForTest : public RandomSource {
 public:
  bool fill(std::span<uint8_t> out) noexcept override;
  bool fail = true;
  int calls = 0;
};

// Test RNG: a reproducible byte stream (splitmix64 of a seed); `fail` makes calls fail.
// NOT random: only for tests and the FORMAT.md worked example.
class SequenceRandomForTest : public RandomSource {
 public:
  explicit SequenceRandomForTest(uint64_t seed = 1) : state_(seed) {}
  bool fill(std::span<uint8_t> out) noexcept override;
  bool fail = false;
  int calls = 0;

 private:
  uint64_t state_;
};

// Test RNG: returns bytes from a fixed script (cycled); `fail` makes calls fail.
class ScriptedRandomForTest : public RandomSource {
 public:
  explicit ScriptedRandomForTest(std::span<const uint8_t> script)
      : script_(script.begin(), script.end()) {}
  bool fill(std::span<uint8_t> out) noexcept override;
  bool fail = false;
  int calls = 0;

 private:
  std::vector<uint8_t> script_;
  size_t pos_ = 0;
};

}  // namespace cosmoseal::crypto
