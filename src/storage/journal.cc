// What the consensus core owns in the store: its journal records and the units it
// stored but has not committed (docs/storage.md "Journal and units"). Both are
// bounded by in-memory indexes (keys and sizes), so the bounds cost no reads.
#include "common/assert.h"
#include "common/gates.h"
#include "storage/store_impl.h"

namespace kestrel::storage {

Status<StorageError> Store::journal_put(ByteSpan key, ByteSpan value) {
  if (key.size() > limits::storage_journal_key_bytes_max || value.size() > limits::storage_value_bytes_max) {
    return Err(StorageError::too_large);
  }
  Impl& d = *impl_;
  const Bytes owned_key(key.begin(), key.end());
  const auto existing = d.journal_sizes.find(owned_key);
  const bool is_new = existing == d.journal_sizes.end();
  const std::size_t size = key.size() + value.size();
  const std::size_t bytes_after = d.journal_bytes - (is_new ? 0 : existing->second) + size;
  if ((is_new && d.journal_sizes.size() >= limits::storage_journal_entries_max) ||
      bytes_after > limits::storage_journal_bytes_max) {
    return Err(StorageError::journal_full);
  }
  KESTREL_TRY(write_begin());
  d.put(cf_journal, slice(key), slice(value));
  if (is_new) {
    d.journal_sizes.emplace(owned_key, size);
  } else {
    existing->second = size;
  }
  d.journal_bytes = bytes_after;
  KESTREL_ASSERT(d.journal_sizes.size() <= limits::storage_journal_entries_max);
  KESTREL_ASSERT(d.journal_bytes <= limits::storage_journal_bytes_max);
  return write_end();
}

Status<StorageError> Store::journal_erase(ByteSpan key) {
  Impl& d = *impl_;
  const auto existing = d.journal_sizes.find(Bytes(key.begin(), key.end()));
  if (existing == d.journal_sizes.end()) return {};
  KESTREL_TRY(write_begin());
  d.erase(cf_journal, slice(key));
  KESTREL_ASSERT(d.journal_bytes >= existing->second);
  d.journal_bytes -= existing->second;
  d.journal_sizes.erase(existing);
  return write_end();
}

Result<std::vector<std::pair<Bytes, Bytes>>, StorageError> Store::journal() {
  Impl& d = *impl_;
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  auto it = d.iterator(cf_journal, read);
  std::vector<std::pair<Bytes, Bytes>> out;
  out.reserve(d.journal_sizes.size());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    // The index says what is there; anything else is corruption (and the bound
    // keeps this loop finite).
    Bytes key = bytes_of(it->key());
    const auto indexed = d.journal_sizes.find(key);
    if (out.size() >= d.journal_sizes.size() || indexed == d.journal_sizes.end() ||
        indexed->second != key.size() + it->value().size()) {
      return Err(StorageError::corrupt);
    }
    out.emplace_back(std::move(key), bytes_of(it->value()));
  }
  if (!it->status().ok()) return Err(from_status(it->status()));
  if (out.size() != d.journal_sizes.size()) return Err(StorageError::corrupt);
  return out;
}

