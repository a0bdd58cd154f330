#pragma once

// What the migrator needs from HTTP: one blocking request/response exchange at a time. The job
// runner gives each of its threads its own HttpSender (the HTTPS client is not thread-safe), and
// the unit tests give it a fake account. Header names in a response are lower case.

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace cosmoseal::proxy::migrate {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;
  std::string url;  // absolute: "https://host:port/dbs/..."
  HeaderList headers;
  std::string body;
  std::chrono::milliseconds timeout{60000};
};

struct HttpResponse {
  int status = 0;
  HeaderList headers;  // lower-case names
  std::string body;

  // The first header named `lower_name`, "" when absent.
  std::string_view header(std::string_view lower_name) const noexcept {
    for (const auto& [name, value] : headers) {
      if (name == lower_name) return value;
    }
    return {};
  }
};

class HttpSender {
 public:
  virtual ~HttpSender() = default;
  // A transport failure (connect, TLS, timeout, framing) is an error Status; any HTTP status is
  // a response.
  virtual common::StatusOr<HttpResponse> send(const HttpRequest& request) = 0;
};

}  // namespace cosmoseal::proxy::migrate
