// Constant-time helpers, all in one place (STYLE.md "Errors": crypto keeps
// ct_select, ct_equal here). None of these branch on or index memory by their
// data arguments. They are header-only so the post-quantum code can inline them
// on hot paths; the compiler barrier in ct_barrier keeps GCC from turning masks
// back into branches.
//
// Thread-safe: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kestrel::crypto {

// Hides a value from the optimizer so that mask arithmetic is not rewritten into
// a conditional branch.
template <typename T>
inline T ct_barrier(T x) {
  __asm__("" : "+r"(x));
  return x;
}

// 0xFF..FF when x != 0, else 0.
inline std::uint32_t ct_mask_nonzero_u32(std::uint32_t x) {
  x = ct_barrier(x);
  return static_cast<std::uint32_t>(0) - ((x | (static_cast<std::uint32_t>(0) - x)) >> 31);
}

// True (as 1) when the two ranges are equal; time depends only on the length.
// REQUIRES: a.size() == b.size() (lengths are public).
inline std::uint8_t ct_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  std::uint8_t diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<std::uint8_t>(a[i] ^ b[i]);
  const std::uint32_t nonzero = ct_mask_nonzero_u32(diff);
  return static_cast<std::uint8_t>(1 & ~nonzero);
}

// out = condition ? a : b, byte by byte; condition is 0 or 1 and may be secret.
// REQUIRES: out, a, b have equal sizes.
inline void ct_select(std::span<std::uint8_t> out, std::span<const std::uint8_t> a,
                      std::span<const std::uint8_t> b, std::uint8_t condition) {
  const std::uint8_t mask = static_cast<std::uint8_t>(-static_cast<std::int8_t>(ct_barrier(condition) & 1));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(b[i] ^ (mask & (a[i] ^ b[i])));
  }
}

// Marks memory as public for the constant-time checker: the caller states that
// the value may leak (for ML-DSA, only what FIPS 204 lets signing and key
// generation reveal: whether a rejection-sampling candidate is accepted, and the
// challenge of an attempt). With KESTREL_CT_VALGRIND (set by the build when
// valgrind/memcheck.h exists) it is a memcheck client request, which costs a few
// instructions and does nothing outside valgrind; otherwise it compiles away.
#if defined(KESTREL_CT_VALGRIND)
}  // namespace kestrel::crypto
#include <valgrind/memcheck.h>
namespace kestrel::crypto {
inline void ct_declassify(const void* data, std::size_t size) {
  (void)VALGRIND_MAKE_MEM_DEFINED(data, size);
}
#else
inline void ct_declassify(const void*, std::size_t) {}
#endif

// Overwrites memory in a way the compiler may not elide (libsodium's
// sodium_memzero). Use on every buffer that held secret key material.
void secure_zero(std::span<std::uint8_t> buffer);
void secure_zero(void* data, std::size_t size);

}  // namespace kestrel::crypto
