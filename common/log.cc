#include "common/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace cosmoseal::common::log {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_fd{-1};
thread_local std::string t_thread_name;

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

}  // namespace

void setLevel(LogLevel level) noexcept { g_level.store(static_cast<int>(level)); }
LogLevel level() noexcept { return static_cast<LogLevel>(g_level.load()); }
bool enabled(LogLevel level) noexcept {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

bool parseLevel(std::string_view text, LogLevel* out) noexcept {
  static constexpr std::pair<std::string_view, LogLevel> kNames[] = {
      {"debug", LogLevel::kDebug}, {"info", LogLevel::kInfo}, {"warn", LogLevel::kWarn},
      {"error", LogLevel::kError}, {"off", LogLevel::kOff}};
  for (const auto& [name, lvl] : kNames) {
    if (text == name) {
      *out = lvl;
      return true;
    }
  }
  return false;
}

void setThreadName(std::string_view name) { t_thread_name = std::string(name); }
void setFdForTest(int fd) noexcept { g_fd.store(fd); }

Line::~Line() {
  struct timeval tv;
  gettimeofday(&tv, nullptr);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char stamp[64];
  snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
           static_cast<int>(tv.tv_usec / 1000));
  std::string line;
  std::string body = transport_.str();
  line.reserve(body.size() + 64);
  line += stamp;
  line += ' ';
  line += levelName(level_);
  line += ' ';
  if (!t_thread_name.empty()) {
    line += '[';
    line += t_thread_name;
    line += "] ";
  }
  line += body;
  line += '\n';
  int fd = g_fd.load();
  if (fd < 0) fd = STDERR_FILENO;
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) break;  // nothing sensible to do if stderr is gone
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace cosmoseal::common::log
