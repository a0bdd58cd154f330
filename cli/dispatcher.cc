#include "cli/dispatcher.h"

#include <iostream>
#include <string>

#include "cli/audit_verify.h"
#include "cli/capture_init.h"
#include "cli/keys.h"
#include "cli/migrate.h"
#include "cli/prestop.h"
#include "cli/run.h"
#include "cli/version.h"

namespace cosmoseal::cli {
namespace {

constexpr const char* kUsage =
    "cosmoseal - transparent encrypting sidecar for Azure Cosmos DB (gateway mode)\n"
    "\n"
    "Usage:\n"
    "  cosmoseal --config FILE [--log-level LEVEL]\n"
    "                           run the sidecar (same as: cosmoseal run --config FILE)\n"
    "  cosmoseal check --config FILE\n"
    "                           validate the config, the key files and the keyring; exit 0 or\n"
    "                           print every error as FILE:LINE:COL and exit 1\n"
    "  cosmoseal keygen --keyring FILE --kek-file FILE --key NAME\n"
    "                           create the KEK file if absent (0600), add a new version of key\n"
    "                           NAME wrapped by it and make it primary; create the keyring if\n"
    "                           absent (--kek-env VAR instead of --kek-file: KEK from the env)\n"
    "  cosmoseal keyring show --keyring FILE --kek-file FILE\n"
    "                           list key names, versions, ids and primaries (never material)\n"
    "  cosmoseal keyring rewrap --keyring FILE --from SPEC --to SPEC\n"
    "                           move the keyring to another KEK (file -> HSM, HSM -> HSM key);\n"
    "                           documents untouched, the old file kept as a backup\n"
    "  cosmoseal keyring retire --keyring FILE --kek-file FILE --key NAME --version N\n"
    "                           remove a version that is neither primary nor deterministic\n"
    "  cosmoseal keyring create-kek --kek pkcs11:module=..;token=..;key=..;pin-file=..\n"
    "                           generate a non-extractable AES KEK inside a PKCS#11 token\n"
    "  (every keygen/keyring command takes the KEK as --kek-file FILE, --kek-env VAR,\n"
    "   --kek SPEC (file:PATH, env:VAR, pkcs11:...) or --config FILE)\n"
    "  cosmoseal audit verify FILE [FILE...]\n"
    "                           check the audit log's sequence and SHA-256 hash chain (rotated\n"
    "                           files oldest first)\n"
    "  cosmoseal capture-init --proxy-uid UID --config FILE [--ports 443] [--dry-run|--remove]\n"
    "                           transparent mode: redirect the pod's outbound Cosmos traffic\n"
    "                           into cosmoseal with iptables (init container, NET_ADMIN)\n"
    "  cosmoseal prestop [--delay 5s]\n"
    "                           Kubernetes preStop hook: keep serving for the delay so the app's\n"
    "                           in-flight requests finish before SIGTERM starts the drain\n"
    "  cosmoseal migrate {encrypt|rotate|decrypt|verify} --config FILE --database DB\n"
    "                   --container C [--job NAME] [--dry-run] [...]\n"
    "                           seal, re-seal, unseal or check the documents already stored in a\n"
    "                           container, in place (docs/MIGRATION.md; migrate --help)\n"
    "  cosmoseal migrate copy --config FILE --database DB --container SRC --to-container DST\n"
    "                           copy a container into a new one sealed with DST's policy, its\n"
    "                           partition key included; verify --against SRC compares them\n"
    "  cosmoseal --help | --version\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads the config, keys and keyring;\n"
    "SIGUSR1 reopens the audit log.\n"
    "Admin (loopback): GET /healthz /readyz /metrics, POST /reload.\n"
    "LEVEL: debug | info | warn | error. Docs: README.md, docs/.\n";

// The words after the first `skip` ones.
Args rest(const Args& args, size_t skip) {
  return Args(args.begin() + static_cast<std::ptrdiff_t>(std::min(skip, args.size())), args.end());
}

}  // namespace

int usageError(std::ostream& err, std::string_view message) {
  err << "cosmoseal: " << message << "\n\n" << kUsage;
  return kExitUsage;
}

int dispatch(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) return usageError(err, "no command given");
  const std::string& cmd = args[0];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (cmd == "--version" || cmd == "version") return runVersion(rest(args, 1), out, err);
  if (cmd == "keygen") return runKeygen(rest(args, 1), out, err);
  if (cmd == "capture-init") return runCaptureInit(rest(args, 1), out, err);
  if (cmd == "prestop") return runPrestop(rest(args, 1), out, err);
  if (cmd == "audit") {
    if (args.size() >= 2 && args[1] == "verify") return runAuditVerify(rest(args, 2), out, err);
    return usageError(err, "usage: cosmoseal audit verify FILE [FILE...]");
  }
  if (cmd == "keyring") {
    if (args.size() >= 2 && args[1] == "show") return runKeyringShow(rest(args, 2), out, err);
    if (args.size() >= 2 && args[1] == "rewrap") return runKeyringRewrap(rest(args, 2), out, err);
    if (args.size() >= 2 && args[1] == "retire") return runKeyringRetire(rest(args, 2), out, err);
    if (args.size() >= 2 && args[1] == "create-kek") {
      return runKeyringCreateKek(rest(args, 2), out, err);
    }
    // (The first line stays as it was; the usage text below lists rewrap, retire, create-kek.)
    return usageError(err, "usage: cosmoseal keyring show --keyring FILE --kek-file FILE");
  }
  if (cmd == "check") return runCheck(rest(args, 1), out, err);
  if (cmd == "migrate") return runMigrate(rest(args, 1), out, err);
  if (cmd == "run") return runSidecar(rest(args, 1), out, err);
  // `cosmoseal --config FILE`: the flags of `run` without the word.
  if (cmd.rfind("--", 0) == 0 || cmd == "-c") return runSidecar(args, out, err);
  return usageError(err, "unknown command '" + cmd + "'");
}

int runCli(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i] != nullptr ? argv[i] : "");
  return dispatch(args, std::cout, std::cerr);
}

}  // namespace cosmoseal::cli
