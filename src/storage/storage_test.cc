#include "storage/storage.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>


#include <filesystem>
#include <fstream>
#include <map>

#include "common/gates.h"
#include "common/limits.h"
#include "common/prng.h"
#include "storage/test_util.h"

namespace kestrel::storage {
namespace {

using namespace test;

// Both sides of storage.write_batching and storage.block_cache.
class StoreGates : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    batching_ = std::make_unique<ScopedGate>(Gate::storage_write_batching, std::get<0>(GetParam()));
    cache_ = std::make_unique<ScopedGate>(Gate::storage_block_cache, std::get<1>(GetParam()));
  }
  bool batching() const { return std::get<0>(GetParam()); }
  bool cache() const { return std::get<1>(GetParam()); }
  std::unique_ptr<ScopedGate> batching_, cache_;
};

TEST_P(StoreGates, CommitExecuteReadReopen) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->committed_height(), 0u);
    EXPECT_EQ(store->executed_height(), 0u);
    const auto syncs = store->counters().synced_writes;
    for (std::uint64_t h = 1; h <= 100; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    EXPECT_EQ(store->committed_height(), 100u);
    EXPECT_EQ(store->executed_height(), 100u);
    for (std::uint64_t h = 1; h <= 100; ++h) {  // read-your-writes
      ASSERT_NO_FATAL_FAILURE(expect_commit(*store, h));
      ASSERT_NO_FATAL_FAILURE(expect_executed(*store, h));
    }
    ASSERT_TRUE(store->flush().ok());
    EXPECT_EQ(store->durable_height(), 100u);
    // Gate off: every append and every execution was its own synced write. On:
    // one per storage_pending_writes_max of them (two here), then the flush.
    if (batching()) {
      EXPECT_LE(store->counters().synced_writes - syncs, 3u);
    } else {
      EXPECT_EQ(store->counters().synced_writes - syncs, 200u);
    }
    EXPECT_EQ(store->append_commit(5, unit_id(5), {}, {}).error(), StorageError::height_not_next);
    EXPECT_EQ(store->append_commit(102, unit_id(102), {}, {}).error(), StorageError::height_not_next);
    EXPECT_EQ(store->commit_at(101).error(), StorageError::not_found);
    EXPECT_EQ(store->commit_at(0).error(), StorageError::not_found);
    EXPECT_EQ(store->receipts(101).error(), StorageError::not_found);
    EXPECT_EQ(store->sequence_of(sha256(as_bytes("never"))).error(), StorageError::not_found);
    EXPECT_EQ(store->unit(sha256(as_bytes("never"))).error(), StorageError::not_found);
    // Unit reads hit the cache only with the gate on, by sequence and by id.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(store->commit_at(50).ok());
    const auto hits_by_sequence = store->counters().block_cache_hits;
    EXPECT_EQ(**store->unit(unit_id(60)), unit_bytes(60));
    if (cache()) {
      EXPECT_GE(hits_by_sequence, 3u);
      EXPECT_EQ(store->counters().block_cache_hits, hits_by_sequence + 1);
      // A hit copies nothing: the same bytes as the cached entry.
      EXPECT_EQ(store->commit_at(50)->unit.get(), store->commit_at(50)->unit.get());
    } else {
      EXPECT_EQ(store->counters().block_cache_hits, 0u);
      EXPECT_EQ(store->block_cache_size(), 0u);
    }
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->committed_height(), 100u);
  EXPECT_EQ(store->executed_height(), 100u);
  EXPECT_EQ(*store->last_state_digest(), digest_of(100));
  for (std::uint64_t h = 1; h <= 100; ++h) {
    ASSERT_NO_FATAL_FAILURE(expect_commit(*store, h));
    ASSERT_NO_FATAL_FAILURE(expect_executed(*store, h));
  }
  // Memory: the data is in SST files after the reopen; reading it went through the
  // block cache and open table readers; new writes fill a memtable.
  const MemoryUsage before = store->memory_usage();
  EXPECT_GT(before.block_cache, 0u);
  EXPECT_GT(before.table_readers, 0u);
  EXPECT_LE(before.block_cache, limits::storage_rocksdb_cache_bytes);
  for (std::uint64_t h = 101; h <= 200; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
  ASSERT_TRUE(store->flush().ok());
  EXPECT_GT(store->memory_usage().memtables, before.memtables);
  EXPECT_LE(store->memory_usage().memtables, limits::storage_memtables_bytes_max);
}

