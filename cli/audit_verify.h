#pragma once

// `cosmoseal audit verify FILE [FILE...]`: checks the sequence numbers and the SHA-256 hash
// chain of audit logs written by proxy/observability/audit.h, across rotated files given oldest
// first. Prints a summary (exit 0) or the first problem, naming FILE:LINE (exit 1); no file is
// a usage error (exit 2). Conventions: command.h.

#include <ostream>

#include "cli/command.h"

namespace cosmoseal::cli {

int runAuditVerify(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
