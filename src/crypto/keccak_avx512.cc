// Keccak-p[1600, 24] (FIPS 202 Algorithm 7) with AVX-512F/VL, compiled with
// -mavx512f -mavx512vl (and the AVX2 set) and called only after a run-time CPU
// check and with the gates crypto.avx2 and crypto.avx512 on (keccak.cc):
//  - permute_x4_avx512: the 4-way StateX4 on 256-bit registers, as
//    permute_x4_avx2 but with VPROLQ (a rotation is one instruction instead of
//    shift, shift, or) and VPTERNLOGQ (chi's a ^ (~b & c) and theta's
//    five-way column XOR in one or two instructions): ~96 vector operations
//    per round instead of ~194;
//  - permute_x8_avx512: two StateX4 as eight states in 512-bit registers (the
//    lanes of the two states are joined on load and split on store).
// Checked against the portable permutation in keccak_test.cc on both gate
// sides, and through every ML-KEM and ML-DSA known-answer vector.
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_epi32() as the unused
// merge source, which -Wuninitialized reports inside the header once inlined
// here; the warning is about the header's undefined merge operand, not about our values.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include "crypto/ct.h"
#include "crypto/keccak.h"
#include "crypto/keccak_rounds.h"

namespace kestrel::crypto::keccak::detail {

namespace {

// Lane operations on a vector type: Ymm (four states) or Zmm (eight).
struct Ymm {
  using V = __m256i;
  static V load(const V* p) { return _mm256_load_si256(p); }
  static void store(V* p, V v) { _mm256_store_si256(p, v); }
  static V x(V a, V b) { return _mm256_xor_si256(a, b); }
  static V x3(V a, V b, V c) { return _mm256_ternarylogic_epi64(a, b, c, 0x96); }  // a ^ b ^ c
  static V chi(V a, V b, V c) { return _mm256_ternarylogic_epi64(a, b, c, 0xD2); }  // a ^ (~b & c)
  template <unsigned n>
  static V rotl(V a) {
    if constexpr (n == 0) {
      return a;
    } else {
      return _mm256_rol_epi64(a, n);
    }
  }
  static V broadcast(std::uint64_t v) { return _mm256_set1_epi64x(static_cast<long long>(v)); }
};
struct Zmm {
  using V = __m512i;
  static V load(const V* p) { return _mm512_load_si512(p); }
  static void store(V* p, V v) { _mm512_store_si512(p, v); }
  static V x(V a, V b) { return _mm512_xor_si512(a, b); }
  static V x3(V a, V b, V c) { return _mm512_ternarylogic_epi64(a, b, c, 0x96); }
  static V chi(V a, V b, V c) { return _mm512_ternarylogic_epi64(a, b, c, 0xD2); }
  template <unsigned n>
  static V rotl(V a) {
    if constexpr (n == 0) {
      return a;
    } else {
      return _mm512_rol_epi64(a, n);
    }
  }
  static V broadcast(std::uint64_t v) { return _mm512_set1_epi64(static_cast<long long>(v)); }
};

// One output plane y (the same source lanes s0..s4 and rotations r0..r4 as
// keccak_avx2.cc's plane()): theta's d XORed in, rho, pi, chi, iota on y = 0.
template <typename O, unsigned y, unsigned s0, unsigned r0, unsigned s1, unsigned r1, unsigned s2, unsigned r2,
          unsigned s3, unsigned r3, unsigned s4, unsigned r4>
[[gnu::always_inline]] inline void plane(const typename O::V* src, typename O::V* dst, const typename O::V (&d)[5],
                                         std::uint64_t rc = 0) {
  using V = typename O::V;
  const V b0 = O::template rotl<r0>(O::x(O::load(src + s0), d[s0 % 5]));
  const V b1 = O::template rotl<r1>(O::x(O::load(src + s1), d[s1 % 5]));
  const V b2 = O::template rotl<r2>(O::x(O::load(src + s2), d[s2 % 5]));
  const V b3 = O::template rotl<r3>(O::x(O::load(src + s3), d[s3 % 5]));
  const V b4 = O::template rotl<r4>(O::x(O::load(src + s4), d[s4 % 5]));
  V e0 = O::chi(b0, b1, b2);
  if constexpr (y == 0) e0 = O::x(e0, O::broadcast(rc));  // iota
  O::store(dst + 5 * y + 0, e0);
  O::store(dst + 5 * y + 1, O::chi(b1, b2, b3));
  O::store(dst + 5 * y + 2, O::chi(b2, b3, b4));
  O::store(dst + 5 * y + 3, O::chi(b3, b4, b0));
  O::store(dst + 5 * y + 4, O::chi(b4, b0, b1));
}

// One round from src to dst, both in memory (the loads feed the XORs
// directly; 32 vector registers hold every temporary).
template <typename O>
[[gnu::always_inline]] inline void round(const typename O::V* src, typename O::V* dst, std::uint64_t rc) {
  using V = typename O::V;
  asm("" : "+r"(src), "+r"(dst));  // as in keccak_avx2.cc: every lane goes through memory
  V c[5], d[5];
#pragma GCC unroll 5
  for (unsigned x = 0; x < 5; ++x) {
    c[x] = O::x3(O::x3(O::load(src + x), O::load(src + x + 5), O::load(src + x + 10)), O::load(src + x + 15),
                 O::load(src + x + 20));
  }
#pragma GCC unroll 5
  for (unsigned x = 0; x < 5; ++x) d[x] = O::x(c[(x + 4) % 5], O::template rotl<1>(c[(x + 1) % 5]));
  plane<O, 0, 0, 0, 6, 44, 12, 43, 18, 21, 24, 14>(src, dst, d, rc);
  plane<O, 1, 3, 28, 9, 20, 10, 3, 16, 45, 22, 61>(src, dst, d);
  plane<O, 2, 1, 1, 7, 6, 13, 25, 19, 8, 20, 18>(src, dst, d);
  plane<O, 3, 4, 27, 5, 36, 11, 10, 17, 15, 23, 56>(src, dst, d);
  plane<O, 4, 2, 62, 8, 55, 14, 39, 15, 41, 21, 2>(src, dst, d);
}

template <typename O>
void permute_in_place(typename O::V* a) {
  alignas(64) typename O::V e[25];
  for (unsigned i = 0; i < 24; i += 2) {
    round<O>(a, e, round_constants[i]);
    round<O>(e, a, round_constants[i + 1]);
  }
}

}  // namespace

void permute_x4_avx512(StateX4& state) { permute_in_place<Ymm>(reinterpret_cast<__m256i*>(state.lanes.data())); }

void permute_x8_avx512(StateX4& first, StateX4& second) {
  // Lane i of the eight states: first's four in the low half, second's in the high.
  alignas(64) __m512i a[25];
  auto* p = reinterpret_cast<__m256i*>(first.lanes.data());
  auto* q = reinterpret_cast<__m256i*>(second.lanes.data());
#pragma GCC unroll 5
  for (unsigned i = 0; i < 25; ++i) {
    a[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_load_si256(p + i)), _mm256_load_si256(q + i), 1);
  }
  permute_in_place<Zmm>(a);
#pragma GCC unroll 5
  for (unsigned i = 0; i < 25; ++i) {
    _mm256_store_si256(p + i, _mm512_castsi512_si256(a[i]));
    _mm256_store_si256(q + i, _mm512_extracti64x4_epi64(a[i], 1));
  }
  secure_zero(a, sizeof a);  // the joined copy of the states (may be secret-derived)
}

}  // namespace kestrel::crypto::keccak::detail
