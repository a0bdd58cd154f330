#include "proxy/identity/key_vault_kek.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>

#include "common/text.h"
#include "crypto/aead.h"
#include "crypto/details.h"
#include "crypto/jws.h"
#include "crypto/keyring.h"
#include "proxy/config/upstream_auth.h"
#include "proxy/identity/token.h"
#include "proxy/identity/token_source.h"
#include "proxy/net/https_client.h"

namespace cosmoseal::proxy::identity {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

constexpr std::string_view kApiVersion = "api-version=7.4";
constexpr uint8_t kFormat = 0x04;
constexpr size_t kCekSize = 32;
constexpr std::string_view kEnvelopeLabel = "cosmoseal/v1/akv-envelope";
// A token is reused while it has this much life left (the unwraps of one load take seconds).
constexpr int64_t kTokenMargin = 60;
constexpr std::chrono::milliseconds kVaultTimeout{10000};

Status configError(std::string m) {
  return Status(Code::kFailedPrecondition, crypto::crypto_detail::kKekConfig, std::move(m));
}
Status unavailable(std::string m) {
  return Status(Code::kFailedPrecondition, crypto::crypto_detail::kKekUnavailable, std::move(m));
}
Status badWrapped(std::string m) {
  return Status(Code::kFailedPrecondition, crypto::crypto_detail::kBadWrapped, std::move(m));
}
Status unwrapFailed(std::string m) {
  return Status(Code::kFailedPrecondition, crypto::crypto_detail::kUnwrapFailed, std::move(m));
}

std::string envOr(const std::string& given, const char* name) {
  if (!given.empty()) return given;
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// The spec's identity as an upstream.auth block (the same token sources), with the AZURE_*
// environment defaults the config reader applies to upstream.auth.
StatusOr<UpstreamAuthConfig> authOf(const crypto::AzureKeyVaultKekSpec& s) {
  UpstreamAuthConfig a;
  if (s.auth_type == "workload_identity") {
    a.type = UpstreamAuthType::kWorkloadIdentity;
  } else if (s.auth_type == "managed_identity") {
    a.type = UpstreamAuthType::kManagedIdentity;
  } else if (s.auth_type == "client_secret") {
    a.type = UpstreamAuthType::kClientSecret;
  } else if (s.auth_type == "client_certificate") {
    a.type = UpstreamAuthType::kClientCertificate;
  } else {
    return configError("azure_key_vault auth '" + s.auth_type + "' is not an Entra ID type");
  }
  a.tenant_id = envOr(s.tenant_id, "AZURE_TENANT_ID");
  a.client_id = envOr(s.client_id, "AZURE_CLIENT_ID");
  const std::string host = envOr(s.authority_host, "AZURE_AUTHORITY_HOST");
  if (!host.empty()) a.authority_host = host;
  if (a.authority_host.back() != '/') a.authority_host += '/';
  a.scope = s.scope.empty() ? keyVaultScope(s.vault_url) : s.scope;
  a.ca_file = s.ca_file;
  switch (a.type) {
    case UpstreamAuthType::kWorkloadIdentity:
      a.token_file = envOr(s.token_file, "AZURE_FEDERATED_TOKEN_FILE");
      if (a.token_file.empty()) {
        return configError(
            "azure_key_vault auth workload_identity needs token_file (or "
            "AZURE_FEDERATED_TOKEN_FILE, which the workload identity webhook sets)");
      }
      break;
    case UpstreamAuthType::kClientSecret:
      a.secret_file = s.secret_file;
      if (a.secret_file.empty()) return configError("azure_key_vault auth needs secret_file");
      break;
    case UpstreamAuthType::kClientCertificate:
      a.certificate_file = s.certificate_file;
      if (a.certificate_file.empty()) {
        return configError("azure_key_vault auth needs certificate_file");
      }
      break;
    case UpstreamAuthType::kManagedIdentity: {
      const char* ep = std::getenv("IDENTITY_ENDPOINT");
      const char* hdr = std::getenv("IDENTITY_HEADER");
      const bool app_service = hdr != nullptr && *hdr != '\0';
      if (!s.endpoint.empty()) {
        a.endpoint = s.endpoint;
        a.app_service = app_service;
      } else if (ep != nullptr && *ep != '\0' && app_service) {
        a.endpoint = ep;
        a.app_service = true;
      }
      break;
    }
    case UpstreamAuthType::kKey:
      break;
  }
  if (a.type != UpstreamAuthType::kManagedIdentity &&
      (a.tenant_id.empty() || a.client_id.empty())) {
    return configError("azure_key_vault auth " + s.auth_type +
                       " needs tenant_id and client_id (or AZURE_TENANT_ID and AZURE_CLIENT_ID)");
  }
  return a;
}

void wipe(std::string* s) noexcept {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

void putU16(std::string* out, size_t v) {
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

crypto::ByteSpan bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string gcmAad(const crypto::WrapEntry& e, std::string_view header) {
  std::string aad(kEnvelopeLabel);
  aad += crypto::keyWrapAad(e.name, e.version, e.id);
  aad += header;
  return aad;
}

// The vault's error body {"error":{"code","message","innererror":{"code"}}} as text.
std::string vaultError(const net::HttpsResponse& r) {
  std::string out = std::to_string(r.status);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(r.body.data(), r.body.size(), true).get(root) == simdjson::SUCCESS) {
    std::string_view code;
    std::string_view message;
    std::string_view inner;
    const auto err = root["error"];
    if (err["code"].get_string().get(code) == simdjson::SUCCESS) out += " " + std::string(code);
    if (err["innererror"]["code"].get_string().get(inner) == simdjson::SUCCESS) {
      out += " (" + std::string(inner) + ")";
    }
    if (err["message"].get_string().get(message) == simdjson::SUCCESS) {
      out += ": " + std::string(message.substr(0, 400));
    }
  }
  return out;
}

// The text of a string member `"name":"..."` of a flat JSON answer, in place; "" when absent or
// escaped (base64url values never need escapes). For answers holding secrets: no copy is made.
std::string_view stringMember(std::string_view json, std::string_view name) {
  const std::string key = "\"" + std::string(name) + "\"";
  size_t at = json.find(key);
  if (at == std::string_view::npos) return {};
  at += key.size();
  while (at < json.size() &&
         (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r'))
    ++at;
  if (at >= json.size() || json[at] != ':') return {};
  ++at;
  while (at < json.size() &&
         (json[at] == ' ' || json[at] == '\t' || json[at] == '\n' || json[at] == '\r'))
    ++at;
  if (at >= json.size() || json[at] != '"') return {};
  const size_t end = json.find('"', ++at);
  if (end == std::string_view::npos) return {};
  const std::string_view v = json.substr(at, end - at);
  return v.find('\\') == std::string_view::npos ? v : std::string_view();
}

class KeyVaultKek final : public crypto::KekProvider {
 public:
  KeyVaultKek(crypto::AzureKeyVaultKekSpec spec, std::unique_ptr<TokenSource> tokens)
      : spec_(std::move(spec)),
        tokens_(std::move(tokens)),
        http_(net::HttpsClient::Options{spec_.ca_file, false, 1u << 20}),
        key_prefix_(spec_.vault_url + "/keys/" + spec_.key_name + "/") {}

  ~KeyVaultKek() override { http_.closeIdle(); }

  // Looks the key up: its kid (the current version unless one is given) and type.
  Status open() {
    std::string url = spec_.vault_url + "/keys/" + spec_.key_name;
    if (!spec_.key_version.empty()) url += "/" + spec_.key_version;
    url += "?" + std::string(kApiVersion);
    COSMOSEAL_ASSIGN_OR_RETURN(net::HttpsResponse r, call("GET", url, std::string(), "get key"));
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view kid;
    std::string_view kty;
    if (parser.parse(r.body.data(), r.body.size(), true).get(root) != simdjson::SUCCESS ||
        root["key"]["kid"].get_string().get(kid) != simdjson::SUCCESS ||
        root["key"]["kty"].get_string().get(kty) != simdjson::SUCCESS) {
      return unavailable("Key Vault " + spec_.vault_url + " answered get key " + spec_.key_name +
                         " without key.kid and key.kty");
    }
    bool enabled = true;
    if (root["attributes"]["enabled"].get_bool().get(enabled) == simdjson::SUCCESS && !enabled) {
      return unavailable("Key Vault key " + std::string(kid) +
                         " is disabled; enable it or name another version");
    }
    if (!ownsKid(std::string(kid))) {
      return unavailable("Key Vault " + spec_.vault_url + " answered with kid " + std::string(kid) +
                         ", which is not a version of key " + spec_.key_name + " in this vault");
    }
    id_ = std::string(kid);
    // AES keys exist only in Managed HSM; otherwise the host name tells.
    managed_hsm_ =
        kty == "oct-HSM" || keyVaultScope(spec_.vault_url).find("managedhsm") != std::string::npos;
    const bool rsa = kty == "RSA" || kty == "RSA-HSM";
    const bool oct = kty == "oct" || kty == "oct-HSM";
    alg_ = spec_.algorithm;
    if (alg_ == "auto") {
      if (!rsa && !oct) {
        return configError("Key Vault key " + id_ + " has type " + std::string(kty) +
                           "; the KEK must be an RSA or an AES (oct-HSM) key");
      }
      alg_ = rsa ? "RSA-OAEP-256" : "A256KW";
    } else if ((alg_ == "A256KW") != oct || (!rsa && !oct)) {
      return configError("algorithm " + alg_ + " does not fit Key Vault key " + id_ + " of type " +
                         std::string(kty));
    }
    return Status::ok();
  }

  const std::string& id() const noexcept override { return id_; }

  std::string describe() const override {
    return std::string(managed_hsm_ ? "Managed HSM" : "Key Vault") + " key " + id_ + " (" + alg_ +
           " in the vault + AES-256-GCM envelope, token from " + tokens_->describe() + ")";
  }

  bool recognizes(const std::string& recorded_id) const override { return ownsKid(recorded_id); }

  StatusOr<std::string> wrap(const crypto::WrapEntry& e, const common::SecretBytes& dek,
                             crypto::RandomSource& rng) override {
    common::SecretBytes cek(kCekSize);
    uint8_t nonce[crypto::kGcmNonceSize];
    if (!rng.fill(cek.mutableView()) || !rng.fill(std::span<uint8_t>(nonce, sizeof(nonce)))) {
      return Status(Code::kInternal, crypto::crypto_detail::kWrapFailed, "no randomness");
    }
    // The CEK's text is a secret: built in buffers sized once and wiped (no stray copies).
    std::string enc =
        base64UrlEncode(std::string_view(reinterpret_cast<const char*>(cek.data()), cek.size()));
    std::string body;
    body.reserve(enc.size() + alg_.size() + 32);
    body += R"({"alg":")";
    body += alg_;
    body += R"(","value":")";
    body += enc;
    body += "\"}";
    wipe(&enc);
    auto r = call("POST", id_ + "/wrapkey?" + std::string(kApiVersion), body, "wrapkey");
    wipe(&body);
    if (!r.isOk()) return r.status();
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    std::string_view value;
    std::string wrapped_cek;
    if (parser.parse(r->body.data(), r->body.size(), true).get(root) != simdjson::SUCCESS ||
        root["value"].get_string().get(value) != simdjson::SUCCESS ||
        !crypto::base64UrlDecode(value, &wrapped_cek) || wrapped_cek.empty() ||
        wrapped_cek.size() > 0xffff) {
      return Status(Code::kInternal, crypto::crypto_detail::kWrapFailed,
                    "Key Vault wrapkey answered without a usable value");
    }
    std::string out;
    out.push_back(static_cast<char>(kFormat));
    out.push_back(static_cast<char>(alg_.size()));
    out += alg_;
    putU16(&out, id_.size());
    out += id_;
    putU16(&out, wrapped_cek.size());
    out += wrapped_cek;
    const std::string aad = gcmAad(e, out);
    out.append(reinterpret_cast<const char*>(nonce), sizeof(nonce));
    const size_t ct_at = out.size();
    out.resize(ct_at + dek.size() + crypto::kTagSize);
    crypto::AesGcm256 gcm;
    COSMOSEAL_RETURN_IF_ERROR(gcm.setKey(cek.view()));
    auto* o = reinterpret_cast<uint8_t*>(out.data());
    if (!gcm.seal(nonce, bytes(aad), dek.data(), dek.size(), o + ct_at, o + ct_at + dek.size())) {
      return Status(Code::kInternal, crypto::crypto_detail::kWrapFailed, "AES-GCM seal failed");
    }
    return out;
  }

  StatusOr<common::SecretBytes> unwrap(const crypto::WrapEntry& e,
                                       std::string_view wrapped) override {
    // Parse: format, alg, kid, wrapped CEK, nonce, ciphertext, tag.
    std::string_view in = wrapped;
    auto take = [&in](size_t n, std::string_view* out) {
      if (in.size() < n) return false;
      *out = in.substr(0, n);
      in.remove_prefix(n);
      return true;
    };
    auto takeU16 = [&](size_t* v) {
      std::string_view b;
      if (!take(2, &b)) return false;
      *v = (size_t{static_cast<uint8_t>(b[0])} << 8) | static_cast<uint8_t>(b[1]);
      return true;
    };
    std::string_view fmt;
    std::string_view alen;
    std::string_view alg;
    std::string_view kid;
    std::string_view wcek;
    std::string_view nonce;
    size_t kid_len = 0;
    size_t wcek_len = 0;
    if (!take(1, &fmt) || static_cast<uint8_t>(fmt[0]) != kFormat) {
      return badWrapped("the wrapped key is not a Key Vault envelope (format 0x04)");
    }
    if (!take(1, &alen) || !take(static_cast<uint8_t>(alen[0]), &alg) || !takeU16(&kid_len) ||
        !take(kid_len, &kid) || !takeU16(&wcek_len) || !take(wcek_len, &wcek) ||
        !take(crypto::kGcmNonceSize, &nonce) || in.size() < crypto::kTagSize + 1) {
      return badWrapped("the Key Vault envelope is truncated");
    }
    if (alg != "RSA-OAEP-256" && alg != "RSA-OAEP" && alg != "A256KW") {
      return badWrapped("the Key Vault envelope names algorithm " + std::string(alg));
    }
    if (!ownsKid(std::string(kid))) {
      return badWrapped("the Key Vault envelope was made by " + std::string(kid) +
                        ", not by a version of " + key_prefix_ + "*");
    }
    const std::string_view header = wrapped.substr(0, wrapped.size() - in.size() - nonce.size());
    std::string body =
        R"({"alg":")" + std::string(alg) + R"(","value":")" + base64UrlEncode(wcek) + "\"}";
    auto r = call("POST", std::string(kid) + "/unwrapkey?" + std::string(kApiVersion), body,
                  "unwrapkey");
    wipe(&body);
    if (!r.isOk()) return r.status();
    // The answer carries the CEK: read in place (no JSON parser copies it) and wiped.
    std::string cek;
    cek.reserve(kCekSize + 8);  // base64UrlDecode reserves first: one buffer, wiped below
    const std::string_view value = stringMember(r->body, "value");
    const bool ok = !value.empty() && value.size() <= 64 && crypto::base64UrlDecode(value, &cek);
    wipe(&r->body);
    if (!ok || cek.size() != kCekSize) {
      wipe(&cek);
      return unwrapFailed("Key Vault unwrapkey answered without a 32-byte key");
    }
    crypto::AesGcm256 gcm;
    const Status keyed = gcm.setKey(bytes(cek));
    wipe(&cek);
    COSMOSEAL_RETURN_IF_ERROR(keyed);
    const size_t n = in.size() - crypto::kTagSize;
    common::SecretBytes dek(n);
    const std::string aad = gcmAad(e, header);
    const auto* c = reinterpret_cast<const uint8_t*>(in.data());
    if (!gcm.open(reinterpret_cast<const uint8_t*>(nonce.data()), bytes(aad), c, n, c + n,
                  dek.data())) {
      return unwrapFailed("the Key Vault envelope of " + std::string(e.name) + " v" +
                          std::to_string(e.version) +
                          " does not verify: altered, or moved from another keyring entry");
    }
    return dek;
  }

 private:
  bool ownsKid(const std::string& kid) const {
    if (kid.size() <= key_prefix_.size() || kid.compare(0, key_prefix_.size(), key_prefix_) != 0) {
      return false;
    }
    for (size_t i = key_prefix_.size(); i < kid.size(); ++i) {
      const char c = kid[i];
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            c == '-')) {
        return false;
      }
    }
    return true;
  }

  // A token with kTokenMargin seconds of life, fetched when needed.
  StatusOr<std::string_view> token() {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    if (token_.value.empty() || token_.expires_on - kTokenMargin < now) {
      auto t = tokens_->fetch(now);
      if (!t.isOk()) {
        return unavailable("no Entra ID token for Key Vault " + spec_.vault_url + " from " +
                           tokens_->describe() + ": " + std::string(t.status().detail()) + ": " +
                           std::string(t.status().message()));
      }
      token_ = std::move(t).value();
    }
    return token_.view();
  }

  // One request to the vault; any non-2xx is refused with the vault's error code and message.
  StatusOr<net::HttpsResponse> call(const std::string& method, const std::string& url,
                                    const std::string& body, const char* what) {
    COSMOSEAL_ASSIGN_OR_RETURN(std::string_view bearer, token());
    net::HttpsRequest req;
    req.method = method;
    req.url = url;
    req.timeout = kVaultTimeout;
    std::string auth = "Bearer ";
    auth += bearer;
    req.headers.emplace_back("Authorization", std::move(auth));
    req.headers.emplace_back("Accept", "application/json");
    if (!body.empty()) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = body;
    }
    auto r = http_.send(req);
    wipe(&req.headers[0].second);
    wipe(&req.body);
    if (!r.isOk()) {
      return unavailable("Key Vault " + spec_.vault_url + " unreachable (" + what +
                         "): " + std::string(r.status().detail()) + ": " +
                         std::string(r.status().message()));
    }
    if (r->status < 200 || r->status > 299) {
      if (r->status == 401) token_ = AccessToken();  // fetched again next time
      const std::string why = "Key Vault " + spec_.vault_url + " refused " + what + " of key " +
                              spec_.key_name + ": " + vaultError(*r);
      wipe(&r->body);
      // 400 on unwrapkey: the vault cannot unwrap that value (altered, or another key's).
      if (r->status == 400 && std::string_view(what) == "unwrapkey") return unwrapFailed(why);
      return unavailable(why);
    }
    return r;
  }

