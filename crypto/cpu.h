#pragma once

// What the CPU and OpenSSL give us, for the startup log ("AES-NI in use: yes").

#include <string>

namespace cosmoseal::crypto {

// True when OpenSSL's AES implementation will use the AES-NI instructions on this CPU
// (the CPU has them and OPENSSL_ia32cap does not mask them off).
bool aesNiInUse() noexcept;
// "OpenSSL 3.0.x ..." as linked at run time.
std::string opensslVersion();

}  // namespace cosmoseal::crypto
