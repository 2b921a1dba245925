// Bit packing of ByteEncode_d / ByteDecode_d (FIPS 203 Algorithms 5 and 6) for
// a compile-time d: eight d-bit values <-> d bytes, little-endian bit order.
// With d and the loop counts known, GCC unrolls each group of eight into
// straight-line shifts and byte stores. Used by both paths after (or before)
// the path's own compression arithmetic.
//
// Internal linkage on purpose (anonymous namespace in a header): each
// translation unit gets its own copy, compiled with that unit's flags, so the
// linker can never hand the portable path a copy built with -mavx2.
//
// Thread-safe: pure functions.
#pragma once

#include <cstdint>

#include "crypto/mlkem/params.h"

namespace kestrel::crypto::mlkem {
namespace {

// out[0, d * n / 8) = the n values v[i] in [0, 2^d), d bits each.
template <unsigned d>
inline void pack_bits(std::uint8_t* out, const std::uint16_t* v) {
  static_assert(d >= 1 && d <= 12);
  for (unsigned g = 0; g < n / 8; ++g) {
    std::uint64_t acc = 0;
    unsigned held = 0;
#pragma GCC unroll 8
    for (unsigned j = 0; j < 8; ++j) {
      acc |= static_cast<std::uint64_t>(v[8 * g + j]) << held;
      held += d;
#pragma GCC unroll 8
      while (held >= 8) {
        *out++ = static_cast<std::uint8_t>(acc);
        acc >>= 8;
        held -= 8;
      }
    }
  }
}

// v[0, n) = the d-bit values of in[0, d * n / 8).
template <unsigned d>
inline void unpack_bits(std::uint16_t* v, const std::uint8_t* in) {
  static_assert(d >= 1 && d <= 12);
  constexpr std::uint32_t mask = (1u << d) - 1;
  for (unsigned g = 0; g < n / 8; ++g) {
    std::uint64_t acc = 0;
    unsigned held = 0;
#pragma GCC unroll 8
    for (unsigned j = 0; j < 8; ++j) {
#pragma GCC unroll 8
      while (held < d) {
        acc |= static_cast<std::uint64_t>(*in++) << held;
        held += 8;
      }
      v[8 * g + j] = static_cast<std::uint16_t>(acc & mask);
      acc >>= d;
      held -= d;
    }
  }
}

// Dispatch on the runtime d of a parameter set to the compile-time forms.
inline void pack_bits_d(std::uint8_t* out, const std::uint16_t* v, unsigned d) {
  switch (d) {
    case 1: return pack_bits<1>(out, v);
    case 4: return pack_bits<4>(out, v);
    case 5: return pack_bits<5>(out, v);
    case 10: return pack_bits<10>(out, v);
    case 11: return pack_bits<11>(out, v);
    default: __builtin_trap();  // d comes from Params only (public, fixed)
  }
}

inline void unpack_bits_d(std::uint16_t* v, const std::uint8_t* in, unsigned d) {
  switch (d) {
    case 1: return unpack_bits<1>(v, in);
    case 4: return unpack_bits<4>(v, in);
    case 5: return unpack_bits<5>(v, in);
    case 10: return unpack_bits<10>(v, in);
    case 11: return unpack_bits<11>(v, in);
    default: __builtin_trap();
  }
}

}  // namespace
}  // namespace kestrel::crypto::mlkem
