#include "bench/harness/report.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "bench/harness/json_writer.h"

namespace cosmoseal::bench {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Run {
  int rep = 0;
  double rps = kNaN;
  double p50 = kNaN, p90 = kNaN, p99 = kNaN, p999 = kNaN;
  double proxy_us = kNaN;
  double upstream_us = kNaN;
  double bench_us = kNaN;
  double proxy_rss_mb = kNaN;
  uint64_t requests = 0;
  uint64_t errors = 0;
  double foreign_avg = kNaN;
  double foreign_max = kNaN;
  std::string error_text;
};

struct Candidate {
  std::string name, workload, proxy, container;
  std::vector<Run> runs;
  // Medians.
  double rps = kNaN, p50 = kNaN, p90 = kNaN, p99 = kNaN, p999 = kNaN;
  double proxy_us = kNaN, proxy_us_min = kNaN, proxy_us_max = kNaN;
  double upstream_us = kNaN, bench_us = kNaN;
  double proxy_per_upstream = kNaN;
  double ratio_vs_nginx = kNaN;             // median of paired (same repeat) CPU/req ratios
  double normalized_ratio_vs_nginx = kNaN;  // same, on proxy/upstream CPU ratios
  double ratio_cv_pct = kNaN;               // spread of the paired ratio (CV %)
  uint64_t errors = 0;
  double foreign_max = kNaN;
};

struct Memory {
  bool present = false;
  double before_mb = kNaN, held_mb = kNaN, delta_mb = kNaN, per_conn_kb = kNaN;
  int established = 0, requested = 0;
  double cold_mb = kNaN;
};

std::string readFile(const std::string& path, bool* ok) {
  std::ifstream f(path, std::ios::binary);
  *ok = static_cast<bool>(f);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

double median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double cvPct(const std::vector<double>& in) {
  std::vector<double> v;
  for (double x : in) {
    if (!std::isnan(x)) v.push_back(x);
  }
  if (v.size() < 2) return kNaN;
  double mean = 0;
  for (double x : v) mean += x;
  mean /= static_cast<double>(v.size());
  double var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  var /= static_cast<double>(v.size() - 1);
  return mean > 0 ? std::sqrt(var) / mean * 100 : kNaN;
}

double getDouble(simdjson::dom::element e, std::string_view pointer) {
  double d;
  if (e.at_pointer(pointer).get(d) == simdjson::SUCCESS) return d;
  int64_t i;
  if (e.at_pointer(pointer).get(i) == simdjson::SUCCESS) return static_cast<double>(i);
  uint64_t u;
  if (e.at_pointer(pointer).get(u) == simdjson::SUCCESS) return static_cast<double>(u);
  return kNaN;
}

std::string getString(simdjson::dom::element e, std::string_view pointer) {
  std::string_view s;
  if (e.at_pointer(pointer).get(s) == simdjson::SUCCESS) return std::string(s);
  return "";
}

std::string fmt(double v, int decimals = 2, const char* missing = "-") {
  if (std::isnan(v)) return missing;
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string fmtCount(double v) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.0f", v);
  const std::string digits = buf;
  std::string s;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') s.push_back(',');
    s.push_back(digits[i]);
  }
  return s;
}

bool loadRun(simdjson::dom::parser& parser, const std::string& path, Run* run) {
  bool ok = false;
  const std::string text = readFile(path, &ok);
  if (!ok) return false;
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS) {
    std::fprintf(stderr, "report: %s is not valid JSON\n", path.c_str());
    return false;
  }
  run->rps = getDouble(doc, "/results/requests_per_s");
  run->p50 = getDouble(doc, "/results/latency_ms/p50");
  run->p90 = getDouble(doc, "/results/latency_ms/p90");
  run->p99 = getDouble(doc, "/results/latency_ms/p99");
  run->p999 = getDouble(doc, "/results/latency_ms/p99_9");
  run->bench_us = getDouble(doc, "/self/cpu_us_per_request");
  run->requests = static_cast<uint64_t>(getDouble(doc, "/results/requests"));
  run->errors = static_cast<uint64_t>(getDouble(doc, "/results/errors"));
  run->foreign_avg = getDouble(doc, "/box/foreign_cpu_pct");
  run->foreign_max = getDouble(doc, "/box/max_foreign_cpu_pct");
  simdjson::dom::array procs;
  if (doc["processes"].get(procs) == simdjson::SUCCESS) {
    for (simdjson::dom::element p : procs) {
      const std::string name = getString(p, "/name");
      const double us = getDouble(p, "/cpu_us_per_request");
      if (name == "proxy") {
        run->proxy_us = us;
        run->proxy_rss_mb = getDouble(p, "/rss_kb_end") / 1024;
      } else if (name == "upstream") {
        run->upstream_us = us;
      }
    }
  }
  simdjson::dom::array samples;
  if (run->errors > 0 && doc.at_pointer("/results/error_samples").get(samples) == simdjson::SUCCESS) {
    for (simdjson::dom::element s : samples) {
      std::string_view t;
      if (s.get(t) == simdjson::SUCCESS) {
        run->error_text = std::string(t);
        break;
      }
    }
  }
  return true;
}

