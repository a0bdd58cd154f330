#pragma once

// Blocking HTTP/1.1 over plain sockets for the integration tests: the test client (the "app") and
// the fake upstream both speak through a Wire. It is deliberately independent of proxy/http1/ (the
// code under test): a small reader that understands Content-Length, chunked and until-close bodies,
// and reports how a read ended (complete message, clean EOF, reset, timeout), which is what the
// tests assert on.
//
// Thread affinity: a Wire belongs to one thread. It owns its socket and closes it on destruction.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cosmoseal::integration {

// How a read ended.
enum class ReadEnd : uint8_t {
  kMessage,  // a whole message arrived
  kEof,      // the peer closed (FIN) before a whole message arrived
  kReset,    // the peer reset the connection (RST)
  kTimeout,  // nothing complete within the deadline
};

const char* readEndName(ReadEnd e);

struct HttpMessage {
  std::string start_line;  // "POST /dbs/x HTTP/1.1" or "HTTP/1.1 200 OK"
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;                                          // de-chunked
  std::string raw;  // every byte of the message as received
  int status = 0;   // responses only

  // First value of `name` (lower-case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
  bool hasHeader(std::string_view name) const { return header(name).has_value(); }
};

struct ReadResult {
  ReadEnd end = ReadEnd::kTimeout;
  HttpMessage message;  // valid when end == kMessage
  bool ok() const { return end == ReadEnd::kMessage; }
};

class Wire {
 public:
  // Takes ownership of a connected socket.
  explicit Wire(int fd);
  ~Wire();
  Wire(const Wire&) = delete;
  Wire& operator=(const Wire&) = delete;

  // Connects to 127.0.0.1:port (blocking). On failure (e.g. refused) the Wire is !valid().
  static Wire connectLocal(uint16_t port);

  Wire(Wire&& other) noexcept;

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }

  // Writes everything (blocking). False when the peer is gone.
  bool send(std::string_view bytes);
  // Writes `bytes` in pieces of `piece` bytes with `gap` between them.
  bool sendSlowly(std::string_view bytes, size_t piece, std::chrono::milliseconds gap);

  // Reads one request (`response` false) or response (`response` true). `head_request`: the
  // response answers a HEAD (no body).
  ReadResult readMessage(bool response, std::chrono::milliseconds timeout,
                         bool head_request = false);
  ReadResult readRequest(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return readMessage(false, timeout);
  }
  ReadResult readResponse(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    return readMessage(true, timeout);
  }
  // Waits until the peer closes (FIN or RST) and returns how; bytes that arrive meanwhile are
  // kept in the buffer. kTimeout if the connection is still open at the deadline.
  ReadEnd waitClosed(std::chrono::milliseconds timeout);
  // Waits until the received, unconsumed bytes contain `text` (nothing is consumed). kMessage
  // when found, else how the wait ended.
  ReadEnd waitFor(std::string_view text, std::chrono::milliseconds timeout);
  // Bytes received but not consumed by a message yet.
  const std::string& pending() const { return buf_; }

  // Shrinks the kernel receive buffer (call before the peer sends much: slow-reader tests).
  void setReceiveBuffer(int bytes);
  // Close with FIN / with RST (SO_LINGER 0).
  void close();
  void reset();

 private:
  // Reads more bytes into buf_. Returns kMessage when bytes arrived, else how it ended.
  ReadEnd fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// Blocks this thread for `ms` (a short, explicit pause: "the app is busy", "the upstream is slow").
void sleepMs(int ms);

}  // namespace cosmoseal::integration
