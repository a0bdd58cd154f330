#include "policy/policy_spec.h"

namespace cosmoseal::policy {

const char* fieldModeName(FieldMode mode) noexcept {
  return mode == FieldMode::kDeterministic ? "deterministic" : "randomized";
}

}  // namespace cosmoseal::policy
