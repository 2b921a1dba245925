// AVX2 path of the rounding functions in poly.h (FIPS 204 section 7.4):
// Decompose, HighBits and MakeHint on eight coefficients at a time,
// branch-free like the portable code and with identical results.
//
// Decompose needs r1 = floor((a + gamma2 - 1) / (2 gamma2)) for a in [0, q).
// Vector units have no integer division, so the quotient is an exact
// multiply-and-shift, split by the power of two in 2 gamma2:
//   gamma2 = (q-1)/32: 2 gamma2 = 2^9 * 1023; with x = y >> 9 < 2^14,
//     floor(x / 1023) = ((x + 1) * 1025) >> 20   (1023 * 1025 = 2^20 - 1)
//   gamma2 = (q-1)/88: 2 gamma2 = 2^11 * 93; with x = y >> 11 < 2^13,
//     floor(x / 93) = (x * 5638) >> 19            (5638 = ceil(2^19 / 93), error 46 <= 2^(19-13))
// Both are checked against the definition for every a in [0, q) by
// MlDsaRoundingTest on both paths.
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/mldsa/poly.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

inline __m256i load(const std::int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int32_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

template <std::int32_t Gamma2>
inline __m256i decompose8(__m256i a, __m256i& r0) {
  constexpr std::int32_t alpha = 2 * Gamma2;
  constexpr std::int32_t m = (q - 1) / alpha;
  const __m256i y = _mm256_add_epi32(a, _mm256_set1_epi32(Gamma2 - 1));
  __m256i r1;
  if constexpr (Gamma2 == gamma2_32) {
    const __m256i x = _mm256_add_epi32(_mm256_srli_epi32(y, 9), _mm256_set1_epi32(1));
    r1 = _mm256_srli_epi32(_mm256_mullo_epi32(x, _mm256_set1_epi32(1025)), 20);
  } else {
    static_assert(Gamma2 == gamma2_88);
    const __m256i x = _mm256_srli_epi32(y, 11);
    r1 = _mm256_srli_epi32(_mm256_mullo_epi32(x, _mm256_set1_epi32(5638)), 19);
  }
  r0 = _mm256_sub_epi32(a, _mm256_mullo_epi32(r1, _mm256_set1_epi32(alpha)));
  // Corner case of Algorithm 36 lines 3-5: r1 = m becomes 0 and r0 drops by 1.
  const __m256i corner = _mm256_cmpeq_epi32(r1, _mm256_set1_epi32(m));
  r1 = _mm256_andnot_si256(corner, r1);
  r0 = _mm256_add_epi32(r0, corner);  // corner lanes are -1
  return r1;
}

template <std::int32_t Gamma2>
void decompose_all(Poly& a1, Poly& a0, const Poly& a) {
  for (int i = 0; i < n; i += 8) {
    __m256i r0;
    store(&a1.c[i], decompose8<Gamma2>(load(&a.c[i]), r0));
    store(&a0.c[i], r0);
  }
}

template <std::int32_t Gamma2>
void high_bits_all(Poly& a1, const Poly& a) {
  for (int i = 0; i < n; i += 8) {
    __m256i r0;
    store(&a1.c[i], decompose8<Gamma2>(load(&a.c[i]), r0));
  }
}

template <std::int32_t Gamma2>
unsigned make_hint_all(Poly& h, const Poly& r_plus_z, const Poly& r) {
  __m256i ones = _mm256_setzero_si256();
  for (int i = 0; i < n; i += 8) {
    __m256i unused;
    const __m256i x = decompose8<Gamma2>(load(&r_plus_z.c[i]), unused);
    const __m256i y = decompose8<Gamma2>(load(&r.c[i]), unused);
    // 1 where the high bits differ: (x != y) as 0/-1, negated.
    const __m256i differ = _mm256_andnot_si256(_mm256_cmpeq_epi32(x, y), _mm256_set1_epi32(1));
    store(&h.c[i], differ);
    ones = _mm256_add_epi32(ones, differ);
  }
  alignas(32) std::array<std::int32_t, 8> lanes;
  store(lanes.data(), ones);
  unsigned total = 0;
  for (auto lane : lanes) total += static_cast<unsigned>(lane);
  return total;
}

// Algorithm 40 UseHint on public data, branch-free anyway: where h = 1, r1
// moves one step up (r0 > 0) or down (r0 <= 0) modulo m = (q - 1) / (2 gamma2).
template <std::int32_t Gamma2>
void use_hint_all(Poly& a1, const Poly& a, const Poly& h) {
  constexpr std::int32_t m = (q - 1) / (2 * Gamma2);
  const __m256i zero = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i m_vector = _mm256_set1_epi32(m);
  for (int i = 0; i < n; i += 8) {
    __m256i r0;
    const __m256i r1 = decompose8<Gamma2>(load(&a.c[i]), r0);
    const __m256i hint = _mm256_cmpgt_epi32(load(&h.c[i]), zero);  // h_i in {0, 1}
    // delta = +1 where r0 > 0, -1 elsewhere, 0 where no hint.
    const __m256i up = _mm256_cmpgt_epi32(r0, zero);
    const __m256i delta = _mm256_and_si256(hint, _mm256_or_si256(_mm256_and_si256(up, one), _mm256_andnot_si256(up, _mm256_set1_epi32(-1))));
    __m256i moved = _mm256_add_epi32(r1, delta);                                       // in [-1, m]
    moved = _mm256_andnot_si256(_mm256_cmpeq_epi32(moved, m_vector), moved);           // m -> 0
    moved = _mm256_add_epi32(moved, _mm256_and_si256(_mm256_cmpgt_epi32(zero, moved), m_vector));  // -1 -> m - 1
    store(&a1.c[i], moved);
  }
}

}  // namespace

