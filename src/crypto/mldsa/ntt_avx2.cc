// AVX2 path of ntt.h: eight coefficients per 256-bit register, every level
// vectorised. Levels with len >= 8 pair whole registers. The last three levels
// (len 4, 2, 1) work on two registers A = a[16t, 16t+8), B = a[16t+8, 16t+16):
// a shuffle gathers the lower butterfly inputs in L and the upper ones in H
// (lane i of L pairs with lane i of H), one vector butterfly runs with a
// per-lane zeta vector, and the inverse shuffle puts them back:
//   len 4: L = [A0-3 B0-3], H = [A4-7 B4-7]                (permute2x128)
//   len 2: L = [A0 A1 B0 B1 A4 A5 B4 B5], H = [A2 A3 B2 B3 A6 A7 B6 B7] (unpack epi64)
//   len 1: L = [A0 B0 A2 B2 A4 B4 A6 B6], H = [A1 B1 A3 B3 ...]         (shift + blend)
// The per-lane zeta tables follow that lane order and are computed at compile
// time from ntt.h's zetas. The arithmetic is the portable path's (same
// Montgomery products, same order of additions), so outputs are identical.
//
// Compiled with -mavx2 (kestrel_avx2_sources); called only through ntt.cc's
// dispatch, after the CPU check.
#include <immintrin.h>

#include "crypto/mldsa/ntt.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

// Montgomery product of eight lanes: a_i * b_i * 2^-32, |result| < q for
// |a_i * b_i| <= 2^31 q (the same bound as montgomery_reduce).
[[gnu::always_inline]] inline __m256i montgomery_multiply(__m256i a, __m256i b) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i q_inverse_vector = _mm256_set1_epi32(static_cast<std::int32_t>(q_inverse));
  // Even lanes (0, 2, 4, 6) and odd lanes shifted down, as 64-bit products.
  const __m256i product_even = _mm256_mul_epi32(a, b);
  const __m256i product_odd = _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
  // t = low32(product) * q^-1 mod 2^32 (mul_epi32 reads the low dword, signed).
  const __m256i t_even = _mm256_mul_epi32(product_even, q_inverse_vector);
  const __m256i t_odd = _mm256_mul_epi32(product_odd, q_inverse_vector);
  // (product - t q) has a zero low dword; its high dword is the result.
  const __m256i r_even = _mm256_sub_epi64(product_even, _mm256_mul_epi32(t_even, q_vector));
  const __m256i r_odd = _mm256_sub_epi64(product_odd, _mm256_mul_epi32(t_odd, q_vector));
  return _mm256_blend_epi32(_mm256_srli_epi64(r_even, 32), r_odd, 0xAA);
}

inline __m256i load(const std::int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int32_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

// A twiddle for one butterfly level on eight lanes, in the form the Montgomery
// product wants: z for the even lanes (0, 2, 4, 6: vpmuldq reads the even
// dwords), z of the odd lanes moved to the even dwords, and the same two for
// z * q^-1 mod 2^32 (so t = low32(a z) q^-1 does not wait for the product
// a z). A broadcast twiddle has all four equal to its z or z q^-1.
struct LaneTwiddle {
  __m256i z, z_odd, z_q_inverse, z_q_inverse_odd;
};

// Montgomery product a * w * 2^-32 per lane, the same values as
// montgomery_multiply(a, w) above: six vpmuldq, of which at most two are in
// sequence (a z || t = a z q^-1, then t q).
[[gnu::always_inline]] inline __m256i montgomery_multiply(__m256i a, const LaneTwiddle& w) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i a_odd = _mm256_srli_epi64(a, 32);
  const __m256i product_even = _mm256_mul_epi32(a, w.z);
  const __m256i product_odd = _mm256_mul_epi32(a_odd, w.z_odd);
  const __m256i t_even = _mm256_mul_epi32(a, w.z_q_inverse);
  const __m256i t_odd = _mm256_mul_epi32(a_odd, w.z_q_inverse_odd);
  const __m256i r_even = _mm256_sub_epi64(product_even, _mm256_mul_epi32(t_even, q_vector));
  const __m256i r_odd = _mm256_sub_epi64(product_odd, _mm256_mul_epi32(t_odd, q_vector));
  return _mm256_blend_epi32(_mm256_srli_epi64(r_even, 32), r_odd, 0xAA);
}

