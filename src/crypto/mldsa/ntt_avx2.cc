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

// Montgomery product by a constant z broadcast to all lanes, with
// z_q_inverse = z * q^-1 mod 2^32 precomputed: t = a * z q^-1 no longer waits
// for the product a * z, and z needs no odd-lane shift. Same results as
// montgomery_multiply.
struct Twiddle {
  __m256i z;
  __m256i z_q_inverse;
};
inline Twiddle twiddle(std::int32_t z) {
  return {_mm256_set1_epi32(z), _mm256_set1_epi32(static_cast<std::int32_t>(static_cast<std::uint32_t>(z) * q_inverse))};
}
[[gnu::always_inline]] inline __m256i montgomery_multiply(__m256i a, const Twiddle& w) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i a_odd = _mm256_srli_epi64(a, 32);
  const __m256i product_even = _mm256_mul_epi32(a, w.z);
  const __m256i product_odd = _mm256_mul_epi32(a_odd, w.z);
  const __m256i t_even = _mm256_mul_epi32(a, w.z_q_inverse);
  const __m256i t_odd = _mm256_mul_epi32(a_odd, w.z_q_inverse);
  const __m256i r_even = _mm256_sub_epi64(product_even, _mm256_mul_epi32(t_even, q_vector));
  const __m256i r_odd = _mm256_sub_epi64(product_odd, _mm256_mul_epi32(t_odd, q_vector));
  return _mm256_blend_epi32(_mm256_srli_epi64(r_even, 32), r_odd, 0xAA);
}

inline __m256i load(const std::int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int32_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

// Per-lane zetas for the last three forward levels, 16 register pairs each.
// Level len = 4 uses zetas[32 + block] for 8-element blocks, len = 2
// zetas[64 + block] for 4-element blocks, len = 1 zetas[128 + block] for pairs.
struct LaneZetas {
  alignas(32) std::array<std::int32_t, 16 * 8> len4{};
  alignas(32) std::array<std::int32_t, 16 * 8> len2{};
  alignas(32) std::array<std::int32_t, 16 * 8> len1{};
};

// sign = +1: forward zetas; sign = -1 with mirrored indices: inverse (Algorithm
// 42 uses -zetas[m] with m counting down from 255).
constexpr LaneZetas make_lane_zetas(bool inverse) {
  LaneZetas z{};
  auto pick = [&](int base, int block) {
    const int index = inverse ? 2 * base - 1 - block : base + block;
    return inverse ? -zetas[index] : zetas[index];
  };
  for (int t = 0; t < 16; ++t) {
    for (int i = 0; i < 4; ++i) {
      z.len4[8 * t + i] = pick(32, 2 * t);
      z.len4[8 * t + 4 + i] = pick(32, 2 * t + 1);
    }
    // Lanes [A-block0 x2, B-block0 x2, A-block1 x2, B-block1 x2]; A's blocks are
    // 4t, 4t+1 and B's 4t+2, 4t+3.
    const int len2_blocks[4] = {4 * t, 4 * t + 2, 4 * t + 1, 4 * t + 3};
    for (int i = 0; i < 4; ++i) {
      z.len2[8 * t + 2 * i] = pick(64, len2_blocks[i]);
      z.len2[8 * t + 2 * i + 1] = pick(64, len2_blocks[i]);
    }
    // Lanes [A-pair0, B-pair0, A-pair1, B-pair1, ...]; A's pairs are 8t..8t+3,
    // B's 8t+4..8t+7.
    for (int i = 0; i < 4; ++i) {
      z.len1[8 * t + 2 * i] = pick(128, 8 * t + i);
      z.len1[8 * t + 2 * i + 1] = pick(128, 8 * t + 4 + i);
    }
  }
  return z;
}

constexpr LaneZetas forward_zetas = make_lane_zetas(false);
constexpr LaneZetas inverse_zetas = make_lane_zetas(true);

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

// Cooley-Tukey: (l, h) -> (l + z h, l - z h).
[[gnu::always_inline]] inline void forward_butterfly(__m256i& l, __m256i& h, __m256i z) {
  const __m256i t = montgomery_multiply(z, h);
  h = _mm256_sub_epi32(l, t);
  l = _mm256_add_epi32(l, t);
}
// Gentleman-Sande: (l, h) -> (l + h, z (l - h)).
[[gnu::always_inline]] inline void inverse_butterfly(__m256i& l, __m256i& h, __m256i z) {
  const __m256i difference = _mm256_sub_epi32(l, h);
  l = _mm256_add_epi32(l, h);
  h = montgomery_multiply(z, difference);
}
[[gnu::always_inline]] inline void forward_butterfly(__m256i& l, __m256i& h, const Twiddle& w) {
  const __m256i t = montgomery_multiply(h, w);
  h = _mm256_sub_epi32(l, t);
  l = _mm256_add_epi32(l, t);
}
[[gnu::always_inline]] inline void inverse_butterfly(__m256i& l, __m256i& h, const Twiddle& w) {
  const __m256i difference = _mm256_sub_epi32(l, h);
  l = _mm256_add_epi32(l, h);
  h = montgomery_multiply(difference, w);
}

}  // namespace

