#include "proxy/http1/codec.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/secret_bytes.h"
#include "common/text.h"
#include "proxy/http1/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::HeaderToken;
using common::Status;

namespace {

// RFC 9110 §5.6.2 tchar.
constexpr std::array<bool, 256> makeTcharTable() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr std::array<bool, 256> kTchar = makeTcharTable();

bool isToken(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

// Field-value characters: HTAB, SP, VCHAR, obs-text. Everything else (NUL, CR, LF, other CTLs,
// DEL) is refused.
inline bool isFieldValueChar(unsigned char c) noexcept {
  return c == '\t' || (c >= 0x20 && c != 0x7F);
}

// Every byte of `v` is a field-value character. Eight bytes at a time: a word with no byte
// below 0x20 and none equal to 0x7F is all valid (the usual case); otherwise, and for the tail,
// byte by byte (HTAB is valid but below 0x20).
bool isFieldValue(std::string_view v) noexcept {
  constexpr uint64_t kOnes = 0x0101010101010101ull;
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 8 <= v.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, v.data() + i, 8);
    const uint64_t below_space = (w - kOnes * 0x20) & ~w & kHigh;  // some byte < 0x20
    const uint64_t del = w ^ (kOnes * 0x7F);
    const uint64_t has_del = (del - kOnes) & ~del & kHigh;  // some byte == 0x7F
    if ((below_space | has_del) != 0) break;
  }
  for (; i < v.size(); ++i) {
    if (!isFieldValueChar(static_cast<unsigned char>(v[i]))) return false;
  }
  return true;
}

Status bad(std::string_view detail, std::string msg) {
  return Status(Code::kInvalidArgument, detail, std::move(msg));
}

// Parses a Content-Length value strictly: 1..18 ASCII digits (no sign, no spaces, no hex).
bool parseContentLength(std::string_view v, uint64_t* out) noexcept {
  if (v.empty() || v.size() > 18) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = n;
  return true;
}

// Iterates comma-separated tokens of a header value (Connection), trimmed.
template <typename F>
void forEachToken(std::string_view v, F&& f) {
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view tok = common::trimOws(v.substr(0, comma));
    if (!tok.empty()) f(tok);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

}  // namespace

void MessageHead::clear() {
  method.clear();
  target.clear();
  status = 0;
  reason.clear();
  version_minor = 1;
  headers.clear();
  framing = Framing::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  interim = false;
  head_bytes = 0;
}

Http1Parser::Http1Parser(Kind kind, const Http1Limits& limits, Handler* handler)
    : kind_(kind), wipe_input_(kind == Kind::kRequest), limits_(limits), handler_(handler) {
  llhttp_settings_init(&settings_);
  settings_.on_headers_complete = &Http1Parser::onHeadersComplete;
  settings_.on_body = &Http1Parser::onBody;
  settings_.on_message_complete = &Http1Parser::onMessageComplete;
  settings_.on_header_field = &Http1Parser::onTrailerField;
  settings_.on_chunk_extension_name = &Http1Parser::onChunkExtension;
  settings_.on_chunk_extension_value = &Http1Parser::onChunkExtension;
  settings_.on_chunk_header = &Http1Parser::onChunkHeader;
  llhttp_init(&llhttp_, kind == Kind::kRequest ? HTTP_REQUEST : HTTP_RESPONSE, &settings_);
  llhttp_.data = this;
}

Http1Parser::~Http1Parser() {
  if (wipe_input_) common::clearWiping(&in_);
}

bool Http1Parser::idle() const noexcept {
  return state_ == State::kHead && pos_ == in_.size() && !paused_;
}

Status Http1Parser::fail(Status s) noexcept {
  dead_ = true;
  return s;
}

Status Http1Parser::feed(std::string_view data) noexcept {
  if (dead_)
    return Status(Code::kInvalidArgument, http1_detail::kParseError, "connection already failed");
  // Request bytes (protected plaintext in bodies from the app) only ever grow through
  // appendWiping and leave through compact(), so no freed or stale block keeps them. Responses
  // carry envelopes, not plaintext: no wiping cost there, unless setWipeInput() asked for it.
  if (wipe_input_) {
    common::appendWiping(&in_, data);
  } else {
    in_.append(data.data(), data.size());
  }
  if (paused_ || in_process_) return Status::ok();
  return process();
}

