// Ledger execution of transfers on one core (issue 7 figure): blocks of 1,000
// transfers between 1,000 funded accounts, each block on the same ledger with
// every sender's next nonce (so every transfer succeeds and the state digest is
// computed per block, as a validator does). Signatures are not part of execution.
//
// Restart figures: Ledger::restore of 10k and 100k accounts from an in-memory page
// source (the store's share is BM_StoreStateRangeScan in storage_bench.cc), and
// one state-hash element update (LtHash16: SHA-256 + 2 KiB of ChaCha20 + lane sum),
// which execute_block pays twice per changed entry.
#include <benchmark/benchmark.h>

#include <algorithm>

#include "execution/execution.h"
#include "execution/lthash.h"

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

// Restores a ledger of N funded accounts (plus one put key per 10 accounts) from
// its entries, 1,024 per page, as a restarting node does (the digest included).
void BM_LedgerRestore(benchmark::State& state) {
  constexpr std::uint32_t chain = 1;
  const auto accounts = static_cast<std::size_t>(state.range(0));
  std::vector<StateEntry> entries;
  for (std::size_t i = 0; i < accounts; ++i) {
    const auto id = sha256(as_bytes(std::to_string(i)));
    Bytes value;
    Writer w(value);
    w.u64(1'000'000 + i);
    w.u64(i % 7);
    entries.emplace_back(account_state_key(id), std::move(value));
    if (i % 10 == 0) entries.emplace_back(kv_state_key(id, as_bytes("k")), Bytes(64, 1));
  }
  std::sort(entries.begin(), entries.end());
  const StatePageSource source = [&](ByteSpan after, std::size_t max) -> std::optional<std::vector<StateEntry>> {
    auto it = after.empty() ? entries.begin()
                            : std::upper_bound(entries.begin(), entries.end(), Bytes(after.begin(), after.end()),
                                               [](const Bytes& key, const StateEntry& e) { return key < e.first; });
    std::vector<StateEntry> page;
    for (; it != entries.end() && page.size() < max; ++it) page.push_back(*it);
    return page;
  };
  for (auto _ : state) {
    auto ledger = Ledger::restore(chain, 42, {}, source);
    if (!ledger) state.SkipWithError(describe(ledger.error()));
    benchmark::DoNotOptimize(ledger);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entries.size()));
  state.counters["entries"] = static_cast<double>(entries.size());
}
BENCHMARK(BM_LedgerRestore)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond);

void BM_StateHashElement(benchmark::State& state) {
  detail::LtHash16 set;
  Hash32 element = sha256(as_bytes("element"));
  for (auto _ : state) {
    set.add(element);
    element.bytes[0]++;
  }
  benchmark::DoNotOptimize(set);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_StateHashElement);

}  // namespace
}  // namespace kestrel::execution
