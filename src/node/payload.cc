#include "node/payload.h"

namespace kestrel::node {
namespace {

constexpr std::uint8_t payload_version = 1;

void write_transactions(Writer& w, std::span<const Bytes> transactions) {
  KESTREL_ASSERT(transactions.size() <= limits::block_transactions_max);
  w.varint(transactions.size());
  for (const Bytes& tx : transactions) w.bytes(tx, limits::transaction_bytes_max);
}

void write_raw(Writer& w, std::span<const RawEntry> raw) {
  KESTREL_ASSERT(raw.size() <= limits::block_raw_commands_max);
  w.varint(raw.size());
  for (const RawEntry& e : raw) {
    w.u16(e.origin);
    w.u64(e.connection);
    w.u64(e.sequence);
    w.fixed(e.command);
  }
}

Result<std::vector<ByteSpan>, CodecError> read_transactions(Reader& r) {
  auto count = r.varint_max(limits::block_transactions_max);
  if (!count) return Err(count.error());
  std::vector<ByteSpan> out;
  out.reserve(*count);
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto tx = r.bytes(limits::transaction_bytes_max);
    if (!tx) return Err(tx.error());
    out.push_back(*tx);
  }
  return out;
}

Result<std::vector<RawEntry>, CodecError> read_raw(Reader& r) {
  auto count = r.varint_max(limits::block_raw_commands_max);
  if (!count) return Err(count.error());
  std::vector<RawEntry> out;
  out.reserve(*count);
  for (std::uint64_t i = 0; i < *count; ++i) {
    RawEntry e;
    auto origin = r.u16();
    if (!origin) return Err(origin.error());
    auto connection = r.u64();
    if (!connection) return Err(connection.error());
    auto sequence = r.u64();
    if (!sequence) return Err(sequence.error());
    auto command = r.fixed(limits::raw_command_bytes);
    if (!command) return Err(command.error());
    e.origin = *origin;
    e.connection = *connection;
    e.sequence = *sequence;
    std::copy(command->begin(), command->end(), e.command.begin());
    out.push_back(e);
  }
  return out;
}

// A gossip batch is one payload section on its own, with nothing after it.
template <typename Item, typename Write>
Bytes encode_alone(std::span<const Item> items, Write write) {
  Bytes out;
  Writer w(out);
  write(w, items);
  return out;
}

template <typename Read>
auto decode_alone(ByteSpan bytes, Read read) -> decltype(read(std::declval<Reader&>())) {
  Reader r(bytes);
  auto items = read(r);
  if (!items) return items;
  KESTREL_TRY(r.finish());
  return items;
}

}  // namespace

Bytes encode_payload(std::span<const Bytes> transactions, std::span<const RawEntry> raw) {
  Bytes out;
  if (transactions.empty() && raw.empty()) return out;
  std::size_t size = 16 + raw.size() * (2 + 8 + 8 + limits::raw_command_bytes);
  for (const Bytes& tx : transactions) size += tx.size() + 3;
  out.reserve(size);
  Writer w(out);
  w.u8(payload_version);
  write_transactions(w, transactions);
  write_raw(w, raw);
  return out;
}

Result<Payload, CodecError> decode_payload(ByteSpan bytes) {
  Payload p;
  if (bytes.empty()) return p;
  if (bytes.size() > limits::block_payload_bytes_max) return Err(CodecError::too_long);
  Reader r(bytes);
  auto version = r.u8();
  if (!version) return Err(version.error());
  if (*version != payload_version) return Err(CodecError::invalid_value);
  auto txs = read_transactions(r);
  if (!txs) return Err(txs.error());
  auto raw = read_raw(r);
  if (!raw) return Err(raw.error());
  // The empty payload has exactly one encoding: no bytes.
  if (txs->empty() && raw->empty()) return Err(CodecError::invalid_value);
  KESTREL_TRY(r.finish());
  p.transactions = std::move(*txs);
  p.raw = std::move(*raw);
  return p;
}

Bytes encode_transaction_batch(std::span<const Bytes> transactions) { return encode_alone(transactions, write_transactions); }

Result<std::vector<ByteSpan>, CodecError> decode_transaction_batch(ByteSpan bytes) {
  return decode_alone(bytes, read_transactions);
}

Bytes encode_raw_batch(std::span<const RawEntry> raw) { return encode_alone(raw, write_raw); }

Result<std::vector<RawEntry>, CodecError> decode_raw_batch(ByteSpan bytes) { return decode_alone(bytes, read_raw); }

}  // namespace kestrel::node
