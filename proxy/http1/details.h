#pragma once

// Detail codes produced in proxy/http1/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::http1_detail {

inline constexpr std::string_view kParseError = "http1.parse_error";
inline constexpr std::string_view kTruncated = "http1.truncated";
inline constexpr std::string_view kTrailersRefused = "http1.trailers_refused";
inline constexpr std::string_view kUriTooLong = "http1.uri_too_long";
inline constexpr std::string_view kBadLineEnding = "http1.bad_line_ending";
inline constexpr std::string_view kHeadersTooLarge = "http1.headers_too_large";
inline constexpr std::string_view kBadRequestLine = "http1.bad_request_line";
inline constexpr std::string_view kBadStatusLine = "http1.bad_status_line";
inline constexpr std::string_view kBadVersion = "http1.bad_version";
inline constexpr std::string_view kHttp2Preface = "http1.http2_preface";
inline constexpr std::string_view kConnectRefused = "http1.connect_refused";
inline constexpr std::string_view kAbsoluteUri = "http1.absolute_uri";
inline constexpr std::string_view kBadHeaderValue = "http1.bad_header_value";
inline constexpr std::string_view kTooManyHeaders = "http1.too_many_headers";
inline constexpr std::string_view kObsFold = "http1.obs_fold";
inline constexpr std::string_view kBadHeaderName = "http1.bad_header_name";
inline constexpr std::string_view kSpaceBeforeColon = "http1.space_before_colon";
inline constexpr std::string_view kBadHost = "http1.bad_host";
inline constexpr std::string_view kClAndTe = "http1.cl_and_te";
inline constexpr std::string_view kDuplicateContentLength = "http1.duplicate_content_length";
inline constexpr std::string_view kBadContentLength = "http1.bad_content_length";
inline constexpr std::string_view kBadTransferEncoding = "http1.bad_transfer_encoding";
inline constexpr std::string_view kDuplicateHeader = "http1.duplicate_header";
inline constexpr std::string_view kUpgradeRefused = "http1.upgrade_refused";
inline constexpr std::string_view kBadExpect = "http1.bad_expect";
inline constexpr std::string_view kUnexpected1xx = "http1.unexpected_1xx";
inline constexpr std::string_view kBadChunk = "http1.bad_chunk";

}  // namespace cosmoseal::proxy::http1_detail
