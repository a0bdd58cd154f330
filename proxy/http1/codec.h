#pragma once

// HTTP/1.1 message framing for both sides of the proxy.
//
// Http1Parser = our own strict head guard + llhttp (strict: no lenient setter is ever called).
//
//  * The guard tokenizes the request/status line and every header line itself, incrementally
//    (O(n) in the head size, so a slow client cannot make us rescan), and rejects with a stable
//    detail code: bare CR or LF, obs-fold / leading whitespace, space before ':', bad header
//    names, CTLs in values, duplicate or malformed Content-Length, CL+TE, any Transfer-Encoding
//    other than a single "chunked", TE on HTTP/1.0, Upgrade, CONNECT, absolute-form targets,
//    the HTTP/2 preface, oversized URIs / heads / header counts, and (requests) a repeated
//    single-valued field such as two Authorization or x-ms-date headers.
//  * Only then is the head given to llhttp (defence in depth: anything llhttp still refuses is
//    `http1.parse_error`). llhttp frames the body (Content-Length, chunked, until-close) and
//    we refuse trailers (`http1.trailers_refused`, decided by the first byte after the last
//    chunk, so the answer never depends on how reads split the bytes) and oversized chunk
//    extensions.
//  * Responses: interim 1xx responses (100 Continue, 103 Early Hints, ...) are parsed and skipped
//    (RFC 9110 §15.2: a client must accept them even unasked); at most 8 per response. 101
//    (protocol switch) is refused.
//  * After each complete message the parser pauses; bytes of a pipelined next message stay
//    buffered, unparsed, until resume(). So a request smuggled behind an error is never parsed.
//
// Raw head bytes are never forwarded: the proxy rebuilds heads from MessageHead with
// appendRequestHead()/appendResponseHead().
//
// Threading: one parser per connection, used on that connection's loop thread only.

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/headers.h"
#include "common/status.h"

namespace cosmoseal::proxy {

enum class Framing : uint8_t {
  kNone,           // no body
  kContentLength,  // exactly content_length bytes
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // response body delimited by connection close
};

struct MessageHead {
  // Requests.
  std::string method;  // upper-case token as received
  std::string target;  // origin-form: "/dbs/x/colls/y?z"
  // Responses.
  int status = 0;
  std::string reason;

  int version_minor = 1;  // HTTP/1.<minor>
  common::HeaderMap headers;

  Framing framing = Framing::kNone;
  uint64_t content_length = 0;  // valid when framing == kContentLength
  bool keep_alive = true;       // per version + Connection tokens
  bool expect_continue = false;  // "Expect: 100-continue"
  bool interim = false;          // a 1xx response other than 101: skipped by the parser
  size_t head_bytes = 0;         // size of the head on the wire

  void clear();
};

struct Http1Limits {
  uint32_t max_head_bytes = 64 * 1024;
  uint32_t max_headers = 100;
  uint32_t max_uri_bytes = 8 * 1024;
  uint32_t max_chunk_extension_bytes = 1024;
};

class Http1Parser {
 public:
  enum class Kind : uint8_t { kRequest, kResponse };

  class Handler {
   public:
    virtual ~Handler() = default;
    // A complete, validated head. A non-OK status aborts the parse with that status.
    virtual common::Status onMessageHead(MessageHead& head) noexcept = 0;
    // Body bytes (de-chunked). The view is valid only during the call.
    virtual common::Status onMessageBody(std::string_view data) noexcept = 0;
    // The message is complete. The parser pauses until resume().
    virtual common::Status onMessageComplete() noexcept = 0;
  };

  Http1Parser(Kind kind, const Http1Limits& limits, Handler* handler);
  ~Http1Parser();  // wipes the buffered bytes
  Http1Parser(const Http1Parser&) = delete;
  Http1Parser& operator=(const Http1Parser&) = delete;

  // Appends bytes from the peer and parses as far as possible (not past a completed message).
  // A non-OK result is final: the parser is dead and the connection must be closed.
  common::Status feed(std::string_view data) noexcept;
  // Continues after onMessageComplete() with any buffered bytes of the next message.
  common::Status resume() noexcept;
  // Called from onMessageHead: stop right after this head, before any of its body, until
  // resume() (a request whose admission waits: Exchange::resumeAdmission).
  void pauseAfterHead() noexcept { pause_after_head_ = true; }
  // The peer closed its side. Completes an until-close body; an incomplete message is an error
  // (`http1.truncated`). A parser with no partial message returns OK.
  common::Status finish() noexcept;

  // Response parsing: the request was HEAD, so the response carries no body whatever it says.
  void setNoBodyExpected(bool v) noexcept { no_body_expected_ = v; }
  // Wipe the input buffer as for requests (their bodies carry protected plaintext). Off by
  // default for responses, which carry envelopes; on for answers that carry secrets (the HTTPS
  // client's token and Key Vault answers). Set before the first feed().
  void setWipeInput(bool v) noexcept { wipe_input_ = v; }

