// upstream.auth (proxy/config/upstream_auth.cc): types, defaults from the Azure identity
// environment variables, and the checks that keep one upstream credential.

#include "proxy/config/upstream_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/unit/proxy/config/test_util.h"

namespace cosmoseal::proxy {
namespace {

using config_test::errorsOf;
using config_test::mustParse;
using ::testing::HasSubstr;

constexpr const char* kClients = R"(clients:
  - name: app
    key_file: /k/app
    allow: [ { database: shop, containers: [orders] } ]
)";

std::string withAuth(const std::string& auth, bool key_file = false) {
  return std::string("upstream:\n  endpoint: https://acct.documents.azure.com:443/\n") +
         (key_file ? "  key_file: /k/account\n" : "") + "  auth:\n" + auth + kClients;
}

// Clears the identity variables for a test and restores them after.
class EnvGuard {
 public:
  EnvGuard() {
    for (const char* n : kNames) {
      const char* v = std::getenv(n);
      saved_.emplace_back(n, v != nullptr ? std::optional<std::string>(v) : std::nullopt);
      unsetenv(n);
    }
  }
  ~EnvGuard() {
    for (const auto& [n, v] : saved_) {
      if (v) {
        setenv(n, v->c_str(), 1);
      } else {
        unsetenv(n);
      }
    }
  }

