#pragma once

// Detail codes produced in crypto/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::crypto::crypto_detail {

inline constexpr std::string_view kCipherInit = "crypto.cipher_init";
inline constexpr std::string_view kBadBase64 = "crypto.bad_base64";
inline constexpr std::string_view kBadKey = "keys.bad_key";
// An RSA public key (a JWKS entry) that cannot be used to verify tokens (crypto/jws.h).
inline constexpr std::string_view kTokenKey = "auth.token_key";
inline constexpr std::string_view kBadPath = "auth.bad_path";
inline constexpr std::string_view kMalformed = "auth.malformed";
inline constexpr std::string_view kBadDate = "auth.bad_date";
inline constexpr std::string_view kBadPrefix = "crypto.bad_prefix";
inline constexpr std::string_view kTruncated = "crypto.truncated";
inline constexpr std::string_view kTooLarge = "crypto.too_large";
inline constexpr std::string_view kUnsupportedVersion = "crypto.unsupported_version";
inline constexpr std::string_view kUnsupportedAlgorithm = "crypto.unsupported_algorithm";
inline constexpr std::string_view kUnknownKey = "crypto.unknown_key";
inline constexpr std::string_view kAuthFailed = "crypto.auth_failed";
inline constexpr std::string_view kBadPlaintextType = "crypto.bad_plaintext_type";
inline constexpr std::string_view kEmptyPlaintext = "crypto.empty_plaintext";
inline constexpr std::string_view kPathMismatch = "crypto.path_mismatch";
inline constexpr std::string_view kUnknownKeyName = "crypto.unknown_key_name";
inline constexpr std::string_view kRngFailed = "crypto.rng_failed";
inline constexpr std::string_view kSealFailed = "crypto.seal_failed";
inline constexpr std::string_view kWrongSize = "keys.wrong_size";
inline constexpr std::string_view kFileMissing = "keys.file_missing";
inline constexpr std::string_view kFileUnreadable = "keys.file_unreadable";
inline constexpr std::string_view kFilePermissions = "keys.file_permissions";
inline constexpr std::string_view kEnvMissing = "keys.env_missing";
inline constexpr std::string_view kBadName = "keys.bad_name";
inline constexpr std::string_view kBadVersion = "keys.bad_version";
inline constexpr std::string_view kBadId = "keys.bad_id";
inline constexpr std::string_view kDuplicateId = "keys.duplicate_id";
inline constexpr std::string_view kDuplicateVersion = "keys.duplicate_version";
inline constexpr std::string_view kUnknownVersion = "keys.unknown_version";
inline constexpr std::string_view kMissingPrimary = "keys.missing_primary";
inline constexpr std::string_view kWrapFailed = "keys.wrap_failed";
inline constexpr std::string_view kBadWrapped = "keys.bad_wrapped";
inline constexpr std::string_view kUnwrapFailed = "keys.unwrap_failed";
// KEK providers (crypto/kek.h). kKekConfig has the same text as proxy's config_detail::kKekConfig.
inline constexpr std::string_view kKekConfig = "keys.kek_config";
inline constexpr std::string_view kKekUnavailable = "keys.kek_unavailable";

}  // namespace cosmoseal::crypto::crypto_detail
