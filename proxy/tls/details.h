#pragma once

// Detail codes produced in proxy/tls/: a stable, public contract (x-cosmoseal-detail, the body of
// local replies, logs, metrics, audit, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::tls_detail {

inline constexpr std::string_view kSetupFailed = "tls.setup_failed";
inline constexpr std::string_view kBadCertificate = "tls.bad_certificate";
inline constexpr std::string_view kBadPrivateKey = "tls.bad_private_key";
inline constexpr std::string_view kKeyMismatch = "tls.key_mismatch";
inline constexpr std::string_view kBadCaFile = "tls.bad_ca_file";
inline constexpr std::string_view kNoTrustStore = "tls.no_trust_store";
inline constexpr std::string_view kVerifyFailed = "tls.verify_failed";
inline constexpr std::string_view kProtocolError = "tls.protocol_error";
inline constexpr std::string_view kHandshakeFailed = "tls.handshake_failed";

}  // namespace cosmoseal::proxy::tls_detail
