#include "proxy/config/snapshot.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/config/config.h"

namespace cosmoseal::proxy {
namespace {

using ::testing::HasSubstr;

// Test-only keys (64 bytes each, base64): the account and one client.
constexpr const char* kAccountKey =
    "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
constexpr const char* kClientKey =
    "dGVzdC1jbGllbnQta2V5LUEtMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWYwMTIzNDU2Nzg5YWI=";

// A config file in a temporary directory with owner-only key files and a throwaway self-signed
// listener certificate (test material, generated per test).
class SnapshotFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-snapshot-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    write("account.key", kAccountKey, 0600);
    write("app.key", kClientKey, 0600);
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ASSERT_NE(key, nullptr);
    X509* cert = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(cert));
    X509_set_pubkey(cert, key);
    ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
    FILE* f = fopen((dir_ + "/tls.crt").c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_X509(f, cert);
    fclose(f);
    f = fopen((dir_ + "/tls.key").c_str(), "w");
    ASSERT_NE(f, nullptr);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(f);
    chmod((dir_ + "/tls.key").c_str(), 0600);
    X509_free(cert);
    EVP_PKEY_free(key);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text, mode_t mode) {
    const std::string p = dir_ + "/" + name;
    std::ofstream(p) << text << "\n";
    chmod(p.c_str(), mode);
    return p;
  }

  // Lines 1-3: upstream (ca_file on line 4 when given), then clients, then `extra`.
  common::StatusOr<std::shared_ptr<const ConfigSnapshot>> build(const std::string& extra,
                                                                const std::string& ca_file = "") {
    std::string text =
        "upstream:\n"
        "  endpoint: https://acct.documents.azure.com:443/\n"
        "  key_file: account.key\n";
    if (!ca_file.empty()) text += "  ca_file: " + ca_file + "\n";
    text +=
        "clients:\n"
        "  - name: app\n"
        "    key_file: app.key\n"
        "    allow: [ { database: shop, containers: [orders] } ]\n" +
        extra;
    const std::string path = write("c.yaml", text, 0600);
    auto cfg = loadConfigFile(path);
    EXPECT_TRUE(cfg.isOk()) << cfg.status().toString();
    if (!cfg.isOk()) return cfg.status();
    return ConfigSnapshot::build(std::move(cfg).value(), 1);
  }

  std::string dir_;
};

constexpr const char* kListenTls = "listen:\n  tls:\n    cert: tls.crt\n    key: tls.key\n";

TEST_F(SnapshotFilesTest, OwnerOnlyListenerKeyIsAccepted) {
  auto rt = build(kListenTls);
  ASSERT_TRUE(rt.isOk()) << rt.status().toString();
  EXPECT_NE((*rt)->listenerTls(), nullptr);
}

// Red-team finding 7: the listener's private key follows the rule of every other secret file.
TEST_F(SnapshotFilesTest, ListenerKeyReadableByOthersIsRefusedWithItsConfigLocation) {
  for (mode_t mode : {0644, 0604, 0620, 0640}) {
    SCOPED_TRACE(mode);
    chmod((dir_ + "/tls.key").c_str(), mode);
    auto rt = build(kListenTls);
    ASSERT_FALSE(rt.isOk());
    EXPECT_EQ(rt.status().detail(), "keys.file_permissions");
    // listen.tls.key is written on line 11 (column 10) of the file.
    EXPECT_THAT(std::string(rt.status().message()),
                HasSubstr(dir_ + "/c.yaml:11:10: listen.tls.key: private key file " + dir_ +
                          "/tls.key has mode "));
    EXPECT_THAT(std::string(rt.status().message()), HasSubstr("chmod 600 " + dir_ + "/tls.key"));
  }
}

// Red-team finding 8: a CA bundle that is not PEM names where the config names it.
TEST_F(SnapshotFilesTest, UpstreamCaFileThatIsNotPemHasItsConfigLocation) {
  write("ca.pem", "this is not a certificate", 0644);
  auto rt = build("", "ca.pem");
  ASSERT_FALSE(rt.isOk());
  EXPECT_EQ(rt.status().detail(), "tls.bad_ca_file");
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr(dir_ + "/c.yaml:4:12: upstream.ca_file: cannot load upstream.ca_file '" +
                        dir_ + "/ca.pem'"));
}

TEST_F(SnapshotFilesTest, UpstreamCaFileMissingHasItsConfigLocation) {
  auto rt = build("", "nope.pem");
  ASSERT_FALSE(rt.isOk());
  EXPECT_EQ(rt.status().detail(), "tls.bad_ca_file");
  EXPECT_THAT(std::string(rt.status().message()),
              HasSubstr(dir_ + "/c.yaml:4:12: upstream.ca_file: "));
}

}  // namespace
}  // namespace cosmoseal::proxy
