#include "proxy/admission/entra_fetch.h"

#include "proxy/admission/details.h"

namespace cosmoseal::proxy {

// Placeholder until the blocking HTTPS client (proxy/net/https_client.h) is merged: every fetch
// fails, so Entra ID tokens get 503 auth.token_keys_unavailable.
JwksCache::Fetch makeEntraFetch(const std::string& /*ca_file*/) {
  return [](const std::string& url) -> common::StatusOr<std::string> {
    return common::Status(common::Code::kUnavailable, admission_detail::kTokenKeysUnavailable,
                          "GET " + url + ": no HTTPS client in this build");
  };
}

}  // namespace cosmoseal::proxy