Status Http1Parser::resume() noexcept {
  if (dead_ || !paused_) return Status::ok();
  paused_ = false;
  // Inside a callback the running process() loop resumes llhttp itself, after llhttp has
  // stopped at the message boundary (so the next head always goes through the guard first).
  if (in_process_) return Status::ok();
  llhttp_resume(&llhttp_);
  if (pause_after_head_) {
    // llhttp stopped inside the message, right after its head: it goes on from there even with
    // no byte left (a request without a body completes now); process() stops when none is.
    pause_after_head_ = false;
    if (pos_ == in_.size()) {
      in_process_ = true;
      Status s = execute(0);
      in_process_ = false;
      if (!s.isOk()) return s;
    }
  }
  return process();
}

Status Http1Parser::finish() noexcept {
  if (dead_) return Status::ok();
  if (state_ == State::kBody && head_.framing == Framing::kUntilClose && !paused_) {
    in_process_ = true;
    llhttp_errno_t err = llhttp_finish(&llhttp_);
    in_process_ = false;
    if (!callback_status_.isOk()) return fail(std::move(callback_status_));
    if (err == HPE_OK || err == HPE_PAUSED) return Status::ok();
    return fail(llhttpError(err));
  }
  if (state_ == State::kHead && pos_ == in_.size()) return Status::ok();
  if (paused_ && state_ == State::kHead) return Status::ok();  // complete message, rest unparsed
  return fail(
      bad(http1_detail::kTruncated, "the peer closed the connection in the middle of a message"));
}

void Http1Parser::startMessage() noexcept {
  head_.clear();
  line_off_ = 0;
  scan_off_ = 0;
  first_line_ = true;
  headers_done_ = false;
  trailer_check_ = false;
  chunk_ext_bytes_ = 0;
}

void Http1Parser::compact() noexcept {
  // Invariant: the bytes of in_'s block past size() are zero, so clearing the contents wipes
  // everything the block ever held.
  const bool wipe = wipe_input_;
  if (pos_ == in_.size()) {
    if (wipe) {
      common::clearWiping(&in_);
    } else {
      in_.clear();
    }
    pos_ = 0;
    if (in_.capacity() > 256 * 1024) in_.shrink_to_fit();
  } else if (pos_ > 64 * 1024 && pos_ > in_.size() / 2) {
    const size_t keep = in_.size() - pos_;
    std::memmove(in_.data(), in_.data() + pos_, keep);
    if (wipe) common::secureZero(in_.data() + keep, in_.size() - keep);
    in_.resize(keep);
    pos_ = 0;
  }
}

Status Http1Parser::process() noexcept {
  in_process_ = true;
  Status result;
  while (!dead_ && !paused_) {
    if (pos_ == in_.size()) break;
    if (state_ == State::kHead) {
      if (scan_off_ == 0 && line_off_ == 0 && first_line_) startMessage();
      bool complete = false;
      Status s = scanHead(&complete);
      if (!s.isOk()) {
        result = fail(std::move(s));
        break;
      }
      if (!complete) break;
      state_ = State::kBody;
      Status s2 = execute(head_.head_bytes);
      if (!s2.isOk()) {
        result = std::move(s2);
        break;
      }
      // Prepare the head scanner for the next message (head_ stays valid until then).
      line_off_ = 0;
      scan_off_ = 0;
      first_line_ = true;
    } else {
      if (trailer_check_) {
        // The first byte after the last chunk decides: CR or LF ends the body (llhttp checks
        // the rest); anything else starts a trailer field, refused here whether or not the
        // line is well formed. llhttp reports a field only when its span ends or the buffer
        // does, so leaving it to llhttp made the detail code depend on how the bytes were
        // split across reads (a malformed line was http1.bad_chunk whole, trailers_refused
        // when cut inside it).
        const char c = in_[pos_];
        if (c != '\r' && c != '\n') {
          result = fail(bad(http1_detail::kTrailersRefused, "chunked trailers are not accepted"));
          break;
        }
        trailer_check_ = false;
      }
      Status s2 = execute(in_.size() - pos_);
      if (!s2.isOk()) {
        result = std::move(s2);
        break;
      }
    }
  }
  in_process_ = false;
  if (!dead_) compact();
  return result;
}

