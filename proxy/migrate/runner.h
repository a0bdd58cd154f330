#pragma once

// JobRunner: one `cosmoseal migrate` run (docs/MIGRATION.md).
//
//   1. Reads the container's definition (partition-key paths) and refuses an in-place rewrite
//      when a partition-key path is protected (migrate.protected_partition_key: the sealed key
//      would be another logical partition; the copy path is documented).
//   2. Reads its partition-key ranges (GET .../pkranges): the unit of work.
//   3. encrypt/rotate/decrypt (not --dry-run): makes sure the lease container exists, writes the
//      state document `running`, creates a lease per range that has none, and lets `threads`
//      threads claim leases (LeaseManager) until none is left this worker may take. Each range
//      is read with its read feed (x-ms-documentdb-partitionkeyrangeid + x-ms-continuation,
//      page by page); after every page the lease is checkpointed (continuation + counts), which
//      also renews it. A 410 (the range split) finishes the lease with the children's ids and
//      creates their leases (read from their start: rewriting is idempotent). When every lease
//      of the job is finished, the state becomes `done`.
//      verify and --dry-run take no lease and write nothing but (verify) the state's report:
//      the threads share the ranges in memory.
//   4. Every document goes through DocumentTransform; one that needs a write is replaced with
//      If-Match on its _etag (and the partition-key header computed from it). 412: the app wrote
//      it meanwhile — it is read again, transformed again and retried (counted); 404: deleted
//      meanwhile, skipped (counted). The app's write always wins; nothing is lost.
//
// copy (`cosmoseal migrate copy`, the way for a container whose partition key is protected):
// the same ranges, leases, checkpoints, budget and progress, reading the SOURCE container; every
// document is opened with the source's policy and sealed with the target's (setTarget) — partition
// key included, deterministically, so the sidecar routes it — and upserted into the target
// container (POST with x-ms-documentdb-is-upsert: a page read again after a kill, or a document
// the app rewrote, is simply written again: idempotent). The target must exist
// (migrate.target_missing) with the source's partition-key paths (migrate.target_partition_key).
// `since` > 0 copies only documents whose _ts >= since (the catch-up pass); the summary's
// `next_since` is the job's start on the account's clock (the _ts of its first `copy.<job>`
// document in the lease container) minus kSinceMarginSeconds: the `since` of the next catch-up.
// `copy.<job>` is not the state document the sidecar reads: the source's data is not changed.
// verify of a copy (`copy_verify`): queue mode over the SOURCE's ranges; every source document is
// point-read in the target (partition key sealed as the copy sealed it), both are opened and
// compared byte for byte with system properties stripped; a target document with plaintext at a
// protected path or an envelope that does not open is a mismatch too.
//
// Threads: each has its own HttpSender, CosmosClient and DocumentTransform; they share the RU
// budget, the counters and the range queue. Nothing here is reachable from a libuv callback.

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/keyring.h"
#include "policy/policy.h"
#include "proxy/migrate/cosmos_client.h"
#include "proxy/migrate/lease.h"
#include "proxy/migrate/transform.h"

namespace cosmoseal::proxy::migrate {

struct JobOptions {
  Operation op = Operation::kVerify;
  std::string database;
  std::string container;
  std::string job;                                   // default: <op>.<database>.<container>
  std::string lease_container = "cosmoseal-leases";  // same database
  int worker_index = 0;
  int workers = 1;
  int threads = 4;
  double max_ru_per_second = 0;  // 0: no limit
  bool dry_run = false;
  int page_size = 100;
  int64_t lease_ttl_ms = 30000;
  int max_conflict_retries = 20;
  std::string owner;  // default "worker-<index>"
  // copy and copy_verify: the target container (to_database defaults to database).
  std::string to_database;
  std::string to_container;
  int64_t since = 0;         // copy: only documents with _ts >= since (seconds); 0: all
  bool copy_verify = false;  // op kVerify: compare the source (database/container) and the target
};

// Seconds taken off a copy job's start for `next_since`: _ts counts whole seconds and partitions
// stamp it independently; copying a document twice is harmless (an upsert).
inline constexpr int64_t kSinceMarginSeconds = 1;

// Live counters (relaxed atomics) and what the progress display reads.
struct JobCounters {
  std::atomic<uint64_t> scanned{0};
  std::atomic<uint64_t> written{0};
  std::atomic<uint64_t> unchanged{0};
  std::atomic<uint64_t> would_write{0};  // --dry-run: documents a run would rewrite
  std::atomic<uint64_t> conflicts{0};
  std::atomic<uint64_t> deleted{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<uint64_t> splits{0};
  std::atomic<uint64_t> ranges_done{0};
  std::atomic<uint64_t> ranges_total{0};
  std::atomic<uint64_t> documents_estimate{0};  // x-ms-resource-usage documentsCount, 0: unknown
  // copy_verify
  std::atomic<uint64_t> matched{0};
  std::atomic<uint64_t> missing{0};           // source ids absent from the target
  std::atomic<uint64_t> different{0};         // present, but the opened documents differ
  std::atomic<uint64_t> target_plaintext{0};  // target documents with plaintext at a protected path
  std::atomic<uint64_t> target_unopened{0};   // target documents with an envelope that did not open
  ClientCounters client;
};

// What verify (and every run) found in the stored form of the documents it read.
struct ScanReport {
  uint64_t plaintext_at_protected = 0;  // values
  uint64_t documents_with_plaintext = 0;
  uint64_t envelopes = 0;
  uint64_t stale_envelopes = 0;       // rotate would reseal them
  uint64_t open_failures = 0;         // documents with an envelope that did not open
  uint64_t would_change_encrypt = 0;  // documents
  uint64_t would_change_rotate = 0;   // documents
  std::map<uint32_t, uint64_t> envelopes_by_key_id;
  void add(const ScanReport& o);
};

struct JobResult {
  std::string phase;  // running (this worker is done, others still work), done, verified,
                      // not_verified (verify found something), dry_run
  double seconds = 0;
  ScanReport scan;
  // The summary JSON (counters, scan report with key names and versions, phase).
  std::string json;
};

using HttpSenderFactory = std::function<std::unique_ptr<HttpSender>()>;

class JobRunner {
 public:
  // `policy` may be null only for decrypt and verify. Nothing is owned but what is passed by
  // value; keyring and policy must outlive the runner.
  JobRunner(JobOptions options, HttpSenderFactory http, const common::SecretBytes& account_key,
            std::string origin, std::shared_ptr<const crypto::Keyring> keyring,
            const policy::ContainerPolicy* policy);
  ~JobRunner();

