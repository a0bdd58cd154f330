#include "proxy/server/server.h"

#include <malloc.h>
#include <sched.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <sstream>

#include "common/log.h"
#include "common/text.h"
#include "crypto/cpu.h"
#include "crypto/keyring.h"
#include "policy/simd_info.h"
#include "proxy/admission/auth.h"
#include "proxy/identity/token_cache.h"
#include "proxy/server/details.h"
#include "proxy/server/version.h"

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

  const AuditConfig audit_config = config->audit;
  auto rt = ConfigSnapshot::build(std::move(config).value(), ++generation_, nullptr, unwrapAuditor());
  if (!rt.isOk()) {
    // Refused unwraps are audited even though the sidecar does not start (issue 18).
    if (audit_config.enabled && !pending_unwrap_events_.empty()) {
      if (auto audit = AuditLog::open(audit_config); audit.isOk()) {
        for (const std::string& m : pending_unwrap_events_) (*audit)->recordEvent("key_unwrap", m);
        (*audit)->close();
      }
    }
    pending_unwrap_events_.clear();
    return rt.status();
  }
  snapshot_ = std::move(rt).value();
  // Apps with Entra ID tokens: the tenant's signing keys are fetched in the background from now
  // on; /readyz waits for the first set.
  if (snapshot_->entraKeys()) snapshot_->entraKeys()->start();
  if (const auto& tokens = snapshot_->upstreamTokens()) tokens->start();
  const Config& c = snapshot_->config();

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
  // Region ports: every worker listens on each of them too (SO_REUSEPORT, like the main port).
  std::vector<std::vector<int>> region_fds(nworkers);
  for (uint16_t rport : c.listen.region_ports) {
    for (unsigned i = 0; i < nworkers; ++i) {
      auto fd = openReusePortListener(c.listen.address, rport, i == 0);
      if (!fd.isOk()) {
        for (int f : fds) ::close(f);
        for (auto& v : region_fds) {
          for (int f : v) ::close(f);
        }
        return fd.status();
      }
      region_fds[i].push_back(*fd);
    }
  }
  shared_.regions.configure(c.listen.region_ports.size());
  shared_.throttle.configure(c.clients, shared_.clock->monotonicNanos());
  shared_.generation.store(generation_);
  if (c.audit.enabled) {
    auto audit = AuditLog::open(c.audit);
    if (!audit.isOk()) return audit.status();
    shared_.audit = std::move(audit).value();
    COSMOSEAL_LOG(kInfo) << "audit log: " << c.audit.path
                         << (c.audit.required ? " (required: requests are refused if it cannot "
                                                "be written)"
                                              : "");
  }
  flushUnwrapEvents();  // into the audit log when there is one
  for (unsigned i = 0; i < nworkers; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), fds[i], snapshot_, &shared_,
                                                std::move(region_fds[i])));
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

  const bool tls = snapshot_->listenerTls() != nullptr;
  COSMOSEAL_LOG(kInfo) << "cosmoseal " << versionString() << " starting: config "
                       << options_.config_path;
  COSMOSEAL_LOG(kInfo) << "listening on " << (tls ? "https://" : "http://") << c.listen.address
                       << ":" << listen_port_ << " (" << nworkers << " worker"
                       << (nworkers == 1 ? "" : "s") << ", SO_REUSEPORT)";
  if (!c.listen.region_ports.empty()) {
    std::string ports;
    for (uint16_t p : c.listen.region_ports)
      ports += (ports.empty() ? "" : ", ") + std::to_string(p);
    COSMOSEAL_LOG(kInfo) << "region ports " << ports
                         << " (given to account regions in the order account discovery names "
                            "them)";
  }
  if (admin_) {
    COSMOSEAL_LOG(kInfo) << "admin on http://" << c.admin.address << ":" << admin_port_
                         << " (/healthz /readyz /metrics, POST /reload)";
  }
  COSMOSEAL_LOG(kInfo) << "upstream " << snapshot_->upstreamOrigin() << " ("
                       << (snapshot_->upstream().tls
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
  // Buffered bodies (up to limits.max_response_body_bytes) come and go with every request. With
  // glibc's defaults the large ones are mmap'd and the worker arenas trimmed on free: an madvise
  // and fresh page faults per request. Keep them in the heap while busy; trimMemoryWhenIdle()
  // returns the memory once traffic stops.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  common::log::setThreadName("main");
  uv_loop_init(&loop_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sighup_);
  uv_signal_init(&loop_, &sigusr1_);
  uv_timer_init(&loop_, &budget_timer_);
  sigusr1_.data = this;
  budget_timer_.data = this;
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
  uv_signal_start(&sigusr1_, &Server::onSignal, SIGUSR1);
  uv_timer_start(
      &budget_timer_,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<Server*>(t->data);
        self->checkKeyBudgets();
        self->trimMemoryWhenIdle();
      },
      1000, 1000);
  if (snapshot_->config().watch) {
    watcher_ = std::make_unique<FileWatcher>(&loop_, [this] {
      COSMOSEAL_LOG(kInfo) << "watched files changed: reloading";
      Status rs = reload();
      (void)rs;  // logged by reload(); the old configuration stays in force on failure
    });
    const size_t dirs = watcher_->watch(watchedFiles());
    COSMOSEAL_LOG(kInfo) << "watching " << dirs << " director" << (dirs == 1 ? "y" : "ies")
                         << " for config, key and keyring changes (watch: true)";
  }
  uv_run(&loop_, UV_RUN_DEFAULT);
  for (auto& w : workers_) w->join();
  if (shared_.audit) shared_.audit->close();
  uv_loop_close(&loop_);
  COSMOSEAL_LOG(kInfo) << "stopped" << (forced_ ? " (drain timeout: in-flight requests cut)" : "");
  return exit_code_;
}