Status Http1Parser::execute(size_t len) noexcept {
  const char* start = in_.data() + pos_;
  const llhttp_errno_t err = llhttp_execute(&llhttp_, start, len);
  // A handler refusal is reported by llhttp as its own callback error code: ours wins.
  if (!callback_status_.isOk()) return fail(std::move(callback_status_));
  if (err == HPE_OK) {
    pos_ += len;
  } else if (err == HPE_PAUSED) {
    pos_ += static_cast<size_t>(llhttp_get_error_pos(&llhttp_) - start);
    if (!paused_) llhttp_resume(&llhttp_);  // the handler already resumed us
  } else {
    return fail(llhttpError(err));
  }
  return Status::ok();
}

Status Http1Parser::scanHead(bool* complete) noexcept {
  // Line by line with memchr instead of byte by byte. Errors come out in the order of the bytes
  // that cause them, as a byte-by-byte scan would report them: a bare CR or LF, the head limit
  // (the first byte at offset max_head_bytes), the request-line limit (the first byte past
  // max_uri_bytes + 64, CR and LF excepted), then the line's own errors when its LF arrives.
  const size_t avail = in_.size() - pos_;
  const char* base = in_.data() + pos_;
  while (scan_off_ < avail) {
    // Bytes before `stop` can be taken without reaching a limit; the byte at `stop` may still
    // be a CR or LF (which report their own errors, or end the line).
    size_t stop = std::min<size_t>(avail, limits_.max_head_bytes);
    if (first_line_ && kind_ == Kind::kRequest) {
      stop = std::min<size_t>(stop, line_off_ + limits_.max_uri_bytes + 64);
    }
    const size_t end = std::min(stop + 1, avail);
    const void* lf = std::memchr(base + scan_off_, '\n', end - scan_off_);
    const size_t lf_at = lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - base) : end;
    // A CR always precedes the LF it belongs to, so the first CR before the LF decides.
    const void* cr = std::memchr(base + scan_off_, '\r', lf_at - scan_off_);
    size_t at = cr != nullptr ? static_cast<size_t>(static_cast<const char*>(cr) - base) : lf_at;
    if (at == end) {
      if (stop == avail) {  // nothing special yet: wait for more bytes
        scan_off_ = avail;
        break;
      }
      if (stop >= limits_.max_head_bytes) return headTooLarge();
      return Status(Code::kUriTooLong, http1_detail::kUriTooLong,
                    "request line longer than " + std::to_string(limits_.max_uri_bytes) + " bytes");
    }
    if (base[at] == '\r') {
      if (at + 1 >= avail) {  // decide when the next byte arrives
        scan_off_ = at;
        break;
      }
      if (base[at + 1] != '\n') {
        return bad(http1_detail::kBadLineEnding, "bare CR in the message head");
      }
      ++at;  // the LF
    } else if (at == line_off_ || base[at - 1] != '\r') {
      return bad(http1_detail::kBadLineEnding,
                 "bare LF in the message head (lines must end in CRLF)");
    }
    std::string_view line(base + line_off_, at - 1 - line_off_);
    scan_off_ = at + 1;
    if (scan_off_ > limits_.max_head_bytes) return headTooLarge();
    if (first_line_) {
      first_line_ = false;
      Status s = parseStartLine(line);
      if (!s.isOk()) return s;
    } else if (line.empty()) {
      head_.head_bytes = scan_off_;
      *complete = true;
      return finishHead();
    } else {
      Status s = parseHeaderLine(line);
      if (!s.isOk()) return s;
    }
    line_off_ = scan_off_;
  }
  if (avail > limits_.max_head_bytes) return headTooLarge();
  return Status::ok();
}

