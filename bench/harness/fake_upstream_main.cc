// cosmoseal-fake-upstream: a fast, in-memory, Cosmos-shaped HTTP server. The upstream of
// cosmoseal in benchmarks and tests, and a quick local target when no Cosmos account is at hand.
// See --help and docs/LOAD_TESTING.md.

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "bench/harness/fake_server.h"
#include "bench/harness/fake_store.h"
#include "bench/harness/options.h"
#include "crypto/key_file.h"

namespace cosmoseal::bench {
namespace {

constexpr const char* kVersion = "0.1.0";

constexpr const char* kHelp = R"(cosmoseal-fake-upstream - an in-memory, Cosmos DB-shaped HTTP server

Usage:
  cosmoseal-fake-upstream [OPTIONS]

Serves the Cosmos DB gateway REST API from memory, fast enough never to be the bottleneck of a
benchmark: the account document (GET /, its writable/readable locations point back at this
server), databases, containers, point reads, creates, upserts, replaces, deletes, query pages,
read feed and partition-key ranges. Documents get _rid/_self/_etag/_attachments/_ts like in
Cosmos. Queries are NOT evaluated: a query returns a page of stored documents in insertion order
(x-ms-max-item-count of them, x-ms-continuation while more remain). Documents are keyed by id
alone. Patch, batch/bulk, stored procedures, users, permissions and offers answer 400.

With --verify-key it checks every request's master-key signature against that key (the Cosmos
account key cosmoseal re-signs with) and answers 401 on a mismatch, so a test proves cosmoseal
re-signs correctly. Failures are logged (the first 5) and counted in /_fake/stats.

Listening:
  --address IP              address to listen on (default 127.0.0.1)
  --port N                  port (default 8081; 0 = any free port, see --port-file)
  --port-file FILE          write the bound port to FILE once listening
  --threads N               event-loop threads, each with its own SO_REUSEPORT listener (default 1)
  --tls-cert FILE           serve HTTPS with this PEM certificate chain ...
  --tls-key FILE            ... and this private key

Behaviour:
  --verify-key FILE         verify master-key signatures with this key (base64, like an account key)
  --verify-mode MODE        reject (default: 401 on a bad signature) or count (serve anyway)
  --advertise-url URL       URL written into the account document's locations
                            (default: http(s)://<the request's Host header>/)
  --auto-create             create unknown databases/containers on first use (default: 404)
  --max-docs N              documents kept per container (default 100000); beyond that, writes are
                            answered but not stored
  --page-size N             documents per query/read-feed page when the request does not say
                            (no x-ms-max-item-count) (default 100)
  --delay T                 answer every request T later (e.g. 2ms), to mimic a remote service

Output:
  --log-requests            one line per request on stderr (method, path, status, route, size)
  --stats-json FILE         write the counters (as served by GET /_fake/stats) to FILE at exit
  --quiet                   only errors on stderr
  --help, --version

Control routes (not Cosmos; unsigned; never forwarded by cosmoseal):
  GET  /_fake/stats         counters: requests, responses by status, requests by route,
                            signature checks (checked/ok/failed by reason), store sizes
  GET  /_fake/docs/DB/COLL/ID   a stored document exactly as this server holds it (e.g. to see
                            the envelopes cosmoseal wrote)
  POST /_fake/reset         zero the counters

Stops cleanly on SIGINT/SIGTERM, printing the counters.
)";

int usageError(const std::string& msg) {
  std::fprintf(stderr, "cosmoseal-fake-upstream: %s\n(see cosmoseal-fake-upstream --help)\n",
               msg.c_str());
  return 1;
}

int run(int argc, char** argv) {
  FakeServerOptions so;
  FakeStoreOptions store_opts;
  std::string port_file;
  std::string cert;
  std::string key;
  std::string verify_key;
  std::string stats_json;
  bool quiet = false;
  ArgReader args(argc, argv);
  std::string v;
  while (args.next()) {
    const std::string n = args.name();
    auto need = [&]() {
      if (!args.value(&v)) {
        std::fprintf(stderr, "cosmoseal-fake-upstream: %s needs a value\n", n.c_str());
        return false;
      }
      return true;
    };
    auto bad = [&]() { return usageError("bad value '" + v + "' for " + n); };
    uint64_t u = 0;
    if (!args.isOption()) return usageError("unexpected argument '" + n + "'");
    if (n == "--help" || n == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    } else if (n == "--version") {
      std::printf("cosmoseal-fake-upstream %s\n", kVersion);
      return 0;
    } else if (n == "--address") {
      if (!need()) return 1;
      so.address = v;
    } else if (n == "--port") {
      if (!need()) return 1;
      if (!parseUint(v, &u) || u > 65535) return bad();
      so.port = static_cast<uint16_t>(u);
    } else if (n == "--port-file") {
      if (!need()) return 1;
      port_file = v;
    } else if (n == "--threads") {
      if (!need()) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 64) return bad();
      so.threads = static_cast<int>(u);
    } else if (n == "--tls-cert") {
      if (!need()) return 1;
      cert = v;
    } else if (n == "--tls-key") {
      if (!need()) return 1;
      key = v;
    } else if (n == "--verify-key") {
      if (!need()) return 1;
      verify_key = v;
    } else if (n == "--verify-mode") {
      if (!need()) return 1;
      if (v == "reject") {
        so.reject_bad_signatures = true;
      } else if (v == "count") {
        so.reject_bad_signatures = false;
      } else {
        return bad();
      }
    } else if (n == "--advertise-url") {
      if (!need()) return 1;
      store_opts.advertise_url = v;
    } else if (n == "--auto-create") {
      store_opts.auto_create = true;
    } else if (n == "--max-docs") {
      if (!need()) return 1;
      if (!parseUint(v, &u) || u > 100'000'000) return bad();
      store_opts.max_docs = u;
    } else if (n == "--page-size") {
      if (!need()) return 1;
      if (!parseUint(v, &u) || u == 0 || u > 100000) return bad();
      store_opts.default_page_size = static_cast<int>(u);
    } else if (n == "--delay") {
      if (!need()) return 1;
      if (!parseDuration(v, &u)) return bad();
      so.delay_ms = u / 1'000'000;
    } else if (n == "--log-requests") {
      so.log_requests = true;
    } else if (n == "--stats-json") {
      if (!need()) return 1;
      stats_json = v;
    } else if (n == "--quiet" || n == "-q") {
      quiet = true;
    } else {
      return usageError("unknown option " + n);
    }
  }
  if (cert.empty() != key.empty()) return usageError("--tls-cert and --tls-key go together");
  if (!cert.empty()) {
    auto ctx = proxy::TlsContext::server(cert, key);
    if (!ctx.isOk()) {
      std::fprintf(stderr, "cosmoseal-fake-upstream: %s\n", ctx.status().toString().c_str());
      return 1;
    }
    so.tls = *ctx;
    store_opts.tls = true;
  }
  if (!verify_key.empty()) {
    auto k = crypto::readKeyFile(verify_key, 0);
    if (!k.isOk()) {
      std::fprintf(stderr, "cosmoseal-fake-upstream: %s\n", k.status().toString().c_str());
      return 1;
    }
    so.verify_key = std::make_unique<common::SecretBytes>(std::move(*k));
  }
  std::signal(SIGPIPE, SIG_IGN);

