#pragma once

// `cosmoseal --version` (also `cosmoseal version`): the version report of proxy/server/
// version.h on `out`, exit 0. Extra words are ignored, as they always were; --help and -h
// print the usage instead. Conventions: command.h.

#include <ostream>

#include "cli/command.h"

namespace cosmoseal::cli {

int runVersion(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
