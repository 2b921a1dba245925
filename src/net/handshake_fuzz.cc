// libFuzzer target: the three handshake message decoders on arbitrary bytes.
// Properties: never crash or read out of bounds; what decodes re-encodes to the
// same bytes (one encoding per message).
#include <cstdint>
#include <cstring>

#include "common/assert.h"
#include "net/wire.h"

using namespace kestrel;
using namespace kestrel::net::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteSpan in(data, size);
  if (auto hello = decode_hello(in)) {
    Bytes again;
    encode_hello(*hello, again);
    KESTREL_ASSERT(again.size() == size && std::memcmp(again.data(), data, size) == 0);
  }
  std::size_t unsigned_bytes = 0;
  if (auto reply = decode_reply(in, unsigned_bytes)) {
    KESTREL_ASSERT(unsigned_bytes <= size);
    Bytes again;
    encode_reply_unsigned(*reply, again);
    KESTREL_ASSERT(again.size() == unsigned_bytes);
    append_signature(reply->signature, again);
    KESTREL_ASSERT(again.size() == size && std::memcmp(again.data(), data, size) == 0);
    (void)transcript_hash(in, in.first(unsigned_bytes));
  }
  if (auto finish = decode_finish(in)) {
    Bytes again;
    encode_finish(finish->signature, again);
    KESTREL_ASSERT(again.size() == size && std::memcmp(again.data(), data, size) == 0);
  }
  return 0;
}
