#include "bench/harness/procstat.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>

namespace cosmoseal::bench {

namespace {

bool readSmallFile(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr) return false;
  char buf[4096];
  out->clear();
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  std::fclose(f);
  return true;
}

std::string procDir(pid_t pid) {
  return pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid);
}

}  // namespace

uint64_t processCpuNs(pid_t pid) {
  const std::string task_dir = procDir(pid) + "/task";
  DIR* d = opendir(task_dir.c_str());
  if (d == nullptr) return 0;
  uint64_t total = 0;
  std::string text;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    if (!readSmallFile(task_dir + "/" + e->d_name + "/schedstat", &text)) continue;
    total += std::strtoull(text.c_str(), nullptr, 10);
  }
  closedir(d);
  return total;
}

uint64_t processRssKb(pid_t pid) {
  std::string text;
  if (!readSmallFile(procDir(pid) + "/status", &text)) return 0;
  const size_t at = text.find("\nVmRSS:");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + 7, nullptr, 10);
}

int processThreadCount(pid_t pid) {
  std::string text;
  if (!readSmallFile(procDir(pid) + "/status", &text)) return 0;
  const size_t at = text.find("\nThreads:");
  if (at == std::string::npos) return 0;
  return static_cast<int>(std::strtol(text.c_str() + at + 9, nullptr, 10));
}

bool readBoxCpu(BoxCpu* out) {
  std::string text;
  if (!readSmallFile("/proc/stat", &text) || text.compare(0, 4, "cpu ") != 0) return false;
  unsigned long long v[10] = {};
  const int n = std::sscanf(text.c_str() + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                            &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
  if (n < 8) return false;
  const long hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
  const uint64_t ns_per_tick = 1000000000ULL / static_cast<uint64_t>(hz);
  // user nice system idle iowait irq softirq steal
  const uint64_t busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  const uint64_t idle = v[3] + v[4];
  out->busy_ns = busy * ns_per_tick;
  out->total_ns = (busy + idle) * ns_per_tick;
  return true;
}

int onlineCpus() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

std::string cpuModelName() {
  std::string text;
  if (!readSmallFile("/proc/cpuinfo", &text)) return "";
  const size_t at = text.find("model name");
  if (at == std::string::npos) return "";
  const size_t colon = text.find(':', at);
  const size_t eol = text.find('\n', at);
  if (colon == std::string::npos || eol == std::string::npos || colon > eol) return "";
  std::string name = text.substr(colon + 1, eol - colon - 1);
  while (!name.empty() && name.front() == ' ') name.erase(0, 1);
  return name;
}

}  // namespace cosmoseal::bench
