// AVX2 forms of FIPS 203 Algorithms 9-12 (ntt.h), 16 coefficients per 256-bit
// register, natural coefficient order as in the portable path. Compiled with
// -mavx2; reached only through avx2_ops() (poly.h).
//
// Layers with butterfly distance len >= 16 pair whole registers. For len = 8, 4
// and 2 the pairs sit inside registers: two registers A, B are shuffled into X
// (the lower element of each butterfly) and Y (the upper), the butterflies run
// lane by lane, and the inverse shuffle puts them back. The zeta of each lane is
// found by running the very same shuffles on coefficient indices (build_tables),
// so the tables cannot disagree with the code that uses them.
//
// Arithmetic is lane-for-lane the portable arithmetic (same Montgomery and
// Barrett steps), so both paths give the same int16 values.
#include <immintrin.h>

#include <array>

#include "crypto/mlkem/avx2.h"
#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/reduce.h"

namespace kestrel::crypto::mlkem::detail {

namespace {

constexpr int vectors = n / 16;

inline __m256i load(const std::int16_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int16_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

// a * b * 2^-16 mod q per lane (|result| < q), b_qinv = b * q^-1 mod 2^16:
// the high half of a b minus the high half of (a b q^-1 mod 2^16) q; the low
// halves cancel exactly, as in montgomery_reduce.
inline __m256i fqmul(__m256i a, __m256i b, __m256i b_qinv) {
  const __m256i hi = _mm256_mulhi_epi16(a, b);
  const __m256i t = _mm256_mullo_epi16(a, b_qinv);
  return _mm256_sub_epi16(hi, _mm256_mulhi_epi16(t, _mm256_set1_epi16(q)));
}

// barrett_reduce per lane: floor((a v + 2^25) / 2^26) computed as
// (floor(a v / 2^16) + 2^9) >> 10, which is the same integer.
inline __m256i barrett(__m256i a) {
  __m256i t = _mm256_mulhi_epi16(a, _mm256_set1_epi16(static_cast<std::int16_t>(barrett_v)));
  t = _mm256_srai_epi16(_mm256_add_epi16(t, _mm256_set1_epi16(512)), 10);
  return _mm256_sub_epi16(a, _mm256_mullo_epi16(t, _mm256_set1_epi16(q)));
}

// The in-register shuffles for len = 8, 4, 2 and their inverses.
inline void split8(__m256i a, __m256i b, __m256i& x, __m256i& y) {
  x = _mm256_permute2x128_si256(a, b, 0x20);  // a.lo, b.lo
  y = _mm256_permute2x128_si256(a, b, 0x31);  // a.hi, b.hi
}
inline void join8(__m256i x, __m256i y, __m256i& a, __m256i& b) { split8(x, y, a, b); }
inline void split4(__m256i a, __m256i b, __m256i& x, __m256i& y) {
  x = _mm256_unpacklo_epi64(a, b);
  y = _mm256_unpackhi_epi64(a, b);
}
inline void join4(__m256i x, __m256i y, __m256i& a, __m256i& b) { split4(x, y, a, b); }
inline void split2(__m256i a, __m256i b, __m256i& x, __m256i& y) {
  const __m256i as = _mm256_shuffle_epi32(a, 0xD8);  // dwords 0 2 1 3
  const __m256i bs = _mm256_shuffle_epi32(b, 0xD8);
  x = _mm256_unpacklo_epi64(as, bs);
  y = _mm256_unpackhi_epi64(as, bs);
}
inline void join2(__m256i x, __m256i y, __m256i& a, __m256i& b) {
  a = _mm256_unpacklo_epi32(x, y);
  b = _mm256_unpackhi_epi32(x, y);
}

struct alignas(32) LaneTable {
  // For the shuffled layers (0: len 8, 1: len 4, 2: len 2), register pair p
  // (registers 2p, 2p+1): the zeta of each lane of X, and zeta q^-1.
  std::int16_t fwd[3][vectors / 2][16];
  std::int16_t fwd_qinv[3][vectors / 2][16];
  std::int16_t inv[3][vectors / 2][16];
  std::int16_t inv_qinv[3][vectors / 2][16];
  // gamma (times R) in the odd lanes for register r (pairs 8r .. 8r+7), 0 in even lanes.
  std::int16_t gamma[vectors][16];
};

std::int16_t times_qinv(std::int16_t z) { return static_cast<std::int16_t>(z * q_inverse); }

LaneTable build_tables() {
  LaneTable t{};
  for (int layer = 0; layer < 3; ++layer) {
    const int len = 8 >> layer;
    for (int p = 0; p < vectors / 2; ++p) {
      alignas(32) std::int16_t index[32];
      for (int i = 0; i < 32; ++i) index[i] = static_cast<std::int16_t>(32 * p + i);
      __m256i x, y;
      const __m256i a = load(index), b = load(index + 16);
      if (layer == 0) split8(a, b, x, y);
      if (layer == 1) split4(a, b, x, y);
      if (layer == 2) split2(a, b, x, y);
      alignas(32) std::int16_t lower[16];
      store(lower, x);
      for (int lane = 0; lane < 16; ++lane) {
        const int j = lower[lane];  // the butterfly's lower coefficient
        const int block = j / (2 * len);
        // Algorithm 9 walks i = 128/len + block in layer len; Algorithm 10 the
        // same layer with i = 2 (128/len) - 1 - block.
        const std::int16_t zf = zetas_montgomery[128 / len + block];
        const std::int16_t zi = zetas_montgomery[2 * (128 / len) - 1 - block];
        t.fwd[layer][p][lane] = zf;
        t.fwd_qinv[layer][p][lane] = times_qinv(zf);
        t.inv[layer][p][lane] = zi;
        t.inv_qinv[layer][p][lane] = times_qinv(zi);
      }
    }
  }
  for (int r = 0; r < vectors; ++r)
    for (int pair = 0; pair < 8; ++pair) t.gamma[r][2 * pair + 1] = gammas_montgomery[8 * r + pair];
  return t;
}

const LaneTable& tables() {
  static const LaneTable t = build_tables();
  return t;
}

inline void butterfly_ct(__m256i& a, __m256i& b, __m256i z, __m256i z_qinv) {
  const __m256i t = fqmul(b, z, z_qinv);
  b = _mm256_sub_epi16(a, t);
  a = _mm256_add_epi16(a, t);
}

inline void butterfly_gs(__m256i& a, __m256i& b, __m256i z, __m256i z_qinv) {
  const __m256i t = a;
  a = barrett(_mm256_add_epi16(t, b));
  b = fqmul(_mm256_sub_epi16(b, t), z, z_qinv);
}

}  // namespace

void ntt_avx2(std::int16_t f[n]) {
  const LaneTable& t = tables();
  __m256i r[vectors];
  for (int i = 0; i < vectors; ++i) r[i] = load(f + 16 * i);
  // len = 128, 64, 32, 16: whole registers, step = len / 16 registers apart.
  int zi = 1;
  for (int step = 8; step >= 1; step /= 2) {
    for (int start = 0; start < vectors; start += 2 * step) {
      const std::int16_t z = zetas_montgomery[zi++];
      const __m256i zv = _mm256_set1_epi16(z), zq = _mm256_set1_epi16(times_qinv(z));
      for (int j = start; j < start + step; ++j) butterfly_ct(r[j], r[j + step], zv, zq);
    }
  }
  // len = 8, 4, 2: inside register pairs.
  for (int p = 0; p < vectors / 2; ++p) {
    __m256i a = r[2 * p], b = r[2 * p + 1], x, y;
    split8(a, b, x, y);
    butterfly_ct(x, y, load(t.fwd[0][p]), load(t.fwd_qinv[0][p]));
    join8(x, y, a, b);
    split4(a, b, x, y);
    butterfly_ct(x, y, load(t.fwd[1][p]), load(t.fwd_qinv[1][p]));
    join4(x, y, a, b);
    split2(a, b, x, y);
    butterfly_ct(x, y, load(t.fwd[2][p]), load(t.fwd_qinv[2][p]));
    join2(x, y, a, b);
    store(f + 32 * p, barrett(a));
    store(f + 32 * p + 16, barrett(b));
  }
}

void inverse_ntt_avx2(std::int16_t f[n]) {
  const LaneTable& t = tables();
  __m256i r[vectors];
  // len = 2, 4, 8 inside register pairs.
  for (int p = 0; p < vectors / 2; ++p) {
    __m256i a = load(f + 32 * p), b = load(f + 32 * p + 16), x, y;
    split2(a, b, x, y);
    butterfly_gs(x, y, load(t.inv[2][p]), load(t.inv_qinv[2][p]));
    join2(x, y, a, b);
    split4(a, b, x, y);
    butterfly_gs(x, y, load(t.inv[1][p]), load(t.inv_qinv[1][p]));
    join4(x, y, a, b);
    split8(a, b, x, y);
    butterfly_gs(x, y, load(t.inv[0][p]), load(t.inv_qinv[0][p]));
    join8(x, y, a, b);
    r[2 * p] = a;
    r[2 * p + 1] = b;
  }
  // len = 16 .. 128: whole registers; Algorithm 10's i runs down from 15 here.
  for (int step = 1; step <= 8; step *= 2) {
    int zi = 2 * (8 / step) - 1;  // 2 (128 / len) - 1 with len = 16 step
    for (int start = 0; start < vectors; start += 2 * step) {
      const std::int16_t z = zetas_montgomery[zi--];
      const __m256i zv = _mm256_set1_epi16(z), zq = _mm256_set1_epi16(times_qinv(z));
      for (int j = start; j < start + step; ++j) butterfly_gs(r[j], r[j + step], zv, zq);
    }
  }
  // Times R / 128 (ntt.h).
  constexpr std::int16_t scale = inverse_ntt_scale;
  const __m256i sv = _mm256_set1_epi16(scale), sq = _mm256_set1_epi16(static_cast<std::int16_t>(scale * q_inverse));
  for (int i = 0; i < vectors; ++i) store(f + 16 * i, fqmul(r[i], sv, sq));
}

void multiply_ntts_acc_avx2(std::int16_t h[n], const std::int16_t* const f[], const std::int16_t* const g[],
                            unsigned count) {
  const LaneTable& t = tables();
  const __m256i q_vec = _mm256_set1_epi16(q);
  const __m256i qinv_vec = _mm256_set1_epi16(q_inverse);
  const __m256i low16 = _mm256_set1_epi32(0xFFFF);
  const __m256i q_low = _mm256_set1_epi32(q);  // (q, 0) int16 pairs for madd
  for (int r = 0; r < vectors; ++r) {
    const __m256i gamma = load(t.gamma[r]);
    __m256i c0 = _mm256_setzero_si256(), c1 = _mm256_setzero_si256();
    for (unsigned j = 0; j < count; ++j) {
      const __m256i a = load(f[j] + 16 * r), b = load(g[j] + 16 * r);
      // Odd lanes of p: montgomery_reduce(a1 b1), exactly as the portable path.
      const __m256i p = _mm256_sub_epi16(_mm256_mulhi_epi16(a, b),
                                         _mm256_mulhi_epi16(_mm256_mullo_epi16(_mm256_mullo_epi16(a, b), qinv_vec), q_vec));
      // c0 += a0 b0 + (a1 b1 R^-1) gamma R; c1 += a0 b1 + a1 b0 (Algorithm 12).
      c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(_mm256_blend_epi16(a, p, 0xAA), _mm256_blend_epi16(b, gamma, 0xAA)));
      const __m256i b_swapped = _mm256_or_si256(_mm256_slli_epi32(b, 16), _mm256_srli_epi32(b, 16));
      c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(a, b_swapped));
    }
    // montgomery_reduce on 32-bit lanes: t = (int16)(c q^-1), r = (c - t q) >> 16.
    const __m256i t0 = _mm256_and_si256(_mm256_mullo_epi16(c0, qinv_vec), low16);
    const __m256i t1 = _mm256_and_si256(_mm256_mullo_epi16(c1, qinv_vec), low16);
    const __m256i r0 = _mm256_srai_epi32(_mm256_sub_epi32(c0, _mm256_madd_epi16(t0, q_low)), 16);
    const __m256i r1 = _mm256_srai_epi32(_mm256_sub_epi32(c1, _mm256_madd_epi16(t1, q_low)), 16);
    store(h + 16 * r, _mm256_blend_epi16(r0, _mm256_slli_epi32(r1, 16), 0xAA));
  }
}

}  // namespace kestrel::crypto::mlkem::detail
