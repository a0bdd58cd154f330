#pragma once

// Request metrics (Prometheus text format on the admin listener's /metrics).
//
// Each worker records into its own WorkerMetrics (a mutex taken once per request, uncontended
// except while /metrics is being scraped). The admin thread merges every worker's data into a
// MetricsSnapshot and renders it with the process gauges. Label values are bounded: client names
// come from the config, operations and detail codes are fixed sets, statuses are HTTP codes.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace cosmoseal::proxy {

// Latency histogram with fixed buckets (seconds): 0.5 ms .. 10 s.
struct Histogram {
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                     0.025,  0.05,  0.1,    0.25,  0.5,
                                                     1.0,    2.5,   5.0,    10.0};
  std::array<uint64_t, kBounds.size() + 1> buckets{};  // last = +Inf
  uint64_t count = 0;
  double sum = 0;  // seconds

  void observe(double seconds) noexcept;
  void merge(const Histogram& o) noexcept;
};

struct RequestSample {
  std::string_view client;     // "" when not authenticated
  std::string_view operation;  // policy::operationName(), "unclassified" before routing
  int status = 0;
  std::string_view detail;     // detail code of a local reply, "" otherwise
  uint64_t latency_us = 0;
  uint64_t upstream_us = 0;    // 0: nothing went upstream
  uint32_t encrypted = 0;
  uint32_t decrypted = 0;
  uint32_t lookalikes = 0;
  uint32_t plaintext_at_protected = 0;
};

struct KeyUsage {
  std::string name;
  uint32_t version = 0;
  uint32_t id = 0;
  uint64_t randomized_seals = 0;
  uint64_t deterministic_seals = 0;
  uint64_t opens = 0;
};

struct MetricsSnapshot {
  std::map<std::tuple<std::string, std::string, int>, uint64_t> requests;  // client, op, status
  std::map<std::string, uint64_t> refusals;        // detail code -> count (local replies)
  std::map<std::string, uint64_t> crypto_failures;  // crypto.* detail -> count
  std::map<std::pair<std::string, std::string>, uint64_t> throttled;  // client, reason
  std::map<std::string, Histogram> latency;          // operation -> total latency
  std::map<std::string, Histogram> upstream_latency;  // operation -> upstream latency
  uint64_t fields_encrypted = 0;
  uint64_t fields_decrypted = 0;
  uint64_t lookalikes = 0;
  uint64_t plaintext_at_protected = 0;
  std::map<uint32_t, KeyUsage> keys;  // by key id

  void merge(const MetricsSnapshot& o);
};

class WorkerMetrics {
 public:
  void record(const RequestSample& s);
  // Replaces this worker's key usage view (from its FieldCipher counters).
  void setKeyUsage(std::vector<KeyUsage> keys);
  MetricsSnapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  MetricsSnapshot data_;
};

}  // namespace cosmoseal::proxy
