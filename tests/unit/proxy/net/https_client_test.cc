// HttpsClient against a loopback server on its own thread: verified TLS with a throwaway CA,
// framing (Content-Length, chunked, until-close), keep-alive reuse, limits and every failure
// detail.

#include "proxy/net/https_client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>

#include "proxy/tls/context.h"
#include "tests/unit/proxy/net/loopback_server.h"

namespace cosmoseal::net {
namespace {

using namespace std::chrono_literals;
using test::newCert;
using test::newKey;
using test::Received;
using test::TestServer;
using test::writePem;

std::string okResponse(std::string_view body, std::string_view extra = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + std::string(extra) +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

class HttpsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cosmoseal-https-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    EVP_PKEY* ca_key = newKey();
    X509* ca = newCert("cosmoseal test CA", ca_key, nullptr, nullptr, true, nullptr);
    EVP_PKEY* leaf_key = newKey();
    X509* leaf =
        newCert("localhost", leaf_key, ca, ca_key, false, "DNS:localhost,IP:127.0.0.1,IP:::1");
    EVP_PKEY* other_key = newKey();
    X509* other = newCert("other.example", other_key, ca, ca_key, false, "DNS:other.example");
    ca_file_ = dir_ + "/ca.crt";
    writePem(ca_file_, ca, nullptr);
    writePem(dir_ + "/leaf.crt", leaf, nullptr);
    writePem(dir_ + "/leaf.key", nullptr, leaf_key);
    writePem(dir_ + "/other.crt", other, nullptr);
    writePem(dir_ + "/other.key", nullptr, other_key);
    for (X509* x : {ca, leaf, other}) X509_free(x);
    for (EVP_PKEY* k : {ca_key, leaf_key, other_key}) EVP_PKEY_free(k);
    auto ctx = proxy::TlsContext::server(dir_ + "/leaf.crt", dir_ + "/leaf.key");
    ASSERT_TRUE(ctx.isOk()) << ctx.status().toString();
    server_tls_ = *ctx;
    auto other_ctx = proxy::TlsContext::server(dir_ + "/other.crt", dir_ + "/other.key");
    ASSERT_TRUE(other_ctx.isOk()) << other_ctx.status().toString();
    other_tls_ = *other_ctx;
  }
  void TearDown() override { ASSERT_EQ(system(("rm -rf '" + dir_ + "'").c_str()), 0); }

  HttpsClient client(bool insecure = false, size_t max = 16u << 20) {
    return HttpsClient(HttpsClient::Options{ca_file_, insecure, max});
  }
  static HttpsRequest get(std::string url) {
    HttpsRequest r;
    r.method = "GET";
    r.url = std::move(url);
    r.timeout = 5s;
    return r;
  }

  std::string dir_, ca_file_;
  std::shared_ptr<proxy::TlsContext> server_tls_, other_tls_;
};

TEST(ParseUrlTest, Parts) {
  auto u = parseUrl("https://login.example.com/tenant/oauth2/v2.0/token");
  ASSERT_TRUE(u.isOk());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "login.example.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/tenant/oauth2/v2.0/token");
  EXPECT_EQ(u->hostHeader(), "login.example.com");

  u = parseUrl("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01");
  ASSERT_TRUE(u.isOk());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/metadata/identity/oauth2/token?api-version=2018-02-01");

  u = parseUrl("https://[::1]:8443");
  ASSERT_TRUE(u.isOk());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->hostHeader(), "[::1]:8443");

  u = parseUrl("https://h:1?x=1");
  ASSERT_TRUE(u.isOk());
  EXPECT_EQ(u->target, "/?x=1");

  for (const char* bad :
       {"ftp://h/", "https://", "https://:443/", "https://h:0/", "https://h:99999/", "https://h:x/",
        "https://u@h/", "https://h/#frag", "https://[::1/", "https://h:/"}) {
    auto r = parseUrl(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().detail(), kHttpsConnectFailed) << bad;
    }
  }
}

TEST_F(HttpsClientTest, ContentLengthResponseOverVerifiedTls) {
  std::string seen_head;
  TestServer server(server_tls_, AF_INET, [&](const Received& r, bool*) {
    seen_head = r.head;
    return okResponse(R"({"ok":true})", "X-Mixed-Case: Value\r\n");
  });
  ASSERT_TRUE(server.ok());
  auto c = client();
  auto req = get("https://localhost:" + std::to_string(server.port()) + "/a/b?c=d");
  req.headers = {{"Metadata", "true"}, {"Host", "evil"}, {"Content-Length", "99"}};
  auto r = c.send(req);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"ok":true})");
  ASSERT_NE(r->header("x-mixed-case"), nullptr);
  EXPECT_EQ(*r->header("x-mixed-case"), "Value");
  EXPECT_EQ(r->header("X-Mixed-Case"), nullptr);  // names are lower case
  EXPECT_EQ(seen_head.rfind("GET /a/b?c=d HTTP/1.1\r\n", 0), 0u) << seen_head;
  EXPECT_NE(seen_head.find("Host: localhost:" + std::to_string(server.port()) + "\r\n"),
            std::string::npos);
  EXPECT_NE(seen_head.find("Metadata: true\r\n"), std::string::npos);
  EXPECT_EQ(seen_head.find("evil"), std::string::npos);
  // The caller's Content-Length is dropped (a GET has no body). Not "99" alone: the random
  // port may hold those digits.
  EXPECT_EQ(seen_head.find("Content-Length: 99"), std::string::npos) << seen_head;
}

