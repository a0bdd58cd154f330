#pragma once

// What an exchange works with besides its own connection, handed in by the worker that accepted
// the request instead of the exchange reaching through the worker:
//   * ThreadState: the configuration snapshot the request runs with, plus what must not be shared
//     across threads for it (HMAC contexts, the field cipher and transformer);
//   * the worker's upstream pool and counters;
//   * process-wide services (buffer budget, audit log, clock, throttle, partition-key cache).
//
// Ownership: ExchangeContext owns only its ThreadState reference (a request keeps the snapshot it
// started with, so a reload never changes a request midway). Everything else is borrowed from the
// worker or the process and outlives every exchange of that worker.
//
// Thread affinity: the worker loop the context was built on.

#include <atomic>
#include <memory>
#include <vector>

#include "common/clock.h"
#include "crypto/field_cipher.h"
#include "policy/json/transformer.h"
#include "proxy/admission/auth.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/admission/throttle.h"
#include "proxy/config/snapshot.h"
#include "proxy/exchange/partition_key_cache.h"
#include "proxy/observability/audit.h"
#include "proxy/observability/metrics.h"
#include "proxy/observability/stats.h"
#include "proxy/upstream/pool.h"
#include "proxy/upstream/region_table.h"

namespace cosmoseal::proxy {

class MigrationStates;  // migration_state.h

// Per (worker thread, ConfigSnapshot) state: things that must not be shared across threads (HMAC
// contexts, cipher contexts). Requests hold a shared_ptr to the one they started with.
struct ThreadState {
  explicit ThreadState(std::shared_ptr<const ConfigSnapshot> rt);
  ~ThreadState();
  std::shared_ptr<const ConfigSnapshot> snapshot;
  Authenticator auth;
  // Field encryption (null when no keyring is configured): per thread, bound to this snapshot's
  // keyring. The transformer uses the cipher, so it is declared after it.
  std::unique_ptr<crypto::FieldCipher> cipher;
  std::unique_ptr<policy::JsonTransformer> transformer;
};

// Key ids whose randomized-encryption budget is spent (keys.refuse_after_seals).
using ExhaustedKeys = std::atomic<std::shared_ptr<const std::vector<uint32_t>>>;

struct ExchangeContext {
  std::shared_ptr<ThreadState> state;  // snapshot, auth, cipher, transformer: never null
  UpstreamPool* pool = nullptr;        // the worker's pool
  WorkerStats* stats = nullptr;        // the worker's counters
  WorkerMetrics* metrics = nullptr;    // the worker's request metrics
  BufferBudget* buffers = nullptr;     // limits.max_buffered_bytes, all workers
  AuditLog* audit = nullptr;           // null when audit is off
  const common::Clock* clock = nullptr;
  Throttle* throttle = nullptr;                   // per-client in-flight and rate limits
  PartitionKeyCache* partition_keys = nullptr;    // learned partition-key paths, all workers
  const ExhaustedKeys* exhausted_keys = nullptr;  // swapped by the control thread
  RegionTable* regions = nullptr;                 // listen.region_ports slots, all workers
  // Which containers' data may be mixed (policies[].migration), all workers; null: every
  // container with `migration:` counts as mixed.
  const MigrationStates* migrations = nullptr;
  int region = -1;  // slot of the region port the request arrived on; -1: the main listener
};

// Sets *charge to `total` bytes of limits.max_buffered_bytes (of the context's snapshot), or
// returns 503 overload.buffer_budget and leaves it unchanged.
common::Status chargeBuffer(const ExchangeContext& context, BufferCharge* charge,
                            uint64_t total) noexcept;

}  // namespace cosmoseal::proxy
