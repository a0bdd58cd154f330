// Effective-partition-key cost: what recomputing routing from a sealed partition key adds to a
// request (policy/routing/).
//
//   taskset -c 0 ./build/bench/bench_epk --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
//
// The keys are shaped like what the proxy hashes: a deterministic envelope (base64 text of about
// 60 characters) as the header carries it after sealing, and a short plaintext for comparison.

#include <benchmark/benchmark.h>

#include <string>

#include "policy/routing/epk.h"
#include "policy/routing/range_map.h"

namespace cosmoseal::policy {
namespace {

const std::string kSealedKey =
    R"(["AQEAAAAAAAAAAAAAAAAAAAB3l0mCkcQmdG1kbGw4ZfS7Kf+5vT8QmZ0tQ1m2Yw=="])";
const std::string kShortKey = R"(["tenant-0042"])";

PartitionKeyDefinition def(PartitionKeyKind kind, int version, size_t paths) {
  PartitionKeyDefinition d;
  for (size_t k = 0; k < paths; ++k) d.paths.push_back("/p" + std::to_string(k));
  d.kind = kind;
  d.version = version;
  return d;
}

void runEpk(benchmark::State& state, const std::string& key, const PartitionKeyDefinition& d) {
  for (auto _ : state) {
    auto epk = effectivePartitionKey(key, d);
    benchmark::DoNotOptimize(epk);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_EpkV2SealedOneComponent(benchmark::State& state) {
  runEpk(state, kSealedKey, def(PartitionKeyKind::kHash, 2, 1));
}
BENCHMARK(BM_EpkV2SealedOneComponent);

void BM_EpkV2ShortOneComponent(benchmark::State& state) {
  runEpk(state, kShortKey, def(PartitionKeyKind::kHash, 2, 1));
}
BENCHMARK(BM_EpkV2ShortOneComponent);

void BM_EpkV1SealedOneComponent(benchmark::State& state) {
  runEpk(state, kSealedKey, def(PartitionKeyKind::kHash, 1, 1));
}
BENCHMARK(BM_EpkV1SealedOneComponent);

void BM_EpkMultiHashThreeComponents(benchmark::State& state) {
  runEpk(state, R"(["tenant-0042","user-7","AQEAAAAAAAAAAAAAAAAAAAB3l0mCkcQmdG1kbGw4ZfS7"])",
         def(PartitionKeyKind::kMultiHash, 2, 3));
}
BENCHMARK(BM_EpkMultiHashThreeComponents);

// The lookup that follows: the range of an EPK in a map of 100 physical partitions.
void BM_RangeOf100Ranges(benchmark::State& state) {
  std::string body = R"({"PartitionKeyRanges":[)";
  std::string prev;
  for (int k = 0; k < 100; ++k) {
    char hi[40];
    std::snprintf(hi, sizeof(hi), "%08X%024d",
                  static_cast<unsigned>((k + 1) * (0x3FFFFFFFULL / 100)), 0);
    const std::string max = k == 99 ? "FF" : std::string(hi);
    if (k) body += ',';
    body.append(R"({"id":")").append(std::to_string(k)).append(R"(","minInclusive":")");
    body.append(prev).append(R"(","maxExclusive":")").append(max).append(R"("})");
    prev = max;
  }
  body += "]}";
  auto map = PartitionKeyRangeMap::parse(body);
  if (!map.isOk()) {
    state.SkipWithError(std::string(map.status().message()).c_str());
    return;
  }
  const std::string epk = *effectivePartitionKey(kSealedKey, def(PartitionKeyKind::kHash, 2, 1));
  for (auto _ : state) {
    benchmark::DoNotOptimize(map->rangeOf(epk));
  }
}
BENCHMARK(BM_RangeOf100Ranges);

}  // namespace
}  // namespace cosmoseal::policy

BENCHMARK_MAIN();
