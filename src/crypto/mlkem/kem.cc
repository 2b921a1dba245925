// ML-KEM (FIPS 203 section 6 and 7), the top layer: ... -> k-pke -> kem.
#include <algorithm>
#include <array>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/keccak.h"
#include "crypto/mlkem.h"
#include "crypto/mlkem/kpke.h"
#include "crypto/random.h"

namespace kestrel::crypto::mlkem {

namespace {

const Params& params_of(ParameterSet set) {
  switch (set) {
    case ParameterSet::ml_kem_512:
      return ml_kem_512_params;
    case ParameterSet::ml_kem_768:
      return ml_kem_768_params;
    case ParameterSet::ml_kem_1024:
      return ml_kem_1024_params;
  }
  KESTREL_ASSERT(false && "ParameterSet out of range");
  return ml_kem_768_params;
}

static_assert(sizes(ParameterSet::ml_kem_512).ek_bytes == ml_kem_512_params.ek_bytes());
static_assert(sizes(ParameterSet::ml_kem_512).dk_bytes == ml_kem_512_params.dk_bytes());
static_assert(sizes(ParameterSet::ml_kem_512).ciphertext_bytes == ml_kem_512_params.ciphertext_bytes());
static_assert(sizes(ParameterSet::ml_kem_768).ek_bytes == ml_kem_768_params.ek_bytes());
static_assert(sizes(ParameterSet::ml_kem_768).dk_bytes == ml_kem_768_params.dk_bytes());
static_assert(sizes(ParameterSet::ml_kem_768).ciphertext_bytes == ml_kem_768_params.ciphertext_bytes());
static_assert(sizes(ParameterSet::ml_kem_1024).ek_bytes == ml_kem_1024_params.ek_bytes());
static_assert(sizes(ParameterSet::ml_kem_1024).dk_bytes == ml_kem_1024_params.dk_bytes());
static_assert(sizes(ParameterSet::ml_kem_1024).ciphertext_bytes == ml_kem_1024_params.ciphertext_bytes());

// H = SHA3-256, G = SHA3-512, J = SHAKE256 with 32 bytes out (section 4.1).
void hash_h(std::uint8_t out[sym_bytes], std::span<const std::uint8_t> in) {
  keccak::sha3_256(std::span<std::uint8_t, 32>(out, 32), in);
}

// Layout of dk (Algorithm 16 step 3): dk_pke || ek || H(ek) || z.
struct DkParts {
  const std::uint8_t* dk_pke;
  const std::uint8_t* ek;
  const std::uint8_t* h;
  const std::uint8_t* z;
};
DkParts split_dk(const Params& p, const std::uint8_t* dk) {
  return {dk, dk + p.dk_pke_bytes(), dk + p.dk_pke_bytes() + p.ek_bytes(),
          dk + p.dk_pke_bytes() + p.ek_bytes() + sym_bytes};
}

// Algorithm 18 after the length checks, with the section 7.3 hash check first
// when `check_hash` (ML-KEM.Decaps, Algorithm 21). Returns false, having
// written nothing, when the hash check fails. REQUIRES: sizes checked.
//
// The re-encryption's matrix depends only on rho (public, inside dk), H(ek)
// and J(z || c) only on dk and c, the re-encryption's PRFs on r' from G: on the
// AVX2 path all of them go into one 4-way Keccak batch after decryption.
bool decaps_checked(const Params& p, SharedKey shared_key, std::span<const std::uint8_t> c,
                    std::span<const std::uint8_t> dk, bool check_hash) {
  const PolyOps& ops = select_path();
  const DkParts parts = split_dk(p, dk.data());
  const std::span<const std::uint8_t> ek(parts.ek, p.ek_bytes());
  // rho is part of the ek inside dk: public, so SampleNTT may branch on it.
  alignas(32) std::uint8_t rho[sym_bytes];
  std::copy(parts.ek + p.dk_pke_bytes(), parts.ek + p.dk_pke_bytes() + sym_bytes, rho);
  ct_declassify(rho, sizeof(rho));

  // Step 7 input: z || c.
  std::array<std::uint8_t, sym_bytes + ciphertext_bytes_max> j_input;
  std::copy(parts.z, parts.z + sym_bytes, j_input.begin());
  std::copy(c.begin(), c.end(), j_input.begin() + sym_bytes);
  const std::span<const std::uint8_t> j_span(j_input.data(), sym_bytes + c.size());
  // Steps 5-6: m' = K-PKE.Decrypt(dk_pke, c); (K', r') = G(m' || h). Done
  // before the hash check so that on the AVX2 path the re-encryption's PRFs
  // join the batch below; nothing leaves this function unless the check passes.
  std::uint8_t g_input[2 * sym_bytes];
  kpke_decrypt(p, g_input, parts.dk_pke, c.data(), ops);
  std::copy(parts.h, parts.h + sym_bytes, g_input + sym_bytes);
  std::uint8_t k_r[2 * sym_bytes];
  keccak::sha3_512(k_r, g_input);
  const std::uint8_t* r_prime = k_r + sym_bytes;

  std::uint8_t h[sym_bytes], k_bar[sym_bytes];
  PolyMatrix a_transposed;
  EncryptPrf prf;
  const EncryptPrf* prf_given = nullptr;
  if (ops.parallel_keccak) {
    // One 4-way batch: J(z || c), H(ek), the PRFs of step 8's Encrypt, Â^T.
    std::array<keccak::XofJob, 2 + 2 * k_max + 1> jobs;
    unsigned count = 0;
    jobs[count++] = keccak::XofJob{j_span, k_bar, keccak::shake256_rate, keccak::shake_domain};
    if (check_hash) jobs[count++] = keccak::XofJob{ek, h, keccak::sha3_256_rate, keccak::sha3_domain};
    count += kpke_encrypt_prf_jobs(p, prf, r_prime, jobs.data() + count);
    generate_matrix_batched(a_transposed, rho, p.k, /*transposed=*/true,
                            std::span<const keccak::XofJob>(jobs.data(), count), ops);
    prf_given = &prf;
  } else {
    keccak::shake256(k_bar, j_span);
    if (check_hash) hash_h(h, ek);
    generate_matrix(a_transposed, rho, p.k, /*transposed=*/true, ops);
  }
  bool hash_ok = true;
  if (check_hash) {
    std::uint8_t equal = ct_equal(std::span<const std::uint8_t>(h, sym_bytes),
                                  std::span<const std::uint8_t>(parts.h, sym_bytes));
    // Both hashes are of public data (the ek inside dk and its stored hash):
    // the verdict may decide a branch.
    ct_declassify(&equal, sizeof(equal));
    hash_ok = equal != 0;
  }
  if (hash_ok) {
    // Step 8: c' = K-PKE.Encrypt(ek_pke, m', r').
    PolyVec t_hat;
    (void)kpke_decode_ek(p, t_hat, parts.ek, ops);  // not range-checked: covered by the hash check
    std::array<std::uint8_t, ciphertext_bytes_max> c_prime;
    kpke_encrypt(p, c_prime.data(), t_hat, a_transposed, g_input, r_prime, ops, prf_given);
    // Steps 9-11: K' unless c != c', then K-bar; selected with a mask, no branch.
    const std::uint8_t equal = ct_equal(c, std::span<const std::uint8_t>(c_prime.data(), c.size()));
    ct_select(shared_key, std::span<const std::uint8_t>(k_r, sym_bytes), k_bar, equal);
    secure_zero(c_prime.data(), c_prime.size());
  }
  secure_zero(g_input, sizeof(g_input));
  secure_zero(k_r, sizeof(k_r));
  secure_zero(&prf, sizeof(prf));
  secure_zero(k_bar, sizeof(k_bar));
  secure_zero(j_input.data(), sym_bytes);  // z
  return hash_ok;
}

}  // namespace

const char* describe(ParameterSet set) {
  switch (set) {
    case ParameterSet::ml_kem_512:
      return "ML-KEM-512";
    case ParameterSet::ml_kem_768:
      return "ML-KEM-768";
    case ParameterSet::ml_kem_1024:
      return "ML-KEM-1024";
  }
  return "ML-KEM-?";
}

const char* describe(MlKemError error) {
  switch (error) {
    case MlKemError::bad_length:
      return "bad_length: a key, ciphertext or output has the wrong size";
    case MlKemError::ek_modulus_check_failed:
      return "ek_modulus_check_failed: the encapsulation key has a coefficient >= q (FIPS 203 7.2)";
    case MlKemError::dk_hash_check_failed:
      return "dk_hash_check_failed: H(ek) stored in the decapsulation key does not match (FIPS 203 7.3)";
  }
  return "unknown MlKemError";
}

Status<MlKemError> keygen_internal(ParameterSet set, std::span<std::uint8_t> ek, std::span<std::uint8_t> dk,
                                   Seed d, Seed z) {
  const Params& p = params_of(set);
  if (ek.size() != p.ek_bytes() || dk.size() != p.dk_bytes()) {
    secure_zero(ek);
    secure_zero(dk);
    return Err(MlKemError::bad_length);
  }
  // Algorithm 16: (ek_pke, dk_pke) = K-PKE.KeyGen(d); dk = dk_pke || ek || H(ek) || z.
  kpke_keygen(p, ek.data(), dk.data(), d.data(), select_path());
  std::uint8_t* dk_ek = dk.data() + p.dk_pke_bytes();
  std::copy(ek.begin(), ek.end(), dk_ek);
  hash_h(dk_ek + p.ek_bytes(), ek);
  std::copy(z.begin(), z.end(), dk_ek + p.ek_bytes() + sym_bytes);
  return {};
}

Status<MlKemError> keygen(ParameterSet set, std::span<std::uint8_t> ek, std::span<std::uint8_t> dk) {
  std::array<std::uint8_t, 2 * seed_bytes> d_z;
  random_bytes(d_z);
  auto status = keygen_internal(set, ek, dk, Seed(d_z.data(), seed_bytes), Seed(d_z.data() + seed_bytes, seed_bytes));
  secure_zero(d_z);
  return status;
}

Status<MlKemError> encaps_internal(ParameterSet set, SharedKey shared_key, std::span<std::uint8_t> ciphertext,
                                   std::span<const std::uint8_t> ek, Seed m) {
  const Params& p = params_of(set);
  if (ek.size() != p.ek_bytes() || ciphertext.size() != p.ciphertext_bytes()) {
    secure_zero(shared_key);
    secure_zero(ciphertext);
    return Err(MlKemError::bad_length);
  }
  // Section 7.2 modulus check, fused with Algorithm 14 step 2 (ek is public).
  const PolyOps& ops = select_path();
  PolyVec t_hat;
  if (kpke_decode_ek(p, t_hat, ek.data(), ops) != 0xFFFF) {
    secure_zero(shared_key);
    secure_zero(ciphertext);
    return Err(MlKemError::ek_modulus_check_failed);
  }
  // Algorithm 17: (K, r) = G(m || H(ek)); c = K-PKE.Encrypt(ek, m, r). The
  // matrix of Encrypt depends on ek only, so on the AVX2 path its XOFs run in
  // one 4-way batch with H(ek).
  const std::uint8_t* rho = ek.data() + p.dk_pke_bytes();
  std::uint8_t g_input[2 * sym_bytes];
  std::copy(m.begin(), m.end(), g_input);
  PolyMatrix a_transposed;
  if (ops.parallel_keccak) {
    const keccak::XofJob h_job{ek, std::span<std::uint8_t>(g_input + sym_bytes, sym_bytes), keccak::sha3_256_rate,
                               keccak::sha3_domain};
    generate_matrix_batched(a_transposed, rho, p.k, /*transposed=*/true, std::span<const keccak::XofJob>(&h_job, 1),
                            ops);
  } else {
    hash_h(g_input + sym_bytes, ek);
    generate_matrix(a_transposed, rho, p.k, /*transposed=*/true, ops);
  }
  std::uint8_t k_r[2 * sym_bytes];
  keccak::sha3_512(k_r, g_input);
  kpke_encrypt(p, ciphertext.data(), t_hat, a_transposed, m.data(), k_r + sym_bytes, ops);
  std::copy(k_r, k_r + sym_bytes, shared_key.begin());
  secure_zero(g_input, sizeof(g_input));
  secure_zero(k_r, sizeof(k_r));
  return {};
}

Status<MlKemError> encaps(ParameterSet set, SharedKey shared_key, std::span<std::uint8_t> ciphertext,
                          std::span<const std::uint8_t> ek) {
  std::array<std::uint8_t, seed_bytes> m;
  random_bytes(m);
  auto status = encaps_internal(set, shared_key, ciphertext, ek, m);
  secure_zero(m);
  return status;
}

Status<MlKemError> decaps_internal(ParameterSet set, SharedKey shared_key, std::span<const std::uint8_t> ciphertext,
                                   std::span<const std::uint8_t> dk) {
  const Params& p = params_of(set);
  // Section 7.3 steps 1-2: ciphertext and key type (length) checks.
  if (ciphertext.size() != p.ciphertext_bytes() || dk.size() != p.dk_bytes()) {
    secure_zero(shared_key);
    return Err(MlKemError::bad_length);
  }
  const bool hash_ok = decaps_checked(p, shared_key, ciphertext, dk, /*check_hash=*/false);
  KESTREL_ASSERT(hash_ok);
  return {};
}

Status<MlKemError> decaps(ParameterSet set, SharedKey shared_key, std::span<const std::uint8_t> ciphertext,
                          std::span<const std::uint8_t> dk) {
  const Params& p = params_of(set);
  if (ciphertext.size() != p.ciphertext_bytes() || dk.size() != p.dk_bytes()) {
    secure_zero(shared_key);
    return Err(MlKemError::bad_length);
  }
  if (!decaps_checked(p, shared_key, ciphertext, dk, /*check_hash=*/true)) {
    secure_zero(shared_key);
    return Err(MlKemError::dk_hash_check_failed);
  }
  return {};
}

Status<MlKemError> check_encapsulation_key(ParameterSet set, std::span<const std::uint8_t> ek) {
  const Params& p = params_of(set);
  if (ek.size() != p.ek_bytes()) return Err(MlKemError::bad_length);
  PolyVec t_hat;
  if (kpke_decode_ek(p, t_hat, ek.data(), select_path()) != 0xFFFF) return Err(MlKemError::ek_modulus_check_failed);
  return {};
}

Status<MlKemError> check_decapsulation_key(ParameterSet set, std::span<const std::uint8_t> dk) {
  const Params& p = params_of(set);
  if (dk.size() != p.dk_bytes()) return Err(MlKemError::bad_length);
  // Section 7.3 step 3: H(dk[384k : 768k + 32]) == dk[768k + 32 : 768k + 64].
  const DkParts parts = split_dk(p, dk.data());
  std::uint8_t h[sym_bytes];
  hash_h(h, std::span<const std::uint8_t>(parts.ek, p.ek_bytes()));
  std::uint8_t equal = ct_equal(std::span<const std::uint8_t>(h, sym_bytes),
                                std::span<const std::uint8_t>(parts.h, sym_bytes));
  // Both hashes are of public data (the ek inside dk and its stored hash): the
  // verdict may decide a branch.
  ct_declassify(&equal, sizeof(equal));
  if (!equal) return Err(MlKemError::dk_hash_check_failed);
  return {};
}

}  // namespace kestrel::crypto::mlkem
