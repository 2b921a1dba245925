// Modular reduction mod q = 3329 for 16-bit coefficients, without division and
// without branches (the inputs are secret). Second layer: params -> reduce.
//
// Montgomery form uses R = 2^16: montgomery_reduce(a) = a * R^-1 mod q.
// Barrett reduction uses v = round(2^26 / q).
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>

#include "crypto/mlkem/params.h"

namespace kestrel::crypto::mlkem {

// q^-1 mod 2^16, as a signed 16-bit value: 3329 * (-3327) = 1 - 169 * 2^16.
inline constexpr std::int16_t q_inverse = -3327;
static_assert(static_cast<std::int16_t>(static_cast<std::uint32_t>(q) * 62209u) == 1);
static_assert(static_cast<std::int16_t>(q_inverse) == static_cast<std::int16_t>(62209u - 65536));

// R mod q and R^2 mod q (R = 2^16): to enter the Montgomery domain.
inline constexpr std::int16_t mont_r = static_cast<std::int16_t>((1 << 16) % q);            // 2285
inline constexpr std::int16_t mont_r2 = static_cast<std::int16_t>((1LL << 32) % q);         // 1353
static_assert(mont_r == 2285 && mont_r2 == 1353);

// Barrett constant: round(2^26 / q).
inline constexpr std::int32_t barrett_v = ((1 << 26) + q / 2) / q;
static_assert(barrett_v == 20159);

// Returns r = a * 2^-16 mod q with |r| < q.
// REQUIRES: |a| < q * 2^15 (so the result fits; every caller's product does).
inline std::int16_t montgomery_reduce(std::int32_t a) {
  const std::int16_t t = static_cast<std::int16_t>(static_cast<std::int16_t>(a) * q_inverse);
  return static_cast<std::int16_t>((a - static_cast<std::int32_t>(t) * q) >> 16);
}

// a * b * 2^-16 mod q, |result| < q. REQUIRES: |a * b| < q * 2^15.
inline std::int16_t fqmul(std::int16_t a, std::int16_t b) {
  return montgomery_reduce(static_cast<std::int32_t>(a) * b);
}

// fqmul(a, b) spelled with the high and low halves of 16 x 16-bit products,
// the same integer (the low halves of a b and t q cancel exactly): in this form
// GCC vectorizes loops over it with the baseline instruction set
// (PMULHW / PMULLW), and the AVX2 path does the same lane for lane.
// REQUIRES and range as fqmul.
inline std::int16_t fqmul_halves(std::int16_t a, std::int16_t b) {
  const std::int16_t hi = static_cast<std::int16_t>((static_cast<std::int32_t>(a) * b) >> 16);
  const std::int16_t lo = static_cast<std::int16_t>(static_cast<std::int32_t>(a) * b);
  const std::int16_t t = static_cast<std::int16_t>(lo * q_inverse);
  return static_cast<std::int16_t>(hi - static_cast<std::int16_t>((static_cast<std::int32_t>(t) * q) >> 16));
}

// Returns the representative of a mod q in [-(q-1)/2, (q-1)/2], for any int16
// (checked exhaustively in poly_test.cc). t = round(a v / 2^26) is a / q rounded
// to the nearest; it is computed as (floor(a v / 2^16) + 2^9) >> 10, the same
// integer as (a v + 2^25) >> 26, in 16-bit steps (a high-half product, a shift)
// that GCC vectorizes in loops and that the AVX2 path repeats lane for lane.
inline std::int16_t barrett_reduce(std::int16_t a) {
  const std::int16_t high = static_cast<std::int16_t>((static_cast<std::int32_t>(a) * barrett_v) >> 16);
  const std::int16_t t = static_cast<std::int16_t>((high + 512) >> 10);
  return static_cast<std::int16_t>(a - t * q);
}

// Maps a centered representative (-q, q) to [0, q) with a mask, not a branch.
inline std::int16_t to_unsigned(std::int16_t a) {
  return static_cast<std::int16_t>(a + ((a >> 15) & q));
}

}  // namespace kestrel::crypto::mlkem
