#pragma once

// upstream.auth: how the sidecar authenticates to the Cosmos account (docs/CONFIG.md).
//
//   type: key (default: upstream.key_file, HMAC signatures as before) | workload_identity |
//         managed_identity | client_secret | client_certificate (Microsoft Entra ID tokens,
//         sent as `type=aad&ver=1.0&sig=<token>`).
//
// Defaults follow the Azure identity libraries' environment variables, read once at load:
// AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST, AZURE_FEDERATED_TOKEN_FILE, and
// IDENTITY_ENDPOINT + IDENTITY_HEADER (App Service style managed identity). With an Entra type,
// upstream.key_file must not be given (refused: one credential, never a silent fallback).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/policy_spec.h"

namespace YAML {
class Node;
}  // namespace YAML

namespace cosmoseal::proxy {

enum class UpstreamAuthType : uint8_t {
  kKey,
  kWorkloadIdentity,
  kManagedIdentity,
  kClientSecret,
  kClientCertificate,
};
std::string_view upstreamAuthTypeName(UpstreamAuthType type) noexcept;

struct UpstreamAuthConfig {
  UpstreamAuthType type = UpstreamAuthType::kKey;
  std::string tenant_id;  // AZURE_TENANT_ID
  std::string client_id;  // AZURE_CLIENT_ID (managed identity: a user-assigned identity, optional)
  // AZURE_AUTHORITY_HOST, else the public cloud; always ends with '/'.
  std::string authority_host = "https://login.microsoftonline.com/";
  // Default "<account endpoint origin>/.default", the origin as URL parsers give it (scheme, host,
  // and the port unless it is the scheme's default): what the Cosmos SDKs ask for.
  std::string scope;
  std::string token_file;        // workload_identity: AZURE_FEDERATED_TOKEN_FILE
  std::string secret_file;       // client_secret: the secret, one line
  std::string certificate_file;  // client_certificate: PEM certificate + private key (RSA)
  // managed_identity: IMDS by default; IDENTITY_ENDPOINT when IDENTITY_HEADER is set too.
  std::string endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";
  bool app_service = false;  // endpoint speaks the App Service protocol (X-IDENTITY-HEADER)
  std::chrono::seconds refresh_before{300};
  std::string ca_file;  // CA bundle for the token endpoint; default: the system store
  policy::SourcePos pos;

  bool isEntra() const noexcept { return type != UpstreamAuthType::kKey; }
  // The token endpoint of the client credential flows: <authority_host><tenant>/oauth2/v2.0/token.
  std::string tokenUrl() const;
  // Same settings (positions ignored): a reload keeps the token cache when this holds.
  bool sameAs(const UpstreamAuthConfig& other) const noexcept;
};

}  // namespace cosmoseal::proxy