void poly_use_hint_avx2(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return use_hint_all<gamma2_88>(a1, a, h);
  use_hint_all<gamma2_32>(a1, a, h);
}

// Algorithm 35 Power2Round, the portable formula on eight lanes: a in [0, q),
// a1 = (a + 2^(d-1) - 1) >> d in [0, 2^10), a0 = a - a1 2^d in (-2^12, 2^12].
void poly_power2round_avx2(Poly& a1, Poly& a0, const Poly& a) {
  const __m256i half = _mm256_set1_epi32((1 << (d - 1)) - 1);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = load(&a.c[i]);
    const __m256i high = _mm256_srai_epi32(_mm256_add_epi32(x, half), d);
    store(&a1.c[i], high);
    store(&a0.c[i], _mm256_sub_epi32(x, _mm256_slli_epi32(high, d)));
  }
}

void poly_power2round_sum_avx2(Poly& a1, Poly& a0, const Poly& x, const Poly& y) {
  const __m256i round = _mm256_set1_epi32(1 << 22);
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i half = _mm256_set1_epi32((1 << (d - 1)) - 1);
  for (int i = 0; i < n; i += 8) {
    __m256i a = _mm256_add_epi32(load(&x.c[i]), load(&y.c[i]));
    a = _mm256_sub_epi32(a, _mm256_mullo_epi32(_mm256_srai_epi32(_mm256_add_epi32(a, round), 23), q_vector));  // reduce32
    a = _mm256_add_epi32(a, _mm256_and_si256(_mm256_srai_epi32(a, 31), q_vector));  // caddq
    const __m256i high = _mm256_srai_epi32(_mm256_add_epi32(a, half), d);
    store(&a1.c[i], high);
    store(&a0.c[i], _mm256_sub_epi32(a, _mm256_slli_epi32(high, d)));
  }
}

void poly_decompose_avx2(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return decompose_all<gamma2_88>(a1, a0, a);
  decompose_all<gamma2_32>(a1, a0, a);
}

void poly_high_bits_avx2(Poly& a1, const Poly& a, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return high_bits_all<gamma2_88>(a1, a);
  high_bits_all<gamma2_32>(a1, a);
}

unsigned poly_make_hint_avx2(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return make_hint_all<gamma2_88>(h, r_plus_z, r);
  return make_hint_all<gamma2_32>(h, r_plus_z, r);
}

// Elementwise arithmetic on eight lanes (same formulas as poly.cc / reduce.h).
void poly_add_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int i = 0; i < n; i += 8) store(&c.c[i], _mm256_add_epi32(load(&a.c[i]), load(&b.c[i])));
}

void poly_subtract_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int i = 0; i < n; i += 8) store(&c.c[i], _mm256_sub_epi32(load(&a.c[i]), load(&b.c[i])));
}

