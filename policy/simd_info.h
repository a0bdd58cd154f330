#pragma once

namespace cosmoseal::policy {

// The simdjson implementation chosen at run time for this CPU ("icelake", "haswell",
// "westmere", "fallback"), for the startup log.
const char* simdjsonActiveKernel() noexcept;

}  // namespace cosmoseal::policy
