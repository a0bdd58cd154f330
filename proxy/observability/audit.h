#pragma once

// Tamper-evident audit log (`audit: { path: stdout | stderr | FILE, required: bool }`).
//
// One JSON line per request, written by a dedicated thread from a bounded queue:
//   {"seq":42,"time":"2026-11-22T21:30:00.123Z","client":"orders-api","verb":"PUT",
//    "resource":"document","database":"shop","container":"customers","id":"c1",
//    "operation":"replace",
//    "status":201,"upstream_status":201,"latency_us":1830,"request_charge":"6.29",
//    "encrypted":3,"decrypted":3,"detail":"","keys":["9f3a01c2"],
//    "prev":"<sha-256 hex of the previous line>","hash":"<sha-256 hex>"}
// ("id" is the document id from the path: empty for creates, whose id is in the body.)
// hash = SHA-256( previous hash (32 bytes) || this line up to and including the "prev" member ).
// Every start writes an {"event":"audit_started"} record first, synchronously: with
// required: true an unwritable log stops cosmoseal from starting.
// The first line of a new log has prev = 64 zeros; a restart continues the chain from the last
// line of the file; after rotation (SIGUSR1 reopens the path) the new file's first line links
// to the old file's last hash. Deleting, inserting, reordering or editing any line breaks the
// chain: `cosmoseal audit verify FILE [FILE...]` finds it. (Cutting lines off the *end* of the
// newest file can only be noticed against an external copy of the latest seq/hash.)
// Never logged: values of any field, keys, signatures, request or response bodies.
//
// required: true  admission reserves a queue slot for every request; when the queue is full or
//                 the last write failed, new requests get 503 `audit.unavailable` (no unaudited
//                 access). required: false: records are dropped (and counted) instead.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/status.h"
#include "proxy/config/config.h"

namespace cosmoseal::proxy {

struct AuditRecord {
  int64_t time_ms = 0;  // wall clock, ms since the epoch
  std::string client;
  // The Entra ID identity the client authenticated with ("oid:<id>" / "appid:<id>"); empty for
  // a client key, and then not written.
  std::string identity;
  std::string verb;
  std::string resource;  // resource kind name ("document", "document_feed", ...)
  std::string database;
  std::string container;
  std::string id;
  std::string operation;  // operation name ("create", "query", ...)
  int status = 0;
  int upstream_status = 0;  // 0 = nothing was sent upstream
  uint64_t latency_us = 0;
  std::string request_charge;
  uint32_t encrypted = 0;
  uint32_t decrypted = 0;
  std::string detail;  // detail code of a refusal or error
  std::vector<uint32_t> key_ids;
};

// The record's JSON members (between "seq"/"time" and "prev"), escaped.
std::string formatAuditMembers(const AuditRecord& r);

class AuditLog;

// A reserved place in the audit queue (required mode). submit() consumes it; destroying an
// unsubmitted slot releases the reservation.
class AuditSlot {
 public:
  AuditSlot() = default;
  ~AuditSlot();
  AuditSlot(AuditSlot&& o) noexcept : log_(o.log_) { o.log_ = nullptr; }
  AuditSlot& operator=(AuditSlot&& o) noexcept;
  AuditSlot(const AuditSlot&) = delete;
  AuditSlot& operator=(const AuditSlot&) = delete;
  bool valid() const noexcept { return log_ != nullptr; }
  void submit(const AuditRecord& record);

 private:
  friend class AuditLog;
  explicit AuditSlot(AuditLog* log) : log_(log) {}
  AuditLog* log_ = nullptr;
};

struct AuditStats {
  uint64_t written = 0;
  uint64_t dropped = 0;        // required: false and the queue was full
  uint64_t write_failures = 0;
  uint64_t refused = 0;        // requests refused with audit.unavailable
  uint64_t reopens = 0;
  uint64_t seq = 0;            // last sequence number written
};

class AuditLog {
 public:
  // Opens (creating 0600, appending) the file, continues the chain from its last line, starts
  // the writer thread.
  static common::StatusOr<std::unique_ptr<AuditLog>> open(const AuditConfig& config);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Admission. required mode: a slot, or 503 audit.unavailable when the queue is full or the
  // log is failing. Otherwise always a slot (records may be dropped later).
  common::StatusOr<AuditSlot> admit();
  // A control-plane event line (no reservation needed; never dropped for a full queue):
  // {"seq":..,"time":..,"event":"<event>",<members>,"prev":..,"hash":..}. `members` are JSON
  // members, already escaped, without a leading comma ("" for none). Thread-safe. Used for key
  // unwraps (proxy/config/keyring_file.h UnwrapObserver).
  void recordEvent(std::string_view event, std::string_view members);
  // SIGUSR1: close and reopen the path (log rotation). Thread-safe.
  void requestReopen();
  // Writes everything queued, stops the thread.
  void close();
  AuditStats stats() const;
  bool required() const noexcept { return config_.required; }

 private:
  friend class AuditSlot;
  explicit AuditLog(const AuditConfig& config);
  common::Status openFile();
  void release();
  void push(std::string members);
  // The next chained line for `members` (advances seq_ and prev_).
  std::string chainLine(const std::string& members);
  void run();
  bool writeAll(const std::string& data);

  AuditConfig config_;
  int fd_ = -1;
  bool own_fd_ = false;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> queue_;
  size_t reserved_ = 0;  // admitted, not yet submitted
  bool stop_ = false;
  bool reopen_ = false;
  std::atomic<bool> failing_{false};
  uint64_t seq_ = 0;
  uint8_t prev_[32] = {};
  AuditStats stats_;
  std::thread thread_;
};

// Checks seq continuity and the hash chain across the files (texts in order, `names` for
// messages): OK, or a Status naming FILE:LINE and what is wrong (detail audit.chain_broken /
// audit.bad_line). The `cosmoseal audit verify` command (cli/audit_verify.h) reads the files.
common::Status verifyAuditText(const std::vector<std::string>& file_texts,
                               const std::vector<std::string>& names, uint64_t* records);

}  // namespace cosmoseal::proxy
