#include "policy/simd_info.h"

#include <simdjson.h>

namespace cosmoseal::policy {

const char* simdjsonActiveKernel() noexcept {
  return simdjson::get_active_implementation()->name().c_str();
}

}  // namespace cosmoseal::policy
