// The store's write path (the pending batch, the gate storage.write_batching and
// the sync rule), its RocksDB plumbing, and its figures. The families' own calls
// are in journal.cc, commits.cc and execution.cc; opening in open.cc.
#include "storage/storage.h"

#include <rocksdb/write_batch.h>

#include "common/assert.h"
#include "common/gates.h"
#include "storage/store_impl.h"

namespace kestrel::storage {

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
    case StorageError::height_not_next: return "storage: sequence is not committed height + 1";
    case StorageError::already_committed: return "storage: the id is committed already";
    case StorageError::execution_not_next: return "storage: height is not executed height + 1";
    case StorageError::not_committed: return "storage: height is above the committed height";
    case StorageError::not_genesis: return "storage: genesis on a store that executed something or holds state";
    case StorageError::too_large: return "storage: value larger than storage_value_bytes_max (or key than its bound)";
    case StorageError::invalid_options: return "storage: invalid options";
    case StorageError::journal_full: return "storage: journal at storage_journal_entries_max or _bytes_max";
    case StorageError::units_full: return "storage: journal units at storage_journal_units_max or _bytes_max";
  }
  return "storage: unknown error";
}

StorageError from_status(const rocksdb::Status& s) {
  if (s.IsCorruption()) return StorageError::corrupt;
  if (s.IsNotFound()) return StorageError::not_found;
  if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) return StorageError::locked;
  return StorageError::io_error;
}

Store::Impl::~Impl() {
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

Result<std::optional<std::string>, StorageError> Store::Impl::get(Family family, rocksdb::Slice key) {
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

std::unique_ptr<rocksdb::Iterator> Store::Impl::iterator(Family family, const rocksdb::ReadOptions& read) {
  return std::unique_ptr<rocksdb::Iterator>(
      pending.NewIteratorWithBase(handles[family], db->NewIterator(read, handles[family]), &read));
}

Status<StorageError> Store::Impl::write_synced(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions write;
  write.sync = true;
  const auto s = db->Write(write, batch);
  if (!s.ok()) return Err(from_status(s));
  return {};
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

Status<StorageError> Store::flush() {
  Impl& d = *impl_;
  if (d.pending.GetWriteBatch()->Count() == 0) return {};
  KESTREL_TRY(d.write_synced(d.pending.GetWriteBatch()));
  counters_.synced_writes++;
  d.pending.Clear();
  d.pending_writes = 0;
  durable_height_ = committed_height_;
  return {};
}

Status<StorageError> Store::write_begin() {
  // The gate was turned off with writes pending: they go first, so this call's
  // synced write is its own and the order of writes is kept.
  if (!gate_enabled(Gate::storage_write_batching)) return flush();
  return {};
}

Status<StorageError> Store::write_end() {
  Impl& d = *impl_;
  if (!gate_enabled(Gate::storage_write_batching) || d.pending_writes >= limits::storage_pending_writes_max ||
      d.pending.GetWriteBatch()->GetDataSize() >= limits::storage_pending_bytes_max) {
    return flush();
  }
  return {};
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