TEST_F(HttpsClientTest, PostBodyAndChunkedResponse) {
  TestServer server(server_tls_, AF_INET, [&](const Received& r, bool*) {
    return "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n5\r\necho:\r\n" + ([&] {
             char n[16];
             snprintf(n, sizeof n, "%zx", r.body.size());
             return std::string(n);
           })() +
           "\r\n" + r.body + "\r\n0\r\n\r\n";
  });
  ASSERT_TRUE(server.ok());
  auto c = client();
  HttpsRequest req = get("https://localhost:" + std::to_string(server.port()) + "/token");
  req.method = "POST";
  req.body = "grant_type=client_credentials&scope=x";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  auto r = c.send(req);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "echo:grant_type=client_credentials&scope=x");
}

TEST_F(HttpsClientTest, KeepsOneConnectionPerOrigin) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool*) { return okResponse("x"); });
  ASSERT_TRUE(server.ok());
  auto c = client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  EXPECT_EQ(server.accepted(), 1);
  EXPECT_EQ(c.idleConnections(), 1u);
}

TEST_F(HttpsClientTest, ReconnectsWhenTheKeptConnectionWasClosed) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool* close) {
    *close = true;  // answers with keep-alive but closes right after
    return okResponse("x");
  });
  ASSERT_TRUE(server.ok());
  auto c = client();
  for (int i = 0; i < 2; ++i) {
    auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST_F(HttpsClientTest, UntilCloseBody) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool* close) {
    *close = true;
    return std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it");
  });
  ASSERT_TRUE(server.ok());
  auto c = client();
  auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, "all of it");
  EXPECT_EQ(c.idleConnections(), 0u);
}

TEST_F(HttpsClientTest, Ipv6Literal) {
  TestServer server(server_tls_, AF_INET6, [&](const Received&, bool*) { return okResponse("6"); });
  if (!server.ok()) GTEST_SKIP() << "no IPv6 loopback";
  auto c = client();
  auto r = c.send(get("https://[::1]:" + std::to_string(server.port()) + "/"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, "6");
}

TEST_F(HttpsClientTest, RefusesAnUntrustedCertificate) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool*) { return okResponse("x"); });
  ASSERT_TRUE(server.ok());
  HttpsClient c(HttpsClient::Options{});  // the system store does not know the test CA
  auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsTlsFailed);
}

TEST_F(HttpsClientTest, RefusesAWrongHostName) {
  TestServer server(other_tls_, AF_INET, [&](const Received&, bool*) { return okResponse("x"); });
  ASSERT_TRUE(server.ok());
  auto c = client();
  auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsTlsFailed) << r.status().toString();
}

TEST_F(HttpsClientTest, PlainHttpOnlyWhenAllowed) {
  TestServer server(nullptr, AF_INET, [&](const Received&, bool*) { return okResponse("plain"); });
  ASSERT_TRUE(server.ok());
  const std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/";
  auto strict = client();
  auto r = strict.send(get(url));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsConnectFailed);
  EXPECT_EQ(server.accepted(), 0);
  auto lax = client(/*insecure=*/true);
  r = lax.send(get(url));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->body, "plain");
}

TEST_F(HttpsClientTest, TimesOutOnASilentServer) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool*) { return std::string(); });
  ASSERT_TRUE(server.ok());
  auto c = client();
  auto req = get("https://localhost:" + std::to_string(server.port()) + "/");
  req.timeout = 300ms;
  const auto start = std::chrono::steady_clock::now();
  auto r = c.send(req);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsTimeout);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(HttpsClientTest, RefusesAResponseOverTheLimit) {
  const std::string big(4096, 'a');
  TestServer server(server_tls_, AF_INET, [&](const Received& r, bool*) {
    if (r.head.find("chunked") != std::string::npos) {
      return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n" + big +
             "\r\n0\r\n\r\n";
    }
    return okResponse(big);
  });
  ASSERT_TRUE(server.ok());
  auto c = client(false, 1024);
  auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsResponseTooLarge);
  auto req = get("https://localhost:" + std::to_string(server.port()) + "/");
  req.headers = {{"X-Want", "chunked"}};
  r = c.send(req);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsResponseTooLarge);
}

TEST_F(HttpsClientTest, RefusesAMalformedResponse) {
  TestServer server(server_tls_, AF_INET, [&](const Received&, bool*) {
    return std::string("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  });
  ASSERT_TRUE(server.ok());
  auto c = client();
  auto r = c.send(get("https://localhost:" + std::to_string(server.port()) + "/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsBadResponse);
}

TEST_F(HttpsClientTest, ConnectFailure) {
  // A port nobody listens on: bind one, then close it.
  int port = 0;
  {
    TestServer gone(nullptr, AF_INET, [](const Received&, bool*) { return std::string(); });
    port = gone.port();
  }
  auto c = client();
  auto r = c.send(get("https://127.0.0.1:" + std::to_string(port) + "/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsConnectFailed);
  r = c.send(get("https://no-such-host.invalid/"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), kHttpsConnectFailed);
}

}  // namespace
}  // namespace cosmoseal::net
