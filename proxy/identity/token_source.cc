#include "proxy/identity/token_source.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

constexpr std::chrono::milliseconds kFetchTimeout{10000};

Status unusable(std::string message) {
  return Status(Code::kFailedPrecondition, identity_detail::kCredentialUnusable,
                std::move(message));
}

// Reads a credential file; trailing whitespace (a final newline) is dropped.
StatusOr<std::string> readCredential(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return unusable("cannot read the " + std::string(what) + " file " + path);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!out.empty() &&
         (out.back() == '\n' || out.back() == '\r' || out.back() == ' ' || out.back() == '\t')) {
    out.pop_back();
  }
  if (out.empty()) return unusable("the " + std::string(what) + " file " + path + " is empty");
  return out;
}

void wipe(std::string* s) noexcept {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

void addParam(std::string* form, std::string_view name, std::string_view value) {
  if (!form->empty()) form->push_back('&');
  form->append(name);
  form->push_back('=');
  appendFormEncoded(form, value);
}

// A token response: 2xx with a token, or the provider's error.
StatusOr<AccessToken> tokenFrom(StatusOr<net::HttpsResponse> response, int64_t now_unix) {
  if (!response.isOk()) return response.status();
  net::HttpsResponse& r = *response;
  auto token = parseTokenResponse(r.body, now_unix);
  wipe(&r.body);
  if (token.isOk() && (r.status < 200 || r.status > 299)) {
    return Status(Code::kBadGateway, identity_detail::kTokenEndpointError,
                  "the token endpoint answered " + std::to_string(r.status));
  }
  if (!token.isOk() && token.status().detail() == identity_detail::kBadTokenResponse &&
      (r.status < 200 || r.status > 299)) {
    return Status(Code::kBadGateway, identity_detail::kTokenEndpointError,
                  "the token endpoint answered " + std::to_string(r.status));
  }
  return token;
}

enum class Credential : uint8_t { kFederatedToken, kSecret, kCertificate };

class ClientCredentialsSource : public TokenSource {
 public:
  ClientCredentialsSource(const UpstreamAuthConfig& c, Credential kind)
      : config_(c),
        kind_(kind),
        token_url_(c.tokenUrl()),
        client_(net::HttpsClient::Options{c.ca_file, false, 1u << 20}) {}

  StatusOr<AccessToken> fetch(int64_t now_unix) override {
    std::string form;
    addParam(&form, "grant_type", "client_credentials");
    addParam(&form, "client_id", config_.client_id);
    addParam(&form, "scope", config_.scope);
    switch (kind_) {
      case Credential::kSecret: {
        COSMOSEAL_ASSIGN_OR_RETURN(std::string secret,
                                   readCredential(config_.secret_file, "client secret"));
        addParam(&form, "client_secret", secret);
        wipe(&secret);
        break;
      }
      case Credential::kFederatedToken: {
        COSMOSEAL_ASSIGN_OR_RETURN(std::string assertion,
                                   readCredential(config_.token_file, "federated token"));
        addParam(&form, "client_assertion_type",
                 "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        addParam(&form, "client_assertion", assertion);
        wipe(&assertion);
        break;
      }
      case Credential::kCertificate: {
        COSMOSEAL_ASSIGN_OR_RETURN(
            std::string assertion,
            makeCertificateAssertion(config_.certificate_file, config_.client_id, token_url_,
                                     now_unix));
        addParam(&form, "client_assertion_type",
                 "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        addParam(&form, "client_assertion", assertion);
        wipe(&assertion);
        break;
      }
    }
    net::HttpsRequest req;
    req.method = "POST";
    req.url = token_url_;
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"},
                   {"Accept", "application/json"},
                   {"User-Agent", "cosmoseal"}};
    req.body = std::move(form);
    req.timeout = kFetchTimeout;
    auto response = client_.send(req);
    wipe(&req.body);
    return tokenFrom(std::move(response), now_unix);
  }

  std::string describe() const override {
    return std::string(upstreamAuthTypeName(config_.type)) + " (tenant " + config_.tenant_id +
           ", client " + config_.client_id + ", " + token_url_ + ")";
  }

 private:
  UpstreamAuthConfig config_;
  Credential kind_;
  std::string token_url_;
  net::HttpsClient client_;
};

class ManagedIdentitySource : public TokenSource {
 public:
  explicit ManagedIdentitySource(const UpstreamAuthConfig& c)
      : config_(c), client_(net::HttpsClient::Options{c.ca_file, true, 1u << 20}) {}

  StatusOr<AccessToken> fetch(int64_t now_unix) override {
    net::HttpsRequest req;
    req.method = "GET";
    std::string query = config_.app_service ? "api-version=2019-08-01" : "api-version=2018-02-01";
    query += "&resource=";
    appendFormEncoded(&query, resourceFromScope(config_.scope));
    if (!config_.client_id.empty()) {
      query += "&client_id=";
      appendFormEncoded(&query, config_.client_id);
    }
    req.url =
        config_.endpoint + (config_.endpoint.find('?') == std::string::npos ? "?" : "&") + query;
    if (config_.app_service) {
      const char* header = std::getenv("IDENTITY_HEADER");
      req.headers.emplace_back("X-IDENTITY-HEADER", header != nullptr ? header : "");
    } else {
      req.headers.emplace_back("Metadata", "true");
    }
    req.headers.emplace_back("Accept", "application/json");
    req.timeout = kFetchTimeout;
    auto response = client_.send(req);
    for (auto& [name, value] : req.headers) wipe(&value);
    return tokenFrom(std::move(response), now_unix);
  }

  std::string describe() const override {
    return std::string("managed_identity (") + (config_.app_service ? "App Service " : "IMDS ") +
           config_.endpoint + (config_.client_id.empty() ? "" : ", client " + config_.client_id) +
           ")";
  }

 private:
  UpstreamAuthConfig config_;
  net::HttpsClient client_;
};

std::string digestB64Url(const EVP_MD* md, const unsigned char* der, int len) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(der, static_cast<size_t>(len), out, &n, md, nullptr);
  return base64UrlEncode(std::string_view(reinterpret_cast<const char*>(out), n));
}

std::string jsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(c) < 0x20) continue;  // never in ids or URLs we accept
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

