#include "proxy/config/reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <sstream>

#include "common/net_address.h"
#include "proxy/config/details.h"
#include "proxy/config/units.h"

namespace cosmoseal::proxy::config {

using common::Code;
using common::Status;

namespace {

size_t editDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string fmt(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

const char* nodeKind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Scalar:
      return "a scalar";
    default:
      return "undefined";
  }
}

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

// ---------------------------------------------------------------------------------------------
// Errors and positions

void Reader::error(const YAML::Mark& mark, const std::string& key_path,
                   const std::string& message) {
  int line = mark.line >= 0 ? mark.line + 1 : 0;
  int col = mark.column >= 0 ? mark.column + 1 : 0;
  std::string text = file_;
  if (line > 0) text += ":" + std::to_string(line) + ":" + std::to_string(col);
  text += ": ";
  if (!key_path.empty()) text += key_path + ": ";
  text += message;
  problems_.push_back(Problem{line, col, std::move(text)});
}

policy::SourcePos Reader::pos(const YAML::Mark& mark) const {
  policy::SourcePos p;
  p.file = file_;
  p.line = mark.line >= 0 ? mark.line + 1 : 0;
  p.column = mark.column >= 0 ? mark.column + 1 : 0;
  return p;
}

Status Reader::finish() {
  if (problems_.empty()) return Status::ok();
  std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  std::string msg;
  for (const Problem& p : problems_) {
    if (!msg.empty()) msg += '\n';
    msg += p.text;
  }
  return Status(Code::kFailedPrecondition, config_detail::kInvalid, std::move(msg));
}

std::string Reader::resolve(const std::string& p) const {
  std::filesystem::path fp(p);
  if (fp.is_absolute() || base_dir_.empty()) return p;
  return (base_dir_ / fp).lexically_normal().string();
}

// ---------------------------------------------------------------------------------------------
// Typed readers

bool Reader::scalar(const Entry& e, std::string* out, const std::string& expected) {
  if (!e.value.IsScalar()) {
    error(e, std::string("is ") + nodeKind(e.value) + "; expected " + expected);
    return false;
  }
  *out = e.value.Scalar();
  return true;
}

bool Reader::string(const Entry& e, std::string* out, const std::string& expected) {
  if (!scalar(e, out, expected)) return false;
  if (out->empty()) {
    error(e, "is an empty string; expected " + expected);
    return false;
  }
  return true;
}

bool Reader::path(const Entry& e, std::string* out) {
  if (!string(e, out, "a file path")) return false;
  for (char c : *out) {
    if (static_cast<unsigned char>(c) < 0x20) {
      error(e, "file path contains a control character; expected a file path");
      return false;
    }
  }
  *out = resolve(*out);
  return true;
}

bool Reader::uinteger(const Entry& e, uint64_t min, uint64_t max, uint64_t* out) {
  std::string expected = "an integer " + std::to_string(min) + "-" + std::to_string(max);
  std::string s;
  if (!scalar(e, &s, expected)) return false;
  uint64_t v = 0;
  if (!parseU64(s, &v)) {
    error(e, squote(s) + " is not an integer; expected " + expected);
    return false;
  }
  if (v < min || v > max) {
    error(e, s + " is out of range; expected " + expected);
    return false;
  }
  *out = v;
  return true;
}

bool Reader::boolean(const Entry& e, bool* out) {
  std::string s;
  if (!scalar(e, &s, "true or false")) return false;
  if (s == "true" || s == "True" || s == "TRUE") {
    *out = true;
  } else if (s == "false" || s == "False" || s == "FALSE") {
    *out = false;
  } else {
    error(e, squote(s) + " is not a boolean; expected true or false");
    return false;
  }
  return true;
}

bool Reader::duration(const Entry& e, std::chrono::milliseconds min,
                      std::chrono::milliseconds* out) {
  const std::string expected =
      "a duration such as 250ms, 5s, 2m or 1h (plain integer = ms), "
      "at least " +
      std::to_string(min.count()) + "ms and at most 7 days";
  std::string s;
  if (!scalar(e, &s, expected)) return false;
  std::chrono::milliseconds v{};
  if (!parseDuration(s, &v) || v < min) {
    error(e, squote(s) + " is not a valid duration; expected " + expected);
    return false;
  }
  *out = v;
  return true;
}

bool Reader::size64(const Entry& e, uint64_t min, uint64_t max, uint64_t* out) {
  const std::string expected = "a size such as 64KiB or 4MiB (plain integer = bytes) from " +
                               std::to_string(min) + " to " + std::to_string(max) + " bytes";
  std::string s;
  if (!scalar(e, &s, expected)) return false;
  uint64_t v = 0;
  if (!parseSize(s, &v)) {
    error(e, squote(s) + " is not a valid size; expected " + expected);
    return false;
  }
  if (v < min || v > max) {
    error(e, squote(s) + " is out of range; expected " + expected);
    return false;
  }
  *out = v;
  return true;
}

bool Reader::number(const Entry& e, double min, double max, double* out) {
  const std::string expected = "a number from " + fmt(min) + " to " + fmt(max);
  std::string s;
  if (!scalar(e, &s, expected)) return false;
  double v = 0;
  bool syntax = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.';
  });
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!syntax || res.ec != std::errc() || res.ptr != s.data() + s.size() || !std::isfinite(v)) {
    error(e, squote(s) + " is not a number; expected " + expected);
    return false;
  }
  if (v < min || v > max) {
    error(e, s + " is out of range; expected " + expected);
    return false;
  }
  *out = v;
  return true;
}

