#pragma once

// The `cosmoseal` command line (DESIGN.md §6; stable: add flags, never rename):
//   cosmoseal --config FILE            run the sidecar (also: cosmoseal run --config FILE)
//   cosmoseal check --config FILE      validate config, key files and keyring
//   cosmoseal keygen --keyring FILE --kek-file FILE --key NAME
//   cosmoseal keyring show --keyring FILE --kek-file FILE
//   cosmoseal audit verify FILE [FILE...]
//   cosmoseal capture-init --proxy-uid UID --config FILE [--ports 443] [--dry-run|--remove]
//   cosmoseal prestop [--delay 5s]
//   cosmoseal --help | --version
// The dispatcher picks the subcommand from the first word(s) and hands it the rest (command.h
// has the conventions: exit codes, arguments, streams). One file per subcommand: run.cc (run,
// check), keys.cc, audit_verify.cc, capture_init.cc, prestop.cc, version.cc.

#include <ostream>
#include <string_view>

#include "cli/command.h"

namespace cosmoseal::cli {

// `args` are the words after the program name. Returns the process exit code.
int dispatch(const Args& args, std::ostream& out, std::ostream& err);

// main(): argv as the process got it, std::cout and std::cerr.
int runCli(int argc, char** argv);

// The top-level usage error: "cosmoseal: <message>", a blank line, the usage text, on `err`.
// Returns kExitUsage.
int usageError(std::ostream& err, std::string_view message);

}  // namespace cosmoseal::cli
