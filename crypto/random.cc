#include "crypto/random.h"

#include <openssl/rand.h>

#include <climits>

namespace cosmoseal::crypto {
namespace {

class OpenSslRandom : public RandomSource {
 public:
  bool fill(std::span<uint8_t> out) noexcept override {
    if (out.empty()) return true;
    if (out.size() > static_cast<size_t>(INT_MAX)) return false;
    return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
  }
};

}  // namespace

RandomSource& systemRandom() noexcept {
  static OpenSslRandom rng;
  return rng;
}

bool FailingRandomForTest::fill(std::span<uint8_t> out) noexcept {
  ++calls;
  if (fail) return false;
  return systemRandom().fill(out);
}

bool SequenceRandomForTest::fill(std::span<uint8_t> out) noexcept {
  ++calls;
  if (fail) return false;
  for (size_t i = 0; i < out.size(); i += 8) {
    // splitmix64
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < out.size(); ++j) {
      out[i + j] = static_cast<uint8_t>(z >> (8 * j));
    }
  }
  return true;
}

bool ScriptedRandomForTest::fill(std::span<uint8_t> out) noexcept {
  ++calls;
  if (fail || script_.empty()) return false;
  for (auto& b : out) {
    b = script_[pos_];
    pos_ = (pos_ + 1) % script_.size();
  }
  return true;
}

}  // namespace cosmoseal::crypto
