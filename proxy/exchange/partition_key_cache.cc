#include "proxy/exchange/partition_key_cache.h"

namespace cosmoseal::proxy {

std::string PartitionKeyCache::keyOf(std::string_view database, std::string_view container) {
  std::string k;
  k.reserve(database.size() + container.size() + 1);
  k.append(database);
  k.push_back('\0');  // ids cannot contain NUL: the key is unambiguous
  k.append(container);
  return k;
}

std::optional<std::vector<std::string>> PartitionKeyCache::get(std::string_view database,
                                                               std::string_view container) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = map_.find(keyOf(database, container));
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void PartitionKeyCache::put(std::string_view database, std::string_view container,
                            std::vector<std::string> paths) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string key = keyOf(database, container);
  if (map_.size() >= kMaxEntries && map_.find(key) == map_.end()) return;
  map_[std::move(key)] = std::move(paths);
}

void PartitionKeyCache::forget(std::string_view database, std::string_view container) {
  routing_.forget(database, container);
  std::lock_guard<std::mutex> lock(mu_);
  map_.erase(keyOf(database, container));
  std::erase_if(collection_rids_, [&](const auto& e) {
    return e.second.database == database && e.second.container == container;
  });
}

void PartitionKeyCache::forgetDatabase(std::string_view database) {
  routing_.forgetDatabase(database);
  std::lock_guard<std::mutex> lock(mu_);
  std::string prefix(database);
  prefix.push_back('\0');
  auto it = map_.lower_bound(prefix);
  while (it != map_.end() && it->first.compare(0, prefix.size(), prefix) == 0) it = map_.erase(it);
  std::erase_if(database_rids_, [&](const auto& e) { return e.second == database; });
  std::erase_if(collection_rids_, [&](const auto& e) { return e.second.database == database; });
}

void PartitionKeyCache::putDatabaseRid(std::string_view rid, std::string_view database) {
  std::lock_guard<std::mutex> lock(mu_);
  if (database_rids_.size() >= kMaxEntries && database_rids_.find(rid) == database_rids_.end()) {
    return;
  }
  database_rids_.insert_or_assign(std::string(rid), std::string(database));
}

void PartitionKeyCache::putCollectionRid(std::string_view rid, std::string_view database,
                                         std::string_view container) {
  std::lock_guard<std::mutex> lock(mu_);
  if (collection_rids_.size() >= kMaxEntries &&
      collection_rids_.find(rid) == collection_rids_.end()) {
    return;
  }
  collection_rids_.insert_or_assign(std::string(rid),
                                    ContainerName{std::string(database), std::string(container)});
}

std::optional<std::string> PartitionKeyCache::databaseOfRid(std::string_view rid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = database_rids_.find(rid);
  if (it == database_rids_.end()) return std::nullopt;
  return it->second;
}

std::optional<PartitionKeyCache::ContainerName> PartitionKeyCache::containerOfRid(
    std::string_view rid) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = collection_rids_.find(rid);
  if (it == collection_rids_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> PartitionKeyCache::ridOfContainer(std::string_view database,
                                                             std::string_view container) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [rid, names] : collection_rids_) {
    if (names.database == database && names.container == container) return rid;
  }
  return std::nullopt;
}

size_t PartitionKeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

}  // namespace cosmoseal::proxy
