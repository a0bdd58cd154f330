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
inline constexpr std::string_view kDenied = "rules.denied";
inline constexpr std::string_view kInFlight = "throttle.in_flight";
inline constexpr std::string_view kRate = "throttle.rate";

}  // namespace cosmoseal::proxy::admission_detail