Status Http1Parser::headTooLarge() const {
  return Status(Code::kHeadersTooLarge, http1_detail::kHeadersTooLarge,
                "message head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
}

Status Http1Parser::parseStartLine(std::string_view line) noexcept {
  if (line.empty()) return bad(http1_detail::kBadRequestLine, "empty start line");
  if (kind_ == Kind::kResponse) {
    // HTTP/1.x SP 3DIGIT [SP reason]
    if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
      return bad(http1_detail::kBadStatusLine, "malformed status line");
    }
    if (line[7] != '0' && line[7] != '1')
      return bad(http1_detail::kBadVersion, "unsupported HTTP version");
    head_.version_minor = line[7] - '0';
    int status = 0;
    for (int i = 9; i < 12; ++i) {
      if (line[i] < '0' || line[i] > '9')
        return bad(http1_detail::kBadStatusLine, "malformed status code");
      status = status * 10 + (line[i] - '0');
    }
    if (status < 100) return bad(http1_detail::kBadStatusLine, "status code out of range");
    std::string_view reason;
    if (line.size() > 12) {
      if (line[12] != ' ') return bad(http1_detail::kBadStatusLine, "malformed status line");
      reason = line.substr(13);
    }
    for (char c : reason) {
      if (!isFieldValueChar(static_cast<unsigned char>(c))) {
        return bad(http1_detail::kBadStatusLine, "control character in reason phrase");
      }
    }
    head_.status = status;
    head_.reason.assign(reason.data(), reason.size());
    return Status::ok();
  }

  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos)
    return bad(http1_detail::kBadRequestLine, "malformed request line");
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos)
    return bad(http1_detail::kBadRequestLine, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method == "PRI" && target == "*" && version == "HTTP/2.0") {
    return bad(http1_detail::kHttp2Preface, "HTTP/2 is not supported; use HTTP/1.1");
  }
  if (!isToken(method) || method.size() > 32)
    return bad(http1_detail::kBadRequestLine, "invalid method");
  if (target.empty()) return bad(http1_detail::kBadRequestLine, "empty request target");
  if (target.size() > limits_.max_uri_bytes) {
    return Status(Code::kUriTooLong, http1_detail::kUriTooLong,
                  "request target longer than " + std::to_string(limits_.max_uri_bytes) + " bytes");
  }
  for (char c : target) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) {
      return bad(http1_detail::kBadRequestLine, "invalid character in request target");
    }
  }
  if (version == "HTTP/1.1") {
    head_.version_minor = 1;
  } else if (version == "HTTP/1.0") {
    head_.version_minor = 0;
  } else {
    return bad(http1_detail::kBadVersion, "unsupported HTTP version (HTTP/1.1 expected)");
  }
  if (method == "CONNECT") {
    return Status(Code::kMethodNotAllowed, http1_detail::kConnectRefused,
                  "CONNECT is not supported");
  }
  if (target[0] != '/') {
    if (target.find("://") != std::string_view::npos) {
      return bad(http1_detail::kAbsoluteUri, "absolute-form request targets are not accepted");
    }
    return bad(http1_detail::kBadRequestLine, "request target must start with '/'");
  }
  head_.method.assign(method.data(), method.size());
  head_.target.assign(target.data(), target.size());
  return Status::ok();
}

Status Http1Parser::parseHeaderLine(std::string_view line) noexcept {
  // The usual line in one forward pass: token ':' OWS value OWS. Anything else is diagnosed by
  // headerLineError() with the detail codes (and their precedence) of the full checks.
  size_t i = 0;
  while (i < line.size() && kTchar[static_cast<unsigned char>(line[i])]) ++i;
  if (i == 0 || i == line.size() || line[i] != ':') return headerLineError(line);
  const std::string_view name = line.substr(0, i);
  const std::string_view value = common::trimOws(line.substr(i + 1));
  if (!isFieldValue(value)) {
    return bad(http1_detail::kBadHeaderValue, "control character in header value");
  }
  if (head_.headers.size() >= limits_.max_headers) {
    return Status(Code::kHeadersTooLarge, http1_detail::kTooManyHeaders,
                  "more than " + std::to_string(limits_.max_headers) + " header fields");
  }
  head_.headers.add(name, value);
  return Status::ok();
}

