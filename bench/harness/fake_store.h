#pragma once

// FakeStore: the in-memory "Cosmos account" behind cosmoseal-fake-upstream. Pure request ->
// reply logic (no sockets), shared by all server threads (a reader/writer lock; documents and
// rendered pages are immutable shared_ptrs, so readers copy a pointer and drop the lock).
//
// What it implements (ref/cosmos-protocol.md §2, §3), shapes as the gateway returns them:
//   GET  /                                    account document; writable/readableLocations point
//                                             at this server (the advertise URL or Host header)
//   GET|POST /dbs, GET|DELETE /dbs/{db}       databases
//   GET|POST /dbs/{db}/colls, GET|PUT|DELETE /dbs/{db}/colls/{c}   containers (partitionKey kept)
//   POST .../docs                             create (201, 409 if the id exists); with
//                                             x-ms-documentdb-is-upsert: upsert (201 new / 200)
//   POST .../docs + query header/content-type a query page (the SQL is NOT evaluated: a page of
//                                             stored documents in insertion order)
//   GET  .../docs                             read feed page
//   GET|PUT|DELETE .../docs/{id}              point read / replace / delete
//   GET  .../pkranges                         one range "" .. "FF" (304 on a matching If-None-Match)
// Pages hold min(x-ms-max-item-count, default page size) documents and return
// x-ms-continuation (a decimal offset) while more remain. Documents are keyed by id only (the
// partition-key header is not checked). Stored bodies are the request's top-level members (raw
// bytes, numbers and escapes untouched, client-sent system properties dropped) followed by
// _rid, _self, _etag, _attachments, _ts. Each container keeps at most `max_docs` documents;
// beyond that, creates and upserts are answered (and echoed) but not stored.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/headers.h"
#include "crypto/cosmos_auth.h"

namespace cosmoseal::bench {

struct FakeStoreOptions {
  bool auto_create = false;          // unknown database/container on a document route: create it
  size_t max_docs = 100000;          // per container
  int default_page_size = 100;       // when the request has no x-ms-max-item-count (or -1)
  std::string advertise_url;         // "" = scheme://<Host header>/
  bool tls = false;                  // for the advertised scheme
  std::string account_id = "cosmoseal-fake";
};

struct FakeRequest {
  std::string_view method;
  const crypto::CosmosResource* resource = nullptr;
  const common::HeaderMap* headers = nullptr;
  // The body, with at least 64 readable bytes after body.size() (simdjson padding).
  std::string_view body;
  size_t body_capacity = 0;
};

struct FakeReply {
  int status = 200;
  std::shared_ptr<const std::string> body;  // null = no body
  std::string etag;                         // etag header (without quotes), "" = none
  int item_count = -1;                      // x-ms-item-count, -1 = none
  std::string continuation;                 // x-ms-continuation, "" = none
  uint64_t lsn = 0;
  const char* route = "other";              // for stats and logs
};

class FakeStore {
 public:
  explicit FakeStore(FakeStoreOptions options);
  ~FakeStore();
  FakeStore(const FakeStore&) = delete;
  FakeStore& operator=(const FakeStore&) = delete;

  // Thread-safe.
  FakeReply handle(const FakeRequest& req);

  // The stored body of a document (nullptr if absent): GET /_fake/docs/{db}/{coll}/{id}, so a
  // user (or bench/compare) can see exactly what the upstream received, e.g. envelopes.
  std::shared_ptr<const std::string> rawDocument(const std::string& db, const std::string& coll,
                                                 const std::string& id) const;

  // Totals for /_fake/stats.
  size_t databaseCount() const;
  size_t documentCount() const;

  // Error body {"code":"...","message":"..."}.
  static std::shared_ptr<const std::string> errorBody(int status, std::string_view message);

 private:
  struct Doc;
  struct Container;
  struct Database;

  FakeReply account(const FakeRequest& req);
  FakeReply databases(const FakeRequest& req);
  FakeReply containers(const FakeRequest& req, const std::string& db);
  FakeReply documents(const FakeRequest& req, const std::string& db, const std::string& coll);
  // A query or read-feed page of the container (created first with auto_create, then the
  // request is handled again).
  FakeReply pageOfContainer(const FakeRequest& req, const std::string& db,
                            const std::string& coll, const char* route);
  FakeReply pkranges(const FakeRequest& req, const std::string& db, const std::string& coll);
  FakeReply page(const FakeRequest& req, Container* c, const char* route);

  Database* findDb(const std::string& id) const;
  Container* findColl(const std::string& db, const std::string& coll, bool create);

  std::string nextRid(size_t bytes);
  std::string etag();
  int64_t now() const;

  FakeStoreOptions options_;
  mutable std::shared_mutex mu_;
  std::map<std::string, std::unique_ptr<Database>> dbs_;
  std::atomic<uint64_t> lsn_{1};
  std::atomic<uint64_t> rid_seq_{1};
  std::atomic<size_t> docs_total_{0};
};

}  // namespace cosmoseal::bench
