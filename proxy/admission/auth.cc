#include "proxy/admission/auth.h"

#include <openssl/crypto.h>

#include "common/text.h"
#include "crypto/base64.h"
#include "crypto/details.h"
#include "proxy/admission/details.h"
#include "proxy/identity/details.h"
#include "proxy/identity/token_cache.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

Status unauthenticated(std::string_view detail, std::string msg) {
  return Status(Code::kUnauthenticated, detail, std::move(msg));
}

// The date a signature covers, checked against the sidecar's clock (±kMaxClockSkewSeconds).
Status checkDate(const SignedDate& d, int64_t now_unix) {
  const std::string_view date_text = d.x_ms_date.empty() ? d.date : d.x_ms_date;
  if (date_text.empty()) {
    return unauthenticated(admission_detail::kMissingDate,
                           "the request has neither x-ms-date nor Date");
  }
  auto when = crypto::parseHttpDate(date_text);
  if (!when.isOk())
    return unauthenticated(crypto::crypto_detail::kBadDate, "x-ms-date is not an RFC 1123 date");
  const int64_t skew = *when - now_unix;
  if (skew > kMaxClockSkewSeconds || skew < -kMaxClockSkewSeconds) {
    return unauthenticated(admission_detail::kDateSkew,
                           "x-ms-date is " + std::to_string(skew < 0 ? -skew : skew) +
                               " s away from the sidecar's clock (limit " +
                               std::to_string(kMaxClockSkewSeconds) + " s)");
  }
  return Status::ok();
}

// Entra ids are GUIDs; compare without regard to case.
bool sameId(std::string_view a, std::string_view b) {
  return !a.empty() && common::equalsIgnoreCase(a, b);
}

}  // namespace

SignedDate signedDateOf(const common::HeaderMap& headers) noexcept {
  SignedDate d;
  if (const std::string_view* x = headers.get(common::HeaderToken::kXMsDate)) d.x_ms_date = *x;
  if (d.x_ms_date.empty()) {
    if (const std::string_view* date = headers.get(common::HeaderToken::kDate)) d.date = *date;
  }
  return d;
}

Authenticator::Authenticator(const ConfigSnapshot& snapshot) : snapshot_(snapshot) {
  client_macs_.reserve(snapshot.clients().size());
  for (const ClientEntry& c : snapshot.clients()) {
    client_macs_.push_back(c.key.empty() ? nullptr : std::make_unique<crypto::HmacSha256>(c.key));
  }
  tokens_ = snapshot.upstreamTokens().get();
  if (tokens_ == nullptr)
    account_mac_ = std::make_unique<crypto::HmacSha256>(snapshot.accountKey());
}

common::StatusOr<const ClientEntry*> Authenticator::verify(std::string_view method,
                                                           const crypto::CosmosResource& resource,
                                                           const common::HeaderMap& headers,
                                                           int64_t now_unix,
                                                           std::string* string_to_sign,
                                                           std::string* identity) noexcept {
  if (identity != nullptr) identity->clear();
  const std::string_view* auth = headers.get("authorization");
  if (auth == nullptr || auth->empty()) {
    return unauthenticated(admission_detail::kMissing, "the request has no Authorization header");
  }
  // Entra ID tokens are longer than key signatures: the larger bound only when they are accepted,
  // and a key signature keeps the 1 KiB one.
  const bool entra = snapshot_.entraKeys() != nullptr;
  auto parsed = crypto::parseCosmosAuthorization(
      *auth, entra ? crypto::kMaxAadAuthorizationHeader : crypto::kMaxAuthorizationHeader);
  if (!parsed.isOk() || (parsed->type != "aad" && auth->size() > crypto::kMaxAuthorizationHeader)) {
    return unauthenticated(crypto::crypto_detail::kMalformed,
                           "the Authorization header is not a Cosmos token");
  }
  if (parsed->type == "aad" && entra) {
    return verifyEntra(parsed->sig, parsed->version, string_to_sign, identity, now_unix, method,
                       resource, headers);
  }
  if (parsed->type != "master") {
    return unauthenticated(
        admission_detail::kUnsupportedToken,
        "token type '" + parsed->type +
            "' is not supported: resource tokens and Entra ID (AAD) tokens cannot be verified and "
            "re-signed by the sidecar; configure the app with its cosmoseal client key");
  }
  if (parsed->version != "1.0") {
    return unauthenticated(crypto::crypto_detail::kMalformed,
                           "unsupported token version '" + parsed->version + "'");
  }
  const SignedDate d = signedDateOf(headers);
  COSMOSEAL_RETURN_IF_ERROR(checkDate(d, now_unix));

  uint8_t presented[64];
  size_t presented_len = 0;
  if (parsed->sig.size() > 88 ||
      !crypto::base64DecodeTo(parsed->sig, presented, &presented_len) || presented_len != 32) {
    return unauthenticated(admission_detail::kBadSignature, "the request signature is malformed");
  }
  // The name-style link, and for RID-addressed requests the RID link too.
  std::string candidates[2] = {
      crypto::cosmosStringToSign(method, resource.type, resource.link, d.x_ms_date, d.date), {}};
  const size_t forms = resource.by_rid ? 2 : 1;
  if (resource.by_rid) {
    candidates[1] = crypto::cosmosStringToSign(
        method, resource.type, crypto::cosmosRidLink(resource.link), d.x_ms_date, d.date);
  }
  // Constant time over all clients and forms: every MAC is computed and compared, no early exit.
  size_t match = snapshot_.clients().size();
  size_t form = 0;
  for (size_t f = 0; f < forms; ++f) {
    for (size_t i = 0; i < client_macs_.size(); ++i) {
      // Clients without a key (Entra ID only) are skipped: which clients have keys is
      // configuration, not a secret the timing could reveal.
      if (client_macs_[i] == nullptr) continue;
      const std::array<uint8_t, 32> mac = client_macs_[i]->mac(candidates[f]);
      const int diff = CRYPTO_memcmp(mac.data(), presented, 32);
      const size_t is_match = static_cast<size_t>(diff == 0);
      match = is_match * i + (1 - is_match) * match;
      form = is_match * f + (1 - is_match) * form;
    }
  }
  if (match >= snapshot_.clients().size()) {
    return unauthenticated(admission_detail::kBadSignature,
                           "the request signature does not match any configured client key");
  }
  std::string& sts = candidates[form];
  if (string_to_sign != nullptr) *string_to_sign = std::move(sts);
  return &snapshot_.clients()[match];
}

