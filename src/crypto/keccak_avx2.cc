// Keccak-p[1600, 24] (FIPS 202 Algorithm 7) for machines with AVX2, compiled
// with -mavx2 -mbmi2 and called only after a run-time CPU check (keccak.cc):
//  - permute_x4_avx2: four interleaved states, one 256-bit word per lane
//    index, with a round of its own written for 16 YMM registers (below);
//    rotations by 8 and 56 are byte shuffles (one instruction, not three);
//  - permute_x8_avx2: two such StateX4 with their rounds interleaved plane
//    by plane (~0.87 of the time of two permute_x4_avx2 calls on this
//    machine: the second state fills the first's theta barrier);
//  - permute_bmi2: the scalar permutation compiled for BMI1/BMI2, where chi's
//    ~a & b is one ANDN and rotations are non-destructive RORX;
//  - store_words_x4_avx2: the output side of run_jobs_x4, a 4 x 4 transpose of
//    64-bit words instead of strided scalar copies.
// permute_bmi2 instantiates the round of keccak_rounds.h, shared with the
// portable path; both are checked against it on random states in
// keccak_paths_test.cc and against OpenSSL through SHAKE.
#include <immintrin.h>

#include "crypto/keccak.h"
#include "crypto/keccak_rounds.h"

namespace kestrel::crypto::keccak::detail {

namespace {

// A scalar Ops type local to this file: the instantiation of permute_lanes
// then has internal linkage and cannot be merged by the linker with the
// portable one (the same template compiled with and without -mbmi would be an
// ODR clash that could run BMI instructions on the portable path).
struct Bmi2Ops {
  static std::uint64_t x(std::uint64_t a, std::uint64_t b) { return a ^ b; }
  static std::uint64_t andn(std::uint64_t a, std::uint64_t b) { return ~a & b; }  // ANDN
  template <unsigned n>
  static std::uint64_t rotl(std::uint64_t a) {
    if constexpr (n == 0) {
      return a;
    } else {
      return (a << n) | (a >> (64 - n));  // RORX
    }
  }
  static std::uint64_t rc(std::uint64_t a, unsigned i) { return a ^ round_constants[i]; }
};


}  // namespace

namespace {

// The 4-way round written for 16 YMM registers: the state stays in memory
// (the caller's lanes, then a stack copy, alternating) and every load feeds an
// XOR directly. Per round: theta's column parities c from 25 loads, d; then
// per output plane the five lanes that pi brings there, XORed with d and
// rotated by rho, through chi and stored: at most 5 d + 5 b + 2 temporaries
// are live, so nothing spills.

// rotl by n: shift/shift/or; by 8 and 56 one byte shuffle; by 1 the left shift
// is an add (any vector ALU port, not only the shift ports).
template <unsigned n>
[[gnu::always_inline]] inline __m256i rotl(__m256i a) {
  if constexpr (n == 0) {
    return a;
  } else if constexpr (n == 1) {
    return _mm256_or_si256(_mm256_add_epi64(a, a), _mm256_srli_epi64(a, 63));
  } else if constexpr (n == 8) {
    alignas(32) static constexpr std::uint8_t k[32] = {7, 0, 1, 2, 3, 4, 5, 6, 15, 8, 9, 10, 11, 12, 13, 14,
                                                       7, 0, 1, 2, 3, 4, 5, 6, 15, 8, 9, 10, 11, 12, 13, 14};
    return _mm256_shuffle_epi8(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(k)));
  } else if constexpr (n == 56) {
    alignas(32) static constexpr std::uint8_t k[32] = {1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8,
                                                       1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8};
    return _mm256_shuffle_epi8(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(k)));
  } else {
    return _mm256_or_si256(_mm256_slli_epi64(a, n), _mm256_srli_epi64(a, 64 - n));
  }
}

// The column parities C[x] of the 25 lanes at src (Algorithm 1 step 1).
[[gnu::always_inline]] inline void column_parities(const __m256i* src, __m256i (&c)[5]) {
#pragma GCC unroll 5
  for (unsigned x = 0; x < 5; ++x) {
    c[x] = _mm256_xor_si256(_mm256_xor_si256(_mm256_xor_si256(_mm256_load_si256(src + x), _mm256_load_si256(src + x + 5)),
                                             _mm256_xor_si256(_mm256_load_si256(src + x + 10), _mm256_load_si256(src + x + 15))),
                            _mm256_load_si256(src + x + 20));
  }
}

// One output plane y: source lanes s0..s4 (pi), rotations r0..r4 (rho).
// With `parity`, also the next round's column parities in c (the 4-way form);
// without, c is unused (the 8-way form recomputes them from memory).
// REQUIRES: c non-null iff parity; rc non-null iff y == 0.
template <bool parity, unsigned y, unsigned s0, unsigned r0, unsigned s1, unsigned r1, unsigned s2, unsigned r2,
          unsigned s3, unsigned r3, unsigned s4, unsigned r4>
