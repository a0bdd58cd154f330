#pragma once

// MetadataFetch: reads a protected container's metadata (GET /dbs/{db}/colls/{coll}, signed with
// the account key) to learn its partition-key paths, when neither the policy nor the cache knows
// them. A request that carries or writes a partition key of such a container must not go anywhere
// before that: its partition-key header may hold a protected value.
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
#include <string>

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

  // `context` must outlive the fetch; `x_ms_version` is the app's API version (copied).
  MetadataFetch(const ExchangeContext& context, BufferCharge* charge, Callbacks* callbacks,
                std::string database, std::string container, std::string x_ms_version);
  ~MetadataFetch() override;

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
  const std::string database_;
  const std::string container_;
  const std::string x_ms_version_;
  State state_ = State::kIdle;
  UpstreamConnection* upstream_ = nullptr;
  MessageHead response_;
  std::string body_;
};

}  // namespace cosmoseal::proxy
