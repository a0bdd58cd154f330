#include "bench/harness/fake_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <unordered_set>

#include "bench/harness/json_writer.h"
#include "crypto/cosmos_auth.h"
#include "proxy/http1/codec.h"
#include "proxy/net/transport.h"
#include "proxy/server/worker.h"

namespace cosmoseal::bench {

using common::Code;
using common::Status;

namespace {

constexpr size_t kPadding = 64;  // simdjson::SIMDJSON_PADDING

const char* statusText(int status) { return proxy::reasonPhrase(status); }

// "Sun, 22 Nov 2026 13:05:47 GMT", cached per second and per thread.
const std::string& httpDateNow() {
  thread_local int64_t second = -1;
  thread_local std::string text;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != second) {
    second = ts.tv_sec;
    text = crypto::formatHttpDate(ts.tv_sec);
  }
  return text;
}

}  // namespace

int routeIndex(const char* route) {
  for (size_t i = 0; i < std::size(kRouteNames); ++i) {
    if (std::strcmp(kRouteNames[i], route) == 0) return static_cast<int>(i);
  }
  return static_cast<int>(std::size(kRouteNames)) - 1;
}

void FakeStats::reset() {
  requests = 0;
  bytes_in = 0;
  bytes_out = 0;
  connections_accepted = 0;
  for (auto& s : by_status) s = 0;
  sig_checked = 0;
  sig_ok = 0;
  sig_failed = 0;
  for (auto& s : sig_fail_reason) s = 0;
  for (auto& s : by_route) s = 0;
}

std::string FakeStats::toJson(const FakeStore& store, bool verifying) const {
  JsonWriter j;
  j.beginObject();
  j.kv("requests", requests.load());
  j.kv("bytes_in", bytes_in.load());
  j.kv("bytes_out", bytes_out.load());
  j.kv("connections_accepted", connections_accepted.load());
  j.kv("connections_open", connections_open.load());
  j.key("responses_by_status").beginObject();
  for (int s = 0; s < kStatuses; ++s) {
    if (by_status[s].load()) j.kv(std::to_string(s), by_status[s].load());
  }
  j.endObject();
  j.key("requests_by_route").beginObject();
  for (size_t i = 0; i < std::size(kRouteNames); ++i) {
    if (by_route[i].load()) j.kv(kRouteNames[i], by_route[i].load());
  }
  j.endObject();
  j.key("signatures").beginObject();
  j.kv("verification", verifying);
  j.kv("checked", sig_checked.load());
  j.kv("ok", sig_ok.load());
  j.kv("failed", sig_failed.load());
  j.key("failed_by_reason").beginObject();
  for (size_t i = 0; i < std::size(kSigFailReasons); ++i) {
    if (sig_fail_reason[i].load()) j.kv(kSigFailReasons[i], sig_fail_reason[i].load());
  }
  j.endObject();
  j.endObject();
  j.key("store").beginObject();
  j.kv("databases", static_cast<uint64_t>(store.databaseCount()));
  j.kv("documents", static_cast<uint64_t>(store.documentCount()));
  j.endObject();
  j.endObject();
  std::string out = j.take();
  out.push_back('\n');
  return out;
}

// ---------------------------------------------------------------------------------------
// One connection.
// ---------------------------------------------------------------------------------------

class FakeConn final : public proxy::Transport::Handler, public proxy::Http1Parser::Handler {
 public:
  FakeConn(FakeThread* thread, uv_loop_t* loop);
  proxy::Transport& transport() noexcept { return transport_; }
  void start();
  void close() { transport_.closeNow(); }

 private:
  void onTransportData(std::string_view data) noexcept override;
  void onTransportEof(bool) noexcept override { transport_.closeNow(); }
  void onTransportError(const Status&) noexcept override { transport_.closeNow(); }
  void onTransportTimer() noexcept override;
  void onTransportClosed() noexcept override;
  Status onMessageHead(proxy::MessageHead& head) noexcept override;
  Status onMessageBody(std::string_view data) noexcept override;
  Status onMessageComplete() noexcept override;

  void respond(const FakeReply& reply, bool keep_alive) noexcept;
  // Verifies the signature; false with *why on failure (counted in FakeStats).
  bool verify(const proxy::MessageHead& head, const crypto::CosmosResource& res,
              std::string* why) noexcept;
  void sendLocal(int status, std::string_view message, bool keep_alive) noexcept;

  FakeThread* thread_;
  proxy::Transport transport_;
  proxy::Http1Parser parser_;
  std::string body_;
  bool too_large_ = false;
  uint64_t started_ns_ = 0;
  std::string delayed_;      // response held back by --delay
  bool delayed_close_ = false;
};

