#pragma once

// Detail codes of the upstream module (UpstreamConnection). A public contract (x-cosmoseal-detail,
// logs, metrics, tests): never rename one.

#include <string_view>

namespace cosmoseal::proxy::upstream_detail {

inline constexpr std::string_view kConnectFailed = "upstream.connect_failed";
inline constexpr std::string_view kDnsFailed = "upstream.dns_failed";
inline constexpr std::string_view kConnectTimeout = "upstream.connect_timeout";
inline constexpr std::string_view kTimeout = "upstream.timeout";
inline constexpr std::string_view kConnectionClosed = "upstream.connection_closed";
inline constexpr std::string_view kTruncated = "upstream.truncated";
inline constexpr std::string_view kBadResponse = "upstream.bad_response";
inline constexpr std::string_view kUnexpectedResponse = "upstream.unexpected_response";
// A request arrived on a listen.region_ports port that no account region has taken yet (no
// account discovery has named enough regions): 503, the SDK retries elsewhere.
inline constexpr std::string_view kRegionUnknown = "upstream.region_unknown";
// The regional endpoint behind a region port (or a transparent-mode regional host name) could not
// be reached (DNS, TCP or TLS failed: nothing was sent). A write is answered 403 with substatus 3
// (WriteForbidden), the service's own "not the write region" answer, on which every SDK marks
// the endpoint unavailable for writes, re-reads the account and retries the write where it now
// points; a read is answered 503, on which SDKs retry the next preferred region. An SDK talking to
// the region itself sees a connection error and does the same (docs/OPERATIONS.md, "Regions").
inline constexpr std::string_view kRegionWriteUnreachable = "upstream.region_write_unreachable";
inline constexpr std::string_view kRegionReadUnreachable = "upstream.region_read_unreachable";

// Produced by proxy/net/transport.cc; named here because the upstream reacts to them (a read or
// write error on an established connection means the peer went away).
inline constexpr std::string_view kNetReadError = "net.read_error";
inline constexpr std::string_view kNetWriteError = "net.write_error";

}  // namespace cosmoseal::proxy::upstream_detail
