#include "proxy/server/admin.h"

#include <cstring>

#include "common/assert.h"
#include "common/log.h"
#include "proxy/http1/codec.h"
#include "proxy/net/transport.h"
#include "proxy/server/details.h"
#include "proxy/server/worker.h"

namespace cosmoseal::proxy {

using common::Code;
using common::Status;

class AdminConnection final : public Transport::Handler, public Http1Parser::Handler {
 public:
  explicit AdminConnection(AdminServer* server)
      : server_(server), transport_(server->loop_, this), parser_(Http1Parser::Kind::kRequest, limits(), this) {}

  void accept(uv_stream_t* listener) {
    if (transport_.init() != 0) return;
    if (uv_accept(listener, transport_.uvStream()) != 0 || !transport_.startAccepted().isOk()) {
      transport_.closeNow();
      return;
    }
    transport_.armTimer(10'000);
  }
  void closeNow() { transport_.closeNow(); }

  void onTransportData(std::string_view data) noexcept override {
    if (answered_) return;
    Status s = parser_.feed(data);
    if (!s.isOk()) reply(s.httpStatus(), "text/plain", std::string(s.detail()) + "\n");
  }
  void onTransportEof(bool) noexcept override { transport_.closeNow(); }
  void onTransportError(const Status&) noexcept override { transport_.closeNow(); }
  void onTransportTimer() noexcept override { transport_.closeNow(); }
  void onTransportClosed() noexcept override { server_->connectionClosed(this); }

  Status onMessageHead(MessageHead& head) noexcept override {
    method_ = head.method;
    path_ = head.target.substr(0, head.target.find('?'));
    return Status::ok();
  }
  Status onMessageBody(std::string_view) noexcept override { return Status::ok(); }
  Status onMessageComplete() noexcept override {
    handle();
    return Status::ok();
  }

 private:
  static Http1Limits limits() {
    Http1Limits l;
    l.max_head_bytes = 16 * 1024;
    l.max_headers = 64;
    l.max_uri_bytes = 2048;
    return l;
  }

  void handle() {
    const AdminServer::Hooks& h = server_->hooks_;
    if (path_ == "/healthz" && (method_ == "GET" || method_ == "HEAD")) {
      reply(200, "text/plain", "ok\n");
    } else if (path_ == "/readyz" && (method_ == "GET" || method_ == "HEAD")) {
      const bool ready = h.ready && h.ready();
      reply(ready ? 200 : 503, "text/plain", ready ? "ready\n" : "not ready\n");
    } else if (path_ == "/metrics" && method_ == "GET") {
      reply(200, "text/plain; version=0.0.4; charset=utf-8", h.metrics ? h.metrics() : "");
    } else if (path_ == "/reload") {
      if (method_ != "POST") {
        reply(405, "text/plain", "use POST /reload\n");
      } else if (!h.reload) {
        reply(501, "text/plain", "reload is not available\n");
      } else {
        Status s = h.reload();
        reply(s.isOk() ? 200 : 422, "text/plain",
              s.isOk() ? "reloaded\n" : "reload rejected; the previous configuration stays in "
                                        "force:\n" + std::string(s.message()) + "\n");
      }
    } else {
      reply(404, "text/plain", "not found: try /healthz, /readyz, /metrics, POST /reload\n");
    }
  }

  void reply(int status, const char* type, const std::string& body) {
    answered_ = true;
    common::HeaderMap hm;
    hm.add("Content-Type", type);
    hm.add("Content-Length", std::to_string(method_ == "HEAD" ? 0 : body.size()));
    hm.add("Connection", "close");
    hm.add("Cache-Control", "no-store");
    std::string out;
    appendResponseHead(&out, status, "", hm);
    if (method_ != "HEAD") out += body;
    transport_.write(out);
    transport_.closeGracefully(1000);
  }

  AdminServer* server_;
  Transport transport_;
  Http1Parser parser_;
  std::string method_;
  std::string path_;
  bool answered_ = false;
};

AdminServer::AdminServer(uv_loop_t* loop, Hooks hooks) : loop_(loop), hooks_(std::move(hooks)) {}

AdminServer::~AdminServer() = default;

Status AdminServer::listen(const std::string& address, uint16_t port, uint16_t* bound_port) {
  auto fd = openReusePortListener(address, port, true);
  if (!fd.isOk()) return fd.status().withContext("admin listener");
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  std::memset(&ss, 0, sizeof(ss));
  getsockname(*fd, reinterpret_cast<struct sockaddr*>(&ss), &len);
  // Out of descriptors, the admin listener pauses like the application listeners: the control
  // loop (signals, reload, /metrics of the others) never spins on accept.
  listener_ = std::make_unique<Listener>(loop_, "admin listener", &AdminServer::onConnection, this,
                                         &accept_counters_);
  const int r = listener_->start(*fd, 128);
  if (r != 0) {
    listener_.reset();
    return Status(Code::kFailedPrecondition, server_detail::kFailed,
                  std::string("admin listener: ") + uv_strerror(r));
  }
  *bound_port = ntohs(ss.ss_family == AF_INET6
                          ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port
                          : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port);
  listening_ = true;
  return Status::ok();
}

void AdminServer::onConnection(void* admin, uv_stream_t* server) noexcept {
  auto* self = static_cast<AdminServer*>(admin);
  auto* c = new AdminConnection(self);
  self->connections_.insert(c);
  c->accept(server);
  if (self->closing_) c->closeNow();
}

void AdminServer::connectionClosed(AdminConnection* c) {
  [[maybe_unused]] const size_t erased = connections_.erase(c);
  COSMOSEAL_ASSERT(erased == 1);  // each connection reports its close exactly once
  delete c;
  if (listener_ && !closing_) listener_->connectionClosed();
  maybeDone();
}

void AdminServer::close(std::function<void()> done) {
  closing_ = true;
  on_closed_ = std::move(done);
  // The listener's handles are freed by the loop after this; nothing of them calls back.
  if (listener_) listener_->close();
  std::vector<AdminConnection*> conns(connections_.begin(), connections_.end());
  for (AdminConnection* c : conns) c->closeNow();
  maybeDone();
}

void AdminServer::maybeDone() {
  if (!closing_ || !connections_.empty() || !on_closed_) return;
  auto cb = std::move(on_closed_);
  on_closed_ = nullptr;
  cb();
}

}  // namespace cosmoseal::proxy
