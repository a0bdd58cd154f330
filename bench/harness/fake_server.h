#pragma once

// FakeServer: the network side of cosmoseal-fake-upstream. N threads, each with its own uv loop
// and SO_REUSEPORT listener (proxy::openReusePortListener), connections built on the proxy's
// Transport (TCP + optional TLS) and Http1Parser (strict request parsing). Requests are answered
// from the shared FakeStore; optional master-key signature verification with the account key
// counts (and by default rejects with 401) every request cosmoseal did not sign correctly.
//
// Not Cosmos routes (never forwarded by cosmoseal, unsigned):
//   GET  /_fake/stats   counters as JSON (requests, statuses, signature checks, store sizes)
//   GET  /_fake/docs/{db}/{coll}/{id}   a stored document, exactly as the upstream holds it
//   POST /_fake/reset   zero the counters

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/harness/fake_store.h"
#include "common/secret_bytes.h"
#include "common/status.h"
#include "proxy/tls/context.h"

namespace cosmoseal::bench {

struct FakeServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 8081;  // 0 = any free port
  int threads = 1;
  std::shared_ptr<proxy::TlsContext> tls;            // null = plain HTTP
  std::unique_ptr<common::SecretBytes> verify_key;   // null = no signature verification
  bool reject_bad_signatures = true;                 // false: count only, serve anyway
  uint64_t delay_ms = 0;                             // artificial latency per response
  bool log_requests = false;
  size_t max_body_bytes = 16 * 1024 * 1024;
};

// Counters, updated with relaxed atomics from every thread.
struct FakeStats {
  static constexpr int kStatuses = 600;
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> bytes_in{0};
  std::atomic<uint64_t> bytes_out{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<int64_t> connections_open{0};
  std::array<std::atomic<uint64_t>, kStatuses> by_status{};
  std::atomic<uint64_t> sig_checked{0};
  std::atomic<uint64_t> sig_ok{0};
  std::atomic<uint64_t> sig_failed{0};
  // Failure reasons: missing, malformed, unsupported, date, skew, mismatch.
  std::array<std::atomic<uint64_t>, 6> sig_fail_reason{};
  std::array<std::atomic<uint64_t>, 16> by_route{};

  void reset();
  std::string toJson(const FakeStore& store, bool verifying) const;
};

inline constexpr const char* kSigFailReasons[] = {"missing",  "malformed", "unsupported",
                                                  "bad_date", "date_skew", "mismatch"};
// Route names (FakeReply::route) counted in FakeStats::by_route.
inline constexpr const char* kRouteNames[] = {
    "account", "database", "container", "read",  "create", "upsert", "replace", "delete",
    "query",   "readfeed", "pkranges",  "patch", "batch",  "document", "fake", "other"};
int routeIndex(const char* route);

class FakeThread;

class FakeServer {
 public:
  FakeServer(FakeServerOptions options, FakeStore* store, FakeStats* stats);
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // Opens the listeners and starts the threads. *bound_port gets the actual port.
  common::Status start(uint16_t* bound_port);
  // Any thread: close listeners and connections; join() then returns.
  void stop();
  void join();

  const FakeServerOptions& options() const noexcept { return options_; }
  FakeStore* store() noexcept { return store_; }
  FakeStats* stats() noexcept { return stats_; }

 private:
  FakeServerOptions options_;
  FakeStore* store_;
  FakeStats* stats_;
  std::vector<std::unique_ptr<FakeThread>> threads_;
};

}  // namespace cosmoseal::bench
