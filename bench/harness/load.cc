#include "bench/harness/load.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace cosmoseal::bench {

using common::Status;

namespace {

constexpr uint64_t kNsPerMs = 1'000'000;
constexpr uint64_t kNsPerSec = 1'000'000'000;
constexpr size_t kMaxErrorSamples = 5;

int64_t unixNow() noexcept {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return ts.tv_sec;
}

// Bodies for writes: document j of the pool with its id cut out. A write of id X sends
// "{\"id\":\"" + X + rest[j]; the pool size is a multiple of the partition count, so the
// partition key inside rest[j] matches partitionKey(X's index).
class BodyPool {
 public:
  BodyPool(const DocumentGenerator& gen, uint64_t docs) {
    const uint64_t parts = static_cast<uint64_t>(std::max(1, gen.spec().partitions));
    uint64_t n = std::min<uint64_t>(std::max<uint64_t>(docs, 1), 256);
    n = (n + parts - 1) / parts * parts;
    rest_.reserve(n);
    for (uint64_t j = 0; j < n; ++j) {
      const std::string id = docId(j);
      std::string d = gen.make(j, id);
      rest_.push_back(d.substr(7 + id.size()));  // {"id":"<id>  is 7 + |id| bytes
    }
  }
  size_t size() const noexcept { return rest_.size(); }
  void body(uint64_t index, std::string_view id, std::string* out) const {
    out->assign("{\"id\":\"");
    out->append(id);
    out->append(rest_[index % rest_.size()]);
  }

 private:
  std::vector<std::string> rest_;
};

// State shared between the main thread and the workers.
struct Shared {
  std::atomic<bool> go{false};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> start_ns{0};
  std::atomic<uint64_t> measure_start_ns{0};
  std::atomic<uint64_t> end_ns{0};
};

struct WorkerStats {
  std::array<OpResult, kOpCount> ops;
  LatencyHistogram latency;
  LatencyHistogram service;
  std::map<int, uint64_t> errors_by_status;
  std::array<uint64_t, static_cast<int>(ErrorKind::kCount)> errors_by_kind{};
  std::vector<std::string> error_samples;
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t reconnects = 0;
  uint64_t issued = 0;
  uint64_t unsent = 0;
};

class LoadWorker final : public ConnOwner {
 public:
  LoadWorker(int index, const LoadOptions& opt, Shared* shared, const BodyPool* pool)
      : index_(index),
        opt_(opt),
        shared_(shared),
        pool_(pool),
        gen_(opt.doc),
        builder_(*opt.key, opt.target),
        rng_(opt.doc.seed * 1000003ULL + static_cast<uint64_t>(index) + 1) {
    if (opt.max_requests > 0) {
      budget_ = opt.max_requests / static_cast<uint64_t>(opt.threads);
      if (static_cast<uint64_t>(index) < opt.max_requests % static_cast<uint64_t>(opt.threads)) {
        ++budget_;
      }
    }
    uint64_t total = 0;
    for (uint32_t w : opt.weights) total += w;
    uint64_t acc = 0;
    for (int i = 0; i < kOpCount; ++i) {
      acc += opt.weights[i];
      cumulative_[i] = acc;
    }
    weight_total_ = total;
    if (opt.rate > 0) period_ns_ = 1e9 / opt.rate;
  }

  void start() { thread_ = std::thread([this] { run(); }); }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Thread-safe views for the main thread.
  int readyConnections() const noexcept { return ready_count_.load(std::memory_order_relaxed); }
  uint64_t completed() const noexcept { return completed_.load(std::memory_order_relaxed); }
  uint64_t failedCount() const noexcept { return failed_.load(std::memory_order_relaxed); }
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  uint64_t lastCompletionNs() const noexcept { return last_completion_ns_.load(); }
  void takeInterval(LatencyHistogram* into) {
    std::lock_guard<std::mutex> lock(interval_mu_);
    into->merge(interval_shared_);
    interval_shared_.reset();
  }
  void wake() {
    if (async_ready_.load()) uv_async_send(&async_);
  }
  WorkerStats& stats() noexcept { return stats_; }

  // ConnOwner
  void onConnReady(ClientConn* c) noexcept override {
    if (!c->ready_once) {
      c->ready_once = true;
      ready_count_.fetch_add(1, std::memory_order_relaxed);
    }
    idle_.push_back(c);
    if (started_) dispatch();
  }

