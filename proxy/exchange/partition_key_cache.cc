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
  std::lock_guard<std::mutex> lock(mu_);
  map_.erase(keyOf(database, container));
}

void PartitionKeyCache::forgetDatabase(std::string_view database) {
  std::lock_guard<std::mutex> lock(mu_);
  std::string prefix(database);
  prefix.push_back('\0');
  auto it = map_.lower_bound(prefix);
  while (it != map_.end() && it->first.compare(0, prefix.size(), prefix) == 0) it = map_.erase(it);
}

size_t PartitionKeyCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return map_.size();
}

}  // namespace cosmoseal::proxy
