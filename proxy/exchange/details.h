#pragma once

// Detail codes the exchange (Exchange, DownstreamConnection, MetadataFetch) produces. They are a
// public contract (x-cosmoseal-detail, logs, metrics, audit, tests): never rename one.

#include <string_view>

namespace cosmoseal::proxy::exchange_detail {

// The app closed its connection before it got an answer (499; recorded, never sent).
inline constexpr std::string_view kClientClosed = "client_closed";
// Admission.
inline constexpr std::string_view kHostMismatch = "transparent.host_mismatch";
inline constexpr std::string_view kBodyTooLarge = "http1.body_too_large";
inline constexpr std::string_view kHeaderTimeout = "http1.header_timeout";
inline constexpr std::string_view kBodyTimeout = "http1.body_timeout";
// The body arrived slower than timeouts.min_body_rate on average after its grace period (408).
inline constexpr std::string_view kBodyTooSlow = "http1.body_too_slow";
inline constexpr std::string_view kBufferBudget = "overload.buffer_budget";
inline constexpr std::string_view kBadCreate = "rules.bad_create";
// Request transform.
inline constexpr std::string_view kNoKeyring = "policy.no_keyring";
inline constexpr std::string_view kCompressedBody = "policy.compressed_body";
inline constexpr std::string_view kBinaryBody = "policy.binary_body";
inline constexpr std::string_view kUnexpectedOperation = "policy.unexpected_operation";
inline constexpr std::string_view kTooLargeAfterEncrypt = "policy.too_large_after_encrypt";
inline constexpr std::string_view kPartitionKeyUnresolved = "policy.partition_key_unresolved";
// (404 / 502) the names behind a RID-addressed route could not be read from the service.
inline constexpr std::string_view kRidUnresolved = "route.rid_unresolved";
inline constexpr std::string_view kKeyBudget = "crypto.key_budget";
// Routing on protected partition keys (routing.cc, docs/ROUTING.md).
// (400) x-ms-start-epk / x-ms-end-epk that are not range boundaries on a container whose
// partition key is sealed: the SDK hashed the plaintext key (a feed range or change feed "for a
// partition key"); forwarding them would leak a hash of the protected value and read nothing.
inline constexpr std::string_view kPlaintextEpk = "routing.plaintext_epk";
// (400) a prefix of a hierarchical sealed key whose range cannot be given in one request.
inline constexpr std::string_view kPrefixKeySpansRanges = "routing.prefix_key_spans_ranges";
// (502) the container's definition or partition-key ranges could not be read; nothing was sent.
inline constexpr std::string_view kRoutingUnavailable = "routing.map_unavailable";
// (400) a bulk body whose operations could not be regrouped per real range; nothing was sent.
inline constexpr std::string_view kBulkUnroutable = "routing.bulk_unroutable";
// Response handling.
inline constexpr std::string_view kCompressedResponse = "upstream.compressed_response";
inline constexpr std::string_view kResponseTooLarge = "upstream.response_too_large";
inline constexpr std::string_view kDiscoveryBadJson = "discovery.bad_json";

}  // namespace cosmoseal::proxy::exchange_detail
