#include "tests/integration/wire.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <utility>

namespace cosmoseal::integration {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

enum class Parse : uint8_t { kNeedMore, kDone, kUntilClose };

// Tries to parse one message at the start of `buf`. On kDone, *consumed is its length. On
// kUntilClose the head is parsed and the body runs to the end of the connection.
Parse parseMessage(const std::string& buf, bool response, bool head_request, HttpMessage* msg,
                   size_t* consumed) {
  const size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string::npos) return Parse::kNeedMore;
  *msg = HttpMessage();
  std::string_view head(buf.data(), head_end);
  size_t eol = head.find("\r\n");
  msg->start_line = std::string(head.substr(0, eol));
  while (eol != std::string_view::npos) {
    const size_t start = eol + 2;
    eol = head.find("\r\n", start);
    std::string_view line =
        head.substr(start, eol == std::string_view::npos ? head.npos : eol - start);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    msg->headers.emplace_back(lower(trim(line.substr(0, colon))),
                              std::string(trim(line.substr(colon + 1))));
  }
  size_t pos = head_end + 4;
  bool no_body = false;
  if (response) {
    msg->status = std::atoi(msg->start_line.substr(9, 3).c_str());
    no_body = head_request || msg->status == 204 || msg->status == 304 ||
              (msg->status >= 100 && msg->status < 200);
  }
  const auto te = msg->header("transfer-encoding");
  const auto cl = msg->header("content-length");
  if (no_body) {
    // nothing
  } else if (te && lower(*te).find("chunked") != std::string::npos) {
    for (;;) {
      const size_t line_end = buf.find("\r\n", pos);
      if (line_end == std::string::npos) return Parse::kNeedMore;
      const size_t size = std::strtoul(buf.substr(pos, line_end - pos).c_str(), nullptr, 16);
      pos = line_end + 2;
      if (size == 0) {
        const size_t trailer_end = buf.find("\r\n", pos);
        if (trailer_end == std::string::npos) return Parse::kNeedMore;
        if (trailer_end != pos) {  // trailers: up to the empty line
          const size_t end = buf.find("\r\n\r\n", pos);
          if (end == std::string::npos) return Parse::kNeedMore;
          pos = end + 4;
        } else {
          pos += 2;
        }
        break;
      }
      if (buf.size() < pos + size + 2) return Parse::kNeedMore;
      msg->body.append(buf, pos, size);
      pos += size + 2;
    }
  } else if (cl) {
    const size_t n = std::strtoul(cl->c_str(), nullptr, 10);
    if (buf.size() < pos + n) return Parse::kNeedMore;
    msg->body = buf.substr(pos, n);
    pos += n;
  } else if (response) {
    msg->body = buf.substr(pos);
    return Parse::kUntilClose;
  }
  msg->raw = buf.substr(0, pos);
  *consumed = pos;
  return Parse::kDone;
}

}  // namespace

const char* readEndName(ReadEnd e) {
  switch (e) {
    case ReadEnd::kMessage:
      return "message";
    case ReadEnd::kEof:
      return "eof";
    case ReadEnd::kReset:
      return "reset";
    case ReadEnd::kTimeout:
      return "timeout";
  }
  return "?";
}

std::optional<std::string> HttpMessage::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

Wire::Wire(int fd) : fd_(fd) {}

Wire::Wire(Wire&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), buf_(std::move(other.buf_)), eof_(other.eof_) {}

Wire::~Wire() { close(); }

Wire Wire::connectLocal(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Wire(-1);
  struct sockaddr_in a {};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<struct sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return Wire(-1);
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return Wire(fd);
}

bool Wire::send(std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Wire::sendSlowly(std::string_view bytes, size_t piece, std::chrono::milliseconds gap) {
  while (!bytes.empty()) {
    const size_t n = std::min(piece, bytes.size());
    if (!send(bytes.substr(0, n))) return false;
    bytes.remove_prefix(n);
    if (!bytes.empty()) std::this_thread::sleep_for(gap);
  }
  return true;
}

ReadEnd Wire::fill(std::chrono::steady_clock::time_point deadline) {
  if (eof_) return ReadEnd::kEof;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return ReadEnd::kTimeout;
    struct pollfd p {
      fd_, POLLIN, 0
    };
    const int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return ReadEnd::kTimeout;
    char tmp[64 * 1024];
    const ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<size_t>(n));
      return ReadEnd::kMessage;
    }
    if (n == 0) {
      eof_ = true;
      return ReadEnd::kEof;
    }
    if (errno == EINTR || errno == EAGAIN) continue;
    eof_ = true;
    return errno == ECONNRESET ? ReadEnd::kReset : ReadEnd::kEof;
  }
}

ReadResult Wire::readMessage(bool response, std::chrono::milliseconds timeout, bool head_request) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  ReadResult result;
  for (;;) {
    size_t consumed = 0;
    const Parse p = parseMessage(buf_, response, head_request, &result.message, &consumed);
    if (p == Parse::kDone) {
      buf_.erase(0, consumed);
      if (response && result.message.status == 100) continue;  // interim: read the real one
      result.end = ReadEnd::kMessage;
      return result;
    }
    const ReadEnd e = fill(deadline);
    if (e == ReadEnd::kMessage) continue;
    if (e == ReadEnd::kEof && p == Parse::kUntilClose) {
      parseMessage(buf_, response, head_request, &result.message, &consumed);
      result.message.raw = buf_;
      buf_.clear();
      result.end = ReadEnd::kMessage;
      return result;
    }
    result.end = e;
    return result;
  }
}

ReadEnd Wire::waitClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const ReadEnd e = fill(deadline);
    if (e != ReadEnd::kMessage) return e;
  }
}

ReadEnd Wire::waitFor(std::string_view text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buf_.find(text) == std::string::npos) {
    const ReadEnd e = fill(deadline);
    if (e != ReadEnd::kMessage) return e;
  }
  return ReadEnd::kMessage;
}

void Wire::setReceiveBuffer(int bytes) {
  setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
}

void Wire::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void Wire::reset() {
  if (fd_ < 0) return;
  struct linger l {
    1, 0
  };
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  close();
}

void sleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

}  // namespace cosmoseal::integration
