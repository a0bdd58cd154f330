#pragma once

// KEK providers: who holds the key-encryption key that wraps the keyring's data keys.
//
// A KekProvider wraps a data key (DEK) for one keyring entry and unwraps it again. The entry
// (name, version, id) is bound to the wrapped bytes by every provider (keyWrapAad(),
// crypto/keyring.h), so a wrapped key cannot be moved to another entry. Providers:
//
//   file    the KEK is 32 bytes in a file (base64), read into SecretBytes: AES-256-GCM here.
//   env     the same KEK from an environment variable.
//   pkcs11  the KEK is a non-extractable AES key inside a PKCS#11 token (an HSM, SoftHSM2); the
//           token wraps and unwraps, cosmoseal never holds the KEK's bytes (crypto/pkcs11_kek.h).
//   azure_key_vault  the KEK is a key in Azure Key Vault or Managed HSM; the vault wraps and
//           unwraps over REST with an Entra ID token (proxy/identity/key_vault_kek.h: crypto/
//           holds only the spec, the provider needs the HTTPS and token clients of proxy/).
//   kmip    the KEK is an AES key in a KMIP key manager; the server encrypts and decrypts data
//           keys with AES-GCM, cosmoseal never holds the KEK's bytes (crypto/kmip_kek.h).
//
// id() is what the keyring file records next to every wrapped key (`kek:`, docs/FORMAT.md §7):
// "local:<8 hex>" for file and env (a fingerprint of the KEK: HMAC-SHA256(KEK, label), first
// 4 bytes; the same KEK has the same id in a file or a variable), "pkcs11:token=T;object=K" for
// a token key, the key's full `kid` (with its version) for azure_key_vault, "kmip:uid=U" for a
// KMIP key. A keyring entry recorded under another id is refused with a message naming both,
// unless the provider recognizes() it (a Key Vault key's older version: the vault still unwraps
// with it).
//
// Wrapped formats (first byte): 0x01 local AES-256-GCM (keyring.h), 0x02 PKCS#11 CKM_AES_GCM,
// 0x03 PKCS#11 CKM_AES_KEY_WRAP_PAD (RFC 5649), 0x04 Key Vault envelope (docs/FORMAT.md §7),
// 0x05 KMIP Encrypt with AES-GCM. Formats are read by the provider that made them.
//
// Control plane only (startup, reload, CLI): providers may block (a token round trip) and
// allocate. A provider object is used by one thread at a time.
//
// Detail codes (kFailedPrecondition): the codes of crypto/key_file.h for file and env;
// keys.kek_config (a bad KEK spec), keys.kek_unavailable (the provider cannot be reached or
// refuses: module missing, token absent, wrong PIN, key missing or extractable),
// keys.unwrap_failed, keys.bad_wrapped, keys.wrap_failed (kInternal).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/random.h"

