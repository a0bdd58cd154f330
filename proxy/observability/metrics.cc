#include "proxy/observability/metrics.h"

#include "proxy/observability/details.h"

namespace cosmoseal::proxy {

void Histogram::observe(double seconds) noexcept {
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++buckets[i];
  ++count;
  sum += seconds;
}

void Histogram::merge(const Histogram& o) noexcept {
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] += o.buckets[i];
  count += o.count;
  sum += o.sum;
}

void MetricsSnapshot::merge(const MetricsSnapshot& o) {
  for (const auto& [k, v] : o.requests) requests[k] += v;
  for (const auto& [k, v] : o.refusals) refusals[k] += v;
  for (const auto& [k, v] : o.crypto_failures) crypto_failures[k] += v;
  for (const auto& [k, v] : o.throttled) throttled[k] += v;
  for (const auto& [k, v] : o.latency) latency[k].merge(v);
  for (const auto& [k, v] : o.upstream_latency) upstream_latency[k].merge(v);
  fields_encrypted += o.fields_encrypted;
  fields_decrypted += o.fields_decrypted;
  lookalikes += o.lookalikes;
  plaintext_at_protected += o.plaintext_at_protected;
  for (const auto& [id, k] : o.keys) {
    KeyUsage& mine = keys[id];
    if (mine.name.empty()) {
      mine.name = k.name;
      mine.version = k.version;
      mine.id = k.id;
    }
    mine.randomized_seals += k.randomized_seals;
    mine.deterministic_seals += k.deterministic_seals;
    mine.opens += k.opens;
  }
}

void WorkerMetrics::record(const RequestSample& s) {
  const std::string op(s.operation.empty() ? "unclassified" : s.operation);
  std::lock_guard<std::mutex> lock(mu_);
  ++data_.requests[{std::string(s.client), op, s.status}];
  if (!s.detail.empty()) {
    const std::string detail(s.detail);
    ++data_.refusals[detail];
    // crypto.key_budget is a refusal to encrypt, not a failure to open an envelope.
    if (detail.rfind("crypto.", 0) == 0 && detail != observability_detail::kKeyBudget) {
      ++data_.crypto_failures[detail];
    }
    if (detail.rfind("throttle.", 0) == 0) {
      ++data_.throttled[{std::string(s.client), detail.substr(9)}];
    }
  }
  data_.latency[op].observe(static_cast<double>(s.latency_us) * 1e-6);
  if (s.upstream_us != 0) {
    data_.upstream_latency[op].observe(static_cast<double>(s.upstream_us) * 1e-6);
  }
  data_.fields_encrypted += s.encrypted;
  data_.fields_decrypted += s.decrypted;
  data_.lookalikes += s.lookalikes;
  data_.plaintext_at_protected += s.plaintext_at_protected;
}

void WorkerMetrics::setKeyUsage(std::vector<KeyUsage> keys) {
  std::lock_guard<std::mutex> lock(mu_);
  data_.keys.clear();
  for (KeyUsage& k : keys) {
    const uint32_t id = k.id;
    data_.keys[id] = std::move(k);
  }
}

MetricsSnapshot WorkerMetrics::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return data_;
}

}  // namespace cosmoseal::proxy
