#pragma once

// Detail codes produced in proxy/observability/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::observability_detail {

inline constexpr std::string_view kUnavailable = "audit.unavailable";
inline constexpr std::string_view kOpenFailed = "audit.open_failed";
inline constexpr std::string_view kBadLine = "audit.bad_line";
inline constexpr std::string_view kChainBroken = "audit.chain_broken";
inline constexpr std::string_view kKeyBudget = "crypto.key_budget";

}  // namespace cosmoseal::proxy::observability_detail
