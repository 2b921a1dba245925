// Byte containers and hex conversion used across every module.
//
// Thread-safe: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace kestrel {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutableByteSpan = std::span<std::uint8_t>;

inline ByteSpan as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

enum class HexError : std::uint8_t {
  odd_length,    // hex needs two digits per byte
  bad_digit,     // a character outside [0-9a-fA-F]
  too_long,      // longer than limits::hex_chars_max or the caller's expected size
  wrong_length,  // decoded size differs from the size the caller required
};
const char* describe(HexError error);

// Lower-case hex of `bytes`.
std::string to_hex(ByteSpan bytes);
// Parses upper- or lower-case hex; the empty string is zero bytes.
Result<Bytes, HexError> from_hex(std::string_view hex);
// Parses hex that must decode to exactly out.size() bytes.
Status<HexError> from_hex_exact(std::string_view hex, MutableByteSpan out);

}  // namespace kestrel
