// A bounded LRU cache of successful signature verifications (gate
// crypto.verify_cache). Mempool verifies a client transaction at ingress and
// consensus sees it again inside a proposal; votes arrive alone and again in a
// QC. With ML-DSA-65 a verification costs tens of microseconds; a hit costs one
// SHA-256 over the inputs and a table probe.
//
// Keyed by SHA-256(scheme || len || public key || len || message || len ||
// signature): a hit means these exact bytes verified before. Only successes are
// cached; a failed verification is checked again every time, so an attacker
// cannot poison the cache with a bad entry (and a collision of SHA-256 would be
// needed to make a bad signature hit a good entry).
//
// Bounded by limits::verify_cache_entries_max (or a smaller capacity), with all
// memory allocated at construction: a fixed entry array with an intrusive LRU
// list and an open-addressing index.
//
// Thread-safe: yes (one mutex around the table; hashing happens outside it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"
#include "crypto/signature.h"

namespace kestrel::crypto {

class VerifyCache {
 public:
  // REQUIRES: 0 < capacity <= limits::verify_cache_entries_max.
  explicit VerifyCache(std::size_t capacity = limits::verify_cache_entries_max);

  // Verifies through the cache: a hit returns success without verifying; a miss
  // verifies and, on success, remembers the result. With the gate off it only
  // verifies (no lookup, no insert).
  //
  // binding, when not null, is a digest the caller already holds of an encoding
  // that determines the scheme, public key, message and signature (a transaction
  // id: the transaction's bytes contain all four); the key is then
  // key_of_binding(*binding), one short hash, instead of key_of over the inputs.
  // REQUIRES: the inputs were decoded from exactly the bytes *binding digests;
  // otherwise one input's success could answer for another's.
  [[nodiscard]] Status<CryptoError> verify(const Verifier& verifier, ByteSpan message, ByteSpan signature,
                                           const Hash32* binding = nullptr);

  // The cache key of these inputs.
  static Hash32 key_of(const Verifier& verifier, ByteSpan message, ByteSpan signature);
  // The cache key for a binding digest: SHA-256 of a domain tag and the digest.
  // The tag's first byte is no scheme byte, so no input key shares a preimage.
  static Hash32 key_of_binding(const Hash32& binding);
  bool contains(const Hash32& key) const;
  void insert(const Hash32& key);  // marks key as a verified success, most recent
  void clear();

  std::size_t size() const;
  std::size_t capacity() const { return capacity_; }
  std::uint64_t hits() const;
  std::uint64_t misses() const;

 private:
  static constexpr std::uint32_t none = 0xffffffffu;
  struct Entry {
    Hash32 key;
    std::uint32_t newer = none;
    std::uint32_t older = none;
  };
  // Under mutex_.
  std::uint32_t find_slot(const Hash32& key) const;  // index slot holding key, or none
  bool lookup_and_touch(const Hash32& key);
  void insert_locked(const Hash32& key);
  void unlink(std::uint32_t entry);
  void push_newest(std::uint32_t entry);
  void index_erase(std::uint32_t slot);

  const std::size_t capacity_;
  const std::size_t index_mask_;    // index size - 1 (a power of two >= 2 x capacity)
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;          // capacity_ entries, allocated once
  std::vector<std::uint32_t> index_;    // slot -> entry, or none
  std::size_t used_ = 0;
  std::uint32_t newest_ = none;
  std::uint32_t oldest_ = none;
  std::uint64_t hits_ = 0;
  std::uint64_t misses_ = 0;
};

}  // namespace kestrel::crypto
