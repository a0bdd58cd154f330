#include "crypto/cosmos_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdio>
#include <ctime>

#include "common/text.h"
#include "common/url.h"
#include "crypto/base64.h"
#include "crypto/details.h"

namespace cosmoseal::crypto {
namespace {

common::Status badPath(std::string message) {
  return common::Status(common::Code::kInvalidArgument, crypto_detail::kBadPath,
                        std::move(message));
}

common::Status malformed(std::string message) {
  return common::Status(common::Code::kUnauthenticated, crypto_detail::kMalformed,
                        std::move(message));
}

common::Status badDate(std::string message) {
  return common::Status(common::Code::kUnauthenticated, crypto_detail::kBadDate,
                        std::move(message));
}

// encodeURIComponent's unreserved set: A-Z a-z 0-9 - _ . ! ~ * ' ( )
bool uriComponentUnreserved(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '!' || c == '~' || c == '*' || c == '\'' || c == '(' ||
         c == ')';
}

void appendUriComponent(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : s) {
    if (uriComponentUnreserved(c)) {
      out->push_back(c);
    } else {
      const auto b = static_cast<uint8_t>(c);
      out->push_back('%');
      out->push_back(kHex[b >> 4]);
      out->push_back(kHex[b & 15]);
    }
  }
}

constexpr const char* kDayNames[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
constexpr const char* kMonthNames[12] = {"jan", "feb", "mar", "apr", "may", "jun",
                                         "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDayNamesOut[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonthNamesOut[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool equalsLower3(std::string_view s, const char* lower) noexcept {
  return s.size() == 3 && common::lowerAscii(s[0]) == lower[0] && common::lowerAscii(s[1]) == lower[1] &&
         common::lowerAscii(s[2]) == lower[2];
}

// Parses exactly `digits` ASCII digits at text[pos].
bool parseDigits(std::string_view text, size_t pos, size_t digits, int* out) noexcept {
  if (pos + digits > text.size()) return false;
  int v = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

}  // namespace

common::StatusOr<CosmosResource> cosmosResourceFromPath(std::string_view request_target) {
  std::string_view path = request_target;
  const size_t q = path.find('?');
  if (q != std::string_view::npos) path = path.substr(0, q);
  // A fragment never reaches a server, but refuse to sign around one if it does.
  if (path.find('#') != std::string_view::npos) return badPath("'#' in the request path");
  // Any number of leading slashes, as Cosmos accepts ("//dbs/..." from an endpoint written with
  // a trailing slash); one trailing slash. An empty segment anywhere else is refused, as the
  // router (policy/route) refuses it.
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);

  CosmosResource res;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    const std::string_view raw = path.substr(0, slash);
    if (raw.empty()) return badPath("empty segment ('//') in the request path");
    std::string seg;
    if (!common::percentDecode(raw, &seg)) return badPath("bad %-escape in the request path");
    if (seg.find('/') != std::string::npos || seg.find('\0') != std::string::npos) {
      return badPath("a path segment decodes to '/' or NUL");
    }
    res.segments.push_back(std::move(seg));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
    if (path.empty()) return badPath("empty segment ('//') in the request path");
  }
  return cosmosResourceFromSegments(std::move(res.segments));
}

CosmosResource cosmosResourceFromSegments(std::vector<std::string> segments) {
  CosmosResource res;
  res.segments = std::move(segments);
  const size_t n = res.segments.size();
  if (n == 0) return res;
  if (n == 2 && res.segments[0] == "offers") {
    // Offers are RID-addressed and signed with the lowercased RID alone (protocol §1.2).
    res.type = "offers";
    for (char c : res.segments[1]) res.link.push_back(common::lowerAscii(c));
    return res;
  }
  const size_t link_segments = (n % 2 == 1) ? n - 1 : n;
  res.type = (n % 2 == 1) ? res.segments[n - 1] : res.segments[n - 2];
  for (size_t i = 0; i < link_segments; ++i) {
    if (i != 0) res.link.push_back('/');
    res.link += res.segments[i];
  }
  return res;
}

std::string cosmosRidLink(std::string_view link) {
  const size_t slash = link.rfind('/');
  return common::toLowerAscii(slash == std::string_view::npos ? link : link.substr(slash + 1));
}

