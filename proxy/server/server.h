#pragma once

// Server: the control thread. Loads the configuration into a ConfigSnapshot snapshot, opens the
// SO_REUSEPORT listeners, starts the workers and the admin listener, handles signals:
//   SIGTERM / SIGINT  drain: stop accepting, finish in-flight requests (Connection: close),
//                     exit 0 within timeouts.drain (a second signal stops at once);
//   SIGHUP            reload: re-read config, keys and keyring, validate, swap atomically; a bad
//                     config is rejected and the old one stays in force.
//   SIGUSR1           reopen the audit log file (log rotation).

#include <uv.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "proxy/server/admin.h"
#include "proxy/config/file_watch.h"
#include "proxy/config/snapshot.h"
#include "proxy/server/worker.h"

namespace cosmoseal::proxy {

struct ServerOptions {
  std::string config_path;
  std::string log_level_override;  // --log-level
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Runs until drained. Returns the process exit code (0 on a clean shutdown).
  int run();

  // Control thread: reload now (SIGHUP, POST /reload).
  common::Status reload();
  // Prometheus text for /metrics.
  std::string metricsText() const;
  bool ready() const;

 private:
  // Audits every data-key unwrap of a snapshot build (pending until the audit log opens).
  UnwrapObserver unwrapAuditor();
  void flushUnwrapEvents();
  common::Status startUp();
  void beginDrain(const char* why);
  void finishIfDrained();
  void closeControlHandles();
  void checkKeyBudgets();
  // Once a second: after two seconds without requests, return freed heap to the system.
  void trimMemoryWhenIdle();
  // Every file the configuration names (for watch: true).
  std::vector<std::string> watchedFiles() const;
  static void onSignal(uv_signal_t* h, int signum) noexcept;

  ServerOptions options_;
  uv_loop_t loop_;
  uv_signal_t sigterm_, sigint_, sighup_, sigusr1_;
  uv_timer_t budget_timer_;  // key-budget check, once a second
  uv_timer_t drain_timer_;   // drain deadline
  uv_timer_t watch_timer_;   // polls for workers that finished draining
  bool handles_open_ = false;
  std::shared_ptr<const ConfigSnapshot> snapshot_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<FileWatcher> watcher_;  // watch: true
  SharedState shared_;
  uint16_t listen_port_ = 0;
  uint16_t admin_port_ = 0;
  bool draining_ = false;
  bool forced_ = false;
  uint64_t generation_ = 0;
  uint64_t reloads_ = 0;
  uint64_t reload_failures_ = 0;
  int exit_code_ = 0;
  std::vector<uint32_t> budget_alerted_;  // key ids already warned about
  // Data-key unwraps (startup, reload) as audit event members; held until the audit log is open.
  std::vector<std::string> pending_unwrap_events_;
  uint64_t last_requests_ = 0;  // trimMemoryWhenIdle: requests seen at the last tick
  int idle_ticks_ = 0;
  bool trimmed_ = true;
};

// Number of CPUs this process may run on (sched_getaffinity), at least 1.
unsigned usableCpuCount();

}  // namespace cosmoseal::proxy
