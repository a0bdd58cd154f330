#pragma once

// Detail codes produced in proxy/net/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::net_detail {

inline constexpr std::string_view kReadFailed = "net.read_failed";

// The blocking HTTPS client (proxy/net/https_client.h), used off the loops (token endpoints).
// Name resolution or TCP connect failed for every address, or the URL is not usable.
inline constexpr std::string_view kHttpsConnectFailed = "https.connect_failed";
// The TLS handshake failed, including certificate or host name verification.
inline constexpr std::string_view kHttpsTlsFailed = "https.tls_failed";
// The whole exchange (connect + TLS + request + response) did not finish in time.
inline constexpr std::string_view kHttpsTimeout = "https.timeout";
// The peer closed early or sent a response the HTTP/1.1 parser refuses.
inline constexpr std::string_view kHttpsBadResponse = "https.bad_response";
// The response body exceeded Options::max_response_bytes.
inline constexpr std::string_view kHttpsResponseTooLarge = "https.response_too_large";

}  // namespace cosmoseal::proxy::net_detail
