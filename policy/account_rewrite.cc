#include "policy/account_rewrite.h"

#include <arpa/inet.h>
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <utility>
#include <vector>

#include "common/headers.h"
#include "policy/details.h"
#include "policy/json/text.h"

namespace cosmoseal::policy {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

namespace od = simdjson::ondemand;

constexpr int kMaxDepth = 64;
constexpr std::string_view kEndpointKey = "databaseAccountEndpoint";
constexpr std::string_view kThinWritable = "thinClientWritableLocations";
constexpr std::string_view kThinReadable = "thinClientReadableLocations";
constexpr std::string_view kNameKey = "name";

bool isJsonSpace(char c) noexcept { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Byte-level skipping over a value that simdjson has validated (or will validate): strings
// honour backslash escapes, containers count nesting outside strings.
size_t skipString(std::string_view buf, size_t i) noexcept {
  ++i;  // opening quote
  while (i < buf.size()) {
    if (buf[i] == '\\') {
      i += 2;
    } else if (buf[i] == '"') {
      return i + 1;
    } else {
      ++i;
    }
  }
  return buf.size();
}

size_t skipValue(std::string_view buf, size_t i) noexcept {
  if (i >= buf.size()) return buf.size();
  char c = buf[i];
  if (c == '"') return skipString(buf, i);
  if (c == '{' || c == '[') {
    int depth = 0;
    while (i < buf.size()) {
      c = buf[i];
      if (c == '"') {
        i = skipString(buf, i);
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return buf.size();
  }
  while (i < buf.size() && !isJsonSpace(buf[i]) && buf[i] != ',' && buf[i] != ']' &&
         buf[i] != '}') {
    ++i;
  }
  return i;
}

std::string jsonQuote(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += ch;
    }
  }
  out += '"';
  return out;
}

struct Splice {
  size_t begin;
  size_t end;
  const std::string* replacement;  // nullptr: delete
};

class AccountWalker {
 public:
  AccountWalker(std::string_view buf, const std::string* endpoint_json, const RegionalUrl* regional)
      : buf_(buf), endpoint_json_(endpoint_json), regional_(regional) {}

  simdjson::error_code walkObject(od::object obj, int depth, bool record);
  simdjson::error_code walkArray(od::array arr, int depth, bool record);
  simdjson::error_code walkValue(od::value value, int depth, bool record, bool is_endpoint);

  std::vector<Splice>& splices() { return splices_; }
  int rewritten() const { return rewritten_; }

 private:
  size_t offsetOf(const char* p) const { return static_cast<size_t>(p - buf_.data()); }

  std::string_view buf_;
  const std::string* endpoint_json_;
  const RegionalUrl* regional_;  // may be null
  std::vector<Splice> splices_;
  std::deque<std::string> regional_json_;  // replacements of locations (stable addresses)
  std::string last_string_;                // the last string value read (unescaped)
  int rewritten_ = 0;
};

simdjson::error_code AccountWalker::walkObject(od::object obj, int depth, bool record) {
  struct Member {
    size_t key_start;
    bool removed;
    size_t value_end;  // only for removed members
  };
  std::vector<Member> members;
  constexpr size_t kNone = static_cast<size_t>(-1);
  size_t endpoint_splice = kNone;  // this object's endpoint replacement, if any
  std::string endpoint_value;
  std::string location_name;
  bool has_name = false;
  for (auto field_result : obj) {
    od::field field;
    if (auto err = std::move(field_result).get(field)) return err;
    // key().raw() points just past the opening quote; read it before unescaped_key() consumes it.
    const size_t key_start = offsetOf(field.key().raw()) - 1;
    std::string_view key;
    if (auto err = field.unescaped_key().get(key)) return err;
    const bool thin = key == kThinWritable || key == kThinReadable;
    const bool endpoint = key == kEndpointKey;
    od::value value = field.value();
    size_t value_end = 0;
    if (thin) {
      std::string_view token = value.raw_json_token();
      value_end = skipValue(buf_, offsetOf(token.data()));
    }
    const bool name = key == kNameKey;
    const size_t splices_before = splices_.size();
    last_string_.clear();
    bool was_string = false;
    if (name || endpoint) {
      od::json_type type;
      if (auto err = value.type().get(type)) return err;
      was_string = type == od::json_type::string;
    }
    // Removed members are still validated, but nothing inside them is rewritten.
    if (auto err = walkValue(value, depth + 1, record && !thin, endpoint)) return err;
    if (name && was_string) {
      location_name = last_string_;
      has_name = true;
    }
    if (endpoint && was_string && splices_.size() > splices_before) {
      endpoint_splice = splices_before;
      endpoint_value = last_string_;
    }
    members.push_back(Member{key_start, thin, value_end});
  }
  if (!record) return simdjson::SUCCESS;
  if (regional_ != nullptr && *regional_ && has_name && endpoint_splice != kNone) {
    std::string url = (*regional_)(location_name, endpoint_value);
    if (!url.empty()) {
      regional_json_.push_back(jsonQuote(url));
      splices_[endpoint_splice].replacement = &regional_json_.back();
    }
  }

  const size_t n = members.size();
  size_t first_kept = n;
  for (size_t i = 0; i < n; ++i) {
    if (!members[i].removed) {
      first_kept = i;
      break;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (!members[i].removed) continue;
    if (i < first_kept) {
      // Leading removed member: delete up to the next member's key, comma and spaces included.
      size_t end = i + 1 < n ? members[i + 1].key_start : members[i].value_end;
      splices_.push_back(Splice{members[i].key_start, end, nullptr});
    } else {
      // After a kept member: delete from the end of the previous value (its comma included).
      size_t p = members[i].key_start;
      while (p > 0 && isJsonSpace(buf_[p - 1])) --p;
      if (p > 0 && buf_[p - 1] == ',') --p;
      while (p > 0 && isJsonSpace(buf_[p - 1])) --p;
      splices_.push_back(Splice{p, members[i].value_end, nullptr});
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code AccountWalker::walkArray(od::array arr, int depth, bool record) {
  for (auto element_result : arr) {
    od::value element;
    if (auto err = std::move(element_result).get(element)) return err;
    if (auto err = walkValue(element, depth + 1, record, false)) return err;
  }
  return simdjson::SUCCESS;
}

simdjson::error_code AccountWalker::walkValue(od::value value, int depth, bool record,
                                              bool is_endpoint) {
  if (depth > kMaxDepth) return simdjson::DEPTH_ERROR;
  od::json_type type;
  if (auto err = value.type().get(type)) return err;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (auto err = value.get_object().get(obj)) return err;
      return walkObject(obj, depth, record);
    }
    case od::json_type::array: {
      od::array arr;
      if (auto err = value.get_array().get(arr)) return err;
      return walkArray(arr, depth, record);
    }
    case od::json_type::string: {
      std::string_view token = value.raw_json_token();
      const size_t begin = offsetOf(token.data());
      std::string_view unescaped;
      if (auto err = value.get_string().get(unescaped)) return err;
      last_string_.assign(unescaped);
      if (is_endpoint && record) {
        splices_.push_back(Splice{begin, skipString(buf_, begin), endpoint_json_});
        ++rewritten_;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::number: {
      std::string_view token = value.raw_json_token();
      while (!token.empty() && isJsonSpace(token.back())) token.remove_suffix(1);
      return isJsonNumber(token) ? simdjson::SUCCESS : simdjson::NUMBER_ERROR;
    }
    case od::json_type::boolean: {
      bool b;
      return value.get_bool().get(b);
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto err = value.is_null().get(is_null)) return err;
      return is_null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::INCORRECT_TYPE;
}

Status badJson(std::string why) {
  return Status(
      Code::kBadGateway, policy_detail::kDiscoveryBadJson,
      "the account document from the upstream is not valid JSON (" + std::move(why) + ")");
}

}  // namespace

StatusOr<std::string> rewriteAccountDocument(std::string_view body, std::string_view own_url,
                                             int* rewritten) {
  return rewriteAccountDocument(body, own_url, RegionalUrl(), rewritten);
}

StatusOr<std::string> rewriteAccountDocument(std::string_view body, std::string_view own_url,
                                             const RegionalUrl& regional, int* rewritten) {
  if (rewritten != nullptr) *rewritten = 0;
  simdjson::padded_string padded(body);
  std::string_view buf(padded.data(), body.size());
  od::parser parser;
  od::document doc;
  if (auto err = parser.iterate(padded).get(doc)) return badJson(simdjson::error_message(err));

  size_t root = 0;
  while (root < buf.size() && isJsonSpace(buf[root])) ++root;
  if (root == buf.size() || buf[root] != '{') return badJson("the top level is not an object");

  const std::string endpoint_json = jsonQuote(own_url);
  AccountWalker walker(buf, &endpoint_json, &regional);
  od::object obj;
  if (auto err = doc.get_object().get(obj)) return badJson(simdjson::error_message(err));
  if (auto err = walker.walkObject(obj, 1, true)) return badJson(simdjson::error_message(err));
  // On-demand does not look past the root value: anything but whitespace after it is an error.
  for (size_t i = skipValue(buf, root); i < buf.size(); ++i) {
    if (!isJsonSpace(buf[i])) return badJson("trailing content after the top-level object");
  }

  auto& splices = walker.splices();
  std::sort(splices.begin(), splices.end(),
            [](const Splice& a, const Splice& b) { return a.begin < b.begin; });
  std::string out;
  out.reserve(body.size() + splices.size() * endpoint_json.size());
  size_t at = 0;
  for (const Splice& s : splices) {
    if (s.begin < at) return Status(Code::kInternal, policy_detail::kDiscoveryOverlap, "overlapping edits");
    out.append(buf.substr(at, s.begin - at));
    if (s.replacement != nullptr) out.append(*s.replacement);
    at = s.end;
  }
  out.append(buf.substr(at));
  if (rewritten != nullptr) *rewritten = walker.rewritten();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hosts, origins, absolute URLs

namespace {

bool isDigit(char c) noexcept { return c >= '0' && c <= '9'; }
bool isAlnum(char c) noexcept {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool isIpv4(std::string_view s) noexcept {
  int parts = 0;
  size_t i = 0;
  while (true) {
    size_t start = i;
    int value = 0;
    while (i < s.size() && isDigit(s[i])) {
      value = value * 10 + (s[i] - '0');
      if (value > 255 || i - start >= 3) return false;
      ++i;
    }
    if (i == start || (i - start > 1 && s[start] == '0')) return false;
    ++parts;
    if (i == s.size()) break;
    if (s[i] != '.' || parts == 4) return false;
    ++i;
  }
  return parts == 4;
}

bool isDnsName(std::string_view s) noexcept {
  if (s.empty() || s.size() > 253) return false;
  size_t i = 0;
  bool all_numeric = true;
  while (true) {
    size_t end = s.find('.', i);
    if (end == std::string_view::npos) end = s.size();
    std::string_view label = s.substr(i, end - i);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!isAlnum(c) && c != '-') return false;
      if (!isDigit(c)) all_numeric = false;
    }
    if (end == s.size()) break;
    i = end + 1;
  }
  // All-numeric dotted names are IPv4 addresses (or malformed ones), never DNS names.
  return !all_numeric;
}

bool isIpv6(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  for (char c : s) {
    if (!(isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
          c == '.')) {
      return false;
    }
  }
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

// "65535" -> 65535; no sign, no leading zeros, 1..65535.
bool parsePort(std::string_view s, uint16_t* out) noexcept {
  if (s.empty() || s.size() > 5 || s.front() == '0') return false;
  unsigned value = 0;
  for (char c : s) {
    if (!isDigit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  *out = static_cast<uint16_t>(value);
  return true;
}

struct Authority {
  std::string host;  // lower-cased; IPv6 without brackets
  uint16_t port = 0;
  bool has_port = false;
  bool ipv6 = false;
};

// host / host:port / [v6] / [v6]:port.
bool parseAuthority(std::string_view s, Authority* out) {
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!s.empty() && s.front() == '[') {
    size_t close = s.find(']');
    if (close == std::string_view::npos) return false;
    host = s.substr(1, close - 1);
    std::string_view rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      has_port = true;
    }
    if (!isIpv6(host)) return false;
    out->ipv6 = true;
  } else {
    size_t colon = s.find(':');
    host = s.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = s.substr(colon + 1);
      has_port = true;
    }
    if (!isIpv4(host) && !isDnsName(host)) return false;
    out->ipv6 = false;
  }
  if (has_port && !parsePort(port, &out->port)) return false;
  out->has_port = has_port;
  out->host = common::toLowerAscii(host);
  return true;
}

Status badOrigin(std::string message) {
  return Status(Code::kInvalidArgument, policy_detail::kUrlBadOrigin, std::move(message));
}

uint16_t defaultPort(std::string_view scheme) { return scheme == "http" ? 80 : 443; }

}  // namespace

bool isValidHostHeader(std::string_view value) {
  Authority a;
  return parseAuthority(value, &a);
}

std::string HttpOrigin::authority() const {
  std::string out = ipv6 ? "[" + host + "]" : host;
  out += ":";
  out += std::to_string(port);
  return out;
}

std::string HttpOrigin::url() const { return scheme + "://" + authority() + "/"; }

StatusOr<HttpOrigin> parseHttpOrigin(std::string_view url) {
  static constexpr const char* kExpected = "expected https://host[:port]/";
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    // Not "'" + std::string(url): GCC 12 at -O3 reports a false -Wrestrict for literal + string&&.
    return badOrigin(std::string("'").append(url) + "' is not an absolute URL; " + kExpected);
  }
  HttpOrigin o;
  o.scheme = common::toLowerAscii(url.substr(0, sep));
  if (o.scheme != "https" && o.scheme != "http") {
    return badOrigin("scheme '" + std::string(url.substr(0, sep)) + "' is not supported; " +
                     kExpected);
  }
  std::string_view rest = url.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view tail = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (!tail.empty() && tail != "/") {
    return badOrigin("URL has a path, query or fragment ('" + std::string(tail) + "'); " +
                     kExpected);
  }
  if (authority.find('@') != std::string_view::npos) {
    return badOrigin("URL contains user information; " + std::string(kExpected));
  }
  if (authority.empty()) return badOrigin("URL has no host; " + std::string(kExpected));
  Authority a;
  if (!parseAuthority(authority, &a)) {
    return badOrigin(std::string("'").append(authority) +
                     "' is not a valid host[:port] (DNS name, IPv4, or [IPv6] in brackets; port "
                     "1-65535); " +
                     kExpected);
  }
  o.host = std::move(a.host);
  o.ipv6 = a.ipv6;
  o.port_explicit = a.has_port;
  o.port = a.has_port ? a.port : defaultPort(o.scheme);
  return o;
}

std::string rewriteAbsoluteUrl(std::string_view header_value,
                               std::string_view upstream_origin_or_host,
                               std::string_view own_origin) {
  std::string up_scheme = "https";
  std::string_view up_auth = upstream_origin_or_host;
  if (size_t sep = up_auth.find("://"); sep != std::string_view::npos) {
    up_scheme = common::toLowerAscii(up_auth.substr(0, sep));
    up_auth = up_auth.substr(sep + 3);
  }
  while (!up_auth.empty() && up_auth.back() == '/') up_auth.remove_suffix(1);
  Authority up;
  if (!parseAuthority(up_auth, &up)) return std::string(header_value);
  const uint16_t up_port = up.has_port ? up.port : defaultPort(up_scheme);

  size_t sep = header_value.find("://");
  if (sep == std::string_view::npos) return std::string(header_value);
  std::string scheme = common::toLowerAscii(header_value.substr(0, sep));
  if (scheme != up_scheme) return std::string(header_value);
  std::string_view rest = header_value.substr(sep + 3);
  size_t end = rest.find_first_of("/?#");
  if (end == std::string_view::npos) end = rest.size();
  Authority got;
  if (!parseAuthority(rest.substr(0, end), &got)) return std::string(header_value);
  const uint16_t got_port = got.has_port ? got.port : defaultPort(scheme);
  if (got.host != up.host || got_port != up_port) return std::string(header_value);

  std::string_view own = own_origin;
  while (!own.empty() && own.back() == '/') own.remove_suffix(1);
  std::string out(own);
  out.append(rest.substr(end));
  return out;
}

}  // namespace cosmoseal::policy
