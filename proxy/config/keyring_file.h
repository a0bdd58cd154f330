#pragma once

// The keyring file (YAML; layout in docs/FORMAT.md §7) and the KEK that unwraps it.
//
//   auto kek = openKekOf(*cfg.keys);              // file, env, pkcs11 or azure_key_vault
//   auto ring = loadKeyringFile(cfg.keys->keyring_file, kek->get(), on_unwrap);
//
// Format 2 (what this version writes) records next to every wrapped key which KEK wrapped it
// (`kek: "local:1a2b3c4d"` or `kek: "pkcs11:token=T;object=K"`, crypto/kek.h); an entry
// recorded under another KEK than the one given is refused (keys.unwrap_failed) with both
// named. Format-1 files (no `kek:`) still load with the file or env KEK.
//
// Loading refuses, each with FILE:LINE:COL (1-based), what is wrong and what to do:
//   keys.file_missing, keys.file_permissions (group/other may access the file: chmod 600),
//   keys.file_unreadable, keys.bad_keyring (YAML syntax, wrong shape, unknown or repeated
//   fields, bad values), keys.duplicate_id, keys.duplicate_version, keys.duplicate_name,
//   keys.missing_primary, keys.kek_required (wrapped material but no KEK), keys.unwrap_failed
//   (wrong KEK, or a wrapped value altered or moved), keys.bad_wrapped.
// When several problems are found, the message lists each on its own line and the detail code
// is the first one's. `raw:` (unwrapped) material loads, with a warning per entry: dev only.
//
// Control plane only (startup, reload, CLI): may allocate freely; yaml-cpp exceptions are
// caught here and turned into Status. Thread-safe (no shared state).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/kek.h"
#include "crypto/keyring.h"
#include "crypto/random.h"
#include "proxy/config/config.h"

namespace cosmoseal::proxy {

// Told about every unwrap attempt, successful or not (the audit log records each one): the
// entry, the id of the KEK asked, and the outcome. Never given key material.
using UnwrapObserver = std::function<void(const crypto::WrapEntry& entry, const std::string& kek_id,
                                          const common::Status& result)>;

// Reads, permission-checks (the file is followed through symlinks) and parses the keyring.
// `kek` may be nullptr when every version uses `raw:` material.
common::StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(
    const std::string& path, crypto::KekProvider* kek, const UnwrapObserver& observer = {});
// The same with KEK bytes in memory (the file and env forms; tests).
common::StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(
    const std::string& path, const common::SecretBytes* kek);
// No KEK (every version `raw:`); spelled out so a bare nullptr is not ambiguous.
inline common::StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(
    const std::string& path, std::nullptr_t) {
  return loadKeyringFile(path, static_cast<crypto::KekProvider*>(nullptr));
}

// Parses keyring YAML text; `name` stands for FILE in messages. No file checks.
common::StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(
    std::string_view text, const std::string& name, crypto::KekProvider* kek,
    const UnwrapObserver& observer = {});
common::StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(
    std::string_view text, const std::string& name, const common::SecretBytes* kek);
inline common::StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(
    std::string_view text, const std::string& name, std::nullptr_t) {
  return parseKeyringText(text, name, static_cast<crypto::KekProvider*>(nullptr));
}

// Renders the keyring as YAML (format 2) with every version wrapped by `kek` (fresh nonces from
// `rng`) and the KEK's id recorded with each.
common::StatusOr<std::string> renderKeyring(const crypto::Keyring& keyring,
                                            crypto::KekProvider& kek, crypto::RandomSource& rng);
common::StatusOr<std::string> renderKeyring(const crypto::Keyring& keyring,
                                            const common::SecretBytes& kek,
                                            crypto::RandomSource& rng);

// Writes renderKeyring() atomically: a temporary file (mode 0600) in the same directory, fsync,
// rename over `path`, fsync of the directory. Detail on failure: keys.write_failed.
common::Status saveKeyringFile(const std::string& path, const crypto::Keyring& keyring,
                               crypto::KekProvider& kek, crypto::RandomSource& rng);
common::Status saveKeyringFile(const std::string& path, const crypto::Keyring& keyring,
                               const common::SecretBytes& kek, crypto::RandomSource& rng);
// The same atomic write for text already rendered (keyring rewrap checks it before writing).
common::Status saveKeyringText(const std::string& path, const std::string& text);

// The KEK from exactly one of a file or an environment variable (32 bytes, base64). Both or
// neither set -> keys.kek_config; otherwise the codes of crypto::readKeyFile / keyFromEnv.
common::StatusOr<common::SecretBytes> loadKek(const std::string& kek_file,
                                              const std::string& kek_env);

// The KEK spec of a `keys` section: keys.kek, else the kek_file / kek_env shorthand.
crypto::KekSpec kekSpecOf(const KeysConfig& keys);
// Opens that KEK (openKekSpec); keys.kek_config when the section names none or several.
common::StatusOr<std::unique_ptr<crypto::KekProvider>> openKekOf(const KeysConfig& keys);
// The one opener for every KEK kind (the server and the CLI): crypto::openKek for file, env and
// pkcs11, identity::openKeyVaultKek for azure_key_vault (it needs proxy/'s HTTPS and token
// clients). May block on a token or the network (control plane only).
common::StatusOr<std::unique_ptr<crypto::KekProvider>> openKekSpec(const crypto::KekSpec& spec);

}  // namespace cosmoseal::proxy
