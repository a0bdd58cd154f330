#pragma once

// PartitionKeyCache: partition-key paths of protected containers, learned from collection
// metadata that passes through the sidecar (create / read / list collections) or fetched by the
// sidecar itself. Process-wide (every worker sees what any worker learned) and kept across
// reloads: a container's partition key never changes; a deleted container is forgotten.

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::proxy {

class PartitionKeyCache {
 public:
  static constexpr size_t kMaxEntries = 10000;

  std::optional<std::vector<std::string>> get(std::string_view database,
                                              std::string_view container) const;
  void put(std::string_view database, std::string_view container, std::vector<std::string> paths);
  void forget(std::string_view database, std::string_view container);
  void forgetDatabase(std::string_view database);
  size_t size() const;

 private:
  static std::string keyOf(std::string_view database, std::string_view container);

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>, std::less<>> map_;  // "db\0container"
};

}  // namespace cosmoseal::proxy
