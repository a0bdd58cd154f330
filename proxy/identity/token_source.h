#pragma once

// Where upstream Entra ID tokens come from (upstream.auth, proxy/config/upstream_auth.h):
//
//   workload_identity   POST <authority><tenant>/oauth2/v2.0/token, client credentials with the
//                       projected service account token as client_assertion (jwt-bearer). The
//                       file is read on every fetch: the kubelet rotates it.
//   client_secret       same endpoint, client_secret (read from secret_file on every fetch).
//   client_certificate  same endpoint, client_assertion = a JWT signed RS256 with the
//                       certificate's key (x5t and x5t#S256 headers; aud = the token URL,
//                       iss = sub = client id, 10 minutes), built on every fetch.
//   managed_identity    GET <endpoint>?api-version=2018-02-01&resource=<scope minus /.default>
//                       with `Metadata: true` (IMDS), or api-version=2019-08-01 with
//                       X-IDENTITY-HEADER (App Service style, IDENTITY_ENDPOINT/IDENTITY_HEADER);
//                       client_id selects a user-assigned identity.
//
// fetch() blocks (HttpsClient): it runs on the token refresher's thread, never on a loop.
// Credentials read from files are wiped after use; nothing secret is ever put in a message.

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "proxy/config/upstream_auth.h"
#include "proxy/identity/token.h"
#include "proxy/net/https_client.h"

namespace cosmoseal::proxy::identity {

class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // One token from the provider. Errors: the https.* details of HttpsClient, or
  // identity.token_endpoint_error, identity.bad_token_response, identity.credential_unusable.
  virtual common::StatusOr<AccessToken> fetch(int64_t now_unix) = 0;
  // "workload_identity (tenant T, client C)" for logs: no secrets.
  virtual std::string describe() const = 0;
};

// The source for an Entra type (config.isEntra()). Fails on an unusable endpoint URL.
common::StatusOr<std::unique_ptr<TokenSource>> makeTokenSource(const UpstreamAuthConfig& config);

// The client assertion for client_certificate (exposed for tests): a compact JWS, RS256.
common::StatusOr<std::string> makeCertificateAssertion(const std::string& pem_file,
                                                       const std::string& client_id,
                                                       const std::string& audience,
                                                       int64_t now_unix);

// managed_identity's resource: the scope without a trailing "/.default".
std::string resourceFromScope(const std::string& scope);

}  // namespace cosmoseal::proxy::identity
