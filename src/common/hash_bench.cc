#include <benchmark/benchmark.h>

#include "common/gates.h"
#include "common/hash.h"
#include "common/prng.h"

namespace kestrel {
namespace {

// Arg 0: input bytes; arg 1: gate common.sha256_reuse_context (0 = one-shot SHA256()).
void BM_Sha256(benchmark::State& state) {
  ScopedGate gate(Gate::common_sha256_reuse_context, state.range(1) == 1);
  Bytes data(static_cast<std::size_t>(state.range(0)));
  Prng(2).fill(data);
  for (auto _ : state) {
    Hash32 h = sha256(data);
    benchmark::DoNotOptimize(h);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * data.size()));
}
BENCHMARK(BM_Sha256)->ArgNames({"bytes", "reuse"})->ArgsProduct({{64, 1024, 1 << 20}, {0, 1}});

}  // namespace
}  // namespace kestrel
