#pragma once

// Reading CPU and memory figures from /proc (Linux), the method of ref/perf-baselines.md §2:
//   * a process's on-CPU time = sum over /proc/<pid>/task/*/schedstat of the first field
//     (nanoseconds, exact, includes loopback softirq work done in the process's context);
//   * box-wide busy time from /proc/stat (USER_HZ ticks -> ns), to compute how much CPU other
//     processes used during a run ("foreign CPU");
//   * resident memory from /proc/<pid>/status (VmRSS).
// All functions return 0 / false when the process is gone or /proc is unreadable.

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace cosmoseal::bench {

// On-CPU nanoseconds of every thread of `pid` that is alive now (pid 0 = this process).
uint64_t processCpuNs(pid_t pid);

// VmRSS of `pid` in KiB (0 if unknown).
uint64_t processRssKb(pid_t pid);

// Threads of `pid` (0 = unknown).
int processThreadCount(pid_t pid);

struct BoxCpu {
  uint64_t busy_ns = 0;   // user + nice + system + irq + softirq + steal, all CPUs
  uint64_t total_ns = 0;  // busy + idle + iowait
};
bool readBoxCpu(BoxCpu* out);

// Number of online CPUs.
int onlineCpus();

// "AMD EPYC ..." from /proc/cpuinfo, or "".
std::string cpuModelName();

}  // namespace cosmoseal::bench