TEST_P(StoreGates, ExecutionFollowsTheStreamInOrder) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->last_state_digest().error(), StorageError::not_found);  // nothing executed
    EXPECT_EQ(store->apply_execution(1, {}, {}, digest_of(1)).error(), StorageError::not_committed);
    EXPECT_EQ(store->apply_execution(2, {}, {}, digest_of(2)).error(), StorageError::execution_not_next);
    for (std::uint64_t h = 1; h <= 3; ++h) ASSERT_NO_FATAL_FAILURE(commit(*store, h));
    // Committed, not executed: readable, but no receipts or digest yet.
    ASSERT_NO_FATAL_FAILURE(expect_commit(*store, 3));
    EXPECT_EQ(store->receipts(1).error(), StorageError::not_found);
    EXPECT_EQ(store->state_digest_at(1).error(), StorageError::not_found);
    const Bytes v1{1}, v2{2};
    const StateWrite writes[] = {{as_bytes("a"), v1}, {as_bytes("b"), v2}};
    ASSERT_NO_FATAL_FAILURE(execute(*store, 1, writes));
    EXPECT_EQ(store->apply_execution(3, {}, {}, digest_of(3)).error(), StorageError::execution_not_next);
    EXPECT_EQ(store->apply_execution(1, {}, {}, digest_of(1)).error(), StorageError::execution_not_next);
    // Refused whole: a value too large writes neither the state nor the height.
    const Bytes huge(limits::storage_value_bytes_max + 1, 0);
    const StateWrite too_big[] = {{as_bytes("c"), huge}, {as_bytes("d"), v1}};
    EXPECT_EQ(store->apply_execution(2, {}, too_big, digest_of(2)).error(), StorageError::too_large);
    EXPECT_EQ(store->apply_execution(2, huge, {}, digest_of(2)).error(), StorageError::too_large);
    EXPECT_EQ(store->executed_height(), 1u);
    ASSERT_NO_FATAL_FAILURE(execute(*store, 2));
    EXPECT_EQ(*store->last_state_digest(), digest_of(2));  // visible before any flush
    auto state = store->state_range({}, 10);
    ASSERT_TRUE(state.ok());
    EXPECT_EQ((std::map<Bytes, Bytes>(state->begin(), state->end())),
              (std::map<Bytes, Bytes>{{Bytes{'a'}, v1}, {Bytes{'b'}, v2}}));
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->committed_height(), 3u);
  EXPECT_EQ(store->executed_height(), 2u);
  ASSERT_NO_FATAL_FAILURE(expect_executed(*store, 2));
  EXPECT_EQ(store->receipts(3).error(), StorageError::not_found);
  // The gap (2, 3] is what a restart replays: still there.
  ASSERT_NO_FATAL_FAILURE(expect_commit(*store, 3));
  ASSERT_NO_FATAL_FAILURE(execute(*store, 3));
  EXPECT_EQ(*store->last_state_digest(), digest_of(3));
}

TEST_P(StoreGates, GenesisOnceOnAnEmptyStore) {
  TempDir dir;
  const Bytes v{7};
  const StateWrite genesis[] = {{as_bytes("g1"), v}, {as_bytes("g2"), v}};
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    const auto syncs = store->counters().synced_writes;
    ASSERT_TRUE(store->apply_genesis(genesis).ok());
    EXPECT_EQ(store->counters().synced_writes, syncs + (batching() ? 0 : 1));  // one write, gate off
    EXPECT_EQ(store->state_range({}, 10)->size(), 2u);  // visible before any flush
    EXPECT_EQ(store->apply_genesis(genesis).error(), StorageError::not_genesis);  // state present
    ASSERT_TRUE(store->flush().ok());
  }
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->state_range({}, 10)->size(), 2u);
    EXPECT_EQ(store->apply_genesis(genesis).error(), StorageError::not_genesis);
  }
  // Something executed, even with an empty state: refused.
  TempDir other;
  auto store = open_ok(options_for(other));
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(advance(*store, 1));
  EXPECT_EQ(store->apply_genesis(genesis).error(), StorageError::not_genesis);
  EXPECT_TRUE(store->state_range({}, 10)->empty());
}

