#include "bench/harness/report.h"

#include <cstdio>

namespace cosmoseal::bench {

int runReport(int, char**) {
  std::fprintf(stderr, "report: not implemented yet\n");
  return 1;
}

}  // namespace cosmoseal::bench
