// Keccak-p[1600, 24] (FIPS 202 Algorithm 7) for machines with AVX2, compiled
// with -mavx2 -mbmi2 and called only after a run-time CPU check (keccak.cc):
//  - permute_x4_avx2: four interleaved states, one 256-bit register per lane
//    index; rotations by 8 and 56 are byte shuffles (one instruction, not three);
//  - permute_bmi2: the scalar permutation compiled for BMI1/BMI2, where chi's
//    ~a & b is one ANDN and rotations are non-destructive RORX;
//  - store_words_x4_avx2: the output side of run_jobs_x4, a 4 x 4 transpose of
//    64-bit words instead of strided scalar copies.
// Both instantiate the round of keccak_rounds.h, shared with the portable path,
// and are checked against it on random states in keccak_test.cc.
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

struct Avx2Ops {
  static __m256i x(__m256i a, __m256i b) { return _mm256_xor_si256(a, b); }
  static __m256i andn(__m256i a, __m256i b) { return _mm256_andnot_si256(a, b); }
  template <unsigned n>
  static __m256i rotl(__m256i a) {
    if constexpr (n == 0) {
      return a;
    } else if constexpr (n == 8) {
      // Byte i of each 64-bit lane comes from byte i - 1 (mod 8).
      return _mm256_shuffle_epi8(a, _mm256_setr_epi8(7, 0, 1, 2, 3, 4, 5, 6, 15, 8, 9, 10, 11, 12, 13, 14, 7, 0, 1,
                                                     2, 3, 4, 5, 6, 15, 8, 9, 10, 11, 12, 13, 14));
    } else if constexpr (n == 56) {
      // Byte i comes from byte i + 1 (mod 8).
      return _mm256_shuffle_epi8(a, _mm256_setr_epi8(1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8, 1, 2, 3,
                                                     4, 5, 6, 7, 0, 9, 10, 11, 12, 13, 14, 15, 8));
    } else {
      return _mm256_or_si256(_mm256_slli_epi64(a, n), _mm256_srli_epi64(a, 64 - n));
    }
  }
  static __m256i rc(__m256i a, unsigned i) {
    return _mm256_xor_si256(a, _mm256_set1_epi64x(static_cast<long long>(round_constants[i])));
  }
};

}  // namespace

void permute_x4_avx2(StateX4& state) {
  // Lane i of the four states is one aligned 256-bit word (StateX4 is
  // alignas(32)); __m256i may alias any type.
  permute_lanes<__m256i, Avx2Ops>(reinterpret_cast<__m256i*>(state.lanes.data()));
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