TEST_P(StoreGates, JournalPutEraseReopen) {
  TempDir dir;
  const std::map<Bytes, Bytes> expected{{Bytes{'c'}, Bytes{9}}, {Bytes{'s'}, Bytes{3, 3}}};
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    EXPECT_TRUE(journal_of(*store).empty());
    const auto syncs = store->counters().synced_writes;
    ASSERT_TRUE(store->journal_put(Bytes{'s'}, Bytes{1}).ok());
    ASSERT_TRUE(store->journal_put(Bytes{'v', 1}, Bytes{2}).ok());
    ASSERT_TRUE(store->journal_put(Bytes{'s'}, Bytes{3, 3}).ok());  // replaces
    ASSERT_TRUE(store->journal_put(Bytes{'c'}, Bytes{9}).ok());
    ASSERT_TRUE(store->journal_erase(Bytes{'v', 1}).ok());
    ASSERT_TRUE(store->journal_erase(Bytes{'v', 1}).ok());  // absent: no-op, no write
    // Gate off: each put and each real erase was its own synced write; on: none yet.
    EXPECT_EQ(store->counters().synced_writes, syncs + (batching() ? 0 : 5));
    EXPECT_EQ(journal_of(*store), expected);  // read-your-writes, in key order
    ASSERT_TRUE(store->flush().ok());
    EXPECT_EQ(store->counters().synced_writes, syncs + (batching() ? 1 : 5));
    const Bytes long_key(limits::storage_journal_key_bytes_max + 1, 'k');
    EXPECT_EQ(store->journal_put(long_key, Bytes{1}).error(), StorageError::too_large);
    const Bytes huge(limits::storage_value_bytes_max + 1, 0);
    EXPECT_EQ(store->journal_put(Bytes{'x'}, huge).error(), StorageError::too_large);
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(journal_of(*store), expected);
  auto entries = store->journal();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ(entries->front().first, Bytes{'c'});  // key order
}

TEST_P(StoreGates, UnitsOwnedByTheJournalUntilCommitted) {
  TempDir dir;
  const Bytes u1(300, 1), u2(20, 2), u2b(40, 22), u3(5, 3);
  const Hash32 id1 = sha256(u1), id2 = sha256(u2), id3 = sha256(u3);
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    EXPECT_TRUE(units_of(*store).empty());
    const auto syncs = store->counters().synced_writes;
    ASSERT_TRUE(store->unit_put(id1, u1).ok());
    ASSERT_TRUE(store->unit_put(id2, u2).ok());
    ASSERT_TRUE(store->unit_put(id3, u3).ok());
    ASSERT_TRUE(store->unit_put(id2, u2b).ok());  // replaces
    ASSERT_TRUE(store->unit_erase(id3).ok());
    ASSERT_TRUE(store->unit_erase(id3).ok());  // absent: no-op, no write
    EXPECT_EQ(store->counters().synced_writes, syncs + (batching() ? 0 : 5));
    EXPECT_EQ(units_of(*store), (std::map<Hash32, Bytes>{{id1, u1}, {id2, u2b}}));  // read-your-writes
    EXPECT_EQ(**store->unit(id1), u1);
    EXPECT_EQ(store->unit(id3).error(), StorageError::not_found);
    ASSERT_TRUE(store->flush().ok());
    // Committing id1 moves it out of the journal in the same batch; its bytes stay.
    ASSERT_TRUE(store->append_commit(1, id1, u1, proof_bytes(1)).ok());
    EXPECT_EQ(units_of(*store), (std::map<Hash32, Bytes>{{id2, u2b}}));
    EXPECT_EQ(**store->unit(id1), u1);
    EXPECT_EQ(*store->sequence_of(id1), 1u);
    // A committed unit is no longer the journal's: erasing or putting it again
    // changes nothing (and writes nothing).
    const auto before = store->counters().synced_writes;
    ASSERT_TRUE(store->unit_erase(id1).ok());
    ASSERT_TRUE(store->unit_put(id1, u1).ok());
    if (!batching()) {
      EXPECT_EQ(store->counters().synced_writes, before);
    }
    EXPECT_EQ(units_of(*store), (std::map<Hash32, Bytes>{{id2, u2b}}));
    EXPECT_EQ(*store->commit_at(1)->unit, u1);
    ASSERT_TRUE(store->unit_put(id3, u3).ok());
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(units_of(*store), (std::map<Hash32, Bytes>{{id2, u2b}, {id3, u3}}));
  EXPECT_EQ(**store->unit(id1), u1);
  EXPECT_EQ(*store->commit_at(1)->unit, u1);
}

