// libFuzzer target for the HotStuff-2 wire format (decode_message).
//
// Every input must either be refused with a CodecError or decode to a message
// whose encoding is exactly the input (one encoding per value), and decoding
// that encoding again must give an equal message. Never a crash, an assertion,
// an out-of-bounds read (ASan) or undefined behaviour (UBSan). Block ids are
// computed too, since every fetched or proposed block is hashed on receipt.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "hotstuff2/hotstuff2.h"
#include "hotstuff2/test_equal.h"

namespace {

namespace hs = kestrel::hotstuff2;

void hash_blocks(const hs::Message& message) {
  if (const auto* p = std::get_if<hs::Proposal>(&message)) (void)p->block.id();
  if (const auto* f = std::get_if<hs::FetchResponse>(&message)) {
    for (const hs::Block& b : f->blocks) (void)b.id();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const kestrel::ByteSpan in(data, size);
  auto decoded = hs::decode_message(in);
  if (!decoded) return 0;
  hash_blocks(*decoded);
  const kestrel::Bytes encoded = hs::encode_message(*decoded);
  if (encoded.size() != in.size() || !std::equal(encoded.begin(), encoded.end(), in.begin())) __builtin_trap();
  auto again = hs::decode_message(encoded);
  if (!again || !hs::testing::equal(*again, *decoded)) __builtin_trap();
  return 0;
}