std::string resourceFromScope(const std::string& scope) {
  constexpr std::string_view kSuffix = "/.default";
  if (scope.size() > kSuffix.size() && scope.ends_with(kSuffix)) {
    return scope.substr(0, scope.size() - kSuffix.size());
  }
  return scope;
}

StatusOr<std::string> makeCertificateAssertion(const std::string& pem_file,
                                               const std::string& client_id,
                                               const std::string& audience, int64_t now_unix) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(pem_file.c_str(), "r"), BIO_free);
  if (!bio) return unusable("cannot read the certificate file " + pem_file);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  BIO_reset(bio.get());
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!cert || !key) {
    return unusable("the certificate file " + pem_file +
                    " must hold a PEM certificate and its unencrypted private key");
  }
  if (EVP_PKEY_base_id(key.get()) != EVP_PKEY_RSA) {
    return unusable("the certificate key in " + pem_file + " must be RSA (Entra signs RS256)");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return unusable("the private key in " + pem_file + " does not belong to its certificate");
  }
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert.get(), &der);
  if (der_len <= 0) return unusable("cannot encode the certificate in " + pem_file);
  const std::string x5t = digestB64Url(EVP_sha1(), der, der_len);
  const std::string x5t256 = digestB64Url(EVP_sha256(), der, der_len);
  OPENSSL_free(der);

  unsigned char jti_bytes[16];
  if (RAND_bytes(jti_bytes, sizeof jti_bytes) != 1) {
    return Status(Code::kInternal, identity_detail::kCredentialUnusable, "no randomness");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string jti;
  for (const unsigned char b : jti_bytes) {
    jti.push_back(kHex[b >> 4]);
    jti.push_back(kHex[b & 0xF]);
  }
  const std::string header =
      R"({"alg":"RS256","typ":"JWT","x5t":")" + x5t + R"(","x5t#S256":")" + x5t256 + "\"}";
  const std::string payload =
      "{\"aud\":" + jsonString(audience) + ",\"iss\":" + jsonString(client_id) +
      ",\"sub\":" + jsonString(client_id) + ",\"jti\":\"" + jti +
      "\",\"iat\":" + std::to_string(now_unix) + ",\"nbf\":" + std::to_string(now_unix) +
      ",\"exp\":" + std::to_string(now_unix + 600) + "}";
  std::string signing_input = base64UrlEncode(header) + "." + base64UrlEncode(payload);

  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  size_t sig_len = 0;
  if (!md || EVP_DigestSignInit(md.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(md.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return unusable("cannot sign the client assertion with the key in " + pem_file);
  }
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    return unusable("cannot sign the client assertion with the key in " + pem_file);
  }
  sig.resize(sig_len);
  signing_input += "." + base64UrlEncode(sig);
  return signing_input;
}

StatusOr<std::unique_ptr<TokenSource>> makeTokenSource(const UpstreamAuthConfig& config) {
  const std::string url =
      config.type == UpstreamAuthType::kManagedIdentity ? config.endpoint : config.tokenUrl();
  auto parsed = net::parseUrl(url);
  if (!parsed.isOk()) {
    return Status(Code::kFailedPrecondition, identity_detail::kCredentialUnusable,
                  "bad token endpoint " + url + ": " + std::string(parsed.status().message()));
  }
  switch (config.type) {
    case UpstreamAuthType::kWorkloadIdentity:
      return std::unique_ptr<TokenSource>(
          new ClientCredentialsSource(config, Credential::kFederatedToken));
    case UpstreamAuthType::kClientSecret:
      return std::unique_ptr<TokenSource>(new ClientCredentialsSource(config, Credential::kSecret));
    case UpstreamAuthType::kClientCertificate:
      return std::unique_ptr<TokenSource>(
          new ClientCredentialsSource(config, Credential::kCertificate));
    case UpstreamAuthType::kManagedIdentity:
      return std::unique_ptr<TokenSource>(new ManagedIdentitySource(config));
    case UpstreamAuthType::kKey:
      break;
  }
  return Status(Code::kFailedPrecondition, identity_detail::kCredentialUnusable,
                "upstream.auth.type key has no token source");
}

}  // namespace cosmoseal::proxy::identity
