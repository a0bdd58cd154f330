#pragma once

// Detail codes produced in proxy/admission/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::admission_detail {

inline constexpr std::string_view kMissing = "auth.missing";
inline constexpr std::string_view kUnsupportedToken = "auth.unsupported_token";
inline constexpr std::string_view kMissingDate = "auth.missing_date";
inline constexpr std::string_view kDateSkew = "auth.date_skew";
inline constexpr std::string_view kBadSignature = "auth.bad_signature";
inline constexpr std::string_view kSignFailed = "auth.sign_failed";
// Entra ID (type=aad) tokens from apps (proxy/admission/entra_token.h). 401 unless noted.
inline constexpr std::string_view kTokenMalformed = "auth.token_malformed";
inline constexpr std::string_view kTokenAlgorithm = "auth.token_algorithm";
inline constexpr std::string_view kTokenKeyUnknown = "auth.token_key_unknown";
inline constexpr std::string_view kTokenSignature = "auth.token_signature";
inline constexpr std::string_view kTokenIssuer = "auth.token_issuer";
inline constexpr std::string_view kTokenAudience = "auth.token_audience";
inline constexpr std::string_view kTokenExpired = "auth.token_expired";
inline constexpr std::string_view kTokenNotYetValid = "auth.token_not_yet_valid";
inline constexpr std::string_view kTokenTenant = "auth.token_tenant";
inline constexpr std::string_view kTokenNoIdentity = "auth.token_no_identity";
// 401: the app sent a type=aad token but no `entra` section is configured.
inline constexpr std::string_view kEntraDisabled = "auth.entra_disabled";
// 503: the signing keys of the tenant have never been fetched (identity provider unreachable).
inline constexpr std::string_view kTokenKeysUnavailable = "auth.token_keys_unavailable";
// 403: a valid token whose identity (oid / appid) is no configured client's.
inline constexpr std::string_view kUnknownIdentity = "auth.unknown_identity";
inline constexpr std::string_view kDenied = "rules.denied";
inline constexpr std::string_view kInFlight = "throttle.in_flight";
inline constexpr std::string_view kRate = "throttle.rate";

}  // namespace cosmoseal::proxy::admission_detail
