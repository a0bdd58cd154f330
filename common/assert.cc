#include "common/assert.h"

#include <cstdio>
#include <cstdlib>

#include "common/log.h"

namespace cosmoseal::common {
namespace {
std::atomic<uint64_t> g_bugs{0};
}

void assertFailed(const char* expr, const char* file, int line) noexcept {
  fprintf(stderr, "cosmoseal: assertion failed: %s at %s:%d\n", expr, file, line);
  abort();
}

void bugReached(const char* msg, const char* file, int line) noexcept {
  g_bugs.fetch_add(1, std::memory_order_relaxed);
#ifndef NDEBUG
  fprintf(stderr, "cosmoseal: BUG: %s at %s:%d\n", msg, file, line);
  abort();
#else
  COSMOSEAL_LOG(kError) << "BUG: " << msg << " at " << file << ":" << line;
#endif
}

uint64_t bugCount() noexcept { return g_bugs.load(std::memory_order_relaxed); }

}  // namespace cosmoseal::common
