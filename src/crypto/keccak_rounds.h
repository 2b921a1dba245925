// Internal to keccak.cc and keccak_avx2.cc: the Keccak-p[1600, 24] round
// (FIPS 202 Algorithms 1-7) written once over a lane type, so the scalar path
// (uint64_t) and the 4-way AVX2 path (__m256i, one register per lane index)
// share one definition of the step mappings and their constants.
//
// Lanes are named locals, not arrays, so GCC keeps them in registers as far as
// the register file allows; theta's d is folded into rho and pi, and chi runs
// on one output plane (five lanes) at a time.
//
// Thread-safe: constants and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

namespace kestrel::crypto::keccak::detail {

// RC[i] from the LFSR rc(t) of FIPS 202 Algorithm 5 (iota): bit 2^j - 1 of
// RC[i] is rc(j + 7i), j in [0, 6].
constexpr bool rc_bit(unsigned t) {
  if (t % 255 == 0) return true;
  std::uint8_t r = 0x01;  // R = 10000000, bit 0 first
  for (unsigned i = 1; i <= t % 255; ++i) {
    const bool r8 = r & 0x80;  // the bit shifted out past position 7
    r = static_cast<std::uint8_t>(r << 1);
    if (r8) r ^= 0x71;  // R[0] ^= R8, R[4] ^= R8, R[5] ^= R8, R[6] ^= R8
  }
  return r & 1;
}

constexpr std::array<std::uint64_t, 24> make_round_constants() {
  std::array<std::uint64_t, 24> rc{};
  for (unsigned i = 0; i < 24; ++i) {
    for (unsigned j = 0; j <= 6; ++j) {
      if (rc_bit(j + 7 * i)) rc[i] |= std::uint64_t{1} << ((1u << j) - 1);
    }
  }
  return rc;
}
inline constexpr auto round_constants = make_round_constants();
static_assert(round_constants[0] == 0x0000000000000001ULL);
static_assert(round_constants[23] == 0x8000000080008008ULL);

// rho offsets (Algorithm 2): walking (x, y) from (1, 0), lane t gets
// (t + 1)(t + 2) / 2 mod 64.
constexpr std::array<unsigned, 25> make_rho() {
  std::array<unsigned, 25> r{};
  unsigned x = 1, y = 0;
  for (unsigned t = 0; t < 24; ++t) {
    r[x + 5 * y] = ((t + 1) * (t + 2) / 2) % 64;
    const unsigned next_y = (2 * x + 3 * y) % 5;
    x = y;
    y = next_y;
  }
  return r;
}
inline constexpr auto rho = make_rho();
static_assert(rho[1] == 1 && rho[2] == 62 && rho[24] == 14);

// pi (Algorithm 3): A'[x, y] = A[(x + 3y) mod 5, x]; as a destination for each
// source lane: source (x, y) goes to (y, 2x + 3y).
constexpr std::array<unsigned, 25> make_pi_destination() {
  std::array<unsigned, 25> d{};
  for (unsigned x = 0; x < 5; ++x)
    for (unsigned y = 0; y < 5; ++y) d[x + 5 * y] = y + 5 * ((2 * x + 3 * y) % 5);
  return d;
}
inline constexpr auto pi_destination = make_pi_destination();

// Lane operations a lane type provides (O): x(a, b) = a ^ b, andn(a, b) =
// ~a & b, rotl<n>(a), rc(a, i) = a ^ RC[i].
//
// Keccak-p[1600, 24] (Algorithm 7) in place on the caller's lanes s[x + 5y]
// (a0..a24 name them; updating them in memory directly saves copying the state
// in and out, ~5% of a permutation).
// Two rounds per iteration, state A -> E -> A, so no lane is copied. Each round:
// theta's column parities c and d (Algorithm 1); then plane by plane of the
// output, the five lanes that pi (Algorithm 3) brings into that plane, each
// XORed with its d and rotated by rho (Algorithm 2), go through chi
// (Algorithm 4); iota (Algorithm 6) on lane 0. The body was generated from the
// rho and pi tables above (source lane s of destination x + 5y is the one with
// pi_destination[s] == x + 5y); keccak_test.cc checks the permutation against
// OpenSSL and the FIPS 202 examples on both paths.
//
// Always inlined into its one caller per path (permute, permute_bmi2,
// permute_x4_avx2): a shared out-of-line copy would be compiled for one
// instruction set only.
template <typename Lane, typename O>
[[gnu::always_inline]] inline void permute_lanes(Lane* s) {
  Lane &a0 = s[0], &a1 = s[1], &a2 = s[2], &a3 = s[3], &a4 = s[4], &a5 = s[5], &a6 = s[6], &a7 = s[7], &a8 = s[8], &a9 = s[9], &a10 = s[10], &a11 = s[11], &a12 = s[12], &a13 = s[13], &a14 = s[14], &a15 = s[15], &a16 = s[16], &a17 = s[17], &a18 = s[18], &a19 = s[19], &a20 = s[20], &a21 = s[21], &a22 = s[22], &a23 = s[23], &a24 = s[24];
  Lane e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15, e16, e17, e18, e19, e20, e21, e22, e23, e24;
  Lane c0, c1, c2, c3, c4, d0, d1, d2, d3, d4, b0, b1, b2, b3, b4;
  for (unsigned i = 0; i < 24; i += 2) {
    c0 = O::x(O::x(O::x(a0, a5), O::x(a10, a15)), a20);
    c1 = O::x(O::x(O::x(a1, a6), O::x(a11, a16)), a21);
    c2 = O::x(O::x(O::x(a2, a7), O::x(a12, a17)), a22);
    c3 = O::x(O::x(O::x(a3, a8), O::x(a13, a18)), a23);
    c4 = O::x(O::x(O::x(a4, a9), O::x(a14, a19)), a24);
    d0 = O::x(c4, O::template rotl<1>(c1));
    d1 = O::x(c0, O::template rotl<1>(c2));
    d2 = O::x(c1, O::template rotl<1>(c3));
    d3 = O::x(c2, O::template rotl<1>(c4));
    d4 = O::x(c3, O::template rotl<1>(c0));
    b0 = O::template rotl<0>(O::x(a0, d0));
    b1 = O::template rotl<44>(O::x(a6, d1));
    b2 = O::template rotl<43>(O::x(a12, d2));
    b3 = O::template rotl<21>(O::x(a18, d3));
    b4 = O::template rotl<14>(O::x(a24, d4));
    e0 = O::rc(O::x(b0, O::andn(b1, b2)), i);
    e1 = O::x(b1, O::andn(b2, b3));
    e2 = O::x(b2, O::andn(b3, b4));
    e3 = O::x(b3, O::andn(b4, b0));
    e4 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<28>(O::x(a3, d3));
    b1 = O::template rotl<20>(O::x(a9, d4));
    b2 = O::template rotl<3>(O::x(a10, d0));
    b3 = O::template rotl<45>(O::x(a16, d1));
    b4 = O::template rotl<61>(O::x(a22, d2));
    e5 = O::x(b0, O::andn(b1, b2));
    e6 = O::x(b1, O::andn(b2, b3));
    e7 = O::x(b2, O::andn(b3, b4));
    e8 = O::x(b3, O::andn(b4, b0));
    e9 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<1>(O::x(a1, d1));
    b1 = O::template rotl<6>(O::x(a7, d2));
    b2 = O::template rotl<25>(O::x(a13, d3));
    b3 = O::template rotl<8>(O::x(a19, d4));
    b4 = O::template rotl<18>(O::x(a20, d0));
    e10 = O::x(b0, O::andn(b1, b2));
    e11 = O::x(b1, O::andn(b2, b3));
    e12 = O::x(b2, O::andn(b3, b4));
    e13 = O::x(b3, O::andn(b4, b0));
    e14 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<27>(O::x(a4, d4));
    b1 = O::template rotl<36>(O::x(a5, d0));
    b2 = O::template rotl<10>(O::x(a11, d1));
    b3 = O::template rotl<15>(O::x(a17, d2));
    b4 = O::template rotl<56>(O::x(a23, d3));
    e15 = O::x(b0, O::andn(b1, b2));
    e16 = O::x(b1, O::andn(b2, b3));
    e17 = O::x(b2, O::andn(b3, b4));
    e18 = O::x(b3, O::andn(b4, b0));
    e19 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<62>(O::x(a2, d2));
    b1 = O::template rotl<55>(O::x(a8, d3));
    b2 = O::template rotl<39>(O::x(a14, d4));
    b3 = O::template rotl<41>(O::x(a15, d0));
    b4 = O::template rotl<2>(O::x(a21, d1));
    e20 = O::x(b0, O::andn(b1, b2));
    e21 = O::x(b1, O::andn(b2, b3));
    e22 = O::x(b2, O::andn(b3, b4));
    e23 = O::x(b3, O::andn(b4, b0));
    e24 = O::x(b4, O::andn(b0, b1));
    c0 = O::x(O::x(O::x(e0, e5), O::x(e10, e15)), e20);
    c1 = O::x(O::x(O::x(e1, e6), O::x(e11, e16)), e21);
    c2 = O::x(O::x(O::x(e2, e7), O::x(e12, e17)), e22);
    c3 = O::x(O::x(O::x(e3, e8), O::x(e13, e18)), e23);
    c4 = O::x(O::x(O::x(e4, e9), O::x(e14, e19)), e24);
    d0 = O::x(c4, O::template rotl<1>(c1));
    d1 = O::x(c0, O::template rotl<1>(c2));
    d2 = O::x(c1, O::template rotl<1>(c3));
    d3 = O::x(c2, O::template rotl<1>(c4));
    d4 = O::x(c3, O::template rotl<1>(c0));
    b0 = O::template rotl<0>(O::x(e0, d0));
    b1 = O::template rotl<44>(O::x(e6, d1));
    b2 = O::template rotl<43>(O::x(e12, d2));
    b3 = O::template rotl<21>(O::x(e18, d3));
    b4 = O::template rotl<14>(O::x(e24, d4));
    a0 = O::rc(O::x(b0, O::andn(b1, b2)), i + 1);
    a1 = O::x(b1, O::andn(b2, b3));
    a2 = O::x(b2, O::andn(b3, b4));
    a3 = O::x(b3, O::andn(b4, b0));
    a4 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<28>(O::x(e3, d3));
    b1 = O::template rotl<20>(O::x(e9, d4));
    b2 = O::template rotl<3>(O::x(e10, d0));
    b3 = O::template rotl<45>(O::x(e16, d1));
    b4 = O::template rotl<61>(O::x(e22, d2));
    a5 = O::x(b0, O::andn(b1, b2));
    a6 = O::x(b1, O::andn(b2, b3));
    a7 = O::x(b2, O::andn(b3, b4));
    a8 = O::x(b3, O::andn(b4, b0));
    a9 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<1>(O::x(e1, d1));
    b1 = O::template rotl<6>(O::x(e7, d2));
    b2 = O::template rotl<25>(O::x(e13, d3));
    b3 = O::template rotl<8>(O::x(e19, d4));
    b4 = O::template rotl<18>(O::x(e20, d0));
    a10 = O::x(b0, O::andn(b1, b2));
    a11 = O::x(b1, O::andn(b2, b3));
    a12 = O::x(b2, O::andn(b3, b4));
    a13 = O::x(b3, O::andn(b4, b0));
    a14 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<27>(O::x(e4, d4));
    b1 = O::template rotl<36>(O::x(e5, d0));
    b2 = O::template rotl<10>(O::x(e11, d1));
    b3 = O::template rotl<15>(O::x(e17, d2));
    b4 = O::template rotl<56>(O::x(e23, d3));
    a15 = O::x(b0, O::andn(b1, b2));
    a16 = O::x(b1, O::andn(b2, b3));
    a17 = O::x(b2, O::andn(b3, b4));
    a18 = O::x(b3, O::andn(b4, b0));
    a19 = O::x(b4, O::andn(b0, b1));
    b0 = O::template rotl<62>(O::x(e2, d2));
    b1 = O::template rotl<55>(O::x(e8, d3));
    b2 = O::template rotl<39>(O::x(e14, d4));
    b3 = O::template rotl<41>(O::x(e15, d0));
    b4 = O::template rotl<2>(O::x(e21, d1));
    a20 = O::x(b0, O::andn(b1, b2));
    a21 = O::x(b1, O::andn(b2, b3));
    a22 = O::x(b2, O::andn(b3, b4));
    a23 = O::x(b3, O::andn(b4, b0));
    a24 = O::x(b4, O::andn(b0, b1));
  }
}

// The same permutation for cores without ANDN (the portable build), with the
// "lane complementing" transform described by the Keccak team (Bertoni, Daemen,
// Peeters, Van Assche, "Keccak implementation overview"): six lanes,
// {1, 2, 8, 12, 17, 20}, are kept complemented inside the permutation, so that
// most chi terms ~b1 & b2 become a plain AND or OR of stored lanes; 8 NOTs per
// round remain instead of 25 (about 9% faster here). The complement flags are carried through theta (columns with an odd
// number of complemented lanes flip d), rho and pi; each chi expression was
// chosen by checking its truth table against b0 ^ (~b1 & b2) with those flags
// (generator kept out of the tree; keccak_paths_test.cc compares this with the
// BMI2 build on random states, and keccak_test.cc checks hashes on both sides).
// O also provides a(x, y) = x & y, o(x, y) = x | y and n(x) = ~x.
template <typename Lane, typename O>
[[gnu::always_inline]] inline void permute_lanes_complemented(Lane* s) {
  Lane &a0 = s[0], &a1 = s[1], &a2 = s[2], &a3 = s[3], &a4 = s[4], &a5 = s[5], &a6 = s[6], &a7 = s[7], &a8 = s[8], &a9 = s[9], &a10 = s[10], &a11 = s[11], &a12 = s[12], &a13 = s[13], &a14 = s[14], &a15 = s[15], &a16 = s[16], &a17 = s[17], &a18 = s[18], &a19 = s[19], &a20 = s[20], &a21 = s[21], &a22 = s[22], &a23 = s[23], &a24 = s[24];
  a1 = O::n(a1); a2 = O::n(a2); a8 = O::n(a8); a12 = O::n(a12); a17 = O::n(a17); a20 = O::n(a20);
  Lane e0, e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13, e14, e15, e16, e17, e18, e19, e20, e21, e22, e23, e24;
  Lane c0, c1, c2, c3, c4, d0, d1, d2, d3, d4, b0, b1, b2, b3, b4, n1, n2, n3, n4;
  for (unsigned i = 0; i < 24; i += 2) {
    c0 = O::x(O::x(O::x(a0, a5), O::x(a10, a15)), a20);
    c1 = O::x(O::x(O::x(a1, a6), O::x(a11, a16)), a21);
    c2 = O::x(O::x(O::x(a2, a7), O::x(a12, a17)), a22);
    c3 = O::x(O::x(O::x(a3, a8), O::x(a13, a18)), a23);
    c4 = O::x(O::x(O::x(a4, a9), O::x(a14, a19)), a24);
    d0 = O::x(c4, O::template rotl<1>(c1));
    d1 = O::x(c0, O::template rotl<1>(c2));
    d2 = O::x(c1, O::template rotl<1>(c3));
    d3 = O::x(c2, O::template rotl<1>(c4));
    d4 = O::x(c3, O::template rotl<1>(c0));
    b0 = O::template rotl<0>(O::x(a0, d0));
    b1 = O::template rotl<44>(O::x(a6, d1));
    b2 = O::template rotl<43>(O::x(a12, d2));
    b3 = O::template rotl<21>(O::x(a18, d3));
    b4 = O::template rotl<14>(O::x(a24, d4));
    n2 = O::n(b2);
    e0 = O::rc(O::x(b0, O::o(b1, b2)), i);
    e1 = O::x(b1, O::o(n2, b3));
    e2 = O::x(b2, O::a(b3, b4));
    e3 = O::x(b3, O::o(b4, b0));
    e4 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<28>(O::x(a3, d3));
    b1 = O::template rotl<20>(O::x(a9, d4));
    b2 = O::template rotl<3>(O::x(a10, d0));
    b3 = O::template rotl<45>(O::x(a16, d1));
    b4 = O::template rotl<61>(O::x(a22, d2));
    n4 = O::n(b4);
    e5 = O::x(b0, O::o(b1, b2));
    e6 = O::x(b1, O::a(b2, b3));
    e7 = O::x(b2, O::o(b3, n4));
    e8 = O::x(b3, O::o(b4, b0));
    e9 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<1>(O::x(a1, d1));
    b1 = O::template rotl<6>(O::x(a7, d2));
    b2 = O::template rotl<25>(O::x(a13, d3));
    b3 = O::template rotl<8>(O::x(a19, d4));
    b4 = O::template rotl<18>(O::x(a20, d0));
    n3 = O::n(b3);
    e10 = O::x(b0, O::o(b1, b2));
    e11 = O::x(b1, O::a(b2, b3));
    e12 = O::x(b2, O::a(n3, b4));
    e13 = O::n(O::x(b3, O::o(b4, b0)));
    e14 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<27>(O::x(a4, d4));
    b1 = O::template rotl<36>(O::x(a5, d0));
    b2 = O::template rotl<10>(O::x(a11, d1));
    b3 = O::template rotl<15>(O::x(a17, d2));
    b4 = O::template rotl<56>(O::x(a23, d3));
    n3 = O::n(b3);
    e15 = O::x(b0, O::a(b1, b2));
    e16 = O::x(b1, O::o(b2, b3));
    e17 = O::x(b2, O::o(n3, b4));
    e18 = O::n(O::x(b3, O::a(b4, b0)));
    e19 = O::x(b4, O::o(b0, b1));
    b0 = O::template rotl<62>(O::x(a2, d2));
    b1 = O::template rotl<55>(O::x(a8, d3));
    b2 = O::template rotl<39>(O::x(a14, d4));
    b3 = O::template rotl<41>(O::x(a15, d0));
    b4 = O::template rotl<2>(O::x(a21, d1));
    n1 = O::n(b1);
    e20 = O::x(b0, O::a(n1, b2));
    e21 = O::n(O::x(b1, O::o(b2, b3)));
    e22 = O::x(b2, O::a(b3, b4));
    e23 = O::x(b3, O::o(b4, b0));
    e24 = O::x(b4, O::a(b0, b1));
    c0 = O::x(O::x(O::x(e0, e5), O::x(e10, e15)), e20);
    c1 = O::x(O::x(O::x(e1, e6), O::x(e11, e16)), e21);
    c2 = O::x(O::x(O::x(e2, e7), O::x(e12, e17)), e22);
    c3 = O::x(O::x(O::x(e3, e8), O::x(e13, e18)), e23);
    c4 = O::x(O::x(O::x(e4, e9), O::x(e14, e19)), e24);
    d0 = O::x(c4, O::template rotl<1>(c1));
    d1 = O::x(c0, O::template rotl<1>(c2));
    d2 = O::x(c1, O::template rotl<1>(c3));
    d3 = O::x(c2, O::template rotl<1>(c4));
    d4 = O::x(c3, O::template rotl<1>(c0));
    b0 = O::template rotl<0>(O::x(e0, d0));
    b1 = O::template rotl<44>(O::x(e6, d1));
    b2 = O::template rotl<43>(O::x(e12, d2));
    b3 = O::template rotl<21>(O::x(e18, d3));
    b4 = O::template rotl<14>(O::x(e24, d4));
    n2 = O::n(b2);
    a0 = O::rc(O::x(b0, O::o(b1, b2)), i + 1);
    a1 = O::x(b1, O::o(n2, b3));
    a2 = O::x(b2, O::a(b3, b4));
    a3 = O::x(b3, O::o(b4, b0));
    a4 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<28>(O::x(e3, d3));
    b1 = O::template rotl<20>(O::x(e9, d4));
    b2 = O::template rotl<3>(O::x(e10, d0));
    b3 = O::template rotl<45>(O::x(e16, d1));
    b4 = O::template rotl<61>(O::x(e22, d2));
    n4 = O::n(b4);
    a5 = O::x(b0, O::o(b1, b2));
    a6 = O::x(b1, O::a(b2, b3));
    a7 = O::x(b2, O::o(b3, n4));
    a8 = O::x(b3, O::o(b4, b0));
    a9 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<1>(O::x(e1, d1));
    b1 = O::template rotl<6>(O::x(e7, d2));
    b2 = O::template rotl<25>(O::x(e13, d3));
    b3 = O::template rotl<8>(O::x(e19, d4));
    b4 = O::template rotl<18>(O::x(e20, d0));
    n3 = O::n(b3);
    a10 = O::x(b0, O::o(b1, b2));
    a11 = O::x(b1, O::a(b2, b3));
    a12 = O::x(b2, O::a(n3, b4));
    a13 = O::n(O::x(b3, O::o(b4, b0)));
    a14 = O::x(b4, O::a(b0, b1));
    b0 = O::template rotl<27>(O::x(e4, d4));
    b1 = O::template rotl<36>(O::x(e5, d0));
    b2 = O::template rotl<10>(O::x(e11, d1));
    b3 = O::template rotl<15>(O::x(e17, d2));
    b4 = O::template rotl<56>(O::x(e23, d3));
    n3 = O::n(b3);
    a15 = O::x(b0, O::a(b1, b2));
    a16 = O::x(b1, O::o(b2, b3));
    a17 = O::x(b2, O::o(n3, b4));
    a18 = O::n(O::x(b3, O::a(b4, b0)));
    a19 = O::x(b4, O::o(b0, b1));
    b0 = O::template rotl<62>(O::x(e2, d2));
    b1 = O::template rotl<55>(O::x(e8, d3));
    b2 = O::template rotl<39>(O::x(e14, d4));
    b3 = O::template rotl<41>(O::x(e15, d0));
    b4 = O::template rotl<2>(O::x(e21, d1));
    n1 = O::n(b1);
    a20 = O::x(b0, O::a(n1, b2));
    a21 = O::n(O::x(b1, O::o(b2, b3)));
    a22 = O::x(b2, O::a(b3, b4));
    a23 = O::x(b3, O::o(b4, b0));
    a24 = O::x(b4, O::a(b0, b1));
  }
  a1 = O::n(a1); a2 = O::n(a2); a8 = O::n(a8); a12 = O::n(a12); a17 = O::n(a17); a20 = O::n(a20);
}


struct ScalarOps {
  static std::uint64_t x(std::uint64_t a, std::uint64_t b) { return a ^ b; }
  static std::uint64_t andn(std::uint64_t a, std::uint64_t b) { return ~a & b; }
  static std::uint64_t a(std::uint64_t x, std::uint64_t y) { return x & y; }
  static std::uint64_t o(std::uint64_t x, std::uint64_t y) { return x | y; }
  static std::uint64_t n(std::uint64_t x) { return ~x; }
  template <unsigned n>
  static std::uint64_t rotl(std::uint64_t a) {
    if constexpr (n == 0) {
      return a;
    } else {
      return (a << n) | (a >> (64 - n));
    }
  }
  static std::uint64_t rc(std::uint64_t a, unsigned i) { return a ^ round_constants[i]; }
};

}  // namespace kestrel::crypto::keccak::detail
