#pragma once

// Worker: one thread, one uv_loop, one SO_REUSEPORT listener, one upstream pool. Share-nothing:
// the only things that cross threads are the immutable ConfigSnapshot snapshot (handed over through
// a mutex-protected slot + uv_async) and the relaxed-atomic counters in WorkerStats.

#include <uv.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "crypto/field_cipher.h"
#include "policy/json/transformer.h"
#include "proxy/admission/auth.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/admission/throttle.h"
#include "proxy/config/snapshot.h"
#include "proxy/exchange/context.h"
#include "proxy/exchange/migration_state.h"
#include "proxy/exchange/partition_key_cache.h"
#include "proxy/observability/audit.h"
#include "proxy/observability/metrics.h"
#include "proxy/observability/stats.h"
#include "proxy/server/listener.h"
#include "proxy/upstream/pool.h"
#include "proxy/upstream/region_table.h"

namespace cosmoseal::proxy {

class DownstreamConnection;

// Process-wide shared state (read-mostly).
struct SharedState {
  std::atomic<uint32_t> connections{0};  // open downstream connections, all workers
  BufferBudget buffers;                   // limits.max_buffered_bytes, all workers
  std::atomic<bool> draining{false};
  const common::Clock* clock = &common::systemClock();
  PartitionKeyCache partition_keys;
  // Which account region each listen.region_ports slot stands for (learned from discovery).
  RegionTable regions;
  // Which containers' data may be mixed (policies[].migration): written by worker 0's poller.
  MigrationStates migrations;
  Throttle throttle;
  // Null when audit is off. Set once at startup, before the workers start.
  std::unique_ptr<AuditLog> audit;
  // Key ids whose randomized-encryption budget is spent (keys.refuse_after_seals); swapped by the
  // control thread, read by workers.
  ExhaustedKeys exhausted_keys;
  // Control thread: config generation in force (for metrics and audit).
  std::atomic<uint64_t> generation{0};
};

class Worker {
 public:
  // `region_fds`: one listening socket per listen.region_ports entry, in that order (slot i).
  Worker(int index, int listen_fd, std::shared_ptr<const ConfigSnapshot> snapshot,
         SharedState* shared, std::vector<int> region_fds = {});
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread. The listener fds are owned by the worker from now on.
  common::Status start();
  // Control thread: publish a new snapshot (picked up on the loop thread).
  void publishSnapshot(std::shared_ptr<const ConfigSnapshot> snapshot);
  // Control thread: stop accepting, finish in-flight requests, close idle connections.
  void beginDrain();
  // Control thread: force-close everything (drain timeout expired).
  void forceStop();
  void join();
  bool finished() const noexcept { return finished_.load(); }

  WorkerStats& stats() noexcept { return stats_; }
  WorkerMetrics& metrics() noexcept { return metrics_; }
  int index() const noexcept { return index_; }

  // ---- Loop thread only ----
  uv_loop_t* loop() noexcept { return &loop_; }
  UpstreamPool& pool() noexcept { return *pool_; }
  const std::shared_ptr<ThreadState>& state() const noexcept { return state_; }
  // What a new exchange works with: the current snapshot, this worker's pool and counters and
  // the process-wide services. `region`: the region slot of the port the request arrived on
  // (listen.region_ports index), -1 for the main listener.
  ExchangeContext exchangeContext(int region = -1) noexcept;
  bool draining() const noexcept { return draining_; }
  SharedState& shared() noexcept { return *shared_; }
  // `c` closed; `admitted`: it had been admitted (not refused at accept), so a descriptor came
  // free and a paused listener resumes at once.
  void connectionClosed(DownstreamConnection* c, bool admitted) noexcept;
  // The connection just accepted is refused because it eats into the descriptor reserve: counts
  // it and pauses accepting (see Listener).
  void refuseForDescriptors() noexcept;

 private:
  void run();
  void onAsync();
  void refreshKeyUsage();  // also refreshes the pool figures (once a second)
  void refreshPoolStats() noexcept;
  static void addKeyUsage(const crypto::FieldCipher& cipher, std::map<uint32_t, KeyUsage>* usage);
  void maybeFinish();
  static void onConnection(void* worker, uv_stream_t* server) noexcept;
  // A region listener's owner: the worker and the slot its port stands for.
  struct RegionAccept {
    Worker* worker;
    int slot;
  };
  static void onRegionConnection(void* accept, uv_stream_t* server) noexcept;

  int index_;
  int listen_fd_;
  SharedState* shared_;
  WorkerStats stats_;
  WorkerMetrics metrics_;
  // Key usage of ciphers of earlier snapshots (reload replaces the per-thread cipher).
  std::map<uint32_t, KeyUsage> retired_key_usage_;
  uv_timer_t key_timer_;
  uv_loop_t loop_;
  // The application listener; pauses when descriptors run out (docs/OPERATIONS.md "Overload").
  std::unique_ptr<Listener> listener_;
  // One listener per listen.region_ports entry (slot order), sharing the accept counters.
  std::vector<int> region_fds_;
  std::vector<std::unique_ptr<RegionAccept>> region_owners_;
  std::vector<std::unique_ptr<Listener>> region_listeners_;
  uv_async_t async_;
  std::unique_ptr<UpstreamPool> pool_;
  // Worker 0 only: reads the migration state documents (proxy/exchange/migration_state.h).
  std::unique_ptr<MigrationPoller> migration_poller_;
  std::shared_ptr<ThreadState> state_;
  std::unordered_set<DownstreamConnection*> connections_;
  bool draining_ = false;
  bool async_closed_ = false;

  std::mutex mu_;  // guards the fields below (written by the control thread)
  std::shared_ptr<const ConfigSnapshot> pending_snapshot_;
  bool drain_requested_ = false;
  bool stop_requested_ = false;

  std::thread thread_;
  std::atomic<bool> finished_{false};
};

// Creates a listening TCP socket bound to address:port with SO_REUSEPORT (one per worker).
// The first call for a port also checks, with a probe socket without SO_REUSEPORT, that no
// other process is already listening there, so "address in use" is reported instead of silently
// sharing the port with a stale instance.
common::StatusOr<int> openReusePortListener(const std::string& address, uint16_t port, bool probe);

}  // namespace cosmoseal::proxy
