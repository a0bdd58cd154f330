#pragma once

// The keyring file (YAML; layout in docs/FORMAT.md §7) and the KEK that unwraps it.
//
//   auto kek = loadKek(cfg.keys->kek_file, cfg.keys->kek_env);          // exactly one set
//   auto ring = loadKeyringFile(cfg.keys->keyring_file, &*kek);          // immutable snapshot
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

#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/keyring.h"
#include "crypto/random.h"

namespace cosmoseal::proxy {

// Reads, permission-checks (the file is followed through symlinks) and parses the keyring.
// `kek` may be nullptr when every version uses `raw:` material.
common::StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(
    const std::string& path, const common::SecretBytes* kek);

// Parses keyring YAML text; `name` stands for FILE in messages. No file checks.
common::StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(
    std::string_view text, const std::string& name, const common::SecretBytes* kek);

// Renders the keyring as YAML with every version wrapped by `kek` (fresh nonces from `rng`).
common::StatusOr<std::string> renderKeyring(const crypto::Keyring& keyring,
                                            const common::SecretBytes& kek,
                                            crypto::RandomSource& rng);

// Writes renderKeyring() atomically: a temporary file (mode 0600) in the same directory, fsync,
// rename over `path`, fsync of the directory. Detail on failure: keys.write_failed.
common::Status saveKeyringFile(const std::string& path, const crypto::Keyring& keyring,
                               const common::SecretBytes& kek, crypto::RandomSource& rng);

// The KEK from exactly one of a file or an environment variable (32 bytes, base64). Both or
// neither set -> keys.kek_config; otherwise the codes of crypto::readKeyFile / keyFromEnv.
common::StatusOr<common::SecretBytes> loadKek(const std::string& kek_file,
                                              const std::string& kek_env);

}  // namespace cosmoseal::proxy