  void onConnResponse(ClientConn* c, int status) noexcept override {
    const uint64_t now = uv_hrtime();
    --inflight_;
    const Op op = static_cast<Op>(c->op);
    if (inWindow(now)) {
      const uint64_t lat = now - c->intended_ns;
      stats_.latency.record(lat);
      stats_.service.record(now - c->sent_ns);
      interval_local_.record(lat);
      OpResult& r = stats_.ops[c->op];
      r.requests++;
      r.latency.record(lat);
      stats_.bytes_in += c->responseBytes();
      if (opSucceeded(op, status)) {
        r.ok++;
      } else {
        r.errors++;
        stats_.errors_by_status[status]++;
        failed_.fetch_add(1, std::memory_order_relaxed);
        if (stats_.error_samples.size() < kMaxErrorSamples) {
          stats_.error_samples.push_back(std::string(opName(op)) + ": HTTP " +
                                         std::to_string(status));
        }
      }
      last_completion_ns_.store(now, std::memory_order_relaxed);
    }
    completed_.fetch_add(1, std::memory_order_relaxed);
    if (stopping_) {
      c->close();
      if (inflight_ == 0) closeAll();
      return;
    }
    if (c->state() == ClientConn::State::kIdle) {
      idle_.push_back(c);
      dispatch();
    }
    maybeFinish();
  }

  void onConnFailed(ClientConn* c, ErrorKind kind, bool had_request,
                    const Status& why) noexcept override {
    const uint64_t now = uv_hrtime();
    removeIdle(c);
    c->had_failure = true;
    if (had_request) --inflight_;
    if (stopping_ && inflight_ == 0) closeAll();
    if ((had_request && inWindow(now)) || (!had_request && !stopping_)) {
      stats_.errors_by_kind[static_cast<int>(kind)]++;
      if (had_request) {
        OpResult& r = stats_.ops[c->op];
        r.requests++;
        r.errors++;
      }
      failed_.fetch_add(1, std::memory_order_relaxed);
      if (stats_.error_samples.size() < kMaxErrorSamples) {
        stats_.error_samples.push_back(std::string(kErrorKindNames[static_cast<int>(kind)]) +
                                       ": " + why.toString());
      }
    }
    maybeFinish();
  }

  void onConnClosed(ClientConn* c) noexcept override {
    removeIdle(c);
    if (stopping_) {
      if (--open_conns_ == 0) finishLoop();
      return;
    }
    --open_conns_;
    stats_.reconnects++;
    if (c->had_failure) {
      c->had_failure = false;
      reconnect_.push_back(c);  // after a pause (tick), never in a tight loop
    } else {
      ++open_conns_;
      c->connect();
    }
  }