  bool paused() const noexcept { return paused_; }
  // True while the parser is running (inside a handler callback): positions are not final.
  bool inProcess() const noexcept { return in_process_; }
  bool dead() const noexcept { return dead_; }
  // True when no byte of an unfinished message has been received.
  bool idle() const noexcept;
  // Bytes received but not yet parsed (pipelined requests, or an incomplete head).
  size_t bufferedBytes() const noexcept { return in_.size() - pos_; }
  const MessageHead& head() const noexcept { return head_; }

 private:
  enum class State : uint8_t { kHead, kBody, kDone };

  common::Status process() noexcept;
  // Runs llhttp over the next `len` buffered bytes and advances past what it consumed.
  common::Status execute(size_t len) noexcept;
  common::Status scanHead(bool* complete) noexcept;
  common::Status headTooLarge() const;
  common::Status parseStartLine(std::string_view line) noexcept;
  common::Status parseHeaderLine(std::string_view line) noexcept;
  // The detail of a header line that is not `token ":" value`.
  common::Status headerLineError(std::string_view line) const noexcept;
  common::Status finishHead() noexcept;
  common::Status fail(common::Status s) noexcept;
  common::Status llhttpError(llhttp_errno_t err) noexcept;
  void startMessage() noexcept;
  void compact() noexcept;

  static int onHeadersComplete(llhttp_t* p);
  static int onBody(llhttp_t* p, const char* at, size_t len);
  static int onMessageComplete(llhttp_t* p);
  static int onTrailerField(llhttp_t* p, const char* at, size_t len);
  static int onChunkExtension(llhttp_t* p, const char* at, size_t len);
  static int onChunkHeader(llhttp_t* p);

  Kind kind_;
  bool wipe_input_;  // kind_ == kRequest unless setWipeInput() said otherwise
  Http1Limits limits_;
  Handler* handler_;
  llhttp_settings_t settings_;
  llhttp_t llhttp_;

  std::string in_;
  size_t pos_ = 0;          // first unconsumed byte of in_
  State state_ = State::kHead;
  size_t line_off_ = 0;     // head: offset (from pos_) of the current line start
  size_t scan_off_ = 0;     // head: offset (from pos_) scanned so far
  bool first_line_ = true;
  MessageHead head_;
  size_t chunk_ext_bytes_ = 0;
  common::Status callback_status_;
  bool paused_ = false;
  bool pause_after_head_ = false;  // asked in onMessageHead; llhttp stopped after the head
  bool dead_ = false;
  bool in_process_ = false;
  bool no_body_expected_ = false;
  bool headers_done_ = false;
  // The last chunk was parsed: the next body byte must end the message (CR or LF), any other
  // starts a trailer field (refused).
  bool trailer_check_ = false;
  uint32_t interim_count_ = 0;  // 1xx responses skipped before the final one
};

// The name (as received) of the first request field that must appear at most once but appears
// again, or an empty view. The singletons are Authorization, Content-Type, Date, If-Match and the
// other RFC 9110 fields that are not lists, plus the Cosmos headers that carry one value
// (x-ms-date, x-ms-version, x-ms-documentdb-partitionkey, x-ms-documentdb-isquery, ...); the list
// is in codec.cc and docs/SECURITY.md. The parser refuses such a request head with
// `http1.duplicate_header` (400). The view points into `headers`.
std::string_view repeatedSingletonHeader(const common::HeaderMap& headers) noexcept;

// ---- Serialization (our own framing; never raw bytes from a peer) ----

// Hop-by-hop headers (RFC 9110 §7.6.1) that a proxy must not forward, plus framing headers we
// always recompute (Content-Length, Transfer-Encoding).
bool isHopByHopOrFraming(common::HeaderToken token) noexcept;
bool isHopByHopOrFraming(std::string_view name) noexcept;

// The field names a head's Connection headers list (RFC 9110 §7.6.1: those fields are
// hop-by-hop too). Collected once per head, so dropping them costs one lookup per field instead
// of a rescan of every Connection header. The names are views into `headers`, which must
// outlive this set and stay unmodified.
class ConnectionNominated {
 public:
  explicit ConnectionNominated(const common::HeaderMap& headers);
  bool contains(std::string_view name) const noexcept;

 private:
  // Linear search up to this many names; beyond it they are sorted (case-insensitively, no
  // duplicates) and binary-searched, so a hostile Connection header cannot make filtering
  // quadratic.
  static constexpr size_t kLinearMax = 8;
  std::vector<std::string_view> names_;
};

// Appends "name: value\r\n".
void appendHeader(std::string* out, std::string_view name, std::string_view value);

// "METHOD target HTTP/1.1\r\n" + headers + "\r\n".
void appendRequestHead(std::string* out, std::string_view method, std::string_view target,
                       const common::HeaderMap& headers);
// "HTTP/1.1 status reason\r\n" + headers + "\r\n".
void appendResponseHead(std::string* out, int status, std::string_view reason,
                        const common::HeaderMap& headers);
// One chunk of a chunked body ("<hex>\r\n<data>\r\n"); empty data is not allowed (use
// kLastChunk).
void appendChunk(std::string* out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Standard reason phrase for a status line ("Unknown" for codes we do not use). The Cosmos-style
// error bodies of local replies live in proxy/exchange/local_reply.h.
const char* reasonPhrase(int status) noexcept;

}  // namespace cosmoseal::proxy
