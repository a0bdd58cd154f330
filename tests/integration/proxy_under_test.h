#pragma once

// The proxy under test, two ways:
//
// TestConfig: a fresh temporary directory with everything a cosmoseal config needs — account,
// client and KEK key files (mode 0600), a keyring with key "pii" wrapped by the KEK, and
// cosmoseal.yaml: one client "app" (read-write on database shop), one protected container
// shop/customers (partition key /pk, /ssn randomized), short timeouts from ProxySettings, a
// plain-HTTP upstream on 127.0.0.1. It also signs requests the way the SDK does, with the
// client key. The directory is removed on destruction.
//
// ProxyUnderTest: the real data path — one proxy::Worker (its own thread and uv loop, the
// upstream pool, DownstreamConnection/Exchange) — started in the test process the way Server
// starts it: a SO_REUSEPORT listener on 127.0.0.1 port 0, a ConfigSnapshot built from the
// TestConfig, a SharedState with the throttle configured. beginDrain() is what SIGTERM does;
// destruction is the drain deadline (force stop), then the worker thread is joined.
//
// Use both from the test thread only.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "proxy/server/worker.h"

namespace cosmoseal::integration {

struct ProxySettings {
  std::string header_timeout = "2s";
  std::string body_timeout = "2s";
  std::string idle_timeout = "5s";
  std::string drain_timeout = "5s";
  std::string upstream_response_timeout = "3s";
  std::string upstream_idle_timeout = "4s";
  // More "key: value" pairs for the timeouts map (e.g. "min_body_rate: 1KiB/s").
  std::string timeouts_extra;
  // Extra YAML appended to the config (e.g. a limits section).
  std::string extra_yaml;
  // More entries of the policies list, each starting with "  - database: ..." (the list
  // already holds shop/customers).
  std::string extra_policies;
  // More entries of the clients list, each starting with "  - name: ..." (the list already
  // holds "app").
  std::string extra_clients;
  // More "key: value" pairs for upstream.pool (e.g. "max_age: 100ms").
  std::string pool_extra;
  // upstream.auth body lines ("    type: managed_identity\n..."): replaces upstream.key_file with
  // an Entra ID credential; the snapshot's token cache is started as Server starts it.
  std::string upstream_auth;
  // listen.region_ports: this many extra listeners, on ports the kernel picks.
  int region_ports = 0;
  // Filled by ProxyUnderTest (the ports of those listeners) before the config is written.
  std::vector<uint16_t> region_port_numbers;
};

class TestConfig {
 public:
  TestConfig();
  ~TestConfig();
  TestConfig(const TestConfig&) = delete;
  TestConfig& operator=(const TestConfig&) = delete;

  // Writes the key files, the keyring and cosmoseal.yaml. `admin_port` 0: admin disabled.
  common::Status write(uint16_t listen_port, uint16_t upstream_port, const ProxySettings& settings,
                       uint16_t admin_port = 0);
  // Replaces cosmoseal.yaml (reload tests).
  void rewriteConfig(std::string_view yaml);
  const std::string& configPath() const { return config_path_; }
  const std::string& configText() const { return config_text_; }

  // A request as the SDK sends it to 127.0.0.1:`port`: x-ms-date, x-ms-version and the
  // master-key authorization computed with the client key. `extra_headers`: more
  // "Name: value\r\n" lines.
  // `rid_link`: signed over the lowercased last RID, as the Java and .NET SDKs sign requests
  // addressed by resource ids.
  std::string request(uint16_t port, std::string_view method, std::string_view path,
                      std::string_view body = "", std::string_view extra_headers = "",
                      bool rid_link = false) const;
  const common::SecretBytes& accountKey() const { return account_key_; }

 private:
  std::string writeFile(const std::string& name, std::string_view content);

  std::string dir_;
  std::string config_path_;
  std::string config_text_;
  common::SecretBytes client_key_;
  common::SecretBytes account_key_;
};

class ProxyUnderTest {
 public:
  explicit ProxyUnderTest(uint16_t upstream_port, ProxySettings settings = {});
  ~ProxyUnderTest();
  ProxyUnderTest(const ProxyUnderTest&) = delete;
  ProxyUnderTest& operator=(const ProxyUnderTest&) = delete;

  // Empty when the worker is running; otherwise why it is not.
  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }
  uint16_t port() const { return port_; }
  // The port of listen.region_ports[i].
  uint16_t regionPort(size_t i) const { return region_ports_.at(i); }
  proxy::SharedState& shared() { return shared_; }
  // The configuration snapshot the worker started with.
  const std::shared_ptr<const proxy::ConfigSnapshot>& snapshot() const { return snapshot_; }
  proxy::WorkerStats& stats() { return worker_->stats(); }
  // Bytes charged to limits.max_buffered_bytes now (the cosmoseal_buffered_bytes gauge).
  uint64_t bufferedBytes() const { return shared_.buffers.used(); }

  // A signed request for this proxy (TestConfig::request).
  std::string request(std::string_view method, std::string_view path, std::string_view body = "",
                      std::string_view extra_headers = "") const {
    return config_.request(port_, method, path, body, extra_headers);
  }
  // A signed request for region port `i`.
  std::string regionRequest(size_t i, std::string_view method, std::string_view path,
                            std::string_view body = "", std::string_view extra_headers = "") const {
    return config_.request(regionPort(i), method, path, body, extra_headers);
  }
  // The same, signed over the RID link (TestConfig::request).
  std::string ridRequest(std::string_view method, std::string_view path, std::string_view body = "",
                         std::string_view extra_headers = "") const {
    return config_.request(port_, method, path, body, extra_headers, /*rid_link=*/true);
  }
  const common::SecretBytes& accountKey() const { return config_.accountKey(); }

  // SIGTERM: stop accepting, finish in-flight requests, close idle connections.
  void beginDrain();
  // True once the worker's loop has ended (every connection closed).
  bool waitFinished(std::chrono::milliseconds timeout);

 private:
  TestConfig config_;
  std::string error_;
  uint16_t port_ = 0;
  std::vector<uint16_t> region_ports_;
  proxy::SharedState shared_;
  std::shared_ptr<const proxy::ConfigSnapshot> snapshot_;
  std::unique_ptr<proxy::Worker> worker_;
};

// Process settings Server::run makes and a worker started alone needs too: SIGPIPE ignored (a
// write to a connection the peer closed is an error, not a signal), log level warn.
void prepareProcess();

}  // namespace cosmoseal::integration
