#include "proxy/identity/token_cache.h"

#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {

namespace {
constexpr int64_t kFailureLogIntervalMs = 60'000;
}  // namespace

int64_t refreshAtMs(int64_t obtained_at_ms, int64_t expires_on_ms,
                    std::chrono::seconds refresh_before, double jitter) noexcept {
  const int64_t lifetime = std::max<int64_t>(expires_on_ms - obtained_at_ms, 0);
  const int64_t lead =
      std::min<int64_t>(std::chrono::milliseconds(refresh_before).count(), lifetime / 2);
  const auto spread = static_cast<int64_t>(static_cast<double>(lead) / 5.0 * jitter);
  return expires_on_ms - lead - spread;
}

std::chrono::milliseconds backoffFor(uint32_t failures, const RefreshPolicy& policy,
                                     double jitter) noexcept {
  const uint32_t doublings = std::min<uint32_t>(failures > 0 ? failures - 1 : 0, 20);
  const int64_t base =
      std::min<int64_t>(policy.min_backoff.count() << doublings, policy.max_backoff.count());
  // Between half and all of the base: retries from many replicas spread out.
  return std::chrono::milliseconds(base / 2 +
                                   static_cast<int64_t>(static_cast<double>(base) / 2.0 * jitter));
}

TokenCache::TokenCache(std::unique_ptr<TokenSource> source, RefreshPolicy policy, NowMs now)
    : source_(std::move(source)),
      policy_(policy),
      now_(std::move(now)),
      description_(source_->describe()),
      rng_state_(
          static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) | 1u) {
  if (!now_) {
    now_ = [] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
          .count();
    };
  }
}

TokenCache::~TokenCache() { stop(); }

int64_t TokenCache::nowMs() const { return now_(); }

double TokenCache::jitter() {
  // xorshift64: scheduling jitter only, nothing secret depends on it.
  rng_state_ ^= rng_state_ << 13;
  rng_state_ ^= rng_state_ >> 7;
  rng_state_ ^= rng_state_ << 17;
  return static_cast<double>(rng_state_ >> 11) / static_cast<double>(uint64_t{1} << 53);
}

void TokenCache::start() {
  std::lock_guard<std::mutex> lock(thread_mu_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void TokenCache::stop() noexcept {
  {
    std::lock_guard<std::mutex> lock(thread_mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TokenCache::run() {
  common::log::setThreadName("token");
  COSMOSEAL_LOG(kInfo) << "upstream token: fetching with " << description_;
  for (;;) {
    const int64_t next = step(nowMs());
    std::unique_lock<std::mutex> lock(thread_mu_);
    const int64_t wait_ms = std::max<int64_t>(next - nowMs(), 0);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [this] { return stopping_; });
    if (stopping_) return;
  }
}

int64_t TokenCache::step(int64_t now_ms) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now_ms < next_ms_) return next_ms_;
  }
  // The fetch blocks (network): no lock is held, readers keep the current token meanwhile.
  auto fetched = source_->fetch(now_ms / 1000);
  std::lock_guard<std::mutex> lock(mu_);
  if (fetched.isOk()) {
    auto token = std::make_shared<AccessToken>(std::move(fetched).value());
    const int64_t expires_ms = token->expires_on * 1000;
    next_ms_ =
        std::max(refreshAtMs(now_ms, expires_ms, policy_.refresh_before, jitter()), now_ms + 1000);
    ++stats_.refreshes;
    stats_.expires_on = token->expires_on;
    stats_.has_token = true;
    if (failure_streak_ > 0) {
      COSMOSEAL_LOG(kInfo) << "upstream token: obtained again after " << failure_streak_
                           << " failed attempt(s); valid for " << (expires_ms - now_ms) / 1000
                           << " s";
    } else if (stats_.refreshes == 1) {
      COSMOSEAL_LOG(kInfo) << "upstream token: obtained; valid for " << (expires_ms - now_ms) / 1000
                           << " s";
    }
    failure_streak_ = 0;
    stats_.last_error.clear();
    token_ = std::move(token);
    return next_ms_;
  }
  ++stats_.failures;
  ++failure_streak_;
  stats_.last_error = fetched.status().toString();
  int64_t next = now_ms + backoffFor(failure_streak_, policy_, jitter()).count();
  // Never sleep past the expiry of the token still held: one more try just before it.
  if (token_ && token_->expires_on * 1000 > now_ms) {
    next = std::min(next, std::max(token_->expires_on * 1000 - 1000, now_ms + 500));
  }
  next_ms_ = next;
  if (failure_streak_ == 1 || now_ms - last_failure_log_ms_ >= kFailureLogIntervalMs) {
    last_failure_log_ms_ = now_ms;
    const bool valid = token_ && token_->expires_on * 1000 > now_ms;
    COSMOSEAL_LOG(kWarn) << "upstream token: refresh failed (" << stats_.last_error << "); "
                         << (valid ? "the current token stays in use for " +
                                         std::to_string(token_->expires_on - now_ms / 1000) + " s"
                                   : std::string("no valid token: requests get 503 ") +
                                         std::string(identity_detail::kTokenUnavailable))
                         << "; retry in " << (next - now_ms) << " ms";
  }
  return next_ms_;
}

std::shared_ptr<const AccessToken> TokenCache::current(
    std::chrono::seconds min_validity) const noexcept {
  const int64_t now_ms = nowMs();
  std::lock_guard<std::mutex> lock(mu_);
  if (!token_) return nullptr;
  // A short-lived token is refreshed at half its lifetime: asking for more than a quarter of it
  // would refuse requests between the refresh being due and the new token arriving.
  const int64_t lifetime_ms = (token_->expires_on - token_->obtained_at) * 1000;
  const int64_t need_ms =
      std::min<int64_t>(std::chrono::milliseconds(min_validity).count(), lifetime_ms / 4);
  if (token_->expires_on * 1000 - now_ms <= need_ms) return nullptr;
  return token_;
}

std::string TokenCache::unavailableReason() const {
  if (current() != nullptr) return "";
  std::lock_guard<std::mutex> lock(mu_);
  std::string why = token_ ? "the upstream token expired" : "no upstream token obtained yet";
  if (!stats_.last_error.empty()) why += "; last refresh: " + stats_.last_error;
  return why;
}

void TokenCache::setTokenForTest(AccessToken token) {
  std::lock_guard<std::mutex> lock(mu_);
  stats_.expires_on = token.expires_on;
  stats_.has_token = true;
  token_ = std::make_shared<AccessToken>(std::move(token));
}

TokenStats TokenCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace cosmoseal::proxy::identity
