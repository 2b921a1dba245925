// Hot-path cost of metric updates (they must be cheap enough to leave on).
#include <benchmark/benchmark.h>

#include "perf/perf.h"

namespace kestrel::perf {
namespace {

void BM_CounterAdd(benchmark::State& state) {
  Counter c;
  for (auto _ : state) c.add();
  benchmark::DoNotOptimize(c.value());
}
BENCHMARK(BM_CounterAdd);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram h;
  std::uint64_t v = 12345;
  for (auto _ : state) {
    h.observe(v);
    v = v * 6364136223846793005ULL + 1442695040888963407ULL;
    v >>= 20;
  }
  benchmark::DoNotOptimize(h.count());
}
BENCHMARK(BM_HistogramObserve);

}  // namespace
}  // namespace kestrel::perf
