#pragma once

// Assertion tiers (STYLE.md rule 11). Never use these on peer-controlled data: peers get a
// Status with a detail code, not an abort.
//   COSMOSEAL_ASSERT(c)          debug builds only.
//   COSMOSEAL_RELEASE_ASSERT(c)  always; for memory-safety invariants whose violation would be
//                                worse than a crash.
//   COSMOSEAL_BUG(msg)           a "cannot happen" branch: aborts in debug, counts + logs in release.

#include <atomic>
#include <cstdint>

namespace cosmoseal::common {
[[noreturn]] void assertFailed(const char* expr, const char* file, int line) noexcept;
void bugReached(const char* msg, const char* file, int line) noexcept;
uint64_t bugCount() noexcept;
}  // namespace cosmoseal::common

#define COSMOSEAL_RELEASE_ASSERT(cond) \
  ((cond) ? (void)0 : ::cosmoseal::common::assertFailed(#cond, __FILE__, __LINE__))
#ifdef NDEBUG
#define COSMOSEAL_ASSERT(cond) ((void)0)
#else
#define COSMOSEAL_ASSERT(cond) COSMOSEAL_RELEASE_ASSERT(cond)
#endif
#define COSMOSEAL_BUG(msg) ::cosmoseal::common::bugReached(msg, __FILE__, __LINE__)
