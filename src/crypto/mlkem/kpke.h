// K-PKE, the CPA-secure public-key encryption ML-KEM is built from (FIPS 203
// section 5): KeyGen (Algorithm 13), Encrypt (Algorithm 14), Decrypt
// (Algorithm 15). Sixth layer: ... -> polyvec -> k-pke. Never used directly by
// applications (FIPS 203 section 5: K-PKE alone is not approved).
//
// Thread-safe: pure functions over caller-owned data.
#pragma once

#include <cstdint>

#include "crypto/mlkem/params.h"
#include "crypto/mlkem/poly.h"
#include "crypto/mlkem/polyvec.h"

namespace kestrel::crypto::mlkem {

// Algorithm 13. Writes ek_pke (ek_bytes()) and dk_pke (dk_pke_bytes()).
void kpke_keygen(const Params& p, std::uint8_t* ek_pke, std::uint8_t* dk_pke,
                 const std::uint8_t d[sym_bytes], const PolyOps& ops);

// Algorithm 14 step 2 (ByteDecode_12 of ek's first 384k bytes) fused with the
// modulus check of section 7.2: returns 0xFFFF when every coefficient is < q
// (i.e. ByteEncode12(ByteDecode12(ek)) == ek), else 0. Output in [0, 4096).
std::uint16_t kpke_decode_ek(const Params& p, PolyVec& t_hat, const std::uint8_t* ek_pke, const PolyOps& ops);

// Algorithm 14 from step 9, with t_hat decoded (step 2) and A-hat^T sampled
// (steps 4-8, by generate_matrix or generate_matrix_batched with transposed =
// true) by the caller, which may batch that sampling with its own hashes:
// writes c (ciphertext_bytes()). REQUIRES: t_hat in [0, q).
// When `prf` is given, the noise of steps 9-17 comes from those PRF outputs
// (computed by the caller in a batch, see kpke_encrypt_prf_jobs) instead of
// being hashed here from r.
struct EncryptPrf {
  std::uint8_t inputs[2 * k_max + 1][sym_bytes + 1];       // r || N
  alignas(32) std::uint8_t outputs[2 * k_max + 1][64 * eta_max];  // PRF_eta(r, N)
};
void kpke_encrypt(const Params& p, std::uint8_t* c, const PolyVec& t_hat, const PolyMatrix& a_transposed,
                  const std::uint8_t m[sym_bytes], const std::uint8_t r[sym_bytes], const PolyOps& ops,
                  const EncryptPrf* prf = nullptr);
// Fills prf.inputs from r and writes the 2k + 1 PRF jobs of Algorithm 14 steps
// 9-17 (N = 0 .. 2k; eta1 for y, eta2 for e1 and e2) to jobs[0, 2k + 1).
// Returns 2k + 1.
unsigned kpke_encrypt_prf_jobs(const Params& p, EncryptPrf& prf, const std::uint8_t r[sym_bytes],
                               keccak::XofJob* jobs);

// Algorithm 15: m = Decrypt(dk_pke, c). Coefficients of dk_pke may be anything
// in [0, 4096) (a decoded key is not range-checked by FIPS 203).
void kpke_decrypt(const Params& p, std::uint8_t m[sym_bytes], const std::uint8_t* dk_pke, const std::uint8_t* c,
                  const PolyOps& ops);

}  // namespace kestrel::crypto::mlkem
