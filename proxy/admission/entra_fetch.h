#pragma once

// The fetcher a JwksCache uses in the sidecar: a blocking HTTPS GET (net::HttpsClient, verified
// TLS with `ca_file` or the system store) that returns the body of a 200 answer. Any other status
// or a transport failure is an error naming the URL and what went wrong (never the body). The
// returned function keeps one client (one keep-alive connection per origin) and must only be
// called from one thread at a time: the cache's refresh thread.

#include <string>

#include "proxy/admission/jwks.h"

namespace cosmoseal::proxy {

JwksCache::Fetch makeEntraFetch(const std::string& ca_file);

}  // namespace cosmoseal::proxy
