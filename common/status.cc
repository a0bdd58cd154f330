#include "common/status.h"

namespace cosmoseal::common {

int httpStatusFor(Code code) noexcept {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kMethodNotAllowed: return 405;
    case Code::kRequestTimeout: return 408;
    case Code::kTooLarge: return 413;
    case Code::kUriTooLong: return 414;
    case Code::kUnsupportedMedia: return 415;
    case Code::kRateLimited: return 429;
    case Code::kHeadersTooLarge: return 431;
    case Code::kInternal: return 500;
    case Code::kNotImplemented: return 501;
    case Code::kBadGateway: return 502;
    case Code::kUnavailable: return 503;
    case Code::kGatewayTimeout: return 504;
    case Code::kFailedPrecondition: return 500;
  }
  return 500;
}

std::string_view codeName(Code code) noexcept {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kNotFound: return "not_found";
    case Code::kMethodNotAllowed: return "method_not_allowed";
    case Code::kRequestTimeout: return "request_timeout";
    case Code::kTooLarge: return "too_large";
    case Code::kUriTooLong: return "uri_too_long";
    case Code::kUnsupportedMedia: return "unsupported_media";
    case Code::kRateLimited: return "rate_limited";
    case Code::kHeadersTooLarge: return "headers_too_large";
    case Code::kInternal: return "internal";
    case Code::kNotImplemented: return "not_implemented";
    case Code::kBadGateway: return "bad_gateway";
    case Code::kUnavailable: return "unavailable";
    case Code::kGatewayTimeout: return "gateway_timeout";
    case Code::kFailedPrecondition: return "failed_precondition";
  }
  return "unknown";
}

Status::Status(Code code, std::string_view detail, std::string message) {
  if (code == Code::kOk) return;
  rep_ = std::make_unique<Rep>(Rep{code, std::string(detail), std::move(message)});
}

std::string_view Status::detail() const noexcept {
  return rep_ ? std::string_view(rep_->detail) : std::string_view();
}

std::string_view Status::message() const noexcept {
  return rep_ ? std::string_view(rep_->message) : std::string_view();
}

std::string Status::toString() const {
  if (!rep_) return "ok";
  std::string out = rep_->detail;
  out += ": ";
  out += rep_->message;
  return out;
}

Status Status::withContext(std::string_view context) const {
  if (!rep_) return Status();
  std::string msg(context);
  msg += ": ";
  msg += rep_->message;
  return Status(rep_->code, rep_->detail, std::move(msg));
}

Status invalidArgument(std::string_view detail, std::string message) {
  return Status(Code::kInvalidArgument, detail, std::move(message));
}
Status internalError(std::string_view detail, std::string message) {
  return Status(Code::kInternal, detail, std::move(message));
}
Status failedPrecondition(std::string_view detail, std::string message) {
  return Status(Code::kFailedPrecondition, detail, std::move(message));
}

}  // namespace cosmoseal::common
