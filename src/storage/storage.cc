#include "storage/storage.h"

#include <fcntl.h>
#include <unistd.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/table.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/write_batch_with_index.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <list>
#include <map>
#include <unordered_map>

#include "common/assert.h"
#include "common/gates.h"
#include "common/limits.h"

namespace kestrel::storage {

namespace {

// Column families, in the order of their handles.
enum Family : std::size_t {
  cf_meta, cf_blocks, cf_certificates, cf_safety, cf_heights, cf_receipts, cf_state,
  cf_digests, cf_pending_blocks, family_count
};
constexpr std::array<const char*, family_count> family_names{
    "default", "blocks", "certificates", "safety", "heights", "receipts", "state", "digests", "pending_blocks"};
// Format 1 had the first seven families only (no digests, no pending blocks).
constexpr std::size_t format_1_family_count = 7;

constexpr std::string_view magic = "kestrel-store";
constexpr std::uint32_t format_version_current = 2;
constexpr std::string_view key_magic = "magic";
constexpr std::string_view key_version = "format_version";
constexpr std::string_view key_cluster = "cluster_id";
constexpr std::string_view key_committed = "committed_height";
constexpr std::string_view key_first_kept = "first_kept_height";
constexpr std::string_view key_safety = "safety_record";

// An empty span may have a null data pointer, which RocksDB's comparisons assert
// against; an empty Slice points at "".
rocksdb::Slice slice(ByteSpan b) {
  if (b.empty()) return rocksdb::Slice();
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
rocksdb::Slice slice(std::string_view s) { return {s.data(), s.size()}; }
ByteSpan span_of(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

// Heights big-endian so RocksDB's byte order is height order.
std::array<std::uint8_t, 8> height_key(std::uint64_t h) {
  std::array<std::uint8_t, 8> k{};
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(h >> (56 - 8 * i));
  return k;
}
std::array<std::uint8_t, 8> u64_le(std::uint64_t v) {
  std::array<std::uint8_t, 8> k{};
  for (int i = 0; i < 8; ++i) k[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return k;
}
std::optional<std::uint64_t> parse_u64_le(const std::string& s) {
  if (s.size() != 8) return std::nullopt;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(s[i])} << (8 * i);
  return v;
}

StorageError from_status(const rocksdb::Status& s) {
  if (s.IsCorruption()) return StorageError::corrupt;
  if (s.IsNotFound()) return StorageError::not_found;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) return StorageError::locked;
  return StorageError::io_error;
}

void set_detail(std::string* detail, std::string text) {
  if (detail != nullptr) *detail = std::move(text);
}

// Bounded LRU of committed blocks by height and by id (gate storage.block_cache).
class BlockCache {
 public:
  std::shared_ptr<const Bytes> find(std::uint64_t height) {
    const auto it = index_.find(height);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return it->second->block;
  }
  std::shared_ptr<const Bytes> find(const Hash32& id) {
    const auto it = ids_.find(id);
    return it == ids_.end() ? nullptr : find(it->second);
  }
  void insert(std::uint64_t height, const Hash32& id, std::shared_ptr<const Bytes> block) {
    erase(height);
    // An id already cached at another height (only a corrupt height index can do
    // that: ids cover the height) leaves first, so one id maps to one entry.
    if (const auto other = ids_.find(id); other != ids_.end()) erase(other->second);
    if (block->size() > limits::storage_block_cache_bytes_max) return;
    bytes_ += block->size();
    order_.push_front({height, id, std::move(block)});
    index_.emplace(height, order_.begin());
    ids_[id] = height;
    while (order_.size() > limits::storage_block_cache_entries_max ||
           bytes_ > limits::storage_block_cache_bytes_max) {
      erase(order_.back().height);
    }
    KESTREL_ASSERT(order_.size() == index_.size() && ids_.size() == index_.size());
  }
  void erase(std::uint64_t height) {
    const auto it = index_.find(height);
    if (it == index_.end()) return;
    bytes_ -= it->second->block->size();
    ids_.erase(it->second->id);
    order_.erase(it->second);
    index_.erase(it);
  }
  void clear() {
    order_.clear();
    index_.clear();
    ids_.clear();
    bytes_ = 0;
  }
  std::size_t size() const { return order_.size(); }

 private:
  struct Entry {
    std::uint64_t height;
    Hash32 id;
    std::shared_ptr<const Bytes> block;
  };
  std::list<Entry> order_;  // most recent first
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index_;
  std::unordered_map<Hash32, std::uint64_t, Hash32Hasher> ids_;  // a height's id (one block per height)
  std::size_t bytes_ = 0;
};

}  // namespace

const char* describe(StorageError error) {
  switch (error) {
    case StorageError::io_error: return "storage: I/O error";
    case StorageError::locked: return "storage: the store is open in another process";
    case StorageError::not_a_store: return "storage: the directory is not a Kestrel store";
    case StorageError::missing: return "storage: no store at this path";
    case StorageError::wrong_cluster: return "storage: the store belongs to another cluster";
    case StorageError::format_version: return "storage: the store has another format version";
    case StorageError::corrupt: return "storage: the store is corrupt";
    case StorageError::not_found: return "storage: not found";
    case StorageError::pruned: return "storage: height pruned";
    case StorageError::height_not_next: return "storage: height is not committed height + 1";
    case StorageError::too_large: return "storage: value larger than storage_value_bytes_max";
    case StorageError::invalid_options: return "storage: invalid options";
    case StorageError::pending_full: return "storage: pending blocks at storage_pending_blocks_max or _bytes_max";
  }
  return "storage: unknown error";
}

struct Store::Impl {
  Options options;
  bool direct_io = false;
  rocksdb::DB* db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::WriteBatchWithIndex pending{rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true};
  std::size_t pending_appends = 0;
  BlockCache cache;
  std::shared_ptr<rocksdb::Cache> rocksdb_cache;  // shared by every family's tables
  // The pending (uncommitted) blocks' ids and sizes, including unflushed puts and
  // deletes: bounds checks without reads. At most storage_pending_blocks_max.
  std::map<Hash32, std::size_t> pending_block_sizes;
  std::size_t pending_block_bytes = 0;

