#include "cli/migrate.h"

#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "cli/flags.h"
#include "policy/policy.h"
#include "proxy/config/config.h"
#include "proxy/config/snapshot.h"
#include "proxy/identity/token_cache.h"
#include "proxy/migrate/https_sender.h"
#include "proxy/migrate/runner.h"

namespace cosmoseal::cli {
namespace {

constexpr char kMigrateUsage[] =
    "usage: cosmoseal migrate {encrypt|rotate|decrypt|verify} --config FILE --database DB\n"
    "                         --container C [options]\n"
    "       cosmoseal migrate copy --config FILE --database DB --container SRC\n"
    "                         --to-container DST [--to-database DB2] [--since TS] [--verify]\n"
    "                         [options]\n"
    "       cosmoseal migrate verify --config FILE --database DB2 --container DST\n"
    "                         --against SRC [--against-database DB] [options]\n"
    "\n"
    "Rewrites the documents already stored in a container, in place, with the sidecar's own\n"
    "sealing code, talking to the account directly with the config's upstream credential\n"
    "(docs/MIGRATION.md):\n"
    "  encrypt   seal every protected path that still holds plaintext\n"
    "  rotate    re-seal under the keyring's current versions (and apply a changed policy), so\n"
    "            an old key version can be retired\n"
    "  decrypt   write plaintext back (needs --i-understand-this-writes-plaintext)\n"
    "  verify    read only: documents scanned, plaintext at protected paths, envelopes per key\n"
    "            and version, envelopes that fail to open, documents that would change; marks the\n"
    "            migration `verified` when nothing is left (exit 1 when something is)\n"
    "  copy      read every document of SRC, seal it with DST's policy (partition key included)\n"
    "            and upsert it into DST, which must exist with SRC's partition-key paths: the\n"
    "            way for a container whose partition key is protected. SRC is only read\n"
    "  verify --against SRC\n"
    "            read only: every SRC document is in DST (--container) and, both opened, equal\n"
    "            byte for byte (system properties aside), with no plaintext at a protected path\n"
    "            of DST; mismatches listed by id (exit 1 on any)\n"
    "Every write is conditional on the document's _etag: an app writing at the same time wins\n"
    "and its document is read and transformed again. Work is split by partition-key range and\n"
    "checkpointed in lease documents, so a stopped run resumes and several workers share a job.\n"
    "\n"
    "  --config FILE                the sidecar's config (upstream, keys, keyring, policies)\n"
    "  --database DB, --container C the container to migrate\n"
    "  --job NAME                   job name (default OPERATION-DB-C); runs with the same name\n"
    "                               share and resume one job; a new name starts afresh\n"
    "  --lease-container ID         where leases and the state live (default cosmoseal-leases,\n"
    "                               same database, partition key /id; created when absent)\n"
    "  --worker-index I             this worker's index (default $JOB_COMPLETION_INDEX or 0)\n"
    "  --workers N                  how many workers share the job (default 1)\n"
    "  --threads T                  ranges worked on at once by this worker (default 4)\n"
    "  --max-ru-per-second R        request-unit budget of this worker (default: no limit);\n"
    "                               429 + x-ms-retry-after-ms are always honoured\n"
    "  --page-size N                documents per read-feed page (default 100)\n"
    "  --lease-seconds S            how long a lease holds without a checkpoint (default 30)\n"
    "  --dry-run                    read and count, write nothing (no leases)\n"
    "  --i-understand-this-writes-plaintext\n"
    "                               required by decrypt\n"
    "  --progress auto|tty|json     live line on a terminal, JSON lines otherwise (auto: by\n"
    "                               whether stderr is a terminal)\n"
    "  --to-container DST           copy: the target container (must exist)\n"
    "  --to-database DB2            copy: the target's database (default: --database)\n"
    "  --since TS                   copy: only documents with _ts >= TS (Unix seconds): the\n"
    "                               catch-up pass, with the `next_since` of the earlier pass\n"
    "  --verify                     copy: when the copy is done, verify it (as verify --against)\n"
    "  --against SRC                verify: compare --container with the source container SRC\n"
    "  --against-database DB        verify --against: SRC's database (default: --database)\n"
    "  -h, --help                   this text\n"
    "Output: progress (tty: a line on stderr; json: {\"event\":\"progress\",...} lines on\n"
    "stdout), then one summary JSON line on stdout ({\"event\":\"summary\",...}).\n"
    "Exit: 0 done (verify: verified), 1 failure (verify: something left; a run: documents\n"
    "that could not be transformed or written), 2 usage.\n";

constexpr FlagSpec kMigrateFlags[] = {
    {.name = "--config", .alias = "-c"},
    {.name = "--database"},
    {.name = "--container"},
    {.name = "--job"},
    {.name = "--lease-container"},
    {.name = "--worker-index"},
    {.name = "--workers"},
    {.name = "--threads"},
    {.name = "--max-ru-per-second"},
    {.name = "--page-size"},
    {.name = "--lease-seconds"},
    {.name = "--dry-run", .kind = FlagKind::kBoolean},
    {.name = "--i-understand-this-writes-plaintext", .kind = FlagKind::kBoolean},
    {.name = "--progress"},
    {.name = "--to-container"},
    {.name = "--to-database"},
    {.name = "--since"},
    {.name = "--verify", .kind = FlagKind::kBoolean},
    {.name = "--against"},
    {.name = "--against-database"},
};

int usage(std::ostream& err, const std::string& what) {
  err << "cosmoseal: " << what << "\n\n" << kMigrateUsage;
  return kExitUsage;
}

bool parseInt(const std::string& s, int64_t min, int64_t max, int64_t* out) {
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < min || v > max) return false;
  *out = v;
  return true;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

}  // namespace

int runMigrate(const Args& args, std::ostream& out, std::ostream& err) {
  if (args.empty()) return usage(err, "migrate needs an operation");
  if (args[0] == "--help" || args[0] == "-h") {
    out << kMigrateUsage;
    return kExitOk;
  }
  proxy::migrate::JobOptions o;
  const std::string& op = args[0];
  if (op == "encrypt") {
    o.op = proxy::migrate::Operation::kEncrypt;
  } else if (op == "rotate") {
    o.op = proxy::migrate::Operation::kRotate;
  } else if (op == "decrypt") {
    o.op = proxy::migrate::Operation::kDecrypt;
  } else if (op == "verify") {
    o.op = proxy::migrate::Operation::kVerify;
  } else if (op == "copy") {
    o.op = proxy::migrate::Operation::kCopy;
  } else {
    return usage(err, "unknown migrate operation '" + op + "'");
  }
  const Args rest(args.begin() + 1, args.end());
  const ParsedFlags flags = parseFlags(rest, kMigrateFlags, {.unique = true, .non_empty = true});
  if (flags.help()) {
    out << kMigrateUsage;
    return kExitOk;
  }
  if (!flags.ok()) return usage(err, flags.problemText());
  const std::string config_path = flags.value("--config");
  o.database = flags.value("--database");
  o.container = flags.value("--container");
  if (config_path.empty()) return usage(err, "--config FILE is required");
  if (o.database.empty() || o.container.empty()) {
    return usage(err, "--database and --container are required");
  }
  const bool copy = o.op == proxy::migrate::Operation::kCopy;
  const bool against = flags.has("--against");
  if (!copy && (flags.has("--to-container") || flags.has("--to-database") || flags.has("--since") ||
                flags.has("--verify"))) {
    return usage(err, "--to-container, --to-database, --since and --verify are for migrate copy");
  }
  if ((o.op != proxy::migrate::Operation::kVerify || !against) &&
      (against || flags.has("--against-database"))) {
    return usage(err, "--against and --against-database are for migrate verify");
  }
  if (copy) {
    o.to_container = flags.value("--to-container");
    if (o.to_container.empty()) return usage(err, "migrate copy needs --to-container DST");
    o.to_database = flags.has("--to-database") ? flags.value("--to-database") : o.database;
    if (flags.has("--since")) {
      int64_t since = 0;
      if (!parseInt(flags.value("--since"), 1, 100000000000, &since)) {
        return usage(err, "bad --since (Unix seconds)");
      }
      o.since = since;
    }
  }
  if (against) {
    // verify --container DST --against SRC: the runner reads the source's ranges.
    o.copy_verify = true;
    o.to_database = o.database;
    o.to_container = o.container;
    o.container = flags.value("--against");
    if (flags.has("--against-database")) o.database = flags.value("--against-database");
  }
  o.job = flags.value("--job");
  if (flags.has("--lease-container")) o.lease_container = flags.value("--lease-container");
  int64_t v = 0;
  std::string index = flags.value("--worker-index");
  if (index.empty()) {
    const char* env = std::getenv("JOB_COMPLETION_INDEX");
    index = env != nullptr && *env != '\0' ? env : "0";
  }
  if (!parseInt(index, 0, 100000, &v)) return usage(err, "bad --worker-index '" + index + "'");
  o.worker_index = static_cast<int>(v);
  if (flags.has("--workers")) {
    if (!parseInt(flags.value("--workers"), 1, 100000, &v)) return usage(err, "bad --workers");
    o.workers = static_cast<int>(v);
  }
  if (o.worker_index >= o.workers) {
    return usage(err, "--worker-index must be below --workers");
  }
  if (flags.has("--threads")) {
    if (!parseInt(flags.value("--threads"), 1, 64, &v)) return usage(err, "bad --threads (1-64)");
    o.threads = static_cast<int>(v);
  }
  if (flags.has("--page-size")) {
    if (!parseInt(flags.value("--page-size"), 1, 1000, &v)) {
      return usage(err, "bad --page-size (1-1000)");
    }
    o.page_size = static_cast<int>(v);
  }
  if (flags.has("--lease-seconds")) {
    if (!parseInt(flags.value("--lease-seconds"), 1, 3600, &v)) {
      return usage(err, "bad --lease-seconds (1-3600)");
    }
    o.lease_ttl_ms = v * 1000;
  }
  if (flags.has("--max-ru-per-second")) {
    const std::string s = flags.value("--max-ru-per-second");
    char* end = nullptr;
    const double r = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || !(r > 0)) return usage(err, "bad --max-ru-per-second");
    o.max_ru_per_second = r;
  }
  o.dry_run = flags.has("--dry-run");
  if (o.op == proxy::migrate::Operation::kDecrypt && !o.dry_run &&
      !flags.has("--i-understand-this-writes-plaintext")) {
    return usage(err,
                 "decrypt writes every protected value back in plaintext; add "
                 "--i-understand-this-writes-plaintext to confirm");
  }
  std::string progress = flags.has("--progress") ? flags.value("--progress") : "auto";
  if (progress != "auto" && progress != "tty" && progress != "json") {
    return usage(err, "bad --progress (auto|tty|json)");
  }
  if (progress == "auto") progress = ::isatty(STDERR_FILENO) != 0 ? "tty" : "json";

