#include "proxy/admission/jwks.h"

#include <simdjson.h>

#include <algorithm>

#include "common/log.h"
#include "proxy/admission/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

Status unavailable(std::string msg) {
  return Status(Code::kUnavailable, admission_detail::kTokenKeysUnavailable, std::move(msg));
}

bool member(simdjson::dom::object obj, std::string_view name, std::string_view* out) {
  return obj[name].get_string().get(*out) == simdjson::SUCCESS;
}

}  // namespace

common::StatusOr<std::string> parseOpenIdJwksUri(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view uri;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS ||
      !root.is_object() || !member(root.get_object().value_unsafe(), "jwks_uri", &uri) ||
      uri.empty()) {
    return unavailable("the OpenID configuration has no jwks_uri");
  }
  return std::string(uri);
}

common::StatusOr<std::shared_ptr<const JwksKeySet>> parseJwks(std::string_view json,
                                                              size_t* skipped) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::array keys;
  if (parser.parse(json.data(), json.size(), true).get(root) != simdjson::SUCCESS ||
      root["keys"].get_array().get(keys) != simdjson::SUCCESS) {
    return unavailable("the JWKS is not a JSON object with a keys list");
  }
  auto set = std::make_shared<JwksKeySet>();
  size_t skip = 0;
  for (simdjson::dom::element el : keys) {
    simdjson::dom::object k;
    std::string_view kty, use, alg, kid, n, e;
    if (el.get_object().get(k) != simdjson::SUCCESS || !member(k, "kty", &kty) || kty != "RSA" ||
        !member(k, "kid", &kid) || kid.empty() || !member(k, "n", &n) || !member(k, "e", &e) ||
        (member(k, "use", &use) && use != "sig") || (member(k, "alg", &alg) && alg != "RS256")) {
      ++skip;
      continue;
    }
    std::string nb, eb;
    if (!crypto::base64UrlDecode(n, &nb) || !crypto::base64UrlDecode(e, &eb)) {
      ++skip;
      continue;
    }
    auto key = crypto::RsaPublicKey::fromModulusExponent(nb, eb);
    if (!key.isOk()) {
      ++skip;
      continue;
    }
    set->keys.emplace(std::string(kid), std::move(key).value());
  }
  if (skipped != nullptr) *skipped = skip;
  if (set->keys.empty()) return unavailable("the JWKS holds no usable RS256 signing key");
  return std::shared_ptr<const JwksKeySet>(std::move(set));
}

JwksCache::JwksCache(Options options, Fetch fetch, const common::Clock& clock)
    : options_(std::move(options)), fetch_(std::move(fetch)), clock_(clock) {}

JwksCache::~JwksCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void JwksCache::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable() || stop_) return;
  thread_ = std::thread([this] { run(); });
}

std::shared_ptr<const crypto::RsaPublicKey> JwksCache::find(std::string_view kid) const noexcept {
  const std::shared_ptr<const JwksKeySet> set = keys_.load();
  if (set == nullptr) return nullptr;
  auto it = set->keys.find(kid);
  return it == set->keys.end() ? nullptr : it->second;
}

bool JwksCache::requestRefresh() noexcept {
  const uint64_t now = clock_.monotonicNanos();
  const auto min_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.min_interval).count());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (refresh_asked_ || (attempted_ && now - last_attempt_ns_ < min_ns)) return false;
    refresh_asked_ = true;
    attempted_ = true;
    last_attempt_ns_ = now;
  }
  cv_.notify_all();
  return true;
}

uint64_t JwksCache::refreshForUnknownKid() noexcept {
  const uint64_t now = clock_.monotonicNanos();
  const auto min_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.min_interval).count());
  bool notify = false;
  uint64_t target = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The generation moves only under mu_ together with fetching_ (finishFetch), so this count
    // of the fetches still to finish is exact.
    const uint64_t gen = generation_.load(std::memory_order_acquire);
    if (refresh_asked_) {
      target = gen + 1 + (fetching_ ? 1 : 0);  // the asked fetch follows the running one
    } else if (fetching_) {
      target = gen + 1;  // the running fetch started before this ask: wait for it
    } else if (!attempted_ || now - last_attempt_ns_ >= min_ns) {
      refresh_asked_ = true;
      attempted_ = true;
      last_attempt_ns_ = now;
      notify = true;
      target = gen + 1;
    }
  }
  if (notify) cv_.notify_all();
  return target;
}

JwksStats JwksCache::stats() const noexcept {
  JwksStats s;
  s.fetches = fetches_.load();
  s.failures = failures_.load();
  if (const std::shared_ptr<const JwksKeySet> set = keys_.load()) s.keys = set->keys.size();
  const uint64_t last = last_success_ns_.load();
  if (last != 0) {
    const uint64_t now = clock_.monotonicNanos();
    s.age_seconds = now > last ? static_cast<double>(now - last) / 1e9 : 0.0;
  }
  return s;
}

void JwksCache::finishFetch(bool ok) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  fetching_ = false;
  last_failed_.store(!ok, std::memory_order_release);
  if (ok) last_success_ns_.store(std::max<uint64_t>(clock_.monotonicNanos(), 1));
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

Status JwksCache::refreshNow() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    // A fetch starting now serves every ask made before it (an ask made while it runs stays).
    refresh_asked_ = false;
    attempted_ = true;
    fetching_ = true;
    last_attempt_ns_ = clock_.monotonicNanos();
  }
  fetches_.fetch_add(1);
  auto fail = [this](Status s) {
    failures_.fetch_add(1);
    finishFetch(false);
    return s;
  };
  auto config = fetch_(options_.openid_configuration_url);
  if (!config.isOk()) return fail(config.status());
  auto uri = parseOpenIdJwksUri(*config);
  if (!uri.isOk()) return fail(uri.status());
  auto jwks = fetch_(*uri);
  if (!jwks.isOk()) return fail(jwks.status());
  size_t skipped = 0;
  auto set = parseJwks(*jwks, &skipped);
  if (!set.isOk()) return fail(set.status());
  const size_t count = (*set)->keys.size();
  keys_.store(std::move(set).value());
  finishFetch(true);
  COSMOSEAL_LOG(kInfo) << "Entra ID signing keys: " << count << " key(s) from " << *uri
                       << (skipped != 0 ? " (" + std::to_string(skipped) + " entries skipped)"
                                        : std::string());
  return Status::ok();
}

void JwksCache::run() {
  for (;;) {
    Status s = refreshNow();
    if (!s.isOk()) {
      COSMOSEAL_LOG(kWarn) << "cannot fetch the Entra ID signing keys from "
                           << options_.openid_configuration_url << ": " << s.toString()
                           << (hasKeys() ? " (the keys fetched before keep serving)"
                                         : " (apps with Entra ID tokens get 503 until it works)");
    }
    const auto wait = s.isOk() ? options_.refresh : options_.min_interval;
    std::unique_lock<std::mutex> lock(mu_);
    // An ask that arrived while this fetch ran (a kid the fetched set may not hold) is kept, so
    // the wait ends at once and it is served; clearing it here would drop it for a whole interval.
    cv_.wait_for(lock, wait, [this] { return stop_ || refresh_asked_; });
    if (stop_) return;
    // The ask is consumed and the fetch counts as running in the same step, so a request that
    // sees an unknown kid meanwhile waits for this fetch instead of being refused.
    refresh_asked_ = false;
    fetching_ = true;
  }
}

}  // namespace cosmoseal::proxy
