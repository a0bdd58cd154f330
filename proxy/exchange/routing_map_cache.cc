#include "proxy/exchange/routing_map_cache.h"

#include <cstdint>

#include "common/text.h"

namespace cosmoseal::proxy {

std::string upperEpk(std::string_view epk) { return common::toUpperAscii(epk); }

namespace {

// The global LSN of a session token "rangeId:version#lsn[#region=lsn...]" (or "rangeId:lsn",
// the old form); 0 when unreadable.
uint64_t sessionLsn(std::string_view token) {
  const size_t colon = token.find(':');
  if (colon == std::string_view::npos) return 0;
  std::string_view rest = token.substr(colon + 1);
  const size_t hash = rest.find('#');
  if (hash != std::string_view::npos) rest = rest.substr(hash + 1);
  uint64_t lsn = 0;
  for (char c : rest) {
    if (c < '0' || c > '9') break;
    if (lsn > (UINT64_MAX - 9) / 10) return UINT64_MAX;
    lsn = lsn * 10 + static_cast<uint64_t>(c - '0');
  }
  return lsn;
}

}  // namespace

std::string RoutingMapCache::keyOf(std::string_view database, std::string_view container) {
  std::string k;
  k.reserve(database.size() + container.size() + 1);
  k.append(database);
  k.push_back('\0');  // ids cannot contain NUL: the key is unambiguous
  k.append(container);
  return k;
}

RoutingMapCache::Lookup RoutingMapCache::get(std::string_view database,
                                             std::string_view container) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it == entries_.end()) return {};
  return Lookup{it->second.routing, it->second.stale};
}

void RoutingMapCache::put(std::string_view database, std::string_view container,
                          ContainerRouting routing) {
  auto published = std::make_shared<const ContainerRouting>(std::move(routing));
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = keyOf(database, container);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= kMaxEntries) return;
    it = entries_.emplace(std::move(key), Entry{}).first;
  }
  Entry& e = it->second;
  if (e.routing && e.routing->map) {
    // A container recreated under the same name has another RID: nothing of the old one holds.
    if (e.routing->collection_rid != published->collection_rid) {
      e.old_boundaries.clear();
      e.session_tokens.clear();
    } else {
      for (const policy::PartitionKeyRange& r : e.routing->map->ranges()) {
        if (e.old_boundaries.size() >= kMaxSessionTokens) break;
        e.old_boundaries.insert(upperEpk(r.min));
        e.old_boundaries.insert(upperEpk(r.max));
      }
    }
  }
  e.routing = std::move(published);
  e.stale = false;
}

void RoutingMapCache::markFresh(std::string_view database, std::string_view container) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it != entries_.end()) it->second.stale = false;
}

void RoutingMapCache::invalidate(std::string_view database, std::string_view container) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it != entries_.end()) it->second.stale = true;
}

void RoutingMapCache::forget(std::string_view database, std::string_view container) {
  std::lock_guard<std::mutex> lock(mu_);
  entries_.erase(keyOf(database, container));
}

void RoutingMapCache::forgetDatabase(std::string_view database) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string prefix(database);
  prefix.push_back('\0');
  auto it = entries_.lower_bound(prefix);
  while (it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    it = entries_.erase(it);
  }
}

bool RoutingMapCache::isKnownBoundary(std::string_view database, std::string_view container,
                                      std::string_view epk) const {
  const std::string up = upperEpk(epk);
  if (up.empty() || up == "FF") return true;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it == entries_.end()) return false;
  const Entry& e = it->second;
  if (e.routing && e.routing->map && e.routing->map->isBoundary(up)) return true;
  return e.old_boundaries.count(up) != 0;
}

void RoutingMapCache::noteSessionTokens(std::string_view database, std::string_view container,
                                        std::string_view header) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it == entries_.end()) return;
  Entry& e = it->second;
  while (!header.empty()) {
    const size_t comma = header.find(',');
    std::string_view token = common::trimOws(header.substr(0, comma));
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    const size_t colon = token.find(':');
    if (colon == 0 || colon == std::string_view::npos) continue;
    const std::string_view id = token.substr(0, colon);
    auto t = e.session_tokens.find(id);
    if (t != e.session_tokens.end()) {
      // Answers arrive in any order: never step a range's token back.
      if (sessionLsn(token) >= sessionLsn(t->second)) t->second.assign(token);
    } else if (e.session_tokens.size() < kMaxSessionTokens) {
      e.session_tokens.emplace(std::string(id), std::string(token));
    }
  }
}

std::string RoutingMapCache::sessionToken(std::string_view database, std::string_view container,
                                          std::string_view range_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(keyOf(database, container));
  if (it == entries_.end()) return {};
  auto t = it->second.session_tokens.find(range_id);
  return t == it->second.session_tokens.end() ? std::string() : t->second;
}

size_t RoutingMapCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.size();
}

}  // namespace cosmoseal::proxy