// Cooley-Tukey: (l, h) -> (l + z h, l - z h).
[[gnu::always_inline]] inline void forward_butterfly(__m256i& l, __m256i& h, const LaneTwiddle& w) {
  const __m256i t = montgomery_multiply(h, w);
  h = _mm256_sub_epi32(l, t);
  l = _mm256_add_epi32(l, t);
}
// Gentleman-Sande: (l, h) -> (l + h, z (l - h)).
[[gnu::always_inline]] inline void inverse_butterfly(__m256i& l, __m256i& h, const LaneTwiddle& w) {
  const __m256i difference = _mm256_sub_epi32(l, h);
  l = _mm256_add_epi32(l, h);
  h = montgomery_multiply(difference, w);
}

// Per-lane twiddles for the last three levels, 16 register pairs each. Level
// len = 4 uses zetas[32 + block] for 8-element blocks, len = 2 zetas[64 + block]
// for 4-element blocks, len = 1 zetas[128 + block] for pairs. Row t holds the
// four vectors of a LaneTwiddle (z, z_odd, z q^-1, z q^-1 odd) next to each
// other, so one butterfly's twiddle is one 128-byte run.
struct LaneZetas {
  alignas(32) std::array<std::int32_t, 16 * 32> len4{};
  alignas(32) std::array<std::int32_t, 16 * 32> len2{};
  alignas(32) std::array<std::int32_t, 16 * 32> len1{};
};

constexpr std::int32_t times_q_inverse(std::int32_t z) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(z) * q_inverse);
}

// Writes row t of a table from the eight lane zetas.
constexpr void set_row(std::array<std::int32_t, 16 * 32>& table, int t, const std::array<std::int32_t, 8>& lanes) {
  for (int i = 0; i < 8; ++i) {
    const std::int32_t odd = lanes[i | 1];  // dwords 2j and 2j + 1 both hold lane 2j + 1
    table[32 * t + i] = lanes[i];
    table[32 * t + 8 + i] = odd;
    table[32 * t + 16 + i] = times_q_inverse(lanes[i]);
    table[32 * t + 24 + i] = times_q_inverse(odd);
  }
}

// Forward zetas, or with mirrored indices the inverse ones (Algorithm 42 uses
// -zetas[m] with m counting down from 255).
constexpr LaneZetas make_lane_zetas(bool inverse) {
  LaneZetas z{};
  auto pick = [&](int base, int block) {
    const int index = inverse ? 2 * base - 1 - block : base + block;
    return inverse ? -zetas[index] : zetas[index];
  };
  for (int t = 0; t < 16; ++t) {
    std::array<std::int32_t, 8> lanes{};
    for (int i = 0; i < 4; ++i) {
      lanes[i] = pick(32, 2 * t);
      lanes[4 + i] = pick(32, 2 * t + 1);
    }
    set_row(z.len4, t, lanes);
    // Lanes [A-block0 x2, B-block0 x2, A-block1 x2, B-block1 x2]; A's blocks are
    // 4t, 4t+1 and B's 4t+2, 4t+3.
    const int len2_blocks[4] = {4 * t, 4 * t + 2, 4 * t + 1, 4 * t + 3};
    for (int i = 0; i < 4; ++i) lanes[2 * i] = lanes[2 * i + 1] = pick(64, len2_blocks[i]);
    set_row(z.len2, t, lanes);
    // Lanes [A-pair0, B-pair0, A-pair1, B-pair1, ...]; A's pairs are 8t..8t+3,
    // B's 8t+4..8t+7.
    for (int i = 0; i < 4; ++i) {
      lanes[2 * i] = pick(128, 8 * t + i);
      lanes[2 * i + 1] = pick(128, 8 * t + 4 + i);
    }
    set_row(z.len1, t, lanes);
  }
  return z;
}

constexpr LaneZetas forward_zetas = make_lane_zetas(false);
constexpr LaneZetas inverse_zetas = make_lane_zetas(true);

// The row of a lane table, loaded (four aligned loads, no ALU work).
inline LaneTwiddle lane_twiddle(const std::array<std::int32_t, 16 * 32>& table, int t) {
  const std::int32_t* row = &table[32 * t];
  return {load(row), load(row + 8), load(row + 16), load(row + 24)};
}

