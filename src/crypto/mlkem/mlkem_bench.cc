// ML-KEM micro-benchmarks: KeyGen, Encaps, Decaps for the three parameter sets,
// arg avx2 = 0 (portable) or 1 (AVX2, when the CPU has it), in one run so the
// ratio comes from the same conditions.
#include <benchmark/benchmark.h>

#include <vector>

#include "common/gates.h"
#include "crypto/mlkem.h"

namespace kestrel::crypto::mlkem {
namespace {

ParameterSet set_of(std::int64_t bits) {
  return bits == 512 ? ParameterSet::ml_kem_512 : bits == 768 ? ParameterSet::ml_kem_768 : ParameterSet::ml_kem_1024;
}

struct Keys {
  std::vector<std::uint8_t> ek, dk, c;
  std::array<std::uint8_t, 32> k{};
  explicit Keys(ParameterSet set)
      : ek(sizes(set).ek_bytes), dk(sizes(set).dk_bytes), c(sizes(set).ciphertext_bytes) {
    std::array<std::uint8_t, 32> d{1}, z{2}, m{3};
    (void)keygen_internal(set, ek, dk, d, z);
    (void)encaps_internal(set, k, c, ek, m);
  }
};

void BM_MlKemKeyGen(benchmark::State& state) {
  const ParameterSet set = set_of(state.range(0));
  ScopedGate gate(Gate::crypto_avx2, state.range(1) == 1);
  Keys keys(set);
  std::array<std::uint8_t, 32> d{4}, z{5};
  for (auto _ : state) {
    d[0]++;
    benchmark::DoNotOptimize(keygen_internal(set, keys.ek, keys.dk, d, z).ok());
  }
}

void BM_MlKemEncaps(benchmark::State& state) {
  const ParameterSet set = set_of(state.range(0));
  ScopedGate gate(Gate::crypto_avx2, state.range(1) == 1);
  Keys keys(set);
  std::array<std::uint8_t, 32> m{6}, k;
  for (auto _ : state) {
    m[0]++;
    benchmark::DoNotOptimize(encaps_internal(set, k, keys.c, keys.ek, m).ok());
  }
}

// Decaps (Algorithm 21): includes the section 7.3 hash check of dk on every call.
void BM_MlKemDecaps(benchmark::State& state) {
  const ParameterSet set = set_of(state.range(0));
  ScopedGate gate(Gate::crypto_avx2, state.range(1) == 1);
  Keys keys(set);
  std::array<std::uint8_t, 32> k;
  for (auto _ : state) benchmark::DoNotOptimize(decaps(set, k, keys.c, keys.dk).ok());
}

// Decaps_internal (Algorithm 18): for a dk checked once when loaded.
void BM_MlKemDecapsInternal(benchmark::State& state) {
  const ParameterSet set = set_of(state.range(0));
  ScopedGate gate(Gate::crypto_avx2, state.range(1) == 1);
  Keys keys(set);
  std::array<std::uint8_t, 32> k;
  for (auto _ : state) benchmark::DoNotOptimize(decaps_internal(set, k, keys.c, keys.dk).ok());
}

void sets_and_paths(benchmark::internal::Benchmark* b) {
  b->ArgNames({"set", "avx2"});
  for (int set : {512, 768, 1024})
    for (int avx2 : {0, 1}) b->Args({set, avx2});
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_MlKemKeyGen)->Apply(sets_and_paths);
BENCHMARK(BM_MlKemEncaps)->Apply(sets_and_paths);
BENCHMARK(BM_MlKemDecaps)->Apply(sets_and_paths);
BENCHMARK(BM_MlKemDecapsInternal)->Apply(sets_and_paths);

}  // namespace
}  // namespace kestrel::crypto::mlkem
