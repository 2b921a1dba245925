// libFuzzer target: the frame decoder, both as a receiver sees it.
//  1. The input as wire bytes: length prefix checked, then opened with a fixed
//     key (almost always an authentication failure, which must be clean).
//  2. The input as a frame's plaintext, sealed and opened with the same key
//     (so the decoder behind authentication is reached), then decoded: kind,
//     message records, zstd bodies (size checked before inflating).
#include <cstdint>
#include <cstring>

#include "common/assert.h"
#include "common/limits.h"
#include "net/wire.h"

using namespace kestrel;
using namespace kestrel::net::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const crypto::AeadKey key{1, 2, 3};
  if (size >= frame_header_bytes) {
    std::span<const std::uint8_t, 4> header(data, 4);
    if (auto length = decode_frame_length(header)) {
      KESTREL_ASSERT(*length <= limits::frame_bytes_max);
      if (*length == size - 4) {
        FrameCipher rx(key, 4, 1 << 20);
        Bytes sealed(data + 4, data + size);
        (void)rx.open(header, sealed);
      }
    }
  }
  if (size == 0 || size > 1 << 20) return 0;
  Bytes frame(frame_header_bytes + size + crypto::aead_tag_bytes);
  std::memcpy(frame.data() + frame_header_bytes, data, size);
  FrameCipher tx(key, 4, 1 << 20), rx(key, 4, 1 << 20);
  tx.seal(frame);
  std::span<const std::uint8_t, 4> header(frame.data(), 4);
  MutableByteSpan sealed = MutableByteSpan(frame).subspan(4);
  KESTREL_ASSERT(rx.open(header, sealed).ok());
  KESTREL_ASSERT(std::memcmp(sealed.data(), data, size) == 0);
  Bytes scratch;
  std::size_t messages = 0;
  std::size_t bytes = 0;
  auto kind = decode_frame_plaintext(ByteSpan(sealed.data(), size), scratch, messages,
                                     [&](std::uint16_t, ByteSpan payload) { bytes += payload.size(); });
  if (kind) KESTREL_ASSERT(bytes <= limits::frame_bytes_max);
  return 0;
}
