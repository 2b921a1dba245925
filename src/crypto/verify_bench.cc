// Verification cache hit cost against a plain ML-DSA-65 verification, and
// parallel batch verification throughput (signatures per second) with 1 and 2
// threads (threads count the caller; 1 = no workers).
#include <benchmark/benchmark.h>

#include <vector>

#include "common/gates.h"
#include "crypto/parallel_verify.h"
#include "crypto/verify_cache.h"

namespace kestrel::crypto {
namespace {

void BM_VerifyCacheHit(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_verify_cache, true);
  auto signer = generate_signer(SignatureScheme::ml_dsa_65);
  const Bytes message(200, 'm');
  Bytes signature;
  signer->sign(message, signature);
  VerifyCache cache(1024);
  KESTREL_ASSERT(cache.verify(signer->verifier(), message, signature).ok());
  for (auto _ : state) {
    auto status = cache.verify(signer->verifier(), message, signature);
    benchmark::DoNotOptimize(status);
  }
  state.SetLabel("ml-dsa-65, 200-byte message");
}
BENCHMARK(BM_VerifyCacheHit)->Unit(benchmark::kMicrosecond);

void BM_VerifyCacheMissMlDsa65(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_verify_cache, false);  // gate off: plain verification
  auto signer = generate_signer(SignatureScheme::ml_dsa_65);
  const Bytes message(200, 'm');
  Bytes signature;
  signer->sign(message, signature);
  VerifyCache cache(1024);
  for (auto _ : state) {
    auto status = cache.verify(signer->verifier(), message, signature);
    benchmark::DoNotOptimize(status);
  }
}
BENCHMARK(BM_VerifyCacheMissMlDsa65)->Unit(benchmark::kMicrosecond);

void BM_ParallelVerifyMlDsa65(benchmark::State& state) {
  ScopedGate gate(Gate::crypto_parallel_verify, true);
  ScopedGate no_cache(Gate::crypto_verify_cache, false);
  constexpr std::size_t batch = 86;  // the n - f votes of a QC with n = 128
  std::vector<std::unique_ptr<Signer>> signers;
  for (int i = 0; i < 8; ++i) signers.push_back(generate_signer(SignatureScheme::ml_dsa_65));
  std::vector<Bytes> messages, signatures;
  for (std::size_t i = 0; i < batch; ++i) {
    messages.push_back(Bytes{static_cast<std::uint8_t>(i), 'v', 'o', 't', 'e'});
    Bytes signature;
    signers[i % signers.size()]->sign(messages.back(), signature);
    signatures.push_back(std::move(signature));
  }
  std::vector<VerifyItem> items;
  for (std::size_t i = 0; i < batch; ++i) items.push_back({&signers[i % signers.size()]->verifier(), messages[i], signatures[i]});
  ParallelVerifier verifier(static_cast<std::size_t>(state.range(0)));
  std::vector<std::uint8_t> valid(batch);
  for (auto _ : state) {
    auto status = verifier.verify_batch(items, valid);
    benchmark::DoNotOptimize(status);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch));
  state.SetLabel("batch of 86 ml-dsa-65 signatures");
}
BENCHMARK(BM_ParallelVerifyMlDsa65)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kestrel::crypto
