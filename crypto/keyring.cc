#include "crypto/keyring.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "crypto/aead.h"
#include "crypto/details.h"
#include "crypto/key_file.h"

namespace cosmoseal::crypto {
namespace {

common::Status fail(std::string_view detail, std::string message) {
  return common::failedPrecondition(detail, std::move(message));
}

std::string describe(std::string_view name, uint32_t version) {
  return "key '" + std::string(name) + "' version " + std::to_string(version);
}

constexpr uint8_t kWrapFormat = 0x01;
constexpr std::string_view kWrapLabel = "cosmoseal/v1/keywrap";

void putU32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>(v >> 16));
  out->push_back(static_cast<char>(v >> 8));
  out->push_back(static_cast<char>(v));
}

ByteSpan bytes(std::string_view s) {
  return ByteSpan(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

}  // namespace

std::string keyWrapAad(std::string_view name, uint32_t version, uint32_t id) {
  std::string aad(kWrapLabel);
  aad.push_back('\0');
  aad.append(name);
  aad.push_back('\0');
  putU32(&aad, version);
  putU32(&aad, id);
  return aad;
}

std::string formatKeyId(uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08x", id);
  return buf;
}

bool parseKeyId(std::string_view text, uint32_t* id) noexcept {
  if (text.size() != 8) return false;
  uint32_t v = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      d = c - 'A' + 10;
    } else {
      return false;
    }
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *id = v;
  return true;
}