class FakeThread {
 public:
  FakeThread(int index, FakeServer* server) : index_(index), server_(server) {
    std::memset(&loop_, 0, sizeof(loop_));
  }

  Status open(uint16_t port, bool probe, uint16_t* bound) {
    auto fd = proxy::openReusePortListener(server_->options().address, port, probe);
    if (!fd.isOk()) return fd.status();
    fd_ = *fd;
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(fd_, reinterpret_cast<struct sockaddr*>(&ss), &len);
    *bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    uv_loop_init(&loop_);
    uv_tcp_init(&loop_, &listener_);
    listener_.data = this;
    if (int r = uv_tcp_open(&listener_, fd_); r != 0) {
      return Status(Code::kInternal, "fake.listen_failed", uv_strerror(r));
    }
    fd_ = -1;  // owned by the handle now
    if (int r = uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 1024, &FakeThread::onConn);
        r != 0) {
      return Status(Code::kInternal, "fake.listen_failed", uv_strerror(r));
    }
    uv_async_init(&loop_, &async_, &FakeThread::onAsync);
    async_.data = this;
    opened_ = true;
    return Status::ok();
  }

  void start() {
    thread_ = std::thread([this] {
      uv_run(&loop_, UV_RUN_DEFAULT);
      uv_loop_close(&loop_);
    });
  }
  void stop() {
    if (opened_) uv_async_send(&async_);
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  FakeServer* server() noexcept { return server_; }
  void closed(FakeConn* c) {
    conns_.erase(c);
    delete c;
    server_->stats()->connections_open--;
  }
  bool stopping() const noexcept { return stopping_; }

 private:
  static void onConn(uv_stream_t* s, int status) {
    auto* self = static_cast<FakeThread*>(s->data);
    if (status < 0 || self->stopping_) return;
    auto* c = new FakeConn(self, &self->loop_);
    self->conns_.insert(c);
    self->server_->stats()->connections_open++;
    if (c->transport().init() != 0) return;  // onTransportClosed deletes it
    if (uv_accept(s, c->transport().uvStream()) != 0) {
      c->close();
      return;
    }
    self->server_->stats()->connections_accepted++;
    c->start();
  }

  static void onAsync(uv_async_t* a) {
    auto* self = static_cast<FakeThread*>(a->data);
    self->stopping_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&self->listener_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->async_), nullptr);
    for (FakeConn* c : std::vector<FakeConn*>(self->conns_.begin(), self->conns_.end())) {
      c->close();
    }
  }

  int index_;
  FakeServer* server_;
  uv_loop_t loop_;
  uv_tcp_t listener_;
  uv_async_t async_;
  int fd_ = -1;
  bool opened_ = false;
  bool stopping_ = false;
  std::thread thread_;
  std::unordered_set<FakeConn*> conns_;
};

FakeConn::FakeConn(FakeThread* thread, uv_loop_t* loop)
    : thread_(thread),
      transport_(loop, this),
      parser_(proxy::Http1Parser::Kind::kRequest, proxy::Http1Limits{}, this) {}

void FakeConn::start() {
  const FakeServerOptions& o = thread_->server()->options();
  if (o.tls) transport_.enableTls(o.tls, "");
  Status s = transport_.startAccepted();
  if (!s.isOk()) transport_.closeNow();
}

void FakeConn::onTransportClosed() noexcept { thread_->closed(this); }

void FakeConn::onTransportData(std::string_view data) noexcept {
  thread_->server()->stats()->bytes_in += data.size();
  Status s = parser_.feed(data);
  if (!s.isOk()) {
    // Malformed request: answer like a gateway would, then close.
    const int status = s.httpStatus() >= 400 ? s.httpStatus() : 400;
    sendLocal(status, "cosmoseal-fake-upstream: " + s.toString(), false);
  }
}

Status FakeConn::onMessageHead(proxy::MessageHead& head) noexcept {
  started_ns_ = uv_hrtime();
  body_.clear();
  too_large_ = false;
  if (head.framing == proxy::Framing::kContentLength) {
    if (head.content_length > thread_->server()->options().max_body_bytes) {
      too_large_ = true;
    } else {
      body_.reserve(static_cast<size_t>(head.content_length) + kPadding);
    }
  }
  return Status::ok();
}

Status FakeConn::onMessageBody(std::string_view data) noexcept {
  if (too_large_) return Status::ok();
  if (body_.size() + data.size() > thread_->server()->options().max_body_bytes) {
    too_large_ = true;
    return Status::ok();
  }
  body_.append(data.data(), data.size());
  return Status::ok();
}

