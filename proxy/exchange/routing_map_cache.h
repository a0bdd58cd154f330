#pragma once

// RoutingMapCache: what the sidecar knows about the physical layout of containers whose
// partition key it seals (issue 15): the container's partition-key definition (paths, kind,
// version: from the collection document) and its partition-key-range map (from pkranges), plus
// the latest session token seen per range.
//
// Why: the SDKs hash the plaintext partition key to pick ranges, EPK bounds and session tokens.
// The service places a document at the hash of the ciphertext, so the proxy recomputes those
// from the sealed key against the real map, and refuses client-sent EPK bounds that are not
// range boundaries (those were hashed from a plaintext value).
//
// Process-wide (every worker sees what any worker loaded; owned by PartitionKeyCache, which the
// process shares) and kept across reloads. Entries are loaded by an exchange when one of its
// requests needs them; a map is marked stale when the service says the layout changed
// (410/1002, 1007, 1008) or a request names a range id the map does not know, and reloaded
// (If-None-Match) by the next request that needs it. Thread-safe (one mutex; maps are immutable
// and shared by shared_ptr, so readers never hold the lock while they use one).

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>

#include "policy/routing/epk.h"
#include "policy/routing/range_map.h"

namespace cosmoseal::proxy {

// One container's routing knowledge, immutable once published.
struct ContainerRouting {
  policy::PartitionKeyDefinition definition;
  std::string collection_rid;  // "_rid" of the collection document ("" when it had none)
  std::shared_ptr<const policy::PartitionKeyRangeMap> map;  // never null once published
};

class RoutingMapCache {
 public:
  static constexpr size_t kMaxEntries = 10000;
  // Session tokens kept per container (one per range id; older ranges are dropped first).
  static constexpr size_t kMaxSessionTokens = 4096;

  struct Lookup {
    std::shared_ptr<const ContainerRouting> routing;  // null: never loaded
    bool stale = false;                               // reload before relying on it
  };
  Lookup get(std::string_view database, std::string_view container) const;

  // Publishes a (re)loaded map. The boundaries of the map it replaces stay known (SDKs keep
  // feed ranges of parent ranges across a split).
  void put(std::string_view database, std::string_view container, ContainerRouting routing);
  // The pkranges read answered 304: the published map is current again.
  void markFresh(std::string_view database, std::string_view container);
  // The service said the layout changed, or a request named an unknown range: reload next time.
  void invalidate(std::string_view database, std::string_view container);
  void forget(std::string_view database, std::string_view container);
  void forgetDatabase(std::string_view database);

  // True when `epk` is "" / "FF", a boundary of the current map (or of a parent range it
  // replaced), or a boundary of a map this container had before.
  bool isKnownBoundary(std::string_view database, std::string_view container,
                       std::string_view epk) const;

  // Remembers the session tokens of an upstream answer ("rangeId:token[,rangeId:token...]").
  void noteSessionTokens(std::string_view database, std::string_view container,
                         std::string_view header);
  // The latest token seen for `range_id` ("rangeId:token"), or "" when none was seen.
  std::string sessionToken(std::string_view database, std::string_view container,
                           std::string_view range_id) const;

  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const ContainerRouting> routing;
    bool stale = false;
    std::set<std::string, std::less<>> old_boundaries;            // upper-case
    std::map<std::string, std::string, std::less<>> session_tokens;  // range id -> whole token
  };
  static std::string keyOf(std::string_view database, std::string_view container);

  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> entries_;  // "db\0container"
};

// Upper-cases an EPK (hex) for comparisons and lookups.
std::string upperEpk(std::string_view epk);

}  // namespace cosmoseal::proxy