// The write-once trick, both sides: a commit of a journal-owned unit of the same
// size writes only its index (the stored bytes stay, even were the commit's to
// differ: ids cover the bytes, so they cannot), and one of another size writes
// the commit's bytes.
TEST_P(StoreGates, CommitOfAJournalUnitWritesItsBytesOnce) {
  TempDir dir;
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  const Bytes stored(64, 1), same_size(64, 2), other_size(65, 3);
  const Hash32 a = sha256(as_bytes("a")), b = sha256(as_bytes("b"));
  ASSERT_TRUE(store->unit_put(a, stored).ok());
  ASSERT_TRUE(store->unit_put(b, stored).ok());
  ASSERT_TRUE(store->append_commit(1, a, same_size, proof_bytes(1)).ok());
  ASSERT_TRUE(store->append_commit(2, b, other_size, proof_bytes(2)).ok());
  ASSERT_TRUE(store->flush().ok());
  store.reset();
  store = open_ok(options_for(dir));  // from RocksDB, not the block cache
  ASSERT_TRUE(store);
  EXPECT_EQ(**store->unit(a), stored);  // not written again
  EXPECT_EQ(**store->unit(b), other_size);
  EXPECT_TRUE(units_of(*store).empty());
}

TEST_P(StoreGates, AnIdCommitsOnce) {
  TempDir dir;
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  ASSERT_NO_FATAL_FAILURE(commit(*store, 1));
  EXPECT_EQ(store->append_commit(2, unit_id(1), unit_bytes(1), proof_bytes(2)).error(),
            StorageError::already_committed);
  EXPECT_EQ(store->committed_height(), 1u);
  ASSERT_TRUE(store->flush().ok());
  store.reset();
  store = open_ok(options_for(dir));  // the index from RocksDB, nothing cached
  ASSERT_TRUE(store);
  EXPECT_EQ(store->append_commit(2, unit_id(1), unit_bytes(1), proof_bytes(2)).error(),
            StorageError::already_committed);
  ASSERT_NO_FATAL_FAILURE(commit(*store, 2));
}

TEST_P(StoreGates, PruningKeepsLastKAndBoundsTheCache) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir, 20));
    ASSERT_TRUE(store);
    for (std::uint64_t h = 1; h <= 1000; ++h) ASSERT_NO_FATAL_FAILURE(advance(*store, h));
    EXPECT_EQ(store->first_kept_height(), 981u);
    EXPECT_EQ(store->counters().pruned_commits, 980u);
    EXPECT_EQ(store->commit_at(980).error(), StorageError::pruned);
    EXPECT_EQ(store->receipts(1).error(), StorageError::pruned);
    EXPECT_EQ(store->state_digest_at(980).error(), StorageError::pruned);
    EXPECT_EQ(store->unit(unit_id(980)).error(), StorageError::not_found);  // gone by id too
    EXPECT_EQ(store->sequence_of(unit_id(980)).error(), StorageError::not_found);
    for (std::uint64_t h = 981; h <= 1000; ++h) {
      ASSERT_NO_FATAL_FAILURE(expect_commit(*store, h));
      ASSERT_NO_FATAL_FAILURE(expect_executed(*store, h));
    }
    EXPECT_LE(store->block_cache_size(), 20u);  // pruned sequences left the cache
  }
  auto store = open_ok(options_for(dir, 20));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->first_kept_height(), 981u);
  for (std::uint64_t h = 981; h <= 1000; ++h) ASSERT_NO_FATAL_FAILURE(expect_commit(*store, h));
  EXPECT_EQ(store->unit(unit_id(500)).error(), StorageError::not_found);
}

