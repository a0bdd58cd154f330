// cosmoseal-bench: HTTP/1.1 keep-alive load generator that speaks Cosmos DB (gateway mode).
// See --help and docs/LOAD_TESTING.md.

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <atomic>
#include <cstring>
#include <fstream>
#include <string>

#include "bench/harness/json_writer.h"
#include "bench/harness/load.h"
#include "bench/harness/options.h"
#include "bench/harness/procstat.h"
#include "bench/harness/report.h"
#include "crypto/key_file.h"

namespace cosmoseal::bench {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kHelp = R"(cosmoseal-bench - load generator for cosmoseal (and any Cosmos DB gateway endpoint)

Usage:
  cosmoseal-bench [OPTIONS] URL                 run a load (URL: http://host:port or https://...)
  cosmoseal-bench --setup-only [OPTIONS] URL    only create the database/container and seed documents
  cosmoseal-bench --idle-connections N [--hold 5s] [OPTIONS] URL
                                                open N keep-alive connections and hold them (memory test)
  cosmoseal-bench report DIR                    build DIR/report.md from the raw JSON of bench/compare
  cosmoseal-bench --help | --version

Every request is a real Cosmos REST request: signed with --key-file (master-key HMAC over verb,
resource type, link and a fresh x-ms-date), with x-ms-version, the partition-key header, the
upsert flag, x-ms-documentdb-isquery + application/query+json for queries, and so on. Point it at
cosmoseal (with the app's client key), at cosmoseal-fake-upstream, or at a real account (with the
account key).

Target and authentication:
  URL                        http://127.0.0.1:8081 or https://host:port (no path)
  --key-file FILE            key that signs every request (base64, 64 bytes, like an account key):
                             a cosmoseal client key, or the account key for a direct run. Required.
  --ca FILE                  PEM CA bundle to verify an https:// target (default: system store)
  --tls                      same as using an https:// URL
  --database NAME            database id (default: bench)
  --container NAME           container id (default: items)
  --api-version V            x-ms-version header (default: 2018-12-31)

Workload:
  --mix LIST                 operation weights, e.g. read=70,upsert=20,create=10 (default read=100)
                             operations: read (point read), create, upsert, replace,
                             query (one page), readfeed (GET .../docs, one page)
  --docs N                   documents the point operations address: ids d0000000000..d<N-1>
                             (default 1000; --setup seeds exactly these)
  --doc-size BYTES           document size: 1024, 1k, 4k ... (default 1k)
  --protected-fields N       protected-looking top-level fields per document, in this order:
                             ssn, email, creditCard, phone, dateOfBirth, iban, passportNumber,
                             taxId, secret9, ... (default 3)
  --partition-key-path /P    top-level partition-key property (default /pk)
  --partitions N             distinct partition-key values p00..p<N-1> (default 16)
  --page-size N              x-ms-max-item-count of query and readfeed (default 60; 0 = omit)
  --query TEXT               query text (default "SELECT * FROM c")
  --seed N                   seed of the document generator and the operation mix (default 42)

Load (every run is bounded by --duration and, optionally, --requests):
  -c, --connections N        keep-alive connections (default 16)
  -t, --threads N            event-loop threads sharing the connections (default 1)
  -d, --duration T           measured time: 10s, 500ms, 2m (default 10s; at most 7 days)
  --warmup T                 unmeasured time before the window (default 0)
  --requests N               stop after N requests (default: no count limit)
  -R, --rate R               open loop: R requests/s in total on a fixed schedule, latency from the
                             intended send time (no coordinated omission). Default: closed loop
                             (each connection sends as soon as its previous response is complete)
  --timeout T                per-request timeout (default 5s); a timed-out connection is replaced

Setup:
  --setup                    before measuring: GET / (account), create the database and the
                             container (201, or 409 = already there), upsert --docs documents
  --setup-only               only the setup, no load
  --no-create                with --setup: do not create the database/container, only seed

Memory (idle connections):
  --idle-connections N       open N connections, send one point read on each, hold them idle
  --hold T                   how long to hold them (default 5s)
  --no-idle-request          open the connections without sending a request

Output:
  --json FILE                write the results as JSON (schema in docs/LOAD_TESTING.md)
  --label TEXT               free text stored in the JSON (e.g. the candidate name)
  --measure NAME=PID         sample the on-CPU time (/proc/PID/task/*/schedstat) and RSS of PID at
                             the edges of the measured window; reported as CPU us per request.
                             Repeatable (e.g. --measure proxy=1234 --measure upstream=5678)
  -q, --quiet                no progress line
  --help, --version

Exit status: 0 = run complete without errors, 3 = run complete with errors (see the table),
1 = bad usage or nothing could run.
)";

struct Cli {
  std::string url;
  std::string key_file;
  std::string ca_file;
  bool tls = false;
  LoadOptions load;
  RequestTarget target;
  DocSpec doc;
  uint64_t docs = 1000;
  bool setup = false;
  bool setup_only = false;
  bool create = true;
  int idle_connections = 0;
  uint64_t hold_ns = 5'000'000'000ULL;
  bool idle_request = true;
  std::string json_file;
  std::string label;
  std::string mix_text = "read=100";
  bool quiet = false;
};

int usageError(const std::string& msg) {
  std::fprintf(stderr, "cosmoseal-bench: %s\n(see cosmoseal-bench --help)\n", msg.c_str());
  return 1;
}

bool parseMix(const std::string& text, std::array<uint32_t, kOpCount>* w, std::string* err) {
  w->fill(0);
  uint64_t total = 0;
  for (const std::string& item : splitList(text)) {
    const size_t eq = item.find_first_of("=:");
    const std::string name = item.substr(0, eq);
    uint64_t weight = 1;
    if (eq != std::string::npos && !parseUint(item.substr(eq + 1), &weight)) {
      *err = "bad weight in --mix item '" + item + "'";
      return false;
    }
    int op = -1;
    for (int i = 0; i < kOpCount; ++i) {
      if (name == kOpNames[i]) op = i;
    }
    if (op < 0) {
      *err = "unknown operation '" + name +
             "' in --mix (expected read, create, upsert, replace, query, readfeed)";
      return false;
    }
    if (weight > 1000000) {
      *err = "weight too large in --mix";
      return false;
    }
    (*w)[op] += static_cast<uint32_t>(weight);
    total += weight;
  }
  if (total == 0) {
    *err = "--mix has no operation with a positive weight";
    return false;
  }
  return true;
}

std::string isoNow() {
  char buf[64];
  time_t t = time(nullptr);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

void writeLatency(JsonWriter& j, const LatencyHistogram& h) {
  j.beginObject();
  j.kv("count", h.count());
  j.kv("min", ms(h.min()));
  j.kv("mean", h.mean() / 1e6);
  j.kv("p50", ms(h.percentile(50)));
  j.kv("p90", ms(h.percentile(90)));
  j.kv("p99", ms(h.percentile(99)));
  j.kv("p99_9", ms(h.percentile(99.9)));
  j.kv("max", ms(h.max()));
  j.endObject();
}

void writeBuckets(JsonWriter& j, const LatencyHistogram& h) {
  j.beginObject();
  j.kv("unit", "ns");
  j.kv("sub_bucket_bits", LatencyHistogram::kSubBucketBits);
  j.key("buckets").beginArray();
  // [lowest, highest, count] of every non-empty bucket: enough to merge runs exactly.
  h.forEachBucket([&](uint64_t lo, uint64_t hi, uint64_t n) {
    j.beginArray().value(lo).value(hi).value(n).endArray();
  });
  j.endArray();
  j.endObject();
}

void writeConfig(JsonWriter& j, const Cli& cli) {
  j.key("config").beginObject();
  j.kv("mode", cli.idle_connections > 0 ? "idle" : (cli.load.rate > 0 ? "open" : "closed"));
  j.kv("connections", cli.idle_connections > 0 ? cli.idle_connections : cli.load.connections);
  j.kv("threads", cli.load.threads);
  j.kv("duration_s", static_cast<double>(cli.load.duration_ns) / 1e9);
  j.kv("warmup_s", static_cast<double>(cli.load.warmup_ns) / 1e9);
  j.kv("rate", cli.load.rate);
  j.kv("max_requests", cli.load.max_requests);
  j.kv("timeout_ms", cli.load.timeout_ms);
  j.key("mix").beginObject();
  for (int i = 0; i < kOpCount; ++i) {
    if (cli.load.weights[i] > 0) j.kv(kOpNames[i], cli.load.weights[i]);
  }
  j.endObject();
  j.kv("docs", cli.docs);
  j.kv("doc_size", static_cast<uint64_t>(cli.doc.target_bytes));
  j.kv("protected_fields", cli.doc.protected_fields);
  j.kv("partition_key_path", "/" + cli.doc.pk_field);
  j.kv("partitions", cli.doc.partitions);
  j.kv("page_size", cli.target.page_size);
  j.kv("query", cli.target.query);
  j.kv("seed", cli.doc.seed);
  j.kv("setup", cli.setup);
  j.endObject();
}

void writeHeader(JsonWriter& j, const Cli& cli) {
  j.kv("tool", "cosmoseal-bench");
  j.kv("version", kVersion);
  j.kv("label", cli.label);
  j.kv("started_at", isoNow());
  j.key("target").beginObject();
  j.kv("url", cli.url);
  j.kv("tls", cli.load.endpoint.tls != nullptr);
  j.kv("database", cli.target.database);
  j.kv("container", cli.target.container);
  j.endObject();
  writeConfig(j, cli);
}

void writeBox(JsonWriter& j, const LoadResult* r) {
  j.key("box").beginObject();
  j.kv("cpus", onlineCpus());
  j.kv("cpu_model", cpuModelName());
  if (r != nullptr) {
    const double wall = r->elapsed_s > 0 ? r->elapsed_s : 1;
    j.kv("busy_cpu_pct", static_cast<double>(r->box_busy_ns) / 1e9 / wall * 100.0);
    j.kv("foreign_cpu_pct", r->foreign_cpu_pct);
    j.kv("max_foreign_cpu_pct", r->max_foreign_cpu_pct);
  }
  j.endObject();
}

std::string loadJson(const Cli& cli, const LoadResult& r) {
  JsonWriter j;
  j.beginObject();
  writeHeader(j, cli);
  const double secs = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  j.key("results").beginObject();
  j.kv("elapsed_s", r.elapsed_s);
  j.kv("connections_established", r.connections_established);
  j.kv("requests", r.requests);
  j.kv("ok", r.ok);
  j.kv("errors", r.errors);
  j.kv("requests_per_s", static_cast<double>(r.requests) / secs);
  j.kv("ok_per_s", static_cast<double>(r.ok) / secs);
  if (r.open_loop) {
    j.kv("target_rate", r.target_rate);
    j.kv("unsent", r.unsent);
  }
  j.kv("bytes_in", r.bytes_in);
  j.kv("bytes_out", r.bytes_out);
  j.kv("reconnects", r.reconnects);
  j.key("latency_ms");
  writeLatency(j, r.latency);
  j.key("service_latency_ms");
  writeLatency(j, r.service);
  j.key("ops").beginObject();
  for (int i = 0; i < kOpCount; ++i) {
    const OpResult& o = r.ops[i];
    if (o.requests == 0 && cli.load.weights[i] == 0) continue;
    j.key(kOpNames[i]).beginObject();
    j.kv("requests", o.requests);
    j.kv("ok", o.ok);
    j.kv("errors", o.errors);
    j.key("latency_ms");
    writeLatency(j, o.latency);
    j.endObject();
  }
  j.endObject();
  j.key("errors_by_status").beginObject();
  for (const auto& [status, n] : r.errors_by_status) j.kv(std::to_string(status), n);
  j.endObject();
  j.key("errors_by_kind").beginObject();
  for (int i = 0; i < static_cast<int>(ErrorKind::kCount); ++i) {
    if (r.errors_by_kind[i] > 0) j.kv(kErrorKindNames[i], r.errors_by_kind[i]);
  }
  j.endObject();
  j.key("error_samples").beginArray();
  for (const std::string& e : r.error_samples) j.value(e);
  j.endArray();
  j.key("latency_histogram");
  writeBuckets(j, r.latency);
  j.endObject();

  j.key("processes").beginArray();
  for (const ProcessUsage& p : r.processes) {
    j.beginObject();
    j.kv("name", p.name);
    j.kv("pid", static_cast<int64_t>(p.pid));
    j.kv("cpu_ms", static_cast<double>(p.cpu_ns) / 1e6);
    j.kv("cpu_us_per_request",
         r.requests ? static_cast<double>(p.cpu_ns) / 1e3 / static_cast<double>(r.requests) : 0.0);
    j.kv("cpu_pct", static_cast<double>(p.cpu_ns) / 1e9 / secs * 100.0);
    j.kv("rss_kb_start", p.rss_kb_start);
    j.kv("rss_kb_end", p.rss_kb_end);
    j.kv("threads", p.threads);
    j.kv("alive", p.alive);
    j.endObject();
  }
  j.endArray();
  j.key("self").beginObject();
  j.kv("cpu_ms", static_cast<double>(r.self_cpu_ns) / 1e6);
  j.kv("cpu_us_per_request",
       r.requests ? static_cast<double>(r.self_cpu_ns) / 1e3 / static_cast<double>(r.requests)
                  : 0.0);
  j.endObject();
  writeBox(j, &r);
  j.endObject();
  std::string out = j.take();
  out.push_back('\n');
  return out;
}

std::string idleJson(const Cli& cli, const IdleResult& r) {
  JsonWriter j;
  j.beginObject();
  writeHeader(j, cli);
  j.key("idle").beginObject();
  j.kv("requested", r.requested);
  j.kv("established", r.established);
  j.kv("failed", r.failed);
  j.kv("request_errors", r.request_errors);
  j.kv("open_s", r.open_seconds);
  j.kv("hold_s", static_cast<double>(cli.hold_ns) / 1e9);
  j.endObject();
  j.key("processes").beginArray();
  for (const ProcessUsage& p : r.processes) {
    j.beginObject();
    j.kv("name", p.name);
    j.kv("pid", static_cast<int64_t>(p.pid));
    j.kv("rss_kb_before", p.rss_kb_start);
    j.kv("rss_kb_held", p.rss_kb_end);
    j.kv("rss_kb_delta", static_cast<int64_t>(p.rss_kb_end) - static_cast<int64_t>(p.rss_kb_start));
    j.kv("threads", p.threads);
    j.endObject();
  }
  j.endArray();
  writeBox(j, nullptr);
  j.endObject();
  std::string out = j.take();
  out.push_back('\n');
  return out;
}

std::string withCommas(uint64_t v) {
  // Built forwards rather than with insert(): GCC 12 -O3 reports a false -Wrestrict for that.
  const std::string digits = std::to_string(v);
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i != 0 && (digits.size() - i) % 3 == 0) s += ',';
    s += digits[i];
  }
  return s;
}

void printLoadTable(const Cli& cli, const LoadResult& r) {
  const double secs = r.elapsed_s > 0 ? r.elapsed_s : 1e-9;
  std::printf("\ncosmoseal-bench %s -> %s (db %s, container %s)\n", kVersion, cli.url.c_str(),
              cli.target.database.c_str(), cli.target.container.c_str());
  if (r.open_loop) {
    std::printf("open loop at %.0f req/s, %d connections, %d thread(s), %.2f s measured\n",
                r.target_rate, cli.load.connections, cli.load.threads, r.elapsed_s);
  } else {
    std::printf("closed loop, %d connections, %d thread(s), %.2f s measured\n",
                cli.load.connections, cli.load.threads, r.elapsed_s);
  }
  std::printf("workload: %s; %" PRIu64 " docs of %zu B, %d protected-looking fields\n\n",
              cli.mix_text.c_str(), cli.docs, cli.doc.target_bytes, cli.doc.protected_fields);
  std::printf("  requests   %s  (%.1f req/s)   ok %s   errors %s\n", withCommas(r.requests).c_str(),
              static_cast<double>(r.requests) / secs, withCommas(r.ok).c_str(),
              withCommas(r.errors).c_str());
  if (r.open_loop && r.unsent > 0) {
    std::printf("  NOT SUSTAINED: %s scheduled requests were never sent (target rate too high)\n",
                withCommas(r.unsent).c_str());
  }
  std::printf("  latency    p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms%s\n",
              ms(r.latency.percentile(50)), ms(r.latency.percentile(90)),
              ms(r.latency.percentile(99)), ms(r.latency.percentile(99.9)), ms(r.latency.max()),
              r.open_loop ? "  (from intended send time)" : "");
  std::printf("\n  %-9s %12s %12s %8s %9s %9s %9s\n", "op", "requests", "ok", "errors", "p50 ms",
              "p99 ms", "max ms");
  for (int i = 0; i < kOpCount; ++i) {
    const OpResult& o = r.ops[i];
    if (o.requests == 0) continue;
    std::printf("  %-9s %12s %12s %8s %9.3f %9.3f %9.3f\n", kOpNames[i],
                withCommas(o.requests).c_str(), withCommas(o.ok).c_str(),
                withCommas(o.errors).c_str(), ms(o.latency.percentile(50)),
                ms(o.latency.percentile(99)), ms(o.latency.max()));
  }
  std::printf("\n  transfer   in %.1f MB (%.1f MB/s)   out %.1f MB   reconnects %" PRIu64 "\n",
              static_cast<double>(r.bytes_in) / 1e6, static_cast<double>(r.bytes_in) / 1e6 / secs,
              static_cast<double>(r.bytes_out) / 1e6, r.reconnects);
  for (const ProcessUsage& p : r.processes) {
    std::printf("  cpu        %-10s pid %-7d %8.2f us/request  (%.1f%% of a core, RSS %.1f MB)\n",
                p.name.c_str(), static_cast<int>(p.pid),
                r.requests ? static_cast<double>(p.cpu_ns) / 1e3 / static_cast<double>(r.requests)
                           : 0.0,
                static_cast<double>(p.cpu_ns) / 1e9 / secs * 100.0,
                static_cast<double>(p.rss_kb_end) / 1024.0);
  }
  std::printf("  cpu        %-10s %12s %8.2f us/request\n", "bench", "",
              r.requests ? static_cast<double>(r.self_cpu_ns) / 1e3 /
                               static_cast<double>(r.requests)
                         : 0.0);
  std::printf("  noise      other processes used %.1f%% of a core on average, %.1f%% at worst\n",
              r.foreign_cpu_pct, r.max_foreign_cpu_pct);
  if (r.errors > 0) {
    std::printf("\n  errors by status:");
    for (const auto& [status, n] : r.errors_by_status) {
      std::printf("  %d x %s", status, withCommas(n).c_str());
    }
    std::printf("\n  errors by kind:  ");
    for (int i = 0; i < static_cast<int>(ErrorKind::kCount); ++i) {
      if (r.errors_by_kind[i]) {
        std::printf("  %s x %s", kErrorKindNames[i], withCommas(r.errors_by_kind[i]).c_str());
      }
    }
    std::printf("\n");
    for (const std::string& e : r.error_samples) std::printf("  e.g. %s\n", e.c_str());
  }
  std::printf("\n");
  std::fflush(stdout);
}

bool writeFile(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

std::atomic<bool> g_interrupted{false};

void onInterrupt(int) { g_interrupted.store(true); }

int run(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "report") == 0) return runReport(argc - 1, argv + 1);
  Cli cli;
  ArgReader args(argc, argv);
  std::string v;
  while (args.next()) {
    const std::string n = args.name();
    auto need = [&](std::string* out) {
      if (!args.value(out)) {
        std::fprintf(stderr, "cosmoseal-bench: %s needs a value\n", n.c_str());
        return false;
      }
      return true;
    };
    auto bad = [&](const std::string& what) {
      return usageError("bad value '" + v + "' for " + n + (what.empty() ? "" : ": " + what));
    };
    uint64_t u = 0;
    if (!args.isOption()) {
      if (!cli.url.empty()) return usageError("more than one URL given ('" + n + "')");
      cli.url = n;
    } else if (n == "--help" || n == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    } else if (n == "--version") {
      std::printf("cosmoseal-bench %s\n", kVersion);
      return 0;
    } else if (n == "--key-file") {
      if (!need(&cli.key_file)) return 1;
    } else if (n == "--ca") {
      if (!need(&cli.ca_file)) return 1;
    } else if (n == "--tls") {
      cli.tls = true;
    } else if (n == "--database") {
      if (!need(&cli.target.database)) return 1;
    } else if (n == "--container") {
      if (!need(&cli.target.container)) return 1;
    } else if (n == "--api-version") {
      if (!need(&cli.target.api_version)) return 1;
    } else if (n == "--mix") {
      if (!need(&cli.mix_text)) return 1;
    } else if (n == "--docs") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &cli.docs) || cli.docs == 0 || cli.docs > 100'000'000) {
        return bad("1..100000000");
      }
    } else if (n == "--doc-size") {
      if (!need(&v)) return 1;
      if (!parseSize(v, &u) || u < 64 || u > 2 * 1024 * 1024) return bad("64 B .. 2 MiB");
      cli.doc.target_bytes = u;
    } else if (n == "--protected-fields") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u > 256) return bad("0..256");
      cli.doc.protected_fields = static_cast<int>(u);
    } else if (n == "--partition-key-path") {
      if (!need(&v)) return 1;
      if (v.size() < 2 || v[0] != '/' || v.find('/', 1) != std::string::npos ||
          v.find('"') != std::string::npos || v.find('\\') != std::string::npos) {
        return bad("a top-level path such as /pk");
      }
      cli.doc.pk_field = v.substr(1);
    } else if (n == "--partitions") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 100000) return bad("1..100000");
      cli.doc.partitions = static_cast<int>(u);
    } else if (n == "--page-size") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u > 100000) return bad("0..100000");
      cli.target.page_size = static_cast<int>(u);
    } else if (n == "--query") {
      if (!need(&cli.target.query)) return 1;
    } else if (n == "--seed") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &cli.doc.seed)) return bad("");
    } else if (n == "-c" || n == "--connections") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 100000) return bad("1..100000");
      cli.load.connections = static_cast<int>(u);
    } else if (n == "-t" || n == "--threads") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 64) return bad("1..64");
      cli.load.threads = static_cast<int>(u);
    } else if (n == "-d" || n == "--duration") {
      if (!need(&v)) return 1;
      if (!parseDuration(v, &cli.load.duration_ns) || cli.load.duration_ns < 1'000'000) {
        return bad("a duration such as 10s, at least 1ms");
      }
    } else if (n == "--warmup") {
      if (!need(&v)) return 1;
      if (!parseDuration(v, &cli.load.warmup_ns)) return bad("a duration such as 2s");
    } else if (n == "--requests") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &cli.load.max_requests)) return bad("");
    } else if (n == "-R" || n == "--rate") {
      if (!need(&v)) return 1;
      if (!parseRate(v, &cli.load.rate) || cli.load.rate > 10e6) return bad("0..10000000 req/s");
    } else if (n == "--timeout") {
      if (!need(&v)) return 1;
      if (!parseDuration(v, &u) || u < 1'000'000) return bad("at least 1ms");
      cli.load.timeout_ms = u / 1'000'000;
    } else if (n == "--setup") {
      cli.setup = true;
    } else if (n == "--setup-only") {
      cli.setup = true;
      cli.setup_only = true;
    } else if (n == "--no-create") {
      cli.create = false;
    } else if (n == "--idle-connections") {
      if (!need(&v)) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 100000) return bad("1..100000");
      cli.idle_connections = static_cast<int>(u);
    } else if (n == "--hold") {
      if (!need(&v)) return 1;
      if (!parseDuration(v, &cli.hold_ns)) return bad("a duration such as 5s");
    } else if (n == "--no-idle-request") {
      cli.idle_request = false;
    } else if (n == "--json") {
      if (!need(&cli.json_file)) return 1;
    } else if (n == "--label") {
      if (!need(&cli.label)) return 1;
    } else if (n == "--measure") {
      if (!need(&v)) return 1;
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || !parseUint(v.substr(eq + 1), &u) || u == 0 ||
          u > 4'194'304) {
        return bad("NAME=PID");
      }
      if (kill(static_cast<pid_t>(u), 0) != 0) return bad("no such process");
      cli.load.measure.push_back({v.substr(0, eq), static_cast<pid_t>(u)});
    } else if (n == "-q" || n == "--quiet") {
      cli.quiet = true;
    } else {
      return usageError("unknown option " + n);
    }
  }
  if (cli.url.empty()) return usageError("no target URL");
  if (cli.key_file.empty()) return usageError("--key-file is required (the key that signs requests)");
  if (cli.tls && cli.url.rfind("http://", 0) == 0) cli.url = "https://" + cli.url.substr(7);
  std::string mix_err;
  if (!parseMix(cli.mix_text, &cli.load.weights, &mix_err)) return usageError(mix_err);

  auto key = crypto::readKeyFile(cli.key_file, 0);
  if (!key.isOk()) {
    std::fprintf(stderr, "cosmoseal-bench: %s\n", key.status().toString().c_str());
    return 1;
  }
  std::string host_header;
  auto ep = resolveEndpoint(cli.url, cli.ca_file, &host_header);
  if (!ep.isOk()) {
    std::fprintf(stderr, "cosmoseal-bench: %s\n", ep.status().toString().c_str());
    return 1;
  }
  cli.target.host_header = host_header;
  cli.load.endpoint = *ep;
  cli.load.target = cli.target;
  cli.load.doc = cli.doc;
  cli.load.docs = cli.docs;
  cli.load.key = &*key;
  cli.load.progress = !cli.quiet;
  {
    char id[32];
    std::snprintf(id, sizeof(id), "%08lx%04x", static_cast<unsigned long>(time(nullptr)),
                  static_cast<unsigned>(getpid() & 0xffff));
    cli.load.run_id = id;
  }
  signal(SIGPIPE, SIG_IGN);
  // Ctrl-C / SIGTERM end the measured window early; the results so far are still reported.
  struct sigaction sa;
  std::memset(&sa, 0, sizeof(sa));
  sa.sa_handler = &onInterrupt;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  cli.load.interrupted = &g_interrupted;

  if (cli.setup) {
    SetupOptions so;
    so.endpoint = cli.load.endpoint;
    so.target = cli.target;
    so.doc = cli.doc;
    so.key = &*key;
    so.docs = cli.docs;
    so.create_database = cli.create;
    so.create_container = cli.create;
    so.timeout_ms = std::max<uint64_t>(cli.load.timeout_ms, 10000);
    std::string err;
    if (!runSetup(so, &err)) {
      std::fprintf(stderr, "cosmoseal-bench: setup failed: %s\n", err.c_str());
      return 1;
    }
    if (cli.setup_only) return 0;
  }

  if (cli.idle_connections > 0) {
    IdleOptions io;
    io.endpoint = cli.load.endpoint;
    io.target = cli.target;
    io.key = &*key;
    io.connections = cli.idle_connections;
    io.hold_ns = cli.hold_ns;
    io.send_request = cli.idle_request;
    io.docs = cli.docs;
    io.doc = cli.doc;
    io.measure = cli.load.measure;
    IdleResult r;
    std::string err;
    if (!runIdle(io, &r, &err)) {
      std::fprintf(stderr, "cosmoseal-bench: %s\n", err.c_str());
      return 1;
    }
    std::printf("\nidle connections: %d requested, %d open, %d failed, %d request errors\n",
                r.requested, r.established, r.failed, r.request_errors);
    for (const ProcessUsage& p : r.processes) {
      std::printf("  %-10s pid %-7d RSS %.1f MB before, %.1f MB held (%+.1f MB, %+.1f KB per "
                  "connection)\n",
                  p.name.c_str(), static_cast<int>(p.pid), static_cast<double>(p.rss_kb_start) / 1024,
                  static_cast<double>(p.rss_kb_end) / 1024,
                  (static_cast<double>(p.rss_kb_end) - static_cast<double>(p.rss_kb_start)) / 1024,
                  r.established ? (static_cast<double>(p.rss_kb_end) -
                                   static_cast<double>(p.rss_kb_start)) /
                                      r.established
                                : 0.0);
    }
    if (!cli.json_file.empty() && !writeFile(cli.json_file, idleJson(cli, r))) {
      std::fprintf(stderr, "cosmoseal-bench: cannot write %s\n", cli.json_file.c_str());
      return 1;
    }
    return (r.failed > 0 || r.request_errors > 0) ? 3 : 0;
  }

  LoadResult r;
  std::string err;
  if (!runLoad(cli.load, &r, &err)) {
    std::fprintf(stderr, "cosmoseal-bench: %s\n", err.c_str());
    return 1;
  }
  printLoadTable(cli, r);
  if (!cli.json_file.empty() && !writeFile(cli.json_file, loadJson(cli, r))) {
    std::fprintf(stderr, "cosmoseal-bench: cannot write %s\n", cli.json_file.c_str());
    return 1;
  }
  return r.errors > 0 ? 3 : 0;
}

}  // namespace
}  // namespace cosmoseal::bench

int main(int argc, char** argv) { return cosmoseal::bench::run(argc, argv); }
