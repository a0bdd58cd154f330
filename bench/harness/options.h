#pragma once

// Command-line value parsing shared by cosmoseal-bench and cosmoseal-fake-upstream.
// Every parser returns false on malformed input; the caller prints which option was wrong.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace cosmoseal::bench {

// "10s", "500ms", "2m", "1h", "250us", or a plain number of seconds ("1.5").
bool parseDuration(std::string_view text, uint64_t* ns);
// "1024", "1k" / "1KB" / "1KiB" (= 1024), "4m" (= 4 MiB).
bool parseSize(std::string_view text, uint64_t* bytes);
// Plain non-negative integer (decimal).
bool parseUint(std::string_view text, uint64_t* out);
// Non-negative decimal number ("2500", "1e4", "0.5"); "/s" suffix allowed ("2000/s").
bool parseRate(std::string_view text, double* out);
// Splits "a,b,c" (empty items dropped).
std::vector<std::string> splitList(std::string_view text, char sep = ',');

// Minimal argv walker: --name value, --name=value, and flags.
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}
  // Advances to the next argument; false at the end.
  bool next();
  // The current argument's option name ("--connections") or positional text.
  const std::string& name() const noexcept { return name_; }
  bool isOption() const noexcept { return is_option_; }
  // The option's value (from "=value" or the next argv item). False if missing.
  bool value(std::string* out);
  // True if the option was written with "=value" (for flags that must not take one).
  bool hasInlineValue() const noexcept { return has_inline_; }

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string name_;
  std::string inline_value_;
  bool has_inline_ = false;
  bool is_option_ = false;
};

}  // namespace cosmoseal::bench
