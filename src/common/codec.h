// Canonical binary codec: the one wire and storage encoding of Kestrel.
//
// Encoding rules (docs/codec.md):
//   - fixed-width integers: little-endian, 1/2/4/8 bytes;
//   - varint: unsigned LEB128, at most limits::varint_bytes_max bytes, minimal
//     length (no redundant 0x80/0x00 continuation), no bits beyond 64;
//   - bool: one byte, 0 or 1;
//   - byte string: varint length, then the bytes; every read names its maximum;
//   - fixed array: the bytes, no length.
// Each value has exactly one encoding, so decode(encode(x)) == x and
// encode(decode(b)) == b for every b that decodes.
//
// The Reader is total: every input yields a value or a specific CodecError; it
// never reads out of bounds and never allocates (byte strings are views into the
// input, and their length is checked against the caller's maximum first).
//
// Thread-safety: a Writer or Reader is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/result.h"

namespace kestrel {

enum class CodecError : std::uint8_t {
  truncated,             // input ended inside a value
  too_long,              // a length or value exceeds the caller's maximum
  varint_non_canonical,  // a varint with redundant trailing zero groups
  varint_overflow,       // a varint longer than 10 bytes or above 2^64 - 1
  trailing_bytes,        // bytes left after the last field
  invalid_value,         // a field outside its domain (bool not 0/1, unknown tag)
};
const char* describe(CodecError error);

// Appends canonical encodings to a byte vector owned by the caller.
class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { put_le(v, 2); }
  void u32(std::uint32_t v) { put_le(v, 4); }
  void u64(std::uint64_t v) { put_le(v, 8); }
  void boolean(bool v) { out_.push_back(v ? 1 : 0); }
  void varint(std::uint64_t v);
  // REQUIRES: data.size() <= bytes_max (encoding more than the decoder accepts
  // is a programmer error).
  void bytes(ByteSpan data, std::size_t bytes_max);
  // Raw bytes with no length prefix (fixed-size arrays: hashes, keys).
  void fixed(ByteSpan data) { out_.insert(out_.end(), data.begin(), data.end()); }

  std::size_t size() const { return out_.size(); }

 private:
  void put_le(std::uint64_t v, int width) {
    for (int i = 0; i < width; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes& out_;
};

// Reads canonical encodings from a span; the span must outlive returned views.
class Reader {
 public:
  explicit Reader(ByteSpan in) : in_(in) {}

  Result<std::uint8_t, CodecError> u8();
  Result<std::uint16_t, CodecError> u16();
  Result<std::uint32_t, CodecError> u32();
  Result<std::uint64_t, CodecError> u64();
  Result<bool, CodecError> boolean();
  Result<std::uint64_t, CodecError> varint();
  // A varint that must be <= value_max (too_long otherwise).
  Result<std::uint64_t, CodecError> varint_max(std::uint64_t value_max);
  // Length-prefixed bytes; the length is checked against bytes_max before use.
  Result<ByteSpan, CodecError> bytes(std::size_t bytes_max);
  // Exactly n raw bytes.
  Result<ByteSpan, CodecError> fixed(std::size_t n);
  // Copies exactly out.size() raw bytes.
  Status<CodecError> fixed_into(MutableByteSpan out);
  // Succeeds only when every byte was consumed.
  Status<CodecError> finish() const;

  std::size_t remaining() const { return in_.size() - position_; }
  std::size_t position() const { return position_; }

 private:
  Result<std::uint64_t, CodecError> get_le(std::size_t width);
  ByteSpan in_;
  std::size_t position_ = 0;
};

}  // namespace kestrel
