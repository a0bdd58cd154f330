#include "proxy/migrate/https_sender.h"

#include "proxy/net/https_client.h"

namespace cosmoseal::proxy::migrate {

namespace {

class HttpsSender final : public HttpSender {
 public:
  explicit HttpsSender(net::HttpsClient::Options options) : client_(std::move(options)) {}

  common::StatusOr<HttpResponse> send(const HttpRequest& request) override {
    net::HttpsRequest req;
    req.method = request.method;
    req.url = request.url;
    req.headers = request.headers;
    req.body = request.body;
    req.timeout = request.timeout;
    auto res = client_.send(req);
    if (!res.isOk()) return res.status();
    HttpResponse out;
    out.status = res->status;
    out.headers = std::move(res->headers);
    out.body = std::move(res->body);
    return out;
  }

 private:
  net::HttpsClient client_;
};

}  // namespace

std::unique_ptr<HttpSender> makeHttpsSender(std::string ca_file, bool allow_http) {
  net::HttpsClient::Options options;
  options.ca_file = std::move(ca_file);
  options.allow_insecure_http = allow_http;
  options.max_response_bytes = 64u << 20;
  return std::make_unique<HttpsSender>(std::move(options));
}

}  // namespace cosmoseal::proxy::migrate
