#include "proxy/observability/audit.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/log.h"
#include "common/text.h"
#include "crypto/aead.h"
#include "proxy/http1/codec.h"
#include "proxy/observability/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kHashKey = ",\"hash\":\"";
constexpr std::string_view kPrevKey = ",\"prev\":\"";

std::string hexOf(const uint8_t* b, size_t n) {
  std::string s;
  s.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    s.push_back(kHex[b[i] >> 4]);
    s.push_back(kHex[b[i] & 0xF]);
  }
  return s;
}

bool unhex(std::string_view h, uint8_t* out, size_t n) {
  if (h.size() != n * 2) return false;
  auto v = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < n; ++i) {
    int hi = v(h[2 * i]), lo = v(h[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

void chainHash(const uint8_t prev[32], std::string_view prefix, uint8_t out[32]) {
  std::string buf;
  buf.reserve(32 + prefix.size());
  buf.append(reinterpret_cast<const char*>(prev), 32);
  buf.append(prefix);
  crypto::sha256(crypto::ByteSpan(reinterpret_cast<const uint8_t*>(buf.data()), buf.size()), out);
}

std::string isoTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char b[64];
  snprintf(b, sizeof(b), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return b;
}

void member(std::string* o, std::string_view key, std::string_view value) {
  o->append(",\"");
  o->append(key);
  o->append("\":\"");
  common::appendJsonEscaped(o, value);
  o->push_back('"');
}

void member(std::string* o, std::string_view key, uint64_t value) {
  o->append(",\"");
  o->append(key);
  o->append("\":");
  o->append(std::to_string(value));
}

// One parsed line: seq, prev, hash and the hashed prefix.
struct ParsedLine {
  uint64_t seq = 0;
  uint8_t prev[32];
  uint8_t hash[32];
  std::string_view prefix;
};

bool parseLine(std::string_view line, ParsedLine* p) {
  constexpr std::string_view kStart = "{\"seq\":";
  if (line.substr(0, kStart.size()) != kStart || line.size() < 2 || line.substr(line.size() - 2) != "\"}") {
    return false;
  }
  size_t i = kStart.size();
  if (i >= line.size() || line[i] < '0' || line[i] > '9') return false;
  uint64_t seq = 0;
  while (i < line.size() && line[i] >= '0' && line[i] <= '9') seq = seq * 10 + (line[i++] - '0');
  const size_t h = line.rfind(kHashKey);
  if (h == std::string_view::npos || h + kHashKey.size() + 64 + 2 != line.size()) return false;
  const size_t pv = line.rfind(kPrevKey, h);
  if (pv == std::string_view::npos || pv + kPrevKey.size() + 64 + 1 != h) return false;
  if (!unhex(line.substr(h + kHashKey.size(), 64), p->hash, 32)) return false;
  if (!unhex(line.substr(pv + kPrevKey.size(), 64), p->prev, 32)) return false;
  p->seq = seq;
  p->prefix = line.substr(0, h);
  return true;
}

}  // namespace

std::string formatAuditMembers(const AuditRecord& r) {
  std::string o;
  o.reserve(320);
  o.append("\"time\":\"");
  o.append(isoTime(r.time_ms));
  o.push_back('"');
  member(&o, "client", r.client);
  if (!r.identity.empty()) member(&o, "identity", r.identity);
  member(&o, "verb", r.verb);
  member(&o, "resource", r.resource);
  member(&o, "database", r.database);
  member(&o, "container", r.container);
  member(&o, "id", r.id);
  member(&o, "operation", r.operation);
  member(&o, "status", static_cast<uint64_t>(r.status));
  member(&o, "upstream_status", static_cast<uint64_t>(r.upstream_status));
  member(&o, "latency_us", r.latency_us);
  member(&o, "request_charge", r.request_charge);
  member(&o, "encrypted", r.encrypted);
  member(&o, "decrypted", r.decrypted);
  member(&o, "detail", r.detail);
  o.append(",\"keys\":[");
  for (size_t i = 0; i < r.key_ids.size(); ++i) {
    char b[16];
    snprintf(b, sizeof(b), "%s\"%08x\"", i ? "," : "", r.key_ids[i]);
    o.append(b);
  }
  o.push_back(']');
  return o;
}

// ---------------- AuditSlot ----------------

AuditSlot::~AuditSlot() {
  if (log_ != nullptr) log_->release();
}

AuditSlot& AuditSlot::operator=(AuditSlot&& o) noexcept {
  if (this != &o) {
    if (log_ != nullptr) log_->release();
    log_ = o.log_;
    o.log_ = nullptr;
  }
  return *this;
}

void AuditSlot::submit(const AuditRecord& record) {
  if (log_ == nullptr) return;
  AuditLog* l = log_;
  log_ = nullptr;
  l->push(formatAuditMembers(record));
}

// ---------------- AuditLog ----------------

AuditLog::AuditLog(const AuditConfig& config) : config_(config) {}

AuditLog::~AuditLog() { close(); }

common::StatusOr<std::unique_ptr<AuditLog>> AuditLog::open(const AuditConfig& config) {
  std::unique_ptr<AuditLog> log(new AuditLog(config));
  COSMOSEAL_RETURN_IF_ERROR(log->openFile());
  // Continue the chain from the file's last line (restarts keep one chain per file). Only a
  // regular file is read back, and only its tail: a device or FIFO has no history to continue.
  struct stat st;
  if (log->own_fd_ && fstat(log->fd_, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    constexpr off_t kTail = 64 * 1024;  // a record is far smaller
    std::ifstream in(config.path, std::ios::binary);
    const off_t from = st.st_size > kTail ? st.st_size - kTail : 0;
    in.seekg(from);
    std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    const size_t nl = tail.rfind('\n');
    const std::string last = nl == std::string::npos ? tail : tail.substr(nl + 1);
    if (!last.empty()) {
      ParsedLine p;
      if (parseLine(last, &p)) {
        log->seq_ = p.seq;
        std::memcpy(log->prev_, p.hash, 32);
      } else {
        COSMOSEAL_LOG(kError) << "audit: the last line of " << config.path
                              << " is not a chained audit record; a new chain starts here "
                                 "(audit verify will report the break)";
      }
    }
  }
  // A first, synchronous record proves the log is writable before any request is admitted.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const std::string start = log->chainLine("\"time\":\"" + isoTime(now_ms) +
                                           "\",\"event\":\"audit_started\"");
  if (!log->writeAll(start)) {
    const int err = errno;
    if (config.required) {
      return Status(Code::kFailedPrecondition, observability_detail::kUnavailable,
                    "cannot write the audit log '" + config.path + "': " + strerror(err) +
                        " (audit.required: cosmoseal does not start without it)");
    }
    COSMOSEAL_LOG(kError) << "audit: cannot write " << config.path << ": " << strerror(err)
                          << "; records are dropped until it recovers (audit.required is off)";
    log->failing_.store(true);
  } else {
    log->stats_.written = 1;
  }
  log->stats_.seq = log->seq_;
  log->thread_ = std::thread([l = log.get()] { l->run(); });
  return log;
}

std::string AuditLog::chainLine(const std::string& members) {
  ++seq_;
  std::string line = "{\"seq\":" + std::to_string(seq_) + "," + members + std::string(kPrevKey) +
                     hexOf(prev_, 32) + "\"";
  uint8_t h[32];
  chainHash(prev_, line, h);
  line.append(kHashKey);
  line.append(hexOf(h, 32));
  line.append("\"}\n");
  std::memcpy(prev_, h, 32);
  return line;
}

Status AuditLog::openFile() {
  if (config_.path == "stdout" || config_.path == "stderr") {
    fd_ = config_.path == "stdout" ? STDOUT_FILENO : STDERR_FILENO;
    own_fd_ = false;
    return Status::ok();
  }
  int fd = ::open(config_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status(Code::kFailedPrecondition, observability_detail::kOpenFailed,
                  "cannot open audit log '" + config_.path + "': " + strerror(errno));
  }
  if (own_fd_ && fd_ >= 0) ::close(fd_);
  fd_ = fd;
  own_fd_ = true;
  return Status::ok();
}

common::StatusOr<AuditSlot> AuditLog::admit() {
  std::lock_guard<std::mutex> lock(mu_);
  if (config_.required &&
      (failing_.load() || queue_.size() + reserved_ >= config_.queue_size)) {
    ++stats_.refused;
    return Status(Code::kUnavailable, observability_detail::kUnavailable,
                  failing_.load() ? "the audit log cannot be written; requests are refused until "
                                    "it recovers (audit.required)"
                                  : "the audit queue is full; requests are refused until it "
                                    "drains (audit.required)");
  }
  ++reserved_;
  return AuditSlot(this);
}

void AuditLog::release() {
  std::lock_guard<std::mutex> lock(mu_);
  if (reserved_ > 0) --reserved_;
}

void AuditLog::recordEvent(std::string_view event, std::string_view members) {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::string line = "\"time\":\"" + isoTime(now_ms) + "\",\"event\":\"";
  line.append(event).append("\"");
  if (!members.empty()) line.append(",").append(members);
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) {
      ++stats_.dropped;
      return;
    }
    wake = queue_.empty();
    queue_.push_back(std::move(line));
  }
  if (wake) cv_.notify_one();
}

