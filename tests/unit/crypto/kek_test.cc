#include "crypto/kek.h"

#include <gtest/gtest.h>

#include "crypto/details.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "tests/unit/crypto/test_util.h"

namespace cosmoseal::crypto {
namespace {

const WrapEntry kEntry{"pii", 1, 0x1a2b3c4d};

TEST(KekSpecTest, ParsesTheCliForms) {
  auto f = parseKekSpec("file:/etc/kek");
  ASSERT_TRUE(f.isOk());
  EXPECT_EQ(f->kind, KekKind::kFile);
  EXPECT_EQ(f->file, "/etc/kek");
  auto e = parseKekSpec("env:KEK");
  ASSERT_TRUE(e.isOk());
  EXPECT_EQ(e->kind, KekKind::kEnv);
  EXPECT_EQ(e->env, "KEK");
  const std::string text =
      "pkcs11:module=/usr/lib/m.so;token=t1;key=k1;pin-file=/run/pin;mechanism=aes_gcm";
  auto p = parseKekSpec(text);
  ASSERT_TRUE(p.isOk()) << p.status().message();
  EXPECT_EQ(p->kind, KekKind::kPkcs11);
  EXPECT_EQ(p->pkcs11.module, "/usr/lib/m.so");
  EXPECT_EQ(p->pkcs11.token_label, "t1");
  EXPECT_EQ(p->pkcs11.key_label, "k1");
  EXPECT_EQ(p->pkcs11.pin_file, "/run/pin");
  EXPECT_EQ(p->pkcs11.mechanism, "aes_gcm");
  EXPECT_EQ(formatKekSpec(*p), text);
  auto slot = parseKekSpec("pkcs11:module=/m.so;slot=5;key=k;pin-file=/p");
  ASSERT_TRUE(slot.isOk());
  EXPECT_EQ(*slot->pkcs11.slot, 5u);

  for (const char* bad :
       {"", "file:", "kms:x", "nothing", "pkcs11:module=/m.so", "pkcs11:module=/m.so;token=t;key=k",
        "pkcs11:module=/m.so;token=t;slot=1;key=k;pin-file=/p", "pkcs11:module=/m.so;colour=red",
        "pkcs11:module=/m.so;slot=x;key=k;pin-file=/p", "pkcs11:;;"}) {
    auto r = parseKekSpec(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().detail(), crypto_detail::kKekConfig) << bad;
    }
  }
}

TEST(KekSpecTest, ParsesTheAzureKeyVaultForm) {
  const std::string text =
      "azure_key_vault:vault=https://v1.vault.azure.net;key=kek-1;version=0a1b;alg=RSA-OAEP;"
      "auth=client_secret;ca-file=/ca.pem;tenant=t;client=c;secret-file=/s";
  auto a = parseKekSpec(text);
  ASSERT_TRUE(a.isOk()) << a.status().message();
  EXPECT_EQ(a->kind, KekKind::kAzureKeyVault);
  EXPECT_EQ(a->azure.vault_url, "https://v1.vault.azure.net");
  EXPECT_EQ(a->azure.key_name, "kek-1");
  EXPECT_EQ(a->azure.key_version, "0a1b");
  EXPECT_EQ(a->azure.algorithm, "RSA-OAEP");
  EXPECT_EQ(a->azure.auth_type, "client_secret");
  EXPECT_EQ(a->azure.secret_file, "/s");
  // Formatting and parsing again gives the same spec.
  auto again = parseKekSpec(formatKekSpec(*a));
  ASSERT_TRUE(again.isOk()) << formatKekSpec(*a);
  EXPECT_EQ(formatKekSpec(*again), formatKekSpec(*a));
  auto minimal = parseKekSpec("azure_key_vault:vault=https://h.managedhsm.azure.net/;key=k");
  ASSERT_TRUE(minimal.isOk());
  EXPECT_EQ(minimal->azure.vault_url, "https://h.managedhsm.azure.net");
  EXPECT_EQ(minimal->azure.algorithm, "auto");
  EXPECT_EQ(minimal->azure.auth_type, "workload_identity");
  EXPECT_EQ(formatKekSpec(*minimal), "azure_key_vault:vault=https://h.managedhsm.azure.net;key=k");
  // Opened by proxy::openKekSpec, never by crypto::openKek.
  auto opened = openKek(*minimal);
  ASSERT_FALSE(opened.isOk());
  EXPECT_EQ(opened.status().detail(), crypto_detail::kKekConfig);

  for (const char* bad :
       {"azure_key_vault:vault=http://v.vault.azure.net;key=k", "azure_key_vault:key=k",
        "azure_key_vault:vault=https://v.vault.azure.net",
        "azure_key_vault:vault=https://v;key=a/b",
        "azure_key_vault:vault=https://v;key=k;alg=RSA1_5",
        "azure_key_vault:vault=https://v;key=k;auth=key",
        "azure_key_vault:vault=https://v;key=k;version=../x",
        "azure_key_vault:vault=https://v?x;key=k",
        "azure_key_vault:vault=https://v;key=k;colour=red"}) {
    auto r = parseKekSpec(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().detail(), crypto_detail::kKekConfig) << bad;
    }
  }
}

