#pragma once

// Detail codes produced in proxy/config/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::config_detail {

inline constexpr std::string_view kBadKeyring = "keys.bad_keyring";
inline constexpr std::string_view kKekRequired = "keys.kek_required";
inline constexpr std::string_view kDuplicateName = "keys.duplicate_name";
inline constexpr std::string_view kWriteFailed = "keys.write_failed";
inline constexpr std::string_view kKekConfig = "keys.kek_config";
inline constexpr std::string_view kSyntax = "config.syntax";
inline constexpr std::string_view kInvalid = "config.invalid";
inline constexpr std::string_view kUnreadable = "config.unreadable";
inline constexpr std::string_view kMissing = "config.missing";
inline constexpr std::string_view kDuplicateClientKey = "config.duplicate_client_key";
inline constexpr std::string_view kClientKeyIsAccountKey = "config.client_key_is_account_key";

}  // namespace cosmoseal::proxy::config_detail
