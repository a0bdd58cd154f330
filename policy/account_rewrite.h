#pragma once

// Account discovery and URL helpers (ref/cosmos-protocol.md §2, DESIGN.md §7).
//
// SDKs read `GET /` (the database account) and then send every data-plane request to the
// `databaseAccountEndpoint` of a readable/writable location. If those endpoints still named the
// real account, the app would bypass the sidecar after the first request: every one of them is
// rewritten to the sidecar's own URL, and the thin-client (Gateway 2.0, RNTBD over HTTP/2)
// location lists are deleted so that no SDK can switch to a protocol the sidecar does not see.
//
// All functions are pure, allocation-bounded by their input, and never throw.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cosmoseal::policy {

// Rewrites a database-account document:
//   * every member named `databaseAccountEndpoint` whose value is a string, at any depth, gets
//     the value `own_url` (as a JSON string); names are compared after unescaping, so
//     "database\u0041ccountEndpoint" counts;
//   * every member named `thinClientWritableLocations` or `thinClientReadableLocations`, at any
//     depth, is removed together with the comma that separated it from its neighbours;
//   * every other byte is copied unchanged (whitespace, number spelling, escapes, key order).
// The whole input is validated (strict JSON, UTF-8, one top-level object, nesting at most 64);
// on failure returns BadGateway "discovery.bad_json" (the proxy answers 502).
// `rewritten` (optional) receives the number of endpoint values replaced.
common::StatusOr<std::string> rewriteAccountDocument(std::string_view body,
                                                     std::string_view own_url,
                                                     int* rewritten = nullptr);

// Per-region variant (listen.region_ports, docs/OPERATIONS.md "Regions"). A *location* is an
// object with a string member `name` and a string member `databaseAccountEndpoint` (the entries
// of writableLocations / readableLocations). For each location, in document order, `regional` is
// called with the unescaped name and endpoint and returns the URL to advertise for it; an empty
// answer means `own_url`. Every other endpoint value gets `own_url`, every other member is kept
// byte for byte (enablePerPartitionFailoverBehavior, enableMultipleWriteLocations, ...), and the
// thin-client lists are removed as above. `regional` is not called for locations inside removed
// members. Same validation and failure as above.
using RegionalUrl = std::function<std::string(std::string_view name, std::string_view endpoint)>;
common::StatusOr<std::string> rewriteAccountDocument(std::string_view body,
                                                     std::string_view own_url,
                                                     const RegionalUrl& regional,
                                                     int* rewritten = nullptr);

// For response headers that carry absolute URLs (Content-Location): if `header_value` starts
// with the upstream origin, that origin is replaced by `own_origin`; otherwise the value is
// returned unchanged. `upstream_origin_or_host` is either an origin ("https://acct.documents.
// azure.com:443", a trailing '/' is fine) or a bare "host[:port]" (scheme https). Scheme and
// host compare case-insensitively; a missing port means the scheme's default, so
// "https://h/x" matches "h:443". `own_origin` may end with '/'; it is not doubled.
std::string rewriteAbsoluteUrl(std::string_view header_value,
                               std::string_view upstream_origin_or_host,
                               std::string_view own_origin);

// A Host header value the sidecar may echo into the URL it advertises: "host", "host:port",
// "[v6]" or "[v6]:port". host = DNS labels (1-63 of [A-Za-z0-9-], not starting or ending with
// '-'; total <= 253) or a dotted IPv4 address; port = 1-65535 without leading zeros; IPv6 as
// accepted by inet_pton (no zone id).
bool isValidHostHeader(std::string_view value);

// An absolute http(s) URL reduced to its origin: "https://host[:port][/]" and nothing else (no
// user info, path, query or fragment). IPv6 hosts are written in brackets.
struct HttpOrigin {
  std::string scheme;  // "https" or "http" (lower-cased)
  std::string host;    // lower-cased; IPv6 without brackets
  uint16_t port = 0;   // the explicit port, or the scheme's default (443 / 80)
  bool port_explicit = false;
  bool ipv6 = false;

  // "https://host:port/" (always with the port and a trailing '/'; brackets for IPv6).
  std::string url() const;
  // "host:port" or "[v6]:port", for Host / SNI style uses.
  std::string authority() const;
};

// Parses an origin URL. Failure: InvalidArgument "url.bad_origin" with a message of the form
// "<what is wrong>; expected <what>" (used verbatim in configuration errors).
common::StatusOr<HttpOrigin> parseHttpOrigin(std::string_view url);

}  // namespace cosmoseal::policy
