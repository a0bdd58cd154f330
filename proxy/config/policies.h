#pragma once

// The `policies` section (internal to proxy/config/): the shape of each container policy and
// field is checked here, once; what the shapes mean (paths, modes, partition keys, overlaps) is
// checked by policy::validatePolicySpecs, whose findings are reported at their positions.

#include "proxy/config/config.h"
#include "proxy/config/reader.h"

namespace cosmoseal::proxy::config {

void loadPolicies(Reader& reader, const Entry& e, Config* cfg);

}  // namespace cosmoseal::proxy::config