void poly_reduce32_avx2(Poly& a) {
  const __m256i half = _mm256_set1_epi32(1 << 22);
  const __m256i q_vector = _mm256_set1_epi32(q);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = load(&a.c[i]);
    const __m256i t = _mm256_srai_epi32(_mm256_add_epi32(x, half), 23);
    store(&a.c[i], _mm256_sub_epi32(x, _mm256_mullo_epi32(t, q_vector)));
  }
}

void poly_caddq_avx2(Poly& a) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  for (int i = 0; i < n; i += 8) {
    const __m256i x = load(&a.c[i]);
    store(&a.c[i], _mm256_add_epi32(x, _mm256_and_si256(_mm256_srai_epi32(x, 31), q_vector)));
  }
}

std::uint32_t poly_norm_exceeds_avx2(const Poly& a, std::int32_t bound) {
  const __m256i limit = _mm256_set1_epi32(bound - 1);
  __m256i exceeds = _mm256_setzero_si256();
  for (int i = 0; i < n; i += 8) {
    exceeds = _mm256_or_si256(exceeds, _mm256_cmpgt_epi32(_mm256_abs_epi32(load(&a.c[i])), limit));
  }
  // One mask for the whole polynomial, reduced without a branch.
  const auto mask = static_cast<std::uint32_t>(_mm256_movemask_epi8(exceeds));
  return (mask | (0u - mask)) >> 31;
}

// --- Bit unpacking (Algorithms 18 and 19) -------------------------------------------
//
// Eight Bits-wide coefficients are exactly Bits bytes. One 32-byte load covers
// a group; a permute4x64 gives each 128-bit half the bytes its four
// coefficients start in (bytes 0-15 for both halves when Bits < 16, bytes 0-15
// and 8-23 otherwise), a byte shuffle gathers the three bytes holding each
// coefficient into its 32-bit lane, and a per-lane shift and mask finish it.
// The tables are computed at compile time from Bits.

namespace {

template <int Bits>
struct UnpackTables {
  static constexpr int high_base = Bits >= 16 ? 8 : 0;  // first byte of the high half
  std::array<std::int8_t, 32> shuffle{};
  std::array<std::int32_t, 8> shift{};
  constexpr UnpackTables() {
    for (int j = 0; j < 8; ++j) {
      const int start = j * Bits / 8;
      const int base = j < 4 ? 0 : high_base;
      for (int b = 0; b < 4; ++b) {
        shuffle[4 * j + b] = static_cast<std::int8_t>(b < 3 ? start - base + b : -1);  // -1: zero byte
      }
      shift[j] = j * Bits % 8;
    }
  }
  // Each coefficient's bits lie in the three bytes gathered for it, inside its
  // 16-byte half.
  constexpr bool valid() const {
    for (int j = 0; j < 8; ++j) {
      if (shift[j] + Bits > 24 || shuffle[4 * j] < 0 || shuffle[4 * j + 2] > 15) return false;
    }
    return true;
  }
};

template <int Bits>
void unpack_fixed_avx2(Poly& a, const std::uint8_t* in, std::int32_t b, bool offset) {
  static constexpr UnpackTables<Bits> tables{};
  static_assert(tables.valid());
  const __m256i shuffle = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables.shuffle.data()));
  const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tables.shift.data()));
  const __m256i mask = _mm256_set1_epi32((1 << Bits) - 1);
  const __m256i b_vector = _mm256_set1_epi32(b);
  int g = 0;
  // The load reads 32 - Bits bytes past the group: vector groups stay inside
  // the 32 * Bits input bytes, the last few go through a padded copy.
  for (; g * Bits + 32 <= 32 * Bits; ++g) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + g * Bits));
    x = _mm256_permute4x64_epi64(x, UnpackTables<Bits>::high_base == 8 ? 0x94 : 0x44);
    x = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(x, shuffle), shift), mask);
    store(&a.c[8 * g], offset ? _mm256_sub_epi32(b_vector, x) : x);
  }
  for (; g < 32; ++g) {
    alignas(32) std::array<std::uint8_t, 32> padded{};
    std::memcpy(padded.data(), in + g * Bits, Bits);
    __m256i x = _mm256_load_si256(reinterpret_cast<const __m256i*>(padded.data()));
    x = _mm256_permute4x64_epi64(x, UnpackTables<Bits>::high_base == 8 ? 0x94 : 0x44);
    x = _mm256_and_si256(_mm256_srlv_epi32(_mm256_shuffle_epi8(x, shuffle), shift), mask);
    store(&a.c[8 * g], offset ? _mm256_sub_epi32(b_vector, x) : x);
    secure_zero(padded.data(), padded.size());  // may hold key bytes (skDecode)
  }
}

}  // namespace

