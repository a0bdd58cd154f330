#pragma once

// RAII owners for OpenSSL objects (STYLE.md rule 12): unique_ptr + the matching *_free.
// No bare *_free calls elsewhere in crypto/.

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>

namespace cosmoseal::crypto::internal {

template <typename T, void (*Free)(T*)>
struct OpenSslDeleter {
  void operator()(T* p) const noexcept { Free(p); }
};

using EvpCipherPtr = std::unique_ptr<EVP_CIPHER, OpenSslDeleter<EVP_CIPHER, EVP_CIPHER_free>>;
using EvpCipherCtxPtr =
    std::unique_ptr<EVP_CIPHER_CTX, OpenSslDeleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using EvpKdfPtr = std::unique_ptr<EVP_KDF, OpenSslDeleter<EVP_KDF, EVP_KDF_free>>;
using EvpKdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, OpenSslDeleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
using EvpMdPtr = std::unique_ptr<EVP_MD, OpenSslDeleter<EVP_MD, EVP_MD_free>>;
using EvpMdCtxPtr = std::unique_ptr<EVP_MD_CTX, OpenSslDeleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

// Process-wide algorithm handles, fetched once (explicit fetch: the implicit EVP_aes_256_gcm()
// path re-fetches on every init, see perf-baselines §6). They are intentionally never freed:
// they live until exit, and freeing them from a static destructor could race OPENSSL_cleanup.
// Each returns nullptr only if the default provider lacks the algorithm (callers fail closed).
const EVP_CIPHER* aes256Gcm() noexcept;
// OpenSSL's own AES-{128,192,256}-SIV for a 32, 48 or 64-byte key: no longer used by AesSiv, kept
// as the reference it is tested and benchmarked against (same output bytes).
const EVP_CIPHER* aesSiv(size_t key_size) noexcept;
// AES-{128,192,256}-CBC / -ECB for a 16, 24 or 32-byte key (the halves of an SIV key); used by
// AesSiv's own S2V (CBC: CMAC's chain) and CTR (ECB: the keystream).
const EVP_CIPHER* aesCbc(size_t key_size) noexcept;
const EVP_CIPHER* aesEcb(size_t key_size) noexcept;
const EVP_MD* sha256() noexcept;
EVP_KDF* hkdf() noexcept;

}  // namespace cosmoseal::crypto::internal
