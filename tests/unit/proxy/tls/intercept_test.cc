// Transparent mode: SNI allow-list and certificates minted by the interception CA (verified by a
// real TLS client over memory BIOs). The capture-init rules are tested in tests/unit/cli/.

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "proxy/tls/context.h"

namespace cosmoseal::proxy {
namespace {

TEST(TransparentTest, HostPatterns) {
  const std::vector<std::string> p = {"*.documents.azure.com", "exact.example.net"};
  EXPECT_TRUE(TlsContext::hostAllowed("myaccount.documents.azure.com", p));
  EXPECT_TRUE(TlsContext::hostAllowed("MyAccount-EastUS.Documents.Azure.Com", p));
  EXPECT_TRUE(TlsContext::hostAllowed("exact.example.net", p));
  EXPECT_FALSE(TlsContext::hostAllowed("documents.azure.com", p));      // needs one more label
  EXPECT_FALSE(TlsContext::hostAllowed("a.b.documents.azure.com", p));  // only one label
  EXPECT_FALSE(TlsContext::hostAllowed("evil-documents.azure.com", p));
  EXPECT_FALSE(TlsContext::hostAllowed("x.exact.example.net", p));
  EXPECT_FALSE(TlsContext::hostAllowed("", p));
}

// A throwaway CA (test material only, generated per test run).
class InterceptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-intercept-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    EVP_PKEY* key = EVP_EC_gen("P-256");
    ASSERT_NE(key, nullptr);
    X509* ca = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(ca), 1);
    X509_set_version(ca, 2);
    X509_gmtime_adj(X509_getm_notBefore(ca), -60);
    X509_gmtime_adj(X509_getm_notAfter(ca), 3600);
    X509_NAME* n = X509_get_subject_name(ca);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("cosmoseal test CA"), -1,
                               -1, 0);
    X509_set_issuer_name(ca, n);
    X509_set_pubkey(ca, key);
    X509V3_CTX v3;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, ca, ca, nullptr, nullptr, 0);
    for (auto [nid, v] : {std::pair<int, const char*>{NID_basic_constraints, "critical,CA:TRUE"},
                          {NID_key_usage, "critical,keyCertSign,cRLSign"},
                          {NID_subject_key_identifier, "hash"}}) {
      X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &v3, nid, v);
      X509_add_ext(ca, e, -1);
      X509_EXTENSION_free(e);
    }
    ASSERT_GT(X509_sign(ca, key, EVP_sha256()), 0);
    cert_ = dir_ + "/ca.crt";
    key_ = dir_ + "/ca.key";
    FILE* f = fopen(cert_.c_str(), "w");
    PEM_write_X509(f, ca);
    fclose(f);
    f = fopen(key_.c_str(), "w");
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    fclose(f);
    chmod(key_.c_str(), 0600);
    X509_free(ca);
    EVP_PKEY_free(key);
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  // Full handshake between a client asking for `sni` and the interceptor; true if it completes
  // with the client verifying the certificate for that name.
  bool handshake(const std::string& sni, std::string* negotiated_name) {
    auto server_ctx = TlsContext::interceptor(cert_, key_, {"*.documents.azure.com"});
    EXPECT_TRUE(server_ctx.isOk()) << server_ctx.status().toString();
    auto client_ctx = TlsContext::client(cert_);
    EXPECT_TRUE(client_ctx.isOk());
    TlsSession server(*server_ctx, "");
    TlsSession client(*client_ctx, sni);
    EXPECT_TRUE(server.start().isOk());
    if (!client.start().isOk()) return false;
    std::string plain;
    for (int round = 0; round < 10; ++round) {
      std::string c2s, s2c;
      client.takeOutput(&c2s);
      if (!c2s.empty() && !server.feed(c2s, &plain).isOk()) return false;
      server.takeOutput(&s2c);
      if (!s2c.empty() && !client.feed(s2c, &plain).isOk()) return false;
      if (client.handshakeDone() && server.handshakeDone()) {
        *negotiated_name = server.serverName();
        return true;
      }
    }
    return false;
  }

  std::string dir_, cert_, key_;
};

TEST_F(InterceptTest, MintsAVerifiableCertificateForAllowedNames) {
  std::string name;
  ASSERT_TRUE(handshake("myaccount.documents.azure.com", &name));
  EXPECT_EQ(name, "myaccount.documents.azure.com");
  ASSERT_TRUE(handshake("myaccount-westus.documents.azure.com", &name));
}

TEST_F(InterceptTest, RefusesNamesOffTheList) {
  std::string name;
  EXPECT_FALSE(handshake("evil.example.com", &name));
  EXPECT_FALSE(handshake("documents.azure.com", &name));
}

TEST_F(InterceptTest, RefusesAMismatchedCaKey) {
  // A key that does not belong to the CA certificate.
  EVP_PKEY* other = EVP_EC_gen("P-256");
  const std::string other_key = dir_ + "/other.key";
  FILE* f = fopen(other_key.c_str(), "w");
  PEM_write_PrivateKey(f, other, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  EVP_PKEY_free(other);
  auto ctx = TlsContext::interceptor(cert_, other_key, {"*.documents.azure.com"});
  ASSERT_FALSE(ctx.isOk());
  EXPECT_EQ(ctx.status().detail(), "tls.bad_private_key");
}

}  // namespace
}  // namespace cosmoseal::proxy
