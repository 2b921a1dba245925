// Storage: the validator's durable state on RocksDB (docs/storage.md).
//
// What it stores, as encoded bytes keyed by ids and heights (this module sits
// between crypto and node and does not know the consensus types; typed wrappers
// come with the node): committed blocks, their certificates, the consensus safety
// record, the committed-height index, per-block receipts, the ledger state digest
// per committed height, the ledger state, and uncommitted ("pending") blocks a
// replica proposed or voted for. One column family each, plus the default family
// for the store's own metadata (magic, format version, cluster id, committed
// height, first kept height).
//
// Restart (docs/storage.md "Restart"): open, safety_record(), pending_blocks(),
// the last committed blocks, then the ledger from state_range() pages
// (execution::Ledger::restore), checked against last_state_digest().
//
// Write path. append_block() adds a committed block, its certificate and its
// receipts at the next height. With the gate storage.write_batching on (default)
// appends and state writes collect in one pending batch that is written with ONE
// synced write when it reaches limits::storage_pending_writes_max /
// storage_pending_bytes_max, or when the caller calls flush() or writes the safety
// record; with the gate off every append and state write is its own synced write.
// Either way: what flush() or write_safety_record() has returned OK for is
// durable, and reads see pending writes (read-your-writes).
//
// Sync rule: write_safety_record() returns only after the record (and every write
// before it) is on disk (WriteOptions::sync), because a vote may leave only then.
//
// Pruning: the last Options::keep_blocks committed blocks are kept in full (block,
// certificate, receipts, state digest, height index entry); older ones are deleted
// as new ones are appended. State, pending blocks and the safety record are kept.
//
// Opening refuses, with a specific error and a message in *detail: a directory
// that is not a Kestrel store, a store of another cluster, another format version,
// and a store RocksDB reports corrupt (checksums verified on open by default) or
// whose committed-height index disagrees with its blocks. Nothing is repaired.
//
// RocksDB's Status never leaves this module: every failure is a StorageError.
//
// Thread-safety: none. One thread (the node's storage strand) owns a Store.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/result.h"

namespace kestrel::storage {

enum class StorageError : std::uint8_t {
  io_error,         // the file system or RocksDB failed (disk full, permissions, ...)
  locked,           // another process holds the store open
  not_a_store,      // the directory holds something that is not a Kestrel store
  missing,          // no store at the path and create_if_missing is false
  wrong_cluster,    // the store belongs to another cluster
  format_version,   // the store was written by another format version
  corrupt,          // a checksum, the metadata or the height index is inconsistent
  not_found,        // no such block, certificate, receipts or key
  pruned,           // the height was pruned (below first_kept_height())
  height_not_next,  // append_block at a height other than committed_height() + 1
  too_large,        // a value above limits::storage_value_bytes_max
  invalid_options,  // keep_blocks outside [1, limits::storage_keep_blocks_max]
  pending_full,     // put_pending_block beyond limits::storage_pending_blocks_max / _bytes_max
};
const char* describe(StorageError error);

struct Options {
  std::string path;
  Hash32 cluster_id;
  bool create_if_missing = true;
  // Committed blocks kept in full (K). REQUIRES: 1 <= keep_blocks <= limits::storage_keep_blocks_max.
  std::uint64_t keep_blocks = 10000;
  // Verify every SST checksum when opening (cost grows with the kept data, which
  // pruning bounds). Tests of large stores may turn it off.
  bool verify_checksums_on_open = true;
};

// A state change written with a block (execution::BlockResult::state_writes).
struct StateWrite {
  ByteSpan key;
  ByteSpan value;
};

struct Counters {
  std::uint64_t synced_writes = 0;   // RocksDB writes with sync = true
  std::uint64_t block_cache_hits = 0;
  std::uint64_t block_cache_misses = 0;
  std::uint64_t pruned_blocks = 0;
};

// What RocksDB holds in memory (bytes), for the memory budget (docs/storage.md
// "Bounds"). Table readers are the open SST files' own memory outside the block
// cache; the block cache holds data, index and filter blocks.
struct MemoryUsage {
  std::uint64_t memtables = 0;
  std::uint64_t table_readers = 0;
  std::uint64_t block_cache = 0;
  std::uint64_t pinned = 0;  // block-cache entries in use by readers and iterators
};

class Store {
 public:
  // On failure, *detail (when given) receives a human-readable explanation.
  static Result<std::unique_ptr<Store>, StorageError> open(const Options& options,
                                                           std::string* detail = nullptr);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Consensus safety record -----------------------------------------------------
  // Durable (synced, together with every pending write) when it returns OK.
  [[nodiscard]] Status<StorageError> write_safety_record(ByteSpan record);
  // nullopt when none was ever written.
  Result<std::optional<Bytes>, StorageError> safety_record();

