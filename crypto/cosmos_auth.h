#pragma once

// Cosmos DB master-key authorization (ref/cosmos-protocol.md §1): the ONE implementation used by
// the proxy (verify the app's signature, re-sign upstream), the benches and the tests.
//
//   auto res = cosmosResourceFromPath("/dbs/shop/colls/customers/docs");      // docs, dbs/shop/...
//   auto sts = cosmosStringToSign("POST", res->type, res->link, x_ms_date, "");
//   auto sig = cosmosSignature(account_key, sts);                              // base64
//   headers.set("authorization", cosmosAuthorizationHeader(sig));
//
// Detail codes: auth.bad_path (kInvalidArgument), auth.malformed (kUnauthenticated),
// auth.bad_date (kUnauthenticated).
//
// Thread safety: free functions are thread-safe. HmacSha256 is not (one per thread).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret_bytes.h"
#include "common/status.h"
#include "crypto/internal/openssl_ptr.h"

namespace cosmoseal::crypto {

// (resourceType, resourceLink) of a request, plus the decoded path segments.
struct CosmosResource {
  std::string type;  // as in the path (not lowercased; cosmosStringToSign lowercases it)
  std::string link;  // percent-decoded, no leading/trailing '/', keeps case (except offers)
  // Percent-decoded segments of the path (query dropped, outer '/' trimmed). Reused by the
  // route classifier, so it never decodes the path a second time.
  std::vector<std::string> segments;
  // Set by the caller when the path addresses resources by their RIDs (policy::Route::rid_like):
  // such requests are signed over cosmosRidLink(link) by the .NET and Java SDKs and checked so
  // by the service; the sidecar accepts that form and the name-style one (see Authenticator).
  bool by_rid = false;
};

// Derives type and link from the request target (origin form, e.g. "/dbs/a/colls/b?x=1"):
// drop the query, trim '/', split on '/', percent-decode each segment. 0 segments -> ("", "");
// odd count -> type = last, link = the segments before it; even -> type = second to last,
// link = the whole path. Special case "/offers/{rid}" -> ("offers", lower(rid)).
// Refused with auth.bad_path: a bad %-escape, an empty segment ("//"), or a segment that
// decodes to contain '/', '\0' (ambiguous: the signed link could not be told apart).
common::StatusOr<CosmosResource> cosmosResourceFromPath(std::string_view request_target);

// Derives type and link from already percent-decoded path segments (the same rule as
// cosmosResourceFromPath, which splits and decodes first). The proxy signs with the segments its
// strict route classifier decoded, so routing and signing can never read a path differently.
CosmosResource cosmosResourceFromSegments(std::vector<std::string> segments);

// The link a resource-id (RID) addressed request is signed over: the service and its SDKs
// (.NET AuthorizationHelper, Java BaseAuthorizationTokenProvider) sign those over the addressed
// resource's RID - the last segment of the name-style link - in ASCII lowercase:
// "dbs/gAABAA==/colls/gAABAIAAAAE=" (a pkranges feed) -> "gaabaiaaaae=".
std::string cosmosRidLink(std::string_view link);

// "lower(verb)\nlower(type)\nlink\nlower(x_ms_date)\nlower(date) or ''\n" (ASCII lowercasing).
// The 5th field is the lowercased `date` only when `x_ms_date` is empty.
std::string cosmosStringToSign(std::string_view verb, std::string_view type, std::string_view link,
                               std::string_view x_ms_date, std::string_view date);

// HMAC-SHA256 (RFC 2104) over a reused SHA-256 digest context. Not thread-safe.
//
// Why not EVP_MAC: OpenSSL's HMAC context keeps its own copy of the raw key (and the ipad/opad
// digest states) in ordinary heap memory for as long as the context lives, which for the proxy's
// per-worker contexts is the process lifetime: a core dump showed the account and client keys
// there (issue 13, finding 3). Here the only key-derived bytes kept are K^ipad | K^opad, in
// SecretBytes (zeroized on free, locked, excluded from core dumps); each mac() hashes the pad
// block afresh, so the digest context never holds more than the running hash of the message.
// Cost: two extra SHA-256 blocks per MAC (tens of nanoseconds).
class HmacSha256 {
 public:
  // Use ok() before mac(): false if OpenSSL could not set the context up (no SHA-256).
  explicit HmacSha256(const common::SecretBytes& key);
  bool ok() const noexcept { return ctx_ != nullptr; }
  // HMAC of `message`. If OpenSSL fails (never expected) the result is all zero, which can
  // never match a real signature; ok() turns false.
  std::array<uint8_t, 32> mac(std::string_view message) noexcept;
  // base64(mac(message)).
  std::string macBase64(std::string_view message);

 private:
  common::SecretBytes pads_;  // 64 bytes K^0x36.., then 64 bytes K^0x5c..
  internal::EvpMdCtxPtr ctx_;
};

// base64(HMAC-SHA256(key, string_to_sign)). One-shot convenience over HmacSha256.
std::string cosmosSignature(const common::SecretBytes& key, std::string_view string_to_sign);

// The Authorization header value, URL-encoded like the JS SDK's encodeURIComponent (upper-case
// hex): "type%3Dmaster%26ver%3D1.0%26sig%3D<sig with %2B %2F %3D>".
std::string cosmosAuthorizationHeader(std::string_view sig_b64);

inline constexpr size_t kMaxAuthorizationHeader = 1024;
// Entra ID access tokens (type=aad) are JWTs of a few KiB: the limit a caller that accepts them
// passes to parseCosmosAuthorization.
inline constexpr size_t kMaxAadAuthorizationHeader = 16 * 1024;

struct ParsedAuthorization {
  std::string type;     // "master", "resource", "aad", ... (not validated here)
  std::string version;  // "1.0"
  std::string sig;      // base64 for master keys
};

// Percent-decodes (hex in either case; a literal '+' stays '+'), splits on '&' and the first
// '=' of each part. Exactly the parts type, ver and sig, each once and non-empty; anything
// else (unknown part, missing part, bad escape, > max_len chars) -> auth.malformed.
common::StatusOr<ParsedAuthorization> parseCosmosAuthorization(
    std::string_view header, size_t max_len = kMaxAuthorizationHeader);

// Constant-time comparison of two base64 signatures: both are strictly decoded, lengths must
// match, bytes are compared with CRYPTO_memcmp. Malformed base64 -> false.
bool signatureEquals(std::string_view a_b64, std::string_view b_b64) noexcept;

// RFC 1123 HTTP-date ("Sun, 22 Nov 2026 13:05:47 GMT"; day and month names case-insensitive,
// the weekday is not cross-checked) -> Unix seconds. Anything else -> auth.bad_date.
common::StatusOr<int64_t> parseHttpDate(std::string_view text);
// Unix seconds -> "Sun, 22 Nov 2026 13:05:47 GMT".
std::string formatHttpDate(int64_t unix_seconds);

}  // namespace cosmoseal::crypto
