// Storage: the validator's durable state on RocksDB, format 3 (docs/storage.md).
//
// Protocol-neutral: the store holds encoded bytes keyed by ids and sequences and
// knows no consensus type. What it keeps follows the consensus seam
// (consensus/consensus.h), one part per stage that writes it:
//   - the core's JOURNAL: opaque key/values only the core's protocol reads
//     (journal_put, journal_erase, journal());
//   - UNITS: the payload-carrying units (HotStuff-2 blocks, DAG vertices) by id.
//     A unit the core stored and has not committed is owned by the journal
//     (unit_put, unit_erase, journal_units()); committing it moves it to the commit
//     stream without writing its bytes again;
//   - the COMMIT STREAM: gap-free (sequence, id, unit, proof) entries
//     (append_commit, commit_at, sequence_of); committed_height() is its head;
//   - EXECUTION STATE: per executed height its receipts and the ledger's state
//     digest, and the ledger state (apply_execution, apply_genesis, state_range).
//     Execution follows the stream: executed_height() <= committed_height(), and a
//     restart replays the commits in between.
//
// Restart (docs/storage.md "Restart"): open; journal() and journal_units() restore
// the core, with the commit tail from commit_at(); the ledger is rebuilt at
// executed_height() from state_range() pages (execution::Ledger::restore) and
// checked against last_state_digest(); the commits above executed_height() are
// executed again with apply_execution().
//
// Write path. Every mutating call goes into one pending batch. With the gate
// storage.write_batching on (default) the batch is written with ONE synced write by
// flush() (the node's persist-before-send point), or when it holds
// limits::storage_pending_writes_max commit-stream writes or
// limits::storage_pending_bytes_max bytes; with the gate off every mutating call is
// its own synced write. Either way: what flush() (or, gate off, the call itself)
// returned OK for is durable, writes become durable in the order they were made (a
// crash keeps a prefix of them), and reads see pending writes (read-your-writes).
// A call refused by its checks or a failed read leaves nothing behind; when the
// synced write itself fails, the writes stay pending and the caller should stop
// using the store (the node stops).
//
// Pruning: the last Options::keep_commits commits are kept in full (entry, unit,
// receipts, state digest); older ones are deleted as the stream and execution
// advance, but never the executed height or above: the executor's replay needs the
// unexecuted commits and a restart needs the executed height's receipts and digest
// (first_kept_height() <= max(1, executed_height()), asserted). The journal, its
// units and the state are kept.
//
// Opening refuses, with a specific error and a message in *detail: a directory
// that is not a Kestrel store, a store of another cluster, another format version
// (formats 1 and 2 included: nothing is converted), and a store RocksDB reports
// corrupt (checksums verified on open by default) or whose heights disagree with
// its contents. Nothing is repaired.
//
// RocksDB's Status never leaves this module: every failure is a StorageError.
//
// Thread-safety: none. One thread (the node's storage strand) owns a Store.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/result.h"

