#pragma once

// Checkpoints of a migration job, in the lease container (the change feed processor's pattern;
// the document formats are fixed in docs/MIGRATION.md and read by the sidecar):
//
//   state  {"id":"state.<db>.<container>","kind":"cosmoseal.migration.state","database",
//           "container","job","operation","phase":"running|done|verified|failed","started_at",
//           "updated_at","report":{...}}
//   lease  {"id":"lease.<job>.<range id>","kind":"cosmoseal.migration.lease","job",
//           "range":{"id","min","max"},"owner","expires_at","continuation","finished",
//           "counts":{...}}
//
// A worker CLAIMS a lease by replacing it with itself as owner and a new expiry, conditional on
// the lease's _etag (If-Match): of two workers racing for one lease exactly one wins (the other
// gets 412). It RENEWS it (same conditional replace) with every checkpoint; a lease whose
// expiry passed (its worker crashed) may be claimed by anyone — that is how a killed run
// resumes from its last checkpoint and how N workers share one job.
//
// LeaseStore is the container (CosmosLeaseStore in the job; a map in the unit tests).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cosmoseal::proxy::migrate {

struct StoredDocument {
  std::string json;
  std::string etag;
};

enum class WriteResult : uint8_t { kOk, kConflict /* 409 on create */, kPreconditionFailed };

struct WriteOutcome {
  WriteResult result = WriteResult::kOk;
  std::string etag;  // the new _etag when kOk
};

class LeaseStore {
 public:
  virtual ~LeaseStore() = default;
  virtual common::StatusOr<std::optional<StoredDocument>> read(const std::string& id) = 0;
  virtual common::StatusOr<WriteOutcome> create(const std::string& id, const std::string& json) = 0;
  // Replace conditional on `if_match` (an empty one: unconditional upsert).
  virtual common::StatusOr<WriteOutcome> replace(const std::string& id, const std::string& json,
                                                 const std::string& if_match) = 0;
  // Every document whose id starts with `prefix`.
  virtual common::StatusOr<std::vector<StoredDocument>> list(const std::string& prefix) = 0;
};

// Counters one lease accumulates (and the job sums).
struct LeaseCounts {
  uint64_t scanned = 0;    // documents read
  uint64_t written = 0;    // documents rewritten
  uint64_t unchanged = 0;  // needed no write
  uint64_t conflicts = 0;  // 412s retried (the app wrote meanwhile)
  uint64_t deleted = 0;    // 404 on write/re-read: deleted meanwhile, skipped
  uint64_t failed = 0;     // could not be transformed (reported, left as they are)

  void add(const LeaseCounts& o) noexcept;
  std::string json() const;
};

struct Lease {
  std::string id;
  std::string job;
  std::string range_id;
  std::string min;
  std::string max;
  std::string owner;
  int64_t expires_at_ms = 0;  // Unix ms
  std::string continuation;
  bool finished = false;
  std::vector<std::string> split_into;  // child range ids after a split
  LeaseCounts counts;
  std::string etag;  // as read (not serialised)

  std::string json() const;
  static common::StatusOr<Lease> parse(const StoredDocument& doc);
};

std::string leaseId(std::string_view job, std::string_view range_id);
std::string stateId(std::string_view database, std::string_view container);

// ISO 8601 UTC with milliseconds ("2026-12-06T18:35:06.123Z") <-> Unix ms (0 if unparsable).
std::string isoTime(int64_t unix_ms);
int64_t parseIsoTime(std::string_view text) noexcept;

struct RangeSpec {
  std::string id;
  std::string min;
  std::string max;
};

class LeaseManager {
 public:
  // `ttl_ms`: how long a claim or renewal holds.
  LeaseManager(LeaseStore* store, std::string job, int64_t ttl_ms);

  // Creates the lease of every range that has none (a range already leased, finished or not, is
  // left alone: a resumed job keeps its checkpoints).
  common::Status ensure(const std::vector<RangeSpec>& ranges);

  // Claims one unfinished lease this `owner` may take (free, expired, or already its own),
  // preferring `preferred(lease)` ones. nullopt: nothing claimable now.
  common::StatusOr<std::optional<Lease>> claim(const std::string& owner, int64_t now_ms,
                                               const std::vector<std::string>& preferred_ids = {});

  // Writes the lease (checkpoint / renewal / finish) with If-Match on its etag; updates `lease`'s
  // etag and expiry. false: the lease was taken by another worker meanwhile (stop working on it).
  common::StatusOr<bool> checkpoint(Lease* lease, int64_t now_ms);

  // Every lease of the job.
  common::StatusOr<std::vector<Lease>> all();

  int64_t ttlMs() const noexcept { return ttl_ms_; }

 private:
  LeaseStore* store_;
  std::string job_;
  int64_t ttl_ms_;
};

}  // namespace cosmoseal::proxy::migrate
