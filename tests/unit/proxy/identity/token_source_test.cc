// Token sources against a loopback token endpoint: the request each flow sends (form fields,
// headers, query), the certificate assertion (a verifiable RS256 JWT), and error mapping.

#include "proxy/identity/token_source.h"

#include <gtest/gtest.h>
#include <openssl/rsa.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include "proxy/identity/details.h"
#include "tests/unit/proxy/net/loopback_server.h"

namespace cosmoseal::proxy::identity {
namespace {

using test::Received;
using test::TestServer;

constexpr int64_t kNow = 1'700'000'000;

std::string tokenJson(std::string_view token, int expires_in) {
  return R"({"token_type":"Bearer","expires_in":)" + std::to_string(expires_in) +
         R"(,"access_token":")" + std::string(token) + "\"}";
}

std::string reply(int status, std::string_view body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

std::string base64UrlDecode(std::string s) {
  for (char& c : s) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (s.size() % 4 != 0) s.push_back('=');
  std::string out(s.size(), '\0');
  const int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  while (!s.empty() && s.back() == '=') {
    s.pop_back();
    out.pop_back();
  }
  return out;
}

class TokenSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-idsrc-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    tls_ = test::makeLocalhostPki(dir_);
    ASSERT_NE(tls_, nullptr);
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    chmod(path.c_str(), 0600);
    return path;
  }
  UpstreamAuthConfig clientConfig(UpstreamAuthType type, uint16_t port) {
    UpstreamAuthConfig c;
    c.type = type;
    c.tenant_id = "tenant-1";
    c.client_id = "client-1";
    c.authority_host = "https://localhost:" + std::to_string(port) + "/";
    c.scope = "https://acct.documents.azure.com/.default";
    c.ca_file = dir_ + "/ca.crt";
    return c;
  }

  std::string dir_;
  std::shared_ptr<TlsContext> tls_;
};

TEST_F(TokenSourceTest, ClientSecret) {
  Received seen;
  TestServer server(tls_, AF_INET, [&](const Received& r, bool*) {
    seen = r;
    return reply(200, tokenJson("tok.en.one", 3599));
  });
  ASSERT_TRUE(server.ok());
  UpstreamAuthConfig c = clientConfig(UpstreamAuthType::kClientSecret, server.port());
  c.secret_file = write("secret", "s3cr&t=\n");
  auto src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk()) << src.status().toString();
  auto t = (*src)->fetch(kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->view(), "tok.en.one");
  EXPECT_EQ(t->expires_on, kNow + 3599);
  EXPECT_EQ(seen.head.rfind("POST /tenant-1/oauth2/v2.0/token HTTP/1.1\r\n", 0), 0u) << seen.head;
  EXPECT_NE(seen.head.find("Content-Type: application/x-www-form-urlencoded"), std::string::npos);
  EXPECT_EQ(seen.body,
            "grant_type=client_credentials&client_id=client-1&scope=https%3A%2F%2Facct.documents."
            "azure.com%2F.default&client_secret=s3cr%26t%3D");
  EXPECT_EQ((*src)->describe().find("s3cr"), std::string::npos);
}

TEST_F(TokenSourceTest, WorkloadIdentityReadsTheRotatedFileEachTime) {
  std::vector<std::string> bodies;
  TestServer server(tls_, AF_INET, [&](const Received& r, bool*) {
    bodies.push_back(r.body);
    return reply(200, tokenJson("t" + std::to_string(bodies.size()), 3600));
  });
  ASSERT_TRUE(server.ok());
  UpstreamAuthConfig c = clientConfig(UpstreamAuthType::kWorkloadIdentity, server.port());
  c.token_file = write("sa-token", "eyJhbGciOiJSUzI1NiJ9.e30.sig1");
  auto src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  ASSERT_TRUE((*src)->fetch(kNow).isOk());
  write("sa-token", "eyJhbGciOiJSUzI1NiJ9.e30.sig2");  // the kubelet rotated it
  ASSERT_TRUE((*src)->fetch(kNow).isOk());
  ASSERT_EQ(bodies.size(), 2u);
  const std::string common =
      "grant_type=client_credentials&client_id=client-1&scope=https%3A%2F%2Facct.documents.azure."
      "com%2F.default&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%"
      "3Ajwt-bearer&client_assertion=eyJhbGciOiJSUzI1NiJ9.e30.";
  EXPECT_EQ(bodies[0], common + "sig1");
  EXPECT_EQ(bodies[1], common + "sig2");
}

TEST_F(TokenSourceTest, MissingCredentialFile) {
  UpstreamAuthConfig c = clientConfig(UpstreamAuthType::kWorkloadIdentity, 1);
  c.token_file = dir_ + "/absent";
  auto src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  auto t = (*src)->fetch(kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), identity_detail::kCredentialUnusable);
}

TEST_F(TokenSourceTest, ProviderErrorsAndOutages) {
  TestServer server(tls_, AF_INET, [&](const Received&, bool*) {
    return reply(401, R"({"error":"invalid_client","error_description":"AADSTS700016"})");
  });
  ASSERT_TRUE(server.ok());
  UpstreamAuthConfig c = clientConfig(UpstreamAuthType::kClientSecret, server.port());
  c.secret_file = write("secret", "x");
  auto src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  auto t = (*src)->fetch(kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), identity_detail::kTokenEndpointError);
  EXPECT_NE(t.status().message().find("invalid_client"), std::string_view::npos);

  // Nobody listening: the HTTPS client's detail.
  c.authority_host = "https://127.0.0.1:1/";
  src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  t = (*src)->fetch(kNow);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().detail(), net::kHttpsConnectFailed);
}

