#pragma once

// Minimal, thread-safe, line-atomic logging to stderr.
//
//   COSMOSEAL_LOG(kInfo) << "listening on " << addr;
//
// Each line is formatted into one buffer and written with a single write(2), so lines from
// different worker threads never interleave. Formatting is skipped when the level is disabled.
// Rule: never log key material, signatures, or values of protected fields. Log detail codes,
// sizes, ids and names instead.

#include <atomic>
#include <sstream>
#include <string>
#include <string_view>

namespace cosmoseal::common {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

namespace log {

void setLevel(LogLevel level) noexcept;
LogLevel level() noexcept;
bool enabled(LogLevel level) noexcept;
// Parses "debug" | "info" | "warn" | "error" | "off"; returns false on anything else.
bool parseLevel(std::string_view text, LogLevel* out) noexcept;
// Names the calling thread in log lines ("main", "worker-0", "audit").
void setThreadName(std::string_view name);
// Redirect output (tests). fd < 0 restores stderr.
void setFdForTest(int fd) noexcept;

class Line {
 public:
  explicit Line(LogLevel level) : level_(level) {}
  ~Line();
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;
  template <typename T>
  Line& operator<<(const T& v) {
    transport_ << v;
    return *this;
  }

 private:
  LogLevel level_;
  std::ostringstream transport_;
};

}  // namespace log
}  // namespace cosmoseal::common

#define COSMOSEAL_LOG(lvl)                                                          \
  if (!::cosmoseal::common::log::enabled(::cosmoseal::common::LogLevel::lvl)) {     \
  } else                                                                            \
    ::cosmoseal::common::log::Line(::cosmoseal::common::LogLevel::lvl)