bool FakeConn::verify(const proxy::MessageHead& head, const crypto::CosmosResource& res,
                      std::string* why) noexcept {
  FakeStats* st = thread_->server()->stats();
  st->sig_checked++;
  auto failed = [&](int reason, std::string msg) {
    st->sig_failed++;
    st->sig_fail_reason[reason]++;
    *why = std::move(msg);
    return false;
  };
  const std::string_view* auth = head.headers.get("authorization");
  if (auth == nullptr || auth->empty()) return failed(0, "no Authorization header");
  auto parsed = crypto::parseCosmosAuthorization(*auth);
  if (!parsed.isOk()) return failed(1, "malformed Authorization header");
  if (parsed->type != "master" || parsed->version != "1.0") {
    return failed(2, "token type '" + parsed->type + "' is not a master key signature");
  }
  const std::string_view x_ms_date = head.headers.getOr("x-ms-date", "");
  const std::string_view date = x_ms_date.empty() ? head.headers.getOr("date", "") : "";
  const std::string_view when_text = x_ms_date.empty() ? date : x_ms_date;
  auto when = crypto::parseHttpDate(when_text);
  if (!when.isOk()) return failed(3, "missing or malformed x-ms-date");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  const int64_t skew = *when - ts.tv_sec;
  if (skew > 900 || skew < -900) return failed(4, "x-ms-date is more than 15 minutes off");
  thread_local std::unique_ptr<crypto::HmacSha256> mac;
  thread_local const common::SecretBytes* mac_key = nullptr;
  const common::SecretBytes* key = thread_->server()->options().verify_key.get();
  if (mac == nullptr || mac_key != key) {
    mac = std::make_unique<crypto::HmacSha256>(*key);
    mac_key = key;
  }
  const std::string sts =
      crypto::cosmosStringToSign(head.method, res.type, res.link, x_ms_date, date);
  if (!crypto::signatureEquals(mac->macBase64(sts), parsed->sig)) {
    return failed(5, "signature mismatch for '" + head.method + " " + res.type + " " + res.link +
                         "'");
  }
  st->sig_ok++;
  return true;
}

void FakeConn::sendLocal(int status, std::string_view message, bool keep_alive) noexcept {
  FakeReply r;
  r.status = status;
  r.body = FakeStore::errorBody(status, message);
  r.route = "fake";
  respond(r, keep_alive);
}

Status FakeConn::onMessageComplete() noexcept {
  const proxy::MessageHead& head = parser_.head();
  FakeServer* server = thread_->server();
  FakeStats* st = server->stats();
  const bool keep_alive = head.keep_alive && !thread_->stopping();
  if (too_large_) {
    sendLocal(413, "Request size is too large.", false);
    return Status::ok();
  }
  // Non-Cosmos control routes.
  if (head.target.rfind("/_fake/", 0) == 0) {
    FakeReply r;
    r.route = "fake";
    if (head.target == "/_fake/stats" && head.method == "GET") {
      r.body = std::make_shared<const std::string>(
          st->toJson(*server->store(), server->options().verify_key != nullptr));
    } else if (head.target.rfind("/_fake/docs/", 0) == 0 && head.method == "GET") {
      // /_fake/docs/{db}/{coll}/{id} (percent-decoded like a Cosmos path).
      auto res = crypto::cosmosResourceFromPath(head.target.substr(11));
      const auto* segs = res.isOk() ? &res->segments : nullptr;
      std::shared_ptr<const std::string> doc;
      if (segs != nullptr && segs->size() == 3) {
        doc = server->store()->rawDocument((*segs)[0], (*segs)[1], (*segs)[2]);
      }
      if (doc) {
        r.body = doc;
      } else {
        r.status = 404;
        r.body = FakeStore::errorBody(404, "no such document (use /_fake/docs/{db}/{coll}/{id})");
      }
    } else if (head.target == "/_fake/reset" && head.method == "POST") {
      st->reset();
      r.status = 204;
    } else {
      r.status = 404;
      r.body = FakeStore::errorBody(404, "unknown /_fake/ route");
    }
    respond(r, keep_alive);
    return parser_.resume();
  }
  st->requests++;  // Cosmos requests (the /_fake/ routes above are not counted)
  auto res = crypto::cosmosResourceFromPath(head.target);
  if (!res.isOk()) {
    sendLocal(400, "cannot interpret the request path: " + std::string(res.status().message()),
              keep_alive);
    return parser_.resume();
  }
  if (server->options().verify_key) {
    std::string why;
    if (!verify(head, *res, &why)) {
      if (server->options().log_requests || st->sig_failed.load() <= 5) {
        std::fprintf(stderr, "cosmoseal-fake-upstream: signature check failed: %s %s: %s\n",
                     head.method.c_str(), head.target.c_str(), why.c_str());
      }
      if (server->options().reject_bad_signatures) {
        sendLocal(401,
                  "The input authorization token can't serve the request. "
                  "(cosmoseal-fake-upstream: " + why + ")",
                  keep_alive);
        return parser_.resume();
      }
    }
  }
  FakeRequest req;
  req.method = head.method;
  req.resource = &*res;
  req.headers = &head.headers;
  body_.reserve(body_.size() + kPadding);
  req.body = body_;
  req.body_capacity = body_.capacity();
  FakeReply reply = server->store()->handle(req);
  respond(reply, keep_alive);
  return parser_.resume();
}

