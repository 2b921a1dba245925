#include "crypto/mlkem/kpke.h"

#include <algorithm>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/keccak.h"

namespace kestrel::crypto::mlkem {

void kpke_keygen(const Params& p, std::uint8_t* ek_pke, std::uint8_t* dk_pke, const std::uint8_t d[sym_bytes],
                 const PolyOps& ops) {
  const unsigned k = p.k;
  KESTREL_ASSERT(k >= 2 && k <= k_max);
  // Step 1: (rho, sigma) = G(d || k), G = SHA3-512 (section 4.1).
  std::uint8_t g_input[sym_bytes + 1];
  std::copy(d, d + sym_bytes, g_input);
  g_input[sym_bytes] = static_cast<std::uint8_t>(k);
  std::uint8_t rho_sigma[2 * sym_bytes];
  keccak::sha3_512(rho_sigma, g_input);
  const std::uint8_t* rho = rho_sigma;
  const std::uint8_t* sigma = rho_sigma + sym_bytes;
  // rho becomes part of the public key: SampleNTT may branch on it.
  ct_declassify(rho, sym_bytes);

  // Steps 3-7: A-hat; steps 8-15: s and e from CBD_eta1 of PRF(sigma, N),
  // N = 0 .. 2k-1. On the AVX2 path the 2k PRFs run in the same 4-way batch as
  // the k^2 matrix XOFs.
  PolyMatrix a;
  PolyVec s, e;
  Poly* noise[2 * k_max];
  unsigned etas[2 * k_max];
  for (unsigned i = 0; i < k; ++i) {
    noise[i] = &s.v[i];
    noise[k + i] = &e.v[i];
    etas[i] = etas[k + i] = p.eta1;
  }
  if (ops.parallel_keccak) {
    std::uint8_t prf_inputs[2 * k_max][sym_bytes + 1];
    alignas(32) std::uint8_t prf_outputs[2 * k_max][64 * eta_max];
    std::array<keccak::XofJob, 2 * k_max> jobs;
    for (unsigned i = 0; i < 2 * k; ++i) {
      std::copy(sigma, sigma + sym_bytes, prf_inputs[i]);
      prf_inputs[i][sym_bytes] = static_cast<std::uint8_t>(i);
      jobs[i] = keccak::XofJob{std::span<const std::uint8_t>(prf_inputs[i], sym_bytes + 1),
                               std::span<std::uint8_t>(prf_outputs[i], 64 * p.eta1), keccak::shake256_rate,
                               keccak::shake_domain};
    }
    generate_matrix_batched(a, rho, k, /*transposed=*/false, std::span<const keccak::XofJob>(jobs.data(), 2 * k), ops);
    for (unsigned i = 0; i < 2 * k; ++i) ops.sample_cbd(noise[i]->c.data(), prf_outputs[i], p.eta1);
    secure_zero(prf_inputs, sizeof(prf_inputs));
    secure_zero(prf_outputs, sizeof(prf_outputs));
  } else {
    generate_matrix(a, rho, k, /*transposed=*/false, ops);
    sample_noise(noise, etas, 2 * k, sigma, 0, ops);
  }

  // Steps 16-18: s-hat, e-hat, t-hat = A-hat o s-hat + e-hat.
  polyvec_ntt(s, k, ops);
  polyvec_ntt(e, k, ops);
  for (unsigned i = 0; i < k; ++i) {
    Poly t;
    polyvec_inner_product(t, a.row[i], s, k, ops);  // times R^-1, |t| < q
    poly_to_montgomery(t.c.data());                 // cancels R^-1, |t| < q
    poly_add(t.c.data(), e.v[i].c.data());          // |t| < q + q/2
    poly_reduce_unsigned(t.c.data());               // [0, q) for ByteEncode_12
    ops.byte_encode12(ek_pke + poly_bytes * i, t.c.data());
  }
  // Steps 19-20: ek = ByteEncode_12(t-hat) || rho, dk = ByteEncode_12(s-hat).
  std::copy(rho, rho + sym_bytes, ek_pke + poly_bytes * k);
  for (unsigned i = 0; i < k; ++i) {
    poly_reduce_unsigned(s.v[i].c.data());
    ops.byte_encode12(dk_pke + poly_bytes * i, s.v[i].c.data());
  }
  secure_zero(&s, sizeof(s));
  secure_zero(&e, sizeof(e));
  secure_zero(rho_sigma, sizeof(rho_sigma));
  secure_zero(g_input, sizeof(g_input));
}

std::uint16_t kpke_decode_ek(const Params& p, PolyVec& t_hat, const std::uint8_t* ek_pke, const PolyOps& ops) {
  std::uint16_t ok = 0xFFFF;
  for (unsigned i = 0; i < p.k; ++i) {
    ops.byte_decode12(t_hat.v[i].c.data(), ek_pke + poly_bytes * i);
    ok &= all_below_q(t_hat.v[i].c.data());
  }
  return ok;
}

unsigned kpke_encrypt_prf_jobs(const Params& p, EncryptPrf& prf, const std::uint8_t r[sym_bytes],
                               keccak::XofJob* jobs) {
  const unsigned count = 2 * p.k + 1;
  for (unsigned i = 0; i < count; ++i) {
    std::copy(r, r + sym_bytes, prf.inputs[i]);
    prf.inputs[i][sym_bytes] = static_cast<std::uint8_t>(i);
    const unsigned eta = i < p.k ? p.eta1 : p.eta2;
    jobs[i] = keccak::XofJob{std::span<const std::uint8_t>(prf.inputs[i], sym_bytes + 1),
                             std::span<std::uint8_t>(prf.outputs[i], 64 * eta), keccak::shake256_rate,
                             keccak::shake_domain};
  }
  return count;
}

void kpke_encrypt(const Params& p, std::uint8_t* c, const PolyVec& t_hat, const PolyMatrix& a_transposed,
                  const std::uint8_t m[sym_bytes], const std::uint8_t r[sym_bytes], const PolyOps& ops,
                  const EncryptPrf* prf) {
  const unsigned k = p.k;
  KESTREL_ASSERT(k >= 2 && k <= k_max);

  // Steps 9-17: y (eta1), e1 (eta2), e2 (eta2) with nonces 0 .. 2k.
  PolyVec y, e1;
  Poly e2;
  Poly* noise[2 * k_max + 1];
  unsigned etas[2 * k_max + 1];
  for (unsigned i = 0; i < k; ++i) {
    noise[i] = &y.v[i];
    etas[i] = p.eta1;
    noise[k + i] = &e1.v[i];
    etas[k + i] = p.eta2;
  }
  noise[2 * k] = &e2;
  etas[2 * k] = p.eta2;
  if (prf != nullptr) {
    for (unsigned i = 0; i < 2 * k + 1; ++i) ops.sample_cbd(noise[i]->c.data(), prf->outputs[i], etas[i]);
  } else {
    sample_noise(noise, etas, 2 * k + 1, r, 0, ops);
  }

  // Step 18: y-hat = NTT(y).
  polyvec_ntt(y, k, ops);
  // Steps 19 and 22: u = NTT^-1(A-hat^T o y-hat) + e1, c1 = ByteEncode_du(Compress_du(u)).
  for (unsigned i = 0; i < k; ++i) {
    Poly u;
    polyvec_inner_product(u, a_transposed.row[i], y, k, ops);
    ops.inverse_ntt(u.c.data());            // |u| < q
    poly_add(u.c.data(), e1.v[i].c.data());  // |u| < q + eta2
    ops.compress_encode(c + 32 * p.du * i, u.c.data(), p.du);
  }
  // Steps 20-21 and 23: v = NTT^-1(t-hat^T o y-hat) + e2 + mu, c2 = ByteEncode_dv(Compress_dv(v)).
  Poly v, mu;
  polyvec_inner_product(v, t_hat, y, k, ops);
  ops.inverse_ntt(v.c.data());
  poly_add(v.c.data(), e2.c.data());
  ops.message_to_poly(mu.c.data(), m);
  poly_add(v.c.data(), mu.c.data());  // |v| < q + eta2 + 1665 < 2^15
  ops.compress_encode(c + p.c1_bytes(), v.c.data(), p.dv);

  secure_zero(&y, sizeof(y));
  secure_zero(&e1, sizeof(e1));
  secure_zero(&e2, sizeof(e2));
  secure_zero(&mu, sizeof(mu));
  secure_zero(&v, sizeof(v));
}

void kpke_decrypt(const Params& p, std::uint8_t m[sym_bytes], const std::uint8_t* dk_pke, const std::uint8_t* c,
                  const PolyOps& ops) {
  const unsigned k = p.k;
  KESTREL_ASSERT(k >= 2 && k <= k_max);
  // Steps 3-4: u' = Decompress_du(ByteDecode_du(c1)), v' = Decompress_dv(ByteDecode_dv(c2)).
  PolyVec u;
  for (unsigned i = 0; i < k; ++i) ops.decode_decompress(u.v[i].c.data(), c + 32 * p.du * i, p.du);
  Poly v;
  ops.decode_decompress(v.c.data(), c + p.c1_bytes(), p.dv);
  // Step 5: s-hat = ByteDecode_12(dk_pke), in [0, 4096).
  PolyVec s;
  for (unsigned i = 0; i < k; ++i) ops.byte_decode12(s.v[i].c.data(), dk_pke + poly_bytes * i);
  // Step 6: w = v' - NTT^-1(s-hat^T o NTT(u')).
  polyvec_ntt(u, k, ops);  // input [0, q)
  Poly w;
  polyvec_inner_product(w, s, u, k, ops);
  ops.inverse_ntt(w.c.data());
  poly_sub(v.c.data(), w.c.data());  // |v' - w| < 2q
  // Step 7: m = ByteEncode_1(Compress_1(w)).
  ops.poly_to_message(m, v.c.data());
  secure_zero(&s, sizeof(s));
  secure_zero(&v, sizeof(v));
  secure_zero(&w, sizeof(w));
}

}  // namespace kestrel::crypto::mlkem
