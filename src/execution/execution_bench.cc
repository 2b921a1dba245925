// Ledger execution of transfers on one core (issue 7 figure): blocks of 1,000
// transfers between 1,000 funded accounts, each block on the same ledger with
// every sender's next nonce (so every transfer succeeds and the state digest is
// computed per block, as a validator does). Signatures are not part of execution.
#include <benchmark/benchmark.h>

#include "execution/execution.h"

namespace kestrel::execution {
namespace {

void BM_LedgerTransfers(benchmark::State& state) {
  constexpr std::uint32_t chain = 1;
  const std::size_t accounts = 1000;
  const std::size_t block = static_cast<std::size_t>(state.range(0));
  // Transactions are not signed (the ledger does not verify): fixed sender keys
  // make distinct accounts, so the figure is execution alone.
  std::vector<Transaction> txs;
  std::vector<GenesisAllocation> genesis;
  for (std::size_t i = 0; i < accounts; ++i) {
    Transaction tx;
    tx.chain_id = chain;
    tx.scheme = crypto::SignatureScheme::ed25519;
    tx.sender_public_key = Bytes(32, 0);
    tx.sender_public_key[0] = static_cast<std::uint8_t>(i);
    tx.sender_public_key[1] = static_cast<std::uint8_t>(i >> 8);
    tx.signature = Bytes(64, 0);
    genesis.push_back({sender_of(tx), 1'000'000'000});
    txs.push_back(tx);
  }
  for (std::size_t i = 0; i < accounts; ++i) {
    txs[i].payload = Transfer{genesis[(i * 7 + 1) % accounts].account, 1};
  }
  std::vector<Transaction> blk;
  std::vector<TransactionId> ids;
  for (std::size_t i = 0; i < block; ++i) {
    blk.push_back(txs[i % accounts]);
    ids.push_back(sha256(as_bytes(std::to_string(i))));
  }
  auto ledger = std::move(Ledger::create(chain, genesis)).value();
  std::uint64_t height = 0;
  for (auto _ : state) {
    // Each round uses the next nonce of every sender (block <= accounts keeps one
    // transaction per sender per block).
    for (auto& tx : blk) tx.nonce = height;
    auto r = ledger.execute_block(++height, blk, ids);
    benchmark::DoNotOptimize(r);
    if (!r.ok() || r->receipts.back().status != ReceiptStatus::success) {
      state.SkipWithError("transfer failed");
      break;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * block));
  state.counters["tx_per_s"] = benchmark::Counter(static_cast<double>(state.iterations() * block),
                                                  benchmark::Counter::kIsRate);
}
BENCHMARK(BM_LedgerTransfers)->Arg(1000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kestrel::execution
