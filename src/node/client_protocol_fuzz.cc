// libFuzzer target for the client protocol decoders (docs/client-api.md).
//
// Every input must decode or fail with a ProtocolError (never crash or read out
// of bounds: ASan/UBSan check that), both as a request body and as a response
// body. When it decodes, re-encoding must give back the input exactly (one
// encoding per message). The first four bytes are also tried as a frame length.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "node/client_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace kestrel;
  const ByteSpan in(data, size);
  auto same = [&](const Bytes& out) { return out.size() == in.size() && std::equal(out.begin(), out.end(), in.begin()); };
  auto request = node::decode_request(in);
  if (request.ok() && !same(node::encode_request(*request))) __builtin_trap();
  auto response = node::decode_response(in);
  if (response.ok() && !same(node::encode_response(*response))) __builtin_trap();
  if (request.ok() && response.ok()) __builtin_trap();  // request and response types are disjoint
  if (size >= node::frame_header_bytes) {
    auto length = node::decode_frame_length(std::span<const std::uint8_t, node::frame_header_bytes>(data, 4));
    const std::uint32_t raw = static_cast<std::uint32_t>(data[0]) | (static_cast<std::uint32_t>(data[1]) << 8) |
                              (static_cast<std::uint32_t>(data[2]) << 16) | (static_cast<std::uint32_t>(data[3]) << 24);
    if (length.ok() != (raw <= limits::client_frame_bytes_max)) __builtin_trap();
  }
  return 0;
}
