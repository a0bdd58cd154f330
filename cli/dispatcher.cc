#include "cli/dispatcher.h"

#include <chrono>
#include <cstdio>
#include <thread>
#include <cstring>
#include <string>
#include <string_view>

#include "common/log.h"
#include "proxy/observability/audit.h"
#include "cli/capture_init.h"
#include "cli/keys.h"
#include "proxy/config/config.h"
#include "proxy/config/snapshot.h"
#include "proxy/server/server.h"
#include "proxy/server/version.h"

namespace cosmoseal::proxy {
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
    "  cosmoseal audit verify FILE [FILE...]\n"
    "                           check the audit log's sequence and SHA-256 hash chain (rotated\n"
    "                           files oldest first)\n"
    "  cosmoseal capture-init --proxy-uid UID --config FILE [--ports 443] [--dry-run|--remove]\n"
    "                           transparent mode: redirect the pod's outbound Cosmos traffic\n"
    "                           into cosmoseal with iptables (init container, NET_ADMIN)\n"
    "  cosmoseal prestop [--delay 5s]\n"
    "                           Kubernetes preStop hook: keep serving for the delay so the app's\n"
    "                           in-flight requests finish before SIGTERM starts the drain\n"
    "  cosmoseal --help | --version\n"
    "\n"
    "Signals: SIGTERM/SIGINT drain and exit; SIGHUP reloads the config, keys and keyring;\n"
    "SIGUSR1 reopens the audit log.\n"
    "Admin (loopback): GET /healthz /readyz /metrics, POST /reload.\n"
    "LEVEL: debug | info | warn | error. Docs: README.md, docs/.\n";

int usageError(const std::string& msg) {
  fprintf(stderr, "cosmoseal: %s\n\n%s", msg.c_str(), kUsage);
  return 2;
}

struct RunArgs {
  std::string config;
  std::string log_level;
};

// Parses "--config FILE" / "--config=FILE" / "--log-level X" from argv[first..].
bool parseRunArgs(int argc, char** argv, int first, RunArgs* out, std::string* err) {
  for (int i = first; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](std::string_view flag, std::string* dst) -> bool {
      if (a == flag) {
        if (i + 1 >= argc) {
          *err = std::string(flag) + " needs a value";
          return false;
        }
        *dst = argv[++i];
        return true;
      }
      if (a.size() > flag.size() + 1 && a.substr(0, flag.size()) == flag && a[flag.size()] == '=') {
        *dst = std::string(a.substr(flag.size() + 1));
        return true;
      }
      return false;
    };
    if (value("--config", &out->config) || value("-c", &out->config)) {
      if (!err->empty()) return false;
      continue;
    }
    if (value("--log-level", &out->log_level)) {
      if (!err->empty()) return false;
      common::LogLevel l;
      if (!common::log::parseLevel(out->log_level, &l)) {
        *err = "unknown log level '" + out->log_level + "' (debug, info, warn, error)";
        return false;
      }
      continue;
    }
    if (!err->empty()) return false;
    *err = "unknown argument '" + std::string(a) + "'";
    return false;
  }
  if (out->config.empty()) {
    *err = "--config FILE is required";
    return false;
  }
  return true;
}

int runSidecar(const RunArgs& args) {
  ServerOptions opts;
  opts.config_path = args.config;
  opts.log_level_override = args.log_level;
  Server server(std::move(opts));
  return server.run();
}

int runCheck(const RunArgs& args) {
  auto config = loadConfigFile(args.config);
  if (!config.isOk()) {
    fprintf(stderr, "%s\n", std::string(config.status().message()).c_str());
    return 1;
  }
  const size_t clients = config->clients.size();
  const size_t policies = config->policies.size();
  size_t fields = 0;
  for (const auto& p : config->policies) fields += p.fields.size();
  auto rt = ConfigSnapshot::build(std::move(config).value(), 1);
  if (!rt.isOk()) {
    // Messages carry their own FILE:LINE:COL (the config's, or the keyring's).
    fprintf(stderr, "%s\n", std::string(rt.status().message()).c_str());
    return 1;
  }
  const Config& c = (*rt)->config();
  printf("%s: OK\n", args.config.c_str());
  printf("  listen   %s://%s:%u\n", c.listen.tls ? "https" : "http", c.listen.address.c_str(),
         c.listen.port);
  printf("  upstream %s\n", (*rt)->upstreamOrigin().c_str());
  printf("  clients  %zu\n", clients);
  printf("  policies %zu container(s), %zu protected field path(s)\n", policies, fields);
  return 0;
}

// `cosmoseal prestop [--delay D]`: sleeps D (default 5s, at most 10m). In a pod, the kubelet runs
// it before sending SIGTERM, while endpoints and the app wind down; cosmoseal keeps serving.
int runPrestop(int argc, char** argv) {
  std::chrono::milliseconds delay(5000);
  for (int i = 0; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--delay" && i + 1 < argc) {
      std::chrono::milliseconds d;
      if (!parseDuration(argv[++i], &d) || d > std::chrono::minutes(10)) {
        return usageError("prestop --delay takes a duration like 5s (at most 10m)");
      }
      delay = d;
    } else {
      return usageError("usage: cosmoseal prestop [--delay 5s]");
    }
  }
  printf("cosmoseal prestop: serving for %lld ms more before SIGTERM\n",
         static_cast<long long>(delay.count()));
  fflush(stdout);
  std::this_thread::sleep_for(delay);
  return 0;
}

}  // namespace

int runCli(int argc, char** argv) {
  if (argc < 2) return usageError("no command given");
  std::string_view cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "version") {
    fputs(versionReport().c_str(), stdout);
    return 0;
  }
  if (cmd == "keygen") return runKeygen(argc - 2, argv + 2);
  if (cmd == "capture-init") return runCaptureInit(argc - 2, argv + 2);
  if (cmd == "prestop") return runPrestop(argc - 2, argv + 2);
  if (cmd == "audit") {
    if (argc >= 3 && std::string_view(argv[2]) == "verify") return runAuditVerify(argc - 3, argv + 3);
    return usageError("usage: cosmoseal audit verify FILE [FILE...]");
  }
  if (cmd == "keyring") {
    if (argc >= 3 && std::string_view(argv[2]) == "show") return runKeyringShow(argc - 3, argv + 3);
    return usageError("usage: cosmoseal keyring show --keyring FILE --kek-file FILE");
  }
  RunArgs args;
  std::string err;
  if (cmd == "check") {
    if (!parseRunArgs(argc, argv, 2, &args, &err)) return usageError(err);
    return runCheck(args);
  }
  if (cmd == "run") {
    if (!parseRunArgs(argc, argv, 2, &args, &err)) return usageError(err);
    return runSidecar(args);
  }
  if (cmd.substr(0, 2) == "--" || cmd == "-c") {
    if (!parseRunArgs(argc, argv, 1, &args, &err)) return usageError(err);
    return runSidecar(args);
  }
  return usageError("unknown command '" + std::string(cmd) + "'");
}

}  // namespace cosmoseal::proxy
