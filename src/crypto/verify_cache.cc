#include "crypto/verify_cache.h"

#include <sodium.h>

#include <bit>

#include "common/gates.h"
#include "crypto/classic.h"
#include "crypto/random.h"

namespace kestrel::crypto {

namespace {

std::size_t checked_index_size(std::size_t capacity) {
  KESTREL_ASSERT(capacity > 0 && capacity <= limits::verify_cache_entries_max);
  return std::bit_ceil(2 * capacity);
}

// The probe start is SipHash-2-4 (libsodium crypto_shorthash) of the key under a
// per-process random secret: the cache keys are hashes of attacker-chosen inputs,
// and without the secret a client could grind inputs into one long probe run that
// every lookup (under the one mutex) would scan.
const std::array<std::uint8_t, crypto_shorthash_KEYBYTES>& probe_secret() {
  static const auto secret = [] {
    std::array<std::uint8_t, crypto_shorthash_KEYBYTES> s{};
    random_bytes(s);
    return s;
  }();
  return secret;
}

std::size_t home_slot(const Hash32& key, std::size_t mask) {
  std::array<std::uint8_t, crypto_shorthash_BYTES> out;
  crypto_shorthash(out.data(), key.bytes.data(), key.bytes.size(), probe_secret().data());
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < out.size(); ++i) v |= static_cast<std::uint64_t>(out[i]) << (8 * i);
  return static_cast<std::size_t>(v) & mask;
}

void update_with_length(Sha256& hasher, ByteSpan data) {
  std::array<std::uint8_t, 8> length;
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(data.size()) >> (8 * i));
  hasher.update(length);
  hasher.update(data);
}

}  // namespace

VerifyCache::VerifyCache(std::size_t capacity)
    : capacity_(capacity), index_mask_(checked_index_size(capacity) - 1), entries_(capacity),
      index_(index_mask_ + 1, none) {
  sodium_init_once();
  (void)probe_secret();
}

Hash32 VerifyCache::key_of(const Verifier& verifier, ByteSpan message, ByteSpan signature) {
  Sha256 hasher;
  const std::array<std::uint8_t, 1> scheme{static_cast<std::uint8_t>(verifier.scheme())};
  hasher.update(scheme);
  update_with_length(hasher, verifier.public_key());
  update_with_length(hasher, message);
  update_with_length(hasher, signature);
  return hasher.finish();
}

Hash32 VerifyCache::key_of_binding(const Hash32& binding) {
  Sha256 hasher;
  hasher.update(as_bytes("kestrel/verify-cache/binding/v1"));
  hasher.update(binding.span());
  return hasher.finish();
}

Status<CryptoError> VerifyCache::verify(const Verifier& verifier, ByteSpan message, ByteSpan signature,
                                        const Hash32* binding) {
  if (!gate_enabled(Gate::crypto_verify_cache)) return verifier.verify(message, signature);
  const Hash32 key = binding != nullptr ? key_of_binding(*binding) : key_of(verifier, message, signature);
  {
    std::lock_guard lock(mutex_);
    if (lookup_and_touch(key)) {
      ++hits_;
      return {};
    }
    ++misses_;
  }
  auto status = verifier.verify(message, signature);  // outside the lock: the slow part
  if (status.ok()) {
    std::lock_guard lock(mutex_);
    insert_locked(key);
  }
  return status;
}

bool VerifyCache::contains(const Hash32& key) const {
  std::lock_guard lock(mutex_);
  return find_slot(key) != none;
}

void VerifyCache::insert(const Hash32& key) {
  std::lock_guard lock(mutex_);
  insert_locked(key);
}

void VerifyCache::clear() {
  std::lock_guard lock(mutex_);
  std::fill(index_.begin(), index_.end(), none);
  used_ = 0;
  newest_ = oldest_ = none;
}

std::size_t VerifyCache::size() const {
  std::lock_guard lock(mutex_);
  return used_;
}

std::uint64_t VerifyCache::hits() const {
  std::lock_guard lock(mutex_);
  return hits_;
}

std::uint64_t VerifyCache::misses() const {
  std::lock_guard lock(mutex_);
  return misses_;
}

// Linear probing; the index is at most half full, so probes stay short and a
// free slot always ends the search (bounded by the index size).
std::uint32_t VerifyCache::find_slot(const Hash32& key) const {
  std::size_t slot = home_slot(key, index_mask_);
  for (std::size_t probes = 0; probes <= index_mask_; ++probes, slot = (slot + 1) & index_mask_) {
    const std::uint32_t entry = index_[slot];
    if (entry == none) return none;
    if (entries_[entry].key == key) return static_cast<std::uint32_t>(slot);
  }
  return none;
}

bool VerifyCache::lookup_and_touch(const Hash32& key) {
  const std::uint32_t slot = find_slot(key);
  if (slot == none) return false;
  const std::uint32_t entry = index_[slot];
  unlink(entry);
  push_newest(entry);
  return true;
}

void VerifyCache::insert_locked(const Hash32& key) {
  if (lookup_and_touch(key)) return;
  std::uint32_t entry = 0;
  if (used_ < capacity_) {
    entry = static_cast<std::uint32_t>(used_++);
  } else {
    entry = oldest_;  // evict the least recently used
    const std::uint32_t slot = find_slot(entries_[entry].key);
    KESTREL_ASSERT(slot != none);
    index_erase(slot);
    unlink(entry);
  }
  entries_[entry].key = key;
  push_newest(entry);
  std::size_t slot = home_slot(key, index_mask_);
  while (index_[slot] != none) slot = (slot + 1) & index_mask_;  // terminates: index half empty
  index_[slot] = entry;
  KESTREL_DEBUG_ASSERT(used_ <= capacity_);
}

void VerifyCache::unlink(std::uint32_t entry) {
  Entry& e = entries_[entry];
  if (e.newer != none) entries_[e.newer].older = e.older; else newest_ = e.older;
  if (e.older != none) entries_[e.older].newer = e.newer; else oldest_ = e.newer;
  e.newer = e.older = none;
}

void VerifyCache::push_newest(std::uint32_t entry) {
  Entry& e = entries_[entry];
  e.older = newest_;
  e.newer = none;
  if (newest_ != none) entries_[newest_].newer = entry;
  newest_ = entry;
  if (oldest_ == none) oldest_ = entry;
}

// Backward-shift deletion keeps every remaining key reachable from its home slot
// without tombstones.
void VerifyCache::index_erase(std::uint32_t slot) {
  std::size_t hole = slot;
  std::size_t next = (hole + 1) & index_mask_;
  while (index_[next] != none) {
    const std::size_t home = home_slot(entries_[index_[next]].key, index_mask_);
    // Move next into the hole when its home is not in the cyclic range (hole, next].
    const bool home_in_range = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (!home_in_range) {
      index_[hole] = index_[next];
      hole = next;
    }
    next = (next + 1) & index_mask_;
  }
  index_[hole] = none;
}

}  // namespace kestrel::crypto
