#include "tests/integration/fake_upstream.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace cosmoseal::integration {

namespace {

const char* reasonOf(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 404:
      return "Not Found";
    default:
      return "Status";
  }
}

}  // namespace

std::string jsonResponse(int status, std::string_view body, std::string_view extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reasonOf(status) + "\r\n";
  out += "Content-Type: application/json\r\n";
  out += "x-ms-request-charge: 1\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out += extra;
  out += "\r\n";
  out += body;
  return out;
}

void serveAll(FakeUpstream& upstream, Wire& conn,
              const std::function<std::string(const HttpMessage&)>& answer) {
  for (;;) {
    ReadResult r = upstream.readRequest(conn);
    if (!r.ok()) return;
    if (!conn.send(answer(r.message))) return;
  }
}

FakeUpstream::FakeUpstream(Script script) : script_(std::move(script)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<struct sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return;
  }
  listen_fd_ = fd;
  port_ = ntohs(a.sin_port);
  accept_thread_ = std::thread([this] { acceptLoop(); });
}

FakeUpstream::~FakeUpstream() {
  stopping_ = true;
  if (accept_thread_.joinable()) accept_thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& c : connections_) {
      if (c->open) ::shutdown(c->fd, SHUT_RDWR);  // a blocked read in the script ends now
    }
  }
  for (auto& c : connections_) c->thread.join();
}

void FakeUpstream::acceptLoop() {
  while (!stopping_) {
    struct pollfd p {
      listen_fd_, POLLIN, 0
    };
    if (::poll(&p, 1, 20) <= 0) continue;  // short ticks: the destructor waits at most this
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int index = accepted_.fetch_add(1);
    std::lock_guard<std::mutex> lock(mu_);
    auto c = std::make_unique<Connection>();
    c->fd = fd;
    Connection* raw = c.get();
    c->thread = std::thread([this, raw, fd, index] {
      Wire wire(fd);
      script_(*this, wire, index);
      {
        std::lock_guard<std::mutex> l(mu_);
        raw->open = false;
        wire.close();  // under the lock: the destructor never shuts down a reused fd number
      }
      finished_.fetch_add(1);
    });
    connections_.push_back(std::move(c));
  }
}

ReadResult FakeUpstream::readRequest(Wire& conn, std::chrono::milliseconds timeout) {
  ReadResult r = conn.readRequest(timeout);
  if (r.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(r.message);
    cv_.notify_all();
  }
  return r;
}

std::vector<HttpMessage> FakeUpstream::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t FakeUpstream::requestCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

bool FakeUpstream::waitForRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

}  // namespace cosmoseal::integration
