#include "common/prng.h"

#include <gtest/gtest.h>

#include <array>

namespace kestrel {
namespace {

// The stream of a seed is fixed forever (simulation seeds must replay across
// versions and machines). The reference below is a separate, straight-line
// transcription of SplitMix64 and xoshiro256** from the papers' definitions.
std::uint64_t reference_rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::array<std::uint64_t, 4> reference_outputs(std::uint64_t seed) {
  std::uint64_t sm = seed;
  std::uint64_t s[4];
  for (auto& w : s) {
    std::uint64_t z = (sm += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    w = z ^ (z >> 31);
  }
  std::array<std::uint64_t, 4> out;
  for (auto& o : out) {
    o = reference_rotl(s[1] * 5, 7) * 9;
    const std::uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = reference_rotl(s[3], 45);
  }
  return out;
}

TEST(PrngTest, MatchesReferenceDefinition) {
  for (std::uint64_t seed : {0ULL, 1ULL, 42ULL, ~0ULL}) {
    Prng prng(seed);
    for (std::uint64_t expected : reference_outputs(seed)) EXPECT_EQ(prng.next_u64(), expected);
  }
}

TEST(PrngTest, KnownFirstOutputForSeedZero) {
  // SplitMix64(0) first output is 0xe220a8397b1dcdaf (Vigna's reference), which
  // pins the seeding; the xoshiro output below is pinned by the reference above.
  std::uint64_t sm = 0;
  std::uint64_t z = (sm += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  EXPECT_EQ(z ^ (z >> 31), 0xe220a8397b1dcdafULL);
}

TEST(PrngTest, SameSeedSameStreamDifferentSeedDifferentStream) {
  Prng a(1234), b(1234), c(1235);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    differs |= (x != c.next_u64());
  }
  EXPECT_TRUE(differs);
}

TEST(PrngTest, UniformStaysInRangeAndCoversIt) {
  Prng prng(9);
  std::array<int, 7> counts{};
  for (int i = 0; i < 7000; ++i) {
    const auto v = prng.uniform(7);
    ASSERT_LT(v, 7u);
    ++counts[v];
  }
  for (int c : counts) {
    EXPECT_GT(c, 800);  // expected 1000 each; 800 is > 6 standard deviations away
    EXPECT_LT(c, 1200);
  }
  EXPECT_EQ(prng.uniform(1), 0u);
}

TEST(PrngTest, FillHandlesPartialWords) {
  Prng a(5), b(5);
  Bytes x(13), y(13);
  a.fill(x);
  b.fill(y);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, Bytes(13, 0));
}

}  // namespace
}  // namespace kestrel