void AuditLog::push(std::string members) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reserved_ > 0) --reserved_;
    if (stop_ || (!config_.required && queue_.size() >= config_.queue_size)) {
      ++stats_.dropped;
      return;
    }
    // The writer only sleeps on an empty queue (run() waits for !queue_.empty()): the first
    // record wakes it, the ones behind it ride along without a futex call each.
    wake = queue_.empty();
    queue_.push_back(std::move(members));
  }
  if (wake) cv_.notify_one();
}

void AuditLog::requestReopen() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
}

bool AuditLog::writeAll(const std::string& data) {
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    left -= static_cast<size_t>(n);
  }
  return true;
}

namespace {
constexpr auto kGatherTime = std::chrono::milliseconds(2);
}  // namespace

void AuditLog::run() {
  common::log::setThreadName("audit");
  std::deque<std::string> batch;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait_for(lock, std::chrono::seconds(1),
                 [&] { return stop_ || reopen_ || !queue_.empty(); });
    // Under load, let records gather for a moment: one write and one wake-up per batch instead
    // of per request. Stop and reopen still wake it at once; a full queue does not wait.
    if (!stop_ && !reopen_ && !queue_.empty() && queue_.size() < config_.queue_size / 2) {
      cv_.wait_for(lock, kGatherTime, [&] { return stop_ || reopen_; });
    }
    const bool reopen = reopen_ || (failing_.load() && own_fd_);
    reopen_ = false;
    batch.swap(queue_);
    const bool stopping = stop_;
    lock.unlock();

    if (reopen) {
      Status s = openFile();
      if (!s.isOk()) {
        COSMOSEAL_LOG(kError) << "audit: " << s.message();
      }
    }
    // Only a successful write proves the log works again. While failing (and nothing else is
    // queued, as required mode refuses requests), write a chained marker record as the probe.
    if (failing_.load() && batch.empty()) {
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
      batch.push_back("\"time\":\"" + isoTime(now_ms) +
                      "\",\"event\":\"audit_resumed\",\"note\":\"the audit log could not be "
                      "written before this record; see write failures in the metrics\"");
    }
    uint64_t written = 0;
    bool ok = true;
    if (!batch.empty()) {
      std::string out;
      out.reserve(batch.size() * 400);
      for (const std::string& m : batch) out.append(chainLine(m));
      ok = writeAll(out);
      const int err = errno;
      written = batch.size();
      batch.clear();
      if (!ok && !failing_.load()) {
        COSMOSEAL_LOG(kError) << "audit: write to " << config_.path << " failed: " << strerror(err)
                              << (config_.required ? "; new requests are refused" : "");
      } else if (ok && failing_.load()) {
        COSMOSEAL_LOG(kInfo) << "audit: " << config_.path << " is writable again";
      }
    }

    lock.lock();
    // Counters first, then the state admission reads: an observer that sees the refusal also
    // sees the failure counted.
    if (ok) {
      stats_.written += written;
    } else {
      ++stats_.write_failures;
    }
    failing_.store(!ok || (failing_.load() && written == 0));
    if (reopen) ++stats_.reopens;
    stats_.seq = seq_;
    if (stopping && queue_.empty()) break;
  }
}