 private:
  static constexpr const char* kNames[] = {"AZURE_TENANT_ID",      "AZURE_CLIENT_ID",
                                           "AZURE_AUTHORITY_HOST", "AZURE_FEDERATED_TOKEN_FILE",
                                           "IDENTITY_ENDPOINT",    "IDENTITY_HEADER"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

TEST(UpstreamAuthConfig, KeyStaysTheDefault) {
  EnvGuard env;
  Config c = mustParse(config_test::kMinimal);
  EXPECT_EQ(c.upstream.auth.type, UpstreamAuthType::kKey);
  EXPECT_FALSE(c.upstream.auth.isEntra());
  EXPECT_EQ(c.upstream.key_file, "/k/account");
  c = mustParse(withAuth("    type: key\n", true));
  EXPECT_EQ(c.upstream.auth.type, UpstreamAuthType::kKey);
  EXPECT_THAT(errorsOf(withAuth("    type: key\n    tenant_id: t\n", true)),
              HasSubstr("upstream.auth.tenant_id: only used with an Entra ID type"));
}

TEST(UpstreamAuthConfig, WorkloadIdentityFromTheWebhookEnvironment) {
  EnvGuard env;
  setenv("AZURE_TENANT_ID", "11111111-2222-3333-4444-555555555555", 1);
  setenv("AZURE_CLIENT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", 1);
  setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.us", 1);
  setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token", 1);
  Config c = mustParse(withAuth("    type: workload_identity\n"));
  const UpstreamAuthConfig& a = c.upstream.auth;
  EXPECT_EQ(a.type, UpstreamAuthType::kWorkloadIdentity);
  EXPECT_EQ(a.tenant_id, "11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(a.client_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
  EXPECT_EQ(a.authority_host, "https://login.microsoftonline.us/");
  EXPECT_EQ(a.token_file, "/var/run/secrets/azure/tokens/azure-identity-token");
  EXPECT_EQ(a.scope, "https://acct.documents.azure.com/.default");
  EXPECT_EQ(a.refresh_before, std::chrono::minutes(5));
  EXPECT_EQ(a.tokenUrl(),
            "https://login.microsoftonline.us/11111111-2222-3333-4444-555555555555/oauth2/v2.0/"
            "token");
  EXPECT_TRUE(c.upstream.key_file.empty());
}

TEST(UpstreamAuthConfig, DefaultScopeIsTheEndpointOrigin) {
  EnvGuard env;
  const auto scopeFor = [](const std::string& endpoint) {
    Config c = mustParse("upstream:\n  endpoint: " + endpoint +
                         "\n  auth:\n    type: managed_identity\n" + kClients);
    return c.upstream.auth.scope;
  };
  EXPECT_EQ(scopeFor("https://acct.documents.azure.com/"),
            "https://acct.documents.azure.com/.default");
  EXPECT_EQ(scopeFor("https://127.0.0.1:8081/"), "https://127.0.0.1:8081/.default");
  EXPECT_EQ(scopeFor("https://[::1]:8081/"), "https://[::1]:8081/.default");
}

TEST(UpstreamAuthConfig, ExplicitKeysWinOverTheEnvironment) {
  EnvGuard env;
  setenv("AZURE_TENANT_ID", "from-env", 1);
  Config c = mustParse(withAuth(
      "    type: client_secret\n    tenant_id: contoso.onmicrosoft.com\n    client_id: app-1\n"
      "    secret_file: /s/secret\n    scope: https://cosmos.azure.com/.default\n"
      "    authority_host: https://login.example.test/\n    refresh_before: 10m\n"
      "    ca_file: /c/ca.pem\n"));
  const UpstreamAuthConfig& a = c.upstream.auth;
  EXPECT_EQ(a.type, UpstreamAuthType::kClientSecret);
  EXPECT_EQ(a.tenant_id, "contoso.onmicrosoft.com");
  EXPECT_EQ(a.secret_file, "/s/secret");
  EXPECT_EQ(a.scope, "https://cosmos.azure.com/.default");
  EXPECT_EQ(a.refresh_before, std::chrono::minutes(10));
  EXPECT_EQ(a.ca_file, "/c/ca.pem");
}

TEST(UpstreamAuthConfig, ManagedIdentityEndpoints) {
  EnvGuard env;
  Config c = mustParse(withAuth("    type: managed_identity\n"));
  EXPECT_EQ(c.upstream.auth.endpoint, "http://169.254.169.254/metadata/identity/oauth2/token");
  EXPECT_FALSE(c.upstream.auth.app_service);
  EXPECT_TRUE(c.upstream.auth.client_id.empty());
  setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token", 1);
  setenv("IDENTITY_HEADER", "h", 1);
  c = mustParse(withAuth("    type: managed_identity\n    client_id: user-assigned\n"));
  EXPECT_EQ(c.upstream.auth.endpoint, "http://127.0.0.1:41741/msi/token");
  EXPECT_TRUE(c.upstream.auth.app_service);
  EXPECT_EQ(c.upstream.auth.client_id, "user-assigned");
}

TEST(UpstreamAuthConfig, Errors) {
  EnvGuard env;
  // One upstream credential.
  EXPECT_THAT(errorsOf(withAuth("    type: managed_identity\n", true)),
              HasSubstr("upstream.key_file: not used with upstream.auth.type managed_identity"));
  EXPECT_THAT(errorsOf(withAuth("    type: entra\n")), HasSubstr("'entra' is not allowed"));
  const std::string wi = errorsOf(withAuth("    type: workload_identity\n"));
  EXPECT_THAT(wi, HasSubstr("upstream.auth.tenant_id: missing"));
  EXPECT_THAT(wi, HasSubstr("upstream.auth.client_id: missing"));
  EXPECT_THAT(wi, HasSubstr("upstream.auth.token_file: missing"));
  EXPECT_THAT(errorsOf(withAuth("    type: client_certificate\n    tenant_id: t\n"
                                "    client_id: c\n")),
              HasSubstr("certificate_file"));
  EXPECT_THAT(errorsOf(withAuth("    type: client_secret\n    tenant_id: t\n    client_id: c\n"
                                "    secret_file: /s\n    token_file: /t\n")),
              HasSubstr("upstream.auth.token_file: not used by this upstream.auth.type"));
  EXPECT_THAT(errorsOf(withAuth("    type: client_secret\n    tenant_id: t/../x\n"
                                "    client_id: c\n    secret_file: /s\n")),
              HasSubstr("must be a GUID or a domain name"));
  EXPECT_THAT(errorsOf(withAuth("    type: client_secret\n    tenant_id: t\n    client_id: c\n"
                                "    secret_file: /s\n    authority_host: http://login/\n")),
              HasSubstr("must be an https:// URL"));
  EXPECT_THAT(errorsOf(withAuth("    type: managed_identity\n    tenant_id: t\n")),
              HasSubstr("not used by managed_identity"));
  // Without auth and without key_file, the old message stays.
  EXPECT_THAT(
      errorsOf(std::string("upstream:\n  endpoint: https://a.documents.azure.com/\n") + kClients),
      HasSubstr("key_file"));
}

TEST(UpstreamAuthConfig, SameAsIgnoresPositions) {
  EnvGuard env;
  const std::string text = withAuth(
      "    type: client_secret\n    tenant_id: t\n    client_id: c\n    secret_file: /s\n");
  Config a = mustParse(text);
  Config b = mustParse("\n\n" + text);
  EXPECT_TRUE(a.upstream.auth.sameAs(b.upstream.auth));
  b.upstream.auth.client_id = "other";
  EXPECT_FALSE(a.upstream.auth.sameAs(b.upstream.auth));
}

}  // namespace
}  // namespace cosmoseal::proxy
