#include <benchmark/benchmark.h>

#include "common/hash.h"
#include "common/prng.h"

namespace kestrel {
namespace {

void BM_Sha256(benchmark::State& state) {
  Bytes data(static_cast<std::size_t>(state.range(0)));
  Prng(2).fill(data);
  for (auto _ : state) {
    Hash32 h = sha256(data);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Sha256)->Arg(64)->Arg(1024)->Arg(1 << 20);

}  // namespace
}  // namespace kestrel
