#include "proxy/net/https_client.h"

#include <netdb.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/secret_bytes.h"
#include "common/text.h"
#include "proxy/http1/codec.h"
#include "proxy/tls/context.h"

namespace cosmoseal::net {

using common::Code;
using common::Status;
using common::StatusOr;

namespace {

Status connectFailed(std::string message) {
  return Status(Code::kUnavailable, kHttpsConnectFailed, std::move(message));
}
Status tlsFailed(std::string message) {
  return Status(Code::kBadGateway, kHttpsTlsFailed, std::move(message));
}
Status timedOut(std::string_view what) {
  return Status(Code::kGatewayTimeout, kHttpsTimeout, std::string(what) + " timed out");
}
Status badResponse(std::string message) {
  return Status(Code::kBadGateway, kHttpsBadResponse, std::move(message));
}

// Wipes a buffer that may have held a credential or token, then empties it.
void wipe(std::string* s) noexcept {
  if (!s->empty()) OPENSSL_cleanse(s->data(), s->size());
  s->clear();
}

int remainingMs(std::chrono::steady_clock::time_point deadline) noexcept {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (left.count() <= 0) return 0;
  return left.count() > 1000000 ? 1000000 : static_cast<int>(left.count());
}

// Waits until `fd` is ready for `events` or the deadline passes (false on timeout).
bool waitFor(int fd, short events, std::chrono::steady_clock::time_point deadline) noexcept {
  for (;;) {
    const int ms = remainingMs(deadline);
    if (ms == 0) return false;
    pollfd p{fd, events, 0};
    const int r = poll(&p, 1, ms);
    if (r > 0) return true;
    if (r == 0) return false;
    if (errno != EINTR) return true;  // let the following I/O call report the error
  }
}

bool isDefaultPort(bool tls, uint16_t port) noexcept {
  return (tls && port == 443) || (!tls && port == 80);
}

// True for the request headers the client writes itself.
bool clientOwnedHeader(std::string_view name) noexcept {
  return common::equalsIgnoreCase(name, "host") ||
         common::equalsIgnoreCase(name, "content-length") ||
         common::equalsIgnoreCase(name, "connection") ||
         common::equalsIgnoreCase(name, "transfer-encoding");
}

// Collects one response from Http1Parser, bounded by max_response_bytes.
class Collector : public proxy::Http1Parser::Handler {
 public:
  Collector(HttpsResponse* out, size_t max_bytes) : out_(out), max_bytes_(max_bytes) {}

  Status onMessageHead(proxy::MessageHead& head) noexcept override {
    out_->status = head.status;
    keep_alive_ = head.keep_alive;
    out_->headers.clear();
    for (const auto& f : head.headers.fields()) {
      out_->headers.emplace_back(common::toLowerAscii(f.name), std::string(f.value));
    }
    if (head.framing == proxy::Framing::kContentLength && head.content_length > max_bytes_) {
      return Status(Code::kBadGateway, kHttpsResponseTooLarge,
                    "response body of " + std::to_string(head.content_length) +
                        " bytes is over the limit of " + std::to_string(max_bytes_));
    }
    // One allocation for a sized body: growing it would free copies of what it holds.
    if (head.framing == proxy::Framing::kContentLength) {
      out_->body.reserve(static_cast<size_t>(head.content_length));
    }
    return Status::ok();
  }
  Status onMessageBody(std::string_view data) noexcept override {
    if (out_->body.size() + data.size() > max_bytes_) {
      return Status(Code::kBadGateway, kHttpsResponseTooLarge,
                    "response body is over the limit of " + std::to_string(max_bytes_) + " bytes");
    }
    common::appendWiping(&out_->body, data);
    return Status::ok();
  }
  Status onMessageComplete() noexcept override {
    complete_ = true;
    return Status::ok();
  }

  bool complete() const noexcept { return complete_; }
  bool keepAlive() const noexcept { return keep_alive_; }

 private:
  HttpsResponse* out_;
  size_t max_bytes_;
  bool complete_ = false;
  bool keep_alive_ = false;
};

}  // namespace

const std::string* HttpsResponse::header(std::string_view lower_name) const noexcept {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

std::string ParsedUrl::hostHeader() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (!isDefaultPort(tls, port)) out += ":" + std::to_string(port);
  return out;
}

StatusOr<ParsedUrl> parseUrl(std::string_view url) {
  ParsedUrl out;
  std::string_view rest;
  if (url.substr(0, 8) == "https://") {
    rest = url.substr(8);
  } else if (url.substr(0, 7) == "http://") {
    out.tls = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    return connectFailed("URL must start with https:// or http://");
  }
  const size_t path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view target = path_at == std::string_view::npos ? "" : rest.substr(path_at);
  if (target.find('#') != std::string_view::npos) {
    return connectFailed("URL must not have a fragment");
  }
  if (authority.find('@') != std::string_view::npos) {
    return connectFailed("URL must not carry user information");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return connectFailed("URL has an unclosed IPv6 literal");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return connectFailed("URL has junk after the IPv6 literal");
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
  }
  if (out.host.empty()) return connectFailed("URL has no host");
  if (!port_text.empty() || authority.ends_with(":")) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return connectFailed("URL has a bad port");
    }
    out.port = static_cast<uint16_t>(value);
  }
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = "/" + std::string(target);
  } else {
    out.target = std::string(target);
  }
  return out;
}

