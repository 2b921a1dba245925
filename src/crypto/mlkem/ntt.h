// The number-theoretic transform of FIPS 203 section 4.3: NTT (Algorithm 9),
// NTT^-1 (Algorithm 10) and multiplication in the NTT domain (Algorithms 11
// and 12). Third layer: params -> reduce -> ntt.
//
// Coefficients are int16 in natural order (index i of f_hat is the i-th entry
// of FIPS 203's f_hat), in both the portable and the AVX2 path, so the paths
// are interchangeable poly by poly and the tests compare them directly.
//
// Montgomery bookkeeping: zetas are stored times R = 2^16, so butterflies give
// plain products; multiply_ntts_acc() leaves a factor R^-1, which
// inverse_ntt() cancels (it multiplies by R / 128 instead of 1 / 128).
//
// Thread-safe: pure functions over caller-owned data.
#pragma once

#include <array>
#include <cstdint>

#include "crypto/mlkem/params.h"

namespace kestrel::crypto::mlkem {

// zeta^BitRev7(i) * R mod q, centered, i in [0, 128) (section 4.3, the table of
// Appendix A times R). Entry 0 is unused by Algorithm 9.
extern const std::array<std::int16_t, 128> zetas_montgomery;
// zeta^(2 BitRev7(i) + 1) * R mod q, centered, i in [0, 128): the gamma of
// Algorithm 11 times R.
extern const std::array<std::int16_t, 128> gammas_montgomery;

// The final factor of inverse_ntt: 128^-1 R^2 mod q (128^-1 = 3303), centered,
// so one Montgomery multiplication gives x R / 128.
inline constexpr std::int16_t inverse_ntt_scale = 1441;

// Algorithm 9, in place. Input |f[i]| < q; output f_hat with |f_hat[i]| <= (q-1)/2.
void ntt_portable(std::int16_t f[n]);
// Algorithm 10 times R (cancelling the R^-1 of multiply_ntts_acc), in place.
// Input |f_hat[i]| < 2^14; output |f[i]| < q.
void inverse_ntt_portable(std::int16_t f[n]);
// h_hat = (sum over j in [0, count) of f_hat_j x g_hat_j) * R^-1: Algorithm 11
// (with Algorithm 12 for each pair), accumulated over a vector (the inner
// products of Algorithms 13-15). Accumulates in 32 bits and reduces once.
// REQUIRES: count <= k_max; |f| < 2^12 (a decoded key may hold up to 4095) and
// |g| <= (q-1)/2 (an NTT output), or |f| < q and |g| < q/2 likewise; output |h| < q.
void multiply_ntts_acc_portable(std::int16_t h[n], const std::int16_t* const f[],
                                const std::int16_t* const g[], unsigned count);

}  // namespace kestrel::crypto::mlkem