void Server::onSignal(uv_signal_t* h, int signum) noexcept {
  auto* self = static_cast<Server*>(h->data);
  if (signum == SIGHUP) {
    Status s = self->reload();
    (void)s;
    return;
  }
  if (signum == SIGUSR1) {
    if (self->shared_.audit) {
      self->shared_.audit->requestReopen();
    } else {
      COSMOSEAL_LOG(kInfo) << "SIGUSR1: no audit log to reopen";
    }
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
  const Config& c = snapshot_->config();
  COSMOSEAL_LOG(kInfo) << why << ": draining (no new connections; in-flight requests get up to "
                       << c.timeouts.drain.count() << " ms)";
  for (auto& w : workers_) w->beginDrain();
  uv_timer_start(
      &drain_timer_,
      [](uv_timer_t* t) noexcept {
        auto* self = static_cast<Server*>(t->data);
        COSMOSEAL_LOG(kWarn) << "drain timeout: closing remaining connections";
        self->forced_ = true;
        for (auto& w : self->workers_) w->forceStop();
      },
      static_cast<uint64_t>(c.timeouts.drain.count()), 0);
  uv_timer_start(
      &watch_timer_,
      [](uv_timer_t* t) noexcept { static_cast<Server*>(t->data)->finishIfDrained(); }, 20, 20);
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

std::vector<std::string> Server::watchedFiles() const {
  const Config& c = snapshot_->config();
  std::vector<std::string> f = {options_.config_path, c.upstream.key_file, c.upstream.ca_file};
  for (const ClientConfig& cc : c.clients) f.push_back(cc.key_file);
  if (c.keys) {
    f.push_back(c.keys->keyring_file);
    f.push_back(c.keys->kek_file);
    if (c.keys->kek) {
      f.push_back(c.keys->kek->file);
      f.push_back(c.keys->kek->pkcs11.pin_file);
    }
  }
  if (c.listen.tls) {
    f.push_back(c.listen.tls->cert_file);
    f.push_back(c.listen.tls->key_file);
  }
  if (c.listen.transparent) {
    f.push_back(c.listen.transparent->ca_cert_file);
    f.push_back(c.listen.transparent->ca_key_file);
  }
  return f;
}

void Server::closeControlHandles() {
  if (!handles_open_) return;
  handles_open_ = false;
  if (watcher_) watcher_->close([] {});
  for (uv_handle_t* h :
       {reinterpret_cast<uv_handle_t*>(&sigterm_), reinterpret_cast<uv_handle_t*>(&sigint_),
        reinterpret_cast<uv_handle_t*>(&sighup_), reinterpret_cast<uv_handle_t*>(&sigusr1_),
        reinterpret_cast<uv_handle_t*>(&budget_timer_),
        reinterpret_cast<uv_handle_t*>(&drain_timer_),
        reinterpret_cast<uv_handle_t*>(&watch_timer_)}) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
}

bool Server::ready() const {
  if (draining_ || !snapshot_) return false;
  if (snapshot_->entraKeys() && !snapshot_->entraKeys()->hasKeys()) return false;
  // With Entra ID upstream, not ready until a token is held (the token thread logs why not).
  // Same margin as admission: ready means a request would be sent now, not refused 503.
  if (const auto& tokens = snapshot_->upstreamTokens();
      tokens && tokens->current(kUpstreamTokenMargin) == nullptr) {
    return false;
  }
  for (const auto& w : workers_) {
    if (w->finished()) return false;
  }
  return true;
}

UnwrapObserver Server::unwrapAuditor() {
  return [this](const crypto::WrapEntry& e, const std::string& kek_id, const Status& result) {
    std::string m = "\"key\":\"";
    common::appendJsonEscaped(&m, e.name);
    m += "\",\"version\":" + std::to_string(e.version) + ",\"key_id\":\"" +
         crypto::formatKeyId(e.id) + "\",\"kek\":\"";
    common::appendJsonEscaped(&m, kek_id);
    m += "\",\"result\":\"";
    common::appendJsonEscaped(&m, result.isOk() ? std::string_view("ok") : result.detail());
    m += "\"";
    pending_unwrap_events_.push_back(std::move(m));
  };
}

void Server::flushUnwrapEvents() {
  if (shared_.audit) {
    for (const std::string& m : pending_unwrap_events_) shared_.audit->recordEvent("key_unwrap", m);
  }
  if (!pending_unwrap_events_.empty()) {
    COSMOSEAL_LOG(kInfo) << pending_unwrap_events_.size() << " data key unwrap(s)"
                         << (shared_.audit ? " audited" : " (no audit log configured)");
  }
  pending_unwrap_events_.clear();
}

Status Server::reload() {
  if (draining_) {
    return Status(Code::kUnavailable, server_detail::kDraining, "the sidecar is shutting down");
  }
  auto config = loadConfigFile(options_.config_path);
  Status result;
  if (!config.isOk()) {
    result = config.status();
  } else {
    const Config& old = snapshot_->config();
    const Config& nc = *config;
    if (nc.listen.address != old.listen.address || nc.listen.port != old.listen.port ||
        nc.admin.address != old.admin.address || nc.admin.port != old.admin.port ||
        nc.admin.enabled != old.admin.enabled || nc.workers != old.workers ||
        nc.listen.region_ports != old.listen.region_ports ||
        nc.listen.tls.has_value() != old.listen.tls.has_value() ||
        nc.audit.enabled != old.audit.enabled || nc.audit.path != old.audit.path ||
        nc.audit.required != old.audit.required || nc.audit.queue_size != old.audit.queue_size) {
      result = Status(Code::kFailedPrecondition, server_detail::kRestartRequired,
                      "listen, admin, workers and audit cannot change on reload; restart the "
                      "sidecar to apply them");
    } else {
      auto rt = ConfigSnapshot::build(std::move(config).value(), generation_ + 1, snapshot_.get(),
                                      unwrapAuditor());
      flushUnwrapEvents();
      if (!rt.isOk()) {
        result = rt.status();
      } else {
        ++generation_;
        shared_.generation.store(generation_);
        std::shared_ptr<identity::TokenCache> old_tokens = snapshot_->upstreamTokens();
        snapshot_ = std::move(rt).value();
        if (snapshot_->entraKeys()) snapshot_->entraKeys()->start();
        if (old_tokens != snapshot_->upstreamTokens()) {
          // upstream.auth changed: the new cache fetches its own token (readiness waits for it);
          // requests of the old snapshot keep the last token of the old one.
          if (old_tokens) old_tokens->stop();
          if (const auto& tokens = snapshot_->upstreamTokens()) tokens->start();
        }
        shared_.throttle.configure(snapshot_->config().clients, shared_.clock->monotonicNanos());
        for (auto& w : workers_) w->publishSnapshot(snapshot_);
        common::LogLevel level;
        if (options_.log_level_override.empty() &&
            common::log::parseLevel(snapshot_->config().log_level, &level)) {
          common::log::setLevel(level);
        }
      }
    }
  }
  if (result.isOk()) {
    if (watcher_) watcher_->watch(watchedFiles());
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

void Server::trimMemoryWhenIdle() {
  uint64_t requests = 0;
  for (const auto& w : workers_) requests += w->stats().requests.load(std::memory_order_relaxed);
  if (requests != last_requests_) {
    last_requests_ = requests;
    idle_ticks_ = 0;
    trimmed_ = false;
    return;
  }
  // Two quiet seconds after traffic: give the freed heap back (tuneAllocator keeps it while
  // busy, so requests do not fault their buffers in again every time).
  if (!trimmed_ && ++idle_ticks_ >= 2) {
    malloc_trim(0);
    trimmed_ = true;
  }
}

void Server::checkKeyBudgets() {
  if (!snapshot_ || !snapshot_->config().keys) return;
  const KeysConfig& k = *snapshot_->config().keys;
  MetricsSnapshot all;
  for (const auto& w : workers_) all.merge(w->metrics().snapshot());
  auto exhausted = std::make_shared<std::vector<uint32_t>>();
  const crypto::Keyring* ring = snapshot_->keyring().get();
  for (const auto& [id, u] : all.keys) {
    if (ring == nullptr || ring->byId(id) == nullptr) continue;  // retired: nothing to refuse
    if (k.alert_after_seals != 0 && u.randomized_seals >= k.alert_after_seals &&
        std::find(budget_alerted_.begin(), budget_alerted_.end(), id) == budget_alerted_.end()) {
      budget_alerted_.push_back(id);
      COSMOSEAL_LOG(kWarn) << "key '" << u.name << "' version " << u.version << " has sealed "
                           << u.randomized_seals
                           << " randomized values in this process (keys.alert_after_seals): "
                              "rotate it with `cosmoseal keygen` and reload";
    }
    if (k.refuse_after_seals != 0 && u.randomized_seals >= k.refuse_after_seals) {
      exhausted->push_back(id);
    }
  }
  auto previous = shared_.exhausted_keys.load();
  const size_t before = previous ? previous->size() : 0;
  if (exhausted->size() != before) {
    if (exhausted->size() > before) {
      COSMOSEAL_LOG(kError) << exhausted->size()
                            << " key version(s) past keys.refuse_after_seals: new randomized "
                               "encryptions with them are refused (crypto.key_budget)";
    }
    shared_.exhausted_keys.store(std::move(exhausted));
  }
}

namespace {

// Prometheus text format label value escaping: backslash, double quote, newline.
std::string labelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out.push_back(c);
  }
  return out;
}

class PromWriter {
 public:
  void family(const char* name, const char* type, const char* help) {
    o_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void sample(const std::string& name, const std::vector<std::pair<const char*, std::string>>& labels,
              double value) {
    o_ << name;
    if (!labels.empty()) {
      o_ << "{";
      for (size_t i = 0; i < labels.size(); ++i) {
        o_ << (i ? "," : "") << labels[i].first << "=\"" << labelValue(labels[i].second) << "\"";
      }
      o_ << "}";
    }
    o_ << " " << value << "\n";
  }
  void histogram(const char* name, const char* label, const std::string& label_value,
                 const Histogram& h) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < Histogram::kBounds.size(); ++i) {
      cumulative += h.buckets[i];
      std::ostringstream le;
      le << Histogram::kBounds[i];
      sample(std::string(name) + "_bucket", {{label, label_value}, {"le", le.str()}},
             static_cast<double>(cumulative));
    }
    cumulative += h.buckets.back();
    sample(std::string(name) + "_bucket", {{label, label_value}, {"le", "+Inf"}},
           static_cast<double>(cumulative));
    sample(std::string(name) + "_sum", {{label, label_value}}, h.sum);
    sample(std::string(name) + "_count", {{label, label_value}}, static_cast<double>(h.count));
  }
  std::string str() const { return o_.str(); }

 private:
  std::ostringstream o_;
};

}  // namespace

std::string Server::metricsText() const {
  MetricsSnapshot m;
  for (const auto& w : workers_) m.merge(w->metrics().snapshot());
  auto sum = [this](auto member) {
    uint64_t v = 0;
    for (const auto& w : workers_) v += (w->stats().*member).load(std::memory_order_relaxed);
    return static_cast<double>(v);
  };
  PromWriter p;
  p.family("cosmoseal_build_info", "gauge", "Version of the running cosmoseal.");
  p.sample("cosmoseal_build_info", {{"version", versionString()}}, 1);

  p.family("cosmoseal_requests_total", "counter",
           "Requests by client, operation and the status returned to the application.");
  for (const auto& [k, v] : m.requests) {
    p.sample("cosmoseal_requests_total",
             {{"client", std::get<0>(k)}, {"operation", std::get<1>(k)},
              {"status", std::to_string(std::get<2>(k))}},
             static_cast<double>(v));
  }
  p.family("cosmoseal_refusals_total", "counter",
           "Requests answered by cosmoseal itself, by detail code.");
  for (const auto& [k, v] : m.refusals) p.sample("cosmoseal_refusals_total", {{"detail", k}}, v);
  p.family("cosmoseal_crypto_failures_total", "counter",
           "Envelopes that could not be opened at protected locations, by detail code.");
  for (const auto& [k, v] : m.crypto_failures) {
    p.sample("cosmoseal_crypto_failures_total", {{"detail", k}}, static_cast<double>(v));
  }
  p.family("cosmoseal_throttled_total", "counter", "Requests refused by throttling.");
  for (const auto& [k, v] : m.throttled) {
    p.sample("cosmoseal_throttled_total", {{"client", k.first}, {"reason", k.second}},
             static_cast<double>(v));
  }
  p.family("cosmoseal_request_duration_seconds", "histogram",
           "Time from the request head to the end of the response, by operation.");
  for (const auto& [op, h] : m.latency) {
    p.histogram("cosmoseal_request_duration_seconds", "operation", op, h);
  }
  p.family("cosmoseal_upstream_duration_seconds", "histogram",
           "Time spent waiting for the upstream, by operation.");
  for (const auto& [op, h] : m.upstream_latency) {
    p.histogram("cosmoseal_upstream_duration_seconds", "operation", op, h);
  }
  p.family("cosmoseal_fields_encrypted_total", "counter", "Protected values encrypted.");
  p.sample("cosmoseal_fields_encrypted_total", {}, static_cast<double>(m.fields_encrypted));
  p.family("cosmoseal_fields_decrypted_total", "counter", "Envelopes decrypted.");
  p.sample("cosmoseal_fields_decrypted_total", {}, static_cast<double>(m.fields_decrypted));
  p.family("cosmoseal_envelope_lookalikes_total", "counter",
           "Strings that looked like envelopes but did not open (left as they were).");
  p.sample("cosmoseal_envelope_lookalikes_total", {}, static_cast<double>(m.lookalikes));
  p.family("cosmoseal_plaintext_at_protected_total", "counter",
           "Plaintext values found at protected paths in responses (data written before "
           "cosmoseal).");
  p.sample("cosmoseal_plaintext_at_protected_total", {},
           static_cast<double>(m.plaintext_at_protected));
  p.family("cosmoseal_key_seals_total", "counter",
           "Values encrypted per key version and mode (the randomized count is the GCM budget).");
  p.family("cosmoseal_key_opens_total", "counter", "Envelopes opened per key version.");
  for (const auto& [id, k] : m.keys) {
    char hex[16];
    snprintf(hex, sizeof(hex), "%08x", id);
    const std::string ver = std::to_string(k.version);
    p.sample("cosmoseal_key_seals_total",
             {{"key", k.name}, {"version", ver}, {"id", hex}, {"mode", "randomized"}},
             static_cast<double>(k.randomized_seals));
    p.sample("cosmoseal_key_seals_total",
             {{"key", k.name}, {"version", ver}, {"id", hex}, {"mode", "deterministic"}},
             static_cast<double>(k.deterministic_seals));
    p.sample("cosmoseal_key_opens_total", {{"key", k.name}, {"version", ver}, {"id", hex}},
             static_cast<double>(k.opens));
  }
  p.family("cosmoseal_key_budget_exhausted", "gauge",
           "Key versions whose randomized budget (keys.refuse_after_seals) is spent.");
  auto exhausted = shared_.exhausted_keys.load();
  p.sample("cosmoseal_key_budget_exhausted", {},
           exhausted ? static_cast<double>(exhausted->size()) : 0.0);

  p.family("cosmoseal_connections_open", "gauge", "Open application connections.");
  p.sample("cosmoseal_connections_open", {}, sum(&WorkerStats::connections_open));
  p.family("cosmoseal_buffered_bytes", "gauge",
           "Bytes of message bodies held in memory now (charged against "
           "limits.max_buffered_bytes).");
  p.sample("cosmoseal_buffered_bytes", {}, static_cast<double>(shared_.buffers.used()));
  p.family("cosmoseal_connections_accepted_total", "counter",
           "Application connections accepted.");
  p.sample("cosmoseal_connections_accepted_total", {}, sum(&WorkerStats::connections_accepted));
  p.family("cosmoseal_connections_rejected_total", "counter",
           "Application connections refused over limits.max_connections.");
  p.sample("cosmoseal_connections_rejected_total", {}, sum(&WorkerStats::connections_rejected));
  // Out of descriptors (docs/OPERATIONS.md "Overload"): connections the listeners did not take.
  auto accepts = [this](auto member) {
    uint64_t v = 0;
    for (const auto& w : workers_) v += (w->stats().accept.*member).load(std::memory_order_relaxed);
    return static_cast<double>(v);
  };
  p.family("cosmoseal_accept_errors_total", "counter",
           "Connections not taken, by listener and reason (emfile, enfile, descriptor_reserve, "
           "other); each one pauses accepting on that listener for a while.");
  struct AcceptReason {
    const char* name;
    AcceptCounters::Counter AcceptCounters::*member;
  };
  static constexpr AcceptReason kReasons[] = {
      {"emfile", &AcceptCounters::emfile},
      {"enfile", &AcceptCounters::enfile},
      {"descriptor_reserve", &AcceptCounters::descriptor_reserve},
      {"other", &AcceptCounters::other},
  };
  for (const AcceptReason& r : kReasons) {
    p.sample("cosmoseal_accept_errors_total", {{"listener", "app"}, {"reason", r.name}},
             accepts(r.member));
  }
  if (admin_) {
    for (const AcceptReason& r : kReasons) {
      p.sample("cosmoseal_accept_errors_total", {{"listener", "admin"}, {"reason", r.name}},
               static_cast<double>(
                   (admin_->acceptCounters().*r.member).load(std::memory_order_relaxed)));
    }
  }
  p.family("cosmoseal_accept_paused", "gauge",
           "Application listeners (one per worker) not accepting now for want of descriptors.");
  p.sample("cosmoseal_accept_paused", {}, accepts(&AcceptCounters::paused));
  p.family("cosmoseal_client_bytes_received_total", "counter", "Bytes received from applications.");
  p.sample("cosmoseal_client_bytes_received_total", {}, sum(&WorkerStats::bytes_from_clients));
  p.family("cosmoseal_client_bytes_sent_total", "counter", "Bytes sent to applications.");
  p.sample("cosmoseal_client_bytes_sent_total", {}, sum(&WorkerStats::bytes_to_clients));
  p.family("cosmoseal_upstream_errors_total", "counter", "Failed upstream exchanges.");
  p.sample("cosmoseal_upstream_errors_total", {}, sum(&WorkerStats::upstream_errors));
  p.family("cosmoseal_upstream_retries_total", "counter",
           "Idempotent requests retried on a fresh upstream connection.");
  p.sample("cosmoseal_upstream_retries_total", {}, sum(&WorkerStats::upstream_retries));
  p.family("cosmoseal_upstream_pool_idle", "gauge", "Idle pooled upstream connections.");
  p.sample("cosmoseal_upstream_pool_idle", {}, sum(&WorkerStats::upstream_pool_idle));
  p.family("cosmoseal_upstream_pool_connections", "gauge", "Open upstream connections.");
  p.sample("cosmoseal_upstream_pool_connections", {}, sum(&WorkerStats::upstream_pool_live));
  p.family("cosmoseal_upstream_aged_out_total", "counter",
           "Upstream connections closed instead of reused: older than upstream.pool.max_age.");
  p.sample("cosmoseal_upstream_aged_out_total", {}, sum(&WorkerStats::upstream_aged_out));
  p.family("cosmoseal_upstream_address_fallbacks_total", "counter",
           "Upstream connects that failed on one DNS address and went on to the next.");
  p.sample("cosmoseal_upstream_address_fallbacks_total", {},
           sum(&WorkerStats::upstream_address_fallbacks));
  p.family("cosmoseal_discovery_rewrites_total", "counter", "Account documents rewritten.");
  p.sample("cosmoseal_discovery_rewrites_total", {}, sum(&WorkerStats::discovery_rewrites));
  {
    const auto regions = shared_.regions.regions();
    p.family("cosmoseal_regions_known", "gauge",
             "Account regions given a region port (listen.region_ports) so far.");
    p.sample("cosmoseal_regions_known", {}, static_cast<double>(regions.size()));
    p.family("cosmoseal_upstream_region_requests_total", "counter",
             "Requests forwarded to a regional endpoint, by region (requests on the main port "
             "are not counted here).");
    for (const auto& r : regions) {
      p.sample("cosmoseal_upstream_region_requests_total", {{"region", r->name}},
               static_cast<double>(shared_.regions.requests(r->slot)));
    }
  }

  {
    const auto table = shared_.migrations.table();
    p.family("cosmoseal_migration_mixed", "gauge",
             "1 while a container with policies[].migration may hold plaintext at protected "
             "paths (its migration is not verified, or its state cannot be read), 0 once "
             "verified.");
    for (const auto& [key, status] : *table) {
      const size_t slash = key.find('/');
      p.sample("cosmoseal_migration_mixed",
               {{"database", key.substr(0, slash)}, {"container", key.substr(slash + 1)}},
               status.mixed ? 1.0 : 0.0);
    }
  }

  p.family("cosmoseal_config_generation", "gauge", "Configuration generation in force.");
  p.sample("cosmoseal_config_generation", {}, static_cast<double>(generation_));
  if (const auto& tokens = snapshot_ ? snapshot_->upstreamTokens() : nullptr) {
    const identity::TokenStats ts = tokens->stats();
    p.family("cosmoseal_upstream_token_refreshes_total", "counter",
             "Entra ID tokens obtained for the upstream.");
    p.sample("cosmoseal_upstream_token_refreshes_total", {}, static_cast<double>(ts.refreshes));
    p.family("cosmoseal_upstream_token_refresh_failures_total", "counter",
             "Failed upstream token fetches.");
    p.sample("cosmoseal_upstream_token_refresh_failures_total", {},
             static_cast<double>(ts.failures));
    p.family("cosmoseal_upstream_token_expiry_seconds", "gauge",
             "Seconds until the current upstream token expires (negative: expired; 0: none).");
    p.sample(
        "cosmoseal_upstream_token_expiry_seconds", {},
        ts.has_token ? static_cast<double>(ts.expires_on - shared_.clock->unixSeconds()) : 0.0);
  }
  {
    // Apps' Entra ID tokens: the tenant's signing keys and the unknown-kid holds. The families are
    // always listed (docs/OPERATIONS.md); samples only with an entra section.
    const std::shared_ptr<JwksCache>* keys = snapshot_ ? &snapshot_->entraKeys() : nullptr;
    const bool entra = keys != nullptr && *keys != nullptr;
    const JwksStats js = entra ? (*keys)->stats() : JwksStats{};
    auto entraSample = [&](const char* name,
                           const std::vector<std::pair<const char*, std::string>>& labels,
                           double value) {
      if (entra) p.sample(name, labels, value);
    };
    p.family("cosmoseal_entra_jwks_fetches_total", "counter",
             "Fetches of the tenant's signing keys (OpenID configuration + JWKS) attempted.");
    entraSample("cosmoseal_entra_jwks_fetches_total", {}, static_cast<double>(js.fetches));
    p.family("cosmoseal_entra_jwks_fetch_failures_total", "counter",
             "Fetches of the tenant's signing keys that failed (the keys held keep serving).");
    entraSample("cosmoseal_entra_jwks_fetch_failures_total", {}, static_cast<double>(js.failures));
    p.family("cosmoseal_entra_jwks_keys", "gauge", "Signing keys of the tenant held now.");
    entraSample("cosmoseal_entra_jwks_keys", {}, static_cast<double>(js.keys));
    p.family("cosmoseal_entra_jwks_age_seconds", "gauge",
             "Seconds since the last successful fetch of the tenant's signing keys (-1: none).");
    entraSample("cosmoseal_entra_jwks_age_seconds", {}, js.age_seconds);
    p.family("cosmoseal_entra_unknown_kid_held", "gauge",
             "Requests held now for a refresh of the tenant's keys (their token names an unknown "
             "kid).");
    entraSample("cosmoseal_entra_unknown_kid_held", {}, sum(&WorkerStats::entra_kid_held));
    p.family("cosmoseal_entra_unknown_kid_holds_total", "counter",
             "Requests held for a refresh of the tenant's keys.");
    entraSample("cosmoseal_entra_unknown_kid_holds_total", {}, sum(&WorkerStats::entra_kid_holds));
    p.family("cosmoseal_entra_unknown_kid_total", "counter",
             "Tokens naming an unknown kid, by outcome: served (held, then found), "
             "refused_after_wait, refused_at_once (no refresh to wait for: rate limit), "
             "refused_busy (entra.unknown_kid_max_held reached).");
    entraSample("cosmoseal_entra_unknown_kid_total", {{"outcome", "served"}},
                sum(&WorkerStats::entra_kid_served_after_wait));
    entraSample("cosmoseal_entra_unknown_kid_total", {{"outcome", "refused_after_wait"}},
                sum(&WorkerStats::entra_kid_refused_after_wait));
    entraSample("cosmoseal_entra_unknown_kid_total", {{"outcome", "refused_at_once"}},
                sum(&WorkerStats::entra_kid_refused_at_once));
    entraSample("cosmoseal_entra_unknown_kid_total", {{"outcome", "refused_busy"}},
                sum(&WorkerStats::entra_kid_refused_busy));
  }
  p.family("cosmoseal_reloads_total", "counter", "Successful reloads.");
  p.sample("cosmoseal_reloads_total", {}, static_cast<double>(reloads_));
  p.family("cosmoseal_reload_failures_total", "counter", "Rejected reloads.");
  p.sample("cosmoseal_reload_failures_total", {}, static_cast<double>(reload_failures_));
  p.family("cosmoseal_workers", "gauge", "Worker threads.");
  p.sample("cosmoseal_workers", {}, static_cast<double>(workers_.size()));
  p.family("cosmoseal_draining", "gauge", "1 while draining after SIGTERM.");
  p.sample("cosmoseal_draining", {}, draining_ ? 1.0 : 0.0);
  if (shared_.audit) {
    const AuditStats a = shared_.audit->stats();
    p.family("cosmoseal_audit_records_total", "counter", "Audit lines written.");
    p.sample("cosmoseal_audit_records_total", {}, static_cast<double>(a.written));
    p.family("cosmoseal_audit_dropped_total", "counter",
             "Audit lines dropped (queue full, audit.required false).");
    p.sample("cosmoseal_audit_dropped_total", {}, static_cast<double>(a.dropped));
    p.family("cosmoseal_audit_write_failures_total", "counter", "Failed audit writes.");
    p.sample("cosmoseal_audit_write_failures_total", {}, static_cast<double>(a.write_failures));
    p.family("cosmoseal_audit_refused_total", "counter",
             "Requests refused because the audit log was unavailable (audit.required).");
    p.sample("cosmoseal_audit_refused_total", {}, static_cast<double>(a.refused));
  }
  return p.str();
}

}  // namespace cosmoseal::proxy
