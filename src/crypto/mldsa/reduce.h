// Modular reduction mod q = 8380417 for ML-DSA, branch-free (the inputs are
// secret in key generation and signing).
//
// Montgomery form uses R = 2^32. Each function states the input range it needs
// and the output range it guarantees; the NTT and polynomial layers rely on them.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>

#include "crypto/mldsa/params.h"

namespace kestrel::crypto::mldsa::detail {

inline constexpr std::uint32_t q_inverse = 58728449;  // q^-1 mod 2^32
static_assert(static_cast<std::uint32_t>(q) * q_inverse == 1u);

// Montgomery reduction: returns r with r = a * 2^-32 (mod q).
// REQUIRES: |a| <= 2^31 * q. ENSURES: |r| < q.
inline std::int32_t montgomery_reduce(std::int64_t a) {
  const auto t = static_cast<std::int32_t>(static_cast<std::uint32_t>(a) * q_inverse);
  return static_cast<std::int32_t>((a - static_cast<std::int64_t>(t) * q) >> 32);
}

// r = a (mod q) with |r| <= 6283008 (about 0.75 q): q = 2^23 - 2^13 + 1, so
// subtracting round(a / 2^23) * q removes the high part.
// REQUIRES: a <= 2^31 - 2^22 - 1 (no overflow in a + 2^22).
inline std::int32_t reduce32(std::int32_t a) {
  const std::int32_t t = (a + (1 << 22)) >> 23;
  return a - t * q;
}

// Maps (-q, q) to [0, q): adds q when a is negative (arithmetic shift mask).
inline std::int32_t caddq(std::int32_t a) { return a + ((a >> 31) & q); }

// Canonical representative in [0, q) for any a accepted by reduce32.
inline std::int32_t freeze(std::int32_t a) { return caddq(reduce32(a)); }

// Montgomery form of x: x * 2^32 mod q, centred in (-q/2, q/2]. Compile-time only.
constexpr std::int32_t to_montgomery(std::int64_t x) {
  std::int64_t r = (((x % q) + q) % q) * ((std::int64_t{1} << 32) % q) % q;
  if (r > q / 2) r -= q;
  return static_cast<std::int32_t>(r);
}

}  // namespace kestrel::crypto::mldsa::detail
