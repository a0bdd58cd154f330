#include "proxy/admission/entra_token.h"

#include <simdjson.h>

#include <algorithm>

#include "proxy/admission/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

// Entra access tokens are a few KiB; anything far larger is not one (and is not parsed).
constexpr size_t kMaxTokenBytes = 16 * 1024;

Status refused(std::string_view detail, std::string msg) {
  return Status(Code::kUnauthenticated, detail, std::move(msg));
}

struct TokenParts {
  std::string_view header_b64, payload_b64, signature_b64;
  std::string_view signed_part;  // "header.payload"
};

bool splitToken(std::string_view token, TokenParts* parts) noexcept {
  if (token.empty() || token.size() > kMaxTokenBytes) return false;
  const size_t a = token.find('.');
  if (a == std::string_view::npos) return false;
  const size_t b = token.find('.', a + 1);
  if (b == std::string_view::npos || token.find('.', b + 1) != std::string_view::npos) {
    return false;
  }
  parts->header_b64 = token.substr(0, a);
  parts->payload_b64 = token.substr(a + 1, b - a - 1);
  parts->signature_b64 = token.substr(b + 1);
  parts->signed_part = token.substr(0, b);
  return !parts->header_b64.empty() && !parts->payload_b64.empty() && !parts->signature_b64.empty();
}

// A string member, or false when absent or not a string.
bool stringMember(simdjson::dom::object obj, std::string_view name, std::string* out) {
  std::string_view v;
  if (obj[name].get_string().get(v) != simdjson::SUCCESS) return false;
  out->assign(v);
  return true;
}

// A NumericDate member (integer or number seconds).
bool timeMember(simdjson::dom::object obj, std::string_view name, int64_t* out) {
  simdjson::dom::element el;
  if (obj[name].get(el) != simdjson::SUCCESS) return false;
  int64_t i = 0;
  if (el.get_int64().get(i) == simdjson::SUCCESS) {
    *out = i;
    return true;
  }
  double d = 0;
  if (el.get_double().get(d) == simdjson::SUCCESS && d > -1e12 && d < 1e12) {
    *out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

std::string_view withoutTrailingSlash(std::string_view s) {
  if (!s.empty() && s.back() == '/') s.remove_suffix(1);
  return s;
}

bool audienceMatches(std::string_view aud, const std::vector<std::string>& audiences) {
  return std::any_of(audiences.begin(), audiences.end(), [&](const std::string& a) {
    return withoutTrailingSlash(aud) == withoutTrailingSlash(a);
  });
}

bool parseObject(simdjson::dom::parser& parser, const std::string& json,
                 simdjson::dom::object* out) {
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS) return false;
  return root.get_object().get(*out) == simdjson::SUCCESS;
}

}  // namespace

std::string entraTokenKid(std::string_view token) noexcept {
  TokenParts parts;
  std::string header;
  if (!splitToken(token, &parts) || !crypto::base64UrlDecode(parts.header_b64, &header)) {
    return {};
  }
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  std::string kid;
  if (!parseObject(parser, header, &obj) || !stringMember(obj, "kid", &kid)) return {};
  return kid;
}

