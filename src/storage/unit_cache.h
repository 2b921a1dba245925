// Private to src/storage: the bounded LRU of committed units, with their proofs,
// by sequence and by id (gate storage.block_cache; docs/storage.md "Block
// cache"). Filled on append_commit and on read; at most
// limits::storage_block_cache_entries_max commits and storage_block_cache_bytes_max
// bytes of units and proofs. Commits are append-only and pruning
// erases what it deletes, so an entry never goes stale.
//
// Thread-safety: none.
#pragma once

#include <list>
#include <memory>
#include <unordered_map>

#include "common/assert.h"
#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"

namespace kestrel::storage {

class UnitCache {
 public:
  struct Entry {
    std::uint64_t sequence = 0;
    Hash32 id;
    std::shared_ptr<const Bytes> unit;
    std::shared_ptr<const Bytes> proof;
    std::size_t bytes() const { return unit->size() + proof->size(); }
  };

  // nullptr when the sequence is not cached; valid until the next insert or erase.
  const Entry* find(std::uint64_t sequence) {
    const auto it = index_.find(sequence);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &*it->second;
  }
  std::shared_ptr<const Bytes> find(const Hash32& id) {
    const auto it = ids_.find(id);
    if (it == ids_.end()) return nullptr;
    return find(it->second)->unit;
  }
  // The sequence of a cached id (0 when not cached), without touching the order.
  std::uint64_t sequence_of(const Hash32& id) const {
    const auto it = ids_.find(id);
    return it == ids_.end() ? 0 : it->second;
  }
  void insert(Entry entry) {
    KESTREL_ASSERT(entry.sequence > 0 && entry.unit != nullptr && entry.proof != nullptr);
    const std::uint64_t sequence = entry.sequence;
    const Hash32 id = entry.id;
    erase(sequence);
    // One id, one sequence (append_commit refuses an id twice); an id cached at
    // another sequence could only come from a corrupt index: it leaves first.
    if (const auto other = ids_.find(id); other != ids_.end()) erase(other->second);
    if (entry.bytes() > limits::storage_block_cache_bytes_max) return;
    bytes_ += entry.bytes();
    order_.push_front(std::move(entry));
    index_.emplace(sequence, order_.begin());
    ids_[id] = sequence;
    while (order_.size() > limits::storage_block_cache_entries_max || bytes_ > limits::storage_block_cache_bytes_max) {
      erase(order_.back().sequence);
    }
    KESTREL_ASSERT(order_.size() == index_.size() && ids_.size() == index_.size());
    KESTREL_ASSERT(bytes_ <= limits::storage_block_cache_bytes_max);
  }
  void erase(std::uint64_t sequence) {
    const auto it = index_.find(sequence);
    if (it == index_.end()) return;
    bytes_ -= it->second->bytes();
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
  std::list<Entry> order_;  // most recent first
  std::unordered_map<std::uint64_t, std::list<Entry>::iterator> index_;
  std::unordered_map<Hash32, std::uint64_t, Hash32Hasher> ids_;
  std::size_t bytes_ = 0;
};

}  // namespace kestrel::storage