std::string cosmosStringToSign(std::string_view verb, std::string_view type, std::string_view link,
                               std::string_view x_ms_date, std::string_view date) {
  std::string out;
  out.reserve(verb.size() + type.size() + link.size() + x_ms_date.size() + date.size() + 5);
  common::appendLowerAscii(&out, verb);
  out.push_back('\n');
  common::appendLowerAscii(&out, type);
  out.push_back('\n');
  out.append(link);
  out.push_back('\n');
  common::appendLowerAscii(&out, x_ms_date);
  out.push_back('\n');
  if (x_ms_date.empty()) common::appendLowerAscii(&out, date);
  out.push_back('\n');
  return out;
}

HmacSha256::HmacSha256(const common::SecretBytes& key) {
  constexpr size_t kBlock = 64;  // SHA-256 block size
  const EVP_MD* md = internal::sha256();
  if (key.empty() || md == nullptr) return;
  internal::EvpMdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) return;
  common::SecretBytes pads(2 * kBlock);
  // RFC 2104: a key longer than the block is replaced by its hash (32 bytes), then zero-padded.
  const uint8_t* k = key.data();
  size_t klen = key.size();
  uint8_t hashed[32];
  if (klen > kBlock) {
    unsigned int hlen = 0;
    const bool ok = EVP_Digest(key.data(), key.size(), hashed, &hlen, md, nullptr) == 1;
    if (!ok || hlen != sizeof(hashed)) {
      OPENSSL_cleanse(hashed, sizeof(hashed));
      return;
    }
    k = hashed;
    klen = hlen;
  }
  uint8_t* p = pads.data();
  for (size_t i = 0; i < kBlock; ++i) {
    const uint8_t b = i < klen ? k[i] : 0;
    p[i] = b ^ 0x36;
    p[kBlock + i] = b ^ 0x5c;
  }
  OPENSSL_cleanse(hashed, sizeof(hashed));
  pads_ = std::move(pads);
  ctx_ = std::move(ctx);
}

std::array<uint8_t, 32> HmacSha256::mac(std::string_view message) noexcept {
  constexpr size_t kBlock = 64;
  std::array<uint8_t, 32> out{};
  if (!ctx_) return out;
  const EVP_MD* md = internal::sha256();
  std::array<uint8_t, 32> inner{};
  unsigned int ilen = 0;
  unsigned int olen = 0;
  // A whole pad block is compressed straight from pads_ (SHA-256 buffers only partial blocks),
  // so the digest context never holds a copy of it.
  const bool ok = EVP_DigestInit_ex2(ctx_.get(), md, nullptr) == 1 &&
                  EVP_DigestUpdate(ctx_.get(), pads_.data(), kBlock) == 1 &&
                  EVP_DigestUpdate(ctx_.get(), message.data(), message.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx_.get(), inner.data(), &ilen) == 1 &&
                  ilen == inner.size() && EVP_DigestInit_ex2(ctx_.get(), md, nullptr) == 1 &&
                  EVP_DigestUpdate(ctx_.get(), pads_.data() + kBlock, kBlock) == 1 &&
                  EVP_DigestUpdate(ctx_.get(), inner.data(), inner.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx_.get(), out.data(), &olen) == 1 && olen == out.size();
  OPENSSL_cleanse(inner.data(), inner.size());
  if (!ok) {
    out.fill(0);
    ctx_.reset();
  }
  return out;
}

std::string HmacSha256::macBase64(std::string_view message) {
  const auto m = mac(message);
  return base64Encode(std::span<const uint8_t>(m.data(), m.size()));
}

std::string cosmosSignature(const common::SecretBytes& key, std::string_view string_to_sign) {
  HmacSha256 h(key);
  return h.macBase64(string_to_sign);
}

std::string cosmosAuthorizationHeader(std::string_view sig_b64) {
  std::string out;
  out.reserve(40 + sig_b64.size() * 3);
  out += "type%3Dmaster%26ver%3D1.0%26sig%3D";
  appendUriComponent(&out, sig_b64);
  return out;
}

