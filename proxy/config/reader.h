#pragma once

// YAML node access for the config loader (internal to proxy/config/): typed reads of scalars,
// lists and mappings that never throw and never stop at the first problem. Each failed read
// records one error "FILE:LINE:COL: <key path>: <what is wrong>; expected <what>" and returns
// false; finish() turns everything recorded into one Status (detail "config.invalid"), sorted
// by position, so `cosmoseal check` shows every mistake of a file at once.
//
// Ownership: a Reader owns its error list and copies of the file name and base directory;
// Entry and MapReader hold yaml-cpp node handles (reference-counted views into the parsed
// document, which the caller keeps alive for the whole load).

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "policy/policy_spec.h"

namespace cosmoseal::proxy::config {

// One key of a mapping (or one element of a list, with an empty key) and where it sits.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;  // key path of the value, "listen.tls.cert"

  // Null values ("key:" with nothing after it) carry the position of whatever follows them, so
  // errors about them point at the key instead.
  YAML::Mark mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

// "a mapping", "a list", "empty", "a scalar": how error messages name what was found.
const char* nodeKind(const YAML::Node& n);
// 'text', the quoting used for values in error messages.
std::string squote(std::string_view s);

class Reader {
 public:
  // `file` names the config in messages and SourcePos; relative paths read by path() are
  // resolved against `base_dir` (left relative when it is empty).
  Reader(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  void error(const YAML::Mark& mark, const std::string& key_path, const std::string& message);
  void error(const Entry& e, const std::string& message) { error(e.mark(), e.path, message); }

  policy::SourcePos pos(const YAML::Mark& mark) const;

  // OK if nothing was reported; otherwise every problem, one per line, sorted by position.
  common::Status finish();

  // ---- typed readers: each reports and returns false on failure, leaving *out alone ----

  bool scalar(const Entry& e, std::string* out, const std::string& expected);
  // A non-empty scalar.
  bool string(const Entry& e, std::string* out, const std::string& expected);
  // A file path without control characters, resolved against the base directory.
  bool path(const Entry& e, std::string* out);
  bool uinteger(const Entry& e, uint64_t min, uint64_t max, uint64_t* out);
  template <typename T>
  bool uintField(const Entry& e, uint64_t min, uint64_t max, T* out) {
    uint64_t v = 0;
    if (!uinteger(e, min, max, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  bool port(const Entry& e, uint16_t* out) { return uintField(e, 1, 65535, out); }
  bool boolean(const Entry& e, bool* out);
  // A duration (units.h) of at least `min`.
  bool duration(const Entry& e, std::chrono::milliseconds min, std::chrono::milliseconds* out);
  // A size (units.h) within [min, max] bytes.
  bool size64(const Entry& e, uint64_t min, uint64_t max, uint64_t* out);
  template <typename T>
  bool size(const Entry& e, uint64_t min, uint64_t max, T* out) {
    uint64_t v = 0;
    if (!size64(e, min, max, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }
  // A plain decimal number (digits and '.') within [min, max].
  bool number(const Entry& e, double min, double max, double* out);
  template <typename T>
  bool choice(const Entry& e, std::initializer_list<std::pair<const char*, T>> options, T* out) {
    std::string expected = "one of: ";
    bool first = true;
    for (const auto& [name, value] : options) {
      if (!first) expected += ", ";
      expected += name;
      first = false;
    }
    std::string s;
    if (!scalar(e, &s, expected)) return false;
    for (const auto& [name, value] : options) {
      if (s == name) {
        *out = value;
        return true;
      }
    }
    error(e, squote(s) + " is not allowed; expected " + expected);
    return false;
  }
  // A sequence (list); reports otherwise.
  bool list(const Entry& e, const std::string& expected);
  // An IPv4 or IPv6 literal ("[::1]" is accepted and stored without brackets).
  bool address(const Entry& e, std::string* out);

 private:
  struct Problem {
    int line;
    int column;
    std::string text;
  };

  std::string resolve(const std::string& p) const;

  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<Problem> problems_;
};

// A validated view of one YAML mapping: reports non-mappings, non-scalar keys, duplicate and
// unknown keys (with a did-you-mean suggestion), then hands out entries by name.
class MapReader {
 public:
  // `anchor` is where errors about the mapping as a whole (and missing keys) point.
  MapReader(Reader& reader, const YAML::Node& node, const YAML::Mark& anchor, std::string path,
            std::initializer_list<const char*> allowed);

  bool ok() const { return ok_; }
  const Entry* get(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }
  // Reports a missing required key at the mapping's anchor; returns nullptr.
  const Entry* require(std::string_view key, const std::string& expected) const;
  std::string childPath(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  const YAML::Mark& anchor() const { return anchor_; }

 private:
  Reader& reader_;
  YAML::Mark anchor_;
  std::string path_;
  std::vector<Entry> entries_;
  bool ok_ = false;
};

}  // namespace cosmoseal::proxy::config
