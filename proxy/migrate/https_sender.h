#pragma once

// The HttpSender of a real job: net::HttpsClient (proxy/net/https_client.h: blocking, verified
// TLS, one keep-alive connection per origin). One per thread.

#include <memory>
#include <string>

#include "proxy/migrate/http.h"

namespace cosmoseal::proxy::migrate {

// `ca_file`: PEM bundle trusted for the account (upstream.ca_file; empty: the system store).
// `allow_http`: the config's upstream is plain http:// (emulators, the test simulator).
std::unique_ptr<HttpSender> makeHttpsSender(std::string ca_file, bool allow_http);

}  // namespace cosmoseal::proxy::migrate