void pack4_avx2(std::uint8_t* out, const Poly& a, std::int32_t b, bool offset) {
  // 64 coefficients per step: int32 -> int16 -> uint8 (saturating packs, exact
  // for values in [0, 16)), back into coefficient order (the packs interleave
  // the 128-bit halves), then each byte pair c0 + 16 c1 by one maddubs, and the
  // 16-bit results packed to bytes again. Branch-free; offset is public.
  const __m256i base = _mm256_set1_epi32(b);
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i nibbles = _mm256_set1_epi16(0x1001);  // bytes 1, 16: c0 * 1 + c1 * 16
  auto value = [&](int i) {
    const __m256i x = load(&a.c[i]);
    return offset ? _mm256_sub_epi32(base, x) : x;
  };
  auto bytes32 = [&](int i) {  // coefficients i .. i + 31 as bytes, in order
    const __m256i low = _mm256_packs_epi32(value(i), value(i + 8));
    const __m256i high = _mm256_packs_epi32(value(i + 16), value(i + 24));
    return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(low, high), order);
  };
  for (int i = 0; i < n; i += 64) {
    const __m256i first = _mm256_maddubs_epi16(bytes32(i), nibbles);
    const __m256i second = _mm256_maddubs_epi16(bytes32(i + 32), nibbles);
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi16(first, second), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i / 2), packed);
  }
}

namespace {

// Bits in [9, 15]: eight coefficients (Bits bytes) per step. In each 64-bit
// lane the odd coefficient moves next to the even one (2 Bits bits), the two
// 64-bit lanes of each 128-bit half join (4 Bits bits in the low word), and
// the two halves meet in general registers: lo | hi << 4 Bits, then the rest
// of hi. The 16-byte store of a step writes 16 - Bits bytes of zeros past its
// group, which the next step overwrites; the last step stores exactly.
template <int Bits, bool Offset>
void pack_wide(std::uint8_t* out, const Poly& a, std::int32_t b) {
  static_assert(Bits >= 9 && Bits <= 15);
  const __m256i base = _mm256_set1_epi32(b);
  const __m256i low32 = _mm256_set1_epi64x(0xffffffff);
  const __m256i join = _mm256_setr_epi64x(0, 2 * Bits, 0, 2 * Bits);
  auto group = [&](int g, std::uint64_t& first, std::uint64_t& second) {
    __m256i x = load(&a.c[8 * g]);
    if constexpr (Offset) x = _mm256_sub_epi32(base, x);
    const __m256i pairs = _mm256_or_si256(_mm256_and_si256(x, low32), _mm256_srli_epi64(x, 32 - Bits));
    const __m256i quads = _mm256_or_si256(pairs, _mm256_bsrli_epi128(_mm256_sllv_epi64(pairs, join), 8));
    const auto lo = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm256_castsi256_si128(quads)));
    const auto hi = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm256_extracti128_si256(quads, 1)));
    first = lo | hi << (4 * Bits);
    second = hi >> (64 - 4 * Bits);
  };
  std::uint64_t first, second;
  for (int g = 0; g < n / 8 - 1; ++g, out += Bits) {
    group(g, first, second);
    std::memcpy(out, &first, 8);
    std::memcpy(out + 8, &second, 8);
  }
  group(n / 8 - 1, first, second);
  std::memcpy(out, &first, 8);
  std::memcpy(out + 8, &second, Bits - 8);
}

}  // namespace

bool pack_avx2(std::uint8_t* out, const Poly& a, int bits, std::int32_t b, bool offset) {
  switch (bits) {
    case 4: pack4_avx2(out, a, b, offset); return true;
    case 10: offset ? pack_wide<10, true>(out, a, b) : pack_wide<10, false>(out, a, b); return true;
    case 13: offset ? pack_wide<13, true>(out, a, b) : pack_wide<13, false>(out, a, b); return true;
    default: return false;
  }
}

bool unpack_avx2(Poly& a, const std::uint8_t* in, int bits, std::int32_t b, bool offset) {
  switch (bits) {
    case 3: unpack_fixed_avx2<3>(a, in, b, offset); return true;
    case 4: unpack_fixed_avx2<4>(a, in, b, offset); return true;
    case 10: unpack_fixed_avx2<10>(a, in, b, offset); return true;
    case 13: unpack_fixed_avx2<13>(a, in, b, offset); return true;
    case 18: unpack_fixed_avx2<18>(a, in, b, offset); return true;
    case 20: unpack_fixed_avx2<20>(a, in, b, offset); return true;
    default: return false;
  }
}

