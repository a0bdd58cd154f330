#include "proxy/identity/token.h"

#include <openssl/crypto.h>
#include <simdjson.h>

#include <charconv>

#include "crypto/base64.h"
#include "proxy/identity/details.h"

namespace cosmoseal::proxy::identity {

using common::Code;
using common::Status;

namespace {

bool toInt(std::string_view text, int64_t* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

// A member as a number of seconds: a JSON integer, or a string holding one (IMDS and App
// Service send numbers as strings). Anything else (a fraction, a word, an object) is not.
bool intMember(simdjson::dom::object obj, std::string_view name, int64_t* out) {
  simdjson::dom::element el;
  if (obj[name].get(el) != simdjson::SUCCESS) return false;
  std::string_view text;
  if (el.get_string().get(text) == simdjson::SUCCESS) return toInt(text, out);
  return el.get_int64().get(*out) == simdjson::SUCCESS;
}

// A member's value as text for a message: a string unescaped, anything else as minified JSON.
// Error codes and descriptions are not secrets, but may be long: keep logs readable.
std::string clippedText(simdjson::dom::element el) {
  std::string_view s;
  std::string owned;
  if (el.get_string().get(s) != simdjson::SUCCESS) {
    owned = simdjson::minify(el);
    s = owned;
  }
  return std::string(s.size() > 300 ? s.substr(0, 300) : s) + (s.size() > 300 ? "..." : "");
}

// simdjson unescapes string values into its parser's own buffer, which is freed unwiped: every
// string value of the answer (the access token, and any refresh or id token beside it) is
// overwritten there before the parser goes away.
void wipeStrings(simdjson::dom::object obj) {
  for (const simdjson::dom::key_value_pair kv : obj) {
    std::string_view s;
    if (kv.value.get_string().get(s) == simdjson::SUCCESS && !s.empty()) {
      OPENSSL_cleanse(const_cast<char*>(s.data()), s.size());
    }
  }
}

Status badResponse(std::string msg) {
  return Status(Code::kBadGateway, identity_detail::kBadTokenResponse, std::move(msg));
}

common::StatusOr<AccessToken> readTokenResponse(simdjson::dom::object obj, int64_t now_unix) {
  simdjson::dom::element err;
  if (obj["error"].get(err) == simdjson::SUCCESS) {
    std::string message = "the token endpoint refused: " + clippedText(err);
    simdjson::dom::element d;
    if (obj["error_description"].get(d) == simdjson::SUCCESS) {
      message += " (" + clippedText(d) + ")";
    }
    return Status(Code::kBadGateway, identity_detail::kTokenEndpointError, std::move(message));
  }
  std::string_view token;
  if (obj["access_token"].get_string().get(token) != simdjson::SUCCESS || token.empty()) {
    return badResponse("the token endpoint's answer has no access_token");
  }
  AccessToken out;
  out.obtained_at = now_unix;
  int64_t n = 0;
  // expires_in wins over expires_on: a duration is immune to the clocks disagreeing.
  if (intMember(obj, "expires_in", &n)) {
    out.expires_on = now_unix + n;
  } else if (intMember(obj, "expires_on", &n)) {
    out.expires_on = n;
  } else {
    return badResponse("the token endpoint's answer has no usable expires_in or expires_on");
  }
  if (out.expires_on <= now_unix) {
    return badResponse("the token endpoint returned a token that has already expired");
  }
  // A token goes into an HTTP header: refuse bytes that would break or smuggle a header.
  for (const char c : token) {
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F) {
      return badResponse("the access_token holds characters a header cannot carry");
    }
  }
  out.value = common::SecretBytes::copyOf(token);
  return out;
}

}  // namespace

common::StatusOr<AccessToken> parseTokenResponse(std::string_view json, int64_t now_unix) {
  // Our own padded copy (simdjson reads up to SIMDJSON_PADDING bytes past the end), wiped after:
  // the answer holds the token.
  std::string padded;
  padded.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  padded.assign(json);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (parser.parse(padded.data(), padded.size(), false).get(root) != simdjson::SUCCESS ||
      root.get_object().get(obj) != simdjson::SUCCESS) {
    OPENSSL_cleanse(padded.data(), padded.size());
    return badResponse("the token endpoint's answer is not a JSON object");
  }
  common::StatusOr<AccessToken> result = readTokenResponse(obj, now_unix);
  wipeStrings(obj);
  OPENSSL_cleanse(padded.data(), padded.size());
  return result;
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
