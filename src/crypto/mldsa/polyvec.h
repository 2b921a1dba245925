// Vectors and the matrix of ML-DSA (FIPS 204 section 7.3 ExpandA / ExpandS /
// ExpandMask, and the NTT-domain products of section 7.6), over k x l
// polynomials sized for the largest parameter set. Every function takes the
// Params of the set in use and touches only its k or l entries.
//
// Thread-safe: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "crypto/keccak.h"
#include "crypto/mldsa/poly.h"

namespace kestrel::crypto::mldsa::detail {

struct PolyVecL {
  std::array<Poly, l_max> p;
};
struct PolyVecK {
  std::array<Poly, k_max> p;
};
// A-hat: k rows of l polynomials, coefficients in [0, q) (NTT domain).
struct Matrix {
  std::array<PolyVecL, k_max> row;
};

// Algorithm 32 ExpandA(rho): A[r][s] = RejNTTPoly(rho || s || r).
// extra_jobs (at most 4, public inputs) are hashed too: on the AVX2 path they
// share the 4-way Keccak with the k * l matrix XOFs (verification hashes
// tr = H(pk) and SampleInBall's first block this way, filling lanes the matrix
// leaves idle), on the portable path one after another.
void expand_a(Matrix& a, const Params& params, std::span<const std::uint8_t, seed_bytes> rho,
              std::span<const keccak::XofJob> extra_jobs = {});
// Algorithm 33 ExpandS(rho'): s1[r] = RejBoundedPoly(rho' || r) for r < l, s2[r] =
// RejBoundedPoly(rho' || r + l) for r < k (2-byte little-endian indices); [-eta, eta].
void expand_s(PolyVecL& s1, PolyVecK& s2, const Params& params,
              std::span<const std::uint8_t, rho_prime_bytes> rho_prime);
// ExpandA(rho) and ExpandS(rho') of key generation (Algorithm 6 lines 3-4),
// the same values as expand_a and expand_s. On the AVX2 path all k * l + k + l
// XOFs run on eight Keccak lanes (expand_a_s_avx2), ExpandS jobs filling the
// lanes the five-block matrix jobs leave idle.
void expand_a_s(Matrix& a, PolyVecL& s1, PolyVecK& s2, const Params& params,
                std::span<const std::uint8_t, seed_bytes> rho, std::span<const std::uint8_t, rho_prime_bytes> rho_prime);
// The rest of key generation run inside the AVX2 batch (Algorithm 6 lines
// 5-9): as soon as s1 and a row of A-hat and s2 are complete, t[r] =
// NTT^-1(A-hat[r] o NTT(s1)) + s2[r] is computed, split by Power2Round into
// t1[r] and t0[r], and t1[r] packed into pk (pkEncode); tr = H(pk, 64) is
// absorbed block by block in a free lane of the batch while later rows are
// still being sampled, instead of 10 / 15 / 20 scalar permutations at the end.
struct KeyGenRows {
  PolyVecL& s1_hat;  // NTT(s1)
  PolyVecK& t;       // scratch (secret)
  PolyVecK& t1;
  PolyVecK& t0;
  std::uint8_t* pk;  // params.public_key_bytes
  std::span<std::uint8_t, tr_bytes> tr;
};
// The AVX2 form (sample_avx2.cc): its own eight-lane driver, parsing each
// squeezed block straight from the transposed state; with rows, also the rest
// of key generation above (pk complete and tr = H(pk) on return).
// REQUIRES: use_avx2().
void expand_a_s_avx2(Matrix& a, PolyVecL& s1, PolyVecK& s2, const Params& params,
                     std::span<const std::uint8_t, seed_bytes> rho,
                     std::span<const std::uint8_t, rho_prime_bytes> rho_prime, const KeyGenRows* rows = nullptr);
// Algorithm 34 ExpandMask(rho'', kappa): y[r] from H(rho'' || kappa + r);
// coefficients in [-gamma1 + 1, gamma1].
void expand_mask(PolyVecL& y, const Params& params, std::span<const std::uint8_t, 64> rho_double_prime,
                 std::uint16_t kappa);

// ExpandMask over the attempts of one signature: attempt i uses the counters
// kappa + r = i * l + r (Algorithm 7 line 11 and Algorithm 34), one run of
// consecutive counters. On the AVX2 path the stream hashes eight counters per
// call (one run_jobs_x4 batch on eight lanes, permute_x8) and keeps the unused
// ones for the next attempt, so an attempt costs l / 8 eight-way calls instead
// of floor(l / 4) four-way and l mod 4 single ones. The pending polynomials
// are secret: wipe() on scope exit.
struct MaskStream {
  static constexpr int batch = 8;  // polynomials per run_jobs_x4 call (eight lanes)
  std::array<Poly, batch> pending;
  int first = 0;  // pending[first, batch) not yet handed out
  std::uint16_t next_counter = 0;  // kappa + r of the next polynomial to hash
  MaskStream() : first(batch) {}
  void wipe();
};
// y = the next l polynomials of the stream, identical to expand_mask(y, params,
// rho_double_prime, kappa) with kappa = l * (number of earlier calls).
void expand_mask_next(PolyVecL& y, MaskStream& stream, const Params& params,
                      std::span<const std::uint8_t, 64> rho_double_prime);

// w = A-hat o v-hat (Montgomery products, summed then reduce32): |w_i| <= 6283008.
// REQUIRES: |v-hat_i| < 9q (an NTT output).
void matrix_multiply(PolyVecK& w, const Matrix& a, const PolyVecL& v, const Params& params);

template <typename Vec>
void vec_ntt(Vec& v, int count) {
  for (int i = 0; i < count; ++i) ntt(v.p[i]);
}
template <typename Vec>
void vec_inverse_ntt(Vec& v, int count) {
  for (int i = 0; i < count; ++i) inverse_ntt_to_montgomery(v.p[i]);
}
template <typename Vec>
void vec_reduce32(Vec& v, int count) {
  for (int i = 0; i < count; ++i) poly_reduce32(v.p[i]);
}
template <typename Vec>
void vec_caddq(Vec& v, int count) {
  for (int i = 0; i < count; ++i) poly_caddq(v.p[i]);
}
// Branch-free OR of poly_norm_exceeds over the vector (a rejection decision).
template <typename Vec>
std::uint32_t vec_norm_exceeds(const Vec& v, int count, std::int32_t bound) {
  std::uint32_t exceeds = 0;
  for (int i = 0; i < count; ++i) exceeds |= poly_norm_exceeds(v.p[i], bound);
  return exceeds;
}

}  // namespace kestrel::crypto::mldsa::detail