// Gather / scatter for the three small levels (each is its own inverse pair).
[[gnu::always_inline]] inline void split4(__m256i a, __m256i b, __m256i& l, __m256i& h) {
  l = _mm256_permute2x128_si256(a, b, 0x20);
  h = _mm256_permute2x128_si256(a, b, 0x31);
}
[[gnu::always_inline]] inline void split2(__m256i a, __m256i b, __m256i& l, __m256i& h) {
  l = _mm256_unpacklo_epi64(a, b);
  h = _mm256_unpackhi_epi64(a, b);
}
[[gnu::always_inline]] inline void split1(__m256i a, __m256i b, __m256i& l, __m256i& h) {
  l = _mm256_blend_epi32(a, _mm256_slli_epi64(b, 32), 0xAA);
  h = _mm256_blend_epi32(_mm256_srli_epi64(a, 32), b, 0xAA);
}

// z and z * q^-1 mod 2^32 for every zetas[i] and for -zetas[i] (the inverse
// levels), computed at compile time.
struct TwiddleTable {
  std::array<std::int32_t, n> z{}, z_q_inverse{}, minus_z{}, minus_z_q_inverse{};
};
constexpr TwiddleTable twiddle_table = [] {
  TwiddleTable t{};
  for (int i = 0; i < n; ++i) {
    t.z[i] = zetas[i];
    t.z_q_inverse[i] = times_q_inverse(zetas[i]);
    t.minus_z[i] = -zetas[i];
    t.minus_z_q_inverse[i] = times_q_inverse(-zetas[i]);
  }
  return t;
}();

// NTT^-1's final scaling f and f * (-zetas[1]) (ntt.h), then both times q^-1,
// in the layout broadcast_twiddle reads.
constexpr std::array<std::int32_t, 4> inverse_ntt_scale = {
    inverse_ntt_factor, inverse_ntt_last_factor, times_q_inverse(inverse_ntt_factor),
    times_q_inverse(inverse_ntt_last_factor)};

// A broadcast twiddle read from memory: vpbroadcastd from the table is a
// load, where a constant the compiler folded in costs a mov, a vmovd and a
// vpbroadcastd (two of them on the vector ports) per value. The table pointer
// goes through an empty asm so its contents are not known at compile time.
inline LaneTwiddle broadcast_twiddle(const std::int32_t* z_table, const std::int32_t* z_q_inverse_table, int i) {
  asm("" : "+r"(z_table), "+r"(z_q_inverse_table));
  const __m256i z = _mm256_set1_epi32(z_table[i]);
  const __m256i z_q_inverse = _mm256_set1_epi32(z_q_inverse_table[i]);
  return {z, z, z_q_inverse, z_q_inverse};
}
inline LaneTwiddle forward_twiddle(int i) {
  return broadcast_twiddle(twiddle_table.z.data(), twiddle_table.z_q_inverse.data(), i);
}
inline LaneTwiddle inverse_twiddle(int i) {
  return broadcast_twiddle(twiddle_table.minus_z.data(), twiddle_table.minus_z_q_inverse.data(), i);
}

