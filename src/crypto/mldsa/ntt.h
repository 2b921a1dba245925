// Number-theoretic transform over Z_q[X]/(X^256 + 1) for ML-DSA (FIPS 204
// section 7.5, Algorithms 41-42, and MultiplyNTT, Algorithm 45).
//
// Representation: NTT outputs are in the standard domain (the zetas are kept in
// Montgomery form, so each butterfly's Montgomery product cancels their factor R).
// pointwise_montgomery multiplies in Montgomery form (an extra R^-1), and
// inverse_ntt_to_montgomery multiplies by R / 256, so
// inverse_ntt_to_montgomery(pointwise_montgomery(ntt(a), ntt(b))) = a * b.
//
// Paths: portable C++ here; AVX2 in ntt_avx2.cc, chosen per call when the CPU
// has AVX2 and the gate crypto.avx2 is on. Both give identical outputs.
//
// Thread-safe: pure functions.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/mldsa/params.h"

namespace kestrel::crypto::mldsa::detail {

// Not zero-initialised: the vectors and matrices below are sized for the
// largest parameter set (tens of KiB), and every producer writes all n
// coefficients before they are read, so clearing them first only cost time.
struct alignas(32) Poly {
  std::array<std::int32_t, n> c;
};

namespace zeta_table_detail {
constexpr int bit_reverse8(int x) {
  int r = 0;
  for (int i = 0; i < 8; ++i) r |= ((x >> i) & 1) << (7 - i);
  return r;
}
constexpr std::int64_t power_mod_q(std::int64_t base, int exponent) {
  std::int64_t r = 1;
  for (int i = 0; i < exponent; ++i) r = r * base % q;
  return r;
}
// x * 2^32 mod q, centred in (-q/2, q/2].
constexpr std::int32_t montgomery_form(std::int64_t x) {
  std::int64_t r = x % q * ((std::int64_t{1} << 32) % q) % q;
  if (r > q / 2) r -= q;
  return static_cast<std::int32_t>(r);
}
constexpr std::array<std::int32_t, n> make_zetas() {
  std::array<std::int32_t, n> table{};
  for (int i = 0; i < n; ++i) table[i] = montgomery_form(power_mod_q(zeta, bit_reverse8(i)));
  return table;
}
}  // namespace zeta_table_detail

// zetas[i] = zeta^BitRev8(i) * 2^32 mod q, centred (FIPS 204 Appendix B lists
// zeta^BitRev8(i) mod q; we compute the table at compile time from zeta = 1753).
inline constexpr std::array<std::int32_t, n> zetas = zeta_table_detail::make_zetas();

// 256^-1 * 2^64 mod q: the final scaling of NTT^-1 (Algorithm 42 multiplies by
// f = 8347681 = 256^-1 mod q) times 2^32 for "to Montgomery" times 2^32 to cancel
// the Montgomery reduction that applies it. 2^64 mod q = 2365951 (checked in ntt.cc).
inline constexpr std::int32_t inverse_ntt_factor = static_cast<std::int32_t>(8347681LL * 2365951LL % q);
// inverse_ntt_factor * (-zetas[1]) * 2^-32 mod q, centred: the last inverse
// level's twiddle and the final scaling in one Montgomery product.
inline constexpr std::int32_t inverse_ntt_last_factor = [] {
  const std::int64_t r_inverse = 8265825;  // 2^-32 mod q
  std::int64_t v = static_cast<std::int64_t>(inverse_ntt_factor) * (q - zetas[1]) % q * r_inverse % q;
  if (v > q / 2) v -= q;
  return static_cast<std::int32_t>(v);
}();

// NTT (Algorithm 41). REQUIRES: |a_i| < q. ENSURES: |a_i| < 9q.
void ntt(Poly& a);
// NTT^-1 (Algorithm 42) times 2^32. REQUIRES: |a_i| < q. ENSURES: |a_i| < q.
void inverse_ntt_to_montgomery(Poly& a);
// c = a o b * 2^-32 (Algorithm 45 in Montgomery form).
// REQUIRES: |a_i * b_i| <= 2^31 q. ENSURES: |c_i| < q.
void pointwise_montgomery(Poly& c, const Poly& a, const Poly& b);
// c += a o b * 2^-32. REQUIRES as above and no overflow: |c_i| < 2^31 - q.
void pointwise_accumulate_montgomery(Poly& c, const Poly& a, const Poly& b);

// w = reduce32(sum_{s < count} a[s] o b[s] * 2^-32): the inner product of one
// row of A-hat with a vector, with the 64-bit products summed and reduced once
// per coefficient (lazy reduction), the same values as the portable
// matrix_multiply. REQUIRES: |a_i| < q, |b_i| < 9q, count <= 7 (|sum| < 2^31 q).
// ENSURES: |w_i| <= 6283008. AVX2 only (ntt_avx2.cc).
void inner_product_montgomery_avx2(Poly& w, const Poly* a, const Poly* b, int count);

// Portable implementations, always available (tests compare the two paths).
void ntt_portable(Poly& a);
void inverse_ntt_to_montgomery_portable(Poly& a);
void pointwise_montgomery_portable(Poly& c, const Poly& a, const Poly& b);
void pointwise_accumulate_montgomery_portable(Poly& c, const Poly& a, const Poly& b);

// AVX2 implementations (ntt_avx2.cc). REQUIRES: cpu_features().avx2.
void ntt_avx2(Poly& a);
void inverse_ntt_to_montgomery_avx2(Poly& a);
void pointwise_montgomery_avx2(Poly& c, const Poly& a, const Poly& b);
void pointwise_accumulate_montgomery_avx2(Poly& c, const Poly& a, const Poly& b);

// True when the AVX2 path is to be used (CPU feature and gate crypto.avx2).
bool use_avx2();

}  // namespace kestrel::crypto::mldsa::detail
