#include "proxy/admission/entra_fetch.h"

#include <memory>

#include "common/secret_bytes.h"
#include "proxy/admission/details.h"
#include "proxy/net/https_client.h"

namespace cosmoseal::proxy {

JwksCache::Fetch makeEntraFetch(const std::string& ca_file) {
  net::HttpsClient::Options options;
  options.ca_file = ca_file;
  options.max_response_bytes = 1u << 20;  // OpenID configurations and JWKS are a few KiB
  auto client = std::make_shared<net::HttpsClient>(options);
  return [client](const std::string& url) -> common::StatusOr<std::string> {
    net::HttpsRequest request;
    request.method = "GET";
    request.url = url;
    request.headers.emplace_back("Accept", "application/json");
    request.timeout = std::chrono::seconds(10);
    auto response = client->send(request);
    if (!response.isOk()) {
      return common::Status(common::Code::kUnavailable, admission_detail::kTokenKeysUnavailable,
                            "GET " + url + ": " + std::string(response.status().message()));
    }
    if (response->status != 200) {
      return common::Status(common::Code::kUnavailable, admission_detail::kTokenKeysUnavailable,
                            "GET " + url + " answered " + std::to_string(response->status));
    }
    return std::move(response->body);
  };
}

}  // namespace cosmoseal::proxy
