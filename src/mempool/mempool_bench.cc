// Mempool admission of ML-DSA-65-signed transfers (issue 7 figure): 512
// transactions from 64 senders per iteration, admitted in batches of 128, with 1
// and 2 verifier threads (threads counts the caller) and the verify cache cold
// (cleared before every iteration) or warm (every signature verified before).
// Senders' expanded verifiers are already known to the pool (a warm-up admission
// before timing), as for clients that submit repeatedly. Between iterations the
// pool is emptied outside the timed region.
#include <benchmark/benchmark.h>

#include <map>

#include "common/gates.h"
#include "mempool/mempool.h"

namespace kestrel::mempool {
namespace {

constexpr std::uint32_t chain = 1;

struct SignedSet {
  std::vector<Bytes> encoded;
  std::vector<execution::Transaction> txs;
  SignedSet() {
    for (int s = 0; s < 64; ++s) {
      auto signer = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
      for (std::uint64_t n = 0; n < 8; ++n) {
        txs.push_back(execution::make_signed(*signer, chain, n, execution::Transfer{execution::AccountId{}, 1}));
        encoded.push_back(execution::encode_transaction(txs.back()));
      }
    }
  }
};

const SignedSet& signed_set() {
  static const SignedSet set;
  return set;
}

void BM_MempoolAdmitMlDsa65(benchmark::State& state) {
  const std::size_t threads = static_cast<std::size_t>(state.range(0));
  const bool warm = state.range(1) != 0;
  const auto& set = signed_set();
  ScopedGate parallel(Gate::crypto_parallel_verify, true);
  ScopedGate cached(Gate::crypto_verify_cache, true);
  crypto::VerifyCache cache;
  crypto::ParallelVerifier verifier(threads, &cache);
  std::uint64_t ledger_nonce = 0;  // every sender's next nonce, as the "ledger" says
  Config config;
  config.chain_id = chain;
  Mempool pool(config, verifier, [&](const execution::AccountId&) { return ledger_nonce; });
  const std::vector<ByteSpan> inputs(set.encoded.begin(), set.encoded.end());
  auto admit_all = [&] {
    std::size_t admitted = 0;
    for (std::size_t at = 0; at < inputs.size(); at += 128) {
      auto r = pool.admit(std::span(inputs).subspan(at, std::min<std::size_t>(128, inputs.size() - at)));
      for (const auto& x : r) admitted += x.ok() ? 1 : 0;
    }
    return admitted;
  };
  auto empty_pool = [&] {
    ledger_nonce = 8;
    pool.on_committed(set.txs);
    ledger_nonce = 0;
  };
  (void)admit_all();  // warm-up: senders' verifiers expanded, cache filled
  empty_pool();
  for (auto _ : state) {
    state.PauseTiming();
    if (!warm) cache.clear();
    state.ResumeTiming();
    const std::size_t admitted = admit_all();
    state.PauseTiming();
    if (admitted != inputs.size()) state.SkipWithError("admission refused a valid transaction");
    empty_pool();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * inputs.size()));
}
BENCHMARK(BM_MempoolAdmitMlDsa65)
    ->ArgNames({"threads", "warm"})
    ->Args({1, 0})
    ->Args({2, 0})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace kestrel::mempool