bool isValidKeyName(std::string_view name) noexcept {
  if (name.empty() || name.size() > kMaxKeyNameLength) return false;
  const auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

// ---------------------------------------------------------------------------------------------
// Keyring

std::optional<size_t> Keyring::indexOfId(uint32_t id) const noexcept {
  const auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::optional<size_t> Keyring::primaryIndex(std::string_view name) const noexcept {
  const auto it = primary_by_name_.find(name);
  if (it == primary_by_name_.end()) return std::nullopt;
  return it->second;
}

const KeyVersion* Keyring::byId(uint32_t id) const noexcept {
  const auto i = indexOfId(id);
  return i ? &versions_[*i] : nullptr;
}

std::optional<size_t> Keyring::deterministicIndex(std::string_view name) const noexcept {
  const auto it = deterministic_by_name_.find(name);
  if (it == deterministic_by_name_.end()) return std::nullopt;
  return it->second;
}

const KeyVersion* Keyring::deterministic(std::string_view name) const noexcept {
  const auto i = deterministicIndex(name);
  return i ? &versions_[*i] : nullptr;
}

const KeyVersion* Keyring::primary(std::string_view name) const noexcept {
  const auto i = primaryIndex(name);
  return i ? &versions_[*i] : nullptr;
}

const KeyVersion* Keyring::find(std::string_view name, uint32_t version) const noexcept {
  for (const auto& v : versions_) {
    if (v.name == name && v.version == version) return &v;
  }
  return nullptr;
}

std::vector<std::string> Keyring::names() const {
  std::vector<std::string> out;
  for (const auto& [name, index] : primary_by_name_) out.push_back(name);
  return out;
}

std::vector<KeyInfo> Keyring::list() const {
  std::vector<KeyInfo> out;
  out.reserve(versions_.size());
  for (const auto& v : versions_) {
    out.push_back({v.name, v.version, v.id, v.created, v.primary, v.deterministic});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// KeyringBuilder

KeyringBuilder KeyringBuilder::from(const Keyring& keyring) {
  KeyringBuilder b;
  for (const auto& v : keyring.versions()) {
    b.versions_.push_back(
        {v.name, v.version, v.id, v.created, v.primary, v.material.clone(), v.deterministic});
  }
  return b;
}

common::Status KeyringBuilder::add(std::string_view name, uint32_t version, uint32_t id,
                                   common::SecretBytes material, std::string created) {
  if (!isValidKeyName(name)) {
    return fail(crypto_detail::kBadName,
                "key name '" + std::string(name) +
                    "' is invalid: use 1-64 letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit");
  }
  if (version == 0) {
    return fail(crypto_detail::kBadVersion, describe(name, version) + ": versions start at 1");
  }
  if (id == 0)
    return fail(crypto_detail::kBadId, describe(name, version) + ": key id 00000000 is reserved");
  if (material.size() != kDekSize) {
    return fail(crypto_detail::kWrongSize, describe(name, version) + " has " +
                                               std::to_string(material.size()) +
                                               " bytes of material; " + "data keys are " +
                                               std::to_string(kDekSize) + " bytes");
  }
  for (const auto& v : versions_) {
    if (v.id == id) {
      return fail(crypto_detail::kDuplicateId, "key id " + formatKeyId(id) + " is used by both " +
                                                   describe(v.name, v.version) + " and " +
                                                   describe(name, version) +
                                                   "; ids must be unique across the keyring");
    }
    if (v.name == name && v.version == version) {
      return fail(crypto_detail::kDuplicateVersion, describe(name, version) + " appears twice");
    }
  }
  versions_.push_back(
      {std::string(name), version, id, std::move(created), false, std::move(material)});
  return common::Status::ok();
}

common::Status KeyringBuilder::setPrimary(std::string_view name, uint32_t version) {
  KeyVersion* target = nullptr;
  for (auto& v : versions_) {
    if (v.name == name && v.version == version) target = &v;
  }
  if (target == nullptr) {
    return fail(crypto_detail::kUnknownVersion,
                "primary " + describe(name, version) + " does not exist in the keyring");
  }
  for (auto& v : versions_) {
    if (v.name == name) v.primary = false;
  }
  target->primary = true;
  return common::Status::ok();
}

bool KeyringBuilder::hasId(uint32_t id) const noexcept {
  return std::any_of(versions_.begin(), versions_.end(),
                     [id](const KeyVersion& v) { return v.id == id; });
}

uint32_t KeyringBuilder::maxVersion(std::string_view name) const noexcept {
  uint32_t m = 0;
  for (const auto& v : versions_) {
    if (v.name == name) m = std::max(m, v.version);
  }
  return m;
}

common::Status KeyringBuilder::setDeterministic(std::string_view name, uint32_t version) {
  KeyVersion* target = nullptr;
  for (auto& v : versions_) {
    if (v.name == name && v.version == version) target = &v;
  }
  if (target == nullptr) {
    return fail(crypto_detail::kUnknownVersion,
                "deterministic " + describe(name, version) + " does not exist in the keyring");
  }
  for (auto& v : versions_) {
    if (v.name == name) v.deterministic = false;
  }
  target->deterministic = true;
  return common::Status::ok();
}

common::StatusOr<std::shared_ptr<const Keyring>> KeyringBuilder::build() {
  std::set<std::string, std::less<>> names;
  for (const auto& v : versions_) names.insert(v.name);
  for (const auto& name : names) {
    int primaries = 0;
    for (const auto& v : versions_) {
      if (v.name == name && v.primary) ++primaries;
    }
    if (primaries != 1) {
      return fail(crypto_detail::kMissingPrimary,
                  "key '" + name + "' has " + std::to_string(primaries) +
                      " primary versions; exactly one must be primary");
    }
  }
  std::sort(versions_.begin(), versions_.end(), [](const KeyVersion& a, const KeyVersion& b) {
    return a.name != b.name ? a.name < b.name : a.version < b.version;
  });
  // Unpinned names: the lowest version (the first after sorting) is the deterministic one.
  for (const auto& name : names) {
    bool pinned = false;
    for (const auto& v : versions_) pinned = pinned || (v.name == name && v.deterministic);
    if (pinned) continue;
    for (auto& v : versions_) {
      if (v.name == name) {
        v.deterministic = true;
        break;
      }
    }
  }
  auto ring = std::make_shared<Keyring>();
  ring->versions_ = std::move(versions_);
  versions_.clear();
  for (size_t i = 0; i < ring->versions_.size(); ++i) {
    const auto& v = ring->versions_[i];
    ring->by_id_.emplace(v.id, i);
    if (v.primary) ring->primary_by_name_.emplace(v.name, i);
    if (v.deterministic) ring->deterministic_by_name_.emplace(v.name, i);
  }
  return std::shared_ptr<const Keyring>(std::move(ring));
}

// ---------------------------------------------------------------------------------------------
// Wrapping

common::StatusOr<std::string> wrapKey(const common::SecretBytes& kek, std::string_view name,
                                      uint32_t version, uint32_t id, const common::SecretBytes& dek,
                                      RandomSource& rng) {
  if (kek.size() != kKekSize) {
    return fail(crypto_detail::kWrongSize,
                "the KEK must be " + std::to_string(kKekSize) + " bytes");
  }
  if (dek.size() != kDekSize) {
    return fail(crypto_detail::kWrongSize, "data keys are " + std::to_string(kDekSize) + " bytes");
  }
  std::string out(kWrappedKeySize, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p[0] = kWrapFormat;
  if (!rng.fill(std::span<uint8_t>(p + 1, kGcmNonceSize))) {
    return common::internalError(crypto_detail::kRngFailed, "the random generator failed");
  }
  AesGcm256 gcm;
  COSMOSEAL_RETURN_IF_ERROR(gcm.setKey(kek.view()));
  const std::string aad = keyWrapAad(name, version, id);
  if (!gcm.seal(p + 1, bytes(aad), dek.data(), dek.size(), p + 1 + kGcmNonceSize,
                p + 1 + kGcmNonceSize + kDekSize)) {
    OPENSSL_cleanse(out.data(), out.size());
    return common::internalError(crypto_detail::kWrapFailed,
                                 "wrapping " + describe(name, version) + " failed");
  }
  return out;
}

common::StatusOr<common::SecretBytes> unwrapKey(const common::SecretBytes& kek,
                                                std::string_view name, uint32_t version,
                                                uint32_t id, std::string_view wrapped) {
  if (kek.size() != kKekSize) {
    return fail(crypto_detail::kWrongSize,
                "the KEK must be " + std::to_string(kKekSize) + " bytes");
  }
  const auto* p = reinterpret_cast<const uint8_t*>(wrapped.data());
  if (wrapped.size() != kWrappedKeySize || p[0] != kWrapFormat) {
    return fail(crypto_detail::kBadWrapped, describe(name, version) + ": the wrapped key has " +
                                                std::to_string(wrapped.size()) +
                                                " bytes or an unknown "
                                                "format; expected " +
                                                std::to_string(kWrappedKeySize));
  }
  AesGcm256 gcm;
  COSMOSEAL_RETURN_IF_ERROR(gcm.setKey(kek.view()));
  const std::string aad = keyWrapAad(name, version, id);
  common::SecretBytes dek(kDekSize);  // zeroized by its destructor if we fail below
  if (!gcm.open(p + 1, bytes(aad), p + 1 + kGcmNonceSize, kDekSize,
                p + 1 + kGcmNonceSize + kDekSize, dek.data())) {
    return fail(crypto_detail::kUnwrapFailed,
                describe(name, version) + " (id " + formatKeyId(id) +
                    ") does not unwrap: wrong KEK, or the entry was altered or moved");
  }
  return dek;
}

}  // namespace cosmoseal::crypto
