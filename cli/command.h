#pragma once

// What every subcommand of the `cosmoseal` command line shares (DESIGN.md §6; the contract is
// stable: add flags, never rename):
//   * exit codes: 0 success, 1 failure (the error on stderr), 2 usage error (what was wrong, then
//     the usage text, on stderr);
//   * arguments: a subcommand receives the words after its own words ("keyring show --keyring F"
//     hands keyring show {"--keyring", "F"}) and parses them with parseFlags() (flags.h);
//   * output: a subcommand writes only to the two streams it is given, so tests can run it in
//     process; `--help` prints its usage on `out` and exits 0.

#include <ostream>
#include <string>
#include <vector>

namespace cosmoseal::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

using Args = std::vector<std::string>;

}  // namespace cosmoseal::cli