// The small levels on the four register pairs (r[2i], r[2i + 1]), i < 4, with
// lane-table rows t + i; the four pairs are independent and interleaved level
// by level, so four butterflies' Montgomery products are in flight at once.
[[gnu::always_inline]] inline void small_levels_forward(__m256i (&r)[8], int t) {
  __m256i l[4], h[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) split4(r[2 * i], r[2 * i + 1], l[i], h[i]);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) forward_butterfly(l[i], h[i], lane_twiddle(forward_zetas.len4, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    split4(l[i], h[i], r[2 * i], r[2 * i + 1]);
    split2(r[2 * i], r[2 * i + 1], l[i], h[i]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) forward_butterfly(l[i], h[i], lane_twiddle(forward_zetas.len2, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    split2(l[i], h[i], r[2 * i], r[2 * i + 1]);
    split1(r[2 * i], r[2 * i + 1], l[i], h[i]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) forward_butterfly(l[i], h[i], lane_twiddle(forward_zetas.len1, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) split1(l[i], h[i], r[2 * i], r[2 * i + 1]);
}

[[gnu::always_inline]] inline void small_levels_inverse(__m256i (&r)[8], int t) {
  __m256i l[4], h[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) split1(r[2 * i], r[2 * i + 1], l[i], h[i]);
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) inverse_butterfly(l[i], h[i], lane_twiddle(inverse_zetas.len1, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    split1(l[i], h[i], r[2 * i], r[2 * i + 1]);
    split2(r[2 * i], r[2 * i + 1], l[i], h[i]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) inverse_butterfly(l[i], h[i], lane_twiddle(inverse_zetas.len2, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    split2(l[i], h[i], r[2 * i], r[2 * i + 1]);
    split4(r[2 * i], r[2 * i + 1], l[i], h[i]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) inverse_butterfly(l[i], h[i], lane_twiddle(inverse_zetas.len4, t + i));
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) split4(l[i], h[i], r[2 * i], r[2 * i + 1]);
}

}  // namespace

// Pass structure (each pass loads and stores every coefficient once, on eight
// registers, so at least four independent butterflies are in flight: the
// Montgomery product is a chain of two multiplies, and with fewer independent
// butterflies the vector units wait on that latency):
//   forward: levels 128, 64 and 32 on a[o + 32 i], i < 8;
//            then levels 16, 8, 4, 2, 1 on two 32-coefficient blocks at a time.
//   inverse: the same in reverse, with level 128 fused with the scaling by f.
// m follows Algorithm 41/42: level len uses zetas[n / (2 len) + block].
// The loops inside a pass are unrolled (constant trip counts), so the register
// arrays stay in registers; the four iterations of each pass are not: fully
// unrolled, the two functions were ~27 KiB of code, which in a whole signature
// or verification (Keccak and the rest competing for the instruction cache and
// the op cache) ran slower than this 7 KiB form although it won a hot loop.
void ntt_avx2(Poly& a) {
  // Levels 128 (zetas[1]), 64 (zetas[2..3]) and 32 (zetas[4..7]) on
  // r[i] = a[o + 32 i]: level 128 pairs r[i], r[i + 4]; 64 pairs r[i], r[i + 2]
  // within each half; 32 pairs r[2j], r[2j + 1].
#pragma GCC unroll 1
  for (int o = 0; o < 32; o += 8) {
    __m256i r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = load(&a.c[o + 32 * i]);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) forward_butterfly(r[i], r[i + 4], forward_twiddle(1));
    forward_butterfly(r[0], r[2], forward_twiddle(2));
    forward_butterfly(r[1], r[3], forward_twiddle(2));
    forward_butterfly(r[4], r[6], forward_twiddle(3));
    forward_butterfly(r[5], r[7], forward_twiddle(3));
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) forward_butterfly(r[2 * j], r[2 * j + 1], forward_twiddle(4 + j));
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) store(&a.c[o + 32 * i], r[i]);
  }
  // Levels 16 (zetas[8 + B]), 8 (zetas[16 + 2B + i]), then 4, 2, 1 on the
  // 32-coefficient blocks B and B + 1: r[4j + i] = a[32 (B + j) + 8 i].
#pragma GCC unroll 1
  for (int block = 0; block < 8; block += 2) {
    std::int32_t* base = &a.c[32 * block];
    __m256i r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = load(base + 8 * i);
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      forward_butterfly(r[4 * j], r[4 * j + 2], forward_twiddle(8 + block + j));
      forward_butterfly(r[4 * j + 1], r[4 * j + 3], forward_twiddle(8 + block + j));
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) forward_butterfly(r[2 * i], r[2 * i + 1], forward_twiddle(16 + 2 * block + i));
    small_levels_forward(r, 2 * block);
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) store(base + 8 * i, r[i]);
  }
}

