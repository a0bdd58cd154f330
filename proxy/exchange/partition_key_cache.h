#pragma once

// PartitionKeyCache: what the sidecar learned from database and collection metadata that passes
// through it (create / read / list) or that it fetched itself:
//   * partition-key paths of protected containers;
//   * resource ids: database RID -> name and collection RID -> (database, container), so that a
//     request addressed by RIDs (.NET and Java read partition-key ranges that way) is matched to
//     the rules and policies of the names it stands for.
// Process-wide (every worker sees what any worker learned) and kept across reloads: a
// container's partition key and RID never change while it exists; a deleted container is
// forgotten, and so is one the service says was replaced (docs/ROUTING.md, "Learned paths").

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/exchange/routing_map_cache.h"

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

  struct ContainerName {
    std::string database;
    std::string container;
  };
  void putDatabaseRid(std::string_view rid, std::string_view database);
  void putCollectionRid(std::string_view rid, std::string_view database,
                        std::string_view container);
  std::optional<std::string> databaseOfRid(std::string_view rid) const;
  std::optional<ContainerName> containerOfRid(std::string_view rid) const;
  // The collection RID learned for (database, container), if any.
  std::optional<std::string> ridOfContainer(std::string_view database,
                                            std::string_view container) const;

  // Routing maps of containers whose partition key is sealed (routing_map_cache.h): kept with
  // the paths, so they are shared the same way and forgotten with them.
  RoutingMapCache& routing() noexcept { return routing_; }

 private:
  static std::string keyOf(std::string_view database, std::string_view container);

  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>, std::less<>> map_;  // "db\0container"
  std::map<std::string, std::string, std::less<>> database_rids_;     // rid -> database
  std::map<std::string, ContainerName, std::less<>> collection_rids_;  // rid -> names
  RoutingMapCache routing_;
};

}  // namespace cosmoseal::proxy
