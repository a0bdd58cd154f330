#pragma once

// Keyring: the data keys (DEKs) the envelope uses, as an immutable snapshot.
//
// * A key has a name ("pii") and one or more versions. Each version has a version number
//   (1, 2, ...), a 32-bit key id that is unique across the whole keyring (it is what an envelope
//   carries) and 64 bytes of material (kDekSize) in SecretBytes. Exactly one version per name is
//   primary: new randomized envelopes use it; every version decrypts.
// * Deterministic envelopes use the name's DETERMINISTIC version instead: the one pinned with
//   setDeterministic() (the keyring file's `deterministic:`), else the lowest version. Equal
//   plaintext must keep giving equal ciphertext after a rotation, or equality queries and
//   partition keys would stop finding documents written before it; moving deterministic values
//   to a new version means re-encrypting them (docs/OPERATIONS.md).
// * Built once with KeyringBuilder, then shared as std::shared_ptr<const Keyring> by every
//   worker (read-only, so thread-safe). Rotation = build a new keyring, swap the snapshot.
// * list() describes the keyring without material (for `cosmoseal keyring show`, /metrics).
//
// Key wrapping: wrapKey()/unwrapKey() protect a DEK at rest with a 32-byte KEK using AES-256-GCM;
// the AAD binds (name, version, id), so a wrapped key cannot be moved to another entry
// (docs/FORMAT.md §3).
//
// Detail codes (kFailedPrecondition unless noted):
//   keys.bad_name, keys.bad_id, keys.wrong_size, keys.duplicate_id, keys.duplicate_version,
//   keys.missing_primary, keys.unknown_version, keys.empty, keys.unwrap_failed, keys.bad_wrapped,
//   keys.wrap_failed (kInternal), crypto.rng_failed (kInternal).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/random.h"

namespace cosmoseal::crypto {

inline constexpr size_t kDekSize = 64;
inline constexpr size_t kMaxKeyNameLength = 64;

struct KeyVersion {
  std::string name;
  uint32_t version = 0;
  uint32_t id = 0;      // never 0
  std::string created;  // informational (RFC 3339 UTC text as written by keygen), may be ""
  bool primary = false;
  common::SecretBytes material;  // kDekSize bytes
  bool deterministic = false;    // the version deterministic seals of this name use
};

// A version without its material.
struct KeyInfo {
  std::string name;
  uint32_t version = 0;
  uint32_t id = 0;
  std::string created;
  bool primary = false;
  bool deterministic = false;
};

// "0x1a2b3c4d"-free rendering used in files and messages: 8 lower-case hex digits.
std::string formatKeyId(uint32_t id);
// Parses exactly 8 hex digits (either case). False otherwise.
bool parseKeyId(std::string_view text, uint32_t* id) noexcept;
// Key names: 1..64 of [A-Za-z0-9._-], starting with a letter or digit.
bool isValidKeyName(std::string_view name) noexcept;

class Keyring {
 public:
  // Every version, grouped by name (names sorted), versions ascending. Indices are stable for
  // the life of the keyring (FieldCipher keys its per-version state by them).
  const std::vector<KeyVersion>& versions() const noexcept { return versions_; }
  std::optional<size_t> indexOfId(uint32_t id) const noexcept;
  std::optional<size_t> primaryIndex(std::string_view name) const noexcept;

  // nullptr when absent.
  const KeyVersion* byId(uint32_t id) const noexcept;
  const KeyVersion* primary(std::string_view name) const noexcept;
  // The version deterministic seals of `name` use (see the top of this file).
  const KeyVersion* deterministic(std::string_view name) const noexcept;
  std::optional<size_t> deterministicIndex(std::string_view name) const noexcept;
  const KeyVersion* find(std::string_view name, uint32_t version) const noexcept;

  std::vector<std::string> names() const;
  std::vector<KeyInfo> list() const;
  bool empty() const noexcept { return versions_.empty(); }

 private:
  friend class KeyringBuilder;
  std::vector<KeyVersion> versions_;
  std::unordered_map<uint32_t, size_t> by_id_;
  std::map<std::string, size_t, std::less<>> primary_by_name_;
  std::map<std::string, size_t, std::less<>> deterministic_by_name_;
};

class KeyringBuilder {
 public:
  KeyringBuilder() = default;
  // Starts from a copy of `keyring` (material cloned), e.g. to add a version.
  static KeyringBuilder from(const Keyring& keyring);

  // Adds a version (not primary). Validates name, id != 0, material size, uniqueness of the id
  // across the keyring and of (name, version).
  common::Status add(std::string_view name, uint32_t version, uint32_t id,
                     common::SecretBytes material, std::string created = "");
  // Makes (name, version) the primary of `name` (replacing any previous primary).
  common::Status setPrimary(std::string_view name, uint32_t version);
  // Pins (name, version) as the version deterministic seals use. Without a pin, build() picks
  // the lowest version.
  common::Status setDeterministic(std::string_view name, uint32_t version);

  bool hasId(uint32_t id) const noexcept;
  // Highest version number of `name`, 0 if the name is unknown.
  uint32_t maxVersion(std::string_view name) const noexcept;

  // Every name must have a primary. The builder is left empty.
  common::StatusOr<std::shared_ptr<const Keyring>> build();

 private:
  std::vector<KeyVersion> versions_;
};

// ---------------------------------------------------------------------------------------------
// Wrapping (docs/FORMAT.md §3): wrapped = 0x01 | nonce (12) | AES-256-GCM(KEK, DEK) (64) | tag (16)
// AAD = "cosmoseal/v1/keywrap" 0x00 name 0x00 version (u32 BE) id (u32 BE).

inline constexpr size_t kWrappedKeySize = 1 + 12 + kDekSize + 16;

// The AAD above. Every KEK provider binds a wrapped key to its entry with it (crypto/kek.h).
std::string keyWrapAad(std::string_view name, uint32_t version, uint32_t id);

// Returns the wrapped bytes (binary; callers base64 them). The nonce comes from `rng`.
common::StatusOr<std::string> wrapKey(const common::SecretBytes& kek, std::string_view name,
                                      uint32_t version, uint32_t id, const common::SecretBytes& dek,
                                      RandomSource& rng);
// Verifies and decrypts straight into SecretBytes. A wrong KEK, a swapped entry or any altered
// byte -> keys.unwrap_failed; a wrong length or format byte -> keys.bad_wrapped.
common::StatusOr<common::SecretBytes> unwrapKey(const common::SecretBytes& kek,
                                                std::string_view name, uint32_t version,
                                                uint32_t id, std::string_view wrapped);

}  // namespace cosmoseal::crypto