  auto config = proxy::loadConfigFile(config_path);
  if (!config.isOk()) {
    err << config.status().message() << "\n";
    return kExitFailure;
  }
  auto snapshot = proxy::ConfigSnapshot::build(std::move(config).value(), 1);
  if (!snapshot.isOk()) {
    err << snapshot.status().message() << "\n";
    return kExitFailure;
  }
  const auto& snap = **snapshot;
  const policy::ContainerPolicy* policy =
      snap.policies() != nullptr ? snap.policies()->find(o.database, o.container) : nullptr;
  if (policy == nullptr &&
      (o.op == proxy::migrate::Operation::kEncrypt || o.op == proxy::migrate::Operation::kRotate)) {
    err << "cosmoseal: no policy protects " << o.database << "/" << o.container << " in "
        << config_path << ": nothing to " << op << " [migrate.no_policy]\n";
    return kExitFailure;
  }
  // copy and verify --against: the target's policy seals (and opens) the copy; the source's, if
  // any, opens what the source holds.
  const policy::ContainerPolicy* target = nullptr;
  if (copy || against) {
    target =
        snap.policies() != nullptr ? snap.policies()->find(o.to_database, o.to_container) : nullptr;
    if (target == nullptr) {
      err << "cosmoseal: no policy protects the target " << o.to_database << "/" << o.to_container
          << " in " << config_path
          << ": add one (the fields to seal) before copying [migrate.no_policy]\n";
      return kExitFailure;
    }
  }
  const std::string ca_file = snap.config().upstream.ca_file;
  const bool allow_http = snap.config().upstream.scheme == "http";
  // An Entra ID upstream (upstream.auth): the same token source as the sidecar, refreshed in the
  // background for the whole run; the job starts once the first token is in hand.
  const std::shared_ptr<proxy::identity::TokenCache>& tokens = snap.upstreamTokens();
  struct StopTokens {
    proxy::identity::TokenCache* t;
    ~StopTokens() {
      if (t != nullptr) t->stop();
    }
  } stop_tokens{tokens.get()};
  if (tokens != nullptr) {
    tokens->start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!tokens->ready() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!tokens->ready()) {
      err << "cosmoseal: no Entra ID token for the account within 30 s: "
          << tokens->unavailableReason() << " [upstream.token_unavailable]\n";
      return kExitFailure;
    }
  }
  std::mutex out_mu;
  const bool tty = progress == "tty";
  // One job: progress, then the summary line. Returns the exit code.
  const auto runJob = [&](const proxy::migrate::JobOptions& opts, const std::string& label,
                          std::string* phase) {
    proxy::migrate::JobRunner runner(
        opts,
        [ca_file, allow_http]() { return proxy::migrate::makeHttpsSender(ca_file, allow_http); },
        snap.accountKey(), snap.upstreamOrigin(), snap.keyring(), policy);
    runner.setTarget(target);
    if (tokens != nullptr) runner.useTokens(tokens.get());
    runner.onProgress(
        [&](const proxy::migrate::JobCounters& c, double seconds, bool final) {
          const double docs = static_cast<double>(c.scanned.load());
          const double rate = seconds > 0 ? docs / seconds : 0;
          const double ru = c.client.requestUnits();
          const double ru_rate = seconds > 0 ? ru / seconds : 0;
          const uint64_t estimate = c.documents_estimate.load();
          std::string eta = "?";
          double eta_s = -1;
          if (estimate > 0 && rate > 0) {
            eta_s = estimate > docs ? (static_cast<double>(estimate) - docs) / rate : 0;
            eta = fmt("%.0fs", eta_s);
          }
          const uint64_t retries =
              c.conflicts.load() + c.client.throttled.load() + c.client.transient_retries.load();
          std::lock_guard<std::mutex> lock(out_mu);
          if (tty) {
            err << "\r" << label << " " << c.scanned.load() << " docs, " << c.written.load()
                << " written, " << fmt("%.0f", rate) << " docs/s, " << fmt("%.1f", ru_rate)
                << " RU/s, ranges " << c.ranges_done.load() << "/" << c.ranges_total.load()
                << ", retries " << retries << " (412 " << c.conflicts.load() << ", 429 "
                << c.client.throttled.load() << "), ETA " << eta << "   ";
            if (final) err << "\n";
            err.flush();
            return;
          }
          if (final) return;
          out << "{\"event\":\"progress\",\"operation\":\"" << label
              << "\",\"seconds\":" << fmt("%.1f", seconds) << ",\"scanned\":" << c.scanned.load()
              << ",\"written\":" << c.written.load() << ",\"docs_per_second\":" << fmt("%.1f", rate)
              << ",\"ru_per_second\":" << fmt("%.1f", ru_rate)
              << ",\"conflicts_412\":" << c.conflicts.load()
              << ",\"throttled_429\":" << c.client.throttled.load()
              << ",\"ranges_done\":" << c.ranges_done.load()
              << ",\"ranges\":" << c.ranges_total.load()
              << ",\"eta_seconds\":" << (eta_s < 0 ? std::string("null") : fmt("%.0f", eta_s))
              << "}\n";
          out.flush();
        },
        std::chrono::milliseconds(1000));
    auto result = runner.run();
    if (!result.isOk()) {
      err << "cosmoseal: migrate " << label << " failed: " << result.status().message() << " ["
          << result.status().detail() << "]\n";
      return kExitFailure;
    }
    *phase = result->phase;
    {
      std::lock_guard<std::mutex> lock(out_mu);
      out << "{\"event\":\"summary\"," << result->json.substr(1) << "\n";
      out.flush();
    }
    if (opts.op == proxy::migrate::Operation::kVerify && result->phase != "verified") {
      if (opts.copy_verify) {
        err << "cosmoseal: the copy " << opts.to_database << "/" << opts.to_container
            << " does not match " << opts.database << "/" << opts.container
            << " (see \"mismatches\")\n";
      }
      return kExitFailure;
    }
    // Documents that could not be read or written are left as they were: not a clean run.
    if (runner.counters().failed.load() > 0) {
      err << "cosmoseal: " << runner.counters().failed.load()
          << " document(s) could not be transformed or written (see \"failed\"); run verify\n";
      return kExitFailure;
    }
    return kExitOk;
  };
  std::string phase;
  const int code = runJob(o, op, &phase);
  if (code != kExitOk || !copy || !flags.has("--verify") || o.dry_run) return code;
  if (phase != "done") {
    // Another worker still copies: the job's last worker (or a later verify) compares.
    err << "cosmoseal: other workers still copy; verify when the job is done\n";
    return kExitOk;
  }
  proxy::migrate::JobOptions check = o;
  check.op = proxy::migrate::Operation::kVerify;
  check.copy_verify = true;
  check.job.clear();
  return runJob(check, "verify", &phase);
}

}  // namespace cosmoseal::cli
