// ML-DSA micro-benchmarks: keygen, sign, verify for every parameter set on both
// code paths (arg avx2 = 0 portable, 1 AVX2; the AVX2 rows are skipped on CPUs
// without it). Sign cycles through 256 different messages because the number
// of rejection-loop attempts varies per message; the mean over many messages
// is the figure to compare (a single message would measure one fixed count).
#include <benchmark/benchmark.h>

#include <optional>
#include <string>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/mldsa.h"

namespace kestrel::crypto::mldsa {
namespace {

constexpr ParameterSet sets[] = {ParameterSet::ml_dsa_44, ParameterSet::ml_dsa_65, ParameterSet::ml_dsa_87};
constexpr std::size_t message_count = 256;

// Arg avx2: 0 portable, 1 AVX2 (crypto.avx512 off: the figures the issue's
// AVX2 targets are about), 2 AVX2 with the AVX-512 Keccak (crypto.avx512 on).
struct PathGates {
  std::optional<ScopedGate> avx2, avx512;
};

bool select_path(benchmark::State& state, PathGates& gate) {
  const int path = static_cast<int>(state.range(1));
  if (path >= 1 && !cpu_features().avx2) {
    state.SkipWithError("CPU without AVX2");
    return false;
  }
  if (path == 2 && !(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))) {
    state.SkipWithError("CPU without AVX-512F/VL");
    return false;
  }
  gate.avx2.emplace(Gate::crypto_avx2, path >= 1);
  gate.avx512.emplace(Gate::crypto_avx512, path == 2);
  static constexpr const char* names[] = {" portable", " avx2", " avx512"};
  state.SetLabel(std::string(parameter_set_name(sets[state.range(0)])) + names[path]);
  return true;
}

void BM_MlDsaKeyGen(benchmark::State& state) {
  PathGates gate;
  if (!select_path(state, gate)) return;
  const ParameterSet set = sets[state.range(0)];
  Bytes pk(public_key_bytes(set)), sk(secret_key_bytes(set));
  std::array<std::uint8_t, seed_bytes> xi{};
  std::uint64_t counter = 0;
  for (auto _ : state) {
    xi[0] = static_cast<std::uint8_t>(counter);
    xi[1] = static_cast<std::uint8_t>(++counter >> 8);
    key_gen_internal(set, xi, pk, sk);
    benchmark::DoNotOptimize(pk.data());
  }
}

struct Fixture {
  Bytes pk, sk;
  std::vector<Bytes> messages;
  std::vector<Bytes> signatures;
};

Fixture make_fixture(ParameterSet set) {
  Fixture f{Bytes(public_key_bytes(set)), Bytes(secret_key_bytes(set)), {}, {}};
  std::array<std::uint8_t, seed_bytes> xi{};
  xi.fill(0x42);
  key_gen_internal(set, xi, f.pk, f.sk);
  Prng prng(7);
  for (std::size_t i = 0; i < message_count; ++i) {
    Bytes message(64);
    prng.fill(message);
    Bytes signature(signature_bytes(set));
    KESTREL_ASSERT(sign(set, f.sk, message, {}, Randomness::deterministic, signature).ok());
    f.messages.push_back(std::move(message));
    f.signatures.push_back(std::move(signature));
  }
  return f;
}

void BM_MlDsaSign(benchmark::State& state) {
  PathGates gate;
  if (!select_path(state, gate)) return;
  const ParameterSet set = sets[state.range(0)];
  const Fixture f = make_fixture(set);
  Bytes signature(signature_bytes(set));
  std::size_t i = 0;
  for (auto _ : state) {
    auto status = sign(set, f.sk, f.messages[i++ % message_count], {}, Randomness::deterministic, signature);
    benchmark::DoNotOptimize(status);
  }
}

void BM_MlDsaVerify(benchmark::State& state) {
  PathGates gate;
  if (!select_path(state, gate)) return;
  const ParameterSet set = sets[state.range(0)];
  const Fixture f = make_fixture(set);
  std::size_t i = 0;
  for (auto _ : state) {
    const std::size_t j = i++ % message_count;
    auto status = verify(set, f.pk, f.messages[j], {}, f.signatures[j]);
    if (!status.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(status);
  }
}

// Expanded keys: what Kestrel's Signer/Verifier objects use (the per-key
// ExpandA and NTTs done once per key, not per message).
void BM_MlDsaSignExpandedKey(benchmark::State& state) {
  PathGates gate;
  if (!select_path(state, gate)) return;
  const ParameterSet set = sets[state.range(0)];
  const Fixture f = make_fixture(set);
  auto key = expand_secret_key(set, f.sk);
  Bytes signature(signature_bytes(set));
  std::size_t i = 0;
  for (auto _ : state) {
    auto status = sign(*key, f.messages[i++ % message_count], {}, Randomness::deterministic, signature);
    benchmark::DoNotOptimize(status);
  }
}

void BM_MlDsaVerifyExpandedKey(benchmark::State& state) {
  PathGates gate;
  if (!select_path(state, gate)) return;
  const ParameterSet set = sets[state.range(0)];
  const Fixture f = make_fixture(set);
  auto key = expand_public_key(set, f.pk);
  std::size_t i = 0;
  for (auto _ : state) {
    const std::size_t j = i++ % message_count;
    auto status = verify(*key, f.messages[j], {}, f.signatures[j]);
    if (!status.ok()) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(status);
  }
}

void path_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"set", "avx2"});
  for (int set = 0; set < 3; ++set) {
    for (int avx2 = 0; avx2 < 3; ++avx2) b->Args({set, avx2});
  }
  b->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_MlDsaKeyGen)->Apply(path_args);
BENCHMARK(BM_MlDsaSign)->Apply(path_args);
BENCHMARK(BM_MlDsaVerify)->Apply(path_args);
BENCHMARK(BM_MlDsaSignExpandedKey)->Apply(path_args);
BENCHMARK(BM_MlDsaVerifyExpandedKey)->Apply(path_args);

}  // namespace
}  // namespace kestrel::crypto::mldsa

// The NTT layer alone (one forward and one inverse transform per iteration).
#include "crypto/mldsa/ntt.h"

namespace kestrel::crypto::mldsa {
namespace {

void BM_MlDsaNttRoundTrip(benchmark::State& state) {
  const bool avx2 = state.range(0) != 0;
  if (avx2 && !cpu_features().avx2) {
    state.SkipWithError("CPU without AVX2");
    return;
  }
  detail::Poly a;
  for (int i = 0; i < detail::n; ++i) a.c[i] = i * 7919 % detail::q;
  for (auto _ : state) {
    if (avx2) {
      detail::ntt_avx2(a);
      detail::inverse_ntt_to_montgomery_avx2(a);
    } else {
      detail::ntt_portable(a);
      detail::inverse_ntt_to_montgomery_portable(a);
    }
    benchmark::DoNotOptimize(a);
  }
}
BENCHMARK(BM_MlDsaNttRoundTrip)->ArgName("avx2")->Arg(0)->Arg(1);

}  // namespace
}  // namespace kestrel::crypto::mldsa
