#include "crypto/cpu.h"

#include <openssl/crypto.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <cstring>

namespace cosmoseal::crypto {

bool aesNiInUse() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return false;
  const bool cpu_has = (ecx & bit_AES) != 0;
  if (!cpu_has) return false;
  // OPENSSL_ia32cap="~0x200000200000000" is the documented way to mask AES-NI (bit 57) off.
  const char* mask = getenv("OPENSSL_ia32cap");
  if (mask != nullptr && mask[0] == '~') {
    unsigned long long v = strtoull(mask + 1, nullptr, 0);
    if ((v & (1ull << 57)) != 0) return false;
  }
  return true;
#else
  return false;
#endif
}

std::string opensslVersion() { return OpenSSL_version(OPENSSL_VERSION); }

}  // namespace cosmoseal::crypto