  ~Impl() {
    if (db == nullptr) return;
    // Pending writes were never acknowledged as durable; they are written (not
    // synced) so a clean close loses nothing, and memtables go to SST files so the
    // next open replays no log.
    if (pending.GetWriteBatch()->Count() > 0) (void)db->Write(rocksdb::WriteOptions(), pending.GetWriteBatch());
    (void)db->Flush(rocksdb::FlushOptions(), handles);
    for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
    (void)db->Close();
    delete db;
  }

  // A point read that sees pending writes. Values above the bound are corruption.
  Result<std::optional<std::string>, StorageError> get(Family family, rocksdb::Slice key) {
    rocksdb::ReadOptions read;
    read.verify_checksums = true;
    std::string value;
    rocksdb::Status s;
    if (pending.GetWriteBatch()->Count() > 0) {
      s = pending.GetFromBatchAndDB(db, read, handles[family], key, &value);
    } else {
      s = db->Get(read, handles[family], key, &value);
    }
    if (s.IsNotFound()) return std::optional<std::string>{};
    if (!s.ok()) return Err(from_status(s));
    if (value.size() > limits::storage_value_bytes_max) return Err(StorageError::corrupt);
    return std::optional<std::string>{std::move(value)};
  }

  // An iterator over one family that sees pending writes (the batch merged over
  // the database).
  std::unique_ptr<rocksdb::Iterator> iterator(Family family, const rocksdb::ReadOptions& read) {
    return std::unique_ptr<rocksdb::Iterator>(
        pending.NewIteratorWithBase(handles[family], db->NewIterator(read, handles[family]), &read));
  }