Status Http1Parser::headerLineError(std::string_view line) const noexcept {
  if (line[0] == ' ' || line[0] == '\t') {
    return bad(http1_detail::kObsFold,
               "header line starts with whitespace (obsolete line folding)");
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos)
    return bad(http1_detail::kBadHeaderName, "header line without ':'");
  std::string_view name = line.substr(0, colon);
  if (!name.empty() && (name.back() == ' ' || name.back() == '\t')) {
    return bad(http1_detail::kSpaceBeforeColon, "whitespace between header name and ':'");
  }
  return bad(http1_detail::kBadHeaderName, "invalid header name");
}

namespace {

// Request fields that carry one value: a second copy makes the request ambiguous (a check reads
// one copy while the upstream may read the other, or both joined by a comma), so it is refused.
// RFC 9110 singletons (§5.3: a field not defined as a list must not repeat) and the Cosmos DB
// headers that name one value (ref/cosmos-protocol.md). Host and Content-Length are
// checked in finishHead() with their own detail codes; list-valued fields (Accept-Encoding,
// Expect, Connection, x-ms-cosmos-supported-serialization-formats, ...) may repeat.
constexpr HeaderToken kSingletonTokens[] = {
    HeaderToken::kAuthorization,
    HeaderToken::kContentType,
    HeaderToken::kContentLocation,
    HeaderToken::kDate,
    HeaderToken::kAIm,
    HeaderToken::kXMsDate,
    HeaderToken::kXMsVersion,
    HeaderToken::kXMsDocumentdbPartitionkey,
    HeaderToken::kXMsDocumentdbIsquery,
    HeaderToken::kXMsDocumentdbQuery,
    HeaderToken::kXMsDocumentdbIsUpsert,
    HeaderToken::kXMsCosmosIsQueryPlanRequest,
    HeaderToken::kXMsCosmosIsBatchRequest,
    HeaderToken::kXMsCosmosBatchAtomic,
};
// Singletons without a HeaderToken (compared by name, case-insensitively).
constexpr std::string_view kSingletonNames[] = {
    "if-match",
    "if-none-match",
    "if-modified-since",
    "if-unmodified-since",
    "x-ms-continuation",
    "x-ms-max-item-count",
    "x-ms-consistency-level",
    "x-ms-session-token",
    "x-ms-documentdb-partitionkeyrangeid",
    "x-ms-documentdb-query-enablecrosspartition",
    "x-ms-start-epk",
    "x-ms-end-epk",
    "x-ms-cosmos-query-version",
    "x-ms-cosmos-batch-continue-on-error",
    "x-ms-cosmos-changefeed-wire-format-version",
    "x-ms-documentdb-responsecontinuationtokenlimitinkb",
};
static_assert(std::size(kSingletonNames) <= 32, "seen-mask below is 32 bits");

// One bit per HeaderToken value that is a singleton.
constexpr uint64_t makeSingletonTokenMask() {
  uint64_t mask = 0;
  for (HeaderToken t : kSingletonTokens) mask |= uint64_t{1} << static_cast<unsigned>(t);
  return mask;
}
constexpr uint64_t kSingletonTokenMask = makeSingletonTokenMask();
static_assert(static_cast<unsigned>(HeaderToken::kXMsCosmosSupportedSerializationFormats) < 64,
              "token mask is 64 bits");

}  // namespace

std::string_view repeatedSingletonHeader(const common::HeaderMap& headers) noexcept {
  // One pass; a token compare per field, and for unnamed fields at most one short scan.
  uint64_t seen_tokens = 0;
  uint32_t seen_names = 0;
  for (const common::Header& f : headers.fields()) {
    if (f.token != HeaderToken::kOther) {
      const uint64_t bit = uint64_t{1} << static_cast<unsigned>(f.token);
      if ((kSingletonTokenMask & bit) == 0) continue;
      if ((seen_tokens & bit) != 0) return f.name;
      seen_tokens |= bit;
      continue;
    }
    for (size_t i = 0; i < std::size(kSingletonNames); ++i) {
      if (!common::equalsIgnoreCase(f.name, kSingletonNames[i])) continue;
      const uint32_t bit = uint32_t{1} << i;
      if ((seen_names & bit) != 0) return f.name;
      seen_names |= bit;
      break;
    }
  }
  return {};
}