// Pruning stops at the executed height: the commits above it are the executor's
// replay, and the executed height's receipts and digest are the restart's.
TEST_P(StoreGates, PruningNeverPassesTheExecutedHeight) {
  TempDir dir;
  {
    auto store = open_ok(options_for(dir, 5));
    ASSERT_TRUE(store);
    for (std::uint64_t h = 1; h <= 50; ++h) ASSERT_NO_FATAL_FAILURE(commit(*store, h));
    EXPECT_EQ(store->first_kept_height(), 1u);  // nothing executed: everything kept
    for (std::uint64_t h = 1; h <= 10; ++h) ASSERT_NO_FATAL_FAILURE(execute(*store, h));
    EXPECT_EQ(store->first_kept_height(), 10u);  // up to, not past, the executed height
    EXPECT_EQ(store->commit_at(9).error(), StorageError::pruned);
    ASSERT_NO_FATAL_FAILURE(expect_executed(*store, 10));
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir, 5));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->first_kept_height(), 10u);
  for (std::uint64_t h = 10; h <= 50; ++h) ASSERT_NO_FATAL_FAILURE(expect_commit(*store, h));
  for (std::uint64_t h = 11; h <= 50; ++h) ASSERT_NO_FATAL_FAILURE(execute(*store, h));
  EXPECT_EQ(store->first_kept_height(), 46u);  // the last K once execution caught up
  ASSERT_NO_FATAL_FAILURE(expect_commit(*store, 46));
  EXPECT_EQ(store->commit_at(45).error(), StorageError::pruned);
}

TEST_P(StoreGates, StateRangePagesInKeyOrderWithPendingWrites) {
  TempDir dir;
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  std::map<Bytes, Bytes> model;
  Prng prng(11);
  auto random_entries = [&](int count) {
    std::vector<std::pair<Bytes, Bytes>> entries;
    for (int i = 0; i < count; ++i) {
      Bytes key(1 + prng.uniform(6), 0);
      prng.fill(key);
      Bytes value(prng.uniform(20), 0);
      prng.fill(value);
      entries.emplace_back(std::move(key), std::move(value));
    }
    return entries;
  };
  auto as_writes = [](const std::vector<std::pair<Bytes, Bytes>>& entries) {
    std::vector<StateWrite> writes;
    for (const auto& [k, v] : entries) writes.push_back({k, v});
    return writes;
  };
  const auto genesis = random_entries(150);
  ASSERT_TRUE(store->apply_genesis(as_writes(genesis)).ok());
  for (const auto& [k, v] : genesis) model[k] = v;
  ASSERT_TRUE(store->flush().ok());  // half in the database, half pending below
  ASSERT_NO_FATAL_FAILURE(commit(*store, 1));
  auto block = random_entries(150);
  // Overwrites of flushed keys, still pending (with batching on).
  int changed = 0;
  for (auto it = model.begin(); it != model.end() && changed < 40; ++it, ++changed) block.emplace_back(it->first, Bytes{0xee});
  ASSERT_NO_FATAL_FAILURE(execute(*store, 1, as_writes(block)));
  for (const auto& [k, v] : block) model[k] = v;
  auto read_all = [&](std::size_t page_size) {
    std::map<Bytes, Bytes> seen;
    Bytes after;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = store->state_range(after, page_size);
      EXPECT_TRUE(page.ok());
      if (!page.ok() || page->empty()) break;
      EXPECT_LE(page->size(), page_size);
      for (auto& [k, v] : *page) {
        EXPECT_LT(after, k);  // strictly increasing across pages
        after = k;
        seen.emplace(k, v);
      }
    }
    return seen;
  };
  EXPECT_EQ(read_all(1), model);
  EXPECT_EQ(read_all(7), model);
  EXPECT_EQ(read_all(10000), model);
  // From a key that is not stored: the keys above it.
  const Bytes middle = std::next(model.begin(), 100)->first;
  Bytes not_stored = middle;
  not_stored.push_back(0);
  if (!model.contains(not_stored)) {
    auto page = store->state_range(not_stored, 3);
    ASSERT_TRUE(page.ok());
    auto it = model.upper_bound(not_stored);
    for (const auto& [k, v] : *page) EXPECT_EQ(k, (it++)->first);
  }
  EXPECT_TRUE(store->state_range(Bytes(8, 0xff), 5)->empty());
}

INSTANTIATE_TEST_SUITE_P(Gates, StoreGates, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& param_info) {
                           return std::string(std::get<0>(param_info.param) ? "batching" : "nobatching") +
                                  (std::get<1>(param_info.param) ? "_cache" : "_nocache");
                         });

