// Seeded deterministic PRNG for the simulator and tests. NOT for keys or nonces:
// cryptographic randomness comes from the OS (crypto/random.h).
//
// Algorithm: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
// generators", 2018), 256-bit state, period 2^256 - 1. The state is filled from the
// 64-bit seed with SplitMix64 (Steele, Lea & Flood, 2014), as the authors advise,
// so that nearby seeds give unrelated streams and the all-zero state is impossible.
// Outputs are identical on every platform: a failing simulation seed replays.
//
// Thread-safety: one Prng per thread (or per simulated component).
#pragma once

#include <array>
#include <cstdint>

#include "common/bytes.h"

namespace kestrel {

// SplitMix64's finalizer (Steele, Lea & Flood, 2014): a bijective mix of 64 bits
// in which every input bit flips about half the output bits. For hash functions
// and shape digests, not for randomness.
std::uint64_t mix64(std::uint64_t z);

class Prng {
 public:
  explicit Prng(std::uint64_t seed);

  std::uint64_t next_u64();
  // Uniform in [0, bound), without modulo bias. REQUIRES: bound > 0.
  std::uint64_t uniform(std::uint64_t bound);
  // True with probability numerator / denominator. REQUIRES: 0 < denominator.
  bool chance(std::uint64_t numerator, std::uint64_t denominator);
  void fill(MutableByteSpan out);

 private:
  std::array<std::uint64_t, 4> state_;
};

}  // namespace kestrel
