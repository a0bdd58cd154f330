#pragma once

// The load generator proper: workload definition, the closed- and open-loop drivers, setup
// (seeding) and the idle-connection holder.
//
// Closed loop (rate == 0): every connection sends its next request as soon as the previous
// response completed; latency = completion - send.
//
// Open loop (rate > 0): requests follow a fixed schedule, request k intended at
// start + k / rate (spread over threads and connections). A request is sent at its intended
// time when a connection is free, later otherwise, and its latency is measured from the
// *intended* time, so a stalled server is charged for every request it delayed (no coordinated
// omission; wrk2's method). The pacer is a timerfd with 1 µs slack, not libuv's millisecond
// timers. "service" latency (from the actual send) is reported too.
//
// Measurement window: [start + warmup, start + warmup + duration). Only responses completing
// inside the window are counted, and the CPU of the --measure processes is sampled at its
// edges, so requests and CPU time cover the same interval.

#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/harness/conn.h"
#include "bench/harness/cosmos_request.h"
#include "bench/harness/docgen.h"
#include "bench/harness/histogram.h"
#include "bench/harness/procstat.h"
#include "common/secret_bytes.h"

namespace cosmoseal::bench {

inline constexpr int kOpCount = static_cast<int>(Op::kCount);

struct MeasuredProcess {
  std::string name;
  pid_t pid = 0;
};

struct LoadOptions {
  Endpoint endpoint;
  RequestTarget target;
  DocSpec doc;
  const common::SecretBytes* key = nullptr;
  uint64_t docs = 1000;                     // seeded ids d0000000000 .. d(docs-1)
  std::array<uint32_t, kOpCount> weights{100, 0, 0, 0, 0, 0};
  int connections = 16;
  int threads = 1;
  uint64_t duration_ns = 10'000'000'000ULL;
  uint64_t max_requests = 0;                // 0 = no limit
  uint64_t warmup_ns = 0;
  double rate = 0;                          // total requests/s; 0 = closed loop
  uint64_t timeout_ms = 5000;
  bool progress = true;
  std::vector<MeasuredProcess> measure;
  std::string run_id;                       // makes create ids unique across runs
  const std::atomic<bool>* interrupted = nullptr;  // set by a signal handler: end early
};

struct OpResult {
  uint64_t requests = 0;  // completed responses + failed requests
  uint64_t ok = 0;
  uint64_t errors = 0;
  LatencyHistogram latency;
};

struct ProcessUsage {
  std::string name;
  pid_t pid = 0;
  uint64_t cpu_ns = 0;
  uint64_t rss_kb_start = 0;
  uint64_t rss_kb_end = 0;
  int threads = 0;
  bool alive = true;
};

struct LoadResult {
  bool open_loop = false;
  double target_rate = 0;
  double elapsed_s = 0;         // the measurement window
  uint64_t requests = 0;        // completed + failed, in the window
  uint64_t ok = 0;
  uint64_t errors = 0;
  uint64_t unsent = 0;          // open loop: scheduled in the window but never sent
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t reconnects = 0;
  int connections_established = 0;
  std::array<OpResult, kOpCount> ops;
  LatencyHistogram latency;     // from intended send time (== service in closed loop)
  LatencyHistogram service;     // from actual send time
  std::map<int, uint64_t> errors_by_status;
  std::array<uint64_t, static_cast<int>(ErrorKind::kCount)> errors_by_kind{};
  std::vector<std::string> error_samples;  // first few error messages
  std::vector<ProcessUsage> processes;
  uint64_t self_cpu_ns = 0;
  uint64_t box_busy_ns = 0;
  uint64_t box_total_ns = 0;
  double foreign_cpu_pct = 0;      // average over the window, % of one CPU
  double max_foreign_cpu_pct = 0;  // worst 1-second interval
};

// Runs the load. Returns false (with *error) if nothing could run (no connection at all).
bool runLoad(const LoadOptions& options, LoadResult* result, std::string* error);

// ---- setup (seeding) ----

struct SetupOptions {
  Endpoint endpoint;
  RequestTarget target;
  DocSpec doc;
  const common::SecretBytes* key = nullptr;
  uint64_t docs = 1000;
  int connections = 4;
  uint64_t timeout_ms = 10000;
  bool create_database = true;
  bool create_container = true;
};

// Creates the database and the container (201, or 409 = already there) and upserts `docs`
// documents. Prints what it did to stderr. Returns false with *error on any failure.
bool runSetup(const SetupOptions& options, std::string* error);

// ---- idle connections (memory per connection) ----

struct IdleOptions {
  Endpoint endpoint;
  RequestTarget target;
  const common::SecretBytes* key = nullptr;
  int connections = 1000;
  uint64_t hold_ns = 5'000'000'000ULL;
  bool send_request = true;   // one point read per connection first (a real keep-alive conn)
  uint64_t docs = 1000;
  DocSpec doc;
  std::vector<MeasuredProcess> measure;
};

struct IdleResult {
  int requested = 0;
  int established = 0;
  int failed = 0;
  int request_errors = 0;
  double open_seconds = 0;       // time to open (and use) all connections
  std::vector<ProcessUsage> processes;  // rss_kb_start = before, rss_kb_end = max while held
};

bool runIdle(const IdleOptions& options, IdleResult* result, std::string* error);

// Document ids used by the harness: "d0000000042".
std::string docId(uint64_t index);

// Raises RLIMIT_NOFILE's soft limit to the hard limit (many connections).
void raiseFileLimit();

}  // namespace cosmoseal::bench
