#pragma once

// Reading key material from files and environment variables.
//
// Key files hold base64 key text (see decodeKeyText()). Sizes by convention:
//   * Cosmos account keys and cosmoseal client keys: 64 bytes (88 base64 characters, as Azure
//     shows them);
//   * KEKs (key-encryption keys that wrap the keyring): 32 bytes (kKekSize).
//
// Detail codes (all kFailedPrecondition: configuration problems found at load time):
//   keys.file_missing      the file does not exist (a dangling symlink counts as missing)
//   keys.file_unreadable   any other open/read/stat error, or not a regular file, or > 64 KiB
//   keys.file_permissions  group or other may read or write the file ("chmod 600 FILE")
//   keys.bad_key           empty or not base64
//   keys.wrong_size        decoded size differs from expected_size
//   keys.env_missing       keyFromEnv(): the variable is unset or empty
// Messages name the file or variable, never the key text.

#include <cstddef>
#include <string>
#include <string_view>

#include <sys/stat.h>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace cosmoseal::crypto {

inline constexpr size_t kKekSize = 32;
inline constexpr size_t kCosmosKeySize = 64;

// Reads and decodes a key file. Symlinks are followed (Kubernetes Secret volumes are symlinks
// into a ..data directory); the permission check applies to the file finally opened.
// expected_size == 0 accepts any non-empty size. Every scratch buffer is cleansed.
common::StatusOr<common::SecretBytes> readKeyFile(const std::string& path, size_t expected_size);

// Reads key text from environment variable `var` (used for KEKs injected by the platform).
common::StatusOr<common::SecretBytes> keyFromEnv(const std::string& var, size_t expected_size);

// "0644" style octal rendering of st_mode's permission bits (for messages).
std::string formatMode(unsigned mode);

// Ownership/mode rule for every secret file (key files, the keyring, the interception CA key),
// the rule PostgreSQL applies to its key file:
//   * never readable or writable by other, never group-writable;
//   * group-readable only when the file belongs to root, this process does not run as root, and
//     the file's group is one of this process's groups: that is what a Kubernetes Secret volume
//     looks like with the pod's fsGroup (root:<fsGroup>, 0440); the kubelet cannot give the
//     file to the container's own uid;
//   * otherwise owner-only (0600 / 0400).
// Returns "" when acceptable, else what is wrong and what to do (for keys.file_permissions).
std::string secretFilePermissionProblem(const std::string& path, const struct stat& st);

}  // namespace cosmoseal::crypto