struct HttpsClient::Conn {
  int fd = -1;
  std::unique_ptr<proxy::TlsSession> tls;  // null for plain http
  std::string plain;                       // decrypted bytes not yet given to the parser
  std::string cipher;                      // scratch for TLS output

  // Decrypted records are appended to `plain` (TlsSession::feed); room for a few of them up
  // front so that it rarely grows (growing would free copies of what it holds).
  Conn() { plain.reserve(65536); }
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    wipe(&plain);
    wipe(&cipher);
    if (fd >= 0) close(fd);
  }

  // Writes all of `bytes` (raw socket bytes).
  Status writeRaw(std::string_view bytes, Clock::time_point deadline) noexcept {
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!waitFor(fd, POLLOUT, deadline)) return timedOut("sending the request");
        continue;
      }
      return badResponse(std::string("send failed: ") + std::strerror(errno));
    }
    return Status::ok();
  }

  Status flushTls(Clock::time_point deadline) noexcept {
    if (!tls || !tls->hasOutput()) return Status::ok();
    cipher.clear();
    tls->takeOutput(&cipher);
    return writeRaw(cipher, deadline);
  }

  // Sends application bytes (encrypted when TLS).
  Status write(std::string_view bytes, Clock::time_point deadline) noexcept {
    if (!tls) return writeRaw(bytes, deadline);
    Status s = tls->write(bytes);
    if (!s.isOk()) return tlsFailed(std::string(s.message()));
    return flushTls(deadline);
  }

  // Reads once (waiting up to the deadline) and appends application bytes to `plain`.
  // *eof is set when the peer closed (TCP FIN or TLS close_notify).
  Status read(Clock::time_point deadline, bool* eof, std::string_view what) noexcept {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (!tls) {
          common::appendWiping(&plain, std::string_view(buf, static_cast<size_t>(n)));
          return Status::ok();
        }
        Status s = tls->feed(std::string_view(buf, static_cast<size_t>(n)), &plain);
        OPENSSL_cleanse(buf, static_cast<size_t>(n));
        if (!s.isOk()) return tlsFailed(std::string(s.message()));
        if (tls->peerClosed()) *eof = true;
        // The handshake or a key update may want to answer.
        return flushTls(deadline);
      }
      if (n == 0) {
        *eof = true;
        return Status::ok();
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!waitFor(fd, POLLIN, deadline)) return timedOut(what);
        continue;
      }
      return badResponse(std::string("receive failed: ") + std::strerror(errno));
    }
  }

  // The kept connection is still usable: no unread bytes and no close from the peer.
  bool stillOpen() const noexcept {
    char c = 0;
    const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
};

HttpsClient::HttpsClient(Options options) : options_(std::move(options)) {}
HttpsClient::~HttpsClient() = default;

void HttpsClient::closeIdle() noexcept { conns_.clear(); }

StatusOr<std::shared_ptr<proxy::TlsContext>> HttpsClient::tlsContext() {
  if (tls_) return tls_;
  auto ctx = proxy::TlsContext::client(options_.ca_file);
  if (!ctx.isOk()) return tlsFailed("cannot set up TLS: " + std::string(ctx.status().message()));
  tls_ = *ctx;
  return tls_;
}

StatusOr<std::unique_ptr<HttpsClient::Conn>> HttpsClient::connect(const ParsedUrl& url,
                                                                  Clock::time_point deadline) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(url.port);
  int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found);
  if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
    // AI_ADDRCONFIG hides ::1 on hosts whose only IPv6 address is loopback; ask once without it.
    hints.ai_flags = 0;
    rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &found);
  }
  if (rc != 0) {
    return connectFailed("cannot resolve " + url.host + ": " + gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list(found, freeaddrinfo);
  auto conn = std::make_unique<Conn>();
  std::string last_error = "no address";
  for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int r = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      if (!waitFor(fd, POLLOUT, deadline)) {
        close(fd);
        return timedOut("connecting to " + url.host);
      }
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        errno = err;
        r = -1;
      } else {
        r = 0;
      }
    }
    if (r != 0) {
      last_error = std::strerror(errno);
      close(fd);
      continue;
    }
    conn->fd = fd;
    break;
  }
  if (conn->fd < 0) {
    return connectFailed("cannot connect to " + url.host + ":" + port + ": " + last_error);
  }
  if (!url.tls) return conn;

  COSMOSEAL_ASSIGN_OR_RETURN(auto ctx, tlsContext());
  conn->tls = std::make_unique<proxy::TlsSession>(std::move(ctx), url.host);
  Status s = conn->tls->start();
  if (!s.isOk()) return tlsFailed(std::string(s.message()));
  while (!conn->tls->handshakeDone()) {
    COSMOSEAL_RETURN_IF_ERROR(conn->flushTls(deadline));
    bool eof = false;
    COSMOSEAL_RETURN_IF_ERROR(conn->read(deadline, &eof, "the TLS handshake"));
    if (eof && !conn->tls->handshakeDone()) {
      return tlsFailed("the peer closed the connection during the TLS handshake");
    }
  }
  COSMOSEAL_RETURN_IF_ERROR(conn->flushTls(deadline));
  return conn;
}