Status<StorageError> Store::unit_put(const Hash32& id, ByteSpan unit) {
  if (unit.size() > limits::storage_value_bytes_max) return Err(StorageError::too_large);
  Impl& d = *impl_;
  const auto existing = d.unit_sizes.find(id);
  const bool is_new = existing == d.unit_sizes.end();
  if (is_new) {
    // Journal-owned and committed never overlap: a committed unit's bytes are
    // stored (and pruned with its commit), so putting it again changes nothing.
    if (d.maybe_committed(id)) {
      if (d.cache.sequence_of(id) != 0) return {};
      auto committed = d.get(cf_sequences, slice(id.span()));
      if (!committed) return Err(committed.error());
      if (committed->has_value()) return {};
    }
  }
  const std::size_t bytes_after = d.unit_bytes - (is_new ? 0 : existing->second) + unit.size();
  if ((is_new && d.unit_sizes.size() >= limits::storage_journal_units_max) ||
      bytes_after > limits::storage_journal_units_bytes_max) {
    return Err(StorageError::units_full);
  }
  KESTREL_TRY(write_begin());
  // The bytes go where a committed unit's go (append_commit then writes only its
  // index, not the unit again); the journal_units family holds a size marker.
  d.put(cf_units, slice(id.span()), slice(unit));
  d.put(cf_journal_units, slice(id.span()), slice(u64_le(unit.size())));
  d.unit_sizes[id] = unit.size();
  d.unit_bytes = bytes_after;
  KESTREL_ASSERT(d.unit_sizes.size() <= limits::storage_journal_units_max);
  KESTREL_ASSERT(d.unit_bytes <= limits::storage_journal_units_bytes_max);
  return write_end();
}

Status<StorageError> Store::unit_erase(const Hash32& id) {
  Impl& d = *impl_;
  // Only journal-owned units are erased: a committed one left the index with its
  // commit, and its bytes belong to the stream now.
  const auto existing = d.unit_sizes.find(id);
  if (existing == d.unit_sizes.end()) return {};
  KESTREL_TRY(write_begin());
  d.erase(cf_journal_units, slice(id.span()));
  d.erase(cf_units, slice(id.span()));
  KESTREL_ASSERT(d.unit_bytes >= existing->second);
  d.unit_bytes -= existing->second;
  d.unit_sizes.erase(existing);
  return write_end();
}

Result<std::shared_ptr<const Bytes>, StorageError> Store::unit(const Hash32& id) {
  Impl& d = *impl_;
  // Recent committed units (a lagging peer's catch-up fetches) come from the
  // cache; journal-owned and older ones from RocksDB. The units family holds
  // exactly the journal-owned and the kept committed units.
  if (gate_enabled(Gate::storage_block_cache)) {
    if (auto hit = d.cache.find(id)) {
      counters_.block_cache_hits++;
      return hit;
    }
  }
  auto v = d.get(cf_units, slice(id.span()));
  if (!v) return Err(v.error());
  if (!v->has_value()) return Err(StorageError::not_found);
  const auto bytes = span_of(**v);
  return std::make_shared<const Bytes>(bytes.begin(), bytes.end());
}

Result<std::vector<std::pair<Hash32, Bytes>>, StorageError> Store::journal_units() {
  Impl& d = *impl_;
  rocksdb::ReadOptions read;
  read.verify_checksums = true;
  auto it = d.iterator(cf_journal_units, read);
  std::vector<std::pair<Hash32, Bytes>> out;
  out.reserve(d.unit_sizes.size());
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto id = parse_id(span_of(it->key()));
    const auto indexed = id ? d.unit_sizes.find(*id) : d.unit_sizes.end();
    if (out.size() >= d.unit_sizes.size() || indexed == d.unit_sizes.end()) return Err(StorageError::corrupt);
    auto bytes = d.get(cf_units, slice(id->span()));
    if (!bytes) return Err(bytes.error());
    if (!bytes->has_value() || (*bytes)->size() != indexed->second) return Err(StorageError::corrupt);
    // Never committed as well (append_commit moves a unit out of the journal).
    if (d.maybe_committed(*id)) {
      auto committed = d.get(cf_sequences, slice(id->span()));
      if (!committed) return Err(committed.error());
      if (committed->has_value()) return Err(StorageError::corrupt);
    }
    const ByteSpan unit_bytes = span_of(**bytes);
    out.emplace_back(*id, Bytes(unit_bytes.begin(), unit_bytes.end()));
  }
  if (!it->status().ok()) return Err(from_status(it->status()));
  if (out.size() != d.unit_sizes.size()) return Err(StorageError::corrupt);
  return out;
}

}  // namespace kestrel::storage
