#include "cli/version.h"

#include "cli/flags.h"
#include "proxy/server/version.h"

namespace cosmoseal::cli {

int runVersion(const Args& args, std::ostream& out, std::ostream& /*err*/) {
  // Only --help matters here: anything else after --version never was an error.
  if (parseFlags(args, {}, {.positionals = true}).help()) {
    out << "usage: cosmoseal --version\n"
           "  Prints the version of cosmoseal, of the OpenSSL, libuv and llhttp it runs with, and\n"
           "  whether AES-NI is in use.\n";
    return kExitOk;
  }
  out << proxy::versionReport();
  return kExitOk;
}

}  // namespace cosmoseal::cli