[[gnu::always_inline]] inline void plane(const __m256i* src, __m256i* dst, const __m256i (&d)[5], __m256i* c,
                                         const std::uint64_t* rc = nullptr) {
  const __m256i b0 = rotl<r0>(_mm256_xor_si256(_mm256_load_si256(src + s0), d[s0 % 5]));
  const __m256i b1 = rotl<r1>(_mm256_xor_si256(_mm256_load_si256(src + s1), d[s1 % 5]));
  const __m256i b2 = rotl<r2>(_mm256_xor_si256(_mm256_load_si256(src + s2), d[s2 % 5]));
  const __m256i b3 = rotl<r3>(_mm256_xor_si256(_mm256_load_si256(src + s3), d[s3 % 5]));
  const __m256i b4 = rotl<r4>(_mm256_xor_si256(_mm256_load_si256(src + s4), d[s4 % 5]));
  __m256i e0 = _mm256_xor_si256(b0, _mm256_andnot_si256(b1, b2));
  if constexpr (y == 0) e0 = _mm256_xor_si256(e0, _mm256_set1_epi64x(static_cast<long long>(*rc)));  // iota
  const __m256i e1 = _mm256_xor_si256(b1, _mm256_andnot_si256(b2, b3));
  const __m256i e2 = _mm256_xor_si256(b2, _mm256_andnot_si256(b3, b4));
  const __m256i e3 = _mm256_xor_si256(b3, _mm256_andnot_si256(b4, b0));
  const __m256i e4 = _mm256_xor_si256(b4, _mm256_andnot_si256(b0, b1));
  _mm256_store_si256(dst + 5 * y + 0, e0);
  _mm256_store_si256(dst + 5 * y + 1, e1);
  _mm256_store_si256(dst + 5 * y + 2, e2);
  _mm256_store_si256(dst + 5 * y + 3, e3);
  _mm256_store_si256(dst + 5 * y + 4, e4);
  if constexpr (parity) {
    // The next round's column parities, accumulated in registers as the lanes
    // are made: theta can start as soon as the last plane is done, without
    // waiting for its stores to be forwarded to loads.
    if constexpr (y == 0) {
      c[0] = e0, c[1] = e1, c[2] = e2, c[3] = e3, c[4] = e4;
    } else {
      c[0] = _mm256_xor_si256(c[0], e0), c[1] = _mm256_xor_si256(c[1], e1), c[2] = _mm256_xor_si256(c[2], e2);
      c[3] = _mm256_xor_si256(c[3], e3), c[4] = _mm256_xor_si256(c[4], e4);
    }
    // Opaque to the compiler: otherwise it reassociates the five-plane XOR
    // chains into trees at the end of the round, keeping every lane live until
    // then (spills).
    asm("" : "+x"(c[0]), "+x"(c[1]), "+x"(c[2]), "+x"(c[3]), "+x"(c[4]));
  }
}

// One round from src to dst; c holds the column parities of src on entry and
// those of dst on return.
[[gnu::always_inline]] inline void round_x4(const __m256i* src, __m256i* dst, __m256i (&c)[5],
                                            const std::uint64_t* rc) {
  // Hide the pointers from the compiler, so it cannot forward the lanes the
  // last round stored to this round's loads and then hold 25 lanes in 16
  // registers (spilling): every lane goes through memory as written.
  asm("" : "+r"(src), "+r"(dst));
  __m256i d[5];
#pragma GCC unroll 5
  for (unsigned x = 0; x < 5; ++x) d[x] = _mm256_xor_si256(c[(x + 4) % 5], rotl<1>(c[(x + 1) % 5]));
  // Planes in the order of the shared round (keccak_rounds.h).
  plane<true, 0, 0, 0, 6, 44, 12, 43, 18, 21, 24, 14>(src, dst, d, c, rc);
  plane<true, 1, 3, 28, 9, 20, 10, 3, 16, 45, 22, 61>(src, dst, d, c);
  plane<true, 2, 1, 1, 7, 6, 13, 25, 19, 8, 20, 18>(src, dst, d, c);
  plane<true, 3, 4, 27, 5, 36, 11, 10, 17, 15, 23, 56>(src, dst, d, c);
  plane<true, 4, 2, 62, 8, 55, 14, 39, 15, 41, 21, 2>(src, dst, d, c);
}

// The 8-way form: two StateX4 whose rounds are interleaved plane by plane.
// Theta is a barrier in every round (all 25 lanes feed the column parities),
// and in the 4-way form the vector units idle while the last plane's chain
// drains into the next round's d; with a second, independent state the
// planes of one fill the other's gaps. Registers: the column parities are
// recomputed from memory at the start of each round (instead of accumulated
// in five registers) so that both states' d (10) and one plane's lanes fit.

