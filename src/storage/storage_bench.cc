// Storage figures: commits (append_commit and apply_execution) and reads with the
// gates on and off (same run: /batching:0 vs /batching:1, /cache:0 vs /cache:1),
// and the latency of one synced journal write on this machine's disk.
// Restart figures: a journal-owned unit put made durable with the journal's record
// (the node's persist-before-send step), and a full scan of a state of 100k
// accounts with state_range pages (the store's share of a ledger restore).
//
// Units are 64 KiB of random bytes (a mid-sized ML-DSA payload); the store lives
// in the system temp directory. Commits are flushed at the end of every
// iteration's group, so the figure includes the syncs it needs.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <filesystem>

#include "common/gates.h"
#include "common/prng.h"
#include "storage/storage.h"

namespace kestrel::storage {
namespace {

namespace fs = std::filesystem;

Options bench_options(const fs::path& path, std::uint64_t keep) {
  Options o;
  o.path = path.string();
  o.cluster_id = sha256(as_bytes("bench"));
  o.keep_commits = keep;
  return o;
}

struct BenchStore {
  fs::path path;
  std::unique_ptr<Store> store;
  explicit BenchStore(const char* name, std::uint64_t keep = 100000) {
    path = fs::temp_directory_path() / (std::string("kestrel-bench-") + name + "-" + std::to_string(::getpid()));
    fs::remove_all(path);
    store = std::move(Store::open(bench_options(path, keep))).value();
  }
  ~BenchStore() {
    store.reset();
    fs::remove_all(path);
  }
};

Bytes random_bytes(std::uint64_t seed, std::size_t size) {
  Prng prng(seed);
  Bytes b(size);
  prng.fill(b);
  return b;
}

// 64 commits per iteration, each appended and executed (receipts and digest, as a
// node writes them), made durable with flush(). /unit_first:1 stores each unit
// in the journal first (as the core does at its proposal), so the commit writes
// only its index: the write-once path.
void BM_StoreCommit(benchmark::State& state) {
  ScopedGate batching(Gate::storage_write_batching, state.range(0) != 0);
  const bool unit_first = state.range(1) != 0;
  BenchStore bench("commit", 4096);  // pruning on, as in a validator
  const Bytes unit = random_bytes(1, 64 * 1024);
  const Bytes proof(3309 * 3, 7);
  const Bytes receipts(400, 1);
  std::uint64_t height = 0;
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) {
      ++height;
      const Hash32 id = sha256(as_bytes(std::to_string(height)));
      if (unit_first && !bench.store->unit_put(id, unit)) state.SkipWithError("unit_put failed");
      auto s = bench.store->append_commit(height, id, unit, proof);
      if (!s) state.SkipWithError(describe(s.error()));
      s = bench.store->apply_execution(height, receipts, {}, id);
      if (!s) state.SkipWithError(describe(s.error()));
    }
    if (!bench.store->flush()) state.SkipWithError("flush failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 64));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 64 * unit.size()));
}
BENCHMARK(BM_StoreCommit)
    ->ArgNames({"batching", "unit_first"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Reads the last 64 commits in turn (the restart tail and replay pattern).
void BM_StoreReadRecent(benchmark::State& state) {
  ScopedGate cache(Gate::storage_block_cache, state.range(0) != 0);
  BenchStore bench("read");
  const std::uint64_t commits = 256;
  for (std::uint64_t h = 1; h <= commits; ++h) {
    (void)bench.store->append_commit(h, sha256(as_bytes(std::to_string(h))), random_bytes(h, 64 * 1024), {});
  }
  (void)bench.store->flush();
  std::uint64_t h = commits - 63;
  for (auto _ : state) {
    auto c = bench.store->commit_at(h);
    if (!c) state.SkipWithError(describe(c.error()));
    benchmark::DoNotOptimize(c);
    h = h == commits ? commits - 63 : h + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_StoreReadRecent)->ArgName("cache")->Arg(0)->Arg(1)->UseRealTime();

// One synced journal write of a 12 KiB record (HotStuff-2's safety record with a
// high QC of 3 ML-DSA-65 signatures): the latency a vote waits for.
void BM_StoreJournalPutSync(benchmark::State& state) {
  BenchStore bench("journal");
  Bytes record = random_bytes(9, 12 * 1024);
  std::uint64_t view = 0;
  for (auto _ : state) {
    record[0] = static_cast<std::uint8_t>(++view);
    if (!bench.store->journal_put(Bytes{'s'}, record) || !bench.store->flush()) state.SkipWithError("write failed");
  }
}
BENCHMARK(BM_StoreJournalPutSync)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One journal-owned unit of range(0) bytes put and made durable with the journal's
// record (one synced write for both); the previous view's unit is erased in the
// same write, so the journal stays small. /0 is the record alone.
void BM_StoreUnitPutSync(benchmark::State& state) {
  BenchStore bench("unit");
  const auto size = static_cast<std::size_t>(state.range(0));
  Bytes unit = random_bytes(3, std::max<std::size_t>(size, 1));
  Bytes record = random_bytes(9, 12 * 1024);
  std::uint64_t view = 0;
  Hash32 previous{};
  for (auto _ : state) {
    ++view;
    record[0] = static_cast<std::uint8_t>(view);
    if (size > 0) {
      unit[0] = static_cast<std::uint8_t>(view);
      unit[1] = static_cast<std::uint8_t>(view >> 8);
      const Hash32 id = sha256(as_bytes(std::to_string(view)));
      if (!bench.store->unit_put(id, unit) || !bench.store->unit_erase(previous)) {
        state.SkipWithError("unit write failed");
      }
      previous = id;
    }
    if (!bench.store->journal_put(Bytes{'s'}, record) || !bench.store->flush()) state.SkipWithError("write failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_StoreUnitPutSync)
    ->ArgName("bytes")
    ->Arg(0)
    ->Arg(4 * 1024)
    ->Arg(64 * 1024)
    ->Arg(1024 * 1024)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

// Reads the whole state (100k account entries of 33 + 16 bytes, as the ledger
// writes them) with state_range pages of 1,024, from SST files (the store was
// closed and reopened, as at a restart).
void BM_StoreStateRangeScan(benchmark::State& state) {
  BenchStore bench("scan");
  const auto entries = static_cast<std::size_t>(state.range(0));
  std::vector<Bytes> keys, values;
  for (std::size_t i = 0; i < entries; ++i) {
    Bytes key{'a'};
    const auto id = sha256(as_bytes(std::to_string(i)));
    key.insert(key.end(), id.bytes.begin(), id.bytes.end());
    keys.push_back(std::move(key));
    values.emplace_back(16, static_cast<std::uint8_t>(i));
  }
  std::vector<StateWrite> genesis;
  for (std::size_t i = 0; i < entries; ++i) genesis.push_back({keys[i], values[i]});
  if (!bench.store->apply_genesis(genesis) || !bench.store->flush()) state.SkipWithError("genesis failed");
  bench.store.reset();
  bench.store = std::move(Store::open(bench_options(bench.path, 100000))).value();
  for (auto _ : state) {
    std::size_t seen = 0;
    Bytes after;
    for (;;) {
      auto page = bench.store->state_range(after, 1024);
      if (!page) {
        state.SkipWithError(describe(page.error()));
        break;
      }
      if (page->empty()) break;
      seen += page->size();
      after = page->back().first;
    }
    if (seen != entries) state.SkipWithError("scan missed entries");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * entries));
}
BENCHMARK(BM_StoreStateRangeScan)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace kestrel::storage
