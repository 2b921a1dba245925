// Storage figures (issue 7): block append and read throughput with the gates on
// and off (same run: /batching:0 vs /batching:1, /cache:0 vs /cache:1), and the
// latency of one synced safety-record write on this machine's disk.
// Restart figures: a pending-block put made durable with the safety record (the
// node's persist-before-send step), and a full scan of a state of 100k accounts
// with state_range pages (the store's share of a ledger restore).
//
// Blocks are 64 KiB of random bytes (a mid-sized ML-DSA payload); the store lives
// in the system temp directory. Appends are flushed at the end of every
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

struct BenchStore {
  fs::path path;
  std::unique_ptr<Store> store;
  explicit BenchStore(const char* name, std::uint64_t keep = 100000) {
    path = fs::temp_directory_path() / (std::string("kestrel-bench-") + name + "-" + std::to_string(::getpid()));
    fs::remove_all(path);
    Options o;
    o.path = path.string();
    o.cluster_id = sha256(as_bytes("bench"));
    o.keep_blocks = keep;
    store = std::move(Store::open(o)).value();
  }
  ~BenchStore() {
    store.reset();
    fs::remove_all(path);
  }
};

Bytes random_block(std::uint64_t seed, std::size_t size) {
  Prng prng(seed);
  Bytes b(size);
  prng.fill(b);
  return b;
}

// Appends 64 blocks per iteration and makes them durable (flush).
void BM_StoreAppend(benchmark::State& state) {
  ScopedGate batching(Gate::storage_write_batching, state.range(0) != 0);
  BenchStore bench("append", 4096);  // pruning on, as in a validator
  const Bytes block = random_block(1, 64 * 1024);
  const Bytes cert(3309 * 3, 7);
  const Bytes receipts(400, 1);
  std::uint64_t height = 0;
  for (auto _ : state) {
    for (int i = 0; i < 64; ++i) {
      ++height;
      auto s = bench.store->append_block(height, sha256(as_bytes(std::to_string(height))), block, cert, receipts);
      if (!s) state.SkipWithError(describe(s.error()));
    }
    if (!bench.store->flush()) state.SkipWithError("flush failed");
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 64));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * 64 * block.size()));
}
BENCHMARK(BM_StoreAppend)->ArgName("batching")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Reads the last 64 committed blocks in turn (the catch-up / fetch pattern).
void BM_StoreReadRecent(benchmark::State& state) {
  ScopedGate cache(Gate::storage_block_cache, state.range(0) != 0);
  BenchStore bench("read");
  const std::uint64_t blocks = 256;
  for (std::uint64_t h = 1; h <= blocks; ++h) {
    (void)bench.store->append_block(h, sha256(as_bytes(std::to_string(h))), random_block(h, 64 * 1024), {}, {});
  }
  (void)bench.store->flush();
  std::uint64_t h = blocks - 63;
  for (auto _ : state) {
    auto b = bench.store->block_at(h);
    if (!b) state.SkipWithError(describe(b.error()));
    benchmark::DoNotOptimize(b);
    h = h == blocks ? blocks - 63 : h + 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_StoreReadRecent)->ArgName("cache")->Arg(0)->Arg(1)->UseRealTime();

// One synced safety-record write (~the size of a record with a high QC of 3
// ML-DSA-65 signatures); the latency a vote waits for.
void BM_StoreSafetyRecordSync(benchmark::State& state) {
  BenchStore bench("safety");
  Bytes record = random_block(9, 12 * 1024);
  std::uint64_t view = 0;
  for (auto _ : state) {
    record[0] = static_cast<std::uint8_t>(++view);
    if (!bench.store->write_safety_record(record)) state.SkipWithError("write failed");
  }
}
BENCHMARK(BM_StoreSafetyRecordSync)->Unit(benchmark::kMicrosecond)->UseRealTime();

// One pending block of range(0) bytes put and made durable with the safety record
// (one synced write for both); the previous view's block is deleted in the same
// write, so the pending family stays small. /0 is the safety record alone.
void BM_StorePendingBlockPutSync(benchmark::State& state) {
  BenchStore bench("pending");
  const auto size = static_cast<std::size_t>(state.range(0));
  Bytes block = random_block(3, std::max<std::size_t>(size, 1));
  Bytes record = random_block(9, 12 * 1024);
  std::uint64_t view = 0;
  Hash32 previous{};
  for (auto _ : state) {
    ++view;
    record[0] = static_cast<std::uint8_t>(view);
    if (size > 0) {
      block[0] = static_cast<std::uint8_t>(view);
      block[1] = static_cast<std::uint8_t>(view >> 8);
      const Hash32 id = sha256(as_bytes(std::to_string(view)));
      if (!bench.store->put_pending_block(id, block) || !bench.store->delete_pending_block(previous)) {
        state.SkipWithError("pending write failed");
      }
      previous = id;
    }
    if (!bench.store->write_safety_record(record)) state.SkipWithError("write failed");
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_StorePendingBlockPutSync)
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
  for (std::size_t i = 0; i < entries; ++i) {
    Bytes key{'a'};
    const auto id = sha256(as_bytes(std::to_string(i)));
    key.insert(key.end(), id.bytes.begin(), id.bytes.end());
    if (!bench.store->put_state(key, Bytes(16, static_cast<std::uint8_t>(i)))) state.SkipWithError("put failed");
  }
  if (!bench.store->flush()) state.SkipWithError("flush failed");
  Options o;
  o.path = bench.path.string();
  o.cluster_id = sha256(as_bytes("bench"));
  o.keep_blocks = 100000;
  bench.store.reset();
  bench.store = std::move(Store::open(o)).value();
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
