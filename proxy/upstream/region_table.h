#pragma once

// RegionTable: which account region each listen.region_ports slot stands for, and that region's
// real endpoint (docs/OPERATIONS.md, "Regions").
//
// Slots are handed out by region name in the order the names are first learned (from account
// discovery answers, in document order) and never change for the life of the process, so that
// a URL an SDK has cached keeps naming the same region. The endpoint of a region may change (a
// later discovery answer says so): requests that start afterwards use the new one.
//
// Process-wide: one table shared by every worker; all members lock an internal mutex (learned
// rarely, read once per request on a region port). Never throws past construction.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::proxy {

// One region's real endpoint, immutable once published (replaced as a whole when it changes).
struct RegionEndpoint {
  std::string name;    // as the account document spells it, e.g. "East US"
  int slot = -1;       // index into listen.region_ports
  std::string scheme;  // "https" (or "http" when the upstream is plain HTTP, tests)
  std::string host;    // lower-case; IPv6 without brackets
  uint16_t port = 443;
  std::string host_header;  // "host" (default port) or "host:port", brackets for IPv6
  std::string origin;       // "scheme://host_header", as the service writes absolute URLs
};

class RegionTable {
 public:
  // `slots`: the number of region ports (0: regions are not mapped at all).
  explicit RegionTable(size_t slots = 0) : slots_(slots < kMaxSlots ? slots : kMaxSlots) {}
  RegionTable(const RegionTable&) = delete;
  RegionTable& operator=(const RegionTable&) = delete;

  // Start-up only (before any worker runs): the number of region ports.
  void configure(size_t slots) noexcept;
  size_t slots() const noexcept;

  struct Learned {
    int slot = -1;          // -1: no port left for this region (it stays on the main URL)
    bool added = false;     // first time this name was seen: it took a slot now
    bool changed = false;   // a known region whose endpoint differs from the one recorded
    bool overflow = false;  // no slot, and first time this name was refused one (warn once)
  };
  // Records that discovery names `name` at scheme://host:port. Names compare exactly (the
  // service spells them consistently); an empty name never takes a slot.
  Learned learn(std::string_view name, std::string_view scheme, std::string_view host,
                uint16_t port) noexcept;

  // The region behind `slot`, or null when no region has taken it yet (or slot is out of range).
  std::shared_ptr<const RegionEndpoint> endpoint(int slot) const noexcept;
  // Every region with a slot, in slot order.
  std::vector<std::shared_ptr<const RegionEndpoint>> regions() const noexcept;
  size_t known() const noexcept;

  // Transparent mode (listen.mode: transparent): the app connects to the real regional host
  // names, so regions are told apart by host name instead of by port. Records that discovery
  // names region `name` at scheme://host:port (host compared case-insensitively); at most
  // kMaxHosts names are kept (later ones are ignored: they go to upstream.endpoint). True when
  // the host is new or its endpoint changed (worth a log line).
  bool learnHost(std::string_view name, std::string_view scheme, std::string_view host,
                 uint16_t port) noexcept;
  // The region whose discovery endpoint has host name `host`, or null.
  std::shared_ptr<const RegionEndpoint> endpointForHost(std::string_view host) const noexcept;

  // Requests forwarded to the region behind `slot` (relaxed counters, for /metrics).
  void countRequest(int slot) noexcept;
  uint64_t requests(int slot) const noexcept;

  static constexpr size_t kMaxSlots = 64;  // listen.region_ports allows at most this many
  static constexpr size_t kMaxHosts = 256;

 private:
  mutable std::mutex mu_;
  size_t slots_;
  std::vector<std::shared_ptr<const RegionEndpoint>> by_slot_;
  std::vector<std::string> overflow_;  // names refused a slot (each warned about once)
  std::vector<std::shared_ptr<const RegionEndpoint>> by_host_;  // transparent mode
  std::array<std::atomic<uint64_t>, kMaxSlots> requests_{};
};

}  // namespace cosmoseal::proxy
