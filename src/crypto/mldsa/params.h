// ML-DSA parameters (FIPS 204 section 4, Table 1 and Table 2) and the derived
// encoding sizes. Internal to src/crypto/mldsa; the public view is crypto/mldsa.h.
//
// One runtime Params value per parameter set: the algorithms loop over k and l at
// run time (arrays are sized for the largest set, ML-DSA-87), while the few places
// where a constant divisor must stay a multiplication for constant time (Decompose
// by 2*gamma2) are templates instantiated for both gamma2 values.
//
// Thread-safe: constants only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "crypto/mldsa.h"

namespace kestrel::crypto::mldsa::detail {

inline constexpr std::int32_t q = 8380417;  // 2^23 - 2^13 + 1
inline constexpr int n = 256;               // coefficients per polynomial
inline constexpr int d = 13;                // dropped bits of t (Power2Round)
inline constexpr std::int32_t zeta = 1753;  // primitive 512-th root of unity mod q

inline constexpr int k_max = 8;  // ML-DSA-87
inline constexpr int l_max = 7;  // ML-DSA-87

inline constexpr std::int32_t gamma2_88 = (q - 1) / 88;  // 95232, ML-DSA-44
inline constexpr std::int32_t gamma2_32 = (q - 1) / 32;  // 261888, ML-DSA-65/87

inline constexpr std::size_t rho_prime_bytes = 64;
inline constexpr std::size_t tr_bytes = 64;

struct Params {
  ParameterSet set;
  int k;                // rows of A
  int l;                // columns of A
  int eta;              // secret coefficient bound
  int tau;              // +-1 coefficients of the challenge c
  int beta;             // tau * eta
  std::int32_t gamma1;  // mask range, 2^17 or 2^19
  std::int32_t gamma2;  // low-order rounding range
  int omega;            // maximum number of 1s in the hint
  int lambda;           // collision strength of c~ in bits
  // Derived bit widths (FIPS 204 section 7.2).
  int eta_bits;     // bitlen(2 eta): 3 or 4
  int gamma1_bits;  // 1 + bitlen(gamma1 - 1): 18 or 20
  int w1_bits;      // bitlen((q - 1) / (2 gamma2) - 1): 6 or 4
  // Sizes in bytes (FIPS 204 Table 2).
  std::size_t c_tilde_bytes;  // lambda / 4
  std::size_t public_key_bytes;
  std::size_t secret_key_bytes;
  std::size_t signature_bytes;
};

constexpr Params make_params(ParameterSet set, int k, int l, int eta, int tau, std::int32_t gamma1,
                             std::int32_t gamma2, int omega, int lambda) {
  const int eta_bits = eta == 2 ? 3 : 4;
  const int gamma1_bits = gamma1 == (1 << 17) ? 18 : 20;
  const int w1_bits = gamma2 == gamma2_88 ? 6 : 4;
  const std::size_t c_tilde = static_cast<std::size_t>(lambda / 4);
  return Params{
      set, k, l, eta, tau, tau * eta, gamma1, gamma2, omega, lambda, eta_bits, gamma1_bits, w1_bits,
      c_tilde,
      // pkEncode (Algorithm 22): rho || k polynomials of 10-bit t1 coefficients.
      seed_bytes + static_cast<std::size_t>(k) * 32 * 10,
      // skEncode (Algorithm 24): rho || K || tr || s1 || s2 || t0 (13 bits each).
      2 * seed_bytes + tr_bytes + 32 * static_cast<std::size_t>((k + l) * eta_bits + k * d),
      // sigEncode (Algorithm 26): c~ || z || HintBitPack (omega + k bytes).
      c_tilde + static_cast<std::size_t>(l) * 32 * gamma1_bits + static_cast<std::size_t>(omega + k)};
}

inline constexpr Params ml_dsa_44_params =
    make_params(ParameterSet::ml_dsa_44, 4, 4, 2, 39, 1 << 17, gamma2_88, 80, 128);
inline constexpr Params ml_dsa_65_params =
    make_params(ParameterSet::ml_dsa_65, 6, 5, 4, 49, 1 << 19, gamma2_32, 55, 192);
inline constexpr Params ml_dsa_87_params =
    make_params(ParameterSet::ml_dsa_87, 8, 7, 2, 60, 1 << 19, gamma2_32, 75, 256);

// FIPS 204 Table 2, checked so a typo in Table 1 values cannot go unnoticed.
static_assert(ml_dsa_44_params.public_key_bytes == 1312 && ml_dsa_44_params.secret_key_bytes == 2560 &&
              ml_dsa_44_params.signature_bytes == 2420);
static_assert(ml_dsa_65_params.public_key_bytes == 1952 && ml_dsa_65_params.secret_key_bytes == 4032 &&
              ml_dsa_65_params.signature_bytes == 3309);
static_assert(ml_dsa_87_params.public_key_bytes == 2592 && ml_dsa_87_params.secret_key_bytes == 4896 &&
              ml_dsa_87_params.signature_bytes == 4627);

constexpr const Params& params_for(ParameterSet set) {
  switch (set) {
    case ParameterSet::ml_dsa_44: return ml_dsa_44_params;
    case ParameterSet::ml_dsa_65: return ml_dsa_65_params;
    case ParameterSet::ml_dsa_87: return ml_dsa_87_params;
  }
  return ml_dsa_65_params;
}

}  // namespace kestrel::crypto::mldsa::detail
