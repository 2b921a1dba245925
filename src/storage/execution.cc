// Execution state: per executed height its receipts and state digest, and the
// ledger state itself, written by the executor as it follows the commit stream
// (docs/storage.md "Execution state").
#include <algorithm>

#include "common/assert.h"
#include "storage/store_impl.h"

namespace kestrel::storage {

namespace {

bool fits(std::span<const StateWrite> writes) {
  return std::all_of(writes.begin(), writes.end(), [](const StateWrite& w) {
    return w.key.size() <= limits::storage_value_bytes_max && w.value.size() <= limits::storage_value_bytes_max;
  });
}

}  // namespace

Status<StorageError> Store::apply_execution(std::uint64_t height, ByteSpan receipts_bytes,
                                            std::span<const StateWrite> state_writes, const Hash32& state_digest) {
  if (height != executed_height_ + 1) return Err(StorageError::execution_not_next);
  if (height > committed_height_) return Err(StorageError::not_committed);
  if (receipts_bytes.size() > limits::storage_value_bytes_max || !fits(state_writes)) {
    return Err(StorageError::too_large);
  }
  auto to_prune = prunable(committed_height_, height);
  if (!to_prune) return Err(to_prune.error());
  KESTREL_TRY(write_begin());
  Impl& d = *impl_;
  const auto key = sequence_key(height);
  d.put(cf_receipts, slice(key), slice(receipts_bytes));
  d.put(cf_digests, slice(key), slice(state_digest.span()));
  for (const auto& w : state_writes) d.put(cf_state, slice(w.key), slice(w.value));
  d.put(cf_meta, slice(key_executed), slice(u64_le(height)));
  executed_height_ = height;
  prune(*to_prune);
  KESTREL_ASSERT(executed_height_ <= committed_height_);
  d.pending_writes++;
  return write_end();
}

Status<StorageError> Store::apply_genesis(std::span<const StateWrite> state) {
  if (!fits(state)) return Err(StorageError::too_large);
  Impl& d = *impl_;
  if (executed_height_ != 0) return Err(StorageError::not_genesis);
  {
    rocksdb::ReadOptions read;
    read.verify_checksums = true;
    auto it = d.iterator(cf_state, read);
    it->SeekToFirst();
    if (!it->status().ok()) return Err(from_status(it->status()));
    if (it->Valid()) return Err(StorageError::not_genesis);
  }
  KESTREL_TRY(write_begin());
  for (const auto& w : state) d.put(cf_state, slice(w.key), slice(w.value));
  return write_end();
}

Result<Bytes, StorageError> Store::receipts(std::uint64_t height) {
  if (height == 0 || height > executed_height_) return Err(StorageError::not_found);
  if (height < first_kept_height_) return Err(StorageError::pruned);
  auto v = impl_->get(cf_receipts, slice(sequence_key(height)));
  if (!v) return Err(v.error());
  // Every kept executed height has its receipts: a hole is corruption.
  if (!v->has_value()) return Err(StorageError::corrupt);
  const ByteSpan bytes = span_of(**v);
  return Bytes(bytes.begin(), bytes.end());
}

Result<Hash32, StorageError> Store::state_digest_at(std::uint64_t height) {
  if (height == 0 || height > executed_height_) return Err(StorageError::not_found);
  if (height < first_kept_height_) return Err(StorageError::pruned);
  auto v = impl_->get(cf_digests, slice(sequence_key(height)));
  if (!v) return Err(v.error());
  const auto digest = v->has_value() ? parse_id(span_of(**v)) : std::nullopt;
  if (!digest) return Err(StorageError::corrupt);
  return *digest;
}

Result<Hash32, StorageError> Store::last_state_digest() { return state_digest_at(executed_height_); }

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
    out.emplace_back(bytes_of(key), bytes_of(value));
  }
  if (!it->status().ok()) return Err(from_status(it->status()));
  KESTREL_ASSERT(out.size() <= entries_max);
  return out;
}

}  // namespace kestrel::storage
