#pragma once

// The Entra ID parts of the configuration (internal to proxy/config/): the top-level `entra`
// section (tenant, authority, audiences, issuers, skew, key refresh) and `clients[].entra`
// (object_id / app_id). Field meanings: EntraConfig and ClientEntraConfig in config.h; the user's
// reference: docs/CONFIG.md, "Entra ID apps".

#include <yaml-cpp/yaml.h>

#include "proxy/config/config.h"
#include "proxy/config/reader.h"

namespace cosmoseal::proxy::config {

// The top-level `entra` section.
void loadEntra(Reader& reader, const Entry& e, Config* cfg);
// One client's `entra` mapping.
void loadClientEntra(Reader& reader, const Entry& e, ClientConfig* client);
// After every section is read: each client has a key_file or an entra identity, clients[].entra
// needs the top-level section, identities are unique, and the default audiences (which need the
// upstream origin) and issuers are filled in.
void finishEntra(Reader& reader, const YAML::Mark& root_mark, Config* cfg);

// The issuers and audiences a token is checked against, defaults applied (also used by tests that
// build a Config in code).
std::vector<std::string> entraIssuers(const EntraConfig& entra);
std::vector<std::string> entraAudiences(const EntraConfig& entra, const UpstreamConfig& upstream);
// <authority_host><tenant>/v2.0/.well-known/openid-configuration
std::string entraOpenIdConfigurationUrl(const EntraConfig& entra);

}  // namespace cosmoseal::proxy::config