common::StatusOr<const ClientEntry*> Authenticator::verifyEntra(
    std::string_view token, std::string_view version, std::string* string_to_sign,
    std::string* identity, int64_t now_unix, std::string_view method,
    const crypto::CosmosResource& resource, const common::HeaderMap& headers) noexcept {
  if (version != "1.0") {
    return unauthenticated(
        crypto::crypto_detail::kMalformed,
        "unsupported token version '" + std::string(version.substr(0, 16)) + "'");
  }
  // The upstream signature needs the request's date, and the same window as a key signature.
  const SignedDate d = signedDateOf(headers);
  COSMOSEAL_RETURN_IF_ERROR(checkDate(d, now_unix));
  JwksCache& keys = *snapshot_.entraKeys();
  if (!keys.hasKeys()) {
    keys.requestRefresh();
    return Status(Code::kUnavailable, admission_detail::kTokenKeysUnavailable,
                  "the signing keys of the Entra ID tenant could not be fetched yet (see the "
                  "sidecar's log); Entra ID tokens cannot be verified");
  }
  auto id = verifyEntraToken(
      token, snapshot_.entraRules(), [&keys](std::string_view kid) { return keys.find(kid); },
      now_unix);
  if (!id.isOk()) {
    if (id.status().detail() == admission_detail::kTokenKeyUnknown) {
      // A token that names no key at all is refused at once: no refresh could find its key.
      unknown_kid_generation_ = entraTokenKid(token).empty() ? 0 : keys.refreshForUnknownKid();
    }
    return id.status();
  }
  const ClientEntry* found = nullptr;
  for (const ClientEntry& c : snapshot_.clients()) {
    if (c.config != nullptr && c.config->entra &&
        sameId(c.config->entra->object_id, id->object_id)) {
      found = &c;
      break;
    }
  }
  if (found == nullptr) {
    for (const ClientEntry& c : snapshot_.clients()) {
      if (c.config != nullptr && c.config->entra && sameId(c.config->entra->app_id, id->app_id)) {
        found = &c;
        break;
      }
    }
  }
  if (found == nullptr) {
    return Status(Code::kPermissionDenied, admission_detail::kUnknownIdentity,
                  "the Entra ID token is valid but its identity (oid " +
                      id->object_id.substr(0, 64) + ", appid " + id->app_id.substr(0, 64) +
                      ") is no configured client's (clients[].entra)");
  }
  if (identity != nullptr) {
    *identity = !id->object_id.empty() ? "oid:" + id->object_id : "appid:" + id->app_id;
  }
  if (string_to_sign != nullptr) {
    *string_to_sign = crypto::cosmosStringToSign(
        method, resource.type,
        resource.by_rid ? crypto::cosmosRidLink(resource.link) : resource.link, d.x_ms_date,
        d.date);
  }
  return found;
}

Status Authenticator::upstreamReady(std::chrono::seconds min_validity) const noexcept {
  if (tokens_ == nullptr || tokens_->current(min_validity) != nullptr) return Status::ok();
  return Status(Code::kUnavailable, identity_detail::kTokenUnavailable,
                "no valid Entra ID token for the upstream (" + tokens_->unavailableReason() +
                    "); the request was not sent");
}

Status Authenticator::sign(std::string_view string_to_sign, std::string* authorization) noexcept {
  if (tokens_ != nullptr) {
    // "type=aad&ver=1.0&sig=<token>", URL-encoded as the SDKs send it: a JWT is base64url and
    // dots, which need no escaping.
    const std::shared_ptr<const identity::AccessToken> token = tokens_->current();
    if (token == nullptr) return upstreamReady(std::chrono::seconds(0));
    static constexpr std::string_view kPrefix = "type%3Daad%26ver%3D1.0%26sig%3D";
    authorization->clear();
    authorization->reserve(kPrefix.size() + token->value.size());
    authorization->append(kPrefix).append(token->view());
    return Status::ok();
  }
  if (!account_mac_->ok()) {
    return Status(Code::kInternal, admission_detail::kSignFailed,
                  "cannot compute the upstream signature");
  }
  *authorization = crypto::cosmosAuthorizationHeader(account_mac_->macBase64(string_to_sign));
  return Status::ok();
}

Status Authenticator::resign(std::string_view method, const crypto::CosmosResource& resource,
                             common::HeaderMap* headers) noexcept {
  const SignedDate d = signedDateOf(*headers);
  const std::string sts = crypto::cosmosStringToSign(
      method, resource.type, resource.by_rid ? crypto::cosmosRidLink(resource.link) : resource.link,
      d.x_ms_date, d.date);
  std::string authorization;
  COSMOSEAL_RETURN_IF_ERROR(sign(sts, &authorization));
  headers->set("authorization", authorization);
  return Status::ok();
}

}  // namespace cosmoseal::proxy