StatusOr<HttpsResponse> HttpsClient::exchange(Conn& conn, const ParsedUrl& url,
                                              const HttpsRequest& request,
                                              Clock::time_point deadline, bool* response_started,
                                              bool* keep_alive) {
  std::string out;
  out.reserve(256 + request.body.size());
  out.append(request.method).append(" ").append(url.target).append(" HTTP/1.1\r\n");
  out.append("Host: ").append(url.hostHeader()).append("\r\n");
  for (const auto& [name, value] : request.headers) {
    if (clientOwnedHeader(name)) continue;
    out.append(name).append(": ").append(value).append("\r\n");
  }
  const bool has_body = !request.body.empty() || request.method == "POST" ||
                        request.method == "PUT" || request.method == "PATCH";
  if (has_body) out.append("Content-Length: ").append(std::to_string(request.body.size()));
  if (has_body) out.append("\r\n");
  out.append("Connection: keep-alive\r\n\r\n");
  out.append(request.body);
  Status written = conn.write(out, deadline);
  wipe(&out);
  COSMOSEAL_RETURN_IF_ERROR(written);

  HttpsResponse response;
  Collector collector(&response, options_.max_response_bytes);
  proxy::Http1Parser parser(proxy::Http1Parser::Kind::kResponse, proxy::Http1Limits{}, &collector);
  parser.setNoBodyExpected(request.method == "HEAD");
  parser.setWipeInput(true);  // answers carry tokens and unwrapped keys
  for (;;) {
    if (!conn.plain.empty()) {
      *response_started = true;
      Status s = parser.feed(conn.plain);
      wipe(&conn.plain);
      if (!s.isOk()) {
        if (s.detail() == kHttpsResponseTooLarge) return s;
        return badResponse("bad response: " + s.toString());
      }
      if (collector.complete()) break;
    }
    bool eof = false;
    COSMOSEAL_RETURN_IF_ERROR(conn.read(deadline, &eof, "waiting for the response"));
    if (eof) {
      if (!conn.plain.empty()) continue;  // parse what came with the close first
      if (!*response_started) return badResponse("the peer closed before responding");
      Status s = parser.finish();
      if (!s.isOk()) return badResponse("bad response: " + s.toString());
      if (!collector.complete()) return badResponse("the peer closed before the response ended");
      *keep_alive = false;
      return response;
    }
  }
  *keep_alive = collector.keepAlive() && parser.bufferedBytes() == 0;
  return response;
}

StatusOr<HttpsResponse> HttpsClient::send(const HttpsRequest& request) {
  const Clock::time_point deadline = Clock::now() + request.timeout;
  COSMOSEAL_ASSIGN_OR_RETURN(ParsedUrl url, parseUrl(request.url));
  if (!url.tls && !options_.allow_insecure_http) {
    return connectFailed("plain http:// is not allowed for " + url.host);
  }
  if (request.method.empty() || request.method.find_first_of(" \r\n") != std::string::npos) {
    return connectFailed("bad request method");
  }
  const std::string origin =
      std::string(url.tls ? "https://" : "http://") + url.host + ":" + std::to_string(url.port);

  // A kept connection first; if the peer had closed it before answering, once more on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<Conn> conn;
    bool reused = false;
    if (auto it = conns_.find(origin); it != conns_.end()) {
      conn = std::move(it->second);
      conns_.erase(it);
      reused = conn->stillOpen();
      if (!reused) conn.reset();
    }
    if (!conn) {
      COSMOSEAL_ASSIGN_OR_RETURN(conn, connect(url, deadline));
    }
    bool started = false;
    bool keep_alive = false;
    auto result = exchange(*conn, url, request, deadline, &started, &keep_alive);
    if (result.isOk()) {
      if (keep_alive) conns_[origin] = std::move(conn);
      return result;
    }
    const bool retry = reused && !started && result.status().detail() == kHttpsBadResponse;
    if (!retry) return result;
  }
  return badResponse("the kept connection failed twice");
}

}  // namespace cosmoseal::net