bool Reader::list(const Entry& e, const std::string& expected) {
  if (!e.value.IsSequence()) {
    error(e, std::string("is ") + nodeKind(e.value) + "; expected " + expected);
    return false;
  }
  return true;
}

bool Reader::address(const Entry& e, std::string* out) {
  static const std::string kExpected = "an IPv4 or IPv6 address literal such as 127.0.0.1 or ::1";
  std::string s;
  if (!string(e, &s, kExpected)) return false;
  std::string bare = s;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') {
    bare = bare.substr(1, bare.size() - 2);
  }
  if (!common::isIpLiteral(bare)) {
    error(e, squote(s) + " is not an IP address; expected " + kExpected);
    return false;
  }
  *out = bare;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Mappings

MapReader::MapReader(Reader& reader, const YAML::Node& node, const YAML::Mark& anchor,
                     std::string path, std::initializer_list<const char*> allowed)
    : reader_(reader), anchor_(anchor), path_(std::move(path)) {
  std::string allowed_list;
  for (const char* a : allowed) {
    if (!allowed_list.empty()) allowed_list += ", ";
    allowed_list += a;
  }
  if (!node.IsMap()) {
    YAML::Mark m = node.IsNull() ? anchor : node.Mark();
    reader_.error(
        m, path_.empty() ? "(top level)" : path_,
        std::string("is ") + nodeKind(node) + "; expected a mapping with keys: " + allowed_list);
    return;
  }
  ok_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // yaml-cpp's iterator hands out a temporary pair: copy the nodes (they are handles).
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      reader_.error(k.Mark(), path_.empty() ? "(top level)" : path_,
                    std::string("a key is ") + nodeKind(k) + "; expected a plain key name");
      continue;
    }
    Entry e{k.Scalar(), k, v, childPath(k.Scalar())};
    bool known = false;
    for (const char* a : allowed) known = known || e.key == a;
    if (!known) {
      std::string suggestion;
      size_t best = 3;
      for (const char* a : allowed) {
        size_t d = editDistance(e.key, a);
        if (d < best) {
          best = d;
          suggestion = a;
        }
      }
      reader_.error(k.Mark(), e.path,
                    "unknown key " + squote(e.key) +
                        (suggestion.empty() ? "" : " (did you mean " + squote(suggestion) + "?)") +
                        "; expected one of: " + allowed_list);
      continue;
    }
    if (const Entry* first = get(e.key)) {
      reader_.error(k.Mark(), e.path,
                    "duplicate key " + squote(e.key) + " (first at line " +
                        std::to_string(first->key_node.Mark().line + 1) + ", column " +
                        std::to_string(first->key_node.Mark().column + 1) +
                        "); expected each key once");
      continue;
    }
    entries_.push_back(std::move(e));
  }
}

const Entry* MapReader::require(std::string_view key, const std::string& expected) const {
  if (!ok_) return nullptr;
  const Entry* e = get(key);
  if (e == nullptr) {
    reader_.error(anchor_, childPath(key), "missing; expected " + expected);
  }
  return e;
}

}  // namespace cosmoseal::proxy::config