namespace kestrel::storage {

enum class StorageError : std::uint8_t {
  io_error,            // the file system or RocksDB failed (disk full, permissions, ...)
  locked,              // another process holds the store open
  not_a_store,         // the directory holds something that is not a Kestrel store
  missing,             // no store at the path and create_if_missing is false
  wrong_cluster,       // the store belongs to another cluster
  format_version,      // the store was written by another format version
  corrupt,             // a checksum, the metadata or an index is inconsistent
  not_found,           // no such commit, unit, receipts or digest
  pruned,              // the height was pruned (below first_kept_height())
  height_not_next,     // append_commit at a sequence other than committed_height() + 1
  already_committed,   // append_commit of an id the stream already holds
  execution_not_next,  // apply_execution at a height other than executed_height() + 1
  not_committed,       // apply_execution above committed_height()
  not_genesis,         // apply_genesis on a store that executed something or holds state
  too_large,           // a value above limits::storage_value_bytes_max (or a journal key
                       // above limits::storage_journal_key_bytes_max)
  invalid_options,     // keep_commits outside [1, limits::storage_keep_commits_max]
  journal_full,        // journal_put beyond limits::storage_journal_entries_max / _bytes_max
  units_full,          // unit_put beyond limits::storage_journal_units_max / _bytes_max
};
const char* describe(StorageError error);

struct Options {
  std::string path;
  Hash32 cluster_id;
  bool create_if_missing = true;
  // Commits kept in full (K). REQUIRES: 1 <= keep_commits <= limits::storage_keep_commits_max.
  std::uint64_t keep_commits = 10000;
  // Verify every SST checksum when opening (cost grows with the kept data, which
  // pruning bounds). Tests of large stores may turn it off.
  bool verify_checksums_on_open = true;
};

// A ledger state change (execution::BlockResult::state_writes, or a genesis entry).
struct StateWrite {
  ByteSpan key;
  ByteSpan value;
};

// One entry of the commit stream as stored.
struct CommitRecord {
  Hash32 id;
  std::shared_ptr<const Bytes> unit;  // shared with the block cache: a hit copies nothing
  Bytes proof;
};

struct Counters {
  std::uint64_t synced_writes = 0;   // RocksDB writes with sync = true
  std::uint64_t block_cache_hits = 0;
  std::uint64_t block_cache_misses = 0;
  std::uint64_t pruned_commits = 0;
};

// What RocksDB holds in memory (bytes), for the memory budget (docs/storage.md
// "Pruning and bounds"). Table readers are the open SST files' own memory outside
// the block cache; the block cache holds data, index and filter blocks.
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

  // Makes every pending write durable with one synced write (no-op when none).
  [[nodiscard]] Status<StorageError> flush();

  // --- Journal -------------------------------------------------------------------------
  // Puts or replaces one record. too_large: key above
  // limits::storage_journal_key_bytes_max or value above storage_value_bytes_max;
  // journal_full: the journal would hold more than storage_journal_entries_max
  // records or storage_journal_bytes_max bytes of keys and values (replacing a
  // record counts only the difference).
  [[nodiscard]] Status<StorageError> journal_put(ByteSpan key, ByteSpan value);
  // No-op (OK) when the key is absent.
  [[nodiscard]] Status<StorageError> journal_erase(ByteSpan key);
  // Every record in byte order of the keys, pending writes included.
  Result<std::vector<std::pair<Bytes, Bytes>>, StorageError> journal();

  // --- Units -------------------------------------------------------------------------
  // Stores a unit the core has not committed, owned by the journal until it is
  // committed or erased; putting an id again replaces its bytes. A no-op (OK) when
  // the id is committed and kept (its bytes are stored already). units_full: more
  // than limits::storage_journal_units_max units or storage_journal_units_bytes_max
  // bytes would be journal-owned; too_large above storage_value_bytes_max.
  [[nodiscard]] Status<StorageError> unit_put(const Hash32& id, ByteSpan unit);
  // Deletes a journal-owned unit. No-op (OK) when absent or committed since.
  [[nodiscard]] Status<StorageError> unit_erase(const Hash32& id);
  // A journal-owned unit, or a committed and kept one (recent ones through the
  // block cache). not_found otherwise (pruned commits included).
  Result<std::shared_ptr<const Bytes>, StorageError> unit(const Hash32& id);
  // The journal-owned units in id order, pending writes included (restart).
  Result<std::vector<std::pair<Hash32, Bytes>>, StorageError> journal_units();

  // --- Commit stream -------------------------------------------------------------------
  // Appends the commit at `sequence`: the entry (id, proof), the id's index, the
  // unit (only its index when the journal owns it with the same size: its bytes are
  // stored already, and it leaves the journal), committed_height and any pruning,
  // in ONE write batch. REQUIRES (checked, error): sequence == committed_height() + 1
  // (height_not_next); the id is not in the stream already (already_committed).
  [[nodiscard]] Status<StorageError> append_commit(std::uint64_t sequence, const Hash32& id, ByteSpan unit,
                                                   ByteSpan proof);
  // The commit at `sequence`, its unit through the block cache (gate
  // storage.block_cache). not_found: 0 or above committed_height(); pruned: below
  // first_kept_height().
  Result<CommitRecord, StorageError> commit_at(std::uint64_t sequence);
  // The sequence a kept commit has. not_found: never committed, or pruned.
  Result<std::uint64_t, StorageError> sequence_of(const Hash32& id);

