// Store::open: RocksDB's options (memory, blob files, direct I/O), the format
// check (formats 1 and 2 refused by their column families), and the consistency
// checks of an existing store, which refuse rather than repair
// (docs/storage.md "Refusing to open").
#include <fcntl.h>
#include <unistd.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <atomic>
#include <filesystem>

#include "common/assert.h"
#include "common/gates.h"
#include "storage/store_impl.h"

namespace kestrel::storage {

namespace {

void set_detail(std::string* detail, std::string text) {
  if (detail != nullptr) *detail = std::move(text);
}

// The column families of the formats before this one: refused by name before
// RocksDB opens anything (opening with format 3's families would create them).
const std::vector<std::string> format_1_families{"default", "blocks",   "certificates", "safety",
                                                 "heights", "receipts", "state"};
const std::vector<std::string> format_2_families{"default", "blocks", "certificates", "safety",       "heights",
                                                 "receipts", "state", "digests",      "pending_blocks"};

std::string format_refusal(const std::string& path, std::uint64_t version) {
  std::string text = path + ": the store is format " + std::to_string(version) + ", this build reads format " +
                     std::to_string(format_version_current);
  if (version < format_version_current) {
    return text + " (no conversion: format 3 keeps a protocol-neutral journal, units and commit stream where format " +
           std::to_string(version) +
           " kept HotStuff-2 blocks, certificates and a safety record; open it with the release that wrote it, or "
           "start this validator from an empty data directory)";
  }
  return text + " (a newer build wrote it; open it with that build)";
}

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// Whether files in `directory` (or, before the store exists, its nearest existing
// ancestor, where it will be created) can be opened with O_DIRECT: some
// filesystems refuse it, and RocksDB would then fail every flush. The probe file
// is removed whatever happened (a filesystem may create it and then refuse).
bool direct_io_supported(const std::string& directory) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path where = fs::absolute(fs::path(directory), ec);
  if (ec) return false;
  while (!fs::is_directory(where, ec) && where.has_relative_path()) where = where.parent_path();
  // Unique per process and call: two stores opening side by side must not meet.
  static std::atomic<std::uint64_t> probes{0};
  const fs::path probe = where / (".kestrel-direct-io-probe-" + std::to_string(::getpid()) + "-" +
                                  std::to_string(probes.fetch_add(1, std::memory_order_relaxed)));
  const int fd = ::open(probe.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_DIRECT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  fs::remove(probe, ec);
  KESTREL_ASSERT(!fs::exists(probe, ec) || ec);
  return fd >= 0;
}

rocksdb::DBOptions db_options_for(const Options& options, bool exists) {
  rocksdb::DBOptions db;
  db.create_if_missing = !exists;
  db.create_missing_column_families = !exists;
  db.paranoid_checks = true;
  // A torn last log record (a crash mid-write) is dropped: it was never acknowledged.
  // Corruption anywhere else in the log refuses the open.
  db.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Bounded memory and files (docs/storage.md "Pruning and bounds").
  db.max_open_files = 512;
  // Flushes write each unit a second time (the log was the first); with O_DIRECT
  // that write skips the page cache's copy (gate storage.direct_io_flush,
  // docs/storage.md "Direct I/O").
  db.use_direct_io_for_flush_and_compaction =
      gate_enabled(Gate::storage_direct_io_flush) && direct_io_supported(options.path);
  db.max_total_wal_size = 64 << 20;
  db.keep_log_file_num = 4;
  // All memtables together stay under this (a validator's memory budget is 64 MiB
  // in all): RocksDB flushes the largest when it is hit.
  db.db_write_buffer_size = limits::storage_memtables_bytes_max;
  return db;
}

std::vector<rocksdb::ColumnFamilyDescriptor> families_for(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions small_values;
  // Small values (journal, indexes, receipts, state, digests): 1 MiB buffers. The
  // unit and proof families get half the budget each (below): a full block is
  // ~1-2 MiB, and 2 MiB buffers there flushed every block or two and cost 13 % of
  // signed throughput (docs/storage.md "Pruning and bounds").
  small_values.write_buffer_size = limits::storage_memtables_bytes_max / 8;
  small_values.max_write_buffer_number = 2;
  // Units are mostly signatures and public keys (incompressible); compressing
  // them costs CPU on every flush and compaction and saves nothing.
  small_values.compression = rocksdb::kNoCompression;
  // Index and filter blocks live in one bounded LRU cache instead of every open
  // table's own memory, which grows with the number of SST files over a long run.
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = cache;
  table_options.cache_index_and_filter_blocks = true;
  small_values.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

  // Key-value separation for the families with large values (storage.blob_files):
  // read at open; values written either way stay readable with the other setting.
  rocksdb::ColumnFamilyOptions large_values = small_values;
  large_values.write_buffer_size = limits::storage_memtables_bytes_max / 2;
  if (gate_enabled(Gate::storage_blob_files)) {
    large_values.enable_blob_files = true;
    large_values.min_blob_size = limits::storage_blob_value_bytes_min;
    large_values.blob_file_size = limits::storage_blob_file_bytes_max;
    large_values.blob_compression_type = rocksdb::kNoCompression;
    // No blob garbage collection: commits are appended and pruned in order, so a
    // blob file (one flush's values) turns all-garbage at once and is deleted when
    // no table references it. Age-based collection relocated live blocks from the
    // oldest quarter of the files at every compaction: 22 % of the machine's CPU
    // under signed load, for nothing (docs/storage.md "Blob files").
    large_values.enable_blob_garbage_collection = false;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::size_t f = 0; f < family_count; ++f) {
    const bool large = f == cf_units || f == cf_proofs;
    descriptors.emplace_back(family_names[f], large ? large_values : small_values);
  }
  return descriptors;
}

// Refuses a directory whose column families are not format 3's.
Status<StorageError> check_families(const rocksdb::DBOptions& db_options, const std::string& path,
                                    std::string* detail) {
  std::vector<std::string> names;
  const auto s = rocksdb::DB::ListColumnFamilies(db_options, path, &names);
  if (!s.ok()) {
    set_detail(detail, "cannot list column families: " + s.ToString());
    return Err(from_status(s));
  }
  names = sorted(std::move(names));
  if (names == sorted(format_1_families) || names == sorted(format_2_families)) {
    set_detail(detail, format_refusal(path, names.size() == format_1_families.size() ? 1 : 2));
    return Err(StorageError::format_version);
  }
  if (names != sorted({family_names.begin(), family_names.end()})) {
    set_detail(detail, path + " has other column families than a Kestrel store");
    return Err(StorageError::not_a_store);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Store>, StorageError> Store::open(const Options& options, std::string* detail) {
  namespace fs = std::filesystem;
  if (options.keep_commits < 1 || options.keep_commits > limits::storage_keep_commits_max) {
    set_detail(detail, "keep_commits must be in [1, storage_keep_commits_max]");
    return Err(StorageError::invalid_options);
  }
  std::error_code ec;
  const bool exists = fs::exists(fs::path(options.path) / "CURRENT", ec);
  if (!exists) {
    if (!options.create_if_missing) {
      set_detail(detail, "no store at " + options.path);
      return Err(StorageError::missing);
    }
    if (fs::exists(options.path, ec) && !fs::is_empty(options.path, ec)) {
      set_detail(detail, options.path + " is not empty and holds no RocksDB database");
      return Err(StorageError::not_a_store);
    }
  }
  const rocksdb::DBOptions db_options = db_options_for(options, exists);
  if (exists) KESTREL_TRY(check_families(db_options, options.path, detail));

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->rocksdb_cache = rocksdb::NewLRUCache(limits::storage_rocksdb_cache_bytes);
  {
    const auto s = rocksdb::DB::Open(db_options, options.path, families_for(impl->rocksdb_cache), &impl->handles,
                                     &impl->db);
    if (!s.ok()) {
      set_detail(detail, "RocksDB refused to open " + options.path + ": " + s.ToString());
      return Err(from_status(s));
    }
  }
  KESTREL_ASSERT(impl->handles.size() == family_count);
  // What RocksDB runs with, not what was asked (docs/storage.md "Direct I/O").
  impl->direct_io = impl->db->GetDBOptions().use_direct_io_for_flush_and_compaction;

  std::unique_ptr<Store> store(new Store(std::move(impl)));
  if (!exists) {
    Impl& d = *store->impl_;
    rocksdb::WriteBatch batch;
    (void)batch.Put(d.handles[cf_meta], slice(key_magic), slice(magic));
    (void)batch.Put(d.handles[cf_meta], slice(key_version), slice(u64_le(format_version_current)));
    (void)batch.Put(d.handles[cf_meta], slice(key_cluster), slice(options.cluster_id.span()));
    (void)batch.Put(d.handles[cf_meta], slice(key_committed), slice(u64_le(0)));
    (void)batch.Put(d.handles[cf_meta], slice(key_executed), slice(u64_le(0)));
    (void)batch.Put(d.handles[cf_meta], slice(key_first_kept), slice(u64_le(1)));
    auto written = d.write_synced(&batch);
    if (!written) {
      set_detail(detail, "cannot write the store's metadata");
      return Err(written.error());
    }
    store->counters_.synced_writes++;
    return store;
  }
  KESTREL_TRY(store->load(detail));
  return store;
}

// An existing store: metadata, heights, checksums, the kept window's ends, and the
// journal's in-memory indexes.
Status<StorageError> Store::load(std::string* detail) {
  Impl& d = *impl_;
  const std::string& path = d.options.path;
  auto magic_value = d.get(cf_meta, slice(key_magic));
  if (!magic_value) {
    set_detail(detail, "cannot read the store's metadata");
    return Err(magic_value.error());
  }
  if (!magic_value->has_value() || **magic_value != magic) {
    set_detail(detail, path + " has no Kestrel store header");
    return Err(StorageError::not_a_store);
  }
  auto read_u64 = [&](std::string_view key) -> std::optional<std::uint64_t> {
    auto v = d.get(cf_meta, slice(key));
    if (!v || !v->has_value()) return std::nullopt;
    return parse_u64_le(span_of(**v));
  };
  const auto version = read_u64(key_version);
  if (!version) {
    set_detail(detail, "format version record missing or malformed");
    return Err(StorageError::corrupt);
  }
  if (*version != format_version_current) {
    set_detail(detail, format_refusal(path, *version));
    return Err(StorageError::format_version);
  }
  auto cluster = d.get(cf_meta, slice(key_cluster));
  if (!cluster || !cluster->has_value() || !parse_id(span_of(**cluster))) {
    set_detail(detail, "cluster id record missing or malformed");
    return Err(StorageError::corrupt);
  }
  if (*parse_id(span_of(**cluster)) != d.options.cluster_id) {
    set_detail(detail, "store belongs to cluster " + to_hex(span_of(**cluster)) + ", the config names cluster " +
                           d.options.cluster_id.hex());
    return Err(StorageError::wrong_cluster);
  }
  const auto committed = read_u64(key_committed);
  const auto executed = read_u64(key_executed);
  const auto first_kept = read_u64(key_first_kept);
  if (!committed || !executed || !first_kept) {
    set_detail(detail, "height records missing or malformed");
    return Err(StorageError::corrupt);
  }
  if (*executed > *committed || *first_kept < 1 || *first_kept > std::max<std::uint64_t>(*executed, 1)) {
    set_detail(detail, "heights inconsistent: committed " + std::to_string(*committed) + ", executed " +
                           std::to_string(*executed) + ", first kept " + std::to_string(*first_kept));
    return Err(StorageError::corrupt);
  }
  committed_height_ = *committed;
  durable_height_ = *committed;
  executed_height_ = *executed;
  first_kept_height_ = *first_kept;
  if (d.options.verify_checksums_on_open) {
    const auto s = d.db->VerifyChecksum();
    if (!s.ok()) {
      set_detail(detail, "checksum verification failed: " + s.ToString());
      return Err(from_status(s) == StorageError::io_error ? StorageError::io_error : StorageError::corrupt);
    }
  }
  // The kept window's ends must be whole: the commit (entry, proof, unit) at the
  // first kept and the committed height, the receipts and digest at the executed one.
  for (std::uint64_t h : {first_kept_height_, committed_height_}) {
    if (h == 0 || h > committed_height_) continue;
    if (auto c = commit_at(h); !c) {
      set_detail(detail, "the commit at sequence " + std::to_string(h) + " is missing or unreadable: " +
                             describe(c.error()));
      return Err(StorageError::corrupt);
    }
  }
  if (executed_height_ > 0 && (!receipts(executed_height_) || !state_digest_at(executed_height_))) {
    set_detail(detail, "the receipts or state digest of executed height " + std::to_string(executed_height_) +
                           " are missing or unreadable");
    return Err(StorageError::corrupt);
  }
  // The checks above went through the block cache; reads fill it again as needed.
  d.cache.clear();
  counters_.block_cache_hits = 0;
  counters_.block_cache_misses = 0;
  return load_journal_indexes(detail);
}

// The journal's keys and the journal-owned units' sizes, for the bounds: more than
// the bounds allow (never written by journal_put / unit_put) is corruption.
Status<StorageError> Store::load_journal_indexes(std::string* detail) {
  Impl& d = *impl_;
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  {
    std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(read, d.handles[cf_journal]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::size_t size = it->key().size() + it->value().size();
      if (it->key().size() > limits::storage_journal_key_bytes_max ||
          it->value().size() > limits::storage_value_bytes_max ||
          d.journal_sizes.size() >= limits::storage_journal_entries_max ||
          d.journal_bytes + size > limits::storage_journal_bytes_max) {
        set_detail(detail, "the journal is malformed or beyond storage_journal_entries_max / _bytes_max");
        return Err(StorageError::corrupt);
      }
      d.journal_sizes.emplace(bytes_of(it->key()), size);
      d.journal_bytes += size;
    }
    if (!it->status().ok()) {
      set_detail(detail, "cannot read the journal: " + it->status().ToString());
      return Err(from_status(it->status()));
    }
  }
  std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(read, d.handles[cf_journal_units]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // A marker: the unit's size (u64 LE); the bytes are in the units family.
    const auto id = parse_id(span_of(it->key()));
    const auto size = parse_u64_le(span_of(it->value()));
    if (!id || !size || *size > limits::storage_value_bytes_max ||
        d.unit_sizes.size() >= limits::storage_journal_units_max ||
        d.unit_bytes + *size > limits::storage_journal_units_bytes_max) {
      set_detail(detail, "the journal's units are malformed or beyond storage_journal_units_max / _bytes_max");
      return Err(StorageError::corrupt);
    }
    d.unit_sizes.emplace(*id, static_cast<std::size_t>(*size));
    d.unit_bytes += static_cast<std::size_t>(*size);
  }
  if (!it->status().ok()) {
    set_detail(detail, "cannot read the journal's units: " + it->status().ToString());
    return Err(from_status(it->status()));
  }
  // The kept committed ids' prefixes (store_impl.h): bounded by the kept commits,
  // which load() checked against the heights.
  std::unique_ptr<rocksdb::Iterator> ids(d.db->NewIterator(read, d.handles[cf_sequences]));
  for (ids->SeekToFirst(); ids->Valid(); ids->Next()) {
    const auto id = parse_id(span_of(ids->key()));
    if (!id || d.committed_prefixes.size() > committed_height_) {
      set_detail(detail, "the commit index is malformed or holds more ids than commits");
      return Err(StorageError::corrupt);
    }
    d.committed_prefixes.insert(Impl::prefix_of(*id));
  }
  if (!ids->status().ok()) {
    set_detail(detail, "cannot read the commit index: " + ids->status().ToString());
    return Err(from_status(ids->status()));
  }
  return {};
}

}  // namespace kestrel::storage
