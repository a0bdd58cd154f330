#pragma once

// Detail codes produced in proxy/server/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::server_detail {

inline constexpr std::string_view kFailed = "listen.failed";
inline constexpr std::string_view kDraining = "reload.draining";
inline constexpr std::string_view kRestartRequired = "reload.restart_required";
inline constexpr std::string_view kBadAddress = "listen.bad_address";

}  // namespace cosmoseal::proxy::server_detail