common::StatusOr<EntraIdentity> verifyEntraToken(std::string_view token,
                                                 const EntraTokenRules& rules,
                                                 const EntraKeyLookup& keys,
                                                 int64_t now_unix) noexcept {
  TokenParts parts;
  if (!splitToken(token, &parts)) {
    return refused(admission_detail::kTokenMalformed,
                   "the Entra ID token is not a JWT (three base64url parts)");
  }
  std::string header, payload, signature;
  if (!crypto::base64UrlDecode(parts.header_b64, &header) ||
      !crypto::base64UrlDecode(parts.payload_b64, &payload) ||
      !crypto::base64UrlDecode(parts.signature_b64, &signature)) {
    return refused(admission_detail::kTokenMalformed, "the Entra ID token is not base64url");
  }
  simdjson::dom::parser parser;
  simdjson::dom::object head;
  if (!parseObject(parser, header, &head)) {
    return refused(admission_detail::kTokenMalformed,
                   "the Entra ID token's header is not a JSON object");
  }
  std::string alg, kid;
  stringMember(head, "alg", &alg);
  if (alg != "RS256") {
    return refused(
        admission_detail::kTokenAlgorithm,
        "the Entra ID token is signed with '" + alg.substr(0, 16) + "'; only RS256 is accepted");
  }
  if (!stringMember(head, "kid", &kid) || kid.empty()) {
    return refused(admission_detail::kTokenKeyUnknown, "the Entra ID token names no key (kid)");
  }
  std::shared_ptr<const crypto::RsaPublicKey> key = keys ? keys(kid) : nullptr;
  if (key == nullptr) {
    return refused(admission_detail::kTokenKeyUnknown,
                   "the Entra ID token is signed with key '" + kid.substr(0, 64) +
                       "', which is not among the tenant's signing keys");
  }
  if (!key->verifyRs256(parts.signed_part, signature)) {
    return refused(admission_detail::kTokenSignature,
                   "the Entra ID token's signature does not verify");
  }
  // Signed by the tenant: the claims can be read.
  simdjson::dom::object claims;
  if (!parseObject(parser, payload, &claims)) {
    return refused(admission_detail::kTokenMalformed,
                   "the Entra ID token's payload is not a JSON object");
  }
  std::string iss;
  stringMember(claims, "iss", &iss);
  if (std::find(rules.issuers.begin(), rules.issuers.end(), iss) == rules.issuers.end()) {
    return refused(admission_detail::kTokenIssuer,
                   "the Entra ID token's issuer '" + iss.substr(0, 128) +
                       "' is not an accepted issuer of the configured tenant");
  }
  bool aud_ok = false;
  std::string aud_text;
  simdjson::dom::element aud;
  if (claims["aud"].get(aud) == simdjson::SUCCESS) {
    std::string_view one;
    simdjson::dom::array many;
    if (aud.get_string().get(one) == simdjson::SUCCESS) {
      aud_ok = audienceMatches(one, rules.audiences);
      aud_text = std::string(one.substr(0, 128));
    } else if (aud.get_array().get(many) == simdjson::SUCCESS) {
      for (simdjson::dom::element el : many) {
        if (el.get_string().get(one) == simdjson::SUCCESS && audienceMatches(one, rules.audiences))
          aud_ok = true;
      }
      aud_text = "(a list)";
    }
  }
  if (!aud_ok) {
    return refused(admission_detail::kTokenAudience,
                   "the Entra ID token's audience " + aud_text +
                       " is not one of the configured audiences (entra.audiences); request the "
                       "token for the scope <audience>/.default");
  }
  int64_t exp = 0;
  if (!timeMember(claims, "exp", &exp)) {
    return refused(admission_detail::kTokenMalformed, "the Entra ID token has no exp claim");
  }
  if (exp + rules.clock_skew_seconds <= now_unix) {
    return refused(admission_detail::kTokenExpired,
                   "the Entra ID token expired " + std::to_string(now_unix - exp) + " s ago");
  }
  int64_t nbf = 0;
  if (timeMember(claims, "nbf", &nbf) && nbf - rules.clock_skew_seconds > now_unix) {
    return refused(admission_detail::kTokenNotYetValid,
                   "the Entra ID token is valid only in " + std::to_string(nbf - now_unix) + " s");
  }
  EntraIdentity id;
  stringMember(claims, "tid", &id.tenant_id);
  if (id.tenant_id != rules.tenant_id) {
    return refused(admission_detail::kTokenTenant, "the Entra ID token is from tenant '" +
                                                       id.tenant_id.substr(0, 64) +
                                                       "', not the configured tenant");
  }
  stringMember(claims, "oid", &id.object_id);
  if (!stringMember(claims, "appid", &id.app_id)) stringMember(claims, "azp", &id.app_id);
  if (id.object_id.empty() && id.app_id.empty()) {
    return refused(admission_detail::kTokenNoIdentity,
                   "the Entra ID token carries neither oid nor appid/azp");
  }
  id.kid = std::move(kid);
  id.expires_at = exp;
  return id;
}

}  // namespace cosmoseal::proxy
