#include "proxy/config/config.h"

#include "common/headers.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <utility>

#include "common/log.h"
#include "policy/account_rewrite.h"
#include "policy/policy.h"
#include "common/net_address.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

constexpr uint64_t kMaxConfigBytes = 4 * 1024 * 1024;
constexpr uint64_t kMaxDurationMs = 7ull * 24 * 3600 * 1000;

// ---------------------------------------------------------------------------------------------
// Scalars

bool allDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Unsigned decimal without sign or spaces; false on overflow.
bool parseU64(std::string_view s, uint64_t* out) {
  if (!allDigits(s) || s.size() > 20) return false;
  auto res = std::from_chars(s.data(), s.data() + s.size(), *out);
  return res.ec == std::errc() && res.ptr == s.data() + s.size();
}

// Splits "250ms" into ("250", "ms").
std::pair<std::string_view, std::string_view> splitUnit(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return {s.substr(0, i), s.substr(i)};
}

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

std::string squote(std::string_view s) { return "'" + std::string(s) + "'"; }

}  // namespace

bool parseDuration(std::string_view text, std::chrono::milliseconds* out) {
  auto [digits, unit] = splitUnit(text);
  uint64_t n = 0;
  if (!parseU64(digits, &n)) return false;
  uint64_t mult;
  if (unit.empty() || unit == "ms") {
    mult = 1;
  } else if (unit == "s") {
    mult = 1000;
  } else if (unit == "m") {
    mult = 60 * 1000;
  } else if (unit == "h") {
    mult = 3600 * 1000;
  } else {
    return false;
  }
  if (n > kMaxDurationMs / mult) return false;
  *out = std::chrono::milliseconds(static_cast<int64_t>(n * mult));
  return true;
}

bool parseSize(std::string_view text, uint64_t* out) {
  auto [digits, unit] = splitUnit(text);
  uint64_t n = 0;
  if (!parseU64(digits, &n)) return false;
  uint64_t mult;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "KiB") {
    mult = 1ull << 10;
  } else if (unit == "MiB") {
    mult = 1ull << 20;
  } else if (unit == "GiB") {
    mult = 1ull << 30;
  } else {
    return false;
  }
  if (n > UINT64_MAX / mult) return false;
  *out = n * mult;
  return true;
}

namespace {

// ---------------------------------------------------------------------------------------------
// The loader

struct Problem {
  int line;
  int column;
  std::string text;
};

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
  std::string path;  // key path of the value, "listen.tls.cert"

  // Null values ("key:" with nothing after it) carry the position of whatever follows them, so
  // errors about them point at the key instead.
  YAML::Mark mark() const { return value.IsNull() ? key_node.Mark() : value.Mark(); }
};

const char* nodeKind(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "empty";
    case YAML::NodeType::Scalar: return "a scalar";
    default: return "undefined";
  }
}

class Loader;

// A validated view of one YAML mapping: reports non-mappings, non-scalar keys, duplicate and
// unknown keys, then hands out entries by name.
class MapReader {
 public:
  MapReader(Loader& loader, const YAML::Node& node, const YAML::Mark& anchor, std::string path,
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
  Loader& loader_;
  YAML::Mark anchor_;
  std::string path_;
  std::vector<Entry> entries_;
  bool ok_ = false;
};

class Loader {
 public:
  Loader(std::string file, std::filesystem::path base_dir)
      : file_(std::move(file)), base_dir_(std::move(base_dir)) {}

  void error(const YAML::Mark& mark, const std::string& key_path, const std::string& message) {
    int line = mark.line >= 0 ? mark.line + 1 : 0;
    int col = mark.column >= 0 ? mark.column + 1 : 0;
    std::string text = file_;
    if (line > 0) text += ":" + std::to_string(line) + ":" + std::to_string(col);
    text += ": ";
    if (!key_path.empty()) text += key_path + ": ";
    text += message;
    problems_.push_back(Problem{line, col, std::move(text)});
  }
  void error(const Entry& e, const std::string& message) { error(e.mark(), e.path, message); }

  policy::SourcePos pos(const YAML::Mark& mark) const {
    policy::SourcePos p;
    p.file = file_;
    p.line = mark.line >= 0 ? mark.line + 1 : 0;
    p.column = mark.column >= 0 ? mark.column + 1 : 0;
    return p;
  }