Status Http1Parser::finishHead() noexcept {
  const common::HeaderMap& h = head_.headers;
  const bool request = kind_ == Kind::kRequest;

  // One pass over the fields: the framing and connection headers are found by their token.
  size_t hosts = 0;
  size_t cl_count = 0;
  size_t te_count = 0;
  std::string_view cl_value;
  std::string_view te;
  const std::string_view* expect = nullptr;
  bool upgrade = false;
  bool close = false;
  bool keep_alive_token = false;
  for (const common::Header& f : h.fields()) {
    switch (f.token) {
      case HeaderToken::kHost:
        ++hosts;
        break;
      case HeaderToken::kContentLength:
        if (cl_count++ == 0) cl_value = f.value;
        break;
      case HeaderToken::kTransferEncoding:
        if (te_count++ == 0) te = f.value;
        break;
      case HeaderToken::kConnection:
        forEachToken(f.value, [&](std::string_view tok) {
          if (common::equalsIgnoreCase(tok, "close")) close = true;
          if (common::equalsIgnoreCase(tok, "keep-alive")) keep_alive_token = true;
        });
        break;
      case HeaderToken::kUpgrade:
        upgrade = true;
        break;
      case HeaderToken::kExpect:
        if (expect == nullptr) expect = &f.value;
        break;
      default:
        break;
    }
  }

  if (request && (hosts > 1 || (head_.version_minor == 1 && hosts == 0))) {
    return bad(http1_detail::kBadHost, "an HTTP/1.1 request needs exactly one Host header");
  }
  if (cl_count > 0 && te_count > 0) {
    return bad(http1_detail::kClAndTe, "both Content-Length and Transfer-Encoding are present");
  }
  if (cl_count > 1) {
    return bad(http1_detail::kDuplicateContentLength, "more than one Content-Length header");
  }
  uint64_t cl = 0;
  if (cl_count == 1 && !parseContentLength(cl_value, &cl)) {
    return bad(http1_detail::kBadContentLength, "Content-Length is not a plain decimal number");
  }
  if (te_count > 1)
    return bad(http1_detail::kBadTransferEncoding, "more than one Transfer-Encoding");
  if (te_count == 1) {
    if (!common::equalsIgnoreCase(te, "chunked")) {
      // RFC 9112 §6.3: if chunked is not the final coding the length cannot be determined
      // (400); "chunked" applied twice is malformed (400); a coding we do not implement in
      // front of a final chunked is 501 (§6.1).
      std::vector<std::string_view> codings;
      forEachToken(te, [&](std::string_view tok) { codings.push_back(tok); });
      size_t chunked = 0;
      for (std::string_view c : codings) chunked += common::equalsIgnoreCase(c, "chunked") ? 1 : 0;
      if (request && chunked == 1 && !codings.empty() &&
          common::equalsIgnoreCase(codings.back(), "chunked")) {
        return Status(Code::kNotImplemented, http1_detail::kBadTransferEncoding,
                      "unsupported transfer coding in '" + std::string(te) +
                          "': only chunked is implemented");
      }
      return bad(http1_detail::kBadTransferEncoding,
                 "only 'Transfer-Encoding: chunked' is supported");
    }
    if (head_.version_minor == 0) {
      return bad(http1_detail::kBadTransferEncoding,
                 "Transfer-Encoding is not allowed in HTTP/1.0");
    }
  }

  head_.keep_alive = !close && (head_.version_minor == 1 || keep_alive_token);

  if (request) {
    if (std::string_view name = repeatedSingletonHeader(h); !name.empty()) {
      return bad(http1_detail::kDuplicateHeader,
                 "header '" + std::string(name) + "' appears more than once; it takes one value");
    }
    if (upgrade) {
      return bad(http1_detail::kUpgradeRefused, "protocol upgrades are not supported");
    }
    if (expect != nullptr) {
      if (!common::equalsIgnoreCase(*expect, "100-continue")) {
        return bad(http1_detail::kBadExpect, "unsupported Expect header");
      }
      head_.expect_continue = true;
    }
    if (te_count == 1) {
      head_.framing = Framing::kChunked;
    } else if (cl_count == 1 && cl > 0) {
      head_.framing = Framing::kContentLength;
      head_.content_length = cl;
    } else {
      head_.framing = Framing::kNone;
    }
    return Status::ok();
  }

  // Response.
  if (head_.status < 200) {
    if (head_.status == 101 || ++interim_count_ > 8 || cl_count > 0 || te_count > 0) {
      return bad(http1_detail::kUnexpected1xx, "unexpected informational response");
    }
    head_.interim = true;
    head_.framing = Framing::kNone;
    return Status::ok();
  }
  interim_count_ = 0;
  if (no_body_expected_ || head_.status == 204 || head_.status == 304) {
    head_.framing = Framing::kNone;
  } else if (te_count == 1) {
    head_.framing = Framing::kChunked;
  } else if (cl_count == 1) {
    head_.framing = cl > 0 ? Framing::kContentLength : Framing::kNone;
    head_.content_length = cl;
  } else {
    head_.framing = Framing::kUntilClose;
    head_.keep_alive = false;
  }
  return Status::ok();
}

