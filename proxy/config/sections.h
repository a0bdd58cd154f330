#pragma once

// The small sections of the config file (internal to proxy/config/): each function reads one
// top-level key into *cfg and reports every problem through `reader` (reader.h); values that
// fail keep their defaults, and the load as a whole fails. Clients and policies, the two list
// sections with cross references, have their own files (clients.h, policies.h).

#include <yaml-cpp/yaml.h>

#include "proxy/config/config.h"
#include "proxy/config/reader.h"

namespace cosmoseal::proxy::config {

// workers: auto | 1-256.
void loadWorkers(Reader& reader, const Entry& e, Config* cfg);
// log: { level }.
void loadLog(Reader& reader, const Entry& e, Config* cfg);
// listen: address, port, tls, mode, transparent, advertise_url.
void loadListen(Reader& reader, const Entry& e, Config* cfg);
// admin: enabled, address, port.
void loadAdmin(Reader& reader, const Entry& e, Config* cfg);
// upstream (required: `e` is null when absent, reported at `root_mark`).
void loadUpstream(Reader& reader, const Entry* e, const YAML::Mark& root_mark, Config* cfg);
// upstream.auth (upstream_auth.cc): `endpoint_origin` ("https://host") makes the default scope.
void loadUpstreamAuth(Reader& reader, const Entry& e, const std::string& endpoint_origin,
                      UpstreamConfig* u);
// keys: keyring_file and exactly one of kek_file / kek_env, seal budgets.
void loadKeys(Reader& reader, const Entry& e, Config* cfg);
// limits: sizes and counts, with the buffer budget at least as large as any one body.
void loadLimits(Reader& reader, const Entry& e, Config* cfg);
// timeouts: header, body, idle, drain.
void loadTimeouts(Reader& reader, const Entry& e, Config* cfg);
// audit: enabled, path (stdout, stderr or a file), required, queue_size.
void loadAudit(Reader& reader, const Entry& e, Config* cfg);

}  // namespace cosmoseal::proxy::config