TEST(StoreStateRangeTest, PageBounds) {
  TempDir dir;
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  // Entries: the page holds at most storage_state_page_entries_max.
  std::vector<Bytes> keys;
  const Bytes one{1};
  for (std::size_t i = 0; i < limits::storage_state_page_entries_max + 10; ++i) {
    keys.push_back(Bytes{'e', static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)});
  }
  std::vector<StateWrite> genesis;
  for (const auto& k : keys) genesis.push_back({k, one});
  ASSERT_TRUE(store->apply_genesis(genesis).ok());
  auto page = store->state_range({}, limits::storage_state_page_entries_max * 2);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->size(), limits::storage_state_page_entries_max);
  // Bytes: past the first entry, at most storage_state_page_bytes_max per page.
  const Bytes big(1024 * 1024, 7);
  const std::size_t count = limits::storage_state_page_bytes_max / big.size() + 4;
  std::vector<Bytes> big_keys;
  for (std::size_t i = 0; i < count; ++i) big_keys.push_back(Bytes{'z', static_cast<std::uint8_t>(i)});
  std::vector<StateWrite> writes;
  for (const auto& k : big_keys) writes.push_back({k, big});
  ASSERT_NO_FATAL_FAILURE(commit(*store, 1));
  ASSERT_NO_FATAL_FAILURE(execute(*store, 1, writes));
  page = store->state_range(Bytes{'y'}, 1000);
  ASSERT_TRUE(page.ok());
  std::size_t bytes = 0;
  for (const auto& [k, v] : *page) bytes += k.size() + v.size();
  EXPECT_LE(bytes, limits::storage_state_page_bytes_max);
  EXPECT_GE(page->size(), limits::storage_state_page_bytes_max / big.size() - 1);
  EXPECT_LT(page->size(), count);
}

TEST(StoreBoundsTest, JournalEntriesBoundSurvivesReopen) {
  TempDir dir;
  ScopedGate batching(Gate::storage_write_batching, true);
  auto key_of = [](std::size_t i) { return Bytes{'r', static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}; };
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    for (std::size_t i = 0; i < limits::storage_journal_entries_max; ++i) {
      ASSERT_TRUE(store->journal_put(key_of(i), Bytes{1, 2, 3}).ok()) << i;
    }
    const Bytes extra{'x'};
    EXPECT_EQ(store->journal_put(extra, Bytes{1}).error(), StorageError::journal_full);
    EXPECT_TRUE(store->journal_put(key_of(5), Bytes{4}).ok());  // replacing is not growing
    ASSERT_TRUE(store->journal_erase(key_of(0)).ok());
    EXPECT_TRUE(store->journal_put(extra, Bytes{1}).ok());
    ASSERT_TRUE(store->flush().ok());
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->journal_put(key_of(0), Bytes{1}).error(), StorageError::journal_full);  // index rebuilt
  auto entries = store->journal();
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(entries->size(), limits::storage_journal_entries_max);
}

TEST(StoreBoundsTest, JournalBytesBound) {
  TempDir dir;
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  const Bytes four_mib(4 * 1024 * 1024, 5);
  const std::size_t fit = limits::storage_journal_bytes_max / (four_mib.size() + 1);
  for (std::size_t i = 0; i < fit; ++i) ASSERT_TRUE(store->journal_put(Bytes{static_cast<std::uint8_t>(i)}, four_mib).ok()) << i;
  EXPECT_EQ(store->journal_put(Bytes{0xff}, four_mib).error(), StorageError::journal_full);
  EXPECT_TRUE(store->journal_put(Bytes{0}, Bytes{1}).ok());  // shrinking one makes room
  EXPECT_TRUE(store->journal_put(Bytes{0xff}, four_mib).ok());
}

