// Storage figures (issue 7): block append and read throughput with the gates on
// and off (same run: /batching:0 vs /batching:1, /cache:0 vs /cache:1), and the
// latency of one synced safety-record write on this machine's disk.
//
// Blocks are 64 KiB of random bytes (a mid-sized ML-DSA payload); the store lives
// in the system temp directory. Appends are flushed at the end of every
// iteration's group, so the figure includes the syncs it needs.
#include <benchmark/benchmark.h>

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

}  // namespace
}  // namespace kestrel::storage