// --- Sparse challenge products ----------------------------------------------------

void poly_sparse_multiply_avx2(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext) {
  // Coefficient i of X^j * s is ext[n - j + i]. Two halves of 128 coefficients
  // keep the eight int16 accumulators in registers.
  for (int half = 0; half < 2; ++half) {
    __m256i acc[8];  // unrolled loops below keep these in registers
#pragma GCC unroll 8
    for (auto& a : acc) a = _mm256_setzero_si256();
    const std::int16_t* base = ext.v.data() + n + 128 * half;
    for (int t = 0; t < c.plus_count; ++t) {
      const auto* p = reinterpret_cast<const __m256i*>(base - c.plus[t]);  // public offset
      // Opaque to the optimiser: otherwise GCC hoists base + 16 v into eight
      // registers and pays a subtraction per load instead of p + 32 v addressing.
      asm("" : "+r"(p));
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_add_epi16(acc[v], _mm256_loadu_si256(p + v));
    }
    for (int t = 0; t < c.minus_count; ++t) {
      const auto* p = reinterpret_cast<const __m256i*>(base - c.minus[t]);
      asm("" : "+r"(p));
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_sub_epi16(acc[v], _mm256_loadu_si256(p + v));
    }
    std::int32_t* o = out.c.data() + 128 * half;
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) {
      store(o + 16 * v, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc[v])));
      store(o + 16 * v + 8, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc[v], 1)));
    }
  }
}

void tiny_poly_extend_avx2(TinyPolyExtension& ext, const Poly& s) {
  // 32 coefficients per step: two signed saturating packs (no value
  // saturates: |s_i| <= 127) leave the dwords of the four inputs interleaved
  // per 128-bit half; one permutevar8x32 puts them in order.
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  for (int g = 0; g < n / 32; ++g) {
    const __m256i low = _mm256_packs_epi32(load(&s.c[32 * g]), load(&s.c[32 * g + 8]));
    const __m256i high = _mm256_packs_epi32(load(&s.c[32 * g + 16]), load(&s.c[32 * g + 24]));
    const __m256i bytes = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(low, high), order);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&ext.v[n + 32 * g]), bytes);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&ext.v[32 * g]), _mm256_sub_epi8(_mm256_setzero_si256(), bytes));
  }
}

void poly_sparse_multiply8_avx2(Poly& out, const SparseChallenge& c, const TinyPolyExtension& ext,
                                int taps_per_flush) {
  KESTREL_ASSERT(taps_per_flush >= 1);
  // Coefficient i of X^j * s is ext[n - j + i]. Per half of 128 coefficients:
  // four int8 accumulators (32 coefficients each) and eight int16 ones.
  for (int half = 0; half < 2; ++half) {
    __m256i narrow[4], wide[8];  // unrolled loops below keep these in registers
#pragma GCC unroll 4
    for (auto& a : narrow) a = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (auto& a : wide) a = _mm256_setzero_si256();
    // Adds the int8 partial sums into the int16 accumulators (sign-extended).
    auto flush = [&] [[gnu::always_inline]] {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        wide[2 * u] = _mm256_add_epi16(wide[2 * u], _mm256_cvtepi8_epi16(_mm256_castsi256_si128(narrow[u])));
        wide[2 * u + 1] =
            _mm256_add_epi16(wide[2 * u + 1], _mm256_cvtepi8_epi16(_mm256_extracti128_si256(narrow[u], 1)));
        narrow[u] = _mm256_setzero_si256();
      }
    };
    const std::int8_t* base = ext.v.data() + n + 128 * half;
    // The taps (the +1 positions, then the -1 ones) in runs of at most
    // taps_per_flush, each run summed in int8 and then flushed; all counts are
    // public. The inner loops touch only the int8 accumulators.
    const int total = c.plus_count + c.minus_count;
    for (int t = 0; t < total;) {
      const int end = std::min(total, t + taps_per_flush);
      for (; t < std::min(end, c.plus_count); ++t) {
        const auto* p = reinterpret_cast<const __m256i*>(base - c.plus[t]);  // public offset
        asm("" : "+r"(p));  // as in poly_sparse_multiply_avx2
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) narrow[u] = _mm256_add_epi8(narrow[u], _mm256_loadu_si256(p + u));
      }
      for (; t < end; ++t) {
        const auto* p = reinterpret_cast<const __m256i*>(base - c.minus[t - c.plus_count]);
        asm("" : "+r"(p));
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) narrow[u] = _mm256_sub_epi8(narrow[u], _mm256_loadu_si256(p + u));
      }
      flush();
    }
    std::int32_t* o = out.c.data() + 128 * half;
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) {
      store(o + 16 * v, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(wide[v])));
      store(o + 16 * v + 8, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(wide[v], 1)));
    }
  }
}