 private:
  void run() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_, &LoadWorker::onAsync);
    async_.data = this;
    async_ready_.store(true);
    uv_timer_init(&loop_, &tick_);
    tick_.data = this;
    uv_timer_start(&tick_, &LoadWorker::onTick, 100, 100);
    if (period_ns_ > 0) {
      timer_fd_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
      uv_poll_init(&loop_, &pacer_, timer_fd_);
      pacer_.data = this;
      uv_poll_start(&pacer_, UV_READABLE, &LoadWorker::onPacer);
    }
    for (int c = index_; c < opt_.connections; c += opt_.threads) {
      conns_.push_back(std::make_unique<ClientConn>(&loop_, &opt_.endpoint, this, c));
    }
    open_conns_ = static_cast<int>(conns_.size());
    for (auto& c : conns_) c->connect();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
    flushInterval();
    done_.store(true, std::memory_order_release);
  }

  static void onAsync(uv_async_t* a) { static_cast<LoadWorker*>(a->data)->checkShared(); }

  // Reacts to the main thread's go/stop flags (from the async wake-up or the tick).
  // Returns true if stopping.
  bool checkShared() {
    if (stopping_) return true;
    if (shared_->stop.load()) {
      beginStop();
      return true;
    }
    if (!started_ && shared_->go.load()) {
      started_ = true;
      start_ns_ = shared_->start_ns.load();
      measure_start_ns_ = shared_->measure_start_ns.load();
      end_ns_ = shared_->end_ns.load();
      dispatch();
    }
    return false;
  }

  static void onTick(uv_timer_t* t) {
    auto* self = static_cast<LoadWorker*>(t->data);
    self->flushInterval();
    if (self->stopping_) {
      // Grace period for in-flight requests after the window closed.
      if (uv_hrtime() > self->stop_deadline_ns_) self->closeAll();
      return;
    }
    if (self->checkShared()) return;
    if (self->started_ && uv_hrtime() >= self->end_ns_) {
      self->beginStop();
      return;
    }
    std::vector<ClientConn*> again;
    again.swap(self->reconnect_);
    for (ClientConn* c : again) {
      ++self->open_conns_;
      c->connect();
    }
    if (self->started_) self->dispatch();
  }

  static void onPacer(uv_poll_t* p, int, int) {
    auto* self = static_cast<LoadWorker*>(p->data);
    uint64_t expirations;
    while (read(self->timer_fd_, &expirations, sizeof(expirations)) > 0) {
    }
    self->dispatch();
  }

  bool inWindow(uint64_t now) const noexcept {
    return started_ && now >= measure_start_ns_ && now < end_ns_;
  }

  bool canIssue(uint64_t now) const noexcept {
    if (!started_ || stopping_) return false;
    if (now >= end_ns_) return false;
    if (budget_ > 0 && stats_.issued >= budget_) return false;
    return true;
  }

  uint64_t intendedNs(uint64_t k) const noexcept {
    const double slot = static_cast<double>(k) * opt_.threads + index_;
    return start_ns_ + static_cast<uint64_t>(slot * period_ns_);
  }

  void dispatch() noexcept {
    const uint64_t now = uv_hrtime();
    if (period_ns_ <= 0) {
      while (!idle_.empty() && canIssue(now)) {
        ClientConn* c = idle_.back();
        idle_.pop_back();
        issue(c, now);
      }
    } else {
      while (!idle_.empty() && canIssue(now)) {
        const uint64_t t = intendedNs(next_seq_);
        if (t > now) break;
        if (t >= end_ns_) break;
        ClientConn* c = idle_.back();
        idle_.pop_back();
        ++next_seq_;
        issue(c, t);
      }
      if (canIssue(now) && !idle_.empty()) armPacer(intendedNs(next_seq_));
    }
    maybeFinish();
  }

  void armPacer(uint64_t at_ns) noexcept {
    struct itimerspec its;
    std::memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = static_cast<time_t>(at_ns / kNsPerSec);
    its.it_value.tv_nsec = static_cast<long>(at_ns % kNsPerSec);
    timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &its, nullptr);
  }

  Op pickOp() noexcept {
    const uint64_t x = rng_.below(weight_total_);
    for (int i = 0; i < kOpCount; ++i) {
      if (x < cumulative_[i]) return static_cast<Op>(i);
    }
    return Op::kRead;
  }

  void issue(ClientConn* c, uint64_t intended) noexcept {
    const Op op = pickOp();
    uint64_t idx = rng_.below(opt_.docs);
    std::string id;
    if (op == Op::kCreate) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "c-%s-%d-%" PRIu64, opt_.run_id.c_str(), index_,
                    create_seq_++);
      id = buf;
    } else {
      id = docId(idx);
    }
    body_.clear();
    if (op == Op::kCreate || op == Op::kUpsert || op == Op::kReplace) {
      idx %= pool_->size();
      pool_->body(idx, id, &body_);
    }
    req_.clear();
    builder_.build(op, id, gen_.partitionKey(idx), body_, unixNow(), &req_);
    c->op = static_cast<uint8_t>(op);
    c->intended_ns = intended;
    c->sent_ns = uv_hrtime();
    stats_.issued++;
    stats_.bytes_out += req_.size();
    ++inflight_;
    c->send(req_, opt_.timeout_ms);
  }

  void removeIdle(ClientConn* c) noexcept {
    idle_.erase(std::remove(idle_.begin(), idle_.end(), c), idle_.end());
  }

  void maybeFinish() noexcept {
    if (stopping_ || !started_) return;
    if (budget_ > 0 && stats_.issued >= budget_ && inflight_ == 0) beginStop();
  }

  void beginStop() noexcept {
    if (stopping_) return;
    stopping_ = true;
    end_ns_ = std::min(end_ns_, uv_hrtime());  // nothing completing from now on is counted
    if (period_ns_ > 0) {
      // Requests scheduled inside the window that were never sent (the target rate was not
      // sustained): report them, they are what an open-loop test is meant to expose.
      const uint64_t end = std::min(end_ns_, uv_hrtime());
      uint64_t scheduled = 0;
      if (end > start_ns_) {
        // Count of k with intendedNs(k) < end: k * threads + index < slots.
        const double slots = static_cast<double>(end - start_ns_) / period_ns_;
        const double mine = (slots - index_) / opt_.threads;
        scheduled = mine > 0 ? static_cast<uint64_t>(std::ceil(mine)) : 0;
      }
      stats_.unsent = scheduled > next_seq_ ? scheduled - next_seq_ : 0;
      if (budget_ > 0) stats_.unsent = 0;
    }
    stop_deadline_ns_ = uv_hrtime() + std::min<uint64_t>(opt_.timeout_ms, 2000) * kNsPerMs;
    for (ClientConn* c : std::vector<ClientConn*>(idle_)) c->close();
    idle_.clear();
    reconnect_.clear();  // already closed; they stay down
    if (inflight_ == 0) closeAll();
    if (open_conns_ == 0) finishLoop();
  }

  void closeAll() noexcept {
    for (auto& c : conns_) c->close();
    if (open_conns_ == 0) finishLoop();
  }

  void finishLoop() noexcept {
    if (finishing_) return;
    finishing_ = true;
    uv_timer_stop(&tick_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    async_ready_.store(false);
    if (period_ns_ > 0) uv_close(reinterpret_cast<uv_handle_t*>(&pacer_), nullptr);
  }

  void flushInterval() {
    std::lock_guard<std::mutex> lock(interval_mu_);
    interval_shared_.merge(interval_local_);
    interval_local_.reset();
  }

  int index_;
  const LoadOptions& opt_;
  Shared* shared_;
  const BodyPool* pool_;
  DocumentGenerator gen_;
  CosmosRequestBuilder builder_;
  SplitMix64 rng_;
  std::array<uint64_t, kOpCount> cumulative_{};
  uint64_t weight_total_ = 1;
  double period_ns_ = 0;  // per-request period of the whole run (open loop)
  uint64_t budget_ = 0;

  std::thread thread_;
  uv_loop_t loop_;
  uv_async_t async_;
  std::atomic<bool> async_ready_{false};
  uv_timer_t tick_;
  uv_poll_t pacer_;
  int timer_fd_ = -1;
  std::vector<std::unique_ptr<ClientConn>> conns_;
  std::vector<ClientConn*> idle_;
  std::vector<ClientConn*> reconnect_;
  int open_conns_ = 0;
  int inflight_ = 0;
  bool started_ = false;
  bool stopping_ = false;
  bool finishing_ = false;
  uint64_t start_ns_ = 0;
  uint64_t measure_start_ns_ = 0;
  uint64_t end_ns_ = UINT64_MAX;
  uint64_t stop_deadline_ns_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t create_seq_ = 0;
  std::string req_;
  std::string body_;

  WorkerStats stats_;
  LatencyHistogram interval_local_;
  std::mutex interval_mu_;
  LatencyHistogram interval_shared_;
  std::atomic<int> ready_count_{0};
  std::atomic<uint64_t> completed_{0};
  std::atomic<uint64_t> failed_{0};
  std::atomic<uint64_t> last_completion_ns_{0};
  std::atomic<bool> done_{false};
};

