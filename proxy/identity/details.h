#pragma once

// Detail codes produced in proxy/identity/ (Entra ID tokens for the upstream): a stable, public
// contract (x-cosmoseal-detail, local replies, logs, metrics, tests). Never rename or reword one.

#include <string_view>

namespace cosmoseal::proxy::identity_detail {

// 503: upstream.auth is an Entra ID type and no valid token is held (never obtained yet, or
// expired while the token endpoint fails). The request is not sent upstream.
inline constexpr std::string_view kTokenUnavailable = "upstream.token_unavailable";
// A token endpoint answered with an error (the OAuth `error` code is in the message).
inline constexpr std::string_view kTokenEndpointError = "identity.token_endpoint_error";
// A token endpoint's answer is not a usable token response.
inline constexpr std::string_view kBadTokenResponse = "identity.bad_token_response";
// A credential file (federated token, client secret, certificate) cannot be read or used.
inline constexpr std::string_view kCredentialUnusable = "identity.credential_unusable";

}  // namespace cosmoseal::proxy::identity_detail
