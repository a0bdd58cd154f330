#include "proxy/exchange/metadata_fetch.h"

#include "common/url.h"
#include "crypto/cosmos_auth.h"
#include "proxy/exchange/details.h"

namespace cosmoseal::proxy {

using common::Code;
using common::HeaderMap;
using common::Status;

MetadataFetch::MetadataFetch(const ExchangeContext& context, BufferCharge* charge,
                             Callbacks* callbacks, std::vector<std::string> segments, bool by_rid,
                             std::string x_ms_version)
    : ctx_(context),
      charge_(charge),
      callbacks_(callbacks),
      segments_(std::move(segments)),
      by_rid_(by_rid),
      x_ms_version_(std::move(x_ms_version)) {}

std::unique_ptr<MetadataFetch> MetadataFetch::raw(const ExchangeContext& context,
                                                  BufferCharge* charge, Callbacks* callbacks,
                                                  std::string request) {
  auto f = std::make_unique<MetadataFetch>(context, charge, callbacks, std::vector<std::string>{},
                                           false, std::string());
  f->raw_request_ = std::move(request);
  f->is_raw_ = true;
  return f;
}

MetadataFetch::~MetadataFetch() { abort(); }

void MetadataFetch::start() noexcept {
  state_ = State::kConnecting;
  ctx_.pool->acquire(target_ != nullptr ? *target_ : ctx_.state->snapshot->upstream(), this);
}

void MetadataFetch::abort() noexcept {
  if (state_ == State::kConnecting) ctx_.pool->cancel(this);
  if (upstream_ != nullptr) {
    UpstreamConnection* u = upstream_;
    upstream_ = nullptr;
    ctx_.pool->release(u, false);
  }
  state_ = State::kIdle;
}

void MetadataFetch::buildRequest(std::string* out) const noexcept {
  if (is_raw_) {
    out->append(raw_request_);
    return;
  }
  const ConfigSnapshot& rt = *ctx_.state->snapshot;
  std::string target;
  for (const std::string& s : segments_) {
    target.push_back('/');
    // RIDs go as the SDKs send them (base64 and '-': characters a path may hold as they are).
    target.append(by_rid_ ? s : common::percentEncodeSegment(s));
  }
  crypto::CosmosResource res = crypto::cosmosResourceFromSegments(segments_);
  res.by_rid = by_rid_;
  HeaderMap h;
  h.add("Host", rt.upstreamHostHeader());
  h.add("x-ms-date", crypto::formatHttpDate(ctx_.clock->unixSeconds()));
  h.add("x-ms-version", x_ms_version_);
  h.add("Accept", "application/json");
  h.add("Accept-Encoding", "identity");
  h.add("User-Agent", "cosmoseal");
  for (const auto& [name, value] : extra_headers_) h.add(name, value);
  Status s = ctx_.state->auth.resign("GET", res, &h);
  (void)s;  // a failure leaves no authorization: the upstream answers 401, handled as an error
  appendRequestHead(out, "GET", target, h);
}

void MetadataFetch::onUpstreamReady(UpstreamConnection* conn) noexcept {
  state_ = State::kReading;
  upstream_ = conn;
  response_.clear();
  body_.clear();
  std::string out;
  buildRequest(&out);
  conn->setNoBodyExpected(false);
  conn->send(out);
  conn->flush(true);
}

void MetadataFetch::onUpstreamFailed(const Status& status, UpstreamFailure kind,
                                     bool response_started) noexcept {
  const bool was_reused = upstream_ != nullptr && upstream_->reused();
  upstream_ = nullptr;  // the pool has closed it
  state_ = State::kIdle;
  callbacks_->onMetadataFailed(status, kind, response_started, was_reused);
}

Status MetadataFetch::onUpstreamHead(MessageHead& head) noexcept {
  response_ = std::move(head);
  return Status::ok();
}

Status MetadataFetch::onUpstreamBody(std::string_view data) noexcept {
  // Bounded like any buffered response, and charged to the owner's response budget.
  const uint64_t limit = ctx_.state->snapshot->config().limits.max_response_body_bytes;
  if (body_.size() + data.size() > limit) {
    return Status(
        Code::kBadGateway, exchange_detail::kResponseTooLarge,
        "upstream response over the buffering limit of " + std::to_string(limit) + " bytes");
  }
  if (body_.size() + data.size() > charge_->bytes()) {
    COSMOSEAL_RETURN_IF_ERROR(chargeBuffer(ctx_, charge_, body_.size() + data.size()));
  }
  body_.append(data.data(), data.size());
  return Status::ok();
}

void MetadataFetch::onUpstreamComplete() noexcept {
  UpstreamConnection* u = upstream_;
  upstream_ = nullptr;
  state_ = State::kIdle;
  if (u != nullptr) ctx_.pool->release(u, response_.keep_alive);
  std::string body = std::move(body_);
  body_.clear();
  callbacks_->onMetadataFetched(response_.status, std::move(body));
}

}  // namespace cosmoseal::proxy