  Status<StorageError> write_synced(rocksdb::WriteBatch* batch) {
    rocksdb::WriteOptions write;
    write.sync = true;
    const auto s = db->Write(write, batch);
    if (!s.ok()) return Err(from_status(s));
    return {};
  }
};

namespace {

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

}  // namespace

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>, StorageError> Store::open(const Options& options, std::string* detail) {
  namespace fs = std::filesystem;
  if (options.keep_blocks < 1 || options.keep_blocks > limits::storage_keep_blocks_max) {
    set_detail(detail, "keep_blocks must be in [1, storage_keep_blocks_max]");
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
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = !exists;
  db_options.create_missing_column_families = !exists;
  db_options.paranoid_checks = true;
  // A torn last log record (a crash mid-write) is dropped: it was never acknowledged.
  // Corruption anywhere else in the log refuses the open.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Bounded memory and files (docs/storage.md "Bounds").
  db_options.max_open_files = 512;
  // Flushes write each block a second time (the log was the first); with O_DIRECT
  // that write skips the page cache's copy (gate storage.direct_io_flush,
  // docs/storage.md "Direct I/O").
  db_options.use_direct_io_for_flush_and_compaction =
      gate_enabled(Gate::storage_direct_io_flush) && direct_io_supported(options.path);
  db_options.max_total_wal_size = 64 << 20;
  db_options.keep_log_file_num = 4;
  // All memtables together stay under this (a validator's memory budget is 64 MiB
  // in all; docs/storage.md "Bounds"): RocksDB flushes the largest when it is hit.
  db_options.db_write_buffer_size = limits::storage_memtables_bytes_max;
  rocksdb::ColumnFamilyOptions cf_options;
  // Small values (safety record, heights, state, receipts, digests): 1 MiB buffers.
  // The block and certificate families get half the budget each (below): a full
  // block is ~1-2 MiB, and 2 MiB buffers there flushed every block or two and cost
  // 13 % of signed throughput (docs/storage.md "Bounds").
  cf_options.write_buffer_size = limits::storage_memtables_bytes_max / 8;
  cf_options.max_write_buffer_number = 2;
  // Blocks are mostly signatures and public keys (incompressible); compressing
  // them costs CPU on every flush and compaction and saves nothing.
  cf_options.compression = rocksdb::kNoCompression;
  // Index and filter blocks live in one bounded LRU cache instead of every open
  // table's own memory, which grows with the number of SST files over a long run.
  rocksdb::BlockBasedTableOptions table_options;
  std::shared_ptr<rocksdb::Cache> rocksdb_cache = rocksdb::NewLRUCache(limits::storage_rocksdb_cache_bytes);
  table_options.block_cache = rocksdb_cache;
  table_options.cache_index_and_filter_blocks = true;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table_options));

