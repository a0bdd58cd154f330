#include "policy/policy_spec.h"

namespace cosmoseal::policy {

const char* fieldModeName(FieldMode mode) noexcept {
  return mode == FieldMode::kDeterministic ? "deterministic" : "randomized";
}

const char* mixedEqualityName(MixedEquality mode) noexcept {
  return mode == MixedEquality::kMatchBoth ? "match_both" : "refuse";
}

}  // namespace cosmoseal::policy