common::StatusOr<ParsedAuthorization> parseCosmosAuthorization(std::string_view header,
                                                               size_t max_len) {
  if (header.empty()) return malformed("empty authorization header");
  if (header.size() > max_len) {
    return malformed("authorization header longer than " + std::to_string(max_len) + " characters");
  }
  std::string decoded;
  if (!common::percentDecode(header, &decoded)) return malformed("bad %-escape in authorization");
  ParsedAuthorization out;
  bool have_type = false, have_ver = false, have_sig = false;
  std::string_view rest(decoded);
  while (true) {
    const size_t amp = rest.find('&');
    const std::string_view part = rest.substr(0, amp);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos) return malformed("authorization part without '='");
    const std::string_view name = part.substr(0, eq);
    const std::string_view value = part.substr(eq + 1);
    if (value.empty()) return malformed("empty authorization part");
    bool* seen = nullptr;
    std::string* dest = nullptr;
    if (name == "type") {
      seen = &have_type;
      dest = &out.type;
    } else if (name == "ver") {
      seen = &have_ver;
      dest = &out.version;
    } else if (name == "sig") {
      seen = &have_sig;
      dest = &out.sig;
    } else {
      return malformed("unknown authorization part");
    }
    if (*seen) return malformed("repeated authorization part");
    *seen = true;
    dest->assign(value);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  if (!have_type || !have_ver || !have_sig) {
    return malformed("authorization needs type, ver and sig");
  }
  return out;
}

bool signatureEquals(std::string_view a_b64, std::string_view b_b64) noexcept {
  // HMAC-SHA256 signatures are 44 characters; anything much longer is not a signature.
  constexpr size_t kMaxChars = 128;
  if (a_b64.size() > kMaxChars || b_b64.size() > kMaxChars) return false;
  uint8_t a[base64DecodedMaxSize(kMaxChars)];
  uint8_t b[base64DecodedMaxSize(kMaxChars)];
  size_t alen = 0, blen = 0;
  if (!base64DecodeTo(a_b64, a, &alen) || !base64DecodeTo(b_b64, b, &blen)) return false;
  if (alen != blen || alen == 0) return false;
  return CRYPTO_memcmp(a, b, alen) == 0;
}

common::StatusOr<int64_t> parseHttpDate(std::string_view text) {
  // "Sun, 22 Nov 2026 13:05:47 GMT" (IMF-fixdate); the day may also have one digit.
  const auto bad = [] {
    return badDate("expected an RFC 1123 date such as 'Sun, 22 Nov 2026 13:05:47 GMT'");
  };
  if (text.size() < 28 || text.size() > 29) return bad();
  bool day_ok = false;
  for (const char* d : kDayNames) day_ok = day_ok || equalsLower3(text.substr(0, 3), d);
  if (!day_ok || text[3] != ',' || text[4] != ' ') return bad();
  size_t pos = 5;
  int mday = 0;
  const size_t day_digits = text.size() == 29 ? 2 : 1;
  if (!parseDigits(text, pos, day_digits, &mday)) return bad();
  pos += day_digits;
  if (text[pos] != ' ') return bad();
  ++pos;
  int mon = -1;
  for (int i = 0; i < 12; ++i) {
    if (equalsLower3(text.substr(pos, 3), kMonthNames[i])) mon = i;
  }
  if (mon < 0) return bad();
  pos += 3;
  int year = 0, hour = 0, minute = 0, second = 0;
  if (text[pos] != ' ' || !parseDigits(text, pos + 1, 4, &year)) return bad();
  pos += 5;
  if (text[pos] != ' ' || !parseDigits(text, pos + 1, 2, &hour) || text[pos + 3] != ':' ||
      !parseDigits(text, pos + 4, 2, &minute) || text[pos + 6] != ':' ||
      !parseDigits(text, pos + 7, 2, &second) || text[pos + 9] != ' ') {
    return bad();
  }
  pos += 10;
  if (!equalsLower3(text.substr(pos), "gmt")) return bad();
  if (year < 1970 || hour > 23 || minute > 59 || second > 59 || mday < 1) return bad();

  struct tm tm {};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = mday;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const time_t t = timegm(&tm);
  // timegm normalises (31 Feb -> 3 Mar): refuse dates that did not survive unchanged.
  struct tm check {};
  if (t == static_cast<time_t>(-1) || gmtime_r(&t, &check) == nullptr || check.tm_mday != mday ||
      check.tm_mon != mon || check.tm_year != year - 1900) {
    return bad();
  }
  return static_cast<int64_t>(t);
}

std::string formatHttpDate(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDayNamesOut[tm.tm_wday],
                tm.tm_mday, kMonthNamesOut[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                tm.tm_sec);
  return buf;
}

}  // namespace cosmoseal::crypto
