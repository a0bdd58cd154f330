#include "cli/run.h"

#include <optional>
#include <string>

#include "cli/dispatcher.h"
#include "cli/flags.h"
#include "common/log.h"
#include "proxy/config/config.h"
#include "proxy/config/snapshot.h"
#include "proxy/server/server.h"

namespace cosmoseal::cli {
namespace {

constexpr FlagSpec kRunFlags[] = {
    {.name = "--config", .alias = "-c"},
    {.name = "--log-level"},
};

constexpr const char* kRunUsage =
    "usage: cosmoseal [run] --config FILE [--log-level LEVEL]\n"
    "  Runs the sidecar until SIGTERM or SIGINT (drain, then exit). SIGHUP reloads the config,\n"
    "  keys and keyring; SIGUSR1 reopens the audit log. -c FILE is short for --config FILE.\n"
    "  LEVEL (debug, info, warn, error) overrides the config's log.level.\n";

constexpr const char* kCheckUsage =
    "usage: cosmoseal check --config FILE\n"
    "  Validates the config, the key files and the keyring as a start would, without opening a\n"
    "  socket: prints a summary and exits 0, or prints every error as FILE:LINE:COL and exits 1.\n";

struct RunArgs {
  std::string config;
  std::string log_level;
};

// Shared by run and check: fills *run, or returns the exit code to end with (help printed, or a
// usage error reported in the wording these commands have always used).
std::optional<int> parseRunArgs(const Args& args, const char* usage, RunArgs* run,
                                std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, kRunFlags);
  // A bad --log-level is reported before a later problem or --help, as it always was.
  common::LogLevel level;
  if (f.has("--log-level") && !common::log::parseLevel(f.value("--log-level"), &level)) {
    return usageError(
        err, "unknown log level '" + f.value("--log-level") + "' (debug, info, warn, error)");
  }
  if (!f.ok()) {
    if (f.problem() == FlagProblem::kMissingValue) {
      return usageError(err, f.problemFlag() + " needs a value");
    }
    return usageError(err, "unknown argument '" + f.problemWord() + "'");
  }
  if (f.help()) {
    out << usage;
    return kExitOk;
  }
  run->config = f.value("--config");
  run->log_level = f.value("--log-level");
  if (run->config.empty()) return usageError(err, "--config FILE is required");
  return std::nullopt;
}

}  // namespace

int runSidecar(const Args& args, std::ostream& out, std::ostream& err) {
  RunArgs run;
  if (auto done = parseRunArgs(args, kRunUsage, &run, out, err)) return *done;
  proxy::ServerOptions opts;
  opts.config_path = run.config;
  opts.log_level_override = run.log_level;
  proxy::Server server(std::move(opts));
  return server.run();
}

int runCheck(const Args& args, std::ostream& out, std::ostream& err) {
  RunArgs run;
  if (auto done = parseRunArgs(args, kCheckUsage, &run, out, err)) return *done;
  auto config = proxy::loadConfigFile(run.config);
  if (!config.isOk()) {
    err << config.status().message() << "\n";
    return kExitFailure;
  }
  const size_t clients = config->clients.size();
  const size_t policies = config->policies.size();
  size_t fields = 0;
  for (const auto& p : config->policies) fields += p.fields.size();
  auto snapshot = proxy::ConfigSnapshot::build(std::move(config).value(), 1);
  if (!snapshot.isOk()) {
    // Messages carry their own FILE:LINE:COL (the config's, or the keyring's).
    err << snapshot.status().message() << "\n";
    return kExitFailure;
  }
  const proxy::Config& c = (*snapshot)->config();
  out << run.config << ": OK\n";
  out << "  listen   " << (c.listen.tls ? "https" : "http") << "://" << c.listen.address << ":"
      << c.listen.port << "\n";
  out << "  upstream " << (*snapshot)->upstreamOrigin() << "\n";
  out << "  clients  " << clients << "\n";
  out << "  policies " << policies << " container(s), " << fields << " protected field path(s)\n";
  return kExitOk;
}

}  // namespace cosmoseal::cli
