#include "proxy/upstream/region_table.h"

#include <algorithm>

#include "common/text.h"

namespace cosmoseal::proxy {

namespace {

std::shared_ptr<const RegionEndpoint> makeEndpoint(std::string_view name, int slot,
                                                   std::string_view scheme, std::string_view host,
                                                   uint16_t port) {
  auto e = std::make_shared<RegionEndpoint>();
  e->name = std::string(name);
  e->slot = slot;
  e->scheme = std::string(scheme);
  e->host = std::string(host);
  e->port = port;
  const bool v6 = host.find(':') != std::string_view::npos;
  std::string h = v6 ? "[" + e->host + "]" : e->host;
  const uint16_t default_port = scheme == "http" ? 80 : 443;
  e->host_header = port == default_port ? h : h + ":" + std::to_string(port);
  e->origin = e->scheme + "://" + e->host_header;
  return e;
}

}  // namespace

void RegionTable::configure(size_t slots) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  slots_ = slots < kMaxSlots ? slots : kMaxSlots;
  if (by_slot_.size() > slots_) by_slot_.resize(slots_);
}

size_t RegionTable::slots() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_;
}

RegionTable::Learned RegionTable::learn(std::string_view name, std::string_view scheme,
                                        std::string_view host, uint16_t port) noexcept {
  Learned out;
  if (name.empty()) return out;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : by_slot_) {
    if (e->name != name) continue;
    out.slot = e->slot;
    if (e->scheme != scheme || e->host != host || e->port != port) {
      e = makeEndpoint(name, e->slot, scheme, host, port);
      out.changed = true;
    }
    return out;
  }
  if (by_slot_.size() < slots_) {
    out.slot = static_cast<int>(by_slot_.size());
    out.added = true;
    by_slot_.push_back(makeEndpoint(name, out.slot, scheme, host, port));
    return out;
  }
  if (std::find(overflow_.begin(), overflow_.end(), name) == overflow_.end()) {
    overflow_.emplace_back(name);
    out.overflow = true;
  }
  return out;
}

std::shared_ptr<const RegionEndpoint> RegionTable::endpoint(int slot) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot < 0 || static_cast<size_t>(slot) >= by_slot_.size()) return nullptr;
  return by_slot_[static_cast<size_t>(slot)];
}

std::vector<std::shared_ptr<const RegionEndpoint>> RegionTable::regions() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return by_slot_;
}

size_t RegionTable::known() const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  return by_slot_.size();
}

bool RegionTable::learnHost(std::string_view name, std::string_view scheme, std::string_view host,
                            uint16_t port) noexcept {
  if (host.empty()) return false;
  const std::string lower = common::toLowerAscii(host);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& e : by_host_) {
    if (e->host != lower) continue;
    if (e->name == name && e->scheme == scheme && e->port == port) return false;
    e = makeEndpoint(name, -1, scheme, lower, port);
    return true;
  }
  if (by_host_.size() >= kMaxHosts) return false;
  by_host_.push_back(makeEndpoint(name, -1, scheme, lower, port));
  return true;
}

std::shared_ptr<const RegionEndpoint> RegionTable::endpointForHost(
    std::string_view host) const noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& e : by_host_) {
    if (common::equalsIgnoreCase(e->host, host)) return e;
  }
  return nullptr;
}

void RegionTable::countRequest(int slot) noexcept {
  if (slot < 0 || static_cast<size_t>(slot) >= kMaxSlots) return;
  requests_[static_cast<size_t>(slot)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t RegionTable::requests(int slot) const noexcept {
  if (slot < 0 || static_cast<size_t>(slot) >= kMaxSlots) return 0;
  return requests_[static_cast<size_t>(slot)].load(std::memory_order_relaxed);
}

}  // namespace cosmoseal::proxy
