#pragma once

// The signing keys of an Entra ID tenant, as its OpenID configuration names them:
//   GET <authority>/<tenant>/v2.0/.well-known/openid-configuration  -> jwks_uri
//   GET <jwks_uri>                                                  -> {"keys":[{kid,kty,n,e,...}]}
// JwksCache keeps the current key set for every worker to read, and keeps it fresh from one
// background thread:
//   * start(): the first fetch at once, then every `refresh` (default 1 h); after a failure it
//     retries every `min_interval`, and the keys it has keep serving meanwhile (they are dropped
//     only by a successful fetch that no longer lists them);
//   * requestRefresh(): a token named a kid the set does not hold (a key rolled over early). A
//     refresh is asked of the thread at most once per `min_interval` (default 30 s), counted from
//     the last fetch attempt, so a flood of tokens with bogus kids costs at most one fetch per
//     interval.
//   * refreshForUnknownKid(): the same ask, for a request that will wait for its outcome (the
//     exchange holds it, proxy/admission/auth.h): it returns the key-set generation that marks
//     "a fetch that can hold the new key has finished" (the one just asked for, or the one
//     asked or running already), or 0 when there is nothing to wait for (the rate limit refused
//     the ask and no fetch is asked or running: refuse at once, so bogus kids cannot park
//     requests). Workers never block: they compare generation() with that number on a timer.
// Readers (find, hasKeys, generation, stats) are lock-free: the key set is an immutable object
// behind an atomic shared_ptr, swapped whole by the thread. Only the asks take a short mutex.
//
// The generation counts finished fetch attempts (successful or not) and replaceKeys calls; it
// never goes back.
//
// What can fail: fetches (logged with the URL and why, counted in fetchFailures()); a JWKS with no
// usable RS256 key counts as a failed fetch.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/jws.h"

namespace cosmoseal::proxy {

struct JwksKeySet {
  std::map<std::string, std::shared_ptr<const crypto::RsaPublicKey>, std::less<>> keys;
};

// `jwks_uri` of an OpenID configuration document (kInvalidArgument auth.token_keys_unavailable
// when absent).
common::StatusOr<std::string> parseOpenIdJwksUri(std::string_view json);
// Every RSA signing key of a JWKS document ({"keys":[...]}). Keys that are not RSA, are for
// encryption (use != "sig"), name another algorithm than RS256, or cannot be built are skipped;
// none left is an error. `skipped`, when given, counts the skipped entries.
common::StatusOr<std::shared_ptr<const JwksKeySet>> parseJwks(std::string_view json,
                                                              size_t* skipped = nullptr);

// What /metrics shows of a JwksCache (docs/OPERATIONS.md).
struct JwksStats {
  uint64_t fetches = 0;     // fetch attempts (OpenID configuration + JWKS)
  uint64_t failures = 0;    // attempts that failed
  size_t keys = 0;          // keys in the current set
  double age_seconds = -1;  // since the last successful fetch; -1: none yet
};

class JwksCache {
 public:
  // Fetches a URL and returns the body of a 200 answer; anything else is an error whose message
  // says why. Called only on the cache's own thread (or by refreshNow's caller).
  using Fetch = std::function<common::StatusOr<std::string>(const std::string& url)>;
  struct Options {
    std::string openid_configuration_url;
    std::chrono::milliseconds refresh{std::chrono::hours(1)};
    std::chrono::milliseconds min_interval{std::chrono::seconds(30)};
  };

  JwksCache(Options options, Fetch fetch, const common::Clock& clock);
  // Stops the thread and waits for it (a fetch in progress finishes first: the fetcher's timeout
  // bounds the wait).
  ~JwksCache();
  JwksCache(const JwksCache&) = delete;
  JwksCache& operator=(const JwksCache&) = delete;

  // Starts the refresh thread (once; later calls do nothing).
  void start();
  // The key with this kid in the current set, or null. Lock-free; any thread.
  std::shared_ptr<const crypto::RsaPublicKey> find(std::string_view kid) const noexcept;
  // True once a key set was fetched (readiness waits for it).
  bool hasKeys() const noexcept { return keys_.load() != nullptr; }
  // Asks the thread for an early refresh unless a fetch was attempted or asked for less than
  // min_interval ago. Returns whether it asked. Any thread; never blocks on the network.
  bool requestRefresh() noexcept;
  // For a request that saw an unknown kid and may wait: see the header comment. Any thread.
  uint64_t refreshForUnknownKid() noexcept;
  // Finished fetch attempts and replaceKeys calls so far. Lock-free; any thread.
  uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  // Whether the last finished fetch attempt failed (false before any).
  bool lastFetchFailed() const noexcept { return last_failed_.load(std::memory_order_acquire); }
  JwksStats stats() const noexcept;
  // Fetches the OpenID configuration and the JWKS now, on the calling thread; on success the new
  // set replaces the old one.
  common::Status refreshNow();
  // Replaces the key set (tests that mint their own tokens; the refresh thread uses refreshNow).
  void replaceKeys(std::shared_ptr<const JwksKeySet> keys) noexcept {
    keys_.store(std::move(keys));
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }

  uint64_t fetches() const noexcept { return fetches_.load(); }
  uint64_t fetchFailures() const noexcept { return failures_.load(); }
  const Options& options() const noexcept { return options_; }

 private:
  void run();
  // A fetch attempt ended: counts the generation, under mu_ with fetching_.
  void finishFetch(bool ok) noexcept;

  const Options options_;
  const Fetch fetch_;
  const common::Clock& clock_;
  std::atomic<std::shared_ptr<const JwksKeySet>> keys_;
  std::atomic<uint64_t> fetches_{0};
  std::atomic<uint64_t> failures_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> last_failed_{false};
  std::atomic<uint64_t> last_success_ns_{0};  // monotonic; 0: never
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;             // guarded by mu_
  bool refresh_asked_ = false;    // guarded by mu_
  uint64_t last_attempt_ns_ = 0;  // guarded by mu_: monotonic time of the last fetch or ask
  bool attempted_ = false;        // guarded by mu_
  bool fetching_ = false;         // guarded by mu_: a fetch runs (or the thread is about to run it)
  std::thread thread_;
};

}  // namespace cosmoseal::proxy
