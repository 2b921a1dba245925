// Private to src/storage: the store's RocksDB handles, pending batch, in-memory
// indexes and the key encodings its files share (docs/storage.md "Column
// families"). Nothing outside the module includes it; RocksDB's types stop here.
//
// Thread-safety: none (one Store, one thread).
#pragma once

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/utilities/write_batch_with_index.h>

#include <array>
#include <map>
#include <unordered_set>
#include <optional>
#include <string>
#include <string_view>

#include "common/limits.h"
#include "storage/storage.h"
#include "storage/unit_cache.h"

namespace kestrel::storage {

// Column families of format 3, in the order of their handles.
enum Family : std::size_t {
  cf_meta,           // the store's metadata (keys below)
  cf_journal,        // the core's journal: key -> value
  cf_units,          // id -> unit bytes, journal-owned or committed
  cf_journal_units,  // id -> size (u64 LE) of a journal-owned unit; bytes in cf_units
  cf_commits,        // sequence (u64 BE) -> id
  cf_proofs,         // sequence (u64 BE) -> proof
  cf_sequences,      // id -> sequence (u64 BE)
  cf_receipts,       // executed height (u64 BE) -> receipts
  cf_state,          // ledger key -> value
  cf_digests,        // executed height (u64 BE) -> state digest (32 B)
  family_count
};
inline constexpr std::array<const char*, family_count> family_names{
    "default", "journal", "units", "journal_units", "commits", "proofs", "sequences", "receipts", "state", "digests"};

inline constexpr std::uint64_t format_version_current = 3;
inline constexpr std::string_view magic = "kestrel-store";
inline constexpr std::string_view key_magic = "magic";
inline constexpr std::string_view key_version = "format_version";
inline constexpr std::string_view key_cluster = "cluster_id";
inline constexpr std::string_view key_committed = "committed_height";
inline constexpr std::string_view key_executed = "executed_height";
inline constexpr std::string_view key_first_kept = "first_kept_height";

// An empty span may have a null data pointer, which RocksDB's comparisons assert
// against; an empty Slice points at "".
inline rocksdb::Slice slice(ByteSpan b) {
  if (b.empty()) return rocksdb::Slice();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }
inline ByteSpan span_of(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
inline ByteSpan span_of(const rocksdb::Slice& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
inline Bytes bytes_of(const rocksdb::Slice& s) {
  const auto b = span_of(s);
  return Bytes(b.begin(), b.end());
}

// Sequences and heights big-endian, so RocksDB's byte order is their order.
inline std::array<std::uint8_t, 8> sequence_key(std::uint64_t sequence) {
  std::array<std::uint8_t, 8> k{};
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(sequence >> (56 - 8 * i));
  return k;
}
inline std::optional<std::uint64_t> parse_sequence_key(ByteSpan b) {
  if (b.size() != 8) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | b[i];
  return v;
}
inline std::array<std::uint8_t, 8> u64_le(std::uint64_t v) {
  std::array<std::uint8_t, 8> k{};
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return k;
}
inline std::optional<std::uint64_t> parse_u64_le(ByteSpan b) {
  if (b.size() != 8) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}
inline std::optional<Hash32> parse_id(ByteSpan b) {
  if (b.size() != Hash32::size) return std::nullopt;
  Hash32 id;
  std::copy(b.begin(), b.end(), id.bytes.begin());
  return id;
}

StorageError from_status(const rocksdb::Status& s);

struct Store::Impl {
  Options options;
  bool direct_io = false;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  // Every write not yet written to RocksDB, in call order; reads merge it over
  // the database.
  rocksdb::WriteBatchWithIndex pending{rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true};
  std::size_t pending_writes = 0;  // append_commit and apply_execution calls in `pending`
  UnitCache cache;
  std::shared_ptr<rocksdb::Cache> rocksdb_cache;  // shared by every family's tables
  // The journal's keys with their record sizes (key + value), and the
  // journal-owned units' ids with their sizes, pending writes included: the bounds
  // are checked without reads. Rebuilt at open.
  std::map<Bytes, std::size_t> journal_sizes;  // at most storage_journal_entries_max
  std::size_t journal_bytes = 0;
  std::map<Hash32, std::size_t> unit_sizes;  // at most storage_journal_units_max
  std::size_t unit_bytes = 0;
  // The first 8 bytes of every kept committed id (a multiset: two ids may share
  // them): an id whose prefix is not here is not committed, which answers
  // unit_put's, append_commit's and sequence_of's "committed?" for new ids
  // without a read. That read, on every unit_put, cost ~4 % of the validators'
  // CPU at light load (`perf record -g -p <the four nodes>` during `kestrel bench
  // cluster --raw --rate 100 --duration 15`, Store::unit_put -> GetFromBatchAndDB).
  // The only reads left are for committed ids and prefix collisions.
  // As many entries as kept commits (keep_commits plus the unexecuted backlog);
  // rebuilt at open.
  std::unordered_multiset<std::uint64_t> committed_prefixes;
  static std::uint64_t prefix_of(const Hash32& id) {
    std::uint64_t p = 0;
    for (int i = 0; i < 8; ++i) p = (p << 8) | id.bytes[static_cast<std::size_t>(i)];
    return p;
  }
  bool maybe_committed(const Hash32& id) const { return committed_prefixes.count(prefix_of(id)) != 0; }

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl();

  // A point read that sees pending writes. Values above the bound are corruption.
  Result<std::optional<std::string>, StorageError> get(Family family, rocksdb::Slice key);
  // An iterator over one family that sees pending writes.
  std::unique_ptr<rocksdb::Iterator> iterator(Family family, const rocksdb::ReadOptions& read);
  Status<StorageError> write_synced(rocksdb::WriteBatch* batch);
  void put(Family family, rocksdb::Slice key, rocksdb::Slice value) {
    (void)pending.Put(handles[family], key, value);
  }
  void erase(Family family, rocksdb::Slice key) { (void)pending.Delete(handles[family], key); }
};

}  // namespace kestrel::storage
