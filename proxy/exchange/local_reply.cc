#include "proxy/exchange/local_reply.h"

#include "common/headers.h"
#include "common/text.h"
#include "proxy/http1/codec.h"
#include "proxy/upstream/details.h"

namespace cosmoseal::proxy {

const char* cosmosErrorCode(int status) noexcept {
  switch (status) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 408:
      return "RequestTimeout";
    case 413:
      return "RequestEntityTooLarge";
    case 414:
      return "RequestUriTooLong";
    case 415:
      return "UnsupportedMediaType";
    case 429:
      return "TooManyRequests";
    case 431:
      return "RequestHeaderFieldsTooLarge";
    case 500:
      return "InternalServerError";
    case 501:
      return "NotImplemented";
    case 502:
      return "BadGateway";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "GatewayTimeout";
    default:
      return "Error";
  }
}

std::string localErrorBody(int status, std::string_view detail, std::string_view message) noexcept {
  std::string body = "{\"code\":\"";
  body += cosmosErrorCode(status);
  body += "\",\"message\":\"cosmoseal: ";
  common::appendJsonEscaped(&body, message);
  body += " (detail: ";
  common::appendJsonEscaped(&body, detail);
  body += ")\",\"detail\":\"";
  common::appendJsonEscaped(&body, detail);
  body += "\"}";
  return body;
}

int localReplySubstatus(std::string_view detail) noexcept {
  // WriteForbidden: the service's "this region does not take writes now"; every SDK re-reads the
  // account and retries the write where the write region then is.
  if (detail == upstream_detail::kRegionWriteUnreachable) return 3;
  return 0;
}

void appendLocalReply(std::string* out, const common::Status& status, uint64_t retry_after_ms,
                      bool close) noexcept {
  const int code = status.httpStatus();
  const std::string body = localErrorBody(code, status.detail(), status.message());
  common::HeaderMap h;
  h.add("Content-Type", "application/json");
  h.add("Content-Length", std::to_string(body.size()));
  h.add("x-cosmoseal-detail", status.detail());
  h.add("x-ms-request-charge", "0");
  if (code == 429) {
    h.add("x-ms-retry-after-ms", std::to_string(retry_after_ms ? retry_after_ms : 100));
  }
  if (const int sub = localReplySubstatus(status.detail()); sub != 0) {
    h.add("x-ms-substatus", std::to_string(sub));
  }
  if (close) h.add("Connection", "close");
  appendResponseHead(out, code, "", h);
  out->append(body);
}

}  // namespace cosmoseal::proxy
