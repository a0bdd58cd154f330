#include "proxy/migrate/cosmos_client.h"

#include <charconv>
#include <ctime>
#include <thread>

#include "common/url.h"
#include "proxy/identity/details.h"
#include "proxy/migrate/details.h"

namespace cosmoseal::proxy::migrate {

namespace {

constexpr std::string_view kApiVersion = "2018-12-31";

int64_t headerInt(const HttpResponse& r, std::string_view name, int64_t fallback) noexcept {
  const std::string_view v = r.header(name);
  if (v.empty()) return fallback;
  int64_t out = 0;
  const auto res = std::from_chars(v.data(), v.data() + v.size(), out);
  return res.ec == std::errc() ? out : fallback;
}

double requestCharge(const HttpResponse& r) noexcept {
  const std::string v(r.header("x-ms-request-charge"));
  if (v.empty()) return 0;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  return end != v.c_str() && d > 0 ? d : 0;
}

}  // namespace

int subStatus(const HttpResponse& response) noexcept {
  return static_cast<int>(headerInt(response, "x-ms-substatus", 0));
}

CosmosClient::CosmosClient(HttpSender* http, const common::SecretBytes& account_key,
                           std::string origin, RuBudget* budget, ClientCounters* counters,
                           RetryPolicy retry)
    : http_(http),
      hmac_(account_key),
      origin_(std::move(origin)),
      budget_(budget),
      counters_(counters),
      retry_(retry) {
  while (!origin_.empty() && origin_.back() == '/') origin_.pop_back();
}

std::string CosmosClient::collectionPath(std::string_view database, std::string_view container) {
  return "/dbs/" + common::percentEncodeSegment(database) + "/colls/" +
         common::percentEncodeSegment(container);
}

std::string CosmosClient::documentPath(std::string_view database, std::string_view container,
                                       std::string_view id) {
  return collectionPath(database, container) + "/docs/" + common::percentEncodeSegment(id);
}

common::StatusOr<HttpResponse> CosmosClient::call(std::string_view method, std::string_view path,
                                                  const HeaderList& headers,
                                                  const std::string& body) {
  auto resource = crypto::cosmosResourceFromPath(path);
  if (!resource.isOk()) return resource.status();
  int throttle_attempt = 0;
  int transient_attempt = 0;
  for (;;) {
    if (budget_ != nullptr) budget_->acquire();
    HttpRequest req;
    req.method = std::string(method);
    req.url = origin_ + std::string(path);
    const std::string date = crypto::formatHttpDate(static_cast<int64_t>(std::time(nullptr)));
    const std::string sts =
        crypto::cosmosStringToSign(method, resource->type, resource->link, date, "");
    if (tokens_ != nullptr) {
      // "type=aad&ver=1.0&sig=<token>", URL-encoded as the SDKs send it (and as the sidecar does).
      const auto token = tokens_->current(std::chrono::seconds(10));
      if (token == nullptr) {
        return common::Status(common::Code::kUnavailable, identity_detail::kTokenUnavailable,
                              "no Entra ID token for the account: " + tokens_->unavailableReason());
      }
      req.headers.emplace_back("authorization",
                               "type%3Daad%26ver%3D1.0%26sig%3D" + std::string(token->view()));
    } else {
      req.headers.emplace_back("authorization",
                               crypto::cosmosAuthorizationHeader(hmac_.macBase64(sts)));
    }
    req.headers.emplace_back("x-ms-date", date);
    req.headers.emplace_back("x-ms-version", std::string(kApiVersion));
    if (!body.empty()) req.headers.emplace_back("content-type", "application/json");
    for (const auto& h : headers) req.headers.push_back(h);
    req.body = body;
    auto res = http_->send(req);
    counters_->requests.fetch_add(1, std::memory_order_relaxed);
    int status = 0;
    int64_t retry_after = -1;
    if (res.isOk()) {
      const double ru = requestCharge(*res);
      counters_->milli_ru.fetch_add(static_cast<uint64_t>(ru * 1000.0), std::memory_order_relaxed);
      if (budget_ != nullptr) budget_->charge(ru);
      status = res->status;
      retry_after = headerInt(*res, "x-ms-retry-after-ms", -1);
    }
    const bool throttled = status == 429;
    const RetryDecision d =
        retry_.decide(status, retry_after, throttled ? throttle_attempt : transient_attempt);
    if (!d.retry) {
      if (!res.isOk()) return res.status();
      if (throttled) {
        return common::Status(common::Code::kUnavailable, details::kThrottledTooLong,
                              "the account kept answering 429 past the retry limit");
      }
      return res;
    }
    if (throttled) {
      ++throttle_attempt;
      counters_->throttled.fetch_add(1, std::memory_order_relaxed);
      counters_->retry_after_ms.fetch_add(static_cast<uint64_t>(d.delay.count()),
                                          std::memory_order_relaxed);
    } else {
      ++transient_attempt;
      counters_->transient_retries.fetch_add(1, std::memory_order_relaxed);
    }
    std::this_thread::sleep_for(d.delay);
  }
}

}  // namespace cosmoseal::proxy::migrate
