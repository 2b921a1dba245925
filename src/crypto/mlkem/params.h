// ML-KEM parameters (FIPS 203 section 8, Table 2) and the byte sizes derived
// from them (Table 3). The first layer of params -> reduce -> ntt -> poly ->
// polyvec -> k-pke -> kem: everything below reads its constants from here.
//
// Thread-safe: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kestrel::crypto::mlkem {

// Ring R_q = Z_q[X] / (X^n + 1) (FIPS 203 section 2.3).
inline constexpr int n = 256;
inline constexpr int q = 3329;
// zeta = 17 is a primitive 256-th root of unity mod q (section 4.3).
inline constexpr int zeta = 17;

// The bytes of one ByteEncode_12 polynomial: 256 coefficients x 12 bits.
inline constexpr std::size_t poly_bytes = 384;
// Seeds d, z, rho, sigma, message m, shared key K, randomness r, hash H(ek).
inline constexpr std::size_t sym_bytes = 32;

// k_max: ML-KEM-1024 has the largest module rank; fixed-size vectors and
// matrices below are sized by it so that no operation allocates.
inline constexpr unsigned k_max = 4;
// eta_max: ML-KEM-512 has eta1 = 3, the largest CBD parameter; PRF outputs are
// 64 * eta bytes (Algorithm 8 input).
inline constexpr unsigned eta_max = 3;

// One parameter set (Table 2). Runtime values rather than template parameters:
// the three sets share one copy of the code, and k, eta and d are loop bounds
// and shift counts, never data-dependent.
struct Params {
  unsigned k;     // module rank
  unsigned eta1;  // CBD parameter for s, e (key generation) and y (encryption)
  unsigned eta2;  // CBD parameter for e1, e2 (encryption)
  unsigned du;    // bits per coefficient of u in the ciphertext
  unsigned dv;    // bits per coefficient of v in the ciphertext

  // Table 3.
  constexpr std::size_t ek_bytes() const { return poly_bytes * k + sym_bytes; }
  constexpr std::size_t dk_pke_bytes() const { return poly_bytes * k; }
  constexpr std::size_t dk_bytes() const { return 2 * poly_bytes * k + 3 * sym_bytes; }
  constexpr std::size_t c1_bytes() const { return 32 * du * k; }
  constexpr std::size_t c2_bytes() const { return 32 * dv; }
  constexpr std::size_t ciphertext_bytes() const { return c1_bytes() + c2_bytes(); }
};

inline constexpr Params ml_kem_512_params{2, 3, 2, 10, 4};
inline constexpr Params ml_kem_768_params{3, 2, 2, 10, 4};
inline constexpr Params ml_kem_1024_params{4, 2, 2, 11, 5};

static_assert(ml_kem_512_params.ek_bytes() == 800 && ml_kem_512_params.dk_bytes() == 1632 &&
              ml_kem_512_params.ciphertext_bytes() == 768);
static_assert(ml_kem_768_params.ek_bytes() == 1184 && ml_kem_768_params.dk_bytes() == 2400 &&
              ml_kem_768_params.ciphertext_bytes() == 1088);
static_assert(ml_kem_1024_params.ek_bytes() == 1568 && ml_kem_1024_params.dk_bytes() == 3168 &&
              ml_kem_1024_params.ciphertext_bytes() == 1568);
static_assert(ml_kem_1024_params.k == k_max && ml_kem_512_params.eta1 == eta_max);

// Largest ciphertext, for fixed-size scratch buffers (re-encryption in Decaps).
inline constexpr std::size_t ciphertext_bytes_max = 1568;
static_assert(ml_kem_1024_params.ciphertext_bytes() == ciphertext_bytes_max);

}  // namespace kestrel::crypto::mlkem
