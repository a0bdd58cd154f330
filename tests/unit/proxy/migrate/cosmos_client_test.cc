#include "proxy/migrate/cosmos_client.h"

#include <gtest/gtest.h>

#include <deque>

#include "crypto/base64.h"
#include "proxy/identity/details.h"
#include "proxy/identity/token_cache.h"

namespace cosmoseal::proxy::migrate {
namespace {

class ScriptedSender final : public HttpSender {
 public:
  std::deque<HttpResponse> answers;
  std::vector<HttpRequest> seen;
  common::StatusOr<HttpResponse> send(const HttpRequest& request) override {
    seen.push_back(request);
    if (answers.empty()) return HttpResponse{200, {{"x-ms-request-charge", "1"}}, "{}"};
    HttpResponse r = answers.front();
    answers.pop_front();
    return r;
  }
};

std::string header(const HttpRequest& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return {};
}

common::SecretBytes key() {
  common::SecretBytes k(64);
  for (size_t i = 0; i < k.size(); ++i) k.data()[i] = static_cast<uint8_t>(i);
  return k;
}

TEST(CosmosClient, SignsWithTheAccountKey) {
  ScriptedSender http;
  ClientCounters counters;
  const common::SecretBytes k = key();
  CosmosClient c(&http, k, "https://acct:443/", nullptr, &counters);
  auto r = c.call("GET", CosmosClient::documentPath("db", "c", "a b"));
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(http.seen.size(), 1u);
  const HttpRequest& req = http.seen[0];
  EXPECT_EQ(req.url, "https://acct:443/dbs/db/colls/c/docs/a%20b");
  const std::string date = header(req, "x-ms-date");
  const std::string sts =
      crypto::cosmosStringToSign("GET", "docs", "dbs/db/colls/c/docs/a b", date, "");
  EXPECT_EQ(header(req, "authorization"),
            crypto::cosmosAuthorizationHeader(crypto::cosmosSignature(k, sts)));
  EXPECT_FALSE(header(req, "x-ms-version").empty());
}

// A source that never answers: the test hands the cache its token.
class NoSource final : public identity::TokenSource {
 public:
  common::StatusOr<identity::AccessToken> fetch(int64_t) override {
    return common::Status(common::Code::kUnavailable, "identity.token_endpoint_error", "down");
  }
  std::string describe() const override { return "test"; }
};

TEST(CosmosClient, WithAnEntraUpstreamSendsTheTokenOrNothing) {
  ScriptedSender http;
  ClientCounters counters;
  const common::SecretBytes none;
  identity::TokenCache tokens(std::make_unique<NoSource>(), identity::RefreshPolicy{});
  CosmosClient c(&http, none, "https://acct", nullptr, &counters);
  c.useTokens(&tokens);
  // No token yet: the call fails and nothing is sent (never an unsigned request).
  auto early = c.call("GET", CosmosClient::collectionPath("db", "c"));
  ASSERT_FALSE(early.isOk());
  EXPECT_EQ(early.status().detail(), identity_detail::kTokenUnavailable);
  EXPECT_TRUE(http.seen.empty());

  identity::AccessToken token;
  token.value = common::SecretBytes::copyOf(std::string_view("eyJh.eyJi.c2ln"));
  token.expires_on = static_cast<int64_t>(std::time(nullptr)) + 3600;
  tokens.setTokenForTest(std::move(token));
  auto r = c.call("GET", CosmosClient::collectionPath("db", "c"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  ASSERT_EQ(http.seen.size(), 1u);
  EXPECT_EQ(header(http.seen[0], "authorization"), "type%3Daad%26ver%3D1.0%26sig%3DeyJh.eyJi.c2ln");
}

TEST(CosmosClient, HonoursRetryAfterAndCountsRequestUnits) {
  ScriptedSender http;
  http.answers.push_back({429, {{"x-ms-retry-after-ms", "30"}, {"x-ms-request-charge", "0"}}, ""});
  http.answers.push_back({429, {{"x-ms-retry-after-ms", "20"}}, ""});
  http.answers.push_back({200, {{"x-ms-request-charge", "10.5"}}, "{}"});
  ClientCounters counters;
  const common::SecretBytes k = key();
  CosmosClient c(&http, k, "https://acct", nullptr, &counters);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = c.call("PUT", "/dbs/db/colls/c/docs/x", {{"if-match", "\"e\""}}, "{}");
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(http.seen.size(), 3u);
  EXPECT_EQ(counters.throttled.load(), 2u);
  EXPECT_EQ(counters.retry_after_ms.load(), 50u);
  EXPECT_GE(waited, std::chrono::milliseconds(50));
  EXPECT_NEAR(counters.requestUnits(), 10.5, 1e-9);
  EXPECT_EQ(header(http.seen[2], "if-match"), "\"e\"");
}

TEST(CosmosClient, StatusesTheCallerHandlesComeBackAsResponses) {
  ScriptedSender http;
  http.answers.push_back({412, {}, "{}"});
  ClientCounters counters;
  const common::SecretBytes k = key();
  CosmosClient c(&http, k, "https://acct", nullptr, &counters);
  auto r = c.call("PUT", "/dbs/db/colls/c/docs/x");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 412);
  EXPECT_EQ(http.seen.size(), 1u);
}

TEST(CosmosClient, ThrottledPastTheLimitIsAnError) {
  ScriptedSender http;
  for (int i = 0; i < 4; ++i) http.answers.push_back({429, {{"x-ms-retry-after-ms", "1"}}, ""});
  ClientCounters counters;
  const common::SecretBytes k = key();
  RetryPolicy p;
  p.max_throttle_retries = 3;
  CosmosClient c(&http, k, "https://acct", nullptr, &counters, p);
  auto r = c.call("GET", "/dbs/db/colls/c/docs/x");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().detail(), "migrate.throttled");
}

}  // namespace
}  // namespace cosmoseal::proxy::migrate
