// Fuzzes the HTTP/1.1 head guard + llhttp framing, for requests and responses, fed both whole
// and split at a data-dependent point (incremental parsing must agree with one-shot parsing).

#include <cstdint>
#include <string>
#include <string_view>

#include "common/assert.h"
#include "proxy/http1/codec.h"

namespace {

using cosmoseal::common::Status;
using cosmoseal::proxy::Http1Limits;
using cosmoseal::proxy::Http1Parser;
using cosmoseal::proxy::MessageHead;

struct Sink : Http1Parser::Handler {
  size_t heads = 0, body = 0, completes = 0;
  Status onMessageHead(MessageHead& head) noexcept override {
    ++heads;
    // Invariants of an accepted head.
    COSMOSEAL_RELEASE_ASSERT(head.headers.count("content-length") <= 1);
    COSMOSEAL_RELEASE_ASSERT(!(head.headers.has("content-length") &&
                               head.headers.has("transfer-encoding")));
    return Status::ok();
  }
  Status onMessageBody(std::string_view d) noexcept override {
    body += d.size();
    return Status::ok();
  }
  Status onMessageComplete() noexcept override {
    ++completes;
    return Status::ok();
  }
};

struct Outcome {
  bool ok;
  std::string detail;
  size_t heads, body, completes;
};

Outcome run(Http1Parser::Kind kind, std::string_view data, size_t split) {
  Http1Limits limits;
  limits.max_head_bytes = 4096;
  limits.max_headers = 32;
  limits.max_uri_bytes = 1024;
  Sink sink;
  Http1Parser p(kind, limits, &sink);
  Status s = p.feed(data.substr(0, split));
  if (s.isOk()) s = p.feed(data.substr(split));
  // Drain pipelined messages.
  for (int i = 0; i < 64 && s.isOk() && p.paused(); ++i) s = p.resume();
  if (s.isOk() && kind == Http1Parser::Kind::kResponse) s = p.finish();
  return Outcome{s.isOk(), std::string(s.detail()), sink.heads, sink.body, sink.completes};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t split = size == 0 ? 0 : data[0] % (size + 1);
  for (auto kind : {Http1Parser::Kind::kRequest, Http1Parser::Kind::kResponse}) {
    Outcome whole = run(kind, in, size);
    Outcome parts = run(kind, in, split);
    COSMOSEAL_RELEASE_ASSERT(whole.ok == parts.ok);
    COSMOSEAL_RELEASE_ASSERT(whole.detail == parts.detail);
    COSMOSEAL_RELEASE_ASSERT(whole.completes == parts.completes);
    COSMOSEAL_RELEASE_ASSERT(whole.body == parts.body);
  }
  return 0;
}
