#include "proxy/migrate/lease.h"

#include <charconv>
#include <ctime>

#include "common/text.h"
#include "policy/json/fields.h"
#include "proxy/migrate/details.h"

namespace cosmoseal::proxy::migrate {

namespace {

void appendString(std::string* out, std::string_view s) {
  out->push_back('"');
  common::appendJsonEscaped(out, s);
  out->push_back('"');
}

uint64_t toU64(std::string_view raw) noexcept {
  uint64_t v = 0;
  std::from_chars(raw.data(), raw.data() + raw.size(), v);
  return v;
}

common::Status badLease(const std::string& what) {
  return common::Status(common::Code::kBadGateway, details::kBadLease, what);
}

}  // namespace

void LeaseCounts::add(const LeaseCounts& o) noexcept {
  scanned += o.scanned;
  written += o.written;
  unchanged += o.unchanged;
  conflicts += o.conflicts;
  deleted += o.deleted;
  failed += o.failed;
}

std::string LeaseCounts::json() const {
  return "{\"scanned\":" + std::to_string(scanned) + ",\"written\":" + std::to_string(written) +
         ",\"unchanged\":" + std::to_string(unchanged) +
         ",\"conflicts\":" + std::to_string(conflicts) + ",\"deleted\":" + std::to_string(deleted) +
         ",\"failed\":" + std::to_string(failed) + "}";
}

std::string leaseId(std::string_view job, std::string_view range_id) {
  return "lease." + std::string(job) + "." + std::string(range_id);
}

std::string stateId(std::string_view database, std::string_view container) {
  return "state." + std::string(database) + "." + std::string(container);
}

std::string isoTime(int64_t unix_ms) {
  const time_t t = static_cast<time_t>(unix_ms / 1000);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof(ms), ".%03dZ", static_cast<int>(unix_ms % 1000));
  return std::string(buf, n) + ms;
}

int64_t parseIsoTime(std::string_view text) noexcept {
  // "YYYY-MM-DDTHH:MM:SS[.mmm]Z", as isoTime writes it.
  const auto digits = [&](size_t at, size_t n, int* out) {
    if (at + n > text.size()) return false;
    int v = 0;
    const auto r = std::from_chars(text.data() + at, text.data() + at + n, v);
    if (r.ec != std::errc() || r.ptr != text.data() + at + n) return false;
    *out = v;
    return true;
  };
  struct tm tm {};
  int ms = 0;
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || !digits(0, 4, &tm.tm_year) || !digits(5, 2, &tm.tm_mon) ||
      !digits(8, 2, &tm.tm_mday) || !digits(11, 2, &tm.tm_hour) || !digits(14, 2, &tm.tm_min) ||
      !digits(17, 2, &tm.tm_sec)) {
    return 0;
  }
  if (text.size() >= 24 && text[19] == '.' && !digits(20, 3, &ms)) return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

std::string Lease::json() const {
  std::string out = "{\"id\":";
  appendString(&out, id);
  out += ",\"kind\":\"cosmoseal.migration.lease\",\"job\":";
  appendString(&out, job);
  out += ",\"range\":{\"id\":";
  appendString(&out, range_id);
  out += ",\"min\":";
  appendString(&out, min);
  out += ",\"max\":";
  appendString(&out, max);
  out += "},\"owner\":";
  appendString(&out, owner);
  out += ",\"expires_at\":";
  appendString(&out, expires_at_ms > 0 ? isoTime(expires_at_ms) : "");
  out += ",\"continuation\":";
  appendString(&out, continuation);
  out += ",\"finished\":";
  out += finished ? "true" : "false";
  if (!split_into.empty()) {
    out += ",\"split_into\":[";
    for (size_t i = 0; i < split_into.size(); ++i) {
      if (i > 0) out.push_back(',');
      appendString(&out, split_into[i]);
    }
    out.push_back(']');
  }
  out += ",\"counts\":" + counts.json() + "}";
  return out;
}