  const bool verifying = so.verify_key != nullptr;
  const bool reject = so.reject_bad_signatures;
  const int threads = so.threads;
  const std::string address = so.address;
  const bool tls = so.tls != nullptr;
  FakeStore store(store_opts);
  FakeStats stats;
  FakeServer server(std::move(so), &store, &stats);
  uint16_t port = 0;
  common::Status s = server.start(&port);
  if (!s.isOk()) {
    std::fprintf(stderr, "cosmoseal-fake-upstream: %s\n", s.toString().c_str());
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << port << "\n";
    }
    std::rename(tmp.c_str(), port_file.c_str());
  }
  if (!quiet) {
    std::fprintf(stderr,
                 "cosmoseal-fake-upstream %s: listening on %s://%s:%u (%d thread%s); signature "
                 "verification %s; %s\n",
                 kVersion, tls ? "https" : "http", address.c_str(), port, threads,
                 threads == 1 ? "" : "s",
                 verifying ? (reject ? "on (401 on mismatch)" : "on (count only)") : "off",
                 store_opts.auto_create ? "databases/containers auto-created"
                                        : "create databases/containers first (or --auto-create)");
  }

  // The main thread only waits for a signal.
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_signal_t sigint, sigterm;
  uv_signal_init(&loop, &sigint);
  uv_signal_init(&loop, &sigterm);
  auto on_signal = [](uv_signal_t* h, int) {
    uv_signal_stop(h);
    uv_stop(h->loop);
  };
  uv_signal_start(&sigint, on_signal, SIGINT);
  uv_signal_start(&sigterm, on_signal, SIGTERM);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  server.stop();
  server.join();
  const std::string json = stats.toJson(store, verifying);
  if (!quiet) {
    std::fprintf(stderr,
                 "cosmoseal-fake-upstream: stopped after %llu requests; signatures checked %llu, "
                 "failed %llu\n",
                 static_cast<unsigned long long>(stats.requests.load()),
                 static_cast<unsigned long long>(stats.sig_checked.load()),
                 static_cast<unsigned long long>(stats.sig_failed.load()));
  }
  if (!stats_json.empty()) {
    std::ofstream f(stats_json, std::ios::trunc);
    f << json;
  }
  return 0;
}

}  // namespace
}  // namespace cosmoseal::bench

int main(int argc, char** argv) { return cosmoseal::bench::run(argc, argv); }
