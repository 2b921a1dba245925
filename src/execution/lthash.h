// LtHash16: the homomorphic set hash behind the ledger's state digest
// (docs/transactions.md "State digest"). Internal to src/execution.
//
// A multiset of elements (32-byte seeds) hashes to the lane-wise sum, mod 2^16,
// of each element's expansion into 1,024 16-bit lanes. Adding or removing one
// element costs one expansion whatever the size of the set, and the sum does not
// depend on the order elements were added: so the ledger updates it per touched
// entry during a block, and a restarted node rebuilds exactly the same value by
// adding every stored entry once, in any order.
//
// Construction: Bellare and Micciancio, "A New Paradigm for Collision-free
// Hashing: Incrementality at Reduced Cost" (EUROCRYPT 1997), the lattice variant
// "LtHash"; parameters n = 1024 lanes of d = 16 bits from Lewi, Kim, Maykov and
// Weis, "Securing Update Propagation with Homomorphic Hashing" (IACR ePrint
// 2019/227), who estimate ~200 bits of collision resistance for them. The
// expansion is the ChaCha20 key stream (RFC 8439, libsodium, zero nonce) keyed by
// the element, read as little-endian u16 lanes. A plain sum of 256-bit hashes
// would not do: Wagner's generalized birthday attack finds colliding sets cheaply.
//
// Thread-safety: a value type, one thread at a time.
#pragma once

#include <array>
#include <cstdint>

#include "common/bytes.h"
#include "common/hash.h"

namespace kestrel::execution::detail {

class LtHash16 {
 public:
  static constexpr std::size_t lane_count = 1024;
  static constexpr std::size_t bytes = 2 * lane_count;

  void add(const Hash32& element);
  void remove(const Hash32& element);
  // The lanes as little-endian bytes (what the digest hashes).
  std::array<std::uint8_t, bytes> encode() const;
  bool operator==(const LtHash16&) const = default;

 private:
  std::array<std::uint16_t, lane_count> lanes_{};
};

}  // namespace kestrel::execution::detail
