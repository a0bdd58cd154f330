#pragma once

// Detail codes produced in proxy/net/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::net_detail {

inline constexpr std::string_view kReadFailed = "net.read_failed";

}  // namespace cosmoseal::proxy::net_detail