struct Sample {
  BoxCpu box;
  std::vector<uint64_t> cpu;  // per measured process
  uint64_t self_cpu = 0;
  uint64_t mono_ns = 0;
};

Sample takeSample(const std::vector<MeasuredProcess>& measure) {
  Sample s;
  readBoxCpu(&s.box);
  for (const MeasuredProcess& p : measure) s.cpu.push_back(processCpuNs(p.pid));
  s.self_cpu = processCpuNs(0);
  s.mono_ns = uv_hrtime();
  return s;
}

// % of one CPU used by processes other than the measured ones and this one, between a and b.
double foreignPct(const Sample& a, const Sample& b) {
  const double wall = static_cast<double>(b.mono_ns - a.mono_ns);
  if (wall <= 0) return 0;
  double own = static_cast<double>(b.self_cpu - a.self_cpu);
  for (size_t i = 0; i < a.cpu.size(); ++i) own += static_cast<double>(b.cpu[i] - a.cpu[i]);
  const double busy = static_cast<double>(b.box.busy_ns - a.box.busy_ns);
  return std::max(0.0, (busy - own) / wall * 100.0);
}

void sleepUntil(uint64_t mono_ns) {
  const uint64_t now = uv_hrtime();
  if (mono_ns > now) std::this_thread::sleep_for(std::chrono::nanoseconds(mono_ns - now));
}

std::string fmtMs(uint64_t ns) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", static_cast<double>(ns) / 1e6);
  return buf;
}

}  // namespace

std::string docId(uint64_t index) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "d%010" PRIu64, index);
  return buf;
}

