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

}  // namespace

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

}  // namespace kestrel::crypto::mldsa::detail
