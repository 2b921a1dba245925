// Vectors and matrices over R_q-hat (FIPS 203 section 2.4.3): matrix sampling
// (SampleNTT for A-hat, Algorithm 13 steps 3-7 / Algorithm 14 steps 4-8), noise
// vectors (SamplePolyCBD over PRF outputs), and the vector forms of NTT,
// NTT^-1 and the inner products. Fifth layer: ... -> poly -> polyvec.
//
// Independent XOF and PRF instances are hashed four at a time (ShakeX4), which
// runs the AVX2 4-way Keccak when the gate crypto.avx2 is on.
//
// Thread-safe: pure functions over caller-owned data.
#pragma once

#include <array>
#include <cstdint>

#include <span>

#include "crypto/keccak.h"
#include "crypto/mlkem/params.h"
#include "crypto/mlkem/poly.h"

namespace kestrel::crypto::mlkem {

struct PolyVec {
  std::array<Poly, k_max> v;  // entries [0, k) are used
};

struct PolyMatrix {
  std::array<PolyVec, k_max> row;  // row[i].v[j] is A-hat[i, j]; [0, k) x [0, k) used
};

// A-hat[i, j] = SampleNTT(rho || j || i) for i, j in [0, k) (Algorithm 13 step 5),
// or its transpose when `transposed` (Algorithm 14 step 6 uses A-hat^T; sampling
// it directly as SampleNTT(rho || i || j) saves the transpose). Output in [0, q).
// Branches on rho only (public).
void generate_matrix(PolyMatrix& a, const std::uint8_t rho[sym_bytes], unsigned k, bool transposed,
                     const PolyOps& ops);

// The same matrix, sampled in one job-scheduled 4-way Keccak run
// (keccak::run_jobs_x4) together with `extra` independent hash jobs of the same
// operation (H(ek), J(z || c), PRFs), so that no lane idles. For the AVX2 path
// (ops.parallel_keccak). REQUIRES: extra.size() + k^2 <= keccak::xof_jobs_max.
void generate_matrix_batched(PolyMatrix& a, const std::uint8_t rho[sym_bytes], unsigned k, bool transposed,
                             std::span<const keccak::XofJob> extra, const PolyOps& ops);

// out[i] = SamplePolyCBD_eta[i](PRF_eta[i](sigma, nonce0 + i)) for i in [0, count)
// (Algorithm 13 steps 8-15, Algorithm 14 steps 9-17). Output in [-eta, eta].
// REQUIRES: count <= 2 k_max + 1 and every eta in {2, 3}.
void sample_noise(Poly* const out[], const unsigned eta[], unsigned count,
                  const std::uint8_t sigma[sym_bytes], std::uint8_t nonce0, const PolyOps& ops);

// NTT of entries [0, k): input |f| < q, output |f_hat| <= (q-1)/2.
void polyvec_ntt(PolyVec& v, unsigned k, const PolyOps& ops);
// h = (a^T o b) R^-1 = sum_j a[j] x b[j] in T_q (Algorithm 11 summed): |h| < q.
// Ranges of a and b as multiply_ntts_acc (ntt.h).
void polyvec_inner_product(Poly& h, const PolyVec& a, const PolyVec& b, unsigned k, const PolyOps& ops);

}  // namespace kestrel::crypto::mlkem