void raiseFileLimit() {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

bool runLoad(const LoadOptions& opt, LoadResult* result, std::string* error) {
  // Precise pacer wake-ups (the default timer slack is 50 µs).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  raiseFileLimit();
  DocumentGenerator gen(opt.doc);
  BodyPool pool(gen, opt.docs);
  Shared shared;
  std::vector<std::unique_ptr<LoadWorker>> workers;
  for (int t = 0; t < opt.threads; ++t) {
    workers.push_back(std::make_unique<LoadWorker>(t, opt, &shared, &pool));
  }
  for (auto& w : workers) w->start();

  // Wait for the connections (at most 10 s), then start the schedule for everyone at once.
  const uint64_t connect_deadline = uv_hrtime() + 10 * kNsPerSec;
  int ready = 0;
  while (uv_hrtime() < connect_deadline) {
    ready = 0;
    for (auto& w : workers) ready += w->readyConnections();
    if (ready >= opt.connections) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  result->connections_established = ready;
  if (ready == 0) {
    shared.stop.store(true);
    for (auto& w : workers) w->wake();
    for (auto& w : workers) w->join();
    std::string why;
    for (auto& w : workers) {
      for (const std::string& s : w->stats().error_samples) why = s;
    }
    *error = "no connection to the target could be established" + (why.empty() ? "" : ": " + why);
    return false;
  }
  if (ready < opt.connections) {
    std::fprintf(stderr, "warning: only %d of %d connections are up; starting anyway\n", ready,
                 opt.connections);
  }

  const uint64_t start = uv_hrtime() + 2 * kNsPerMs;
  const uint64_t measure_start = start + opt.warmup_ns;
  const uint64_t end = measure_start + opt.duration_ns;
  shared.start_ns.store(start);
  shared.measure_start_ns.store(measure_start);
  shared.end_ns.store(end);
  shared.go.store(true);
  for (auto& w : workers) w->wake();

  // Main thread: samples at the window's edges and once per second for the progress line and
  // the foreign-CPU check.
  std::vector<uint64_t> rss_start;
  sleepUntil(measure_start);
  for (const MeasuredProcess& p : opt.measure) rss_start.push_back(processRssKb(p.pid));
  const Sample first = takeSample(opt.measure);
  Sample prev = first;
  uint64_t prev_completed = 0;
  for (auto& w : workers) prev_completed += w->completed();
  double max_foreign = 0;
  uint64_t next_tick = measure_start + kNsPerSec;
  const uint64_t run_start = start;
  Sample last = first;
  bool all_done = false;
  while (true) {
    const uint64_t now = uv_hrtime();
    all_done = true;
    for (auto& w : workers) all_done = all_done && w->done();
    if (now >= end || all_done) break;
    if (opt.interrupted != nullptr && opt.interrupted->load()) {
      std::fprintf(stderr, "interrupted: ending the measurement now\n");
      break;
    }
    if (now >= next_tick) {
      Sample s = takeSample(opt.measure);
      max_foreign = std::max(max_foreign, foreignPct(prev, s));
      uint64_t completed = 0;
      uint64_t failed = 0;
      LatencyHistogram iv;
      for (auto& w : workers) {
        completed += w->completed();
        failed += w->failedCount();
        w->takeInterval(&iv);
      }
      if (opt.progress) {
        const double secs = static_cast<double>(s.mono_ns - prev.mono_ns) / 1e9;
        std::fprintf(stderr, "[%4.0fs] %9.0f req/s  errors %-6" PRIu64 " p50 %s ms  p99 %s ms\n",
                     static_cast<double>(now - run_start) / 1e9,
                     static_cast<double>(completed - prev_completed) / secs, failed,
                     fmtMs(iv.percentile(50)).c_str(), fmtMs(iv.percentile(99)).c_str());
      }
      prev_completed = completed;
      prev = std::move(s);
      next_tick += kNsPerSec;
      continue;
    }
    const uint64_t wake = std::min(end, next_tick);
    const uint64_t step = std::min<uint64_t>(wake - now, 20 * kNsPerMs);
    std::this_thread::sleep_for(std::chrono::nanoseconds(step));
  }
  last = takeSample(opt.measure);
  std::vector<uint64_t> rss_end;
  for (const MeasuredProcess& p : opt.measure) rss_end.push_back(processRssKb(p.pid));
  uint64_t window_end = last.mono_ns;
  if (all_done) {
    uint64_t lc = 0;
    for (auto& w : workers) lc = std::max(lc, w->lastCompletionNs());
    if (lc > measure_start) window_end = std::min(window_end, lc);
  } else {
    window_end = std::min(window_end, end);
  }
  // Workers stop counting at `end`; after an interrupt they must stop at window_end instead.
  shared.end_ns.store(window_end);
  max_foreign = std::max(max_foreign, last.mono_ns - prev.mono_ns > 200 * kNsPerMs
                                          ? foreignPct(prev, last)
                                          : 0.0);

  shared.stop.store(true);
  for (auto& w : workers) w->wake();
  for (auto& w : workers) w->join();

  // Merge.
  LoadResult& r = *result;
  r.open_loop = opt.rate > 0;
  r.target_rate = opt.rate;
  r.elapsed_s = static_cast<double>(window_end - measure_start) / 1e9;
  for (auto& w : workers) {
    WorkerStats& s = w->stats();
    for (int i = 0; i < kOpCount; ++i) {
      r.ops[i].requests += s.ops[i].requests;
      r.ops[i].ok += s.ops[i].ok;
      r.ops[i].errors += s.ops[i].errors;
      r.ops[i].latency.merge(s.ops[i].latency);
    }
    r.latency.merge(s.latency);
    r.service.merge(s.service);
    for (const auto& [k, v] : s.errors_by_status) r.errors_by_status[k] += v;
    for (int i = 0; i < static_cast<int>(ErrorKind::kCount); ++i) {
      r.errors_by_kind[i] += s.errors_by_kind[i];
    }
    for (const std::string& e : s.error_samples) {
      if (r.error_samples.size() < kMaxErrorSamples) r.error_samples.push_back(e);
    }
    r.bytes_in += s.bytes_in;
    r.bytes_out += s.bytes_out;
    r.reconnects += s.reconnects;
    r.unsent += s.unsent;
  }
  for (const OpResult& o : r.ops) {
    r.requests += o.requests;
    r.ok += o.ok;
  }
  r.errors = r.requests - r.ok;
  for (size_t i = 0; i < opt.measure.size(); ++i) {
    ProcessUsage u;
    u.name = opt.measure[i].name;
    u.pid = opt.measure[i].pid;
    u.cpu_ns = last.cpu[i] >= first.cpu[i] ? last.cpu[i] - first.cpu[i] : 0;
    u.rss_kb_start = rss_start[i];
    u.rss_kb_end = rss_end[i];
    u.threads = processThreadCount(u.pid);
    u.alive = u.rss_kb_end > 0;
    r.processes.push_back(u);
  }
  r.self_cpu_ns = last.self_cpu - first.self_cpu;
  r.box_busy_ns = last.box.busy_ns - first.box.busy_ns;
  r.box_total_ns = last.box.total_ns - first.box.total_ns;
  r.foreign_cpu_pct = foreignPct(first, last);
  r.max_foreign_cpu_pct = std::max(max_foreign, r.foreign_cpu_pct);
  return true;
}

// =====================================================================================
// Setup
// =====================================================================================

namespace {

struct ScriptedRequest {
  std::string bytes;
  std::vector<int> accept;  // statuses that count as success
  std::string what;
};

// Runs a list of requests over up to `parallel` connections; stops at the first failure.
class ScriptRunner final : public ConnOwner {
 public:
  ScriptRunner(uv_loop_t* loop, const Endpoint* ep, uint64_t timeout_ms)
      : loop_(loop), ep_(ep), timeout_ms_(timeout_ms) {}

  // Returns true if every request got an accepted status. *statuses gets each one's status.
  bool run(std::vector<ScriptedRequest> reqs, int parallel, std::vector<int>* statuses,
           std::string* error) {
    reqs_ = std::move(reqs);
    statuses_.assign(reqs_.size(), 0);
    next_ = 0;
    done_ = 0;
    failed_ = false;
    const int n = std::max(1, std::min<int>(parallel, static_cast<int>(reqs_.size())));
    for (int i = 0; i < n; ++i) {
      conns_.push_back(std::make_unique<ClientConn>(loop_, ep_, this, i));
      conns_.back()->keepBody(true);
      owner_of_.push_back(SIZE_MAX);
      ++open_;
      conns_.back()->connect();
    }
    uv_run(loop_, UV_RUN_DEFAULT);
    conns_.clear();
    owner_of_.clear();
    if (statuses) *statuses = statuses_;
    if (failed_) *error = error_;
    return !failed_;
  }

  void onConnReady(ClientConn* c) noexcept override { next(c); }
  void onConnResponse(ClientConn* c, int status) noexcept override {
    const size_t i = owner_of_[c->index()];
    statuses_[i] = status;
    ++done_;
    const auto& acc = reqs_[i].accept;
    if (std::find(acc.begin(), acc.end(), status) == acc.end() && !failed_) {
      failed_ = true;
      std::string body = c->body();
      if (body.size() > 400) body = body.substr(0, 400) + "...";
      error_ = reqs_[i].what + ": HTTP " + std::to_string(status) + " " + body;
    }
    if (c->state() == ClientConn::State::kIdle) next(c);
  }
  void onConnFailed(ClientConn* c, ErrorKind kind, bool, const Status& why) noexcept override {
    if (!failed_) {
      failed_ = true;
      const size_t i = owner_of_[c->index()];
      error_ = (i < reqs_.size() ? reqs_[i].what : std::string("connect")) + ": " +
               kErrorKindNames[static_cast<int>(kind)] + ": " + why.toString();
    }
  }
  void onConnClosed(ClientConn* c) noexcept override {
    // A server that closes after a response ("Connection: close"): continue on a new one.
    if (!failed_ && next_ < reqs_.size()) {
      c->connect();
      return;
    }
    --open_;
  }

 private:
  void next(ClientConn* c) {
    if (failed_ || next_ >= reqs_.size()) {
      c->close();
      return;
    }
    owner_of_[c->index()] = next_;
    c->send(reqs_[next_].bytes, timeout_ms_);
    ++next_;
  }

  uv_loop_t* loop_;
  const Endpoint* ep_;
  uint64_t timeout_ms_;
  std::vector<ScriptedRequest> reqs_;
  std::vector<int> statuses_;
  std::vector<std::unique_ptr<ClientConn>> conns_;
  std::vector<size_t> owner_of_;
  size_t next_ = 0;
  size_t done_ = 0;
  int open_ = 0;
  bool failed_ = false;
  std::string error_;
};

const char* createdOrExisted(int status) { return status == 409 ? "exists" : "created"; }

}  // namespace

bool runSetup(const SetupOptions& opt, std::string* error) {
  raiseFileLimit();
  uv_loop_t loop;
  uv_loop_init(&loop);
  CosmosRequestBuilder builder(*opt.key, opt.target);
  ScriptRunner runner(&loop, &opt.endpoint, opt.timeout_ms);
  DocumentGenerator gen(opt.doc);
  const uint64_t t0 = uv_hrtime();
  bool ok = true;
  std::vector<int> st;

  // Account read: proves the address, the key and the signature before anything is created.
  {
    ScriptedRequest r;
    builder.buildRaw("GET", "/", "", "", "", "", unixNow(), &r.bytes);
    r.accept = {200};
    r.what = "GET / (account)";
    ok = runner.run({r}, 1, &st, error);
  }
  if (ok && opt.create_database) {
    ScriptedRequest r;
    builder.buildCreateDatabase(unixNow(), &r.bytes);
    r.accept = {201, 409};
    r.what = "create database '" + opt.target.database + "'";
    ok = runner.run({r}, 1, &st, error);
    if (ok) {
      std::fprintf(stderr, "setup: database '%s' %s\n", opt.target.database.c_str(),
                   createdOrExisted(st[0]));
    }
  }
  if (ok && opt.create_container) {
    ScriptedRequest r;
    builder.buildCreateContainer("/" + opt.doc.pk_field, unixNow(), &r.bytes);
    r.accept = {201, 409};
    r.what = "create container '" + opt.target.container + "'";
    ok = runner.run({r}, 1, &st, error);
    if (ok) {
      std::fprintf(stderr, "setup: container '%s' (partition key /%s) %s\n",
                   opt.target.container.c_str(), opt.doc.pk_field.c_str(),
                   createdOrExisted(st[0]));
    }
  }
  if (ok && opt.docs > 0) {
    std::vector<ScriptedRequest> reqs;
    reqs.reserve(opt.docs);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < opt.docs; ++i) {
      ScriptedRequest r;
      const std::string id = docId(i);
      const std::string body = gen.make(i, id);
      bytes += body.size();
      builder.build(Op::kUpsert, id, gen.partitionKey(i), body, unixNow(), &r.bytes);
      r.accept = {200, 201};
      r.what = "upsert document '" + id + "'";
      reqs.push_back(std::move(r));
    }
    ok = runner.run(std::move(reqs), opt.connections, &st, error);
    if (ok) {
      std::fprintf(stderr, "setup: %" PRIu64 " documents upserted (%.0f bytes each on average)\n",
                   opt.docs, static_cast<double>(bytes) / static_cast<double>(opt.docs));
    }
  }
  uv_loop_close(&loop);
  if (ok) {
    std::fprintf(stderr, "setup: done in %.2f s\n", static_cast<double>(uv_hrtime() - t0) / 1e9);
  }
  return ok;
}

// =====================================================================================
// Idle connections
// =====================================================================================

namespace {

class IdleHolder final : public ConnOwner {
 public:
  IdleHolder(uv_loop_t* loop, const IdleOptions& opt) : loop_(loop), opt_(opt) {}

  void open() {
    CosmosRequestBuilder builder(*opt_.key, opt_.target);
    DocumentGenerator gen(opt_.doc);
    const std::string id = docId(0);
    builder.build(Op::kRead, id, gen.partitionKey(0), "", unixNow(), &request_);
    for (int i = 0; i < opt_.connections; ++i) {
      conns_.push_back(std::make_unique<ClientConn>(loop_, &opt_.endpoint, this, i));
    }
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    // Open in batches of 100 every 10 ms so the listen backlog never overflows.
    uv_timer_start(&timer_, &IdleHolder::onBatch, 0, 10);
    uv_run(loop_, UV_RUN_DEFAULT);
  }

  // Call from a timer/idle check: have all connections settled (ready+answered, or failed)?
  bool settled() const noexcept { return established_ + failed_ >= opt_.connections; }

  void closeAll() {
    closing_ = true;
    for (auto& c : conns_) c->close();
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&timer_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    }
  }

  int established_ = 0;
  int failed_ = 0;
  int request_errors_ = 0;

  void onConnReady(ClientConn* c) noexcept override {
    if (!opt_.send_request) {
      ++established_;
      return;
    }
    c->send(request_, 10000);
  }
  void onConnResponse(ClientConn*, int status) noexcept override {
    ++established_;
    if (status != 200) ++request_errors_;
  }
  void onConnFailed(ClientConn*, ErrorKind, bool, const Status& why) noexcept override {
    if (closing_) return;
    ++failed_;
    if (failed_ == 1) std::fprintf(stderr, "idle: a connection failed: %s\n", why.toString().c_str());
  }
  void onConnClosed(ClientConn*) noexcept override {}

  std::function<void()> on_tick;

 private:
  static void onBatch(uv_timer_t* t) {
    auto* self = static_cast<IdleHolder*>(t->data);
    for (int k = 0; k < 100 && self->next_ < self->conns_.size(); ++k) {
      self->conns_[self->next_++]->connect();
    }
    if (self->on_tick) self->on_tick();
  }

  uv_loop_t* loop_;
  const IdleOptions& opt_;
  std::string request_;
  std::vector<std::unique_ptr<ClientConn>> conns_;
  size_t next_ = 0;
  uv_timer_t timer_;
  bool closing_ = false;
};

}  // namespace

