#include <benchmark/benchmark.h>

#include "common/gates.h"
#include "common/prng.h"
#include "crypto/keccak.h"

namespace kestrel::crypto::keccak {
namespace {

// One permutation; arg 0 = portable, 1 = the BMI2 build used on AVX2 machines.
void BM_KeccakF1600(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_avx2, state.range(0) == 1);
  State s;
  for (auto _ : state) {
    permute(s);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_KeccakF1600)->ArgName("avx2")->Arg(0)->Arg(1);

// Four permutations per iteration; arg 0 = portable, 1 = AVX2, 2 = AVX-512
// (each when the CPU has it; 1 runs with crypto.avx512 off).
void BM_KeccakF1600x4(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_avx2, state.range(0) >= 1);
  ScopedGate wide(Gate::crypto_avx512, state.range(0) == 2);
  StateX4 s;
  for (auto _ : state) {
    permute_x4(s);
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_KeccakF1600x4)->ArgName("avx2")->Arg(0)->Arg(1)->Arg(2);

// Eight permutations per iteration (permute_x8), paths as above.
void BM_KeccakF1600x8(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_avx2, state.range(0) >= 1);
  ScopedGate wide(Gate::crypto_avx512, state.range(0) == 2);
  StateX4 s, t;
  for (auto _ : state) {
    permute_x8(s, t);
    benchmark::DoNotOptimize(s);
    benchmark::DoNotOptimize(t);
  }
}
BENCHMARK(BM_KeccakF1600x8)->ArgName("avx2")->Arg(0)->Arg(1)->Arg(2);

void BM_Shake128Squeeze(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_avx2, state.range(1) == 1);
  Bytes out(static_cast<std::size_t>(state.range(0)));
  const Bytes seed(34, 7);
  for (auto _ : state) {
    shake128(out, seed);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
}
BENCHMARK(BM_Shake128Squeeze)->ArgNames({"bytes", "avx2"})->Args({168, 0})->Args({168, 1})->Args({4096, 0})->Args({4096, 1});

}  // namespace
}  // namespace kestrel::crypto::keccak