common::StatusOr<Lease> Lease::parse(const StoredDocument& doc) {
  auto members = policy::topLevelMembers(doc.json);
  if (!members.isOk()) return badLease("lease is not a JSON object");
  Lease l;
  l.etag = doc.etag;
  bool kind_ok = false;
  for (const policy::JsonMember& m : *members) {
    const auto str = [&]() { return policy::jsonStringValue(m.raw).value_or(""); };
    if (m.name == "id") l.id = str();
    if (m.name == "kind") kind_ok = str() == "cosmoseal.migration.lease";
    if (m.name == "job") l.job = str();
    if (m.name == "owner") l.owner = str();
    if (m.name == "expires_at") l.expires_at_ms = parseIsoTime(str());
    if (m.name == "continuation") l.continuation = str();
    if (m.name == "finished") l.finished = m.raw == "true";
    if (m.name == "_etag" && l.etag.empty()) l.etag = str();
    if (m.name == "range") {
      auto range = policy::topLevelMembers(m.raw);
      if (!range.isOk()) return badLease("lease range is not an object");
      for (const policy::JsonMember& r : *range) {
        const std::string v = policy::jsonStringValue(r.raw).value_or("");
        if (r.name == "id") l.range_id = v;
        if (r.name == "min") l.min = v;
        if (r.name == "max") l.max = v;
      }
    }
    if (m.name == "split_into") {
      auto ids = policy::arrayMemberElements("{\"a\":" + m.raw + "}", "a");
      if (ids.isOk()) {
        for (const std::string& raw : *ids)
          l.split_into.push_back(policy::jsonStringValue(raw).value_or(""));
      }
    }
    if (m.name == "counts") {
      auto counts = policy::topLevelMembers(m.raw);
      if (!counts.isOk()) return badLease("lease counts are not an object");
      for (const policy::JsonMember& c : *counts) {
        const uint64_t v = toU64(c.raw);
        if (c.name == "scanned") l.counts.scanned = v;
        if (c.name == "written") l.counts.written = v;
        if (c.name == "unchanged") l.counts.unchanged = v;
        if (c.name == "conflicts") l.counts.conflicts = v;
        if (c.name == "deleted") l.counts.deleted = v;
        if (c.name == "failed") l.counts.failed = v;
      }
    }
  }
  if (!kind_ok || l.id.empty()) return badLease("not a cosmoseal.migration.lease document");
  return l;
}

LeaseManager::LeaseManager(LeaseStore* store, std::string job, int64_t ttl_ms)
    : store_(store), job_(std::move(job)), ttl_ms_(ttl_ms) {}

common::Status LeaseManager::ensure(const std::vector<RangeSpec>& ranges) {
  for (const RangeSpec& r : ranges) {
    const std::string id = leaseId(job_, r.id);
    auto existing = store_->read(id);
    if (!existing.isOk()) return existing.status();
    if (existing->has_value()) continue;
    Lease l;
    l.id = id;
    l.job = job_;
    l.range_id = r.id;
    l.min = r.min;
    l.max = r.max;
    auto created = store_->create(id, l.json());
    if (!created.isOk()) return created.status();  // kConflict: another worker made it first
  }
  return common::Status::ok();
}

common::StatusOr<std::vector<Lease>> LeaseManager::all() {
  auto docs = store_->list("lease." + job_ + ".");
  if (!docs.isOk()) return docs.status();
  std::vector<Lease> out;
  for (const StoredDocument& d : *docs) {
    auto l = Lease::parse(d);
    if (!l.isOk()) return l.status();
    if (l->job == job_) out.push_back(std::move(*l));
  }
  return out;
}

common::StatusOr<std::optional<Lease>> LeaseManager::claim(
    const std::string& owner, int64_t now_ms, const std::vector<std::string>& preferred_ids) {
  auto leases = all();
  if (!leases.isOk()) return leases.status();
  const auto claimable = [&](const Lease& l) {
    return !l.finished && (l.owner.empty() || l.owner == owner || l.expires_at_ms <= now_ms);
  };
  const auto preferred = [&](const Lease& l) {
    for (const std::string& id : preferred_ids) {
      if (id == l.range_id) return true;
    }
    return false;
  };
  // Own leases first (a restarted worker resumes its own), then preferred, then any.
  for (int pass = 0; pass < 3; ++pass) {
    for (Lease& l : *leases) {
      if (!claimable(l)) continue;
      if (pass == 0 && l.owner != owner) continue;
      if (pass == 1 && !preferred(l)) continue;
      Lease mine = l;
      mine.owner = owner;
      auto ok = checkpoint(&mine, now_ms);
      if (!ok.isOk()) return ok.status();
      if (*ok) return std::optional<Lease>(std::move(mine));
    }
  }
  return std::optional<Lease>();
}

common::StatusOr<bool> LeaseManager::checkpoint(Lease* lease, int64_t now_ms) {
  lease->expires_at_ms = lease->finished ? 0 : now_ms + ttl_ms_;
  auto res = store_->replace(lease->id, lease->json(), lease->etag);
  if (!res.isOk()) return res.status();
  if (res->result != WriteResult::kOk) return false;
  lease->etag = res->etag;
  return true;
}

}  // namespace cosmoseal::proxy::migrate
