#pragma once

// The `clients` section (internal to proxy/config/): who may use the sidecar, with which key
// file, on which databases and containers, at which rate. Client names must be unique;
// database and container names follow Cosmos's id rules.

#include <yaml-cpp/yaml.h>

#include "proxy/config/config.h"
#include "proxy/config/reader.h"

namespace cosmoseal::proxy::config {

// Required: `e` is null when the section is absent, reported at `root_mark`.
void loadClients(Reader& reader, const Entry* e, const YAML::Mark& root_mark, Config* cfg);

}  // namespace cosmoseal::proxy::config
