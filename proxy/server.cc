#include "proxy/server.h"

#include <sched.h>
#include <signal.h>

#include <cstring>
#include <sstream>

#include "common/log.h"
#include "crypto/cpu.h"
#include "policy/simd_info.h"
#include "proxy/version.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

unsigned usableCpuCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return 1;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {
  std::memset(&loop_, 0, sizeof(loop_));
}

Server::~Server() {
  for (auto& w : workers_) w->join();
}

Status Server::startUp() {
  auto config = loadConfigFile(options_.config_path);
  if (!config.isOk()) return config.status();
  common::LogLevel level;
  const std::string& lvl =
      options_.log_level_override.empty() ? config->log_level : options_.log_level_override;
  if (common::log::parseLevel(lvl, &level)) common::log::setLevel(level);

  auto rt = Runtime::build(std::move(config).value(), ++generation_);
  if (!rt.isOk()) return rt.status();
  runtime_ = std::move(rt).value();
  const Config& c = runtime_->config();

  const unsigned nworkers = c.workers == 0 ? usableCpuCount() : c.workers;
  std::vector<int> fds;
  uint16_t port = c.listen.port;
  for (unsigned i = 0; i < nworkers; ++i) {
    auto fd = openReusePortListener(c.listen.address, port, i == 0);
    if (!fd.isOk()) {
      for (int f : fds) ::close(f);
      return fd.status();
    }
    if (i == 0 && port == 0) {
      struct sockaddr_storage ss;
      socklen_t len = sizeof(ss);
      getsockname(*fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
      port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
    }
    fds.push_back(*fd);
  }
  listen_port_ = port;
  shared_.throttle.configure(c.clients, shared_.clock->monotonicNanos());
  for (unsigned i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), fds[i], runtime_, &shared_));
  }
  for (auto& w : workers_) COSMOSEAL_RETURN_IF_ERROR(w->start());

  if (c.admin.enabled) {
    AdminServer::Hooks hooks;
    hooks.ready = [this] { return ready(); };
    hooks.metrics = [this] { return metricsText(); };
    hooks.reload = [this] { return reload(); };
    admin_ = std::make_unique<AdminServer>(&loop_, std::move(hooks));
    COSMOSEAL_RETURN_IF_ERROR(admin_->listen(c.admin.address, c.admin.port, &admin_port_));
  }

  const bool tls = runtime_->listenerTls() != nullptr;
  COSMOSEAL_LOG(kInfo) << "cosmoseal " << versionString() << " starting: config "
                       << options_.config_path;
  COSMOSEAL_LOG(kInfo) << "listening on " << (tls ? "https://" : "http://") << c.listen.address
                       << ":" << listen_port_ << " (" << nworkers << " worker"
                       << (nworkers == 1 ? "" : "s") << ", SO_REUSEPORT)";
  if (admin_) {
    COSMOSEAL_LOG(kInfo) << "admin on http://" << c.admin.address << ":" << admin_port_
                         << " (/healthz /readyz /metrics, POST /reload)";
  }
  COSMOSEAL_LOG(kInfo) << "upstream " << runtime_->upstreamOrigin() << " ("
                       << (runtime_->upstream().tls
                               ? (c.upstream.ca_file.empty() ? "TLS verified against the system "
                                                               "trust store"
                                                             : "TLS verified against " +
                                                                   c.upstream.ca_file)
                               : std::string("PLAIN HTTP - testing only"))
                       << ")";
  COSMOSEAL_LOG(kInfo) << c.clients.size() << " client(s), " << c.policies.size()
                       << " container polic" << (c.policies.size() == 1 ? "y" : "ies")
                       << "; simdjson kernel: " << policy::simdjsonActiveKernel()
                       << "; AES-NI: " << (crypto::aesNiInUse() ? "in use" : "not available")
                       << "; " << crypto::opensslVersion();
  return Status::ok();
}