TEST(KekSpecTest, ParsesTheKmipForm) {
  const std::string text =
      "kmip:server=kms.example:5696;key=kek-1;ca=/s/ca.crt;cert=/s/tls.crt;key-file=/s/tls.key";
  auto k = parseKekSpec(text);
  ASSERT_TRUE(k.isOk()) << k.status().message();
  EXPECT_EQ(k->kind, KekKind::kKmip);
  EXPECT_EQ(k->kmip.server, "kms.example:5696");
  EXPECT_EQ(k->kmip.key_name, "kek-1");
  EXPECT_TRUE(k->kmip.key_id.empty());
  EXPECT_EQ(k->kmip.ca_file, "/s/ca.crt");
  EXPECT_EQ(k->kmip.cert_file, "/s/tls.crt");
  EXPECT_EQ(k->kmip.key_file, "/s/tls.key");
  EXPECT_EQ(formatKekSpec(*k), text);
  const std::string by_id = "kmip:server=[::1]:5696;key-id=42;ca=/c;cert=/t;key-file=/k";
  auto i = parseKekSpec(by_id);
  ASSERT_TRUE(i.isOk()) << i.status().message();
  EXPECT_EQ(i->kmip.key_id, "42");
  EXPECT_EQ(formatKekSpec(*i), by_id);

  for (const char* bad : {
           "kmip:",
           "kmip:server=h:5696;ca=/c;cert=/t;key-file=/k",                   // no key
           "kmip:server=h:5696;key=a;key-id=1;ca=/c;cert=/t;key-file=/k",    // both
           "kmip:server=h;key=a;ca=/c;cert=/t;key-file=/k",                  // no port
           "kmip:server=h:99999;key=a;ca=/c;cert=/t;key-file=/k",            // port range
           "kmip:server=::1:5696;key=a;ca=/c;cert=/t;key-file=/k",           // v6 unbracketed
           "kmip:server=h:5696;key=a;cert=/t;key-file=/k",                   // no ca
           "kmip:server=h:5696;key=a;ca=/c;key-file=/k",                     // no cert
           "kmip:server=h:5696;key=a;ca=/c;cert=/t",                         // no key file
           "kmip:server=h:5696;key=a;ca=/c;cert=/t;key-file=/k;pin-file=/p"  // unknown
       }) {
    auto r = parseKekSpec(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().detail(), crypto_detail::kKekConfig) << bad;
    }
  }
}

TEST(KekSpecTest, KmipUnreadableCaFileIsUnavailable) {
  // The files are read before any connection is tried: the message names the missing one.
  auto spec =
      parseKekSpec("kmip:server=127.0.0.1:1;key=k;ca=/nonexistent/ca;cert=/n/c;key-file=/n/k");
  ASSERT_TRUE(spec.isOk());
  auto kek = openKek(*spec);
  ASSERT_FALSE(kek.isOk());
  EXPECT_EQ(kek.status().detail(), crypto_detail::kKekUnavailable);
  EXPECT_NE(kek.status().message().find("/nonexistent/ca"), std::string::npos)
      << kek.status().message();
}

TEST(KekSpecTest, LocalKekIdIsAStableFingerprint) {
  const auto a = testing::sequentialSecret(kKekSize, 1);
  const auto b = testing::sequentialSecret(kKekSize, 2);
  EXPECT_EQ(localKekId(a), localKekId(a.clone()));
  EXPECT_NE(localKekId(a), localKekId(b));
  EXPECT_EQ(localKekId(a).size(), std::string("local:12345678").size());
  auto kek = localKek(a.clone(), "KEK file x");
  EXPECT_EQ(kek->id(), localKekId(a));
  const common::SecretBytes dek = testing::sequentialSecret(kDekSize, 3);
  auto w = kek->wrap(kEntry, dek, systemRandom());
  ASSERT_TRUE(w.isOk());
  // The local provider is the format-1 wrap of keyring.h: old keyrings keep opening.
  auto old = unwrapKey(a, kEntry.name, kEntry.version, kEntry.id, *w);
  ASSERT_TRUE(old.isOk());
  EXPECT_TRUE(old->constantTimeEquals(dek));
}

}  // namespace
}  // namespace cosmoseal::crypto
