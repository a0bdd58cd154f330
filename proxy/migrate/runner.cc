#include "proxy/migrate/runner.h"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/text.h"
#include "policy/json/fields.h"
#include "proxy/migrate/details.h"
#include "proxy/migrate/lease_store.h"

namespace cosmoseal::proxy::migrate {

namespace {

using Steady = std::chrono::steady_clock;

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::vector<std::string> stringArray(std::string_view raw_array) {
  std::vector<std::string> out;
  auto elems = policy::arrayMemberElements("{\"a\":" + std::string(raw_array) + "}", "a");
  if (!elems.isOk()) return out;
  for (const std::string& e : *elems) out.push_back(policy::jsonStringValue(e).value_or(""));
  return out;
}

std::string stringAt(std::string_view object, std::initializer_list<std::string> path) {
  const std::vector<std::string> segs(path);
  auto raw = policy::rawValueAt(object, segs);
  if (!raw.isOk() || !raw->has_value()) return {};
  return policy::jsonStringValue(**raw).value_or("");
}

void appendQuoted(std::string* out, std::string_view s) {
  out->push_back('"');
  common::appendJsonEscaped(out, s);
  out->push_back('"');
}

}  // namespace

void ScanReport::add(const ScanReport& o) {
  plaintext_at_protected += o.plaintext_at_protected;
  documents_with_plaintext += o.documents_with_plaintext;
  envelopes += o.envelopes;
  stale_envelopes += o.stale_envelopes;
  open_failures += o.open_failures;
  would_change_encrypt += o.would_change_encrypt;
  would_change_rotate += o.would_change_rotate;
  for (const auto& [id, n] : o.envelopes_by_key_id) envelopes_by_key_id[id] += n;
}

std::string keyLabel(const crypto::Keyring* keyring, uint32_t id) {
  const crypto::KeyVersion* kv = keyring != nullptr ? keyring->byId(id) : nullptr;
  if (kv == nullptr) return "id:" + std::to_string(id);
  return kv->name + " v" + std::to_string(kv->version);
}

struct JobRunner::Shared {
  std::vector<std::string> pk_paths;
  std::vector<RangeSpec> ranges;
  bool lease_mode = false;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<RangeSpec> queue;  // queue mode (verify, --dry-run)
  int busy = 0;                 // queue mode: threads holding a range
  ScanReport scan;
  common::Status error;
  int64_t copy_started_ts = 0;  // copy: the job's first start, the account's clock (seconds)
  // copy_verify: (id, reason), the first kMaxMismatchesListed; the rest only counted.
  std::vector<std::pair<std::string, std::string>> mismatches;
  uint64_t mismatches_left_off = 0;
};

namespace {
constexpr size_t kMaxMismatchesListed = 100;
}  // namespace

struct JobRunner::Thread {
  int index = 0;
  std::string owner;
  std::unique_ptr<HttpSender> http;
  std::unique_ptr<CosmosClient> client;
  std::unique_ptr<DocumentTransform> transform;
  ScanReport scan;
};

JobRunner::JobRunner(JobOptions options, HttpSenderFactory http,
                     const common::SecretBytes& account_key, std::string origin,
                     std::shared_ptr<const crypto::Keyring> keyring,
                     const policy::ContainerPolicy* policy)
    : options_(std::move(options)),
      http_(std::move(http)),
      account_key_(account_key),
      origin_(std::move(origin)),
      keyring_(std::move(keyring)),
      policy_(policy),
      budget_(options_.max_ru_per_second),
      shared_(std::make_unique<Shared>()) {
  if (options_.to_database.empty()) options_.to_database = options_.database;
  if (options_.job.empty()) {
    options_.job = std::string(operationName(options_.op)) + "-" + options_.database + "-" +
                   options_.container;
    if (options_.op == Operation::kCopy) {
      // The target is part of the job; a catch-up pass (--since) is a job of its own.
      if (options_.to_database != options_.database) options_.job += "-" + options_.to_database;
      options_.job += "-" + options_.to_container;
      if (options_.since > 0) options_.job += "-since-" + std::to_string(options_.since);
    }
  }
  if (options_.owner.empty()) options_.owner = "worker-" + std::to_string(options_.worker_index);
  options_.threads = std::max(1, options_.threads);
  options_.workers = std::max(1, options_.workers);
}

JobRunner::~JobRunner() = default;

common::StatusOr<std::vector<RangeSpec>> JobRunner::readRanges(CosmosClient& client) {
  auto res = client.call(
      "GET", CosmosClient::collectionPath(options_.database, options_.container) + "/pkranges");
  if (!res.isOk()) return res.status();
  if (res->status != 200) return unexpectedAnswer("reading the partition-key ranges", *res);
  auto elems = policy::arrayMemberElements(res->body, "PartitionKeyRanges");
  if (!elems.isOk()) return elems.status();
  std::vector<RangeSpec> out;
  for (const std::string& e : *elems) {
    out.push_back(RangeSpec{stringAt(e, {"id"}), stringAt(e, {"minInclusive"}),
                            stringAt(e, {"maxExclusive"})});
  }
  if (out.empty()) {
    return common::Status(common::Code::kBadGateway, details::kUpstream,
                          "the container has no partition-key ranges");
  }
  return out;
}

common::Status JobRunner::prepare(CosmosClient& client) {
  const std::string path = CosmosClient::collectionPath(options_.database, options_.container);
  auto res = client.call("GET", path, {{"x-ms-populatequotainfo", "true"}});
  if (!res.isOk()) return res.status();
  if (res->status == 404) {
    return common::Status(
        common::Code::kNotFound, details::kUpstream,
        "container " + options_.database + "/" + options_.container + " does not exist");
  }
  if (res->status != 200) return unexpectedAnswer("reading the container", *res);
  auto paths = policy::rawValueAt(res->body, std::vector<std::string>{"partitionKey", "paths"});
  if (paths.isOk() && paths->has_value()) shared_->pk_paths = stringArray(**paths);
  // documentsCount from x-ms-resource-usage ("documentsCount=12;documentsSize=..."): the ETA.
  const std::string_view usage = res->header("x-ms-resource-usage");
  const size_t at = usage.find("documentsCount=");
  if (at != std::string_view::npos) {
    counters_.documents_estimate.store(
        std::strtoull(std::string(usage.substr(at + 15)).c_str(), nullptr, 10));
  }
  // A copy only reads the source: its protected partition key is what the copy is for.
  const bool writes = options_.op != Operation::kVerify && options_.op != Operation::kCopy;
  if (writes && policy_ != nullptr) {
    for (const std::string& p : shared_->pk_paths) {
      std::vector<std::string> segs;
      size_t i = 1;
      while (i <= p.size()) {
        const size_t j = p.find('/', i);
        segs.push_back(p.substr(i, j == std::string::npos ? std::string::npos : j - i));
        if (j == std::string::npos) break;
        i = j + 1;
      }
      std::vector<std::string_view> views(segs.begin(), segs.end());
      if (policy_->relation(views) != policy::PathRelation::kUnprotected) {
        return common::Status(
            common::Code::kFailedPrecondition, details::kProtectedPartitionKey,
            "the partition-key path " + p + " of " + options_.database + "/" + options_.container +
                " is protected: its sealed value is another logical partition, so documents "
                "cannot be rewritten in place. Copy them into a new container instead "
                "(docs/MIGRATION.md, \"Protected partition keys\")");
      }
    }
  }
  if (copying()) COSMOSEAL_RETURN_IF_ERROR(prepareTarget(client));
  auto ranges = readRanges(client);
  if (!ranges.isOk()) return ranges.status();
  shared_->ranges = std::move(*ranges);
  counters_.ranges_total.store(shared_->ranges.size());
  return common::Status::ok();
}

common::Status JobRunner::prepareTarget(CosmosClient& client) {
  const std::string target = options_.to_database + "/" + options_.to_container;
  if (target_ == nullptr) {
    return common::Status(common::Code::kFailedPrecondition, details::kNoPolicy,
                          "no policy for the target container " + target +
                              " in the config: the copy would not be sealed");
  }
  if (options_.to_database == options_.database && options_.to_container == options_.container) {
    return common::Status(common::Code::kInvalidArgument, details::kTargetPartitionKey,
                          "the target container is the source container");
  }
  auto res =
      client.call("GET", CosmosClient::collectionPath(options_.to_database, options_.to_container));
  if (!res.isOk()) return res.status();
  if (res->status == 404) {
    return common::Status(
        common::Code::kNotFound, details::kTargetMissing,
        "the target container " + target +
            " does not exist: create it first with the source's partition-key path (and "
            "indexing policy, throughput) — the migrator does not create it, as data-plane RBAC "
            "cannot create containers (docs/MIGRATION.md, \"Protected partition keys\")");
  }
  if (res->status != 200) return unexpectedAnswer("reading the target container", *res);
  std::vector<std::string> target_paths;
  auto paths = policy::rawValueAt(res->body, std::vector<std::string>{"partitionKey", "paths"});
  if (paths.isOk() && paths->has_value()) target_paths = stringArray(**paths);
  if (target_paths != shared_->pk_paths) {
    const auto list = [](const std::vector<std::string>& v) {
      std::string out;
      for (const std::string& p : v) out += (out.empty() ? "" : ",") + p;
      return "[" + out + "]";
    };
    return common::Status(common::Code::kFailedPrecondition, details::kTargetPartitionKey,
                          "the target container " + target + " is partitioned by " +
                              list(target_paths) + ", the source by " + list(shared_->pk_paths) +
                              ": create the target with the source's partition-key paths");
  }
  return common::Status::ok();
}

common::Status JobRunner::writeCopyState(CosmosClient& client, std::string_view phase,
                                         const std::string& report_json) {
  CosmosLeaseStore store(&client, options_.database, options_.lease_container);
  const std::string id = "copy." + options_.job;
  auto existing = store.read(id);
  if (!existing.isOk()) return existing.status();
  int64_t started = nowMs();
  // The job's start on the account's clock (the _ts the account gave the first copy document):
  // what a catch-up pass compares documents' _ts with, so this machine's clock does not matter.
  int64_t started_ts = 0;
  const auto intAt = [](std::string_view object, const char* name) -> int64_t {
    auto raw = policy::rawValueAt(object, std::vector<std::string>{name});
    if (!raw.isOk() || !raw->has_value()) return 0;
    return std::strtoll((*raw)->c_str(), nullptr, 10);
  };
  if (existing->has_value()) {
    const int64_t s = parseIsoTime(stringAt((*existing)->json, {"started_at"}));
    if (s > 0) started = s;
    started_ts = intAt((*existing)->json, "started_ts");
    if (started_ts <= 0) started_ts = intAt((*existing)->json, "_ts");
  }
  std::string doc = "{\"id\":";
  appendQuoted(&doc, id);
  doc += ",\"kind\":\"cosmoseal.migration.copy\",\"database\":";
  appendQuoted(&doc, options_.database);
  doc += ",\"container\":";
  appendQuoted(&doc, options_.container);
  doc += ",\"to_database\":";
  appendQuoted(&doc, options_.to_database);
  doc += ",\"to_container\":";
  appendQuoted(&doc, options_.to_container);
  doc += ",\"job\":";
  appendQuoted(&doc, options_.job);
  doc += ",\"since\":" + std::to_string(options_.since);
  doc += ",\"phase\":";
  appendQuoted(&doc, phase);
  doc += ",\"started_at\":";
  appendQuoted(&doc, isoTime(started));
  if (started_ts > 0) doc += ",\"started_ts\":" + std::to_string(started_ts);
  doc += ",\"updated_at\":";
  appendQuoted(&doc, isoTime(nowMs()));
  doc += ",\"report\":" + (report_json.empty() ? std::string("{}") : report_json) + "}";
  auto w = store.replace(id, doc, "");
  if (!w.isOk()) return w.status();
  if (started_ts <= 0) {
    auto written = store.read(id);
    if (written.isOk() && written->has_value()) started_ts = intAt((*written)->json, "_ts");
  }
  // An account that gave no _ts: this machine's clock, less a minute for the difference.
  if (started_ts <= 0) started_ts = started / 1000 - 60;
  shared_->copy_started_ts = started_ts;
  return common::Status::ok();
}

common::Status JobRunner::writeState(CosmosClient& client, std::string_view phase,
                                     const std::string& report_json) {
  CosmosLeaseStore store(&client, options_.database, options_.lease_container);
  const std::string id = stateId(options_.database, options_.container);
  auto existing = store.read(id);
  if (!existing.isOk()) return existing.status();
  std::string started = isoTime(nowMs());
  std::string operation(operationName(options_.op));
  std::string job = options_.job;
  if (existing->has_value()) {
    const std::string old_job = stringAt((*existing)->json, {"job"});
    if (options_.op == Operation::kVerify || old_job == job) {
      const std::string s = stringAt((*existing)->json, {"started_at"});
      if (!s.empty()) started = s;
    }
    if (options_.op == Operation::kVerify) {
      job = old_job;
      operation = stringAt((*existing)->json, {"operation"});
    }
  }
  if (operation == "verify" || operation.empty()) operation = "encrypt";
  std::string doc = "{\"id\":";
  appendQuoted(&doc, id);
  doc += ",\"kind\":\"cosmoseal.migration.state\",\"database\":";
  appendQuoted(&doc, options_.database);
  doc += ",\"container\":";
  appendQuoted(&doc, options_.container);
  doc += ",\"job\":";
  appendQuoted(&doc, job);
  doc += ",\"operation\":";
  appendQuoted(&doc, operation);
  doc += ",\"phase\":";
  appendQuoted(&doc, phase);
  doc += ",\"started_at\":";
  appendQuoted(&doc, started);
  doc += ",\"updated_at\":";
  appendQuoted(&doc, isoTime(nowMs()));
  doc += ",\"report\":" + (report_json.empty() ? std::string("{}") : report_json) + "}";
  auto w = store.replace(id, doc, "");
  return w.isOk() ? common::Status::ok() : w.status();
}

void JobRunner::noteMismatch(const std::string& id, std::string_view reason) {
  std::lock_guard<std::mutex> lock(shared_->mu);
  if (shared_->mismatches.size() < kMaxMismatchesListed) {
    shared_->mismatches.emplace_back(id, std::string(reason));
  } else {
    ++shared_->mismatches_left_off;
  }
}

bool JobRunner::transformCounted(Thread& t, Operation op, const std::string& stored,
                                 DocumentOutcome* o, LeaseCounts* counts) {
  ++counts->scanned;
  counters_.scanned.fetch_add(1, std::memory_order_relaxed);
  if (!t.transform->apply(op, stored, o).isOk()) {
    ++counts->failed;
    ++t.scan.open_failures;
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  t.scan.plaintext_at_protected += o->before.plaintext_at_protected;
  if (o->before.plaintext_at_protected > 0) ++t.scan.documents_with_plaintext;
  t.scan.envelopes += o->before.decrypted;
  return true;
}

void JobRunner::copyDocument(Thread& t, const std::string& stored, LeaseCounts* counts) {
  DocumentOutcome o;
  const auto wipe = [&]() {
    common::secureZero(o.body.data(), o.body.size());
    o.body.clear();
  };
  if (!transformCounted(t, Operation::kCopy, stored, &o, counts)) return;
  if (options_.since > 0 && o.ts < options_.since) {
    // Catch-up pass: copied by the earlier pass and not written since.
    wipe();
    ++counts->unchanged;
    counters_.unchanged.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (options_.dry_run) {
    wipe();
    counters_.would_write.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Upsert, not create: a page read again after a kill or a lease taken over, and the catch-up
  // pass, write documents the target may already hold; nobody else writes the target yet.
  auto res = t.client->call(
      "POST", CosmosClient::collectionPath(options_.to_database, options_.to_container) + "/docs",
      {{"x-ms-documentdb-is-upsert", "True"}, {"x-ms-documentdb-partitionkey", o.pk_header}},
      o.body);
  wipe();
  if (res.isOk() && (res->status == 200 || res->status == 201)) {
    ++counts->written;
    counters_.written.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  ++counts->failed;
  counters_.failed.fetch_add(1, std::memory_order_relaxed);
}

void JobRunner::verifyCopiedDocument(Thread& t, const std::string& stored, LeaseCounts* counts) {
  ++counts->scanned;
  counters_.scanned.fetch_add(1, std::memory_order_relaxed);
  DocumentOutcome o;
  std::string source;
  std::string copied;
  const auto wipe = [](std::string* s) {
    common::secureZero(s->data(), s->size());
    s->clear();
  };
  // The target's partition-key header: the source document sealed as the copy seals it.
  common::Status s = t.transform->apply(Operation::kCopy, stored, &o);
  wipe(&o.body);
  policy::TransformStats source_stats;
  if (s.isOk()) s = t.transform->plaintext(stored, policy_, &source, &source_stats);
  if (!s.isOk()) {
    ++t.scan.open_failures;
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "source_unreadable");
    return;
  }
  auto res = t.client->call(
      "GET", CosmosClient::documentPath(options_.to_database, options_.to_container, o.id),
      {{"x-ms-documentdb-partitionkey", o.pk_header}});
  if (!res.isOk() || (res->status != 200 && res->status != 404)) {
    wipe(&source);
    counters_.failed.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "target_unreadable");
    return;
  }
  if (res->status == 404) {
    wipe(&source);
    counters_.missing.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "missing");
    return;
  }
  policy::TransformStats target_stats;
  s = t.transform->plaintext(res->body, target_, &copied, &target_stats);
  t.scan.envelopes += target_stats.decrypted;
  for (uint8_t i = 0; i < target_stats.key_id_count; ++i) {
    t.scan.envelopes_by_key_id[target_stats.key_ids[i]] += target_stats.key_id_counts[i];
  }
  if (!s.isOk()) {
    wipe(&source);
    ++t.scan.open_failures;
    counters_.target_unopened.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "target_unopened");
    return;
  }
  const bool same = source == copied;
  wipe(&source);
  wipe(&copied);
  if (target_stats.plaintext_at_protected > 0) {
    t.scan.plaintext_at_protected += target_stats.plaintext_at_protected;
    ++t.scan.documents_with_plaintext;
    counters_.target_plaintext.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "target_plaintext");
    return;
  }
  if (!same) {
    counters_.different.fetch_add(1, std::memory_order_relaxed);
    noteMismatch(o.id, "different");
    return;
  }
  ++counts->unchanged;
  counters_.matched.fetch_add(1, std::memory_order_relaxed);
}

