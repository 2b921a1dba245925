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
#include <cstring>
#include <span>

#include "common/assert.h"

// Valgrind's client requests, when its headers are installed: they cost a few
// no-op instructions outside valgrind and let the constant-time test mark
// secrets (ct_poison) and values that are public by design (ct_declassify).
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define KESTREL_CT_HAVE_MEMCHECK 1
#endif
#endif

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
  KESTREL_ASSERT(a.size() == b.size());  // lengths are public: checked first
  // Eight bytes per step (ML-KEM decapsulation compares whole ciphertexts, up
  // to 1568 bytes, on every call), then the tail byte by byte.
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  for (; i < a.size(); ++i) diff |= static_cast<std::uint64_t>(a[i] ^ b[i]);
  const std::uint32_t nonzero = ct_mask_nonzero_u32(static_cast<std::uint32_t>(diff | (diff >> 32)));
  return static_cast<std::uint8_t>(1 & ~nonzero);
}

// out = condition ? a : b, byte by byte; condition is 0 or 1 and may be secret.
// REQUIRES: out, a, b have equal sizes.
inline void ct_select(std::span<std::uint8_t> out, std::span<const std::uint8_t> a,
                      std::span<const std::uint8_t> b, std::uint8_t condition) {
  KESTREL_ASSERT(a.size() == out.size() && b.size() == out.size());
  const std::uint8_t mask = static_cast<std::uint8_t>(-static_cast<std::int8_t>(ct_barrier(condition) & 1));
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(b[i] ^ (mask & (a[i] ^ b[i])));
  }
}

// Marks `size` bytes at `data` as public from here on: derived from secrets but
// published by design (ML-KEM's rho, which goes into the public key; the result
// of a check on public key parts). Under valgrind this stops the constant-time
// test (crypto/mlkem/ct_check.cc) from flagging branches the algorithm is
// allowed to take; elsewhere it does nothing.
inline void ct_declassify(const void* data, std::size_t size) {
#ifdef KESTREL_CT_HAVE_MEMCHECK
  (void)VALGRIND_MAKE_MEM_DEFINED(data, size);
#else
  (void)data;
  (void)size;
#endif
}

// Marks `size` bytes at `data` as secret (undefined to valgrind memcheck): any
// branch or memory index that depends on them is then reported. Test use only.
inline void ct_poison(const void* data, std::size_t size) {
#ifdef KESTREL_CT_HAVE_MEMCHECK
  (void)VALGRIND_MAKE_MEM_UNDEFINED(data, size);
#else
  (void)data;
  (void)size;
#endif
}

// Overwrites memory in a way the compiler may not elide (libsodium's
// sodium_memzero). Use on every buffer that held secret key material.
void secure_zero(std::span<std::uint8_t> buffer);
void secure_zero(void* data, std::size_t size);

}  // namespace kestrel::crypto