Status Http1Parser::llhttpError(llhttp_errno_t err) noexcept {
  const char* reason = llhttp_get_error_reason(&llhttp_);
  std::string msg = "malformed HTTP message";
  if (reason != nullptr) {
    msg += " (";
    msg += reason;
    msg += ")";
  }
  if (state_ == State::kBody && head_.framing == Framing::kChunked) {
    return bad(http1_detail::kBadChunk, std::move(msg));
  }
  if (err == HPE_INVALID_CONTENT_LENGTH || err == HPE_UNEXPECTED_CONTENT_LENGTH) {
    return bad(http1_detail::kBadContentLength, std::move(msg));
  }
  if (err == HPE_INVALID_TRANSFER_ENCODING)
    return bad(http1_detail::kBadTransferEncoding, std::move(msg));
  return bad(http1_detail::kParseError, std::move(msg));
}

int Http1Parser::onHeadersComplete(llhttp_t* p) {
  auto* self = static_cast<Http1Parser*>(p->data);
  if (self->head_.interim) return 0;  // 1xx: no body; skipped in onMessageComplete
  self->headers_done_ = true;
  Status s = self->handler_->onMessageHead(self->head_);
  if (!s.isOk()) {
    self->callback_status_ = std::move(s);
    return HPE_USER;
  }
  if (self->pause_after_head_) {
    self->paused_ = true;
    return HPE_PAUSED;
  }
  if (self->kind_ == Kind::kResponse && self->head_.framing == Framing::kNone) return 1;  // no body
  return 0;
}

int Http1Parser::onBody(llhttp_t* p, const char* at, size_t len) {
  auto* self = static_cast<Http1Parser*>(p->data);
  Status s = self->handler_->onMessageBody(std::string_view(at, len));
  if (!s.isOk()) {
    self->callback_status_ = std::move(s);
    return HPE_USER;
  }
  return 0;
}

int Http1Parser::onMessageComplete(llhttp_t* p) {
  auto* self = static_cast<Http1Parser*>(p->data);
  self->state_ = State::kHead;
  if (self->head_.interim) {
    // Skip the interim response; stop llhttp so the next head goes through the guard (the
    // process() loop resumes it because we are not paused).
    return HPE_PAUSED;
  }
  self->paused_ = true;
  Status s = self->handler_->onMessageComplete();
  if (!s.isOk()) {
    self->callback_status_ = std::move(s);
    return HPE_USER;
  }
  // Always stop llhttp at the message boundary, even if the handler resumed us synchronously:
  // llhttp must never parse the next message's head itself, the guard goes first.
  return HPE_PAUSED;
}

int Http1Parser::onTrailerField(llhttp_t* p, const char*, size_t) {
  auto* self = static_cast<Http1Parser*>(p->data);
  if (!self->headers_done_) return 0;  // a regular header: the guard already has it
  // Not reached while the trailer check in process() works; kept as a second line.
  self->callback_status_ = bad(http1_detail::kTrailersRefused, "chunked trailers are not accepted");
  return HPE_USER;
}

int Http1Parser::onChunkHeader(llhttp_t* p) {
  auto* self = static_cast<Http1Parser*>(p->data);
  self->chunk_ext_bytes_ = 0;
  if (p->content_length == 0) {
    // The last chunk: stop llhttp before the trailer section so process() sees its first byte.
    self->trailer_check_ = true;
    return HPE_PAUSED;
  }
  return 0;
}

