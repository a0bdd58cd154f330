#pragma once

// Detail codes of request classification (policy/route/). Stable, public contract: logged,
// counted, asserted by tests and clients; never rename or reword one (route.h says when each is
// given). 400 (InvalidArgument) unless noted.

#include <string_view>

namespace cosmoseal::policy::route_detail {

inline constexpr std::string_view kBadPath = "route.bad_path";
inline constexpr std::string_view kRidPath = "route.rid_path";
inline constexpr std::string_view kUnclassified = "route.unclassified";
inline constexpr std::string_view kSprocOnProtected = "route.sproc_on_protected";
inline constexpr std::string_view kConflictsOnProtected = "route.conflicts_on_protected";
// A request naming a pre- or post-trigger on a protected container (server JS over ciphertext).
inline constexpr std::string_view kTriggerOnProtected = "route.trigger_on_protected";
// (403) a Direct-mode address lookup: cosmoseal serves Gateway mode only.
inline constexpr std::string_view kDirectModeRefused = "discovery.direct_mode_refused";

}  // namespace cosmoseal::policy::route_detail