  // An Entra ID upstream: every call carries this cache's token (CosmosClient::useTokens). Not
  // owned; set before run().
  void useTokens(const identity::TokenCache* tokens) noexcept { tokens_ = tokens; }
  // copy and copy_verify: the target container's policy (required). Not owned; set before run().
  void setTarget(const policy::ContainerPolicy* target) noexcept { target_ = target; }

  common::StatusOr<JobResult> run();
  // Called about every `interval` from a thread of its own while run() works, and once at the end.
  using ProgressFn = std::function<void(const JobCounters&, double seconds, bool final)>;
  void onProgress(ProgressFn fn, std::chrono::milliseconds interval) {
    progress_ = std::move(fn);
    progress_interval_ = interval;
  }
  const JobCounters& counters() const noexcept { return counters_; }
  const JobOptions& options() const noexcept { return options_; }

 private:
  struct Thread;
  struct Shared;
  common::Status prepare(CosmosClient& client);
  void threadMain(int index);
  common::Status workLeases(Thread& t);
  common::Status workQueue(Thread& t);
  // Reads one range from `continuation`; calls `on_page(next_continuation)` after every page
  // (false stops). Returns the child ranges on a split (empty otherwise).
  common::StatusOr<std::vector<RangeSpec>> readRange(
      Thread& t, const RangeSpec& range, std::string continuation,
      const std::function<bool(const std::string&, const LeaseCounts&)>& on_page);
  // Transforms one stored document for `op` and counts it (scanned, failed, what it held);
  // false when it could not be opened (counted as failed).
  bool transformCounted(Thread& t, Operation op, const std::string& stored, DocumentOutcome* o,
                        LeaseCounts* counts);
  void processDocument(Thread& t, const std::string& stored, LeaseCounts* counts);
  void copyDocument(Thread& t, const std::string& stored, LeaseCounts* counts);
  void verifyCopiedDocument(Thread& t, const std::string& stored, LeaseCounts* counts);
  void noteMismatch(const std::string& id, std::string_view reason);
  common::Status prepareTarget(CosmosClient& client);
  common::Status writeCopyState(CosmosClient& client, std::string_view phase,
                                const std::string& report_json);
  bool copying() const noexcept { return options_.op == Operation::kCopy || options_.copy_verify; }
  common::StatusOr<std::vector<RangeSpec>> readRanges(CosmosClient& client);
  common::Status writeState(CosmosClient& client, std::string_view phase,
                            const std::string& report_json);
  std::string summaryJson(std::string_view phase, double seconds, const ScanReport& scan) const;

  JobOptions options_;
  HttpSenderFactory http_;
  const common::SecretBytes& account_key_;
  const identity::TokenCache* tokens_ = nullptr;
  std::string origin_;
  std::shared_ptr<const crypto::Keyring> keyring_;
  const policy::ContainerPolicy* policy_;
  const policy::ContainerPolicy* target_ = nullptr;
  RuBudget budget_;
  JobCounters counters_;
  std::unique_ptr<Shared> shared_;
  ProgressFn progress_;
  std::chrono::milliseconds progress_interval_{1000};
};

// "name vN" for a key id of the keyring ("id:<n>" when unknown).
std::string keyLabel(const crypto::Keyring* keyring, uint32_t id);

}  // namespace cosmoseal::proxy::migrate
