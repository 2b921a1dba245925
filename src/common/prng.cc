#include "common/prng.h"

#include "common/assert.h"

namespace kestrel {

namespace {

std::uint64_t rotate_left(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// SplitMix64 step: advances `state` by the golden-ratio increment and mixes.
std::uint64_t splitmix64(std::uint64_t& state) {
  state += 0x9e3779b97f4a7c15ULL;
  return mix64(state);
}

}  // namespace

std::uint64_t mix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Prng::Prng(std::uint64_t seed) {
  std::uint64_t s = seed;
  for (auto& word : state_) word = splitmix64(s);
  KESTREL_ASSERT((state_[0] | state_[1] | state_[2] | state_[3]) != 0);
}

std::uint64_t Prng::next_u64() {
  const std::uint64_t result = rotate_left(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotate_left(state_[3], 45);
  return result;
}

std::uint64_t Prng::uniform(std::uint64_t bound) {
  KESTREL_ASSERT(bound > 0);
  // Reject the top partial block of 2^64 so every residue is equally likely. The
  // rejected fraction is < bound / 2^64 < 1/2, so the expected loop count is < 2.
  const std::uint64_t threshold = (0 - bound) % bound;  // = 2^64 mod bound
  for (;;) {
    const std::uint64_t x = next_u64();
    if (x >= threshold) return x % bound;
  }
}

bool Prng::chance(std::uint64_t numerator, std::uint64_t denominator) {
  KESTREL_ASSERT(denominator > 0);
  return uniform(denominator) < numerator;
}

void Prng::fill(MutableByteSpan out) {
  std::size_t i = 0;
  while (i < out.size()) {
    std::uint64_t word = next_u64();
    for (int b = 0; b < 8 && i < out.size(); ++b, ++i) {
      out[i] = static_cast<std::uint8_t>(word >> (8 * b));
    }
  }
}

}  // namespace kestrel