TEST_F(TokenSourceTest, ManagedIdentityImdsAndAppService) {
  Received seen;
  TestServer server(nullptr, AF_INET, [&](const Received& r, bool*) {
    seen = r;
    return reply(200, R"({"access_token":"mi.tok.en","expires_in":"86399","expires_on":"1"})");
  });
  ASSERT_TRUE(server.ok());
  UpstreamAuthConfig c;
  c.type = UpstreamAuthType::kManagedIdentity;
  c.scope = "https://acct.documents.azure.com/.default";
  c.endpoint =
      "http://127.0.0.1:" + std::to_string(server.port()) + "/metadata/identity/oauth2/token";
  auto src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  auto t = (*src)->fetch(kNow);
  ASSERT_TRUE(t.isOk()) << t.status().toString();
  EXPECT_EQ(t->view(), "mi.tok.en");
  EXPECT_EQ(t->expires_on, kNow + 86399);
  EXPECT_EQ(seen.head.rfind("GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource="
                            "https%3A%2F%2Facct.documents.azure.com HTTP/1.1\r\n",
                            0),
            0u)
      << seen.head;
  EXPECT_NE(seen.head.find("Metadata: true\r\n"), std::string::npos);

  c.app_service = true;
  c.client_id = "user-assigned";
  setenv("IDENTITY_HEADER", "app-service-secret", 1);
  src = makeTokenSource(c);
  ASSERT_TRUE(src.isOk());
  ASSERT_TRUE((*src)->fetch(kNow).isOk());
  unsetenv("IDENTITY_HEADER");
  EXPECT_NE(seen.head.find("?api-version=2019-08-01&resource=https%3A%2F%2Facct.documents.azure."
                           "com&client_id=user-assigned HTTP/1.1"),
            std::string::npos)
      << seen.head;
  EXPECT_NE(seen.head.find("X-IDENTITY-HEADER: app-service-secret\r\n"), std::string::npos);
}

TEST_F(TokenSourceTest, CertificateAssertionIsAVerifiableRs256Jwt) {
  // An RSA certificate and key in one PEM file, as client_certificate expects.
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = test::newCert("cosmoseal-app", key, nullptr, nullptr, true, nullptr);
  const std::string pem = dir_ + "/client.pem";
  FILE* f = fopen(pem.c_str(), "w");
  PEM_write_X509(f, cert);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);

  const std::string aud = "https://login.example.test/tenant-1/oauth2/v2.0/token";
  auto jwt = makeCertificateAssertion(pem, "client-1", aud, kNow);
  ASSERT_TRUE(jwt.isOk()) << jwt.status().toString();
  const size_t d1 = jwt->find('.');
  const size_t d2 = jwt->find('.', d1 + 1);
  ASSERT_NE(d2, std::string::npos);
  const std::string header = base64UrlDecode(jwt->substr(0, d1));
  const std::string payload = base64UrlDecode(jwt->substr(d1 + 1, d2 - d1 - 1));
  const std::string sig = base64UrlDecode(jwt->substr(d2 + 1));
  EXPECT_NE(header.find(R"("alg":"RS256")"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("x5t":")"), std::string::npos);
  EXPECT_NE(header.find(R"("x5t#S256":")"), std::string::npos);
  EXPECT_NE(payload.find(R"("aud":")" + aud + "\""), std::string::npos) << payload;
  EXPECT_NE(payload.find(R"("iss":"client-1")"), std::string::npos);
  EXPECT_NE(payload.find(R"("sub":"client-1")"), std::string::npos);
  EXPECT_NE(payload.find(R"("exp":)" + std::to_string(kNow + 600)), std::string::npos);
  // x5t#S256 is the SHA-256 of the certificate's DER.
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(cert, &der);
  unsigned char digest[32];
  SHA256(der, static_cast<size_t>(der_len), digest);
  OPENSSL_free(der);
  EXPECT_NE(header.find(base64UrlEncode(std::string_view(reinterpret_cast<char*>(digest), 32))),
            std::string::npos);
  // The signature verifies with the certificate's public key.
  const std::string signing_input = jwt->substr(0, d2);
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  ASSERT_EQ(EVP_DigestVerifyInit(md, nullptr, EVP_sha256(), nullptr, X509_get0_pubkey(cert)), 1);
  EXPECT_EQ(EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(signing_input.data()),
                             signing_input.size()),
            1);
  EVP_MD_CTX_free(md);
  X509_free(cert);
  EVP_PKEY_free(key);

  // An EC key is refused (Entra signs RS256).
  EVP_PKEY* ec = test::newKey();
  X509* ec_cert = test::newCert("ec", ec, nullptr, nullptr, true, nullptr);
  const std::string ec_pem = dir_ + "/ec.pem";
  f = fopen(ec_pem.c_str(), "w");
  PEM_write_X509(f, ec_cert);
  PEM_write_PrivateKey(f, ec, nullptr, nullptr, 0, nullptr, nullptr);
  fclose(f);
  X509_free(ec_cert);
  EVP_PKEY_free(ec);
  auto refused = makeCertificateAssertion(ec_pem, "client-1", aud, kNow);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().detail(), identity_detail::kCredentialUnusable);
}

TEST(ResourceFromScopeTest, DropsDotDefault) {
  EXPECT_EQ(resourceFromScope("https://acct.documents.azure.com/.default"),
            "https://acct.documents.azure.com");
  EXPECT_EQ(resourceFromScope("https://cosmos.azure.com"), "https://cosmos.azure.com");
}

}  // namespace
}  // namespace cosmoseal::proxy::identity
