#pragma once

// A small blocking HTTP/1.1 client over verified TLS, for work done off the event loops: fetching
// Entra ID tokens (token endpoints, managed identity endpoints) and OpenID/JWKS documents.
//
// * TLS is always verified (the system store, or Options::ca_file), the host name is checked and
//   SNI is sent for DNS names: the same TlsContext/TlsSession code as the upstream leg. Plain
//   http:// is refused unless Options::allow_insecure_http (the Azure IMDS endpoint is plain HTTP
//   on a link-local address).
// * Responses are framed by the project's Http1Parser in response mode: Content-Length, chunked
//   and until-close bodies; interim 1xx responses are skipped; trailers are refused.
// * One keep-alive connection per origin is kept for the next request. A request that finds its
//   kept connection closed by the peer before any response byte is retried once on a fresh one.
// * Request::timeout bounds the whole exchange: connect, TLS, request and response. Name
//   resolution (getaddrinfo) is blocking and is not interrupted, but its time counts.
//
// Threading: one HttpsClient per thread; not thread-safe. It blocks the calling thread, so it must
// never be used on a libuv loop thread.
//
// Secrets: request and response bodies may hold credentials or tokens; the client never logs them
// and wipes its own buffers (the caller owns and wipes the HttpsResponse it gets).

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "proxy/net/details.h"

namespace cosmoseal::proxy {
class TlsContext;
}  // namespace cosmoseal::proxy

namespace cosmoseal::net {

// The detail codes of send() failures (proxy/net/details.h).
using proxy::net_detail::kHttpsBadResponse;
using proxy::net_detail::kHttpsConnectFailed;
using proxy::net_detail::kHttpsResponseTooLarge;
using proxy::net_detail::kHttpsTimeout;
using proxy::net_detail::kHttpsTlsFailed;

struct HttpsRequest {
  std::string method;  // "GET", "POST", "PUT"
  std::string url;     // https://host[:port]/path?query (http:// only with allow_insecure_http)
  // Host, Content-Length and Connection are added by the client (given ones are dropped).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // whole exchange: connect + TLS + response
};

struct HttpsResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  // The first value of a header (name given in lower case), or nullptr.
  const std::string* header(std::string_view lower_name) const noexcept;
};

// The parts of an http(s) URL the client uses. Exposed for tests and for configuration checks.
struct ParsedUrl {
  bool tls = true;
  std::string host;  // without brackets for IPv6 literals
  uint16_t port = 443;
  std::string target;  // origin-form: "/path?query" ("/" when empty)
  // "host:port" as the Host header wants it (brackets for IPv6, port omitted when default).
  std::string hostHeader() const;
};
// Fails with https.connect_failed on anything but http(s)://host[:port][/path][?query] (no user
// info, no fragment).
common::StatusOr<ParsedUrl> parseUrl(std::string_view url);

class HttpsClient {  // one per thread (not thread-safe); keeps one keep-alive connection per origin
 public:
  struct Options {
    std::string ca_file;  // PEM bundle; empty: the system trust store
    bool allow_insecure_http = false;
    size_t max_response_bytes = 16u << 20;
  };

  explicit HttpsClient(Options options);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Sends one request and reads the whole response. Any HTTP status is a successful exchange.
  // Fails (never throws) with a Status whose detail is one of kHttpsConnectFailed, kHttpsTlsFailed,
  // kHttpsTimeout, kHttpsBadResponse, kHttpsResponseTooLarge; the message says why (never the
  // body).
  common::StatusOr<HttpsResponse> send(const HttpsRequest& request);

  // Closes every kept connection.
  void closeIdle() noexcept;
  // Kept connections (tests).
  size_t idleConnections() const noexcept { return conns_.size(); }

 private:
  struct Conn;
  using Clock = std::chrono::steady_clock;

  common::StatusOr<std::shared_ptr<proxy::TlsContext>> tlsContext();
  common::StatusOr<std::unique_ptr<Conn>> connect(const ParsedUrl& url, Clock::time_point deadline);
  // One attempt on `conn`. *response_started tells whether any response byte arrived (a failure
  // before that on a reused connection may be retried).
  common::StatusOr<HttpsResponse> exchange(Conn& conn, const ParsedUrl& url,
                                           const HttpsRequest& request, Clock::time_point deadline,
                                           bool* response_started, bool* keep_alive);

  Options options_;
  std::shared_ptr<proxy::TlsContext> tls_;
  std::map<std::string, std::unique_ptr<Conn>> conns_;  // by "scheme://host:port"
};

}  // namespace cosmoseal::net
