#pragma once

// Key-management subcommands of the `cosmoseal` CLI (DESIGN.md §6):
//
//   cosmoseal keygen --keyring FILE KEK --key NAME
//   cosmoseal keyring show --keyring FILE [KEK]
//   cosmoseal keyring rewrap --keyring FILE --from SPEC --to SPEC
//   cosmoseal keyring retire --keyring FILE KEK --key NAME --version N
//   cosmoseal keyring create-kek (--kek pkcs11:... | --config FILE)
// KEK: exactly one of --kek-file FILE, --kek-env VAR, --kek SPEC (crypto/kek.h parseKekSpec:
// file:, env:, pkcs11:) and --config FILE (the config's `keys` section).
//
// Arguments are the words after the subcommand (command.h); flags are read by parseFlags()
// (flags.h): "--flag VALUE" or "--flag=VALUE", each at most once and never empty; "--help"/"-h"
// prints usage.
//
// Exit codes: 0 success, 1 failure (the error, with its detail code, on stderr), 2 usage error.
// Output never contains key material: names, versions, ids, dates and file names only.

#include <ostream>
#include <string>
#include <vector>

#include "cli/command.h"
#include "common/clock.h"
#include "crypto/random.h"

namespace cosmoseal::cli {

// keygen: creates the KEK file (32 random bytes, base64, mode 0600) if it does not exist and the
// keyring does not exist either; creates the keyring if absent; adds a new version of NAME with
// a fresh random 64-byte data key and a fresh unique random id, wrapped by the KEK, and makes it
// primary. Older versions stay (decrypt-only). The keyring is rewritten atomically (0600) with
// every version wrapped by the KEK.
int runKeygen(const Args& args, std::ostream& out, std::ostream& err);
// keyring show: loads the keyring (unwrapping every version, which proves the KEK) and prints
// names, versions, ids, primary flags and creation dates. Exits 1 if it does not load.
int runKeyringShow(const Args& args, std::ostream& out, std::ostream& err);

// keyring rewrap: unwraps every version with --from, wraps it with --to, checks the result opens
// with --to and holds the same keys, keeps the old file as FILE.pre-rewrap-<UTC> (O_EXCL) and
// replaces the keyring atomically. Documents are untouched.
int runKeyringRewrap(const Args& args, std::ostream& out, std::ostream& err);
// keyring retire: removes one version; refuses the primary and the deterministic version.
int runKeyringRetire(const Args& args, std::ostream& out, std::ostream& err);
// keyring create-kek: generates the AES KEK inside a PKCS#11 token (sensitive, not extractable).
int runKeyringCreateKek(const Args& args, std::ostream& out, std::ostream& err);

int runKeyringRewrap(const Args& args, std::ostream& out, std::ostream& err,
                     crypto::RandomSource& rng, const common::Clock& clock);
int runKeyringRetire(const Args& args, std::ostream& out, std::ostream& err,
                     crypto::RandomSource& rng);

// The core of keygen with its randomness and clock handed in (tests).
int runKeygen(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              crypto::RandomSource& rng, const common::Clock& clock);

}  // namespace cosmoseal::cli
