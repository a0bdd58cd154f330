// upstream.auth with an Entra ID type, through the real worker: the fake upstream sees the token
// in the aad form (never a key signature), and with the token endpoint down requests get a local
// 503 upstream.token_unavailable without reaching the upstream, until the provider is back.
// The token endpoint is a managed identity endpoint (IMDS protocol) on plain HTTP loopback.

#include <gtest/gtest.h>

#include <atomic>

#include "tests/integration/fake_upstream.h"
#include "tests/integration/proxy_under_test.h"
#include "tests/unit/proxy/net/loopback_server.h"

namespace cosmoseal::integration {
namespace {

using std::chrono::milliseconds;

// An IMDS stand-in: answers tokens "mi-token-<n>" (lifetime `lifetime_s`), or 500 while down.
struct ImdsStandIn {
  std::atomic<bool> down{false};
  std::atomic<int> tokens{0};
  std::atomic<int> refused{0};
  int lifetime_s = 3600;
  test::TestServer server{nullptr, AF_INET, [this](const test::Received& r, bool*) {
                            if (down || r.head.find("Metadata: true") == std::string::npos) {
                              ++refused;
                              const std::string body = R"({"error":"temporarily_unavailable"})";
                              return "HTTP/1.1 500 Internal Server Error\r\nContent-Length: " +
                                     std::to_string(body.size()) + "\r\n\r\n" + body;
                            }
                            const std::string body =
                                R"({"access_token":"mi-token-)" + std::to_string(++tokens) +
                                R"(","expires_in":")" + std::to_string(lifetime_s) + "\"}";
                            return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   "Content-Length: " +
                                   std::to_string(body.size()) + "\r\n\r\n" + body;
                          }};

  std::string authYaml() const {
    return "    type: managed_identity\n    endpoint: http://127.0.0.1:" +
           std::to_string(server.port()) + "/metadata/identity/oauth2/token\n";
  }
};

bool waitFor(const std::function<bool()>& cond, milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    sleepMs(20);
  }
  return cond();
}

FakeUpstream::Script okUpstream() {
  return [](FakeUpstream& u, Wire& c, int) {
    serveAll(u, c, [](const HttpMessage&) { return jsonResponse(200, "{\"ok\":true}"); });
  };
}

TEST(EntraUpstreamTest, UpstreamSeesTheTokenInTheAadForm) {
  ImdsStandIn imds;
  ASSERT_TRUE(imds.server.ok());
  FakeUpstream upstream(okUpstream());
  ProxySettings settings;
  settings.upstream_auth = imds.authYaml();
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitFor([&] { return imds.tokens.load() >= 1; }, milliseconds(5000)));
  sleepMs(50);

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 200);
  ASSERT_EQ(upstream.requestCount(), 1u);
  const HttpMessage seen = upstream.requests()[0];
  EXPECT_EQ(seen.header("authorization"), "type%3Daad%26ver%3D1.0%26sig%3Dmi-token-1");
  EXPECT_EQ(imds.tokens.load(), 1);  // cached: one fetch serves every request
}

TEST(EntraUpstreamTest, ProviderDownIs503ThenRecovers) {
  ImdsStandIn imds;
  ASSERT_TRUE(imds.server.ok());
  imds.down = true;
  FakeUpstream upstream(okUpstream());
  ProxySettings settings;
  settings.upstream_auth = imds.authYaml();
  ProxyUnderTest proxy(upstream.port(), settings);
  ASSERT_TRUE(proxy.ok()) << proxy.error();
  ASSERT_TRUE(waitFor([&] { return imds.refused.load() >= 1; }, milliseconds(5000)));

  Wire app = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(app.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r = app.readResponse();
  ASSERT_TRUE(r.ok()) << readEndName(r.end);
  EXPECT_EQ(r.message.status, 503);
  EXPECT_EQ(r.message.header("x-cosmoseal-detail"), "upstream.token_unavailable");
  EXPECT_NE(r.message.body.find("no upstream token obtained yet"), std::string::npos)
      << r.message.body;
  EXPECT_EQ(upstream.requestCount(), 0u) << "nothing may go upstream without a token";

  // The provider comes back: the refresher's next retry (backoff starts at 1 s) gets a token.
  imds.down = false;
  ASSERT_TRUE(waitFor([&] { return imds.tokens.load() >= 1; }, milliseconds(10000)));
  sleepMs(50);
  Wire again = Wire::connectLocal(proxy.port());
  ASSERT_TRUE(again.send(proxy.request("GET", "/dbs/shop/colls/orders/docs/a")));
  ReadResult r2 = again.readResponse();
  ASSERT_TRUE(r2.ok()) << readEndName(r2.end);
  EXPECT_EQ(r2.message.status, 200);
  ASSERT_EQ(upstream.requestCount(), 1u);
  EXPECT_EQ(upstream.requests()[0].header("authorization"),
            "type%3Daad%26ver%3D1.0%26sig%3Dmi-token-1");
}

}  // namespace
}  // namespace cosmoseal::integration
