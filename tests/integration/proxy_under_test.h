#pragma once

// ProxyUnderTest: the real proxy data path — one proxy::Worker (its own thread and uv loop, the
// upstream pool, DownstreamConnection/Exchange) — started in the test process the way Server
// starts it: a SO_REUSEPORT listener on 127.0.0.1 port 0, a ConfigSnapshot built from a YAML
// config and key files written to a fresh temporary directory, a SharedState with the throttle
// configured. Drain and stop mirror SIGTERM and the drain deadline.
//
// The config: one client "app" (read-write on database shop), a keyring with key "pii", and one
// protected container shop/customers (partition key /pk, /ssn randomized). Timeouts are short
// and set per test through ProxySettings.
//
// Ownership: owns the worker, the snapshot, the shared state and the temporary directory (removed
// on destruction, after the worker has stopped). Use from the test thread only.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/secret_bytes.h"
#include "proxy/server/worker.h"

namespace cosmoseal::integration {

struct ProxySettings {
  std::string header_timeout = "2s";
  std::string body_timeout = "2s";
  std::string idle_timeout = "5s";
  std::string drain_timeout = "5s";
  std::string upstream_response_timeout = "3s";
  std::string upstream_idle_timeout = "4s";
  // Extra YAML appended to the config (e.g. a limits section).
  std::string extra_yaml;
};

class ProxyUnderTest {
 public:
  ProxyUnderTest(uint16_t upstream_port, ProxySettings settings = {});
  ~ProxyUnderTest();
  ProxyUnderTest(const ProxyUnderTest&) = delete;
  ProxyUnderTest& operator=(const ProxyUnderTest&) = delete;

  // Empty when the worker is running; otherwise why it is not.
  const std::string& error() const { return error_; }
  bool ok() const { return error_.empty(); }
  uint16_t port() const { return port_; }
  proxy::WorkerStats& stats() { return worker_->stats(); }

  // A request as the SDK sends it: x-ms-date, x-ms-version and the master-key authorization
  // computed with the client key. `extra_headers`: more "Name: value\r\n" lines.
  std::string request(std::string_view method, std::string_view path, std::string_view body = "",
                      std::string_view extra_headers = "") const;

  // SIGTERM: stop accepting, finish in-flight requests, close idle connections.
  void beginDrain();
  // True once the worker's loop has ended (every connection closed).
  bool waitFinished(std::chrono::milliseconds timeout);

 private:
  std::string writeFile(const std::string& name, std::string_view content);

  std::string dir_;
  std::string error_;
  uint16_t port_ = 0;
  common::SecretBytes client_key_;
  proxy::SharedState shared_;
  std::unique_ptr<proxy::Worker> worker_;
};

}  // namespace cosmoseal::integration