void inverse_ntt_to_montgomery_avx2(Poly& a) {
  // Levels 1, 2, 4, then 8 (-zetas[31 - 2B - i]) and 16 (-zetas[15 - B]) on
  // the 32-coefficient blocks B and B + 1: r[4j + i] = a[32 (B + j) + 8 i].
#pragma GCC unroll 1
  for (int block = 0; block < 8; block += 2) {
    std::int32_t* base = &a.c[32 * block];
    __m256i r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = load(base + 8 * i);
    small_levels_inverse(r, 2 * block);
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) inverse_butterfly(r[2 * i], r[2 * i + 1], inverse_twiddle(31 - (2 * block + i)));
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      inverse_butterfly(r[4 * j], r[4 * j + 2], inverse_twiddle(15 - (block + j)));
      inverse_butterfly(r[4 * j + 1], r[4 * j + 3], inverse_twiddle(15 - (block + j)));
    }
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) store(base + 8 * i, r[i]);
  }
  // Levels 32 (-zetas[7 - j]), 64 (-zetas[3], -zetas[2]) and 128 fused with the
  // scaling by f as in the portable path, on r[i] = a[o + 32 i].
  const LaneTwiddle f = broadcast_twiddle(&inverse_ntt_scale[0], &inverse_ntt_scale[2], 0);
  const LaneTwiddle f_zeta = broadcast_twiddle(&inverse_ntt_scale[0], &inverse_ntt_scale[2], 1);
#pragma GCC unroll 1
  for (int o = 0; o < 32; o += 8) {
    __m256i r[8];
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) r[i] = load(&a.c[o + 32 * i]);
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) inverse_butterfly(r[2 * j], r[2 * j + 1], inverse_twiddle(7 - j));
    inverse_butterfly(r[0], r[2], inverse_twiddle(3));
    inverse_butterfly(r[1], r[3], inverse_twiddle(3));
    inverse_butterfly(r[4], r[6], inverse_twiddle(2));
    inverse_butterfly(r[5], r[7], inverse_twiddle(2));
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      store(&a.c[o + 32 * i], montgomery_multiply(_mm256_add_epi32(r[i], r[i + 4]), f));
      store(&a.c[o + 32 * i + 128], montgomery_multiply(_mm256_sub_epi32(r[i], r[i + 4]), f_zeta));
    }
  }
}

void pointwise_montgomery_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int j = 0; j < n; j += 8) store(&c.c[j], montgomery_multiply(load(&a.c[j]), load(&b.c[j])));
}

void pointwise_accumulate_montgomery_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int j = 0; j < n; j += 8) {
    store(&c.c[j], _mm256_add_epi32(load(&c.c[j]), montgomery_multiply(load(&a.c[j]), load(&b.c[j]))));
  }
}

void inner_product_montgomery_avx2(Poly& w, const Poly* a, const Poly* b, int count) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i q_inverse_vector = _mm256_set1_epi32(static_cast<std::int32_t>(q_inverse));
  for (int j = 0; j < n; j += 8) {
    // Even lanes and odd lanes (shifted down) as 64-bit sums of products:
    // |sum| < 7 * 9 q^2 < 2^31 q, the Montgomery reduction's input bound.
    __m256i sum_even = _mm256_setzero_si256();
    __m256i sum_odd = _mm256_setzero_si256();
    for (int s = 0; s < count; ++s) {
      const __m256i x = load(&a[s].c[j]);
      const __m256i y = load(&b[s].c[j]);
      sum_even = _mm256_add_epi64(sum_even, _mm256_mul_epi32(x, y));
      sum_odd = _mm256_add_epi64(sum_odd, _mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(y, 32)));
    }
    // montgomery_reduce on each sum: t = low32(sum) q^-1, (sum - t q) / 2^32.
    const __m256i t_even = _mm256_mul_epi32(sum_even, q_inverse_vector);
    const __m256i t_odd = _mm256_mul_epi32(sum_odd, q_inverse_vector);
    const __m256i r_even = _mm256_sub_epi64(sum_even, _mm256_mul_epi32(t_even, q_vector));
    const __m256i r_odd = _mm256_sub_epi64(sum_odd, _mm256_mul_epi32(t_odd, q_vector));
    const __m256i r = _mm256_blend_epi32(_mm256_srli_epi64(r_even, 32), r_odd, 0xAA);
    // reduce32: r - round(r / 2^23) q.
    const __m256i t = _mm256_srai_epi32(_mm256_add_epi32(r, _mm256_set1_epi32(1 << 22)), 23);
    store(&w.c[j], _mm256_sub_epi32(r, _mm256_mullo_epi32(t, q_vector)));
  }
}

}  // namespace kestrel::crypto::mldsa::detail
