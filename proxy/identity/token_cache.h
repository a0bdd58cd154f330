#pragma once

// TokenCache: the upstream's current Entra ID token, refreshed in the background.
//
// * A refresher thread (start()/stop(), owned by the Server's control thread) fetches a token
//   at once, then again before it expires: at expires_on - lead - jitter, where lead is
//   min(refresh_before, lifetime / 2) (so a short-lived token is not refreshed in a loop) and the
//   jitter is up to a fifth of lead (replicas do not hit the provider together). A failed fetch
//   is retried with exponential backoff (1 s doubling to 30 s, jittered), never past the expiry.
// * Workers never wait for a refresh: current() copies a shared_ptr under a short mutex. The old
//   token keeps serving until the new one replaces it; an expired token is not handed out.
// * Tokens are SecretBytes (zeroized when the last reader drops them) and never logged. The log
//   says when a refresh fails and why (once per failure streak and then at most once a minute),
//   and when a token was obtained again.
//
// Thread-safety: current(), stats() and ready() from any thread; start()/stop() from one thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "proxy/identity/token.h"
#include "proxy/identity/token_source.h"

namespace cosmoseal::proxy::identity {

struct RefreshPolicy {
  std::chrono::seconds refresh_before{300};
  std::chrono::milliseconds min_backoff{1000};
  std::chrono::milliseconds max_backoff{30000};
};

// When to refresh a token obtained at `obtained_at` that expires at `expires_on` (Unix seconds,
// as milliseconds for precision). `jitter` in [0, 1) picks within the jitter window.
int64_t refreshAtMs(int64_t obtained_at_ms, int64_t expires_on_ms,
                    std::chrono::seconds refresh_before, double jitter) noexcept;
// The delay before retry number `failures` (1 = first retry), jittered by `jitter` in [0, 1).
std::chrono::milliseconds backoffFor(uint32_t failures, const RefreshPolicy& policy,
                                     double jitter) noexcept;

struct TokenStats {
  uint64_t refreshes = 0;  // tokens obtained
  uint64_t failures = 0;   // failed fetches
  int64_t expires_on = 0;  // of the current token (0: none yet)
  bool has_token = false;
  std::string last_error;  // "" after a success; never holds a secret
};

class TokenCache {
 public:
  // Wall clock in milliseconds since the Unix epoch (tests inject a fake).
  using NowMs = std::function<int64_t()>;

  TokenCache(std::unique_ptr<TokenSource> source, RefreshPolicy policy, NowMs now = {});
  ~TokenCache();  // stops the thread
  TokenCache(const TokenCache&) = delete;
  TokenCache& operator=(const TokenCache&) = delete;

  // Starts the refresher thread (idempotent).
  void start();
  // Stops and joins it (idempotent). The last token stays readable.
  void stop() noexcept;

  // The current token if it is valid for at least `min_validity` more (at most a quarter of its
  // lifetime is asked for: short tokens are refreshed at half-life); otherwise nullptr.
  std::shared_ptr<const AccessToken> current(
      std::chrono::seconds min_validity = std::chrono::seconds(0)) const noexcept;
  // Why there is no valid token (for the 503 message and the log); "" when there is one.
  std::string unavailableReason() const;
  // A token was obtained at least once and the current one has not expired.
  bool ready() const noexcept { return current() != nullptr; }
  TokenStats stats() const;
  const std::string& describe() const noexcept { return description_; }

  // One refresh step at `now_ms` (the thread's body; tests drive it directly): fetches if a
  // refresh is due and returns when the next step is due (Unix ms).
  int64_t step(int64_t now_ms);
  // Test seam: installs a token as if it had just been fetched.
  void setTokenForTest(AccessToken token);

 private:
  void run();
  int64_t nowMs() const;
  double jitter();

  std::unique_ptr<TokenSource> source_;
  RefreshPolicy policy_;
  NowMs now_;
  std::string description_;

  mutable std::mutex mu_;  // guards everything below
  std::shared_ptr<const AccessToken> token_;
  TokenStats stats_;
  int64_t next_ms_ = 0;
  uint32_t failure_streak_ = 0;
  int64_t last_failure_log_ms_ = 0;
  uint64_t rng_state_;

  std::mutex thread_mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace cosmoseal::proxy::identity