int Server::run() {
  signal(SIGPIPE, SIG_IGN);
  common::log::setThreadName("main");
  uv_loop_init(&loop_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  uv_timer_init(&loop_, &drain_timer_);
  uv_timer_init(&loop_, &watch_timer_);
  sigterm_.data = sigint_.data = sighup_.data = this;
  drain_timer_.data = watch_timer_.data = this;
  handles_open_ = true;

  Status s = startUp();
  if (!s.isOk()) {
    COSMOSEAL_LOG(kError) << "cannot start: " << s.message();
    shared_.draining = true;
    for (auto& w : workers_) w->forceStop();
    for (auto& w : workers_) w->join();
    if (admin_) admin_->close([] {});
    closeControlHandles();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    return 1;
  }
  uv_signal_start(&sigterm_, &Server::onSignal, SIGTERM);
  uv_signal_start(&sigint_, &Server::onSignal, SIGINT);
  uv_signal_start(&sighup_, &Server::onSignal, SIGHUP);
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->join();
  uv_loop_close(&loop_);
  COSMOSEAL_LOG(kInfo) << "stopped" << (forced_ ? " (drain timeout: in-flight requests cut)" : "");
  return exit_code_;
}

void Server::onSignal(uv_signal_t* h, int signum) {
  auto* self = static_cast<Server*>(h->data);
  if (signum == SIGHUP) {
    Status s = self->reload();
    (void)s;
    return;
  }
  if (self->draining_) {
    COSMOSEAL_LOG(kWarn) << "second " << strsignal(signum) << ": stopping now";
    self->forced_ = true;
    for (auto& w : self->workers_) w->forceStop();
    return;
  }
  self->beginDrain(signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

void Server::beginDrain(const char* why) {
  draining_ = true;
  shared_.draining = true;
  const Config& c = runtime_->config();
  COSMOSEAL_LOG(kInfo) << why << ": draining (no new connections; in-flight requests get up to "
                       << c.timeouts.drain.count() << " ms)";
  for (auto& w : workers_) w->beginDrain();
  uv_timer_start(
      &drain_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Server*>(t->data);
        COSMOSEAL_LOG(kWarn) << "drain timeout: closing remaining connections";
        self->forced_ = true;
        for (auto& w : self->workers_) w->forceStop();
      },
      static_cast<uint64_t>(c.timeouts.drain.count()), 0);
  uv_timer_start(
      &watch_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->finishIfDrained(); }, 20,
      20);
}

void Server::finishIfDrained() {
  for (auto& w : workers_) {
    if (!w->finished()) return;
  }
  uv_timer_stop(&watch_timer_);
  if (admin_) {
    admin_->close([this] { closeControlHandles(); });
  } else {
    closeControlHandles();
  }
}

void Server::closeControlHandles() {
  if (!handles_open_) return;
  handles_open_ = false;
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&sigterm_), reinterpret_cast<uv_handle_t*>(&sigint_),
        reinterpret_cast<uv_handle_t*>(&sighup_), reinterpret_cast<uv_handle_t*>(&drain_timer_),
        reinterpret_cast<uv_handle_t*>(&watch_timer_)}) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
}

bool Server::ready() const {
  if (draining_ || !runtime_) return false;
  for (const auto& w : workers_) {
    if (w->finished()) return false;
  }
  return true;
}

