#include "proxy/exchange/migration_state.h"

#include <utility>
#include <vector>

#include "common/log.h"
#include "policy/json/text.h"
#include "policy/migration_state.h"

namespace cosmoseal::proxy {

namespace {

// The API version of the state read: any version the service accepts for documents.
constexpr std::string_view kXMsVersion = "2018-12-31";
constexpr uint64_t kTickMs = 1000;

uint64_t nowMs() noexcept { return uv_hrtime() / 1000000; }

}  // namespace

std::string MigrationStates::key(std::string_view database, std::string_view container) {
  std::string k(database);
  k.push_back('/');
  k.append(container);
  return k;
}

MigrationStatus MigrationStates::lookup(std::string_view database,
                                        std::string_view container) const {
  const std::shared_ptr<const Table> t = table_.load();
  const auto it = t->find(key(database, container));
  if (it != t->end()) return it->second;
  MigrationStatus s;
  s.mixed = true;
  s.description = "the migration state (document " + policy::migrationStateId(database, container) +
                  ") has not been read yet since the sidecar started or the policy was loaded";
  return s;
}

void MigrationStates::publish(const std::string& key, MigrationStatus status) {
  const std::lock_guard<std::mutex> lock(write_mu_);
  auto next = std::make_shared<Table>(*table_.load());
  (*next)[key] = std::move(status);
  table_.store(std::move(next));
}

void MigrationStates::retain(const std::function<bool(std::string_view key)>& keep) {
  const std::lock_guard<std::mutex> lock(write_mu_);
  const std::shared_ptr<const Table> cur = table_.load();
  bool any = false;
  for (const auto& [k, v] : *cur) any = any || !keep(k);
  if (!any) return;
  auto next = std::make_shared<Table>();
  for (const auto& [k, v] : *cur) {
    if (keep(k)) next->emplace(k, v);
  }
  table_.store(std::move(next));
}

MigrationPoller::MigrationPoller(uv_loop_t* loop, std::function<ExchangeContext()> context,
                                 MigrationStates* states)
    : loop_(loop), make_context_(std::move(context)), states_(states) {}

MigrationPoller::~MigrationPoller() { fetch_.reset(); }

void MigrationPoller::start() noexcept {
  if (started_) return;
  started_ = true;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_timer_start(
      &timer_, [](uv_timer_t* t) noexcept { static_cast<MigrationPoller*>(t->data)->onTick(); }, 0,
      kTickMs);
}

void MigrationPoller::stop() noexcept {
  if (!started_ || stopped_) return;
  stopped_ = true;
  if (fetch_) fetch_->abort();
  uv_timer_stop(&timer_);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
}

void MigrationPoller::onTick() noexcept {
  if (stopped_ || !key_.empty()) return;  // one read at a time
  ExchangeContext ctx = make_context_();
  const policy::PolicySet* set = ctx.state->snapshot->policies().get();
  std::vector<const policy::ContainerPolicy*> watched;
  if (set != nullptr) {
    for (const policy::ContainerPolicy* p : set->all()) {
      if (p->migration().enabled) watched.push_back(p);
    }
  }
  // A reload may have removed a container's `migration:`: forget it (and its gauge).
  states_->retain([&](std::string_view k) {
    for (const policy::ContainerPolicy* p : watched) {
      if (MigrationStates::key(p->database(), p->container()) == k) return true;
    }
    return false;
  });
  // The container whose read is most overdue (never read: first), so that every container gets
  // its turn even when one's interval is as short as the tick.
  const uint64_t now = nowMs();
  const policy::ContainerPolicy* next = nullptr;
  uint64_t next_due = 0;
  for (const policy::ContainerPolicy* p : watched) {
    const auto due = next_due_ms_.find(MigrationStates::key(p->database(), p->container()));
    const uint64_t at = due == next_due_ms_.end() ? 0 : due->second;
    if (at <= now && (next == nullptr || at < next_due)) {
      next = p;
      next_due = at;
    }
  }
  if (next == nullptr) return;
  key_ = MigrationStates::key(next->database(), next->container());
  next_due_ms_[key_] = now + next->migration().poll_ms;
  database_ = next->database();
  container_ = next->container();
  state_id_ = policy::migrationStateId(database_, container_);
  retried_ = false;
  ctx_ = std::move(ctx);
  if (charge_.budget() == nullptr) charge_.bind(ctx_.buffers);
  fetch_ = std::make_unique<MetadataFetch>(
      ctx_, &charge_, this,
      std::vector<std::string>{"dbs", database_, "colls", next->migration().lease_container, "docs",
                               state_id_},
      false, std::string(kXMsVersion));
  std::string pk = "[";
  policy::appendCanonicalJsonString(state_id_, &pk);
  pk.push_back(']');
  fetch_->addHeader("x-ms-documentdb-partitionkey", std::move(pk));
  fetch_->start();
}

void MigrationPoller::finish(MigrationStatus status, bool failed) noexcept {
  const MigrationStatus before = states_->lookup(database_, container_);
  const bool known = states_->table()->count(key_) != 0;
  if (failed) {
    COSMOSEAL_LOG(kWarn) << "migration state of " << key_
                         << ": mixed (fail closed): " << status.description;
  } else if (!known || before.mixed != status.mixed) {
    COSMOSEAL_LOG(kInfo) << "migration state of " << key_ << ": "
                         << (status.mixed ? "mixed" : "sealed only") << " (" << status.description
                         << ")";
  }
  states_->publish(key_, std::move(status));
  charge_.resize(0, 0);
  key_.clear();
  // Another container may be due already: look on the next loop iteration (not from inside the
  // fetch's own callback, which must not replace the fetch).
  if (!stopped_) {
    uv_timer_start(
        &timer_, [](uv_timer_t* t) noexcept { static_cast<MigrationPoller*>(t->data)->onTick(); },
        0, kTickMs);
  }
}

void MigrationPoller::onMetadataFetched(int status, std::string body) noexcept {
  MigrationStatus s;
  bool failed = false;
  if (status == 200) {
    auto doc = policy::parseMigrationState(body, database_, container_);
    if (doc.isOk()) {
      s.mixed = policy::migrationLeavesMixed(*doc);
      s.description = policy::describeMigrationState(*doc, state_id_);
    } else {
      failed = true;
      s.description = "the migration state document " + state_id_ +
                      " cannot be used: " + std::string(doc.status().message());
    }
  } else if (status == 404) {
    s.description =
        "no migration has started (no state document " + state_id_ + " in the lease container)";
  } else {
    failed = true;
    s.description = "the migration state document " + state_id_ + " cannot be read (HTTP " +
                    std::to_string(status) + ")";
  }
  finish(std::move(s), failed);
}

void MigrationPoller::onMetadataFailed(const common::Status& status, UpstreamFailure kind,
                                       bool response_started, bool was_reused) noexcept {
  (void)kind;
  (void)response_started;
  if (was_reused && !retried_ && !stopped_) {
    retried_ = true;  // a pooled connection the service had closed: once more, fresh
    fetch_->start();
    return;
  }
  MigrationStatus s;
  s.description = "the migration state document " + state_id_ +
                  " cannot be read: " + std::string(status.message());
  finish(std::move(s), true);
}

}  // namespace cosmoseal::proxy
