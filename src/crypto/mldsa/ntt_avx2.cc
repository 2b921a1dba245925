// AVX2 path of ntt.h: eight coefficients per 256-bit register. Levels with
// len >= 8 run fully vectorised (a block's two halves are whole registers);
// the last three levels (len 4, 2, 1) shuffle within registers would cost more
// code than they save at this size, so they use the portable butterflies.
// Compiled with -mavx2 (kestrel_avx2_sources); called only through ntt.cc's
// dispatch. Outputs are bit-identical to the portable path (same arithmetic).
#include <immintrin.h>

#include "crypto/mldsa/ntt.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

// Montgomery product of eight lanes: a_i * b_i * 2^-32, |result| < q for
// |a_i * b_i| <= 2^31 q (the same bound as montgomery_reduce).
inline __m256i montgomery_multiply(__m256i a, __m256i b) {
  const __m256i q_vector = _mm256_set1_epi32(q);
  const __m256i q_inverse_vector = _mm256_set1_epi32(static_cast<std::int32_t>(q_inverse));
  // Even lanes (0, 2, 4, 6) and odd lanes shifted down, as 64-bit products.
  const __m256i product_even = _mm256_mul_epi32(a, b);
  const __m256i product_odd = _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32));
  // t = low32(product) * q^-1 mod 2^32 (sign-extended by mul_epi32's use of the low dword).
  const __m256i t_even = _mm256_mul_epi32(product_even, q_inverse_vector);
  const __m256i t_odd = _mm256_mul_epi32(product_odd, q_inverse_vector);
  // (product - t q) has a zero low dword; its high dword is the result.
  const __m256i r_even = _mm256_sub_epi64(product_even, _mm256_mul_epi32(t_even, q_vector));
  const __m256i r_odd = _mm256_sub_epi64(product_odd, _mm256_mul_epi32(t_odd, q_vector));
  return _mm256_blend_epi32(_mm256_srli_epi64(r_even, 32), r_odd, 0xAA);
}

inline __m256i load(const std::int32_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int32_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

}  // namespace

void ntt_avx2(Poly& a) {
  int m = 0;
  for (int len = 128; len >= 8; len >>= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const __m256i z = _mm256_set1_epi32(zetas[++m]);
      for (int j = start; j < start + len; j += 8) {
        const __m256i t = montgomery_multiply(z, load(&a.c[j + len]));
        const __m256i x = load(&a.c[j]);
        store(&a.c[j + len], _mm256_sub_epi32(x, t));
        store(&a.c[j], _mm256_add_epi32(x, t));
      }
    }
  }
  for (int len = 4; len >= 1; len >>= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const std::int64_t z = zetas[++m];
      for (int j = start; j < start + len; ++j) {
        const std::int32_t t = montgomery_reduce(z * a.c[j + len]);
        a.c[j + len] = a.c[j] - t;
        a.c[j] = a.c[j] + t;
      }
    }
  }
}

void inverse_ntt_to_montgomery_avx2(Poly& a) {
  int m = n;
  for (int len = 1; len < 8; len <<= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const std::int64_t z = -zetas[--m];
      for (int j = start; j < start + len; ++j) {
        const std::int32_t t = a.c[j];
        a.c[j] = t + a.c[j + len];
        a.c[j + len] = montgomery_reduce(z * (t - a.c[j + len]));
      }
    }
  }
  for (int len = 8; len < n; len <<= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const __m256i z = _mm256_set1_epi32(-zetas[--m]);
      for (int j = start; j < start + len; j += 8) {
        const __m256i x = load(&a.c[j]);
        const __m256i y = load(&a.c[j + len]);
        store(&a.c[j], _mm256_add_epi32(x, y));
        store(&a.c[j + len], montgomery_multiply(z, _mm256_sub_epi32(x, y)));
      }
    }
  }
  const __m256i f = _mm256_set1_epi32(inverse_ntt_factor);
  for (int j = 0; j < n; j += 8) store(&a.c[j], montgomery_multiply(f, load(&a.c[j])));
}

void pointwise_montgomery_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int j = 0; j < n; j += 8) store(&c.c[j], montgomery_multiply(load(&a.c[j]), load(&b.c[j])));
}

void pointwise_accumulate_montgomery_avx2(Poly& c, const Poly& a, const Poly& b) {
  for (int j = 0; j < n; j += 8) {
    store(&c.c[j], _mm256_add_epi32(load(&c.c[j]), montgomery_multiply(load(&a.c[j]), load(&b.c[j]))));
  }
}

}  // namespace kestrel::crypto::mldsa::detail