Status Server::reload() {
  if (draining_) {
    return Status(Code::kUnavailable, "reload.draining", "the sidecar is shutting down");
  }
  auto config = loadConfigFile(options_.config_path);
  Status result;
  if (!config.isOk()) {
    result = config.status();
  } else {
    const Config& old = runtime_->config();
    const Config& nc = *config;
    if (nc.listen.address != old.listen.address || nc.listen.port != old.listen.port ||
        nc.admin.address != old.admin.address || nc.admin.port != old.admin.port ||
        nc.admin.enabled != old.admin.enabled || nc.workers != old.workers ||
        nc.listen.tls.has_value() != old.listen.tls.has_value()) {
      result = Status(Code::kFailedPrecondition, "reload.restart_required",
                      "listen, admin and workers cannot change on reload; restart the sidecar "
                      "to apply them");
    } else {
      auto rt = Runtime::build(std::move(config).value(), generation_ + 1);
      if (!rt.isOk()) {
        result = rt.status();
      } else {
        ++generation_;
        runtime_ = std::move(rt).value();
        shared_.throttle.configure(runtime_->config().clients, shared_.clock->monotonicNanos());
        for (auto& w : workers_) w->publishRuntime(runtime_);
        common::LogLevel level;
        if (options_.log_level_override.empty() &&
            common::log::parseLevel(runtime_->config().log_level, &level)) {
          common::log::setLevel(level);
        }
      }
    }
  }
  if (result.isOk()) {
    ++reloads_;
    COSMOSEAL_LOG(kInfo) << "reloaded " << options_.config_path << " (generation " << generation_
                         << ")";
  } else {
    ++reload_failures_;
    COSMOSEAL_LOG(kError) << "reload rejected, previous configuration stays in force: "
                          << result.message();
  }
  return result;
}

std::string Server::metricsText() const {
  auto sum = [this](auto member) {
    uint64_t v = 0;
    for (const auto& w : workers_) v += (w->stats().*member).load(std::memory_order_relaxed);
    return v;
  };
  std::ostringstream o;
  auto counter = [&o](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n"
      << name << " " << v << "\n";
  };
  auto gauge = [&o](const char* name, const char* help, uint64_t v) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n"
      << name << " " << v << "\n";
  };
  counter("cosmoseal_requests_total", "Requests received from applications.",
          sum(&WorkerStats::requests));
  o << "# HELP cosmoseal_responses_total Responses sent to applications by status class.\n"
       "# TYPE cosmoseal_responses_total counter\n";
  o << "cosmoseal_responses_total{class=\"2xx\"} " << sum(&WorkerStats::responses_2xx) << "\n";
  o << "cosmoseal_responses_total{class=\"3xx\"} " << sum(&WorkerStats::responses_3xx) << "\n";
  o << "cosmoseal_responses_total{class=\"4xx\"} " << sum(&WorkerStats::responses_4xx) << "\n";
  o << "cosmoseal_responses_total{class=\"5xx\"} " << sum(&WorkerStats::responses_5xx) << "\n";
  counter("cosmoseal_local_replies_total", "Requests answered by cosmoseal itself.",
          sum(&WorkerStats::local_replies));
  counter("cosmoseal_upstream_errors_total", "Failed upstream exchanges.",
          sum(&WorkerStats::upstream_errors));
  counter("cosmoseal_upstream_retries_total",
          "Idempotent requests retried on a fresh upstream connection.",
          sum(&WorkerStats::upstream_retries));
  counter("cosmoseal_discovery_rewrites_total", "Account documents rewritten.",
          sum(&WorkerStats::discovery_rewrites));
  counter("cosmoseal_connections_accepted_total", "Application connections accepted.",
          sum(&WorkerStats::connections_accepted));
  counter("cosmoseal_connections_rejected_total", "Connections refused over max_connections.",
          sum(&WorkerStats::connections_rejected));
  gauge("cosmoseal_connections_open", "Open application connections.",
        sum(&WorkerStats::connections_open));
  counter("cosmoseal_client_bytes_received_total", "Bytes received from applications.",
          sum(&WorkerStats::bytes_from_clients));
  gauge("cosmoseal_upstream_pool_idle", "Idle pooled upstream connections.",
        sum(&WorkerStats::upstream_pool_idle));
  gauge("cosmoseal_config_generation", "Configuration generation in force.", generation_);
  counter("cosmoseal_reloads_total", "Successful reloads.", reloads_);
  counter("cosmoseal_reload_failures_total", "Rejected reloads.", reload_failures_);
  gauge("cosmoseal_workers", "Worker threads.", workers_.size());
  return o.str();
}

}  // namespace cosmoseal::proxy
