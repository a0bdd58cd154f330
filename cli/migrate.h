#pragma once

// `cosmoseal migrate {encrypt|rotate|decrypt|verify}`: rewrites a container's stored documents
// in place with the sidecar's own sealing code; `migrate copy` copies them into a new container
// sealed with its policy, and `verify --against` compares the two (docs/MIGRATION.md).
// Conventions: command.h.

#include <ostream>

#include "cli/command.h"

namespace cosmoseal::cli {

// `args`: the words after "migrate" (the operation first).
int runMigrate(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
