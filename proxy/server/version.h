#pragma once

#include <string>

namespace cosmoseal::proxy {

// "0.1.0"
const char* versionString() noexcept;
// Multi-line build description for --version: version, OpenSSL, libuv, simdjson, llhttp.
std::string versionReport();

}  // namespace cosmoseal::proxy
