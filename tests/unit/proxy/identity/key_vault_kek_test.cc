// The azure_key_vault KEK provider without a vault: the token scope of a vault URL and the
// failures that happen before any key is used (bad spec, no token). The wrap/unwrap exchange
// with a vault is covered end to end by tests/e2e/kek-vault.test.mjs (tests/keyvault).

#include "proxy/identity/key_vault_kek.h"

#include <gtest/gtest.h>

#include <fstream>

#include "crypto/details.h"

namespace cosmoseal::proxy::identity {
namespace {

TEST(KeyVaultKekTest, ScopeFollowsTheVaultKind) {
  EXPECT_EQ(keyVaultScope("https://v.vault.azure.net"), "https://vault.azure.net/.default");
  EXPECT_EQ(keyVaultScope("https://h.managedhsm.azure.net"),
            "https://managedhsm.azure.net/.default");
  EXPECT_EQ(keyVaultScope("https://H.ManagedHSM.Azure.Net:443"),
            "https://managedhsm.azure.net/.default");
  EXPECT_EQ(keyVaultScope("https://127.0.0.1:8443"), "https://vault.azure.net/.default");
  EXPECT_EQ(keyVaultScope("https://managedhsm.azure.net.evil.example"),
            "https://vault.azure.net/.default");
}

TEST(KeyVaultKekTest, BadSpecIsAConfigError) {
  crypto::AzureKeyVaultKekSpec spec;
  spec.vault_url = "http://v.vault.azure.net";
  spec.key_name = "k";
  auto r = openKeyVaultKek(spec);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), crypto::crypto_detail::kKekConfig);
  spec.vault_url = "https://v.vault.azure.net";
  spec.auth_type = "client_secret";  // no tenant, client or secret file
  ::unsetenv("AZURE_TENANT_ID");
  ::unsetenv("AZURE_CLIENT_ID");
  r = openKeyVaultKek(spec);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), crypto::crypto_detail::kKekConfig);
  EXPECT_NE(r.status().message().find("needs secret_file"), std::string::npos)
      << r.status().message();
}

TEST(KeyVaultKekTest, NoTokenIsKekUnavailableAndSaysWhy) {
  const std::string secret = ::testing::TempDir() + "/kv-secret";
  std::ofstream(secret) << "not-a-real-secret\n";
  crypto::AzureKeyVaultKekSpec spec;
  spec.vault_url = "https://127.0.0.1:1";
  spec.key_name = "kek";
  spec.auth_type = "client_secret";
  spec.tenant_id = "contoso.com";
  spec.client_id = "app";
  spec.secret_file = secret;
  spec.authority_host = "https://127.0.0.1:1/";  // nothing listens: connection refused
  auto r = openKeyVaultKek(spec);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), crypto::crypto_detail::kKekUnavailable);
  const std::string m(r.status().message());
  EXPECT_NE(m.find("no Entra ID token for Key Vault https://127.0.0.1:1"), std::string::npos) << m;
  EXPECT_EQ(m.find("not-a-real-secret"), std::string::npos) << m;
}

}  // namespace
}  // namespace cosmoseal::proxy::identity