namespace cosmoseal::crypto {

// Which keyring entry a data key belongs to.
struct WrapEntry {
  std::string_view name;
  uint32_t version = 0;
  uint32_t id = 0;
};

class KekProvider {
 public:
  virtual ~KekProvider() = default;
  // Recorded in the keyring next to each wrapped key; stable for the same KEK. Never secret.
  virtual const std::string& id() const noexcept = 0;
  // For logs and the CLI: provider, where the key lives, the mechanism. Never secret.
  virtual std::string describe() const = 0;
  // The wrapped bytes (binary; the keyring file base64s them).
  virtual common::StatusOr<std::string> wrap(const WrapEntry& entry, const common::SecretBytes& dek,
                                             RandomSource& rng) = 0;
  // The data key, straight into SecretBytes. keys.unwrap_failed for a wrong KEK or an altered
  // or moved entry, keys.bad_wrapped for a format this provider does not read,
  // keys.kek_unavailable when the provider stops answering.
  virtual common::StatusOr<common::SecretBytes> unwrap(const WrapEntry& entry,
                                                       std::string_view wrapped) = 0;
  // An entry recorded under `recorded_id` can be unwrapped by this provider although the id
  // differs (an older version of the same vault key). Default: the ids are equal.
  virtual bool recognizes(const std::string& recorded_id) const { return recorded_id == id(); }
};

enum class KekKind { kFile, kEnv, kPkcs11, kAzureKeyVault, kKmip };

// A key in Azure Key Vault (https://NAME.vault.azure.net) or Managed HSM
// (https://NAME.managedhsm.azure.net): the same REST API (wrapkey/unwrapkey, api-version 7.4).
// The identity fields are those of upstream.auth's Entra ID types (proxy/config/upstream_auth.h),
// kept as plain strings here so crypto/ does not depend on proxy/; empty ones take the
// AZURE_* environment defaults when the provider is opened.
struct AzureKeyVaultKekSpec {
  std::string vault_url;    // https://NAME.vault.azure.net (no path)
  std::string key_name;     // the key's name in the vault
  std::string key_version;  // empty: the key's current version, looked up when opened
  // "auto" (RSA-OAEP-256 for RSA keys, A256KW for oct-HSM keys), "RSA-OAEP-256", "RSA-OAEP",
  // "A256KW". Unwrapping uses the algorithm recorded in the wrapped value.
  std::string algorithm = "auto";
  std::string ca_file;  // CA bundle for the vault (and the token endpoint); empty: system store
  // Entra ID: workload_identity (default) | managed_identity | client_secret |
  // client_certificate, and their settings (names as in upstream.auth).
  std::string auth_type = "workload_identity";
  std::string tenant_id, client_id, authority_host, scope, token_file, secret_file,
      certificate_file, endpoint;
};

// keys.kek_config naming the first problem: vault not https://, a bad key name or version, an
// unknown algorithm or auth type.
common::Status checkAzureKeyVaultKekSpec(const AzureKeyVaultKekSpec& spec);

struct Pkcs11KekSpec {
  std::string module;       // path of the PKCS#11 module (.so), loaded with dlopen
  std::string token_label;  // exactly one of token_label / slot
  std::optional<uint64_t> slot;
  std::string key_label;  // CKA_LABEL of the AES key
  std::string pin_file;   // the user PIN (text; a trailing newline is ignored), mode 0600
  // "auto" (CKM_AES_GCM when the token offers it for encrypt and decrypt and the key allows
  // them, else CKM_AES_KEY_WRAP_PAD), "aes_gcm" or "aes_key_wrap_pad". Unwrapping follows the
  // wrapped value's format byte whatever this says.
  std::string mechanism = "auto";
};

struct KmipKekSpec {
  std::string server;     // HOST:PORT ([V6]:PORT) of the KMIP server (TLS; usually port 5696)
  std::string key_name;   // the key's Name (Locate), or
  std::string key_id;     // its Unique Identifier (exactly one of the two)
  std::string ca_file;    // CA certificate(s) the server's certificate must chain to (PEM)
  std::string cert_file;  // the client certificate cosmoseal presents (PEM, chain allowed)
  std::string key_file;   // its private key (PEM)
};

struct KekSpec {
  KekKind kind = KekKind::kFile;
  std::string file;  // kFile
  std::string env;   // kEnv
  Pkcs11KekSpec pkcs11;
  AzureKeyVaultKekSpec azure;  // kAzureKeyVault
  KmipKekSpec kmip;
};

// The CLI form of a spec (--kek, --from, --to):
//   file:PATH | env:VAR |
//   pkcs11:module=PATH;token=LABEL|slot=N;key=LABEL;pin-file=PATH[;mechanism=M] |
//   azure_key_vault:vault=URL;key=NAME[;version=V][;alg=A][;ca-file=PATH][;auth=TYPE]
//       [;tenant=T][;client=C][;authority=URL][;scope=S][;token-file=PATH][;secret-file=PATH]
//       [;certificate-file=PATH][;endpoint=URL]
//   kmip:server=HOST:PORT;key=NAME|key-id=UID;ca=PATH;cert=PATH;key-file=PATH
// keys.kek_config when malformed. (`config:FILE` is resolved by the CLI, which reads configs.)
common::StatusOr<KekSpec> parseKekSpec(std::string_view text);
// The spec in that form (for messages; no secrets in it: the PIN is a file name).
std::string formatKekSpec(const KekSpec& spec);

// Opens the provider: reads the KEK (file, env) or loads the module, finds the token, logs in
// with the PIN and finds the key (pkcs11). Failing closed: any problem is a Status saying what
// and what to do. azure_key_vault is opened by proxy::openKekSpec (proxy/config/keyring_file.h),
// the one opener for every kind; here it is keys.kek_config.
common::StatusOr<std::unique_ptr<KekProvider>> openKek(const KekSpec& spec);

// A provider around KEK bytes already in memory (file and env forms, tests).
std::unique_ptr<KekProvider> localKek(common::SecretBytes kek, std::string source);

// "local:<8 hex>" for a 32-byte KEK.
std::string localKekId(const common::SecretBytes& kek);

}  // namespace cosmoseal::crypto