void JobRunner::processDocument(Thread& t, const std::string& stored, LeaseCounts* counts) {
  if (options_.op == Operation::kCopy) {
    copyDocument(t, stored, counts);
    return;
  }
  if (options_.copy_verify) {
    verifyCopiedDocument(t, stored, counts);
    return;
  }
  DocumentOutcome o;
  const Operation op = options_.op;
  const auto wipe = [&]() {
    common::secureZero(o.body.data(), o.body.size());
    o.body.clear();
  };
  if (!transformCounted(t, op, stored, &o, counts)) return;
  const policy::TransformStats& b = o.before;
  t.scan.stale_envelopes += b.stale_envelopes;
  if (b.plaintext_at_protected > 0) ++t.scan.would_change_encrypt;
  if (b.plaintext_at_protected > 0 || b.stale_envelopes > 0) ++t.scan.would_change_rotate;
  for (uint8_t i = 0; i < b.key_id_count; ++i) {
    t.scan.envelopes_by_key_id[b.key_ids[i]] += b.key_id_counts[i];
  }
  if (op == Operation::kVerify || !o.change) {
    ++counts->unchanged;
    counters_.unchanged.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (options_.dry_run) {
    counters_.would_write.fetch_add(1, std::memory_order_relaxed);
    wipe();
    return;
  }
  const std::string path = CosmosClient::documentPath(options_.database, options_.container, o.id);
  for (int attempt = 0;; ++attempt) {
    auto res = t.client->call(
        "PUT", path, {{"if-match", o.etag}, {"x-ms-documentdb-partitionkey", o.pk_header}}, o.body);
    wipe();
    if (!res.isOk() ||
        (res->status != 200 && res->status != 201 && res->status != 404 && res->status != 412)) {
      ++counts->failed;
      counters_.failed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (res->status == 404) {
      ++counts->deleted;
      counters_.deleted.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (res->status != 412) {
      ++counts->written;
      counters_.written.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // The app wrote the document since we read it: its write wins; read it again and redo.
    ++counts->conflicts;
    counters_.conflicts.fetch_add(1, std::memory_order_relaxed);
    if (attempt >= options_.max_conflict_retries) {
      ++counts->failed;
      counters_.failed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto pk = t.transform->partitionKeyHeader(stored);
    if (!pk.isOk()) pk = o.pk_header;
    auto again = t.client->call("GET", path, {{"x-ms-documentdb-partitionkey", *pk}});
    if (again.isOk() && again->status == 404) {
      ++counts->deleted;
      counters_.deleted.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!again.isOk() || again->status != 200 || !t.transform->apply(op, again->body, &o).isOk()) {
      ++counts->failed;
      counters_.failed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!o.change) {
      ++counts->unchanged;
      counters_.unchanged.fetch_add(1, std::memory_order_relaxed);
      return;
    }
  }
}

common::StatusOr<std::vector<RangeSpec>> JobRunner::readRange(
    Thread& t, const RangeSpec& range, std::string continuation,
    const std::function<bool(const std::string&, const LeaseCounts&)>& on_page) {
  const std::string path =
      CosmosClient::collectionPath(options_.database, options_.container) + "/docs";
  for (;;) {
    HeaderList headers = {{"x-ms-documentdb-partitionkeyrangeid", range.id},
                          {"x-ms-max-item-count", std::to_string(options_.page_size)}};
    if (!continuation.empty()) headers.emplace_back("x-ms-continuation", continuation);
    auto res = t.client->call("GET", path, headers);
    if (!res.isOk()) return res.status();
    if (res->status == 410) {
      // The range split (410/1002): its children take over, read from their start.
      auto ranges = readRanges(*t.client);
      if (!ranges.isOk()) return ranges.status();
      std::vector<RangeSpec> children;
      for (const RangeSpec& r : *ranges) {
        if (r.id != range.id && r.min >= range.min && r.max <= range.max) children.push_back(r);
      }
      if (children.empty()) return unexpectedAnswer("range " + range.id + " is gone", *res);
      counters_.splits.fetch_add(1, std::memory_order_relaxed);
      counters_.ranges_total.fetch_add(children.size() - 1);
      return children;
    }
    if (res->status != 200) return unexpectedAnswer("reading range " + range.id, *res);
    auto docs = policy::arrayMemberElements(res->body, "Documents");
    if (!docs.isOk()) return docs.status();
    LeaseCounts page;
    for (const std::string& d : *docs) processDocument(t, d, &page);
    std::string next(res->header("x-ms-continuation"));
    if (!on_page(next, page)) return std::vector<RangeSpec>();
    if (next.empty()) return std::vector<RangeSpec>();
    continuation = std::move(next);
  }
}

common::Status JobRunner::workLeases(Thread& t) {
  CosmosLeaseStore store(t.client.get(), options_.database, options_.lease_container);
  LeaseManager leases(&store, options_.job, options_.lease_ttl_ms);
  // This worker's share first (range index % workers == worker index), then anything left.
  std::vector<std::string> preferred;
  for (size_t i = 0; i < shared_->ranges.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(options_.workers)) == options_.worker_index) {
      preferred.push_back(shared_->ranges[i].id);
    }
  }
  for (;;) {
    auto claimed = leases.claim(t.owner, nowMs(), preferred);
    if (!claimed.isOk()) return claimed.status();
    if (!claimed->has_value()) return common::Status::ok();
    Lease lease = std::move(**claimed);
    bool lost = false;
    auto children =
        readRange(t, RangeSpec{lease.range_id, lease.min, lease.max}, lease.continuation,
                  [&](const std::string& next, const LeaseCounts& page) {
                    lease.counts.add(page);
                    lease.continuation = next;
                    lease.finished = next.empty();
                    auto ok = leases.checkpoint(&lease, nowMs());
                    lost = !ok.isOk() || !*ok;
                    return !lost;
                  });
    if (!children.isOk()) return children.status();
    if (!children->empty()) {
      COSMOSEAL_RETURN_IF_ERROR(leases.ensure(*children));
      lease.finished = true;
      for (const RangeSpec& c : *children) lease.split_into.push_back(c.id);
      auto ok = leases.checkpoint(&lease, nowMs());
      if (!ok.isOk()) return ok.status();
    }
    if (!lost) counters_.ranges_done.fetch_add(1, std::memory_order_relaxed);
  }
}

common::Status JobRunner::workQueue(Thread& t) {
  for (;;) {
    RangeSpec range;
    {
      std::unique_lock<std::mutex> lock(shared_->mu);
      shared_->cv.wait(lock, [&] { return !shared_->queue.empty() || shared_->busy == 0; });
      if (shared_->queue.empty()) return common::Status::ok();
      range = shared_->queue.front();
      shared_->queue.pop_front();
      ++shared_->busy;
    }
    auto children =
        readRange(t, range, "", [](const std::string&, const LeaseCounts&) { return true; });
    std::lock_guard<std::mutex> lock(shared_->mu);
    --shared_->busy;
    if (children.isOk()) {
      for (const RangeSpec& c : *children) shared_->queue.push_back(c);
      if (children->empty()) counters_.ranges_done.fetch_add(1, std::memory_order_relaxed);
    }
    shared_->cv.notify_all();
    if (!children.isOk()) return children.status();
  }
}

void JobRunner::threadMain(int index) {
  Thread t;
  t.index = index;
  t.owner = options_.owner + ".t" + std::to_string(index);
  t.http = http_();
  t.client = std::make_unique<CosmosClient>(t.http.get(), account_key_, origin_, &budget_,
                                            &counters_.client);
  t.client->useTokens(tokens_);
  t.transform = std::make_unique<DocumentTransform>(keyring_, policy_, shared_->pk_paths);
  t.transform->setTarget(target_);
  common::Status s = shared_->lease_mode ? workLeases(t) : workQueue(t);
  std::lock_guard<std::mutex> lock(shared_->mu);
  shared_->scan.add(t.scan);
  if (!s.isOk() && shared_->error.isOk()) shared_->error = s;
  if (!s.isOk()) {
    // Let the queue drain stop: nobody waits forever for a thread that gave up.
    shared_->queue.clear();
  }
  shared_->cv.notify_all();
}

std::string JobRunner::summaryJson(std::string_view phase, double seconds,
                                   const ScanReport& scan) const {
  const JobCounters& c = counters_;
  std::string out = "{\"operation\":";
  appendQuoted(&out, operationName(options_.op));
  out += ",\"database\":";
  appendQuoted(&out, options_.database);
  out += ",\"container\":";
  appendQuoted(&out, options_.container);
  out += ",\"job\":";
  appendQuoted(&out, options_.job);
  out += ",\"phase\":";
  appendQuoted(&out, phase);
  out += ",\"dry_run\":" + std::string(options_.dry_run ? "true" : "false");
  char secs[32];
  std::snprintf(secs, sizeof(secs), "%.3f", seconds);
  out += ",\"seconds\":" + std::string(secs);
  const auto num = [&](const char* name, uint64_t v) {
    out += ",\"" + std::string(name) + "\":" + std::to_string(v);
  };
  num("scanned", c.scanned.load());
  num("written", c.written.load());
  num("unchanged", c.unchanged.load());
  num("would_write", c.would_write.load());
  num("conflicts_412", c.conflicts.load());
  num("deleted_404", c.deleted.load());
  num("failed", c.failed.load());
  num("splits", c.splits.load());
  if (copying()) {
    out += ",\"to_database\":";
    appendQuoted(&out, options_.to_database);
    out += ",\"to_container\":";
    appendQuoted(&out, options_.to_container);
  }
  if (options_.op == Operation::kCopy) {
    num("since", static_cast<uint64_t>(std::max<int64_t>(0, options_.since)));
    if (shared_->copy_started_ts > 0) {
      num("next_since", static_cast<uint64_t>(
                            std::max<int64_t>(0, shared_->copy_started_ts - kSinceMarginSeconds)));
    }
  }
  if (options_.copy_verify) {
    num("matched", c.matched.load());
    num("missing", c.missing.load());
    num("different", c.different.load());
    num("target_plaintext", c.target_plaintext.load());
    num("target_unopened", c.target_unopened.load());
    std::lock_guard<std::mutex> lock(shared_->mu);
    out += ",\"mismatches\":[";
    for (size_t i = 0; i < shared_->mismatches.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += "{\"id\":";
      appendQuoted(&out, shared_->mismatches[i].first);
      out += ",\"reason\":";
      appendQuoted(&out, shared_->mismatches[i].second);
      out += "}";
    }
    out += "]";
    num("mismatches_left_off", shared_->mismatches_left_off);
  }
  num("ranges", c.ranges_total.load());
  num("requests", c.client.requests.load());
  num("throttled_429", c.client.throttled.load());
  num("retry_after_ms", c.client.retry_after_ms.load());
  num("transient_retries", c.client.transient_retries.load());
  char ru[64];
  std::snprintf(ru, sizeof(ru), "%.2f", c.client.requestUnits());
  out += ",\"request_units\":" + std::string(ru);
  out += ",\"scan\":{";
  out += "\"plaintext_at_protected\":" + std::to_string(scan.plaintext_at_protected);
  out += ",\"documents_with_plaintext\":" + std::to_string(scan.documents_with_plaintext);
  out += ",\"envelopes\":" + std::to_string(scan.envelopes);
  out += ",\"stale_envelopes\":" + std::to_string(scan.stale_envelopes);
  out += ",\"open_failures\":" + std::to_string(scan.open_failures);
  out += ",\"would_change_encrypt\":" + std::to_string(scan.would_change_encrypt);
  out += ",\"would_change_rotate\":" + std::to_string(scan.would_change_rotate);
  out += ",\"envelopes_by_key\":{";
  bool first = true;
  for (const auto& [id, n] : scan.envelopes_by_key_id) {
    if (!first) out.push_back(',');
    first = false;
    appendQuoted(&out, keyLabel(keyring_.get(), id));
    out += ":" + std::to_string(n);
  }
  out += "}}}";
  return out;
}

common::StatusOr<JobResult> JobRunner::run() {
  const auto start = Steady::now();
  const auto elapsed = [&]() {
    return std::chrono::duration<double>(Steady::now() - start).count();
  };
  std::unique_ptr<HttpSender> main_http = http_();
  CosmosClient main(main_http.get(), account_key_, origin_, &budget_, &counters_.client);
  main.useTokens(tokens_);
  COSMOSEAL_RETURN_IF_ERROR(prepare(main));
  shared_->lease_mode = options_.op != Operation::kVerify && !options_.dry_run;
  std::string prior_operation;
  std::string prior_phase;
  bool have_state = false;
  if (shared_->lease_mode) {
    CosmosLeaseStore store(&main, options_.database, options_.lease_container);
    COSMOSEAL_RETURN_IF_ERROR(store.ensureContainer());
    if (options_.op == Operation::kCopy) {
      COSMOSEAL_RETURN_IF_ERROR(writeCopyState(main, "running", "{}"));
    } else {
      COSMOSEAL_RETURN_IF_ERROR(writeState(main, "running", "{}"));
    }
    LeaseManager leases(&store, options_.job, options_.lease_ttl_ms);
    COSMOSEAL_RETURN_IF_ERROR(leases.ensure(shared_->ranges));
  } else {
    shared_->queue.assign(shared_->ranges.begin(), shared_->ranges.end());
    if (options_.op == Operation::kVerify && !options_.copy_verify) {
      CosmosLeaseStore store(&main, options_.database, options_.lease_container);
      auto state = store.read(stateId(options_.database, options_.container));
      if (state.isOk() && state->has_value()) {
        have_state = true;
        prior_operation = stringAt((*state)->json, {"operation"});
        prior_phase = stringAt((*state)->json, {"phase"});
      }
    }
  }

  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool finished = false;
  std::thread progress_thread;
  if (progress_) {
    progress_thread = std::thread([&] {
      std::unique_lock<std::mutex> lock(progress_mu);
      while (!progress_cv.wait_for(lock, progress_interval_, [&] { return finished; })) {
        progress_(counters_, elapsed(), false);
      }
    });
  }
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(options_.threads));
  for (int i = 0; i < options_.threads; ++i) threads.emplace_back([this, i] { threadMain(i); });
  for (std::thread& th : threads) th.join();
  {
    std::lock_guard<std::mutex> lock(progress_mu);
    finished = true;
  }
  progress_cv.notify_all();
  if (progress_thread.joinable()) progress_thread.join();
  if (progress_) progress_(counters_, elapsed(), true);
  if (!shared_->error.isOk()) return shared_->error;

  JobResult result;
  result.scan = shared_->scan;
  if (shared_->lease_mode) {
    CosmosLeaseStore store(&main, options_.database, options_.lease_container);
    LeaseManager leases(&store, options_.job, options_.lease_ttl_ms);
    auto all = leases.all();
    if (!all.isOk()) return all.status();
    bool done = true;
    LeaseCounts total;
    for (const Lease& l : *all) {
      done = done && l.finished;
      total.add(l.counts);
    }
    result.phase = done ? "done" : "running";
    if (done && options_.op == Operation::kCopy) {
      COSMOSEAL_RETURN_IF_ERROR(writeCopyState(main, "done", "{\"counts\":" + total.json() + "}"));
    } else if (done) {
      COSMOSEAL_RETURN_IF_ERROR(writeState(main, "done", "{\"counts\":" + total.json() + "}"));
    }
  } else if (options_.copy_verify) {
    const JobCounters& c = counters_;
    const bool clean = c.missing.load() == 0 && c.different.load() == 0 &&
                       c.target_plaintext.load() == 0 && c.target_unopened.load() == 0 &&
                       c.failed.load() == 0;
    result.phase = clean ? "verified" : "not_verified";
  } else if (options_.op == Operation::kVerify) {
    const ScanReport& s = result.scan;
    const bool clean =
        prior_operation == "decrypt"
            ? s.envelopes == 0 && s.open_failures == 0
            : s.plaintext_at_protected == 0 && s.open_failures == 0 && s.stale_envelopes == 0;
    result.phase = clean ? "verified" : "not_verified";
    // A clean verify ends the mixed state; a dirty one over a verified container reopens it.
    if (have_state || clean) {
      CosmosLeaseStore store(&main, options_.database, options_.lease_container);
      common::Status ensured = have_state ? common::Status::ok() : store.ensureContainer();
      if (ensured.isOk()) {
        const std::string report = summaryJson(result.phase, elapsed(), s);
        const std::string phase =
            clean ? "verified" : (prior_phase == "verified" ? "done" : prior_phase);
        COSMOSEAL_RETURN_IF_ERROR(writeState(main, phase, report));
      }
    }
  } else {
    result.phase = "dry_run";
  }
  result.seconds = elapsed();
  result.json = summaryJson(result.phase, result.seconds, result.scan);
  return result;
}

}  // namespace cosmoseal::proxy::migrate
