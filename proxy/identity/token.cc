#include "proxy/identity/token.h"

#include <openssl/crypto.h>

#include <charconv>

#include "crypto/base64.h"
#include "policy/json/text.h"
#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {

using common::Code;
using common::Status;

namespace {

class FlatParser {
 public:
  explicit FlatParser(std::string_view s) : s_(s) {}

  bool object(std::vector<FlatJsonMember>* out) {
    ws();
    if (!eat('{')) return false;
    ws();
    if (eat('}')) return end();
    for (;;) {
      FlatJsonMember m;
      ws();
      if (!string(&m.name)) return false;
      ws();
      if (!eat(':')) return false;
      ws();
      if (peek() == '"') {
        m.is_string = true;
        if (!string(&m.value)) return false;
        out->push_back(std::move(m));
      } else if (peek() == '{' || peek() == '[') {
        if (!skipNested()) return false;
      } else {
        const size_t start = i_;
        while (i_ < s_.size() && s_[i_] != ',' && s_[i_] != '}' && !isWs(s_[i_])) ++i_;
        if (i_ == start) return false;
        m.value = std::string(s_.substr(start, i_ - start));
        out->push_back(std::move(m));
      }
      ws();
      if (eat('}')) return end();
      if (!eat(',')) return false;
    }
  }

 private:
  static bool isWs(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
  void ws() {
    while (i_ < s_.size() && isWs(s_[i_])) ++i_;
  }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++i_;
    return true;
  }
  bool end() {
    ws();
    return i_ == s_.size();
  }
  bool hex4(uint32_t* v) {
    if (i_ + 4 > s_.size()) return false;
    *v = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = policy::hexDigitValue(s_[i_++]);
      if (h < 0) return false;
      *v = (*v << 4) | static_cast<uint32_t>(h);
    }
    return true;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      const char c = s_[i_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t lo = 0;
            if (!eat('\\') || !eat('u') || !hex4(&lo) || lo < 0xDC00 || lo >= 0xE000) return false;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return false;
          }
          policy::appendUtf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  // Skips a nested object or array (strings inside may hold brackets).
  bool skipNested() {
    int depth = 0;
    while (i_ < s_.size()) {
      const char c = peek();
      if (c == '"') {
        std::string ignored;
        if (!string(&ignored)) return false;
        continue;
      }
      ++i_;
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return true;
      }
      if (depth > 64) return false;
    }
    return false;
  }

  std::string_view s_;
  size_t i_ = 0;
};

void wipe(std::vector<FlatJsonMember>* members) {
  for (auto& m : *members) {
    OPENSSL_cleanse(m.value.data(), m.value.size());
  }
  members->clear();
}

const FlatJsonMember* find(const std::vector<FlatJsonMember>& members, std::string_view name) {
  for (const auto& m : members) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

bool toInt(std::string_view text, int64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// Error codes and descriptions are not secrets, but may be long: keep logs readable.
std::string clip(std::string_view s) {
  return std::string(s.size() > 300 ? s.substr(0, 300) : s) + (s.size() > 300 ? "..." : "");
}

}  // namespace

bool parseFlatJsonObject(std::string_view json, std::vector<FlatJsonMember>* out) {
  FlatParser p(json);
  return p.object(out);
}

common::StatusOr<AccessToken> parseTokenResponse(std::string_view json, int64_t now_unix) {
  std::vector<FlatJsonMember> members;
  if (!parseFlatJsonObject(json, &members)) {
    wipe(&members);
    return Status(Code::kBadGateway, identity_detail::kBadTokenResponse,
                  "the token endpoint's answer is not a JSON object");
  }
  if (const FlatJsonMember* err = find(members, "error")) {
    std::string message = "the token endpoint refused: " + clip(err->value);
    if (const FlatJsonMember* d = find(members, "error_description")) {
      message += " (" + clip(d->value) + ")";
    }
    wipe(&members);
    return Status(Code::kBadGateway, identity_detail::kTokenEndpointError, std::move(message));
  }
  const FlatJsonMember* token = find(members, "access_token");
  if (token == nullptr || !token->is_string || token->value.empty()) {
    wipe(&members);
    return Status(Code::kBadGateway, identity_detail::kBadTokenResponse,
                  "the token endpoint's answer has no access_token");
  }
  AccessToken out;
  out.obtained_at = now_unix;
  int64_t n = 0;
  if (const FlatJsonMember* in = find(members, "expires_in");
      in != nullptr && toInt(in->value, &n)) {
    out.expires_on = now_unix + n;
  } else if (const FlatJsonMember* on = find(members, "expires_on");
             on != nullptr && toInt(on->value, &n)) {
    out.expires_on = n;
  } else {
    wipe(&members);
    return Status(Code::kBadGateway, identity_detail::kBadTokenResponse,
                  "the token endpoint's answer has no usable expires_in or expires_on");
  }
  if (out.expires_on <= now_unix) {
    wipe(&members);
    return Status(Code::kBadGateway, identity_detail::kBadTokenResponse,
                  "the token endpoint returned a token that has already expired");
  }
  // A token goes into an HTTP header: refuse bytes that would break or smuggle a header.
  for (const char c : token->value) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      wipe(&members);
      return Status(Code::kBadGateway, identity_detail::kBadTokenResponse,
                    "the access_token holds characters a header cannot carry");
    }
  }
  out.value = common::SecretBytes::copyOf(std::string_view(token->value));
  wipe(&members);
  return out;
}

void appendFormEncoded(std::string* out, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '.' || u == '_' || u == '~') {
      out->push_back(c);
    } else {
      out->push_back('%');
      out->push_back(kHex[u >> 4]);
      out->push_back(kHex[u & 0xF]);
    }
  }
}

std::string base64UrlEncode(std::string_view data) {
  std::string s = crypto::base64Encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

}  // namespace cosmoseal::proxy::identity
