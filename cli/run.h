#pragma once

// `cosmoseal [run] --config FILE [--log-level LEVEL]` runs the sidecar until SIGTERM/SIGINT;
// `cosmoseal check --config FILE` validates the config, the key files and the keyring the way a
// start would, without opening a socket (exit 1 with every error as FILE:LINE:COL).
// Conventions (exit codes, arguments, streams): command.h.

#include <ostream>

#include "cli/command.h"

namespace cosmoseal::cli {

// Blocks for the life of the sidecar (the process's only event loops); the exit code is the
// server's (0 after a clean drain). Logs go to stderr through common/log.h, not to `err`.
int runSidecar(const Args& args, std::ostream& out, std::ostream& err);
int runCheck(const Args& args, std::ostream& out, std::ostream& err);

}  // namespace cosmoseal::cli
