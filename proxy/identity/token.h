#pragma once

// Access tokens for the upstream (Microsoft Entra ID) and the parsing of token endpoint answers.
//
// A token is a secret: it is held in SecretBytes (locked, zeroized) and never logged. Its
// expiry is kept as Unix seconds.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"

namespace cosmoseal::proxy::identity {

struct AccessToken {
  common::SecretBytes value;  // the JWT, as the issuer sent it
  int64_t expires_on = 0;     // Unix seconds
  int64_t obtained_at = 0;    // Unix seconds

  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(value.data()), value.size()};
  }
};

// Parses an OAuth 2.0 token response (Entra token endpoint) or a managed identity answer (IMDS,
// App Service): `access_token`, and `expires_in` (seconds, number or numeric string) or else
// `expires_on` (Unix seconds, number or numeric string). `now_unix` anchors expires_in.
// An `error` member gives identity.token_endpoint_error with the error code and description;
// anything else unusable (not one JSON object, no access_token, no usable expiry, a token a
// header cannot carry) gives identity.bad_token_response. Messages never contain the token; the
// parser's copies of the answer's strings are wiped before it returns.
common::StatusOr<AccessToken> parseTokenResponse(std::string_view json, int64_t now_unix);

// application/x-www-form-urlencoded value (RFC 3986 unreserved kept, everything else %XX).
void appendFormEncoded(std::string* out, std::string_view value);

// base64url without padding (JWT).
std::string base64UrlEncode(std::string_view data);

}  // namespace cosmoseal::proxy::identity
