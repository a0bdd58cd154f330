#include "proxy/server/version.h"

#include <llhttp.h>
#include <uv.h>

#include "crypto/cpu.h"

namespace cosmoseal::proxy {

const char* versionString() noexcept { return COSMOSEAL_VERSION; }

std::string versionReport() {
  std::string out = "cosmoseal ";
  out += COSMOSEAL_VERSION;
  out += "\n  openssl: " + crypto::opensslVersion();
  out += "\n  libuv: ";
  out += uv_version_string();
  out += "\n  llhttp: " + std::to_string(LLHTTP_VERSION_MAJOR) + "." +
         std::to_string(LLHTTP_VERSION_MINOR) + "." + std::to_string(LLHTTP_VERSION_PATCH);
  out += "\n  aes-ni: ";
  out += crypto::aesNiInUse() ? "in use" : "not available";
  out += "\n";
  return out;
}

}  // namespace cosmoseal::proxy