  // --- Committed blocks --------------------------------------------------------------
  // Appends the block, its certificate, its receipts, the state changes its
  // execution made and (when given) the ledger's state digest after it, all in ONE
  // write batch: after a crash either all of them are there or none. The block's
  // pending entry (put_pending_block with the same id), if any, is deleted in the
  // same batch. REQUIRES (checked, error): height == committed_height() + 1.
  [[nodiscard]] Status<StorageError> append_block(std::uint64_t height, const Hash32& id, ByteSpan block,
                                                  ByteSpan certificate, ByteSpan receipts,
                                                  std::span<const StateWrite> state_writes = {},
                                                  const Hash32* state_digest = nullptr);
  // Makes every pending write durable with one synced write (no-op when none).
  [[nodiscard]] Status<StorageError> flush();

  // Highest appended height (0 = none), including pending writes.
  std::uint64_t committed_height() const { return committed_height_; }
  // Highest height known durable (flushed).
  std::uint64_t durable_height() const { return durable_height_; }
  // Lowest height still kept in full (1 until pruning starts).
  std::uint64_t first_kept_height() const { return first_kept_height_; }

  Result<Hash32, StorageError> block_id_at(std::uint64_t height);
  // Through the block cache (gate storage.block_cache).
  Result<std::shared_ptr<const Bytes>, StorageError> block_at(std::uint64_t height);
  // By id: committed or pending; recent committed blocks through the block cache.
  Result<Bytes, StorageError> block(const Hash32& id);
  Result<Bytes, StorageError> certificate(const Hash32& id);
  Result<Bytes, StorageError> receipts(std::uint64_t height);
  // The state digest appended with the block at `height` (execution::BlockResult::
  // state_digest). not_found: height 0, above committed_height(), or appended
  // without a digest; pruned: below first_kept_height().
  Result<Hash32, StorageError> state_digest_at(std::uint64_t height);
  // state_digest_at(committed_height()): what a ledger restored from the state must
  // reproduce. not_found when nothing was committed (compare with the genesis
  // ledger's digest then) or the last block was appended without a digest.
  Result<Hash32, StorageError> last_state_digest();

  // --- Pending (uncommitted) blocks --------------------------------------------------
  // Blocks proposed or voted for but not committed yet, by id, so that a restarted
  // replica (even after a whole-cluster restart) still has the certified chain
  // above its committed height. Like appends they go into the pending batch:
  // durable with the next flush() or write_safety_record() (the node writes the
  // blocks, then the safety record, and sends after that one synced write); with
  // the gate storage.write_batching off each call is its own synced write.
  // Refused with pending_full when the store would hold more than
  // limits::storage_pending_blocks_max blocks or storage_pending_blocks_bytes_max
  // bytes of them; too_large above limits::storage_value_bytes_max. Putting an id
  // again replaces its bytes.
  [[nodiscard]] Status<StorageError> put_pending_block(const Hash32& id, ByteSpan block);
  // No-op (OK) when the id is not pending.
  [[nodiscard]] Status<StorageError> delete_pending_block(const Hash32& id);
  // All pending blocks, in id order (including unflushed puts and deletes).
  Result<std::vector<std::pair<Hash32, Bytes>>, StorageError> pending_blocks();
  std::size_t pending_block_count() const;

  // --- State ---------------------------------------------------------------------------
  // --- State ---------------------------------------------------------------------------
  [[nodiscard]] Status<StorageError> put_state(ByteSpan key, ByteSpan value);
  [[nodiscard]] Status<StorageError> delete_state(ByteSpan key);
  Result<std::optional<Bytes>, StorageError> state(ByteSpan key);
  // One page of the state in byte order of the keys: the entries whose keys are
  // strictly greater than start_after (empty: from the first key; the empty key
  // itself is never listed, and no ledger writes it), at most
  // min(max_entries, limits::storage_state_page_entries_max) of them and, past the
  // first, at most limits::storage_state_page_bytes_max bytes of keys and values.
  // An empty page means there is nothing after start_after; otherwise ask again
  // from the last key returned. Sees pending writes (read-your-writes: the pending
  // batch is merged over the database, nothing is flushed). The entries of one
  // page are a consistent view; pages read while the state is written are not a
  // snapshot of one moment (restart reads them before any write).
  // REQUIRES: max_entries >= 1.
  Result<std::vector<std::pair<Bytes, Bytes>>, StorageError> state_range(ByteSpan start_after,
                                                                         std::size_t max_entries);

  const Counters& counters() const { return counters_; }
  std::size_t block_cache_size() const;
  // Whether flushes and compactions write with O_DIRECT (gate
  // storage.direct_io_flush and the filesystem's support, decided at open).
  bool direct_io() const;
  // RocksDB's memory now (a few property reads; about once a second is fine).
  MemoryUsage memory_usage() const;

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::uint64_t committed_height_ = 0;
  std::uint64_t durable_height_ = 0;
  std::uint64_t first_kept_height_ = 1;
  Counters counters_;
};

}  // namespace kestrel::storage
