// Block payloads of a Kestrel validator (docs/node.md "Block payload"): what the
// consensus core carries as opaque bytes.
//
//   payload := ""                                   (an empty block)
//            | u8 version = 1
//              varint tx_count   { bytes transaction }*        (canonical encodings)
//              varint raw_count  { u16 origin u64 connection u64 sequence [16] command }*
//
// Raw entries are the benchmark mode's unsigned commands (docs/client-api.md):
// `origin` is the validator whose client submitted it, `connection` and `sequence`
// identify it there. Decoding is strict and bounded (limits.h); encode(decode(b))
// == b for every accepted b.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/limits.h"
#include "common/result.h"

namespace kestrel::node {

struct RawEntry {
  std::uint16_t origin = 0;
  std::uint64_t connection = 0;
  std::uint64_t sequence = 0;
  std::array<std::uint8_t, limits::raw_command_bytes> command{};
  bool operator==(const RawEntry&) const = default;
};

struct Payload {
  std::vector<ByteSpan> transactions;  // views into the decoded bytes
  std::vector<RawEntry> raw;
};

Bytes encode_payload(std::span<const Bytes> transactions, std::span<const RawEntry> raw);
// `bytes` must outlive the returned views.
Result<Payload, CodecError> decode_payload(ByteSpan bytes);

// Gossip between validators (net message types 2 and 3): a batch of encoded
// transactions / raw entries (same element encodings as the payload).
Bytes encode_transaction_batch(std::span<const Bytes> transactions);
Result<std::vector<ByteSpan>, CodecError> decode_transaction_batch(ByteSpan bytes);
Bytes encode_raw_batch(std::span<const RawEntry> raw);
Result<std::vector<RawEntry>, CodecError> decode_raw_batch(ByteSpan bytes);

}  // namespace kestrel::node