  if (exists) {
    std::vector<std::string> names;
    const auto s = rocksdb::DB::ListColumnFamilies(db_options, options.path, &names);
    if (!s.ok()) {
      set_detail(detail, "cannot list column families: " + s.ToString());
      return Err(from_status(s));
    }
    std::sort(names.begin(), names.end());
    std::vector<std::string> ours(family_names.begin(), family_names.end());
    std::sort(ours.begin(), ours.end());
    std::vector<std::string> format_1(family_names.begin(), family_names.begin() + format_1_family_count);
    std::sort(format_1.begin(), format_1.end());
    if (names == format_1) {
      set_detail(detail, options.path + " is a format 1 store (no digests or pending_blocks families); this build "
                                        "reads format " + std::to_string(format_version_current));
      return Err(StorageError::format_version);
    }
    if (names != ours) {
      set_detail(detail, options.path + " has other column families than a Kestrel store");
      return Err(StorageError::not_a_store);
    }
  }
  // Key-value separation for the families with large values (storage.blob_files):
  // read at open; values written either way stay readable with the other setting.
  rocksdb::ColumnFamilyOptions large_values = cf_options;
  large_values.write_buffer_size = limits::storage_memtables_bytes_max / 2;
  if (gate_enabled(Gate::storage_blob_files)) {
    large_values.enable_blob_files = true;
    large_values.min_blob_size = limits::storage_blob_value_bytes_min;
    large_values.blob_file_size = limits::storage_blob_file_bytes_max;
    large_values.blob_compression_type = rocksdb::kNoCompression;
    // No blob garbage collection: heights are committed and pruned in order, so a
    // blob file (one flush's values) turns all-garbage at once and is deleted when
    // no table references it. Age-based collection relocated live blocks from the
    // oldest quarter of the files at every compaction: 22 % of the machine's CPU
    // under signed load, for nothing (docs/storage.md "Blob files").
    large_values.enable_blob_garbage_collection = false;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (std::size_t f = 0; f < family_count; ++f) {
    const bool large = f == cf_blocks || f == cf_certificates;
    descriptors.emplace_back(family_names[f], large ? large_values : cf_options);
  }

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->rocksdb_cache = rocksdb_cache;
  {
    const auto s = rocksdb::DB::Open(db_options, options.path, descriptors, &impl->handles, &impl->db);
    if (!s.ok()) {
      set_detail(detail, "RocksDB refused to open " + options.path + ": " + s.ToString());
      return Err(from_status(s));
    }
  }
  KESTREL_ASSERT(impl->handles.size() == family_count);
  // What RocksDB runs with, not what was asked (docs/storage.md "Direct I/O").
  impl->direct_io = impl->db->GetDBOptions().use_direct_io_for_flush_and_compaction;

  std::unique_ptr<Store> store(new Store(std::move(impl)));
  Impl& d = *store->impl_;

  if (!exists) {
    rocksdb::WriteBatch batch;
    (void)batch.Put(d.handles[cf_meta], slice(key_magic), slice(magic));
    (void)batch.Put(d.handles[cf_meta], slice(key_version), slice(u64_le(format_version_current)));
    (void)batch.Put(d.handles[cf_meta], slice(key_cluster), slice(options.cluster_id.span()));
    (void)batch.Put(d.handles[cf_meta], slice(key_committed), slice(u64_le(0)));
    (void)batch.Put(d.handles[cf_meta], slice(key_first_kept), slice(u64_le(1)));
    auto written = d.write_synced(&batch);
    if (!written) {
      set_detail(detail, "cannot write the store's metadata");
      return Err(written.error());
    }
    store->counters_.synced_writes++;
    return store;
  }

  auto read_meta = [&](std::string_view key) { return d.get(cf_meta, slice(key)); };
  auto magic_value = read_meta(key_magic);
  if (!magic_value) {
    set_detail(detail, "cannot read the store's metadata");
    return Err(magic_value.error());
  }
  if (!magic_value->has_value() || **magic_value != magic) {
    set_detail(detail, options.path + " has no Kestrel store header");
    return Err(StorageError::not_a_store);
  }
  auto version = read_meta(key_version);
  if (!version || !version->has_value() || !parse_u64_le(**version)) {
    set_detail(detail, "format version record missing or malformed");
    return Err(StorageError::corrupt);
  }
  if (*parse_u64_le(**version) != format_version_current) {
    set_detail(detail, "store format version " + std::to_string(*parse_u64_le(**version)) +
                           ", this build reads " + std::to_string(format_version_current));
    return Err(StorageError::format_version);
  }
  auto cluster = read_meta(key_cluster);
  if (!cluster || !cluster->has_value() || (*cluster)->size() != Hash32::size) {
    set_detail(detail, "cluster id record missing or malformed");
    return Err(StorageError::corrupt);
  }
  if (!std::equal((*cluster)->begin(), (*cluster)->end(), options.cluster_id.bytes.begin(),
                  [](char a, std::uint8_t b) { return static_cast<std::uint8_t>(a) == b; })) {
    set_detail(detail, "store belongs to cluster " + to_hex(span_of(**cluster)) +
                           ", the config names cluster " + options.cluster_id.hex());
    return Err(StorageError::wrong_cluster);
  }
  auto committed = read_meta(key_committed);
  auto first_kept = read_meta(key_first_kept);
  if (!committed || !committed->has_value() || !parse_u64_le(**committed) || !first_kept ||
      !first_kept->has_value() || !parse_u64_le(**first_kept)) {
    set_detail(detail, "height records missing or malformed");
    return Err(StorageError::corrupt);
  }
  store->committed_height_ = *parse_u64_le(**committed);
  store->durable_height_ = store->committed_height_;
  store->first_kept_height_ = *parse_u64_le(**first_kept);
  if (store->first_kept_height_ < 1 || store->first_kept_height_ > store->committed_height_ + 1) {
    set_detail(detail, "first kept height " + std::to_string(store->first_kept_height_) +
                           " is inconsistent with committed height " +
                           std::to_string(store->committed_height_));
    return Err(StorageError::corrupt);
  }
  if (options.verify_checksums_on_open) {
    const auto s = d.db->VerifyChecksum();
    if (!s.ok()) {
      set_detail(detail, "checksum verification failed: " + s.ToString());
      return Err(from_status(s) == StorageError::io_error ? StorageError::io_error : StorageError::corrupt);
    }
  }
  // The committed-height index must reach its recorded end and its blocks must exist.
  for (std::uint64_t h : {store->first_kept_height_, store->committed_height_}) {
    if (h == 0 || h > store->committed_height_) continue;
    auto id = store->block_id_at(h);
    auto block = id ? store->block(*id) : Result<Bytes, StorageError>(Err(id.error()));
    auto cert = id ? store->certificate(*id) : Result<Bytes, StorageError>(Err(id.error()));
    if (!block || !cert) {
      set_detail(detail, "committed block at height " + std::to_string(h) + " is missing or unreadable");
      return Err(StorageError::corrupt);
    }
  }
  // The pending blocks' index (bounded: put_pending_block never stored more).
  {
    rocksdb::ReadOptions read;
    read.verify_checksums = true;
    std::unique_ptr<rocksdb::Iterator> it(d.db->NewIterator(read, d.handles[cf_pending_blocks]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      // A pending entry is a marker (the block's size, u64 LE); the bytes are in
      // the blocks family under the same id.
      const auto size = parse_u64_le(it->value().ToString());
      if (it->key().size() != Hash32::size || !size ||
          d.pending_block_sizes.size() >= limits::storage_pending_blocks_max) {
        set_detail(detail, "the pending blocks are malformed or more than storage_pending_blocks_max");
        return Err(StorageError::corrupt);
      }
      if (*size > limits::storage_value_bytes_max) {
        set_detail(detail, "a pending block marker is malformed");
        return Err(StorageError::corrupt);
      }
      Hash32 id;
      std::memcpy(id.bytes.data(), it->key().data(), Hash32::size);
      d.pending_block_sizes.emplace(id, static_cast<std::size_t>(*size));
      d.pending_block_bytes += static_cast<std::size_t>(*size);
    }
    if (!it->status().ok()) {
      set_detail(detail, "cannot read the pending blocks: " + it->status().ToString());
      return Err(from_status(it->status()));
    }
  }
  return store;
}

Status<StorageError> Store::flush() {
  Impl& d = *impl_;
  if (d.pending.GetWriteBatch()->Count() == 0) return {};
  KESTREL_TRY(d.write_synced(d.pending.GetWriteBatch()));
  counters_.synced_writes++;
  d.pending.Clear();
  d.pending_appends = 0;
  durable_height_ = committed_height_;
  return {};
}

Status<StorageError> Store::write_safety_record(ByteSpan record) {
  if (record.size() > limits::storage_value_bytes_max) return Err(StorageError::too_large);
  Impl& d = *impl_;
  // Pending writes and the record go down in one synced write: everything before the
  // record is at least as durable as the record.
  (void)d.pending.Put(d.handles[cf_safety], slice(key_safety), slice(record));
  return flush();
}

Result<std::optional<Bytes>, StorageError> Store::safety_record() {
  auto v = impl_->get(cf_safety, slice(key_safety));
  if (!v) return Err(v.error());
  if (!v->has_value()) return std::optional<Bytes>{};
  const auto s = span_of(**v);
  return std::optional<Bytes>{Bytes(s.begin(), s.end())};
}

Status<StorageError> Store::append_block(std::uint64_t height, const Hash32& id, ByteSpan block,
                                         ByteSpan certificate, ByteSpan receipts_bytes,
                                         std::span<const StateWrite> state_writes, const Hash32* state_digest) {
  if (height != committed_height_ + 1) return Err(StorageError::height_not_next);
  if (block.size() > limits::storage_value_bytes_max ||
      certificate.size() > limits::storage_value_bytes_max ||
      receipts_bytes.size() > limits::storage_value_bytes_max) {
    return Err(StorageError::too_large);
  }
  for (const auto& w : state_writes) {
    if (w.key.size() > limits::storage_value_bytes_max || w.value.size() > limits::storage_value_bytes_max) {
      return Err(StorageError::too_large);
    }
  }
  Impl& d = *impl_;
  const bool batching = gate_enabled(Gate::storage_write_batching);
  if (!batching) KESTREL_TRY(flush());  // the gate was turned off with writes pending
  auto& b = d.pending;
  const auto hk = height_key(height);
  (void)b.Put(d.handles[cf_heights], slice(hk), slice(id.span()));
  // A block persisted while pending is in the blocks family already (written once).
  const auto pending = d.pending_block_sizes.find(id);
  if (pending == d.pending_block_sizes.end() || pending->second != block.size()) {
    (void)b.Put(d.handles[cf_blocks], slice(id.span()), slice(block));
  }
  (void)b.Put(d.handles[cf_certificates], slice(id.span()), slice(certificate));
  (void)b.Put(d.handles[cf_receipts], slice(hk), slice(receipts_bytes));
  (void)b.Put(d.handles[cf_meta], slice(key_committed), slice(u64_le(height)));
  for (const auto& w : state_writes) (void)b.Put(d.handles[cf_state], slice(w.key), slice(w.value));
  if (state_digest != nullptr) (void)b.Put(d.handles[cf_digests], slice(hk), slice(state_digest->span()));
  // The block is committed now: it is no longer pending (same batch).
  if (pending != d.pending_block_sizes.end()) {
    (void)b.Delete(d.handles[cf_pending_blocks], slice(id.span()));
    d.pending_block_bytes -= pending->second;
    d.pending_block_sizes.erase(pending);
  }
  committed_height_ = height;
  // Pruning: keep the last keep_blocks heights (bounded work per append).
  std::uint64_t first_kept = first_kept_height_;
  for (std::size_t i = 0; i < limits::storage_prune_blocks_per_append_max &&
                          height >= d.options.keep_blocks && first_kept <= height - d.options.keep_blocks;
       ++i, ++first_kept) {
    const auto pk = height_key(first_kept);
    auto old = d.get(cf_heights, slice(pk));
    if (!old) return Err(old.error());
    if (old->has_value()) {
      (void)b.Delete(d.handles[cf_blocks], slice(**old));
      (void)b.Delete(d.handles[cf_certificates], slice(**old));
    }
    (void)b.Delete(d.handles[cf_heights], slice(pk));
    (void)b.Delete(d.handles[cf_receipts], slice(pk));
    (void)b.Delete(d.handles[cf_digests], slice(pk));
    d.cache.erase(first_kept);
    counters_.pruned_blocks++;
  }
  if (first_kept != first_kept_height_) {
    (void)b.Put(d.handles[cf_meta], slice(key_first_kept), slice(u64_le(first_kept)));
    first_kept_height_ = first_kept;
  }
  if (gate_enabled(Gate::storage_block_cache)) {
    d.cache.insert(height, id, std::make_shared<const Bytes>(block.begin(), block.end()));
  }
  d.pending_appends++;
  if (!batching || d.pending_appends >= limits::storage_pending_writes_max ||
      b.GetWriteBatch()->GetDataSize() >= limits::storage_pending_bytes_max) {
    return flush();
  }
  return {};
}

Result<Hash32, StorageError> Store::block_id_at(std::uint64_t height) {
  if (height == 0 || height > committed_height_) return Err(StorageError::not_found);
  if (height < first_kept_height_) return Err(StorageError::pruned);
  auto v = impl_->get(cf_heights, slice(height_key(height)));
  if (!v) return Err(v.error());
  // The index must hold every kept height: a hole is corruption, not absence.
  if (!v->has_value() || (*v)->size() != Hash32::size) return Err(StorageError::corrupt);
  Hash32 id;
  std::copy((*v)->begin(), (*v)->end(), id.bytes.begin());
  return id;
}

Result<std::shared_ptr<const Bytes>, StorageError> Store::block_at(std::uint64_t height) {
  const bool use_cache = gate_enabled(Gate::storage_block_cache);
  if (!use_cache && impl_->cache.size() > 0) impl_->cache.clear();
  if (use_cache) {
    if (auto hit = impl_->cache.find(height)) {
      counters_.block_cache_hits++;
      return hit;
    }
    counters_.block_cache_misses++;
  }
  auto id = block_id_at(height);
  if (!id) return Err(id.error());
  auto bytes = block(*id);
  if (!bytes) return Err(bytes.error() == StorageError::not_found ? StorageError::corrupt : bytes.error());
  auto shared = std::make_shared<const Bytes>(std::move(bytes).value());
  if (use_cache) impl_->cache.insert(height, *id, shared);
  return std::shared_ptr<const Bytes>(shared);
}

namespace {
Result<Bytes, StorageError> to_bytes(Result<std::optional<std::string>, StorageError> v) {
  if (!v) return Err(v.error());
  if (!v->has_value()) return Err(StorageError::not_found);
  const auto s = span_of(**v);
  return Bytes(s.begin(), s.end());
}
}  // namespace

Result<Bytes, StorageError> Store::block(const Hash32& id) {
  // Recent committed blocks (a lagging peer's catch-up fetches) come from the
  // cache; pending blocks and older ones from RocksDB.
  if (gate_enabled(Gate::storage_block_cache)) {
    if (auto hit = impl_->cache.find(id)) {
      counters_.block_cache_hits++;
      return Bytes(*hit);
    }
  }
  return to_bytes(impl_->get(cf_blocks, slice(id.span())));
}

Result<Bytes, StorageError> Store::certificate(const Hash32& id) {
  return to_bytes(impl_->get(cf_certificates, slice(id.span())));
}

Result<Bytes, StorageError> Store::receipts(std::uint64_t height) {
  if (height == 0 || height > committed_height_) return Err(StorageError::not_found);
  if (height < first_kept_height_) return Err(StorageError::pruned);
  return to_bytes(impl_->get(cf_receipts, slice(height_key(height))));
}

Result<Hash32, StorageError> Store::state_digest_at(std::uint64_t height) {
  if (height == 0 || height > committed_height_) return Err(StorageError::not_found);
  if (height < first_kept_height_) return Err(StorageError::pruned);
  auto v = impl_->get(cf_digests, slice(height_key(height)));
  if (!v) return Err(v.error());
  if (!v->has_value()) return Err(StorageError::not_found);
  if ((*v)->size() != Hash32::size) return Err(StorageError::corrupt);
  Hash32 digest;
  std::memcpy(digest.bytes.data(), (*v)->data(), Hash32::size);
  return digest;
}

Result<Hash32, StorageError> Store::last_state_digest() { return state_digest_at(committed_height_); }

Status<StorageError> Store::put_pending_block(const Hash32& id, ByteSpan block) {
  if (block.size() > limits::storage_value_bytes_max) return Err(StorageError::too_large);
  Impl& d = *impl_;
  const auto existing = d.pending_block_sizes.find(id);
  const bool is_new = existing == d.pending_block_sizes.end();
  const std::size_t bytes_after = d.pending_block_bytes - (is_new ? 0 : existing->second) + block.size();
  if ((is_new && d.pending_block_sizes.size() >= limits::storage_pending_blocks_max) ||
      bytes_after > limits::storage_pending_blocks_bytes_max) {
    return Err(StorageError::pending_full);
  }
  const bool batching = gate_enabled(Gate::storage_write_batching);
  if (!batching) KESTREL_TRY(flush());  // the gate was turned off with writes pending
  // The bytes go where a committed block's go (append_block then writes only the
  // index, not the block again); the pending family holds a size marker.
  (void)d.pending.Put(d.handles[cf_blocks], slice(id.span()), slice(block));
  (void)d.pending.Put(d.handles[cf_pending_blocks], slice(id.span()), slice(u64_le(block.size())));
  d.pending_block_sizes[id] = block.size();
  d.pending_block_bytes = bytes_after;
  KESTREL_ASSERT(d.pending_block_sizes.size() <= limits::storage_pending_blocks_max);
  if (!batching || d.pending.GetWriteBatch()->GetDataSize() >= limits::storage_pending_bytes_max) return flush();
  return {};
}

Status<StorageError> Store::delete_pending_block(const Hash32& id) {
  Impl& d = *impl_;
  const auto existing = d.pending_block_sizes.find(id);
  if (existing == d.pending_block_sizes.end()) return {};
  const bool batching = gate_enabled(Gate::storage_write_batching);
  if (!batching) KESTREL_TRY(flush());
  // Still pending, so never committed: its bytes go too.
  (void)d.pending.Delete(d.handles[cf_pending_blocks], slice(id.span()));
  (void)d.pending.Delete(d.handles[cf_blocks], slice(id.span()));
  d.pending_block_bytes -= existing->second;
  d.pending_block_sizes.erase(existing);
  if (!batching) return flush();
  return {};
}

std::size_t Store::pending_block_count() const { return impl_->pending_block_sizes.size(); }

Result<std::vector<std::pair<Hash32, Bytes>>, StorageError> Store::pending_blocks() {
  Impl& d = *impl_;
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  auto it = d.iterator(cf_pending_blocks, read);
  std::vector<std::pair<Hash32, Bytes>> out;
  out.reserve(d.pending_block_sizes.size());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // The index says how many there are; more, or a malformed entry, is corruption.
    if (out.size() >= d.pending_block_sizes.size() || it->key().size() != Hash32::size || it->value().size() != 8 ||
        !d.pending_block_sizes.count([&] {
          Hash32 key;
          std::memcpy(key.bytes.data(), it->key().data(), Hash32::size);
          return key;
        }())) {
      return Err(StorageError::corrupt);
    }
    Hash32 id;
    std::memcpy(id.bytes.data(), it->key().data(), Hash32::size);
    auto block = d.get(cf_blocks, slice(id.span()));
    if (!block) return Err(block.error());
    if (!block->has_value() || (*block)->size() != d.pending_block_sizes[id]) return Err(StorageError::corrupt);
    const std::string& bytes = **block;
    out.emplace_back(id, Bytes(bytes.begin(), bytes.end()));
  }
  if (!it->status().ok()) return Err(from_status(it->status()));
  if (out.size() != d.pending_block_sizes.size()) return Err(StorageError::corrupt);
  return out;
}

Result<std::vector<std::pair<Bytes, Bytes>>, StorageError> Store::state_range(ByteSpan start_after,
                                                                                std::size_t max_entries) {
  KESTREL_ASSERT(max_entries >= 1);
  const std::size_t entries_max = std::min(max_entries, limits::storage_state_page_entries_max);
  Impl& d = *impl_;
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  auto it = d.iterator(cf_state, read);
  it->Seek(slice(start_after));
  if (it->Valid() && it->key() == slice(start_after)) it->Next();
  std::vector<std::pair<Bytes, Bytes>> out;
  std::size_t bytes = 0;
  for (; it->Valid() && out.size() < entries_max; it->Next()) {
    const auto key = it->key();
    const auto value = it->value();
    if (value.size() > limits::storage_value_bytes_max) return Err(StorageError::corrupt);
    if (!out.empty() && bytes + key.size() + value.size() > limits::storage_state_page_bytes_max) break;
    bytes += key.size() + value.size();
    const auto* k = reinterpret_cast<const std::uint8_t*>(key.data());
    const auto* v = reinterpret_cast<const std::uint8_t*>(value.data());
    out.emplace_back(Bytes(k, k + key.size()), Bytes(v, v + value.size()));
  }
  if (!it->status().ok()) return Err(from_status(it->status()));
  KESTREL_ASSERT(out.size() <= entries_max);
  return out;
}

Status<StorageError> Store::put_state(ByteSpan key, ByteSpan value) {
  if (key.size() > limits::storage_value_bytes_max || value.size() > limits::storage_value_bytes_max) {
    return Err(StorageError::too_large);
  }
  Impl& d = *impl_;
  (void)d.pending.Put(d.handles[cf_state], slice(key), slice(value));
  if (!gate_enabled(Gate::storage_write_batching) ||
      d.pending.GetWriteBatch()->GetDataSize() >= limits::storage_pending_bytes_max) {
    return flush();
  }
  return {};
}

Status<StorageError> Store::delete_state(ByteSpan key) {
  Impl& d = *impl_;
  (void)d.pending.Delete(d.handles[cf_state], slice(key));
  if (!gate_enabled(Gate::storage_write_batching) ||
      d.pending.GetWriteBatch()->GetDataSize() >= limits::storage_pending_bytes_max) {
    return flush();
  }
  return {};
}

Result<std::optional<Bytes>, StorageError> Store::state(ByteSpan key) {
  auto v = impl_->get(cf_state, slice(key));
  if (!v) return Err(v.error());
  if (!v->has_value()) return std::optional<Bytes>{};
  const auto s = span_of(**v);
  return std::optional<Bytes>{Bytes(s.begin(), s.end())};
}

std::size_t Store::block_cache_size() const { return impl_->cache.size(); }
bool Store::direct_io() const { return impl_->direct_io; }

MemoryUsage Store::memory_usage() const {
  MemoryUsage m;
  std::uint64_t value = 0;
  if (impl_->db->GetAggregatedIntProperty(rocksdb::DB::Properties::kSizeAllMemTables, &value)) m.memtables = value;
  if (impl_->db->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateTableReadersMem, &value)) {
    m.table_readers = value;
  }
  m.block_cache = impl_->rocksdb_cache->GetUsage();
  m.pinned = impl_->rocksdb_cache->GetPinnedUsage();
  return m;
}

}  // namespace kestrel::storage
