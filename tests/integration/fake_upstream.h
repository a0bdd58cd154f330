#pragma once

// FakeUpstream: a plain-TCP stand-in for Cosmos DB on 127.0.0.1, port 0, scripted per test.
//
// Every accepted connection runs the test's Script on its own thread with a Wire (blocking
// socket) and the connection's index (0, 1, ...): the script reads requests and answers, stalls,
// sends in small pieces, closes or resets, as the test needs. Requests read with
// FakeUpstream::readRequest() are recorded so a test can inspect what reached the upstream.
//
// Ownership: the FakeUpstream owns the listener and every connection thread. Destruction stops
// accepting, shuts down the sockets of scripts still running (their reads end at once) and joins
// every thread. Thread-safe accessors; the Script must not outlive the FakeUpstream.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/wire.h"

namespace cosmoseal::integration {

class FakeUpstream {
 public:
  using Script = std::function<void(FakeUpstream& upstream, Wire& conn, int index)>;

  explicit FakeUpstream(Script script);
  ~FakeUpstream();
  FakeUpstream(const FakeUpstream&) = delete;
  FakeUpstream& operator=(const FakeUpstream&) = delete;

  bool ok() const { return listen_fd_ >= 0; }
  uint16_t port() const { return port_; }

  // Reads one request on `conn` and records it (kMessage only).
  ReadResult readRequest(Wire& conn, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Connections accepted so far.
  int connections() const { return accepted_.load(); }
  // Scripts that have returned.
  int finishedScripts() const { return finished_.load(); }
  // Every recorded request, in arrival order.
  std::vector<HttpMessage> requests() const;
  size_t requestCount() const;
  // Blocks until `n` requests were recorded; false on timeout.
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout);

 private:
  struct Connection {
    int fd = -1;
    bool open = true;
    std::thread thread;
  };

  void acceptLoop();

  Script script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::thread accept_thread_;

  mutable std::mutex mu_;  // guards the fields below
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<HttpMessage> requests_;
};

// "HTTP/1.1 <status> <reason>" with Content-Type JSON, Content-Length and `extra` header lines
// (each "Name: value\r\n").
std::string jsonResponse(int status, std::string_view body, std::string_view extra = "");

// Serves requests on `conn` until it closes: each one is answered with `answer(request)`.
void serveAll(FakeUpstream& upstream, Wire& conn,
              const std::function<std::string(const HttpMessage&)>& answer);

}  // namespace cosmoseal::integration