void poly_sparse_multiply16to32_avx2(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext,
                                     int taps_per_flush) {
  KESTREL_ASSERT(taps_per_flush >= 1);
  // As poly_sparse_multiply8_avx2 one size up: per quarter of 64
  // coefficients, four int16 accumulators (partial sums over at most
  // taps_per_flush taps) flushed into eight int32 ones.
  for (int quarter = 0; quarter < 4; ++quarter) {
    __m256i narrow[4], wide[8];
#pragma GCC unroll 4
    for (auto& a : narrow) a = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (auto& a : wide) a = _mm256_setzero_si256();
    auto flush = [&] [[gnu::always_inline]] {
#pragma GCC unroll 4
      for (int u = 0; u < 4; ++u) {
        wide[2 * u] = _mm256_add_epi32(wide[2 * u], _mm256_cvtepi16_epi32(_mm256_castsi256_si128(narrow[u])));
        wide[2 * u + 1] =
            _mm256_add_epi32(wide[2 * u + 1], _mm256_cvtepi16_epi32(_mm256_extracti128_si256(narrow[u], 1)));
        narrow[u] = _mm256_setzero_si256();
      }
    };
    const std::int16_t* base = ext.v.data() + n + 64 * quarter;
    const int total = c.plus_count + c.minus_count;
    for (int t = 0; t < total;) {  // runs of at most taps_per_flush public taps
      const int end = std::min(total, t + taps_per_flush);
      for (; t < std::min(end, c.plus_count); ++t) {
        const auto* p = reinterpret_cast<const __m256i*>(base - c.plus[t]);  // public offset
        asm("" : "+r"(p));  // as in poly_sparse_multiply_avx2
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) narrow[u] = _mm256_add_epi16(narrow[u], _mm256_loadu_si256(p + u));
      }
      for (; t < end; ++t) {
        const auto* p = reinterpret_cast<const __m256i*>(base - c.minus[t - c.plus_count]);
        asm("" : "+r"(p));
#pragma GCC unroll 4
        for (int u = 0; u < 4; ++u) narrow[u] = _mm256_sub_epi16(narrow[u], _mm256_loadu_si256(p + u));
      }
      flush();
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) store(out.c.data() + 64 * quarter + 8 * v, wide[v]);
  }
}

void poly_sparse_multiply32_avx2(Poly& out, const SparseChallenge& c, const PolyExtension& ext) {
  // Four quarters of 64 coefficients, eight int32 accumulators each.
  for (int quarter = 0; quarter < 4; ++quarter) {
    __m256i acc[8];
#pragma GCC unroll 8
    for (auto& a : acc) a = _mm256_setzero_si256();
    const std::int32_t* base = ext.v.data() + n + 64 * quarter;
    for (int t = 0; t < c.plus_count; ++t) {
      const auto* p = reinterpret_cast<const __m256i*>(base - c.plus[t]);  // public offset
      asm("" : "+r"(p));  // as in poly_sparse_multiply_avx2
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_add_epi32(acc[v], _mm256_loadu_si256(p + v));
    }
    for (int t = 0; t < c.minus_count; ++t) {
      const auto* p = reinterpret_cast<const __m256i*>(base - c.minus[t]);
      asm("" : "+r"(p));
#pragma GCC unroll 8
      for (int v = 0; v < 8; ++v) acc[v] = _mm256_sub_epi32(acc[v], _mm256_loadu_si256(p + v));
    }
#pragma GCC unroll 8
    for (int v = 0; v < 8; ++v) store(out.c.data() + 64 * quarter + 8 * v, acc[v]);
  }
}

}  // namespace kestrel::crypto::mldsa::detail
