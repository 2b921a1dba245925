// Keccak-p[1600, 24] on four interleaved states with AVX2 (FIPS 202 Algorithm 7,
// the same step mappings as keccak.cc, one 256-bit register per lane index).
// Compiled with -mavx2; called only after a run-time CPU check (keccak.cc).
#include <immintrin.h>

#include "crypto/keccak.h"

namespace kestrel::crypto::keccak::detail {

namespace {

template <int n>
inline __m256i rotl(__m256i x) {
  if constexpr (n == 0) {
    return x;
  } else {
    return _mm256_or_si256(_mm256_slli_epi64(x, n), _mm256_srli_epi64(x, 64 - n));
  }
}

// Same constants as keccak.cc, spelled out so this file needs no shared table:
// they are checked against the portable path on random states in keccak_test.cc.
constexpr std::uint64_t round_constants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};

// rho offsets r[x + 5y] and pi as "source lane of destination d".
#define KESTREL_KECCAK_RHO_PI(d, s, r) b[d] = rotl<r>(a[s]);

}  // namespace

void permute_x4_avx2(StateX4& state) {
  __m256i a[25];
  for (int i = 0; i < 25; ++i) {
    a[i] = _mm256_load_si256(reinterpret_cast<const __m256i*>(&state.lanes[4 * i]));
  }
  for (int round = 0; round < 24; ++round) {
    // theta
    __m256i c[5];
    for (int x = 0; x < 5; ++x) {
      c[x] = _mm256_xor_si256(_mm256_xor_si256(a[x], a[x + 5]),
                              _mm256_xor_si256(_mm256_xor_si256(a[x + 10], a[x + 15]), a[x + 20]));
    }
    for (int x = 0; x < 5; ++x) {
      const __m256i d = _mm256_xor_si256(c[(x + 4) % 5], rotl<1>(c[(x + 1) % 5]));
      for (int y = 0; y < 25; y += 5) a[x + y] = _mm256_xor_si256(a[x + y], d);
    }
    // rho and pi: source (x, y) -> destination (y, 2x + 3y), rotated by rho[x + 5y].
    __m256i b[25];
    KESTREL_KECCAK_RHO_PI(0, 0, 0)
    KESTREL_KECCAK_RHO_PI(10, 1, 1)
    KESTREL_KECCAK_RHO_PI(20, 2, 62)
    KESTREL_KECCAK_RHO_PI(5, 3, 28)
    KESTREL_KECCAK_RHO_PI(15, 4, 27)
    KESTREL_KECCAK_RHO_PI(16, 5, 36)
    KESTREL_KECCAK_RHO_PI(1, 6, 44)
    KESTREL_KECCAK_RHO_PI(11, 7, 6)
    KESTREL_KECCAK_RHO_PI(21, 8, 55)
    KESTREL_KECCAK_RHO_PI(6, 9, 20)
    KESTREL_KECCAK_RHO_PI(7, 10, 3)
    KESTREL_KECCAK_RHO_PI(17, 11, 10)
    KESTREL_KECCAK_RHO_PI(2, 12, 43)
    KESTREL_KECCAK_RHO_PI(12, 13, 25)
    KESTREL_KECCAK_RHO_PI(22, 14, 39)
    KESTREL_KECCAK_RHO_PI(23, 15, 41)
    KESTREL_KECCAK_RHO_PI(8, 16, 45)
    KESTREL_KECCAK_RHO_PI(18, 17, 15)
    KESTREL_KECCAK_RHO_PI(3, 18, 21)
    KESTREL_KECCAK_RHO_PI(13, 19, 8)
    KESTREL_KECCAK_RHO_PI(14, 20, 18)
    KESTREL_KECCAK_RHO_PI(24, 21, 2)
    KESTREL_KECCAK_RHO_PI(9, 22, 61)
    KESTREL_KECCAK_RHO_PI(19, 23, 56)
    KESTREL_KECCAK_RHO_PI(4, 24, 14)
    // chi
    for (int y = 0; y < 25; y += 5) {
      for (int x = 0; x < 5; ++x) {
        a[x + y] = _mm256_xor_si256(b[x + y], _mm256_andnot_si256(b[(x + 1) % 5 + y], b[(x + 2) % 5 + y]));
      }
    }
    // iota
    a[0] = _mm256_xor_si256(a[0], _mm256_set1_epi64x(static_cast<long long>(round_constants[round])));
  }
  for (int i = 0; i < 25; ++i) {
    _mm256_store_si256(reinterpret_cast<__m256i*>(&state.lanes[4 * i]), a[i]);
  }
}

#undef KESTREL_KECCAK_RHO_PI

}  // namespace kestrel::crypto::keccak::detail
