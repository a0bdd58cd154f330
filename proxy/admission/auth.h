#pragma once

// Cosmos master-key authentication at the sidecar (ref/cosmos-protocol.md §1):
//   verify(): the app's Authorization header must be a `type=master` signature made with one of
//             the configured client keys, over this request's (verb, type, link, date), with a
//             date within ±15 minutes. Every client key is tried, in constant time over all of
//             them (no early exit), so the match reveals nothing through timing. A request
//             addressed by RIDs (resource.by_rid) may be signed over the lowercased RID (as the
//             .NET and Java SDKs do) or over the name-style link: both are tried, and the form
//             that matched is the one re-signed upstream.
//             With an `entra` section, a `type=aad&ver=1.0&sig=<JWT>` token is verified instead
//             (proxy/admission/entra_token.h: RS256 with the tenant's keys, iss, aud, exp/nbf,
//             tid) and mapped to the client whose entra.object_id is the token's oid, else whose
//             entra.app_id is its appid/azp. The string-to-sign for the upstream signature is
//             then built from the request itself (same method, resource and date headers as a
//             key-signed request), and the date rules are the same.
//   resign(): replaces Authorization with the real account key's signature over exactly the
//             same string (the x-ms-date sent upstream is the client's, unchanged).
//   Upstream credential: with upstream.auth type key, the account key (HMAC, above). With an
//             Entra ID type, sign() ignores the string-to-sign and sends the current token of
//             the snapshot's TokenCache as `type=aad&ver=1.0&sig=<token>`, URL-encoded like the
//             key form; no valid token gives 503 upstream.token_unavailable (upstreamReady()
//             lets the exchange refuse before anything is sent).
//
// Detail codes (401 unless noted): auth.missing, auth.malformed, auth.unsupported_token (a
// resource token, or an aad token without an `entra` section), auth.missing_date, auth.bad_date,
// auth.date_skew, auth.bad_signature; for aad tokens also auth.token_* (entra_token.h),
// auth.token_keys_unavailable (503: the tenant's keys were never fetched) and
// auth.unknown_identity (403: a valid token of no configured client).
//
// Unknown kid (a signing key rolled over early at the tenant; SDKs do not retry a 401): verify()
// answers 401 auth.token_key_unknown and asks for an early refresh of the tenant's keys
// (JwksCache::refreshForUnknownKid, rate-limited by entra.jwks_min_interval), and
// unknownKidGeneration() says whether there is a refresh to wait for. The exchange then holds
// the request instead of refusing it (Exchange::resumeAdmission): the worker's loop never
// blocks; the connection's timer polls the key set's generation every few milliseconds (a
// lock-free load, simpler and cheaper than waking every worker from the fetch thread, and the
// poll ends with the hold). When the generation moves (the fetch finished, successful or not) or
// entra.unknown_kid_wait (default 2 s) is over, the token is verified again: the key is found
// and the request goes on, or it is refused 401 auth.token_key_unknown, with the reason in the
// message and the reply's log line (still unknown after a successful refresh, the refresh
// failed, or it did not finish in time). Keys that could not be fetched are not a 503 here: the
// keys held before keep serving tokens that name them, and a kid that no key set holds is the
// token's problem as far as the sidecar can tell. Refused at once, no wait: no refresh to wait
// for (the rate limit refused the ask: a flood of bogus kids cannot park connections),
// entra.unknown_kid_wait 0, or entra.unknown_kid_max_held requests already held on this worker.
// Counted in cosmoseal_entra_unknown_kid_* (docs/OPERATIONS.md).
//
// One Authenticator per worker thread and ConfigSnapshot snapshot (it holds reusable HMAC
// contexts).

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/headers.h"
#include "common/status.h"
#include "crypto/cosmos_auth.h"
#include "proxy/config/snapshot.h"

namespace cosmoseal::proxy {

namespace identity {
class TokenCache;
}  // namespace identity

inline constexpr int64_t kMaxClockSkewSeconds = 15 * 60;
// An Entra ID token must stay valid this long for a request to be admitted and sent: enough to
// connect (upstream.connect_timeout defaults to 5 s) before it is put on the wire.
inline constexpr std::chrono::seconds kUpstreamTokenMargin{10};

// The date a signature covers: x-ms-date, or Date when x-ms-date is absent or empty (then
// x_ms_date is empty).
struct SignedDate {
  std::string_view x_ms_date;
  std::string_view date;
  bool operator==(const SignedDate&) const = default;
};
SignedDate signedDateOf(const common::HeaderMap& headers) noexcept;

class Authenticator {
 public:
  explicit Authenticator(const ConfigSnapshot& snapshot);

  // Returns the client whose key signed the request. With `string_to_sign`, a verified
  // request's string-to-sign is stored there: the upstream signature covers the same string
  // when the forwarded date headers are the same, so it need not be built twice.
  // With `identity`, an Entra ID token's identity is written there ("oid:<object id>" or
  // "appid:<app id>", for the audit record); it is left empty for client keys.
  common::StatusOr<const ClientEntry*> verify(std::string_view method,
                                              const crypto::CosmosResource& resource,
                                              const common::HeaderMap& headers, int64_t now_unix,
                                              std::string* string_to_sign = nullptr,
                                              std::string* identity = nullptr) noexcept;
  // The Authorization value signing `string_to_sign` with the account key.
  common::Status sign(std::string_view string_to_sign, std::string* authorization) noexcept;
  // OK when sign() can authorize an upstream request now: always with the account key; with
  // Entra ID, when the current token stays valid for at least `min_validity`. Otherwise
  // 503 upstream.token_unavailable saying why (no token yet, expired, the last refresh error).
  common::Status upstreamReady(std::chrono::seconds min_validity) const noexcept;
  // After verify() answered auth.token_key_unknown: the tenant key set's generation to wait for
  // before verifying again (JwksCache::refreshForUnknownKid), or 0 when there is nothing to wait
  // for. Set by that answer only.
  uint64_t unknownKidGeneration() const noexcept { return unknown_kid_generation_; }
  // Re-signs with the account key (sets Authorization in `headers`).
  common::Status resign(std::string_view method, const crypto::CosmosResource& resource,
                        common::HeaderMap* headers) noexcept;

 private:
  common::StatusOr<const ClientEntry*> verifyEntra(std::string_view token, std::string_view version,
                                                   std::string* string_to_sign,
                                                   std::string* identity, int64_t now_unix,
                                                   std::string_view method,
                                                   const crypto::CosmosResource& resource,
                                                   const common::HeaderMap& headers) noexcept;

  const ConfigSnapshot& snapshot_;
  // One per client, null for a client without a key (Entra ID only).
  std::vector<std::unique_ptr<crypto::HmacSha256>> client_macs_;
  std::unique_ptr<crypto::HmacSha256> account_mac_;  // null with an Entra ID upstream
  identity::TokenCache* tokens_ = nullptr;           // the snapshot's; null with type key
  uint64_t unknown_kid_generation_ = 0;
};

}  // namespace cosmoseal::proxy