  // Last sequence appended (0 = none), pending writes included.
  std::uint64_t committed_height() const { return committed_height_; }
  // Last sequence known durable (flushed).
  std::uint64_t durable_height() const { return durable_height_; }
  // Lowest sequence still kept in full (1 until pruning starts).
  std::uint64_t first_kept_height() const { return first_kept_height_; }

  // --- Execution state -----------------------------------------------------------------
  // Records the execution of the commit at `height`: its receipts, the state
  // changes it made, the ledger's state digest after it and executed_height, in ONE
  // write batch (and any pruning it allows). REQUIRES (checked, error):
  // height == executed_height() + 1 (execution_not_next) and
  // height <= committed_height() (not_committed); too_large when a value is.
  [[nodiscard]] Status<StorageError> apply_execution(std::uint64_t height, ByteSpan receipts,
                                                     std::span<const StateWrite> state_writes,
                                                     const Hash32& state_digest);
  // Writes the genesis state in ONE write batch. REQUIRES (checked, not_genesis):
  // nothing executed and no state stored (pending writes included).
  [[nodiscard]] Status<StorageError> apply_genesis(std::span<const StateWrite> state);

  // Last height executed (0 = none), pending writes included. <= committed_height().
  std::uint64_t executed_height() const { return executed_height_; }
  // The receipts of an executed height. not_found: 0 or above executed_height();
  // pruned: below first_kept_height().
  Result<Bytes, StorageError> receipts(std::uint64_t height);
  // The ledger's state digest after executing `height`; errors as receipts().
  Result<Hash32, StorageError> state_digest_at(std::uint64_t height);
  // state_digest_at(executed_height()): what a ledger restored from the state must
  // reproduce. not_found when nothing was executed (compare with the genesis
  // ledger's digest then).
  Result<Hash32, StorageError> last_state_digest();
  // One page of the state in byte order of the keys: the entries whose keys are
  // strictly greater than start_after (empty: from the first key; the empty key
  // itself is never listed, and no ledger writes it), at most
  // min(max_entries, limits::storage_state_page_entries_max) of them and, past the
  // first, at most limits::storage_state_page_bytes_max bytes of keys and values.
  // An empty page means there is nothing after start_after; otherwise ask again
  // from the last key returned. Sees pending writes (the pending batch is merged
  // over the database, nothing is flushed). The entries of one page are a
  // consistent view; pages read while the state is written are not a snapshot of
  // one moment (restart reads them before any write).
  // REQUIRES: max_entries >= 1.
  Result<std::vector<std::pair<Bytes, Bytes>>, StorageError> state_range(ByteSpan start_after,
                                                                         std::size_t max_entries);

  // --- Figures -------------------------------------------------------------------------
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
  // Opening an existing store (open.cc): metadata and heights checked, then the
  // journal's in-memory indexes rebuilt.
  [[nodiscard]] Status<StorageError> load(std::string* detail);
  [[nodiscard]] Status<StorageError> load_journal_indexes(std::string* detail);
  // Each mutating call: write_begin() before it touches the pending batch (with the
  // gate off, writes left pending when the gate was turned off go first), and
  // write_end() after (gate off or batch at its bounds: one synced write).
  [[nodiscard]] Status<StorageError> write_begin();
  [[nodiscard]] Status<StorageError> write_end();
  // Pruning in two steps, so that a failed read leaves the pending batch as it was:
  // the commits (sequence, id) that keep_commits and the executed height allow
  // deleting once the heights are `committed` and `executed` (at most
  // limits::storage_prune_commits_per_call_max), then their deletion into the batch.
  using PruneList = std::vector<std::pair<std::uint64_t, Hash32>>;
  Result<PruneList, StorageError> prunable(std::uint64_t committed, std::uint64_t executed);
  void prune(const PruneList& commits);

  std::unique_ptr<Impl> impl_;
  std::uint64_t committed_height_ = 0;
  std::uint64_t durable_height_ = 0;
  std::uint64_t executed_height_ = 0;
  std::uint64_t first_kept_height_ = 1;
  Counters counters_;
};

}  // namespace kestrel::storage