  crypto::AzureKeyVaultKekSpec spec_;
  std::unique_ptr<TokenSource> tokens_;
  net::HttpsClient http_;
  std::string key_prefix_;  // {vault}/keys/{name}/
  std::string id_;
  std::string alg_;
  bool managed_hsm_ = false;
  AccessToken token_;
};

}  // namespace

std::string keyVaultScope(const std::string& vault_url) {
  auto url = net::parseUrl(vault_url);
  if (url.isOk()) {
    const std::string host = common::toLowerAscii(url->host);
    const std::string_view suffix = ".managedhsm.azure.net";
    if (host.size() > suffix.size() &&
        host.compare(host.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return "https://managedhsm.azure.net/.default";
    }
  }
  return "https://vault.azure.net/.default";
}

StatusOr<std::unique_ptr<crypto::KekProvider>> openKeyVaultKek(
    const crypto::AzureKeyVaultKekSpec& spec) {
  COSMOSEAL_RETURN_IF_ERROR(crypto::checkAzureKeyVaultKekSpec(spec));
  COSMOSEAL_ASSIGN_OR_RETURN(UpstreamAuthConfig auth, authOf(spec));
  auto source = makeTokenSource(auth);
  if (!source.isOk()) {
    return configError("azure_key_vault auth: " + std::string(source.status().message()));
  }
  auto kek = std::make_unique<KeyVaultKek>(spec, std::move(source).value());
  COSMOSEAL_RETURN_IF_ERROR(kek->open());
  return std::unique_ptr<crypto::KekProvider>(std::move(kek));
}

}  // namespace cosmoseal::proxy::identity
