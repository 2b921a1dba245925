#include "common/codec.h"

#include <cstring>

#include "common/limits.h"

namespace kestrel {

const char* describe(CodecError error) {
  switch (error) {
    case CodecError::truncated: return "input ends inside a value";
    case CodecError::too_long: return "length or value exceeds its maximum";
    case CodecError::varint_non_canonical: return "varint is not minimally encoded";
    case CodecError::varint_overflow: return "varint exceeds 64 bits";
    case CodecError::trailing_bytes: return "unexpected bytes after the last field";
    case CodecError::invalid_value: return "field value outside its domain";
  }
  return "unknown codec error";
}

void Writer::varint(std::uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<std::uint8_t>(v | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<std::uint8_t>(v));
}

void Writer::bytes(ByteSpan data, std::size_t bytes_max) {
  KESTREL_ASSERT(data.size() <= bytes_max);
  varint(data.size());
  fixed(data);
}

Result<std::uint64_t, CodecError> Reader::get_le(std::size_t width) {
  KESTREL_DEBUG_ASSERT(width <= 8);
  if (remaining() < width) return Err(CodecError::truncated);
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) {
    v |= static_cast<std::uint64_t>(in_[position_ + i]) << (8 * i);
  }
  position_ += width;
  return v;
}

Result<std::uint8_t, CodecError> Reader::u8() {
  if (remaining() < 1) return Err(CodecError::truncated);
  return in_[position_++];
}

Result<std::uint16_t, CodecError> Reader::u16() {
  auto v = get_le(2);
  if (!v) return Err(v.error());
  return static_cast<std::uint16_t>(*v);
}

Result<std::uint32_t, CodecError> Reader::u32() {
  auto v = get_le(4);
  if (!v) return Err(v.error());
  return static_cast<std::uint32_t>(*v);
}

Result<std::uint64_t, CodecError> Reader::u64() { return get_le(8); }

Result<bool, CodecError> Reader::boolean() {
  auto v = u8();
  if (!v) return Err(v.error());
  if (*v > 1) return Err(CodecError::invalid_value);
  return *v == 1;
}

Result<std::uint64_t, CodecError> Reader::varint() {
  std::uint64_t v = 0;
  // Loop bound: at most varint_bytes_max bytes are ever examined.
  for (std::size_t i = 0; i < limits::varint_bytes_max; ++i) {
    if (remaining() < 1) return Err(CodecError::truncated);
    const std::uint8_t byte = in_[position_++];
    const std::uint64_t group = byte & 0x7f;
    // The 10th byte holds bit 63 only: any higher bit, or a continuation, overflows.
    if (i == limits::varint_bytes_max - 1 && (byte & 0xfe) != 0) {
      return Err(CodecError::varint_overflow);
    }
    v |= group << (7 * i);
    if ((byte & 0x80) == 0) {
      // A final zero group after the first byte means a shorter encoding existed.
      if (byte == 0 && i > 0) return Err(CodecError::varint_non_canonical);
      return v;
    }
  }
  KESTREL_ASSERT(false && "unreachable: the 10th byte either ends or overflows");
  return Err(CodecError::varint_overflow);
}

Result<std::uint64_t, CodecError> Reader::varint_max(std::uint64_t value_max) {
  auto v = varint();
  if (!v) return v;
  if (*v > value_max) return Err(CodecError::too_long);
  return v;
}

Result<ByteSpan, CodecError> Reader::bytes(std::size_t bytes_max) {
  auto length = varint_max(bytes_max);
  if (!length) return Err(length.error());
  return fixed(static_cast<std::size_t>(*length));
}

Result<ByteSpan, CodecError> Reader::fixed(std::size_t n) {
  if (remaining() < n) return Err(CodecError::truncated);
  ByteSpan view = in_.subspan(position_, n);
  position_ += n;
  return view;
}

Status<CodecError> Reader::fixed_into(MutableByteSpan out) {
  auto view = fixed(out.size());
  if (!view) return Err(view.error());
  if (!out.empty()) std::memcpy(out.data(), view->data(), out.size());
  return {};
}

Status<CodecError> Reader::finish() const {
  if (remaining() != 0) return Err(CodecError::trailing_bytes);
  return {};
}

}  // namespace kestrel