// Pass structure (each pass loads and stores every coefficient once):
//   forward: levels 128, 64 and 32 on the eight registers a[o + 32 i];
//            then levels 16, 8, 4, 2, 1 on each 32-coefficient block in 4 registers.
//   inverse: the same in reverse, with level 128 fused with the scaling by f.
// m follows Algorithm 41/42: level len uses zetas[n / (2 len) + block].
namespace {

[[gnu::always_inline]] inline void small_levels_forward(__m256i& x, __m256i& y, int t) {
  __m256i l, h;
  split4(x, y, l, h);
  forward_butterfly(l, h, load(&forward_zetas.len4[8 * t]));
  split4(l, h, x, y);
  split2(x, y, l, h);
  forward_butterfly(l, h, load(&forward_zetas.len2[8 * t]));
  split2(l, h, x, y);
  split1(x, y, l, h);
  forward_butterfly(l, h, load(&forward_zetas.len1[8 * t]));
  split1(l, h, x, y);
}

[[gnu::always_inline]] inline void small_levels_inverse(__m256i& x, __m256i& y, int t) {
  __m256i l, h;
  split1(x, y, l, h);
  inverse_butterfly(l, h, load(&inverse_zetas.len1[8 * t]));
  split1(l, h, x, y);
  split2(x, y, l, h);
  inverse_butterfly(l, h, load(&inverse_zetas.len2[8 * t]));
  split2(l, h, x, y);
  split4(x, y, l, h);
  inverse_butterfly(l, h, load(&inverse_zetas.len4[8 * t]));
  split4(l, h, x, y);
}

// z and z * q^-1 mod 2^32 for every zetas[i] and for -zetas[i] (the inverse
// levels), computed at compile time so a broadcast twiddle is two loads
// instead of a multiply and a negation at run time.
struct TwiddleTable {
  std::array<std::int32_t, n> z{}, z_q_inverse{}, minus_z{}, minus_z_q_inverse{};
};
constexpr TwiddleTable twiddle_table = [] {
  TwiddleTable t{};
  for (int i = 0; i < n; ++i) {
    t.z[i] = zetas[i];
    t.z_q_inverse[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(zetas[i]) * q_inverse);
    t.minus_z[i] = -zetas[i];
    t.minus_z_q_inverse[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(-zetas[i]) * q_inverse);
  }
  return t;
}();
inline Twiddle forward_twiddle(int i) {
  return {_mm256_set1_epi32(twiddle_table.z[i]), _mm256_set1_epi32(twiddle_table.z_q_inverse[i])};
}
inline Twiddle inverse_twiddle(int i) {
  return {_mm256_set1_epi32(twiddle_table.minus_z[i]), _mm256_set1_epi32(twiddle_table.minus_z_q_inverse[i])};
}

}  // namespace

