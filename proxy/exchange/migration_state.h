#pragma once

// The sidecar's view of data migrations (docs/MIGRATION.md "The mixed state"): for every
// container whose policy has `migration:`, whether its data may be mixed (plaintext and sealed
// values at protected paths), read from the migration's state document
// `state.<database>.<container>` in the policy's lease container.
//
//   * MigrationStates: process-wide table, one entry per container ("db/container"). Written by
//     the poller only, read by every worker without a lock (an immutable table swapped as a
//     whole). A container with `migration:` and no entry yet (not read since start-up or since
//     a reload added it) counts as mixed: fail closed.
//   * MigrationPoller: runs on ONE worker loop (worker 0). Every second, and as soon as a read
//     ends, it takes the container whose `poll` interval has passed longest ago (never read:
//     first) and reads its state document (GET .../docs/{id}, signed with the account key,
//     partition key ["{id}"]: the lease container is partitioned by /id), one read at a time,
//     with a MetadataFetch of its own (a read that hangs ends at upstream.response_timeout). 200
//     with a phase other than "verified", 404 (no migration has started), any other status, a
//     transport failure or a document that cannot be parsed: mixed, and a log line when the state
//     changes or the read fails.
//
// Ownership: the Worker owns its poller and SharedState the table; the poller borrows the table
// and the worker's loop, and must be stopped (stop()) before the loop's last run.
// Thread affinity: MigrationPoller on its loop thread; MigrationStates::lookup on any thread.

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "policy/policy.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/exchange/context.h"
#include "proxy/exchange/metadata_fetch.h"

namespace cosmoseal::proxy {

struct MigrationStatus {
  bool mixed = true;
  // For refusals and logs: "migration job 'j' (encrypt) is in phase running (...)", or why the
  // state is unknown.
  std::string description;
};

class MigrationStates {
 public:
  using Table = std::map<std::string, MigrationStatus, std::less<>>;

  MigrationStates() : table_(std::make_shared<const Table>()) {}

  // Any thread. The status of a container whose policy has `migration:`: mixed with "not read
  // yet" when the poller has not read it.
  MigrationStatus lookup(std::string_view database, std::string_view container) const;
  // The whole table (for /metrics).
  std::shared_ptr<const Table> table() const noexcept { return table_.load(); }
  // The poller: replaces one container's status.
  void publish(const std::string& key, MigrationStatus status);
  // The poller: drops containers no longer configured with `migration:`.
  void retain(const std::function<bool(std::string_view key)>& keep);

  static std::string key(std::string_view database, std::string_view container);

 private:
  std::mutex write_mu_;  // serializes writers (copy-on-write); readers never take it
  std::atomic<std::shared_ptr<const Table>> table_;
};

class MigrationPoller final : public MetadataFetch::Callbacks {
 public:
  // `context` gives a fresh ExchangeContext (the worker's current snapshot) for each read.
  MigrationPoller(uv_loop_t* loop, std::function<ExchangeContext()> context,
                  MigrationStates* states);
  ~MigrationPoller() override;
  MigrationPoller(const MigrationPoller&) = delete;
  MigrationPoller& operator=(const MigrationPoller&) = delete;

  // Starts the timer; the first reads happen at once.
  void start() noexcept;
  // Aborts a read in flight and closes the timer (the loop must run once more to close it).
  void stop() noexcept;

  // MetadataFetch::Callbacks
  void onMetadataFetched(int status, std::string body) noexcept override;
  void onMetadataFailed(const common::Status& status, UpstreamFailure kind, bool response_started,
                        bool was_reused) noexcept override;

 private:
  void onTick() noexcept;
  void finish(MigrationStatus status, bool failed) noexcept;

  uv_loop_t* loop_;
  std::function<ExchangeContext()> make_context_;
  MigrationStates* states_;
  uv_timer_t timer_{};
  bool started_ = false;
  bool stopped_ = false;
  std::map<std::string, uint64_t, std::less<>> next_due_ms_;  // by key: when to read next
  // The read in flight (one at a time).
  ExchangeContext ctx_;
  BufferCharge charge_;
  std::unique_ptr<MetadataFetch> fetch_;
  std::string key_;
  std::string database_;
  std::string container_;
  std::string state_id_;
  bool retried_ = false;  // a read on a reused connection failed once: retried on a fresh one
};

}  // namespace cosmoseal::proxy
