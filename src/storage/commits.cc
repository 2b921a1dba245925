// The commit stream: appending a commit (its unit written once), reading it back
// by sequence or id, and pruning the commits below the kept window
// (docs/storage.md "Commit stream" and "Pruning and bounds").
#include <algorithm>

#include "common/assert.h"
#include "common/gates.h"
#include "storage/store_impl.h"

namespace kestrel::storage {

Status<StorageError> Store::append_commit(std::uint64_t sequence, const Hash32& id, ByteSpan unit, ByteSpan proof) {
  if (sequence != committed_height_ + 1) return Err(StorageError::height_not_next);
  if (unit.size() > limits::storage_value_bytes_max || proof.size() > limits::storage_value_bytes_max) {
    return Err(StorageError::too_large);
  }
  Impl& d = *impl_;
  const auto owned = d.unit_sizes.find(id);
  const bool journal_owned = owned != d.unit_sizes.end();
  if (!journal_owned) {
    // A journal-owned unit is never committed; any other id may be. Twice in the
    // stream would leave one id index for two commits, and pruning the first would
    // delete the second's unit.
    if (d.maybe_committed(id)) {
      if (d.cache.sequence_of(id) != 0) return Err(StorageError::already_committed);
      auto committed = d.get(cf_sequences, slice(id.span()));
      if (!committed) return Err(committed.error());
      if (committed->has_value()) return Err(StorageError::already_committed);
    }
  }
  auto to_prune = prunable(sequence, executed_height_);
  if (!to_prune) return Err(to_prune.error());
  KESTREL_TRY(write_begin());

  const auto key = sequence_key(sequence);
  d.put(cf_commits, slice(key), slice(id.span()));
  d.put(cf_proofs, slice(key), slice(proof));
  d.put(cf_sequences, slice(id.span()), slice(key));
  d.committed_prefixes.insert(Impl::prefix_of(id));
  // Written once: a unit the journal stored under this id (same size: ids cover
  // the bytes) is in the units family already, so only the index is written
  // (writing blocks twice cost ~10 % of signed throughput; docs/storage.md).
  if (!journal_owned || owned->second != unit.size()) d.put(cf_units, slice(id.span()), slice(unit));
  if (journal_owned) {
    // Committed now: it leaves the journal in the same batch.
    d.erase(cf_journal_units, slice(id.span()));
    KESTREL_ASSERT(d.unit_bytes >= owned->second);
    d.unit_bytes -= owned->second;
    d.unit_sizes.erase(owned);
  }
  d.put(cf_meta, slice(key_committed), slice(u64_le(sequence)));
  committed_height_ = sequence;
  prune(*to_prune);
  if (gate_enabled(Gate::storage_block_cache)) {
    d.cache.insert({sequence, id, std::make_shared<const Bytes>(unit.begin(), unit.end()),
                    std::make_shared<const Bytes>(proof.begin(), proof.end())});
  }
  d.pending_writes++;
  return write_end();
}

Result<CommitRecord, StorageError> Store::commit_at(std::uint64_t sequence) {
  if (sequence == 0 || sequence > committed_height_) return Err(StorageError::not_found);
  if (sequence < first_kept_height_) return Err(StorageError::pruned);
  Impl& d = *impl_;
  const bool use_cache = gate_enabled(Gate::storage_block_cache);
  if (!use_cache && d.cache.size() > 0) d.cache.clear();
  const auto key = sequence_key(sequence);
  if (use_cache) {
    if (const UnitCache::Entry* hit = d.cache.find(sequence)) {
      counters_.block_cache_hits++;
      return CommitRecord{hit->id, hit->unit, *hit->proof};
    }
    counters_.block_cache_misses++;
  }
  // Every kept sequence has its entry, proof and unit: a hole is corruption.
  auto id_bytes = d.get(cf_commits, slice(key));
  if (!id_bytes) return Err(id_bytes.error());
  const auto id = id_bytes->has_value() ? parse_id(span_of(**id_bytes)) : std::nullopt;
  if (!id) return Err(StorageError::corrupt);
  auto unit_bytes = d.get(cf_units, slice(id->span()));
  if (!unit_bytes) return Err(unit_bytes.error());
  if (!unit_bytes->has_value()) return Err(StorageError::corrupt);
  auto proof_bytes = d.get(cf_proofs, slice(key));
  if (!proof_bytes) return Err(proof_bytes.error());
  if (!proof_bytes->has_value()) return Err(StorageError::corrupt);
  const ByteSpan unit = span_of(**unit_bytes), proof = span_of(**proof_bytes);
  CommitRecord out{*id, std::make_shared<const Bytes>(unit.begin(), unit.end()), Bytes(proof.begin(), proof.end())};
  if (use_cache) d.cache.insert({sequence, out.id, out.unit, std::make_shared<const Bytes>(out.proof)});
  return out;
}

Result<std::uint64_t, StorageError> Store::sequence_of(const Hash32& id) {
  Impl& d = *impl_;
  if (const std::uint64_t cached = d.cache.sequence_of(id); cached != 0) return cached;
  if (!d.maybe_committed(id)) return Err(StorageError::not_found);  // no read for an id a peer made up
  auto v = d.get(cf_sequences, slice(id.span()));
  if (!v) return Err(v.error());
  if (!v->has_value()) return Err(StorageError::not_found);
  const auto sequence = parse_sequence_key(span_of(**v));
  // The index holds kept commits only (pruning deletes an id's entry with its commit).
  if (!sequence || *sequence < first_kept_height_ || *sequence > committed_height_) return Err(StorageError::corrupt);
  return *sequence;
}

// The kept window is [first_kept, committed]: it starts keep_commits below the
// committed height, but never above the executed height (or 1), so the commits
// the executor has not run yet and the executed height's receipts and digest stay.
Result<Store::PruneList, StorageError> Store::prunable(std::uint64_t committed, std::uint64_t executed) {
  Impl& d = *impl_;
  const std::uint64_t keep = d.options.keep_commits;
  const std::uint64_t window_start = committed >= keep ? committed - keep + 1 : 1;
  const std::uint64_t first_kept = std::min(window_start, std::max<std::uint64_t>(executed, 1));
  const std::uint64_t end = std::min<std::uint64_t>(first_kept, first_kept_height_ + limits::storage_prune_commits_per_call_max);
  PruneList out;
  for (std::uint64_t s = first_kept_height_; s < end; ++s) {
    auto id_bytes = d.get(cf_commits, slice(sequence_key(s)));
    if (!id_bytes) return Err(id_bytes.error());
    const auto id = id_bytes->has_value() ? parse_id(span_of(**id_bytes)) : std::nullopt;
    if (!id) return Err(StorageError::corrupt);
    out.emplace_back(s, *id);
  }
  KESTREL_ASSERT(out.size() <= limits::storage_prune_commits_per_call_max);
  return out;
}

void Store::prune(const PruneList& commits) {
  Impl& d = *impl_;
  for (const auto& [sequence, id] : commits) {
    KESTREL_ASSERT(sequence == first_kept_height_);
    const auto key = sequence_key(sequence);
    d.erase(cf_commits, slice(key));
    d.erase(cf_proofs, slice(key));
    d.erase(cf_receipts, slice(key));
    d.erase(cf_digests, slice(key));
    d.erase(cf_sequences, slice(id.span()));
    if (auto p = d.committed_prefixes.find(Impl::prefix_of(id)); p != d.committed_prefixes.end()) {
      d.committed_prefixes.erase(p);
    }
    d.erase(cf_units, slice(id.span()));
    d.cache.erase(sequence);
    counters_.pruned_commits++;
    ++first_kept_height_;
  }
  if (!commits.empty()) d.put(cf_meta, slice(key_first_kept), slice(u64_le(first_kept_height_)));
  // Never the executed height or above: the replay after a restart needs them.
  KESTREL_ASSERT(first_kept_height_ <= std::max<std::uint64_t>(executed_height_, 1));
  KESTREL_ASSERT(first_kept_height_ <= committed_height_ + 1);
}

}  // namespace kestrel::storage
