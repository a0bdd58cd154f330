#pragma once

// MetadataFetch: reads a database or collection resource itself (GET, signed with the account
// key) when the sidecar must know something before a request may go anywhere:
//   * a protected container's partition-key paths (GET /dbs/{db}/colls/{coll}) when neither the
//     policy nor the cache knows them: its partition-key header may hold a protected value;
//   * the names behind a RID-addressed route (GET /dbs/{dbRid}/colls/{collRid}, GET
//     /dbs/{dbRid}, signed over the RID as the service expects) when the cache does not know
//     them: rules and policies are written with names;
//   * a container's partition-key ranges (GET /dbs/{db}/colls/{coll}/pkranges, resource type
//     "pkranges", If-None-Match with the etag of the map it refreshes) for the routing map;
//   * one part of a bulk request regrouped per real range (raw(): a request the exchange built
//     and signed itself, sent as it is).
//
// It is an upstream user of its own, with its own connection from the pool. Its owner (the
// Exchange) waits in ExchangePhase::kResolvingPartitionKey and resumes from the callbacks; the
// retry policy stays with the owner, which calls start() again to retry.
//
// Ownership: owned by the Exchange, which outlives it and keeps it until the exchange is deleted
// (never deleted from inside one of its own callbacks). The response body is charged to the
// BufferCharge the owner lends (the exchange's response charge).
//
// Thread affinity: the worker loop of its exchange.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "proxy/admission/buffer_budget.h"
#include "proxy/exchange/context.h"
#include "proxy/http1/codec.h"
#include "proxy/upstream/pool.h"

namespace cosmoseal::proxy {

class MetadataFetch final : public UpstreamUser {
 public:
  class Callbacks {
   public:
    virtual ~Callbacks() = default;
    // The metadata read was answered (any status): `status` and the whole body.
    virtual void onMetadataFetched(int status, std::string body) noexcept = 0;
    // The read failed before an answer was complete (no connection, lost, timed out, malformed).
    // `was_reused`: it ran on a pooled connection. The fetch is idle again: start() retries.
    virtual void onMetadataFailed(const common::Status& status, UpstreamFailure kind,
                                  bool response_started, bool was_reused) noexcept = 0;
  };

  // `context` must outlive the fetch; `segments` name the resource ({"dbs", db, "colls", c} or
  // {"dbs", db}), by names or (`by_rid`) by RIDs; `x_ms_version` is the app's API version.
  MetadataFetch(const ExchangeContext& context, BufferCharge* charge, Callbacks* callbacks,
                std::vector<std::string> segments, bool by_rid, std::string x_ms_version);
  // A request built by the owner (head and body, signed), sent as it is; the answer comes back
  // through the same callbacks.
  static std::unique_ptr<MetadataFetch> raw(const ExchangeContext& context, BufferCharge* charge,
                                            Callbacks* callbacks, std::string request);
  ~MetadataFetch() override;

  // Where to send it (default: upstream.endpoint); `target` must outlive the fetch. A raw
  // request built for a regional endpoint goes there. Call before start().
  void setTarget(const UpstreamTarget* target) { target_ = target; }
  // One more request header (If-None-Match); call before start().
  void addHeader(std::string name, std::string value) {
    extra_headers_.emplace_back(std::move(name), std::move(value));
  }

  // Asks the pool for a connection; the request is written when it is ready.
  void start() noexcept;
  // The owner is going away: forget a pending connection, close a held one.
  void abort() noexcept;
  // The response head of the read, if one arrived (its request charge was spent).
  const MessageHead& responseHead() const noexcept { return response_; }

  // UpstreamUser
  void onUpstreamReady(UpstreamConnection* conn) noexcept override;
  void onUpstreamFailed(const common::Status& status, UpstreamFailure kind,
                        bool response_started) noexcept override;
  common::Status onUpstreamHead(MessageHead& head) noexcept override;
  common::Status onUpstreamBody(std::string_view data) noexcept override;
  void onUpstreamComplete() noexcept override;

 private:
  enum class State : uint8_t { kIdle, kConnecting, kReading };

  void buildRequest(std::string* out) const noexcept;

  const ExchangeContext& ctx_;
  BufferCharge* charge_;
  Callbacks* callbacks_;
  const std::vector<std::string> segments_;
  const bool by_rid_;
  const std::string x_ms_version_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  std::string raw_request_;  // raw(): the whole request, sent instead of a built one
  bool is_raw_ = false;
  const UpstreamTarget* target_ = nullptr;
  State state_ = State::kIdle;
  UpstreamConnection* upstream_ = nullptr;
  MessageHead response_;
  std::string body_;
};

}  // namespace cosmoseal::proxy