// The loops below have constant trip counts; unrolling them lets the register
// arrays live in registers and the twiddle indices become constants. The split
// (three levels on eight registers, then five on four) keeps every pass within
// the sixteen ymm registers: with six levels on eight registers the
// temporaries of the Montgomery products spilled to the stack.
void ntt_avx2(Poly& a) {
  // Levels 128 (zetas[1]), 64 (zetas[2..3]) and 32 (zetas[4..7]) on
  // r[i] = a[o + 32 i]: level 128 pairs r[i], r[i + 4]; 64 pairs r[i], r[i + 2]
  // within each half; 32 pairs r[2j], r[2j + 1].
#pragma GCC unroll 4
  for (int o = 0; o < 32; o += 8) {
    __m256i r[8];
    for (int i = 0; i < 8; ++i) r[i] = load(&a.c[o + 32 * i]);
    for (int i = 0; i < 4; ++i) forward_butterfly(r[i], r[i + 4], forward_twiddle(1));
    forward_butterfly(r[0], r[2], forward_twiddle(2));
    forward_butterfly(r[1], r[3], forward_twiddle(2));
    forward_butterfly(r[4], r[6], forward_twiddle(3));
    forward_butterfly(r[5], r[7], forward_twiddle(3));
    for (int j = 0; j < 4; ++j) forward_butterfly(r[2 * j], r[2 * j + 1], forward_twiddle(4 + j));
    for (int i = 0; i < 8; ++i) store(&a.c[o + 32 * i], r[i]);
  }
  // Levels 16 (zetas[8 + B]), 8 (zetas[16 + 2B + i]), then 4, 2, 1 on each
  // 32-coefficient block B in four registers.
#pragma GCC unroll 8
  for (int block = 0; block < 8; ++block) {
    std::int32_t* base = &a.c[32 * block];
    __m256i r0 = load(base), r1 = load(base + 8), r2 = load(base + 16), r3 = load(base + 24);
    forward_butterfly(r0, r2, forward_twiddle(8 + block));
    forward_butterfly(r1, r3, forward_twiddle(8 + block));
    forward_butterfly(r0, r1, forward_twiddle(16 + 2 * block));
    forward_butterfly(r2, r3, forward_twiddle(16 + 2 * block + 1));
    small_levels_forward(r0, r1, 2 * block);
    small_levels_forward(r2, r3, 2 * block + 1);
    store(base, r0);
    store(base + 8, r1);
    store(base + 16, r2);
    store(base + 24, r3);
  }
}

void inverse_ntt_to_montgomery_avx2(Poly& a) {
  // Levels 1, 2, 4, then 8 (-zetas[31 - 2B - i]) and 16 (-zetas[15 - B]) on each
  // 32-coefficient block B in four registers.
#pragma GCC unroll 8
  for (int block = 0; block < 8; ++block) {
    std::int32_t* base = &a.c[32 * block];
    __m256i r0 = load(base), r1 = load(base + 8), r2 = load(base + 16), r3 = load(base + 24);
    small_levels_inverse(r0, r1, 2 * block);
    small_levels_inverse(r2, r3, 2 * block + 1);
    inverse_butterfly(r0, r1, inverse_twiddle(31 - 2 * block));
    inverse_butterfly(r2, r3, inverse_twiddle(31 - (2 * block + 1)));
    inverse_butterfly(r0, r2, inverse_twiddle(15 - block));
    inverse_butterfly(r1, r3, inverse_twiddle(15 - block));
    store(base, r0);
    store(base + 8, r1);
    store(base + 16, r2);
    store(base + 24, r3);
  }
  // Levels 32 (-zetas[7 - j]), 64 (-zetas[3], -zetas[2]) and 128 fused with the
  // scaling by f as in the portable path, on r[i] = a[o + 32 i].
  const Twiddle f = twiddle(inverse_ntt_factor);
  const Twiddle f_zeta = twiddle(inverse_ntt_last_factor);
#pragma GCC unroll 4
  for (int o = 0; o < 32; o += 8) {
    __m256i r[8];
    for (int i = 0; i < 8; ++i) r[i] = load(&a.c[o + 32 * i]);
    for (int j = 0; j < 4; ++j) inverse_butterfly(r[2 * j], r[2 * j + 1], inverse_twiddle(7 - j));
    inverse_butterfly(r[0], r[2], inverse_twiddle(3));
    inverse_butterfly(r[1], r[3], inverse_twiddle(3));
    inverse_butterfly(r[4], r[6], inverse_twiddle(2));
    inverse_butterfly(r[5], r[7], inverse_twiddle(2));
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