TEST(StoreBoundsTest, JournalUnitsBoundSurvivesReopen) {
  TempDir dir;
  ScopedGate batching(Gate::storage_write_batching, true);
  auto id_of = [](std::size_t i) { return sha256(as_bytes("unit " + std::to_string(i))); };
  {
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    for (std::size_t i = 0; i < limits::storage_journal_units_max; ++i) {
      ASSERT_TRUE(store->unit_put(id_of(i), Bytes{1, 2, 3}).ok()) << i;
    }
    const auto extra = id_of(limits::storage_journal_units_max);
    EXPECT_EQ(store->unit_put(extra, Bytes{1}).error(), StorageError::units_full);
    EXPECT_TRUE(store->unit_put(id_of(5), Bytes{4}).ok());  // replacing is not growing
    ASSERT_TRUE(store->unit_erase(id_of(0)).ok());
    EXPECT_TRUE(store->unit_put(extra, Bytes{1}).ok());
    ASSERT_TRUE(store->flush().ok());
    const Bytes too_big(limits::storage_value_bytes_max + 1, 0);
    EXPECT_EQ(store->unit_put(id_of(1), too_big).error(), StorageError::too_large);
  }
  auto store = open_ok(options_for(dir));
  ASSERT_TRUE(store);
  EXPECT_EQ(store->unit_put(id_of(0), Bytes{1}).error(), StorageError::units_full);  // index rebuilt
  auto units = store->journal_units();
  ASSERT_TRUE(units.ok());
  EXPECT_EQ(units->size(), limits::storage_journal_units_max);
  // Committing one makes room.
  ASSERT_TRUE(store->append_commit(1, id_of(5), Bytes{4}, {}).ok());
  EXPECT_TRUE(store->unit_put(id_of(0), Bytes{1}).ok());
}

// RocksDB deletes obsolete files (tables, blob files) on its own threads, so a
// file listed here may be gone by the time its size is read: it counts as 0.
std::uint64_t directory_bytes(const std::string& path) {
  std::uint64_t total = 0;
  for (const auto& entry : fs::recursive_directory_iterator(path)) {
    std::error_code ec;
    const auto size = entry.is_regular_file(ec) ? fs::file_size(entry.path(), ec) : 0;
    if (!ec) total += size;
  }
  return total;
}

std::size_t blob_file_count(const TempDir& dir) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) n += e.path().extension() == ".blob";
  return n;
}

// storage.blob_files: large units and proofs go to blob files with the gate on and
// stay inline with it off; a store written with either setting opens and reads
// with the other, and commits written across both settings all read back.
TEST(StoreBlobFilesTest, LargeValuesInBlobFilesAndReadableAcrossSettings) {
  TempDir dir;
  const auto big_unit = [&](std::uint64_t h) {
    Bytes b(64 * 1024);
    Prng(h).fill(b);
    return b;
  };
  const Bytes proof(8 * 1024, 7);
  const auto write = [&](bool blob, std::uint64_t from, std::uint64_t to) {
    ScopedGate gate(Gate::storage_blob_files, blob);
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    for (std::uint64_t h = from; h <= to; ++h) {
      const Bytes b = big_unit(h);
      ASSERT_TRUE(store->append_commit(h, sha256(b), b, proof).ok());
    }
    ASSERT_TRUE(store->flush().ok());
  };  // closing flushes the memtables: values reach SST or blob files
  const auto read_all = [&](bool blob, std::uint64_t to) {
    ScopedGate gate(Gate::storage_blob_files, blob);
    auto store = open_ok(options_for(dir));
    ASSERT_TRUE(store);
    ASSERT_EQ(store->committed_height(), to);
    for (std::uint64_t h = 1; h <= to; ++h) {
      const Bytes b = big_unit(h);
      auto got = store->commit_at(h);
      ASSERT_TRUE(got.ok()) << h;
      EXPECT_EQ(*got->unit, b) << h;
      EXPECT_EQ(got->proof, proof) << h;
    }
  };
  write(false, 1, 40);
  EXPECT_EQ(blob_file_count(dir), 0u);  // off: inline
  read_all(true, 40);
  write(true, 41, 80);
  EXPECT_GE(blob_file_count(dir), 1u);  // on: the new values went to blob files
  read_all(false, 80);
  read_all(true, 80);
}

// Endless-load proxy: 512 MiB of units through a store that keeps 256 commits.
// The directory must stay far below what was written: pruned commits are deleted
// and the log is bounded by max_total_wal_size (64 MiB). Both sides of
// storage.blob_files; with it on, pruned values in blob files become garbage that
// compactions collect (keep_commits is larger than a memtable here, so units do
// reach the files before they are pruned).
class StoreSoak : public ::testing::TestWithParam<bool> {};

