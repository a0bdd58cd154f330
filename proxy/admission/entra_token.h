#pragma once

// Verifies a Microsoft Entra ID access token (a JWT, RS256) that an app sends as
// `Authorization: type=aad&ver=1.0&sig=<token>`, and returns who it names. Everything is checked
// locally, with the tenant's signing keys (proxy/admission/jwks.h), in this order:
//   1. shape: three base64url parts, JSON header and payload          auth.token_malformed
//   2. header alg is exactly RS256 (never none, HS*, ES*, PS*)         auth.token_algorithm
//   3. header kid names a key of the tenant's JWKS                     auth.token_key_unknown
//   4. the RS256 signature over "header.payload"                       auth.token_signature
//   5. iss is one of the accepted issuers (v2 and, if allowed, v1)      auth.token_issuer
//   6. aud (string or list) holds one of the configured audiences      auth.token_audience
//   7. exp + skew > now                                                auth.token_expired
//   8. nbf - skew <= now (when present)                                auth.token_not_yet_valid
//   9. tid is the configured tenant                                    auth.token_tenant
//  10. an identity to map: oid, else appid (v1) / azp (v2)             auth.token_no_identity
// All failures are kUnauthenticated (401). Claims are read only after the signature holds, so an
// unsigned token's claims never reach a log line; messages name the claim, never the token.
//
// Thread-safe and allocation-light; the key lookup decides where keys come from (tests pass a
// map, the sidecar its JwksCache).

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "crypto/jws.h"

namespace cosmoseal::proxy {

struct EntraTokenRules {
  std::string tenant_id;               // the `tid` every token must carry
  std::vector<std::string> issuers;    // exact `iss` values accepted
  std::vector<std::string> audiences;  // `aud` must be one of them (compared exactly, and
                                       // ignoring one trailing '/')
  int64_t clock_skew_seconds = 120;    // leeway for exp and nbf
};

struct EntraIdentity {
  std::string object_id;  // oid: the service principal (or user) object id
  std::string app_id;     // appid (v1 tokens) or azp (v2 tokens): the application (client) id
  std::string tenant_id;
  std::string kid;
  int64_t expires_at = 0;  // exp, Unix seconds
};

// Returns the key with this kid, or null when the current key set has none.
using EntraKeyLookup =
    std::function<std::shared_ptr<const crypto::RsaPublicKey>(std::string_view kid)>;

// The `kid` of a token's header, without verifying anything ("" when the header is unreadable).
// Used to decide whether an unknown key warrants a JWKS refresh.
std::string entraTokenKid(std::string_view token) noexcept;

common::StatusOr<EntraIdentity> verifyEntraToken(std::string_view token,
                                                 const EntraTokenRules& rules,
                                                 const EntraKeyLookup& keys,
                                                 int64_t now_unix) noexcept;

}  // namespace cosmoseal::proxy