bool runIdle(const IdleOptions& opt, IdleResult* result, std::string* error) {
  raiseFileLimit();
  result->requested = opt.connections;
  for (const MeasuredProcess& p : opt.measure) {
    ProcessUsage u;
    u.name = p.name;
    u.pid = p.pid;
    u.rss_kb_start = processRssKb(p.pid);
    result->processes.push_back(u);
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  IdleHolder holder(&loop, opt);
  const uint64_t t0 = uv_hrtime();
  uint64_t settled_at = 0;
  uint64_t sampled_at = 0;
  holder.on_tick = [&]() {
    const uint64_t now = uv_hrtime();
    if (settled_at == 0 && (holder.settled() || now - t0 > 30 * kNsPerSec)) {
      settled_at = now;
      result->open_seconds = static_cast<double>(now - t0) / 1e9;
      std::fprintf(stderr, "idle: %d of %d connections open (%d failed) after %.2f s; holding %.1f s\n",
                   holder.established_, opt.connections, holder.failed_, result->open_seconds,
                   static_cast<double>(opt.hold_ns) / 1e9);
    }
    if (settled_at == 0) return;
    // Sample RSS every 500 ms while holding (after a 500 ms settle); keep the maximum.
    if (now - settled_at >= 500 * kNsPerMs && now - sampled_at >= 500 * kNsPerMs) {
      sampled_at = now;
      for (ProcessUsage& u : result->processes) {
        u.rss_kb_end = std::max(u.rss_kb_end, processRssKb(u.pid));
        u.threads = processThreadCount(u.pid);
      }
    }
    if (now - settled_at >= std::max<uint64_t>(opt.hold_ns, 600 * kNsPerMs)) holder.closeAll();
  };
  holder.open();
  uv_loop_close(&loop);
  result->established = holder.established_;
  result->failed = holder.failed_;
  result->request_errors = holder.request_errors_;
  if (holder.established_ == 0) {
    *error = "no idle connection could be established";
    return false;
  }
  return true;
}

}  // namespace cosmoseal::bench
