#include "proxy/config/upstream_auth.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>

#include "proxy/config/reader.h"
#include "proxy/config/sections.h"

namespace cosmoseal::proxy {

std::string_view upstreamAuthTypeName(UpstreamAuthType type) noexcept {
  switch (type) {
    case UpstreamAuthType::kKey:
      return "key";
    case UpstreamAuthType::kWorkloadIdentity:
      return "workload_identity";
    case UpstreamAuthType::kManagedIdentity:
      return "managed_identity";
    case UpstreamAuthType::kClientSecret:
      return "client_secret";
    case UpstreamAuthType::kClientCertificate:
      return "client_certificate";
  }
  return "key";
}

std::string UpstreamAuthConfig::tokenUrl() const {
  return authority_host + tenant_id + "/oauth2/v2.0/token";
}

bool UpstreamAuthConfig::sameAs(const UpstreamAuthConfig& o) const noexcept {
  return type == o.type && tenant_id == o.tenant_id && client_id == o.client_id &&
         authority_host == o.authority_host && scope == o.scope && token_file == o.token_file &&
         secret_file == o.secret_file && certificate_file == o.certificate_file &&
         endpoint == o.endpoint && app_service == o.app_service &&
         refresh_before == o.refresh_before && ca_file == o.ca_file;
}

namespace config {

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

// A GUID or a DNS-ish tenant name ("contoso.onmicrosoft.com"): it goes into a URL path.
bool plausibleTenant(std::string_view t) {
  if (t.empty() || t.size() > 253) return false;
  for (const char c : t) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '.' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

void loadUpstreamAuth(Reader& reader, const Entry& e, const std::string& endpoint_origin,
                      UpstreamConfig* u) {
  UpstreamAuthConfig& a = u->auth;
  a.pos = reader.pos(e.key_node.Mark());
  MapReader m(reader, e.value, e.key_node.Mark(), e.path,
              {"type", "tenant_id", "client_id", "authority_host", "scope", "token_file",
               "secret_file", "certificate_file", "endpoint", "refresh_before", "ca_file"});
  if (!m.ok()) return;
  if (const Entry* t = m.require("type",
                                 "one of: key, workload_identity, managed_identity, "
                                 "client_secret, client_certificate")) {
    reader.choice(*t,
                  {{"key", UpstreamAuthType::kKey},
                   {"workload_identity", UpstreamAuthType::kWorkloadIdentity},
                   {"managed_identity", UpstreamAuthType::kManagedIdentity},
                   {"client_secret", UpstreamAuthType::kClientSecret},
                   {"client_certificate", UpstreamAuthType::kClientCertificate}},
                  &a.type);
  }
  const auto refuse = [&](const char* key, const char* why) {
    if (const Entry* x = m.get(key)) reader.error(x->key_node.Mark(), x->path, why);
  };
  if (!a.isEntra()) {
    for (const char* key :
         {"tenant_id", "client_id", "authority_host", "scope", "token_file", "secret_file",
          "certificate_file", "endpoint", "refresh_before", "ca_file"}) {
      refuse(key, "only used with an Entra ID type; type key signs with upstream.key_file");
    }
    return;
  }

  const std::string expected_id = "an identifier (GUID)";
  if (const Entry* x = m.get("tenant_id")) {
    reader.string(*x, &a.tenant_id, expected_id);
  } else {
    a.tenant_id = env("AZURE_TENANT_ID");
  }
  if (const Entry* x = m.get("client_id")) {
    reader.string(*x, &a.client_id, expected_id);
  } else {
    a.client_id = env("AZURE_CLIENT_ID");
  }
  if (const Entry* x = m.get("authority_host")) {
    reader.string(*x, &a.authority_host,
                  "an https:// URL, e.g. https://login.microsoftonline.com/");
  } else if (std::string h = env("AZURE_AUTHORITY_HOST"); !h.empty()) {
    a.authority_host = h;
  }
  if (!a.authority_host.empty() && a.authority_host.back() != '/') a.authority_host += '/';
  if (const Entry* x = m.get("scope")) {
    reader.string(*x, &a.scope, "a scope, e.g. https://myaccount.documents.azure.com/.default");
  } else {
    a.scope = endpoint_origin + "/.default";
  }
  if (const Entry* x = m.get("refresh_before")) {
    std::chrono::milliseconds d{};
    if (reader.duration(*x, std::chrono::milliseconds(1000), &d)) {
      a.refresh_before = std::chrono::duration_cast<std::chrono::seconds>(d);
    }
  }
  if (const Entry* x = m.get("ca_file")) reader.path(*x, &a.ca_file);

  const YAML::Mark at = e.key_node.Mark();
  const bool client_flow = a.type != UpstreamAuthType::kManagedIdentity;
  if (client_flow) {
    if (a.tenant_id.empty()) {
      reader.error(at, e.path + ".tenant_id",
                   "missing; expected the Entra tenant id (or set AZURE_TENANT_ID)");
    } else if (!plausibleTenant(a.tenant_id)) {
      reader.error(at, e.path + ".tenant_id", "must be a GUID or a domain name");
    }
    if (a.client_id.empty()) {
      reader.error(at, e.path + ".client_id",
                   "missing; expected the application (client) id (or set AZURE_CLIENT_ID)");
    }
    if (a.authority_host.rfind("https://", 0) != 0) {
      reader.error(at, e.path + ".authority_host",
                   "must be an https:// URL (tokens and credentials cross it)");
    }
  }
  for (const char* key : {"token_file", "secret_file", "certificate_file", "endpoint"}) {
    const bool used =
        (a.type == UpstreamAuthType::kWorkloadIdentity && key == std::string_view("token_file")) ||
        (a.type == UpstreamAuthType::kClientSecret && key == std::string_view("secret_file")) ||
        (a.type == UpstreamAuthType::kClientCertificate &&
         key == std::string_view("certificate_file")) ||
        (a.type == UpstreamAuthType::kManagedIdentity && key == std::string_view("endpoint"));
    if (!used) refuse(key, "not used by this upstream.auth.type");
  }
  if (!client_flow) {
    refuse("tenant_id", "not used by managed_identity (the identity's own tenant)");
    refuse("authority_host", "not used by managed_identity");
  }

  switch (a.type) {
    case UpstreamAuthType::kWorkloadIdentity:
      if (const Entry* x = m.get("token_file")) {
        reader.path(*x, &a.token_file);
      } else {
        a.token_file = env("AZURE_FEDERATED_TOKEN_FILE");
        if (a.token_file.empty()) {
          reader.error(at, e.path + ".token_file",
                       "missing; expected the projected service account token file (or "
                       "AZURE_FEDERATED_TOKEN_FILE, which the workload identity webhook sets)");
        }
      }
      break;
    case UpstreamAuthType::kClientSecret:
      if (const Entry* x = m.require("secret_file", "the file holding the client secret")) {
        reader.path(*x, &a.secret_file);
      }
      break;
    case UpstreamAuthType::kClientCertificate:
      if (const Entry* x = m.require("certificate_file",
                                     "a PEM file with the certificate and its RSA private key")) {
        reader.path(*x, &a.certificate_file);
      }
      break;
    case UpstreamAuthType::kManagedIdentity: {
      const std::string identity_endpoint = env("IDENTITY_ENDPOINT");
      const bool has_header = !env("IDENTITY_HEADER").empty();
      if (const Entry* x = m.get("endpoint")) {
        if (reader.string(*x, &a.endpoint, "an http(s) URL of a managed identity endpoint")) {
          a.app_service = has_header;
        }
      } else if (!identity_endpoint.empty() && has_header) {
        a.endpoint = identity_endpoint;
        a.app_service = true;
      }
      if (a.endpoint.rfind("https://", 0) != 0 && a.endpoint.rfind("http://", 0) != 0) {
        reader.error(at, e.path + ".endpoint", "must be an http:// or https:// URL");
      }
      break;
    }
    case UpstreamAuthType::kKey:
      break;
  }
}

}  // namespace config
}  // namespace cosmoseal::proxy