int Http1Parser::onChunkExtension(llhttp_t* p, const char*, size_t len) {
  auto* self = static_cast<Http1Parser*>(p->data);
  self->chunk_ext_bytes_ += len;
  if (self->chunk_ext_bytes_ > self->limits_.max_chunk_extension_bytes) {
    self->callback_status_ = bad(http1_detail::kBadChunk, "chunk extension too long");
    return HPE_USER;
  }
  return 0;
}

// ---- Serialization ----

bool isHopByHopOrFraming(HeaderToken token) noexcept {
  switch (token) {
    case HeaderToken::kConnection:
    case HeaderToken::kKeepAlive:
    case HeaderToken::kProxyConnection:
    case HeaderToken::kTe:
    case HeaderToken::kTrailer:
    case HeaderToken::kTransferEncoding:
    case HeaderToken::kUpgrade:
    case HeaderToken::kContentLength:
    case HeaderToken::kProxyAuthorization:
    case HeaderToken::kProxyAuthenticate:
      return true;
    default:
      return false;
  }
}

bool isHopByHopOrFraming(std::string_view name) noexcept {
  return isHopByHopOrFraming(common::headerToken(name));
}

namespace {
}  // namespace

ConnectionNominated::ConnectionNominated(const common::HeaderMap& headers) {
  for (const common::Header& f : headers.fields()) {
    if (f.token != HeaderToken::kConnection) continue;
    forEachToken(f.value, [&](std::string_view tok) { names_.push_back(tok); });
  }
  if (names_.size() > kLinearMax) {
    auto less = [](std::string_view a, std::string_view b) { return common::compareIgnoreCase(a, b) < 0; };
    std::sort(names_.begin(), names_.end(), less);
    names_.erase(std::unique(names_.begin(), names_.end(),
                             [](std::string_view a, std::string_view b) {
                               return common::equalsIgnoreCase(a, b);
                             }),
                 names_.end());
  }
}

bool ConnectionNominated::contains(std::string_view name) const noexcept {
  if (names_.size() <= kLinearMax) {
    for (std::string_view n : names_) {
      if (common::equalsIgnoreCase(n, name)) return true;
    }
    return false;
  }
  auto it = std::lower_bound(
      names_.begin(), names_.end(), name,
      [](std::string_view a, std::string_view b) { return common::compareIgnoreCase(a, b) < 0; });
  return it != names_.end() && common::equalsIgnoreCase(*it, name);
}

void appendHeader(std::string* out, std::string_view name, std::string_view value) {
  out->append(name);
  out->append(": ", 2);
  out->append(value);
  out->append("\r\n", 2);
}

namespace {
void appendHeaders(std::string* out, const common::HeaderMap& headers) {
  for (const common::Header& h : headers.fields()) appendHeader(out, h.name, h.value);
  out->append("\r\n");
}
}  // namespace

void appendRequestHead(std::string* out, std::string_view method, std::string_view target,
                       const common::HeaderMap& headers) {
  out->append(method);
  out->push_back(' ');
  out->append(target);
  out->append(" HTTP/1.1\r\n");
  appendHeaders(out, headers);
}

void appendResponseHead(std::string* out, int status, std::string_view reason,
                        const common::HeaderMap& headers) {
  char line[32];
  int n = snprintf(line, sizeof(line), "HTTP/1.1 %03d ", status);
  out->append(line, static_cast<size_t>(n));
  out->append(reason.empty() ? std::string_view(reasonPhrase(status)) : reason);
  out->append("\r\n");
  appendHeaders(out, headers);
}

void appendChunk(std::string* out, std::string_view data) {
  char size[24];
  int n = snprintf(size, sizeof(size), "%zx\r\n", data.size());
  out->append(size, static_cast<size_t>(n));
  out->append(data);
  out->append("\r\n");
}

const char* reasonPhrase(int status) noexcept {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 207: return "Multi-Status";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 449: return "Retry With";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Unknown";
  }
}

}  // namespace cosmoseal::proxy
