#include "common/bytes.h"

#include "common/limits.h"

namespace kestrel {

const char* describe(HexError error) {
  switch (error) {
    case HexError::odd_length: return "hex string has an odd number of digits";
    case HexError::bad_digit: return "hex string has a character that is not a hex digit";
    case HexError::too_long: return "hex string is too long";
    case HexError::wrong_length: return "hex string decodes to the wrong number of bytes";
  }
  return "unknown hex error";
}

std::string to_hex(ByteSpan bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '\0');
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
}

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status<HexError> decode_into(std::string_view hex, MutableByteSpan out) {
  KESTREL_ASSERT(out.size() * 2 == hex.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = hex_value(hex[2 * i]);
    const int low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return Err(HexError::bad_digit);
    out[i] = static_cast<std::uint8_t>((high << 4) | low);
  }
  return {};
}

}  // namespace

Result<Bytes, HexError> from_hex(std::string_view hex) {
  if (hex.size() > limits::hex_chars_max) return Err(HexError::too_long);
  if (hex.size() % 2 != 0) return Err(HexError::odd_length);
  Bytes out(hex.size() / 2);
  KESTREL_TRY(decode_into(hex, out));
  return out;
}

Status<HexError> from_hex_exact(std::string_view hex, MutableByteSpan out) {
  if (hex.size() % 2 != 0) return Err(HexError::odd_length);
  if (hex.size() != out.size() * 2) return Err(HexError::wrong_length);
  return decode_into(hex, out);
}

}  // namespace kestrel
