#pragma once

// CosmosClient: the migrator's calls to the account, signed with the sidecar's upstream
// credential (the account key from upstream.key_file, crypto/cosmos_auth.h), throttled by the
// job's RU budget and retried per RetryPolicy (429 + x-ms-retry-after-ms honoured). One client
// per thread (it owns an HMAC context and uses one HttpSender); the budget and the counters are
// shared by the job.
//
// Every call returns the final HTTP answer (after retries); a status the caller handles (404,
// 409, 410, 412) is a response, not an error. An error Status means the request could not be
// made or kept failing (transport, or a retryable status past the retry limit).

#include <atomic>
#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/cosmos_auth.h"
#include "proxy/identity/token_cache.h"
#include "proxy/migrate/http.h"
#include "proxy/migrate/rate.h"

namespace cosmoseal::proxy::migrate {

// Job-wide counters (relaxed atomics; read by the progress display).
struct ClientCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> milli_ru{0};           // sum of x-ms-request-charge, in thousandths
  std::atomic<uint64_t> throttled{0};          // 429 answers honoured
  std::atomic<uint64_t> retry_after_ms{0};     // total time waited on them
  std::atomic<uint64_t> transient_retries{0};  // 408/449/5xx/transport retries

  double requestUnits() const noexcept {
    return static_cast<double>(milli_ru.load(std::memory_order_relaxed)) / 1000.0;
  }
};

class CosmosClient {
 public:
  // `origin`: "https://host[:port]" (no trailing '/'). Not owned: http, budget, counters; they
  // must outlive the client. `budget` may be null (no limit).
  CosmosClient(HttpSender* http, const common::SecretBytes& account_key, std::string origin,
               RuBudget* budget, ClientCounters* counters, RetryPolicy retry = {});

  // `path`: the resource path as sent, percent-encoded ("/dbs/db/colls/c/docs/id%20x").
  // `headers`: extra headers (x-ms-documentdb-partitionkey, If-Match, ...); the client adds
  // authorization, x-ms-date, x-ms-version and content-type.
  // With an Entra ID upstream (upstream.auth): requests carry the token `tokens` holds instead of
  // an account-key signature; without a token valid for 10 more seconds a call fails with 503
  // upstream.token_unavailable and nothing is sent. Not owned; null: the account key.
  void useTokens(const identity::TokenCache* tokens) noexcept { tokens_ = tokens; }

  common::StatusOr<HttpResponse> call(std::string_view method, std::string_view path,
                                      const HeaderList& headers = {}, const std::string& body = {});

  // Path pieces: "/dbs/{db}/colls/{coll}" percent-encoded.
  static std::string collectionPath(std::string_view database, std::string_view container);
  static std::string documentPath(std::string_view database, std::string_view container,
                                  std::string_view id);

 private:
  HttpSender* http_;
  crypto::HmacSha256 hmac_;
  const identity::TokenCache* tokens_ = nullptr;
  std::string origin_;
  RuBudget* budget_;
  ClientCounters* counters_;
  RetryPolicy retry_;
};

// "x-ms-substatus" as a number (0 when absent).
int subStatus(const HttpResponse& response) noexcept;

}  // namespace cosmoseal::proxy::migrate