void FakeConn::respond(const FakeReply& r, bool keep_alive) noexcept {
  FakeServer* server = thread_->server();
  FakeStats* st = server->stats();
  if (r.status >= 0 && r.status < FakeStats::kStatuses) st->by_status[r.status]++;
  st->by_route[routeIndex(r.route)]++;
  std::string out;
  const size_t body_len = r.body ? r.body->size() : 0;
  out.reserve(400 + (server->options().delay_ms ? body_len : 0));
  out.append("HTTP/1.1 ").append(std::to_string(r.status)).push_back(' ');
  out.append(statusText(r.status)).append("\r\n");
  out.append("Date: ").append(httpDateNow()).append("\r\n");
  if (r.body) out.append("Content-Type: application/json\r\n");
  if (r.status != 204 && r.status != 304) {
    out.append("Content-Length: ").append(std::to_string(body_len)).append("\r\n");
  }
  out.append(
      "x-ms-request-charge: 1\r\n"
      "x-ms-activity-id: 6c6f6361-6c66-616b-6563-6f736d6f7321\r\n"
      "x-ms-schemaversion: 1.16\r\n"
      "x-ms-serviceversion: version=2.14.0.0\r\n");
  if (r.lsn) {
    out.append("x-ms-session-token: 0:-1#").append(std::to_string(r.lsn)).append("\r\n");
    out.append("lsn: ").append(std::to_string(r.lsn)).append("\r\n");
  }
  if (!r.etag.empty()) out.append("etag: \"").append(r.etag).append("\"\r\n");
  if (r.item_count >= 0) {
    out.append("x-ms-item-count: ").append(std::to_string(r.item_count)).append("\r\n");
  }
  if (!r.continuation.empty()) {
    out.append("x-ms-continuation: ").append(r.continuation).append("\r\n");
  }
  if (!keep_alive) out.append("Connection: close\r\n");
  out.append("\r\n");
  st->bytes_out += out.size() + body_len;
  if (server->options().log_requests) {
    const proxy::MessageHead& head = parser_.head();
    std::fprintf(stderr, "cosmoseal-fake-upstream: %s %s -> %d %s (%zu B, %.0f us)\n",
                 head.method.c_str(), head.target.c_str(), r.status, r.route, body_len,
                 static_cast<double>(uv_hrtime() - started_ns_) / 1e3);
  }
  if (server->options().delay_ms > 0) {
    // One request at a time per connection, so one held response is enough.
    delayed_ = std::move(out);
    if (r.body && r.status != 204 && r.status != 304) delayed_.append(*r.body);
    delayed_close_ = !keep_alive;
    transport_.armTimer(server->options().delay_ms);
    return;
  }
  transport_.write(out);
  if (r.body && r.status != 204 && r.status != 304) transport_.write(*r.body);
  transport_.flush();
  if (!keep_alive) transport_.closeGracefully(2000);
}

void FakeConn::onTransportTimer() noexcept {
  if (delayed_.empty()) return;
  transport_.write(delayed_);
  delayed_.clear();
  transport_.flush();
  if (delayed_close_) transport_.closeGracefully(2000);
}

// ---------------------------------------------------------------------------------------

FakeServer::FakeServer(FakeServerOptions options, FakeStore* store, FakeStats* stats)
    : options_(std::move(options)), store_(store), stats_(stats) {}

FakeServer::~FakeServer() {
  stop();
  join();
}

Status FakeServer::start(uint16_t* bound_port) {
  uint16_t port = options_.port;
  for (int i = 0; i < options_.threads; ++i) {
    auto t = std::make_unique<FakeThread>(i, this);
    uint16_t bound = 0;
    Status s = t->open(port, i == 0, &bound);
    if (!s.isOk()) return s;
    if (i == 0) port = bound;
    threads_.push_back(std::move(t));
  }
  for (auto& t : threads_) t->start();
  *bound_port = port;
  return Status::ok();
}

void FakeServer::stop() {
  for (auto& t : threads_) t->stop();
}

void FakeServer::join() {
  for (auto& t : threads_) t->join();
  threads_.clear();
}

}  // namespace cosmoseal::bench
