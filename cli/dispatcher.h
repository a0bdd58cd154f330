#pragma once

namespace cosmoseal::proxy {

// The `cosmoseal` command line (DESIGN.md §6; stable: add flags, never rename):
//   cosmoseal --config FILE            run the sidecar (also: cosmoseal run --config FILE)
//   cosmoseal check --config FILE      validate config, key files and keyring
//   cosmoseal keygen --keyring FILE --kek-file FILE --key NAME
//   cosmoseal keyring show --keyring FILE --kek-file FILE
//   cosmoseal --help | --version
// Returns the process exit code.
int runCli(int argc, char** argv);

}  // namespace cosmoseal::proxy