TEST_P(StoreSoak, DiskStaysBoundedUnderPruning) {
  ScopedGate blob(Gate::storage_blob_files, GetParam());
  TempDir dir;
  auto store = open_ok(options_for(dir, 256));
  ASSERT_TRUE(store);
  Prng prng(5);
  Bytes unit(64 * 1024);
  prng.fill(unit);
  const Bytes receipts(64, 1);
  const std::uint64_t commits = 8192;  // 512 MiB
  std::uint64_t peak = 0;
  for (std::uint64_t h = 1; h <= commits; ++h) {
    unit[0] = static_cast<std::uint8_t>(h);
    unit[1] = static_cast<std::uint8_t>(h >> 8);
    ASSERT_TRUE(store->append_commit(h, sha256(unit), unit, {}).ok());
    ASSERT_TRUE(store->apply_execution(h, receipts, {}, digest_of(h)).ok());
    if (h % 512 == 0) {
      ASSERT_TRUE(store->flush().ok());
      peak = std::max(peak, directory_bytes(dir.path()));
    }
  }
  EXPECT_EQ(store->first_kept_height(), commits - 255);
  std::printf("soak (blob files %s): wrote %llu MiB, kept 16 MiB, directory peak %llu MiB, %zu blob files\n",
              GetParam() ? "on" : "off", static_cast<unsigned long long>(commits * unit.size() >> 20),
              static_cast<unsigned long long>(peak >> 20), blob_file_count(dir));
  // Log (64 MiB) + kept units (16 MiB) + flushed tables or blob files not yet
  // collected, rounded up: 192 MiB, well under half of what was written.
  EXPECT_LT(peak, std::uint64_t{192} << 20);
}

INSTANTIATE_TEST_SUITE_P(BlobFiles, StoreSoak, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "blob" : "inline"); });

// Both sides of storage.direct_io_flush: enough 64 KiB units to flush the unit
// family's buffer a few times (blob files written by the flush), then every unit
// read back before and after a reopen.
class StoreDirectIo : public ::testing::TestWithParam<bool> {};

TEST_P(StoreDirectIo, FlushedUnitsReadBack) {
  ScopedGate gate(Gate::storage_direct_io_flush, GetParam());
  TempDir dir;
  Bytes unit(64 * 1024);
  Prng(11).fill(unit);
  auto bytes_at = [&](std::uint64_t h) {
    Bytes b = unit;
    for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(h >> (8 * i));
    return b;
  };
  const std::uint64_t commits = 320;  // 20 MiB: several 4 MiB write buffers
  // Whether this filesystem takes O_DIRECT, asked independently of the store's
  // probe (the store is created in the directory's parent's filesystem).
  const fs::path own_probe = fs::path(dir.path()).parent_path() / ("direct-io-check-" + std::to_string(::getpid()));
  const int fd = ::open(own_probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  const bool filesystem_direct = fd >= 0;
  if (fd >= 0) ::close(fd);
  fs::remove(own_probe);
  {
    auto store = open_ok(options_for(dir, 1000));
    ASSERT_TRUE(store);
    EXPECT_EQ(store->direct_io(), GetParam() && filesystem_direct);
    // The probe leaves nothing behind, in the store or beside it.
    const std::string ours = ".kestrel-direct-io-probe-" + std::to_string(::getpid()) + "-";
    for (const auto& where : {fs::path(dir.path()), fs::path(dir.path()).parent_path()}) {
      for (const auto& e : fs::directory_iterator(where)) {
        EXPECT_NE(e.path().filename().string().rfind(ours, 0), 0u) << e.path();
      }
    }
    for (std::uint64_t h = 1; h <= commits; ++h) {
      const Bytes b = bytes_at(h);
      ASSERT_TRUE(store->append_commit(h, sha256(b), b, {}).ok());
    }
    ASSERT_TRUE(store->flush().ok());
    EXPECT_GE(blob_file_count(dir), 1u);  // flushes ran
    for (std::uint64_t h = 1; h <= commits; ++h) EXPECT_EQ(*store->commit_at(h)->unit, bytes_at(h)) << h;
  }
  auto store = open_ok(options_for(dir, 1000));
  ASSERT_TRUE(store);
  for (std::uint64_t h = 1; h <= commits; ++h) ASSERT_EQ(*store->commit_at(h)->unit, bytes_at(h)) << h;
}

INSTANTIATE_TEST_SUITE_P(Gate, StoreDirectIo, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "direct" : "buffered"); });

}  // namespace
}  // namespace kestrel::storage