  Status finish() {
    if (problems_.empty()) return Status::ok();
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return a.line != b.line ? a.line < b.line : a.column < b.column;
    });
    std::string msg;
    for (const Problem& p : problems_) {
      if (!msg.empty()) msg += '\n';
      msg += p.text;
    }
    return Status(Code::kFailedPrecondition, "config.invalid", std::move(msg));
  }

  void load(const YAML::Node& root, Config* cfg);

  // ---- typed readers: each reports and returns false on failure ----

  bool scalar(const Entry& e, std::string* out, const std::string& expected) {
    if (!e.value.IsScalar()) {
      error(e, std::string("is ") + nodeKind(e.value) + "; expected " + expected);
      return false;
    }
    *out = e.value.Scalar();
    return true;
  }

  bool string(const Entry& e, std::string* out, const std::string& expected) {
    if (!scalar(e, out, expected)) return false;
    if (out->empty()) {
      error(e, "is an empty string; expected " + expected);
      return false;
    }
    return true;
  }

  bool path(const Entry& e, std::string* out) {
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

  bool uinteger(const Entry& e, uint64_t min, uint64_t max, uint64_t* out) {
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

  template <typename T>
  bool uintField(const Entry& e, uint64_t min, uint64_t max, T* out) {
    uint64_t v = 0;
    if (!uinteger(e, min, max, &v)) return false;
    *out = static_cast<T>(v);
    return true;
  }

  bool port(const Entry& e, uint16_t* out) { return uintField(e, 1, 65535, out); }

  bool boolean(const Entry& e, bool* out) {
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

  bool duration(const Entry& e, std::chrono::milliseconds min, std::chrono::milliseconds* out) {
    const std::string expected = "a duration such as 250ms, 5s, 2m or 1h (plain integer = ms), "
                                 "at least " + std::to_string(min.count()) + "ms and at most 7 days";
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

  template <typename T>
  bool size(const Entry& e, uint64_t min, uint64_t max, T* out) {
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
    *out = static_cast<T>(v);
    return true;
  }

  bool number(const Entry& e, double min, double max, double* out) {
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
  bool list(const Entry& e, const std::string& expected) {
    if (!e.value.IsSequence()) {
      error(e, std::string("is ") + nodeKind(e.value) + "; expected " + expected);
      return false;
    }
    return true;
  }

 private:
  static std::string fmt(double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  }

  std::string resolve(const std::string& p) const {
    std::filesystem::path fp(p);
    if (fp.is_absolute() || base_dir_.empty()) return p;
    return (base_dir_ / fp).lexically_normal().string();
  }

  void loadListen(const Entry& e, Config* cfg);
  void loadAdmin(const Entry& e, Config* cfg);
  void loadUpstream(const Entry* e, const YAML::Mark& root_mark, Config* cfg);
  void loadClients(const Entry* e, const YAML::Mark& root_mark, Config* cfg);
  void loadKeys(const Entry& e, Config* cfg);
  void loadPolicies(const Entry& e, Config* cfg);
  void loadLimits(const Entry& e, Config* cfg);
  void loadTimeouts(const Entry& e, Config* cfg);
  void loadAudit(const Entry& e, Config* cfg);
  bool address(const Entry& e, std::string* out);

  std::string file_;
  std::filesystem::path base_dir_;
  std::vector<Problem> problems_;
};

MapReader::MapReader(Loader& loader, const YAML::Node& node, const YAML::Mark& anchor,
                     std::string path, std::initializer_list<const char*> allowed)
    : loader_(loader), anchor_(anchor), path_(std::move(path)) {
  std::string allowed_list;
  for (const char* a : allowed) {
    if (!allowed_list.empty()) allowed_list += ", ";
    allowed_list += a;
  }
  if (!node.IsMap()) {
    YAML::Mark m = node.IsNull() ? anchor : node.Mark();
    loader_.error(m, path_.empty() ? "(top level)" : path_,
                  std::string("is ") + nodeKind(node) + "; expected a mapping with keys: " +
                      allowed_list);
    return;
  }
  ok_ = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // yaml-cpp's iterator hands out a temporary pair: copy the nodes (they are handles).
    const YAML::Node k = it->first;
    const YAML::Node v = it->second;
    if (!k.IsScalar()) {
      loader_.error(k.Mark(), path_.empty() ? "(top level)" : path_,
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
      loader_.error(k.Mark(), e.path,
                    "unknown key " + squote(e.key) +
                        (suggestion.empty() ? "" : " (did you mean " + squote(suggestion) + "?)") +
                        "; expected one of: " + allowed_list);
      continue;
    }
    if (const Entry* first = get(e.key)) {
      loader_.error(k.Mark(), e.path,
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
    loader_.error(anchor_, childPath(key), "missing; expected " + expected);
  }
  return e;
}

// ---- sections ----

bool Loader::address(const Entry& e, std::string* out) {
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

void Loader::loadListen(const Entry& e, Config* cfg) {
  ListenConfig& l = cfg->listen;
  l.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path,
              {"address", "port", "tls", "mode", "advertise_url", "transparent"});
  if (!m.ok()) return;
  if (const Entry* a = m.get("address")) address(*a, &l.address);
  if (const Entry* p = m.get("port")) port(*p, &l.port);
  if (const Entry* t = m.get("tls")) {
    MapReader tm(*this, t->value, t->key_node.Mark(), t->path, {"cert", "key"});
    TlsFilesConfig tls;
    tls.pos = pos(t->key_node.Mark());
    bool ok = tm.ok();
    const Entry* cert = tm.require("cert", "the server certificate chain file (PEM)");
    const Entry* key = tm.require("key", "the server private key file (PEM)");
    ok = ok && cert != nullptr && key != nullptr;
    if (cert != nullptr) ok = path(*cert, &tls.cert_file) && ok;
    if (key != nullptr) ok = path(*key, &tls.key_file) && ok;
    if (ok) l.tls = std::move(tls);
  }
  if (const Entry* mode = m.get("mode")) {
    choice(*mode, {{"gateway", ListenMode::kGateway}, {"transparent", ListenMode::kTransparent}},
           &l.mode);
  }
  if (const Entry* t = m.get("transparent")) {
    MapReader tm(*this, t->value, t->key_node.Mark(), t->path,
                 {"ca_cert", "ca_key", "allowed_hosts"});
    TransparentConfig tc;
    tc.pos = pos(t->key_node.Mark());
    bool ok = tm.ok();
    const Entry* cert = tm.require("ca_cert", "the interception CA certificate (PEM)");
    const Entry* key = tm.require("ca_key", "the interception CA private key (PEM)");
    ok = ok && cert != nullptr && key != nullptr;
    if (cert != nullptr) ok = path(*cert, &tc.ca_cert_file) && ok;
    if (key != nullptr) ok = path(*key, &tc.ca_key_file) && ok;
    if (const Entry* hosts = tm.get("allowed_hosts")) {
      if (list(*hosts, "a list of host names or *.suffix patterns")) {
        tc.allowed_hosts.clear();
        for (size_t k = 0; k < hosts->value.size(); ++k) {
          Entry he{"", hosts->key_node, hosts->value[k],
                   hosts->path + "[" + std::to_string(k) + "]"};
          std::string h;
          if (!scalar(he, &h, "a host name or *.suffix")) continue;
          const std::string bare = h.rfind("*.", 0) == 0 ? h.substr(2) : h;
          if (bare.empty() || bare.find('*') != std::string::npos ||
              !policy::isValidHostHeader(bare) || bare.find(':') != std::string::npos) {
            error(he, squote(h) + " is not a host name; expected a name like "
                                  "myaccount.documents.azure.com or *.documents.azure.com");
            continue;
          }
          tc.allowed_hosts.push_back(common::toLowerAscii(h));
        }
        if (tc.allowed_hosts.empty()) {
          error(*hosts, "is empty; expected at least one host name pattern");
        }
      }
    }
    if (ok) l.transparent = std::move(tc);
  }
  if (l.mode == ListenMode::kTransparent && !l.transparent) {
    error(m.anchor(), e.path + ".transparent",
          "missing; expected {ca_cert, ca_key[, allowed_hosts]} with listen.mode: transparent");
  }
  if (l.mode == ListenMode::kTransparent && l.tls) {
    error(m.anchor(), e.path + ".tls",
          "not used with listen.mode: transparent (certificates are issued per host name by "
          "listen.transparent.ca_cert); expected no listen.tls");
  }
  if (const Entry* adv = m.get("advertise_url")) {
    std::string s;
    if (string(*adv, &s, "an origin URL such as https://localhost:8081/")) {
      auto origin = policy::parseHttpOrigin(s);
      if (!origin.isOk()) {
        error(*adv, std::string(origin.status().message()));
      } else {
        const auto& o = *origin;
        l.advertise_url = o.scheme + "://" + (o.ipv6 ? "[" + o.host + "]" : o.host) +
                          (o.port_explicit ? ":" + std::to_string(o.port) : "") + "/";
      }
    }
  }
}

void Loader::loadAdmin(const Entry& e, Config* cfg) {
  AdminConfig& a = cfg->admin;
  a.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path, {"enabled", "address", "port"});
  if (!m.ok()) return;
  if (const Entry* en = m.get("enabled")) boolean(*en, &a.enabled);
  if (const Entry* ad = m.get("address")) address(*ad, &a.address);
  if (const Entry* p = m.get("port")) port(*p, &a.port);
}

void Loader::loadUpstream(const Entry* e, const YAML::Mark& root_mark, Config* cfg) {
  UpstreamConfig& u = cfg->upstream;
  if (e == nullptr) {
    error(root_mark, "upstream",
          "missing; expected an upstream section with endpoint and key_file");
    return;
  }
  u.pos = pos(e->key_node.Mark());
  MapReader m(*this, e->value, e->key_node.Mark(), e->path,
              {"endpoint", "key_file", "ca_file", "allow_insecure_http", "connect_timeout",
               "response_timeout", "pool"});
  if (!m.ok()) return;
  if (const Entry* ai = m.get("allow_insecure_http")) boolean(*ai, &u.allow_insecure_http);
  if (const Entry* ep = m.require("endpoint",
                                  "the account URL, e.g. https://myaccount.documents.azure.com:443/")) {
    if (string(*ep, &u.endpoint, "the account URL, e.g. https://myaccount.documents.azure.com:443/")) {
      auto origin = policy::parseHttpOrigin(u.endpoint);
      if (!origin.isOk()) {
        error(*ep, std::string(origin.status().message()));
      } else if (origin->scheme == "http" && !u.allow_insecure_http) {
        error(*ep, "plain http is refused (the account key and data would cross the network "
                   "unencrypted); expected an https:// endpoint, or upstream.allow_insecure_http: "
                   "true for local tests");
      } else {
        u.scheme = origin->scheme;
        u.host = origin->host;
        u.port = origin->port;
      }
    }
  }
  if (const Entry* kf = m.require("key_file", "the file holding the account key (base64)")) {
    u.key_pos = pos(kf->mark());
    path(*kf, &u.key_file);
  }
  if (const Entry* ca = m.get("ca_file")) path(*ca, &u.ca_file);
  if (const Entry* ct = m.get("connect_timeout")) {
    duration(*ct, std::chrono::milliseconds(1), &u.connect_timeout);
  }
  if (const Entry* rt = m.get("response_timeout")) {
    duration(*rt, std::chrono::milliseconds(1), &u.response_timeout);
  }
  if (const Entry* pool = m.get("pool")) {
    MapReader pm(*this, pool->value, pool->key_node.Mark(), pool->path,
                 {"max_idle", "idle_timeout"});
    if (pm.ok()) {
      if (const Entry* mi = pm.get("max_idle")) uintField(*mi, 0, 100000, &u.max_idle_per_worker);
      if (const Entry* it = pm.get("idle_timeout")) {
        duration(*it, std::chrono::milliseconds(1), &u.idle_timeout);
      }
    }
  }
}

bool validClientName(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

void Loader::loadClients(const Entry* e, const YAML::Mark& root_mark, Config* cfg) {
  static const std::string kExpected = "a list of clients ({name, key_file, allow})";
  if (e == nullptr) {
    error(root_mark, "clients", "missing; expected at least one client ({name, key_file, allow})");
    return;
  }
  if (!list(*e, kExpected)) return;
  if (e->value.size() == 0) {
    error(*e, "is an empty list; expected at least one client ({name, key_file, allow})");
    return;
  }
  std::map<std::string, YAML::Mark> names;
  for (size_t i = 0; i < e->value.size(); ++i) {
    const YAML::Node item = e->value[i];
    const std::string ipath = e->path + "[" + std::to_string(i) + "]";
    MapReader m(*this, item, item.IsNull() ? e->key_node.Mark() : item.Mark(), ipath,
                {"name", "key_file", "allow", "rate", "max_in_flight"});
    if (!m.ok()) continue;
    ClientConfig c;
    c.pos = pos(item.Mark());
    if (const Entry* n = m.require("name", "a client name")) {
      static const std::string kNameExpected = "1-64 characters of A-Z a-z 0-9 . _ -";
      if (scalar(*n, &c.name, kNameExpected)) {
        if (!validClientName(c.name)) {
          error(*n, (c.name.empty() ? std::string("is an empty string") : squote(c.name) +
                                                                              " is not a valid name") +
                        "; expected " + kNameExpected);
        } else if (auto it = names.find(c.name); it != names.end()) {
          error(*n, "duplicate client name " + squote(c.name) + " (first at line " +
                        std::to_string(it->second.line + 1) + ", column " +
                        std::to_string(it->second.column + 1) + "); expected unique names");
        } else {
          names.emplace(c.name, n->mark());
        }
      }
    }
    if (const Entry* kf = m.require("key_file", "the file holding this client's key (base64)")) {
      c.key_pos = pos(kf->mark());
      path(*kf, &c.key_file);
    }
    if (const Entry* allow = m.require("allow", "a list of rules {database, containers, access}")) {
      if (list(*allow, "a list of rules {database, containers, access}")) {
        if (allow->value.size() == 0) {
          error(*allow, "is an empty list; expected at least one rule {database, containers, "
                        "access}");
        }
        for (size_t j = 0; j < allow->value.size(); ++j) {
          const YAML::Node r = allow->value[j];
          const std::string rpath = allow->path + "[" + std::to_string(j) + "]";
          MapReader rm(*this, r, r.IsNull() ? allow->key_node.Mark() : r.Mark(), rpath,
                       {"database", "containers", "access"});
          if (!rm.ok()) continue;
          AllowRule rule;
          rule.pos = pos(r.Mark());
          if (const Entry* db = rm.require("database", "a database name")) {
            if (scalar(*db, &rule.database, "a database name")) {
              std::string problem = policy::checkCosmosId(rule.database);
              if (!problem.empty()) error(*db, "database " + problem);
            }
          }
          if (const Entry* cs = rm.require("containers",
                                           "a list of container names, or ['*'] for all")) {
            if (list(*cs, "a list of container names, e.g. [orders] or ['*'] for all")) {
              if (cs->value.size() == 0) {
                error(*cs, "is an empty list; expected at least one container name, or '*' for "
                           "all");
              }
              for (size_t k = 0; k < cs->value.size(); ++k) {
                Entry ce{"", cs->key_node, cs->value[k], cs->path + "[" + std::to_string(k) + "]"};
                std::string name;
                if (!scalar(ce, &name, "a container name or '*'")) continue;
                if (name != "*") {
                  std::string problem = policy::checkCosmosId(name);
                  if (!problem.empty()) {
                    error(ce, "container " + problem);
                    continue;
                  }
                }
                rule.containers.push_back(std::move(name));
              }
            }
          }
          if (const Entry* ac = rm.get("access")) {
            choice(*ac, {{"read", Access::kRead}, {"read-write", Access::kReadWrite}},
                   &rule.access);
          }
          c.allow.push_back(std::move(rule));
        }
      }
    }
    if (const Entry* rate = m.get("rate")) {
      MapReader rm(*this, rate->value, rate->key_node.Mark(), rate->path,
                   {"requests_per_second", "burst"});
      if (rm.ok()) {
        const Entry* rps = rm.get("requests_per_second");
        const Entry* burst = rm.get("burst");
        if (rps != nullptr) number(*rps, 0, 1e9, &c.rate.requests_per_second);
        if (burst != nullptr) {
          number(*burst, 1, 1e9, &c.rate.burst);
        } else {
          c.rate.burst = std::max(1.0, c.rate.requests_per_second);
        }
      }
    }
    if (const Entry* mif = m.get("max_in_flight")) uintField(*mif, 0, 1000000, &c.max_in_flight);
    cfg->clients.push_back(std::move(c));
  }
}

bool validEnvName(std::string_view s) {
  if (s.empty() || (s.front() >= '0' && s.front() <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

void Loader::loadKeys(const Entry& e, Config* cfg) {
  KeysConfig k;
  k.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path,
              {"keyring_file", "kek_file", "kek_env", "alert_after_seals", "refuse_after_seals"});
  if (!m.ok()) return;
  if (const Entry* x = m.get("alert_after_seals")) uintField(*x, 0, UINT64_MAX, &k.alert_after_seals);
  if (const Entry* x = m.get("refuse_after_seals")) uintField(*x, 0, UINT64_MAX, &k.refuse_after_seals);
  if (const Entry* kr = m.require("keyring_file", "the keyring file (cosmoseal keygen)")) {
    path(*kr, &k.keyring_file);
  }
  const Entry* kf = m.get("kek_file");
  const Entry* ke = m.get("kek_env");
  if (kf != nullptr && ke != nullptr) {
    error(ke->key_node.Mark(), ke->path,
          "both kek_file and kek_env are set; expected exactly one of them");
  } else if (kf == nullptr && ke == nullptr) {
    error(m.anchor(), e.path + ".kek_file",
          "missing; expected exactly one of kek_file (a file holding the key-encryption key) or "
          "kek_env (an environment variable holding it)");
  }
  if (kf != nullptr) path(*kf, &k.kek_file);
  if (ke != nullptr) {
    if (string(*ke, &k.kek_env, "an environment variable name") && !validEnvName(k.kek_env)) {
      error(*ke, squote(k.kek_env) +
                     " is not an environment variable name; expected [A-Za-z_][A-Za-z0-9_]*");
    }
  }
  cfg->keys = std::move(k);
}

void Loader::loadPolicies(const Entry& e, Config* cfg) {
  if (!list(e, "a list of container policies ({database, container, fields})")) return;
  // Items with shape errors are reported here once and skipped by the policy checks.
  std::set<std::pair<size_t, size_t>> skip;
  for (size_t i = 0; i < e.value.size(); ++i) {
    const YAML::Node item = e.value[i];
    const std::string ipath = e.path + "[" + std::to_string(i) + "]";
    policy::ContainerPolicySpec spec;
    spec.pos = pos(item.IsNull() ? e.key_node.Mark() : item.Mark());
    MapReader m(*this, item, item.IsNull() ? e.key_node.Mark() : item.Mark(), ipath,
                {"database", "container", "partition_key", "fields"});
    if (!m.ok()) {
      skip.emplace(i, policy::kWholePolicy);
      skip.emplace(i, policy::kFieldList);
      cfg->policies.push_back(std::move(spec));
      continue;
    }
    bool whole_ok = true;
    if (const Entry* db = m.require("database", "a database name")) {
      whole_ok = scalar(*db, &spec.database, "a database name") && whole_ok;
    } else {
      whole_ok = false;
    }
    if (const Entry* c = m.require("container", "a container name")) {
      whole_ok = scalar(*c, &spec.container, "a container name") && whole_ok;
    } else {
      whole_ok = false;
    }
    if (const Entry* pk = m.get("partition_key")) {
      spec.partition_key_pos = pos(pk->mark());
      static const std::string kPkExpected =
          "a partition-key path such as /pk, or a list of up to 3 paths";
      if (pk->value.IsSequence()) {
        for (size_t k = 0; k < pk->value.size(); ++k) {
          Entry pe{"", pk->key_node, pk->value[k], pk->path + "[" + std::to_string(k) + "]"};
          std::string p;
          if (scalar(pe, &p, kPkExpected)) {
            spec.partition_key_paths.push_back(std::move(p));
          } else {
            whole_ok = false;
          }
        }
        if (pk->value.size() == 0) {
          error(*pk, "is an empty list; expected " + kPkExpected);
          whole_ok = false;
        }
      } else {
        std::string p;
        if (scalar(*pk, &p, kPkExpected)) {
          spec.partition_key_paths.push_back(std::move(p));
        } else {
          whole_ok = false;
        }
      }
    }
    if (!whole_ok) skip.emplace(i, policy::kWholePolicy);

    const Entry* fields = m.require("fields", "a list of fields ({path, mode, key})");
    if (fields == nullptr || !list(*fields, "a list of fields ({path, mode, key})")) {
      skip.emplace(i, policy::kFieldList);
    } else {
      for (size_t j = 0; j < fields->value.size(); ++j) {
        const YAML::Node f = fields->value[j];
        const std::string fpath = fields->path + "[" + std::to_string(j) + "]";
        policy::FieldSpec field;
        const YAML::Mark fmark = f.IsNull() ? fields->key_node.Mark() : f.Mark();
        field.pos = pos(fmark);
        MapReader fm(*this, f, fmark, fpath, {"path", "mode", "key"});
        bool ok = fm.ok();
        if (ok) {
          if (const Entry* p = fm.require("path", "a field path such as /ssn or /cards/*/number")) {
            field.pos = pos(p->mark());
            ok = scalar(*p, &field.path, "a field path such as /ssn or /cards/*/number") && ok;
          } else {
            ok = false;
          }
          if (const Entry* mode = fm.require("mode", "randomized or deterministic")) {
            ok = choice(*mode,
                        {{"randomized", policy::FieldMode::kRandomized},
                         {"deterministic", policy::FieldMode::kDeterministic}},
                        &field.mode) &&
                 ok;
          } else {
            ok = false;
          }
          if (const Entry* key = fm.require("key", "the name of a keyring key")) {
            ok = scalar(*key, &field.key, "the name of a keyring key") && ok;
          } else {
            ok = false;
          }
        }
        if (!ok) skip.emplace(i, j);
        spec.fields.push_back(std::move(field));
      }
    }
    cfg->policies.push_back(std::move(spec));
  }

  auto issues = policy::validatePolicySpecs(
      cfg->policies, [&](size_t i, size_t j) { return skip.count({i, j}) != 0; });
  for (const policy::SpecIssue& issue : issues) {
    YAML::Mark mark;
    mark.line = issue.pos.line - 1;
    mark.column = issue.pos.column - 1;
    // The validator indexes "policies[i]"; this section may be spelled only one way.
    error(mark, issue.key_path, issue.message);
  }
}

void Loader::loadLimits(const Entry& e, Config* cfg) {
  LimitsConfig& l = cfg->limits;
  l.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path,
              {"max_header_bytes", "max_headers", "max_uri_bytes", "max_body_bytes",
               "max_response_body_bytes", "max_connections", "max_buffered_bytes",
               "max_item_bytes"});
  if (!m.ok()) return;
  constexpr uint64_t kU32 = UINT32_MAX;
  if (const Entry* x = m.get("max_header_bytes")) size(*x, 1024, 16ull << 20, &l.max_header_bytes);
  if (const Entry* x = m.get("max_headers")) uintField(*x, 1, 10000, &l.max_headers);
  if (const Entry* x = m.get("max_uri_bytes")) size(*x, 256, 16ull << 20, &l.max_uri_bytes);
  if (const Entry* x = m.get("max_body_bytes")) size(*x, 1024, 1ull << 30, &l.max_body_bytes);
  if (const Entry* x = m.get("max_response_body_bytes")) {
    size(*x, 1024, 4ull << 30, &l.max_response_body_bytes);
  }
  if (const Entry* x = m.get("max_connections")) uintField(*x, 1, 1000000, &l.max_connections);
  if (const Entry* x = m.get("max_buffered_bytes")) {
    size(*x, 1ull << 20, 1ull << 40, &l.max_buffered_bytes);
  }
  if (const Entry* x = m.get("max_item_bytes")) size(*x, 1024, kU32, &l.max_item_bytes);
  const Entry* buffered = m.get("max_buffered_bytes");
  const YAML::Mark where = buffered != nullptr ? buffered->mark() : e.key_node.Mark();
  if (l.max_body_bytes > l.max_buffered_bytes) {
    error(where, e.path + ".max_buffered_bytes",
          "is smaller than max_body_bytes; expected at least max_body_bytes (" +
              std::to_string(l.max_body_bytes) + ")");
  } else if (l.max_response_body_bytes > l.max_buffered_bytes) {
    error(where, e.path + ".max_buffered_bytes",
          "is smaller than max_response_body_bytes; expected at least max_response_body_bytes (" +
              std::to_string(l.max_response_body_bytes) + ")");
  }
}

void Loader::loadTimeouts(const Entry& e, Config* cfg) {
  TimeoutsConfig& t = cfg->timeouts;
  t.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path, {"header", "body", "idle", "drain"});
  if (!m.ok()) return;
  const std::chrono::milliseconds one(1);
  if (const Entry* x = m.get("header")) duration(*x, one, &t.header);
  if (const Entry* x = m.get("body")) duration(*x, one, &t.body);
  if (const Entry* x = m.get("idle")) duration(*x, one, &t.idle);
  if (const Entry* x = m.get("drain")) duration(*x, std::chrono::milliseconds(0), &t.drain);
}

void Loader::loadAudit(const Entry& e, Config* cfg) {
  AuditConfig& a = cfg->audit;
  a.pos = pos(e.key_node.Mark());
  MapReader m(*this, e.value, e.key_node.Mark(), e.path,
              {"enabled", "path", "required", "queue_size"});
  if (!m.ok()) return;
  a.enabled = true;
  if (const Entry* x = m.get("enabled")) boolean(*x, &a.enabled);
  if (const Entry* x = m.get("required")) boolean(*x, &a.required);
  if (const Entry* x = m.get("queue_size")) uintField(*x, 1, 1u << 24, &a.queue_size);
  const Entry* p = a.enabled ? m.require("path", "stdout, stderr or a file path") : m.get("path");
  if (p != nullptr) {
    std::string s;
    if (string(*p, &s, "stdout, stderr or a file path")) {
      if (s == "stdout" || s == "stderr") {
        a.path = s;
      } else {
        path(*p, &a.path);
      }
    }
  }
}

void Loader::load(const YAML::Node& root, Config* cfg) {
  YAML::Mark start;
  start.line = 0;
  start.column = 0;
  if (root.IsNull()) {
    error(start, "(top level)",
          "the file is empty; expected a mapping with at least upstream and clients");
    return;
  }
  MapReader top(*this, root, start, "",
                {"workers", "log", "listen", "admin", "upstream", "clients", "keys", "policies",
                 "limits", "timeouts", "audit", "watch"});
  if (!top.ok()) return;
  const YAML::Mark root_mark = root.Mark();

  if (const Entry* w = top.get("watch")) boolean(*w, &cfg->watch);
  if (const Entry* w = top.get("workers")) {
    std::string s;
    if (w->value.IsScalar() && w->value.Scalar() == "auto") {
      cfg->workers = 0;
    } else if (scalar(*w, &s, "auto or an integer 1-256")) {
      uint64_t n = 0;
      if (!parseU64(s, &n) || n < 1 || n > 256) {
        error(*w, squote(s) + " is not valid; expected auto or an integer 1-256");
      } else {
        cfg->workers = static_cast<uint32_t>(n);
      }
    }
  }
  if (const Entry* lg = top.get("log")) {
    MapReader m(*this, lg->value, lg->key_node.Mark(), lg->path, {"level"});
    if (m.ok()) {
      if (const Entry* lv = m.get("level")) {
        std::string s;
        common::LogLevel level;
        if (scalar(*lv, &s, "one of: debug, info, warn, error, off")) {
          if (!common::log::parseLevel(s, &level)) {
            error(*lv, squote(s) + " is not a log level; expected one of: debug, info, warn, "
                                   "error, off");
          } else {
            cfg->log_level = s;
          }
        }
      }
    }
  }
  if (const Entry* l = top.get("listen")) loadListen(*l, cfg);
  if (const Entry* a = top.get("admin")) loadAdmin(*a, cfg);
  loadUpstream(top.get("upstream"), root_mark, cfg);
  loadClients(top.get("clients"), root_mark, cfg);
  if (const Entry* k = top.get("keys")) loadKeys(*k, cfg);
  const Entry* policies = top.get("policies");
  if (policies != nullptr) loadPolicies(*policies, cfg);
  if (const Entry* x = top.get("limits")) loadLimits(*x, cfg);
  if (const Entry* x = top.get("timeouts")) loadTimeouts(*x, cfg);
  if (const Entry* x = top.get("audit")) loadAudit(*x, cfg);

  // Cross-section checks.
  if (policies != nullptr && !cfg->policies.empty() && top.get("keys") == nullptr) {
    error(policies->key_node.Mark(), "keys",
          "missing while policies are configured; expected a keys section with keyring_file and "
          "kek_file or kek_env");
  }
  auto unspecified = [](const std::string& a) { return a == "0.0.0.0" || a == "::"; };
  if (const Entry* a = top.get("admin");
      cfg->admin.enabled && cfg->admin.port == cfg->listen.port &&
      (cfg->admin.address == cfg->listen.address || unspecified(cfg->admin.address) ||
       unspecified(cfg->listen.address))) {
    error(a != nullptr ? a->key_node.Mark() : root_mark, "admin.port",
          std::to_string(cfg->admin.port) + " is also the listen port (" +
              cfg->listen.address + " and " + cfg->admin.address +
              " overlap); expected a different port");
  }
  // The sidecar tells clients apart by their keys, and the account key must never be handed to
  // an app: key files are compared by (resolved) path; equal contents under different names
  // are for `cosmoseal check`, which reads the files.
  auto norm = [](const std::string& p) {
    return std::filesystem::path(p).lexically_normal().string();
  };
  const std::string account_key = cfg->upstream.key_file.empty() ? std::string()
                                                                  : norm(cfg->upstream.key_file);
  std::map<std::string, size_t> key_owner;
  for (size_t i = 0; i < cfg->clients.size(); ++i) {
    const ClientConfig& c = cfg->clients[i];
    if (c.key_file.empty()) continue;
    const std::string key_file = norm(c.key_file);
    YAML::Mark m;
    m.line = c.key_pos.line - 1;
    m.column = c.key_pos.column - 1;
    const std::string kp = "clients[" + std::to_string(i) + "].key_file";
    if (!account_key.empty() && key_file == account_key) {
      error(m, kp,
            "is the upstream account key file; expected a separate client key (the app must "
            "never hold the account key)");
    } else if (auto [it, inserted] = key_owner.emplace(key_file, i); !inserted) {
      error(m, kp,
            "is also the key file of clients[" + std::to_string(it->second) +
                "]; expected one key per client (clients are told apart by their keys)");
    }
  }
}

StatusOr<Config> parseWith(const std::string& text, const std::string& name,
                           const std::filesystem::path& base_dir) {
  Loader loader(name, base_dir);
  Config cfg;
  cfg.file = name;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    if (docs.size() > 1) {
      loader.error(docs[1].Mark(), "(top level)",
                   "the file holds " + std::to_string(docs.size()) +
                       " YAML documents; expected exactly one");
    } else {
      loader.load(docs.empty() ? YAML::Node() : docs.front(), &cfg);
    }
  } catch (const YAML::ParserException& e) {
    return Status(Code::kFailedPrecondition, "config.syntax",
                  name + ":" + std::to_string(e.mark.line + 1) + ":" +
                      std::to_string(e.mark.column + 1) + ": YAML syntax error: " + e.msg +
                      "; expected valid YAML");
  } catch (const std::exception& e) {
    // yaml-cpp throws from accessors only on misuse; report instead of escaping the loader.
    return Status(Code::kFailedPrecondition, "config.invalid",
                  name + ": could not read the configuration: " + e.what() +
                      "; expected a valid configuration file");
  }
  COSMOSEAL_RETURN_IF_ERROR(loader.finish());
  return cfg;
}

}  // namespace

StatusOr<Config> parseConfigText(const std::string& text, const std::string& name) {
  return parseWith(text, name, std::filesystem::path(name).parent_path());
}

StatusOr<Config> loadConfigFile(const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Status(Code::kFailedPrecondition, "config.unreadable",
                    path + ": cannot access the file (" + ec.message() +
                        "); expected a readable YAML file");
    }
    return Status(Code::kFailedPrecondition, "config.missing",
                  path + ": no such file; expected the path of a YAML configuration file");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return Status(Code::kFailedPrecondition, "config.unreadable",
                  path + ": not a regular file; expected a YAML configuration file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status(Code::kFailedPrecondition, "config.unreadable",
                  path + ": cannot open (" + std::strerror(errno) +
                      "); expected a readable YAML file");
  }
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Status(Code::kFailedPrecondition, "config.unreadable",
                    path + ": larger than 4 MiB; expected a configuration file");
    }
  }
  if (in.bad()) {
    return Status(Code::kFailedPrecondition, "config.unreadable",
                  path + ": read error; expected a readable YAML file");
  }
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  std::filesystem::path base = ec ? std::filesystem::path(path).parent_path()
                                  : abs.lexically_normal().parent_path();
  return parseWith(text, path, base);
}

}  // namespace cosmoseal::proxy