void AuditLog::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (own_fd_ && fd_ >= 0) {
    fsync(fd_);
    ::close(fd_);
  }
  fd_ = -1;
}

AuditStats AuditLog::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// ---------------- verification ----------------

Status verifyAuditText(const std::vector<std::string>& file_texts,
                       const std::vector<std::string>& names, uint64_t* records) {
  *records = 0;
  bool have_prev = false;
  uint8_t prev[32] = {};
  uint64_t prev_seq = 0;
  for (size_t f = 0; f < file_texts.size(); ++f) {
    std::string_view text = file_texts[f];
    size_t line_no = 0;
    while (!text.empty()) {
      const size_t nl = text.find('\n');
      std::string_view line = text.substr(0, nl);
      text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
      ++line_no;
      if (line.empty()) continue;
      const std::string where = names[f] + ":" + std::to_string(line_no);
      ParsedLine p;
      if (!parseLine(line, &p)) {
        return Status(Code::kInvalidArgument, observability_detail::kBadLine,
                      where + ": not a chained audit record (edited or truncated)");
      }
      if (have_prev) {
        if (std::memcmp(p.prev, prev, 32) != 0) {
          return Status(Code::kInvalidArgument, observability_detail::kChainBroken,
                        where + ": seq " + std::to_string(p.seq) +
                            " does not link to the previous record (a record was removed, "
                            "inserted or reordered before it)");
        }
        if (p.seq != prev_seq + 1) {
          return Status(Code::kInvalidArgument, observability_detail::kChainBroken,
                        where + ": seq " + std::to_string(p.seq) + " follows seq " +
                            std::to_string(prev_seq) + " (records are missing)");
        }
      }
      uint8_t h[32];
      chainHash(p.prev, p.prefix, h);
      if (std::memcmp(h, p.hash, 32) != 0) {
        return Status(Code::kInvalidArgument, observability_detail::kChainBroken,
                      where + ": seq " + std::to_string(p.seq) +
                          " does not match its hash (the record was edited)");
      }
      std::memcpy(prev, p.hash, 32);
      prev_seq = p.seq;
      have_prev = true;
      ++*records;
    }
  }
  return Status::ok();
}

}  // namespace cosmoseal::proxy