struct Goal {
  std::string what;
  std::string measured;
  std::string target;
  bool pass = false;
  bool available = false;
  std::string note;
};

const char* workloadText(const std::string& w) {
  if (w == "doc1k") return "1 KB documents, point reads + writes";
  if (w == "page64k") return "query, one page of 60 documents (~64 KB plain)";
  return "";
}

}  // namespace

int runReport(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help") {
    std::fprintf(stderr,
                 "usage: cosmoseal-bench report DIR\n"
                 "  reads DIR/meta.json and DIR/raw/*.json (written by bench/compare) and writes\n"
                 "  DIR/report.md, DIR/summary.json, DIR/plot.dat and DIR/plot.gp\n");
    return argc < 2 ? 1 : 0;
  }
  const std::string dir = argv[1];
  simdjson::dom::parser parser;
  bool ok = false;
  const std::string meta_text = readFile(dir + "/meta.json", &ok);
  if (!ok) {
    std::fprintf(stderr, "report: cannot read %s/meta.json\n", dir.c_str());
    return 1;
  }
  simdjson::dom::parser meta_parser;
  simdjson::dom::element meta;
  if (meta_parser.parse(meta_text).get(meta) != simdjson::SUCCESS) {
    std::fprintf(stderr, "report: %s/meta.json is not valid JSON\n", dir.c_str());
    return 1;
  }
  const int repeats = static_cast<int>(getDouble(meta, "/repeats"));
  std::vector<Candidate> cands;
  simdjson::dom::array list;
  if (meta["candidates"].get(list) != simdjson::SUCCESS) {
    std::fprintf(stderr, "report: meta.json has no candidates\n");
    return 1;
  }
  for (simdjson::dom::element c : list) {
    Candidate cand;
    cand.name = getString(c, "/name");
    cand.workload = getString(c, "/workload");
    cand.proxy = getString(c, "/proxy");
    cand.container = getString(c, "/container");
    for (int r = 1; r <= repeats; ++r) {
      Run run;
      run.rep = r;
      if (loadRun(parser, dir + "/raw/" + cand.name + "-r" + std::to_string(r) + ".json", &run)) {
        cand.runs.push_back(run);
      }
    }
    cands.push_back(std::move(cand));
  }

  // Medians and paired ratios.
  auto find = [&](const std::string& name) -> Candidate* {
    for (Candidate& c : cands) {
      if (c.name == name) return &c;
    }
    return nullptr;
  };
  for (Candidate& c : cands) {
    std::vector<double> rps, p50, p90, p99, p999, pu, uu, bu, ratio, fm;
    for (const Run& r : c.runs) {
      rps.push_back(r.rps);
      p50.push_back(r.p50);
      p90.push_back(r.p90);
      p99.push_back(r.p99);
      p999.push_back(r.p999);
      pu.push_back(r.proxy_us);
      uu.push_back(r.upstream_us);
      bu.push_back(r.bench_us);
      ratio.push_back(r.proxy_us / r.upstream_us);
      fm.push_back(r.foreign_max);
      c.errors += r.errors;
    }
    c.rps = median(rps);
    c.p50 = median(p50);
    c.p90 = median(p90);
    c.p99 = median(p99);
    c.p999 = median(p999);
    c.proxy_us = median(pu);
    c.upstream_us = median(uu);
    c.bench_us = median(bu);
    c.proxy_per_upstream = median(ratio);
    for (double x : pu) {
      if (std::isnan(x)) continue;
      c.proxy_us_min = std::isnan(c.proxy_us_min) ? x : std::min(c.proxy_us_min, x);
      c.proxy_us_max = std::isnan(c.proxy_us_max) ? x : std::max(c.proxy_us_max, x);
    }
    for (double x : fm) {
      if (!std::isnan(x)) c.foreign_max = std::isnan(c.foreign_max) ? x : std::max(c.foreign_max, x);
    }
  }
  for (Candidate& c : cands) {
    if (c.proxy.empty()) continue;
    Candidate* ng = find(c.workload == "page64k" ? "nginx-page" : "nginx");
    if (ng == nullptr) continue;
    std::vector<double> paired, normalized;
    for (const Run& r : c.runs) {
      for (const Run& n : ng->runs) {
        if (n.rep != r.rep) continue;
        paired.push_back(r.proxy_us / n.proxy_us);
        normalized.push_back((r.proxy_us / r.upstream_us) / (n.proxy_us / n.upstream_us));
      }
    }
    c.ratio_vs_nginx = median(paired);
    c.normalized_ratio_vs_nginx = median(normalized);
    c.ratio_cv_pct = cvPct(paired);
  }

  // Memory.
  std::map<std::string, Memory> memory;
  for (const char* proxy : {"nginx", "cosmoseal-passthrough", "cosmoseal-3fields",
                            "cosmoseal-page180"}) {
    Memory m;
    const std::string text = readFile(dir + "/raw/idle-" + proxy + ".json", &ok);
    const double cold = getDouble(meta, std::string("/cold_rss_kb/") + proxy);
    m.cold_mb = cold / 1024;
    if (ok) {
      simdjson::dom::element doc;
      if (parser.parse(text).get(doc) == simdjson::SUCCESS) {
        m.present = true;
        m.established = static_cast<int>(getDouble(doc, "/idle/established"));
        m.requested = static_cast<int>(getDouble(doc, "/idle/requested"));
        simdjson::dom::array procs;
        if (doc["processes"].get(procs) == simdjson::SUCCESS) {
          double before = 0, held = 0;
          for (simdjson::dom::element p : procs) {
            // nginx: master + worker (the worker holds the connections); cosmoseal: one process.
            before += getDouble(p, "/rss_kb_before");
            held += getDouble(p, "/rss_kb_held");
          }
          m.before_mb = before / 1024;
          m.held_mb = held / 1024;
          m.delta_mb = (held - before) / 1024;
          if (m.established > 0) m.per_conn_kb = (held - before) / m.established;
        }
      }
    }
    if (m.present || !std::isnan(m.cold_mb)) memory[proxy] = m;
  }

  // Noise.
  std::vector<double> all_foreign_max;
  std::vector<double> all_foreign_avg;
  int noisy_runs = 0;
  int total_runs = 0;
  for (const Candidate& c : cands) {
    for (const Run& r : c.runs) {
      ++total_runs;
      all_foreign_max.push_back(r.foreign_max);
      all_foreign_avg.push_back(r.foreign_avg);
      if (r.foreign_max > 25) ++noisy_runs;
    }
  }
  double max_foreign = kNaN;
  for (double x : all_foreign_max) {
    if (!std::isnan(x)) max_foreign = std::isnan(max_foreign) ? x : std::max(max_foreign, x);
  }

  // Encryption check (written by bench/compare from the fake upstream's stored documents).
  std::map<std::string, std::string> encryption;
  simdjson::dom::object enc;
  if (meta["encryption_observed"].get(enc) == simdjson::SUCCESS) {
    for (auto [k, v] : enc) {
      std::string_view s;
      if (v.get(s) == simdjson::SUCCESS) encryption[std::string(k)] = std::string(s);
    }
  }

  // Goals.
  std::vector<Goal> goals;
  auto ratioGoal = [&](const std::string& cand, const std::string& what, double limit) {
    Goal g;
    g.what = what;
    char t[32];
    std::snprintf(t, sizeof(t), "<= %.1fx", limit);
    g.target = t;
    Candidate* c = find(cand);
    if (c != nullptr && !std::isnan(c->ratio_vs_nginx)) {
      g.available = true;
      g.measured = fmt(c->ratio_vs_nginx) + "x (" + fmt(c->proxy_us, 1) + " vs " +
                   fmt(find(c->workload == "page64k" ? "nginx-page" : "nginx")->proxy_us, 1) +
                   " us/req; normalized by upstream CPU: " + fmt(c->normalized_ratio_vs_nginx) +
                   "x)";
      g.pass = c->ratio_vs_nginx <= limit;
      if (c->errors > 0) {
        g.pass = false;
        g.note = std::to_string(c->errors) + " errors";
      }
      if (c->container.rfind("enc", 0) == 0) {
        auto it = encryption.find(c->container);
        if (it != encryption.end() && it->second != "yes") {
          g.note += std::string(g.note.empty() ? "" : "; ") +
                    "cosmoseal did not encrypt (upstream stored plaintext): this measured "
                    "pass-through cost";
        }
      }
    } else {
      g.measured = "not measured";
    }
    goals.push_back(g);
  };
  ratioGoal("cosmoseal-passthrough", "pass-through: CPU/request vs nginx (1 KB reads+writes)", 0.8);
  ratioGoal("cosmoseal-3fields", "1 KB document, 3 encrypted fields: CPU/request vs nginx", 1.1);
  ratioGoal("cosmoseal-page180", "64 KB page, 180 encrypted fields: CPU/request vs nginx", 2.5);
  {
    Goal g;
    g.what = "idle RSS (cosmoseal, after the runs)";
    g.target = "<= 10 MB";
    auto it = memory.find("cosmoseal-passthrough");
    if (it != memory.end() && it->second.present) {
      g.available = true;
      g.measured = fmt(it->second.before_mb, 1) + " MB (cold, at start: " +
                   fmt(it->second.cold_mb, 1) + " MB)";
      g.pass = it->second.before_mb <= 10.0;
    } else {
      g.measured = "not measured";
    }
    goals.push_back(g);
  }
  {
    Goal g;
    g.what = "RSS growth with 1,000 idle keep-alive connections (cosmoseal)";
    g.target = "<= +20 MB";
    auto it = memory.find("cosmoseal-passthrough");
    if (it != memory.end() && it->second.present && it->second.established > 0) {
      g.available = true;
      const double per1000 = it->second.delta_mb * 1000.0 / it->second.established;
      g.measured = "+" + fmt(it->second.delta_mb, 1) + " MB for " +
                   std::to_string(it->second.established) + " connections (" +
                   fmt(it->second.per_conn_kb, 1) + " KB each)";
      if (it->second.established != 1000) g.measured += ", +" + fmt(per1000, 1) + " MB per 1,000";
      g.pass = per1000 <= 20.0;
      if (it->second.established < it->second.requested) {
        g.note = std::to_string(it->second.requested - it->second.established) +
                 " connections failed";
      }
    } else {
      g.measured = "not measured";
    }
    goals.push_back(g);
  }

  // ---- report.md ----
  std::string md;
  auto line = [&](const std::string& s) {
    md += s;
    md += "\n";
  };
  line("# cosmoseal vs nginx: side-by-side load test");
  line("");
  line("| | |");
  line("|---|---|");
  line("| when | " + getString(meta, "/started_at") + " .. " + getString(meta, "/finished_at") +
       " (UTC) |");
  line("| machine | " + std::to_string(static_cast<int>(getDouble(meta, "/cpus"))) + " x " +
       getString(meta, "/cpu_model") + ", kernel " + getString(meta, "/kernel") + " |");
  line("| code | git " + getString(meta, "/git") + ", " + getString(meta, "/cosmoseal_version") +
       ", nginx " + getString(meta, "/nginx_version") + " |");
  const std::string mode = getString(meta, "/mode");
  line("| method | " + std::to_string(repeats) + " alternating repeats x " +
       getString(meta, "/duration") + " (+" + getString(meta, "/warmup") + " unmeasured warm-up), " +
       (mode == "open" ? "open loop at " + getString(meta, "/rate") + " req/s"
                       : std::string("closed loop")) +
       ", " + std::to_string(static_cast<int>(getDouble(meta, "/connections"))) +
       " keep-alive connections; proxy pinned to cpu " +
       std::to_string(static_cast<int>(getDouble(meta, "/proxy_cpu"))) +
       ", load generator + fake upstream on cpu " +
       std::to_string(static_cast<int>(getDouble(meta, "/load_cpu"))) + "; medians |");
  {
    bool verifying = false;
    if (meta["signature_verification"].get(verifying) != simdjson::SUCCESS) verifying = false;
    line(std::string("| upstream | cosmoseal-fake-upstream (in memory, 1 thread), signature "
                     "verification ") +
         (verifying ? "on" : "off") + " |");
  }
  {
    char buf[256];
    double med_avg = median(all_foreign_avg);
    std::snprintf(buf, sizeof(buf),
                  "| noise | other processes: %s%% of a core before the runs; during runs %s%% "
                  "on average (median), %s%% at worst (1-s max); %d of %d runs above 25%% |",
                  fmt(getDouble(meta, "/background_cpu_pct"), 1).c_str(), fmt(med_avg, 1).c_str(),
                  fmt(max_foreign, 1).c_str(), noisy_runs, total_runs);
    line(buf);
  }
  line("");

  line("## Goals");
  line("");
  line("| goal | measured | target | result |");
  line("|---|---|---|---|");
  for (const Goal& g : goals) {
    line("| " + g.what + " | " + g.measured + (g.note.empty() ? "" : " (" + g.note + ")") + " | " +
         g.target + " | " + (g.available ? (g.pass ? "**PASS**" : "**MISS**") : "n/a") + " |");
  }
  line("");
  for (const auto& [container, seen] : encryption) {
    if (seen != "yes") {
      line("> **Note:** documents stored upstream in container `" + container +
           "` are plaintext: this build of cosmoseal did not encrypt them, so the encrypted "
           "candidates measured the pass-through path. Re-run after field encryption is "
           "integrated.");
      line("");
    }
  }

  for (const char* workload : {"doc1k", "page64k"}) {
    bool any = false;
    for (const Candidate& c : cands) any = any || c.workload == workload;
    if (!any) continue;
    line(std::string("## Workload ") + workload + ": " + workloadText(workload));
    line("");
    line("| candidate | req/s | p50 ms | p99 ms | p99.9 ms | proxy CPU us/req (min-max) | x nginx "
         "CPU/req | proxy/upstream CPU | x nginx (normalized) | upstream us/req | bench us/req | "
         "errors | max foreign CPU % |");
    line("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const Candidate& c : cands) {
      if (c.workload != workload) continue;
      const std::string range = std::isnan(c.proxy_us)
                                    ? "-"
                                    : fmt(c.proxy_us, 1) + " (" + fmt(c.proxy_us_min, 1) + "-" +
                                          fmt(c.proxy_us_max, 1) + ")";
      line("| " + c.name + " | " + fmtCount(c.rps) + " | " + fmt(c.p50, 3) + " | " +
           fmt(c.p99, 3) + " | " + fmt(c.p999, 3) + " | " + range + " | " +
           fmt(c.ratio_vs_nginx) + " | " + fmt(c.proxy_per_upstream) + " | " +
           fmt(c.normalized_ratio_vs_nginx) + " | " + fmt(c.upstream_us, 1) + " | " +
           fmt(c.bench_us, 1) + " | " + std::to_string(c.errors) + " | " +
           fmt(c.foreign_max, 0) + " |");
    }
    line("");
  }

  if (!memory.empty()) {
    line("## Memory");
    line("");
    line("| proxy | RSS at start (cold) | RSS idle after the runs | with idle connections | "
         "growth | per connection |");
    line("|---|---:|---:|---:|---:|---:|");
    for (const auto& [proxy, m] : memory) {
      line("| " + proxy + " | " + fmt(m.cold_mb, 1) + " MB | " + fmt(m.before_mb, 1) + " MB | " +
           (m.present ? fmt(m.held_mb, 1) + " MB (" + std::to_string(m.established) + " conns)"
                      : "-") +
           " | " + (m.present ? "+" + fmt(m.delta_mb, 1) + " MB" : "-") + " | " +
           fmt(m.per_conn_kb, 1) + " KB |");
    }
    line("");
    line("nginx figures are master + worker; cosmoseal is one process (workers: 1).");
    line("");
  }

  line("## How to read this");
  line("");
  line("* **proxy CPU us/req** is the proxy process's on-CPU time (all threads, from "
       "/proc/PID/task/*/schedstat, sampled at the edges of the measured window) divided by the "
       "requests completed in that window. It includes the loopback TCP work done in the "
       "process's context. It is the main metric: it does not depend on which CPU is the "
       "bottleneck.");
  line("* **x nginx CPU/req** is the median over repeats of (candidate / nginx) in the same "
       "repeat, on the same workload. **x nginx (normalized)** divides each side by the fake "
       "upstream's CPU per request in the same run first, which cancels host-wide slowdowns "
       "(ref/perf-baselines.md §5: the most stable metric).");
  line("* **req/s and latency** are capped by the CPU that runs the load generator and the "
       "upstream together; in a closed loop, latency is mostly queueing (connections / "
       "throughput). Compare them between candidates, not with production.");
  line("* **max foreign CPU %** is the worst 1-second share of a core used by processes other "
       "than the proxy, the upstream and the load generator during a run: above ~25% the run "
       "was disturbed by other tenants.");
  line("");

  line("## Every run");
  line("");
  line("| candidate | repeat | req/s | p50 ms | p99 ms | proxy us/req | upstream us/req | errors | "
       "foreign CPU % avg/max |");
  line("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const Candidate& c : cands) {
    for (const Run& r : c.runs) {
      line("| " + c.name + " | " + std::to_string(r.rep) + " | " + fmtCount(r.rps) + " | " +
           fmt(r.p50, 3) + " | " + fmt(r.p99, 3) + " | " + fmt(r.proxy_us, 1) + " | " +
           fmt(r.upstream_us, 1) + " | " + std::to_string(r.errors) +
           (r.error_text.empty() ? "" : " (" + r.error_text + ")") + " | " +
           fmt(r.foreign_avg, 0) + "/" + fmt(r.foreign_max, 0) + " |");
    }
  }
  line("");
  line("Raw data: `raw/*.json` (one per run, cosmoseal-bench --json), `meta.json`, "
       "`summary.json`; plot: `plot.png` (from `plot.gp`).");

  {
    std::ofstream f(dir + "/report.md", std::ios::trunc);
    f << md;
    if (!f) {
      std::fprintf(stderr, "report: cannot write %s/report.md\n", dir.c_str());
      return 1;
    }
  }

  // ---- summary.json ----
  JsonWriter j;
  j.beginObject();
  j.key("candidates").beginArray();
  for (const Candidate& c : cands) {
    j.beginObject();
    j.kv("name", c.name);
    j.kv("workload", c.workload);
    j.kv("runs", static_cast<uint64_t>(c.runs.size()));
    j.kv("requests_per_s", c.rps);
    j.kv("p50_ms", c.p50);
    j.kv("p90_ms", c.p90);
    j.kv("p99_ms", c.p99);
    j.kv("p99_9_ms", c.p999);
    j.kv("proxy_cpu_us_per_request", c.proxy_us);
    j.kv("upstream_cpu_us_per_request", c.upstream_us);
    j.kv("bench_cpu_us_per_request", c.bench_us);
    j.kv("proxy_per_upstream_cpu", c.proxy_per_upstream);
    j.kv("ratio_vs_nginx", c.ratio_vs_nginx);
    j.kv("normalized_ratio_vs_nginx", c.normalized_ratio_vs_nginx);
    j.kv("errors", c.errors);
    j.kv("max_foreign_cpu_pct", c.foreign_max);
    j.endObject();
  }
  j.endArray();
  j.key("goals").beginArray();
  for (const Goal& g : goals) {
    j.beginObject();
    j.kv("goal", g.what);
    j.kv("measured", g.measured);
    j.kv("target", g.target);
    if (g.available) {
      j.kv("result", g.pass ? "PASS" : "MISS");
    } else {
      j.kv("result", "n/a");
    }
    j.kv("note", g.note);
    j.endObject();
  }
  j.endArray();
  j.kv("max_foreign_cpu_pct", max_foreign);
  j.endObject();
  {
    std::ofstream f(dir + "/summary.json", std::ios::trunc);
    f << j.str() << "\n";
  }

  // ---- plot ----
  {
    std::ofstream f(dir + "/plot.dat", std::ios::trunc);
    f << "# candidate p50_ms p90_ms p99_ms p99.9_ms proxy_us_per_req upstream_us_per_req\n";
    for (const Candidate& c : cands) {
      f << c.name << " " << fmt(c.p50, 4) << " " << fmt(c.p90, 4) << " " << fmt(c.p99, 4) << " "
        << fmt(c.p999, 4) << " " << fmt(c.proxy_us, 2) << " " << fmt(c.upstream_us, 2) << "\n";
    }
  }
  {
    std::ofstream f(dir + "/plot.gp", std::ios::trunc);
    f << "# gnuplot plot.gp -> plot.png (written by cosmoseal-bench report)\n"
         "set terminal pngcairo size 1500,650 font 'sans,10'\n"
         "set output 'plot.png'\n"
         "set datafile missing '-'\n"
         "set multiplot layout 1,2 title 'cosmoseal vs nginx: medians of "
      << repeats << " alternating repeats (" << getString(meta, "/started_at")
      << ")'\n"
         "set style data histograms\n"
         "set style histogram clustered gap 1\n"
         "set style fill solid 0.85 border -1\n"
         "set boxwidth 0.9\n"
         "set xtics rotate by -35 noenhanced\n"
         "set key top left noenhanced\n"
         "set grid ytics\n"
         "set title 'Latency percentiles (ms, log scale)'\n"
         "set logscale y\n"
         "plot 'plot.dat' using 2:xtic(1) title 'p50', '' using 3 title 'p90', "
         "'' using 4 title 'p99', '' using 5 title 'p99.9'\n"
         "unset logscale y\n"
         "set yrange [0:*]\n"
         "set title 'CPU per request (us, schedstat)'\n"
         "plot 'plot.dat' using 6:xtic(1) title 'proxy', '' using 7 title 'fake upstream'\n"
         "unset multiplot\n";
  }
  std::printf("report: wrote %s/report.md, summary.json, plot.dat, plot.gp\n", dir.c_str());
  return 0;
}

}  // namespace cosmoseal::bench