// theta's d for the round reading src (Algorithm 1 steps 1-2).
[[gnu::always_inline]] inline void theta_d(const __m256i* src, __m256i (&d)[5]) {
  __m256i c[5];
  column_parities(src, c);
#pragma GCC unroll 5
  for (unsigned x = 0; x < 5; ++x) d[x] = _mm256_xor_si256(c[(x + 4) % 5], rotl<1>(c[(x + 1) % 5]));
}

// One round of both states (a: sa -> da, b: sb -> db), b one plane behind a.
[[gnu::always_inline]] inline void round_x8(const __m256i* sa, __m256i* da, const __m256i* sb, __m256i* db,
                                            const std::uint64_t* rc) {
  asm("" : "+r"(sa), "+r"(da), "+r"(sb), "+r"(db));  // as in round_x4: lanes go through memory
  __m256i d[5], g[5];
  theta_d(sa, d);
  plane<false, 0, 0, 0, 6, 44, 12, 43, 18, 21, 24, 14>(sa, da, d, nullptr, rc);
  theta_d(sb, g);
  plane<false, 1, 3, 28, 9, 20, 10, 3, 16, 45, 22, 61>(sa, da, d, nullptr);
  plane<false, 0, 0, 0, 6, 44, 12, 43, 18, 21, 24, 14>(sb, db, g, nullptr, rc);
  plane<false, 2, 1, 1, 7, 6, 13, 25, 19, 8, 20, 18>(sa, da, d, nullptr);
  plane<false, 1, 3, 28, 9, 20, 10, 3, 16, 45, 22, 61>(sb, db, g, nullptr);
  plane<false, 3, 4, 27, 5, 36, 11, 10, 17, 15, 23, 56>(sa, da, d, nullptr);
  plane<false, 2, 1, 1, 7, 6, 13, 25, 19, 8, 20, 18>(sb, db, g, nullptr);
  plane<false, 4, 2, 62, 8, 55, 14, 39, 15, 41, 21, 2>(sa, da, d, nullptr);
  plane<false, 3, 4, 27, 5, 36, 11, 10, 17, 15, 23, 56>(sb, db, g, nullptr);
  plane<false, 4, 2, 62, 8, 55, 14, 39, 15, 41, 21, 2>(sb, db, g, nullptr);
}

}  // namespace

void permute_x4_avx2(StateX4& state) {
  // Lane i of the four states is one aligned 256-bit word (StateX4 is
  // alignas(32)); __m256i may alias any type.
  __m256i* a = reinterpret_cast<__m256i*>(state.lanes.data());
  alignas(32) __m256i e[25];
  __m256i c[5];
  column_parities(a, c);
  for (unsigned i = 0; i < 24; i += 2) {
    round_x4(a, e, c, &round_constants[i]);
    round_x4(e, a, c, &round_constants[i + 1]);
  }
}

void permute_x8_avx2(StateX4& first, StateX4& second) {
  __m256i* a = reinterpret_cast<__m256i*>(first.lanes.data());
  __m256i* b = reinterpret_cast<__m256i*>(second.lanes.data());
  alignas(32) __m256i e[25], f[25];
  for (unsigned i = 0; i < 24; i += 2) {
    round_x8(a, e, b, f, &round_constants[i]);
    round_x8(e, a, f, b, &round_constants[i + 1]);
  }
}

void permute_bmi2(State& state) { permute_lanes<std::uint64_t, Bmi2Ops>(state.a.data()); }

void store_words_x4_avx2(const StateX4& state, std::size_t words, std::uint8_t* const out[4]) {
  const auto* v = reinterpret_cast<const __m256i*>(state.lanes.data());
  std::size_t w = 0;
  // 4 x 4 transposes of 64-bit words: registers hold word w of the four
  // states; after the transpose each holds four consecutive words of one state.
  for (; w + 4 <= words; w += 4) {
    const __m256i r0 = _mm256_load_si256(v + w), r1 = _mm256_load_si256(v + w + 1);
    const __m256i r2 = _mm256_load_si256(v + w + 2), r3 = _mm256_load_si256(v + w + 3);
    const __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
    const __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
    const __m256i o[4] = {_mm256_permute2x128_si256(t0, t2, 0x20), _mm256_permute2x128_si256(t1, t3, 0x20),
                          _mm256_permute2x128_si256(t0, t2, 0x31), _mm256_permute2x128_si256(t1, t3, 0x31)};
    for (unsigned j = 0; j < 4; ++j) {
      if (out[j] != nullptr) _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[j] + 8 * w), o[j]);
    }
  }
  for (; w < words; ++w) {
    for (unsigned j = 0; j < 4; ++j) {
      if (out[j] != nullptr) __builtin_memcpy(out[j] + 8 * w, &state.lanes[4 * w + j], 8);
    }
  }
}

}  // namespace kestrel::crypto::keccak::detail
