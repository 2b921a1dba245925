// Canonical encoding of HotStuff-2 messages (docs/consensus.md "Wire format").
#include <bit>

#include "common/assert.h"
#include "common/limits.h"
#include "common/prng.h"
#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {

namespace {

constexpr std::size_t bitmap_bytes_max = (limits::validators_max + 7) / 8;

// Signing-domain tags: a signature for one purpose never verifies for another.
constexpr std::uint8_t domain_proposal = 0x51;
constexpr std::uint8_t domain_vote = 0x52;
constexpr std::uint8_t domain_timeout = 0x53;

template <typename Entry>
Bytes make_bitmap(const std::vector<Entry>& entries) {
  Bytes bitmap;
  for (const auto& e : entries) {
    KESTREL_ASSERT(e.signer < limits::validators_max);
    const std::size_t byte = e.signer / 8;
    if (bitmap.size() <= byte) bitmap.resize(byte + 1, 0);
    bitmap[byte] |= static_cast<std::uint8_t>(1u << (e.signer % 8));
  }
  return bitmap;
}

// Reads a canonical bitmap and returns the signer ids in increasing order.
Result<std::vector<ReplicaId>, CodecError> read_bitmap(Reader& reader) {
  auto bitmap = reader.bytes(bitmap_bytes_max);
  if (!bitmap) return Err(bitmap.error());
  if (!bitmap->empty() && bitmap->back() == 0) return Err(CodecError::invalid_value);
  std::vector<ReplicaId> signers;
  for (std::size_t byte = 0; byte < bitmap->size(); ++byte) {
    for (unsigned bit = 0; bit < 8; ++bit) {
      if ((*bitmap)[byte] & (1u << bit)) signers.push_back(static_cast<ReplicaId>(byte * 8 + bit));
    }
  }
  return signers;
}

Result<ReplicaId, CodecError> read_replica(Reader& reader) {
  auto v = reader.varint_max(limits::validators_max - 1);
  if (!v) return Err(v.error());
  return static_cast<ReplicaId>(*v);
}

Result<Bytes, CodecError> read_signature(Reader& reader) {
  auto s = reader.bytes(limits::signature_bytes_max);
  if (!s) return Err(s.error());
  return Bytes(s->begin(), s->end());
}

Result<BlockId, CodecError> read_id(Reader& reader) {
  BlockId id;
  auto status = reader.fixed_into(id.bytes);
  if (!status) return Err(status.error());
  return id;
}

void write_qc(Writer& w, const QuorumCertificate& qc) {
  w.varint(qc.view);
  w.fixed(qc.block_id.bytes);
  w.bytes(make_bitmap(qc.signatures), bitmap_bytes_max);
  for (const auto& s : qc.signatures) w.bytes(s.signature, limits::signature_bytes_max);
}

Result<QuorumCertificate, CodecError> read_qc(Reader& r) {
  QuorumCertificate qc;
  auto view = r.varint();
  if (!view) return Err(view.error());
  qc.view = *view;
  auto id = read_id(r);
  if (!id) return Err(id.error());
  qc.block_id = *id;
  auto signers = read_bitmap(r);
  if (!signers) return Err(signers.error());
  qc.signatures.reserve(signers->size());
  for (ReplicaId signer : *signers) {
    auto sig = read_signature(r);
    if (!sig) return Err(sig.error());
    qc.signatures.push_back({signer, std::move(*sig)});
  }
  return qc;
}

void write_tc(Writer& w, const TimeoutCertificate& tc) {
  w.varint(tc.view);
  w.bytes(make_bitmap(tc.entries), bitmap_bytes_max);
  for (const auto& e : tc.entries) {
    w.varint(e.high_qc_view);
    w.bytes(e.signature, limits::signature_bytes_max);
  }
}

Result<TimeoutCertificate, CodecError> read_tc(Reader& r) {
  TimeoutCertificate tc;
  auto view = r.varint();
  if (!view) return Err(view.error());
  tc.view = *view;
  auto signers = read_bitmap(r);
  if (!signers) return Err(signers.error());
  for (ReplicaId signer : *signers) {
    auto high = r.varint();
    if (!high) return Err(high.error());
    auto sig = read_signature(r);
    if (!sig) return Err(sig.error());
    tc.entries.push_back({signer, *high, std::move(*sig)});
  }
  return tc;
}

Result<Block, CodecError> read_block(Reader& r) {
  Block b;
  auto parent = read_id(r);
  if (!parent) return Err(parent.error());
  b.parent = *parent;
  auto view = r.varint();
  if (!view) return Err(view.error());
  b.view = *view;
  auto height = r.varint();
  if (!height) return Err(height.error());
  b.height = *height;
  auto proposer = read_replica(r);
  if (!proposer) return Err(proposer.error());
  b.proposer = *proposer;
  auto justify = read_qc(r);
  if (!justify) return Err(justify.error());
  b.justify = std::move(*justify);
  auto payload = r.bytes(limits::block_payload_bytes_max);
  if (!payload) return Err(payload.error());
  b.payload.assign(payload->begin(), payload->end());
  return b;
}

template <typename T>
Result<Message, CodecError> wrap(Result<T, CodecError> r) {
  if (!r) return Err(r.error());
  return Message(std::move(*r));
}

Result<Proposal, CodecError> read_proposal(Reader& r) {
  Proposal p;
  auto block = read_block(r);
  if (!block) return Err(block.error());
  p.block = std::move(*block);
  auto has_tc = r.boolean();
  if (!has_tc) return Err(has_tc.error());
  if (*has_tc) {
    auto tc = read_tc(r);
    if (!tc) return Err(tc.error());
    p.tc = std::move(*tc);
  }
  auto sig = read_signature(r);
  if (!sig) return Err(sig.error());
  p.signature = std::move(*sig);
  return p;
}

Result<Vote, CodecError> read_vote(Reader& r) {
  Vote v;
  auto view = r.varint();
  if (!view) return Err(view.error());
  v.view = *view;
  auto id = read_id(r);
  if (!id) return Err(id.error());
  v.block_id = *id;
  auto voter = read_replica(r);
  if (!voter) return Err(voter.error());
  v.voter = *voter;
  auto sig = read_signature(r);
  if (!sig) return Err(sig.error());
  v.signature = std::move(*sig);
  return v;
}

Result<Timeout, CodecError> read_timeout(Reader& r) {
  Timeout t;
  auto view = r.varint();
  if (!view) return Err(view.error());
  t.view = *view;
  auto qc = read_qc(r);
  if (!qc) return Err(qc.error());
  t.high_qc = std::move(*qc);
  auto sender = read_replica(r);
  if (!sender) return Err(sender.error());
  t.sender = *sender;
  auto sig = read_signature(r);
  if (!sig) return Err(sig.error());
  t.signature = std::move(*sig);
  return t;
}

Result<SyncCertificates, CodecError> read_sync(Reader& r) {
  SyncCertificates s;
  auto has_qc = r.boolean();
  if (!has_qc) return Err(has_qc.error());
  if (*has_qc) {
    auto qc = read_qc(r);
    if (!qc) return Err(qc.error());
    s.qc = std::move(*qc);
  }
  auto has_tc = r.boolean();
  if (!has_tc) return Err(has_tc.error());
  if (*has_tc) {
    auto tc = read_tc(r);
    if (!tc) return Err(tc.error());
    s.tc = std::move(*tc);
  }
  return s;
}

Result<FetchRequest, CodecError> read_fetch_request(Reader& r) {
  FetchRequest f;
  auto id = read_id(r);
  if (!id) return Err(id.error());
  f.block_id = *id;
  auto count = r.varint_max(limits::consensus_fetch_blocks_max);
  if (!count) return Err(count.error());
  if (*count == 0) return Err(CodecError::invalid_value);
  f.count_max = static_cast<std::uint32_t>(*count);
  return f;
}

Result<FetchResponse, CodecError> read_fetch_response(Reader& r) {
  FetchResponse f;
  auto count = r.varint_max(limits::consensus_fetch_blocks_max);
  if (!count) return Err(count.error());
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto block = read_block(r);
    if (!block) return Err(block.error());
    f.blocks.push_back(std::move(*block));
  }
  return f;
}

}  // namespace

void encode_block(Writer& w, const Block& b) {
  w.fixed(b.parent.bytes);
  w.varint(b.view);
  w.varint(b.height);
  w.varint(b.proposer);
  write_qc(w, b.justify);
  w.bytes(b.payload, limits::block_payload_bytes_max);
}

BlockId compute_block_id(const Block& b) {
  Bytes encoded;
  encoded.reserve(256 + b.payload.size() + b.justify.signatures.size() * 80);
  Writer w(encoded);
  encode_block(w, b);
  return sha256(encoded);
}

namespace {
// Signer ids and signature sizes, mixed (SplitMix64 finalizer per step): two QCs
// for one block from different signers differ here.
std::uint64_t qc_shape(const QuorumCertificate& qc) {
  std::uint64_t h = 0x9E3779B97F4A7C15ull;
  for (const auto& s : qc.signatures) h = mix64(h ^ ((static_cast<std::uint64_t>(s.signer) << 32) | s.signature.size()));
  return h;
}
}  // namespace

BlockId Block::id() const {
  IdMemo& m = id_memo_;
  const std::uint64_t shape = qc_shape(justify);
  if (m.valid && m.parent == parent && m.view == view && m.height == height && m.proposer == proposer &&
      m.justify_view == justify.view && m.justify_block == justify.block_id &&
      m.justify_signatures == justify.signatures.size() && m.justify_shape == shape &&
      m.payload_bytes == payload.size()) {
    KESTREL_DEBUG_ASSERT(m.id == compute_block_id(*this));
    return m.id;
  }
  m = IdMemo{true, compute_block_id(*this), parent, justify.block_id, view, justify.view, height, proposer,
             justify.signatures.size(), payload.size(), shape};
  return m.id;
}

Block genesis_block(std::uint64_t chain_id) {
  Block g;
  Writer w(g.payload);
  w.fixed(as_bytes("kestrel-genesis"));
  w.u64(chain_id);
  return g;
}

QuorumCertificate genesis_qc(const Block& genesis) {
  QuorumCertificate qc;
  qc.view = 0;
  qc.block_id = genesis.id();
  return qc;
}

Bytes encode_message(const Message& message) {
  Bytes out;
  Writer w(out);
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Proposal>) {
          w.u8(static_cast<std::uint8_t>(MessageType::proposal));
          encode_block(w, m.block);
          w.boolean(m.tc.has_value());
          if (m.tc) write_tc(w, *m.tc);
          w.bytes(m.signature, limits::signature_bytes_max);
        } else if constexpr (std::is_same_v<T, Vote>) {
          w.u8(static_cast<std::uint8_t>(MessageType::vote));
          w.varint(m.view);
          w.fixed(m.block_id.bytes);
          w.varint(m.voter);
          w.bytes(m.signature, limits::signature_bytes_max);
        } else if constexpr (std::is_same_v<T, Timeout>) {
          w.u8(static_cast<std::uint8_t>(MessageType::timeout));
          w.varint(m.view);
          write_qc(w, m.high_qc);
          w.varint(m.sender);
          w.bytes(m.signature, limits::signature_bytes_max);
        } else if constexpr (std::is_same_v<T, SyncCertificates>) {
          w.u8(static_cast<std::uint8_t>(MessageType::sync_certificates));
          w.boolean(m.qc.has_value());
          if (m.qc) write_qc(w, *m.qc);
          w.boolean(m.tc.has_value());
          if (m.tc) write_tc(w, *m.tc);
        } else if constexpr (std::is_same_v<T, FetchRequest>) {
          w.u8(static_cast<std::uint8_t>(MessageType::fetch_request));
          w.fixed(m.block_id.bytes);
          w.varint(m.count_max);
        } else {
          static_assert(std::is_same_v<T, FetchResponse>);
          w.u8(static_cast<std::uint8_t>(MessageType::fetch_response));
          KESTREL_ASSERT(m.blocks.size() <= limits::consensus_fetch_blocks_max);
          w.varint(m.blocks.size());
          for (const auto& b : m.blocks) encode_block(w, b);
        }
      },
      message);
  return out;
}

Result<Message, CodecError> decode_message(ByteSpan bytes) {
  if (bytes.size() > limits::message_size_max) return Err(CodecError::too_long);
  Reader r(bytes);
  auto type = r.u8();
  if (!type) return Err(type.error());
  Result<Message, CodecError> message = Err(CodecError::invalid_value);
  switch (static_cast<MessageType>(*type)) {
    case MessageType::proposal: message = wrap(read_proposal(r)); break;
    case MessageType::vote: message = wrap(read_vote(r)); break;
    case MessageType::timeout: message = wrap(read_timeout(r)); break;
    case MessageType::sync_certificates: message = wrap(read_sync(r)); break;
    case MessageType::fetch_request: message = wrap(read_fetch_request(r)); break;
    case MessageType::fetch_response: message = wrap(read_fetch_response(r)); break;
    default: return Err(CodecError::invalid_value);
  }
  if (!message) return message;
  KESTREL_TRY(r.finish());
  return message;
}

namespace {
Bytes signing_prefix(std::uint8_t domain, std::uint64_t chain_id) {
  Bytes out;
  out.reserve(64);
  Writer w(out);
  w.fixed(as_bytes("kestrel/hotstuff2"));
  w.u8(domain);
  w.u64(chain_id);
  return out;
}
}  // namespace

Bytes proposal_signing_bytes(std::uint64_t chain_id, const BlockId& block_id) {
  Bytes out = signing_prefix(domain_proposal, chain_id);
  Writer(out).fixed(block_id.bytes);
  return out;
}

Bytes vote_signing_bytes(std::uint64_t chain_id, View view, const BlockId& block_id) {
  Bytes out = signing_prefix(domain_vote, chain_id);
  Writer w(out);
  w.u64(view);
  w.fixed(block_id.bytes);
  return out;
}

Bytes timeout_signing_bytes(std::uint64_t chain_id, View view, View high_qc_view) {
  Bytes out = signing_prefix(domain_timeout, chain_id);
  Writer w(out);
  w.u64(view);
  w.u64(high_qc_view);
  return out;
}


Bytes encode_block(const Block& block) {
  Bytes out;
  out.reserve(256 + block.payload.size() + block.justify.signatures.size() * 80);
  Writer w(out);
  encode_block(w, block);
  return out;
}

Result<Block, CodecError> decode_block(ByteSpan bytes) {
  if (bytes.size() > limits::message_size_max) return Err(CodecError::too_long);
  Reader r(bytes);
  auto block = read_block(r);
  if (!block) return block;
  KESTREL_TRY(r.finish());
  return block;
}

Bytes encode_qc(const QuorumCertificate& qc) {
  Bytes out;
  Writer w(out);
  write_qc(w, qc);
  return out;
}

namespace {
bool add_qc_checks(const QuorumCertificate& qc, std::uint64_t chain_id, std::uint32_t n,
                   std::vector<SignatureCheck>& checks) {
  if (qc.signatures.empty()) return true;  // genesis; the core checks its shape
  const Bytes message = vote_signing_bytes(chain_id, qc.view, qc.block_id);
  for (const SignedBy& s : qc.signatures) {
    if (s.signer >= n) return false;
    checks.push_back({s.signer, message, s.signature});
  }
  return true;
}

bool add_tc_checks(const TimeoutCertificate& tc, std::uint64_t chain_id, std::uint32_t n,
                   std::vector<SignatureCheck>& checks) {
  for (const TimeoutEntry& e : tc.entries) {
    if (e.signer >= n) return false;
    checks.push_back({e.signer, timeout_signing_bytes(chain_id, tc.view, e.high_qc_view), e.signature});
  }
  return true;
}
}  // namespace

bool collect_signature_checks(const Message& message, std::uint64_t chain_id, std::uint32_t n,
                              std::vector<SignatureCheck>& checks, bool block_id_memo) {
  return std::visit(
      [&](const auto& m) -> bool {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Proposal>) {
          if (m.block.proposer >= n) return false;
          checks.push_back({m.block.proposer, proposal_signing_bytes(chain_id, block_id_memo ? m.block.id() : compute_block_id(m.block)), m.signature});
          if (m.tc && !add_tc_checks(*m.tc, chain_id, n, checks)) return false;
          return add_qc_checks(m.block.justify, chain_id, n, checks);
        } else if constexpr (std::is_same_v<T, Vote>) {
          if (m.voter >= n) return false;
          checks.push_back({m.voter, vote_signing_bytes(chain_id, m.view, m.block_id), m.signature});
          return true;
        } else if constexpr (std::is_same_v<T, Timeout>) {
          if (m.sender >= n) return false;
          checks.push_back({m.sender, timeout_signing_bytes(chain_id, m.view, m.high_qc.view), m.signature});
          return add_qc_checks(m.high_qc, chain_id, n, checks);
        } else if constexpr (std::is_same_v<T, SyncCertificates>) {
          if (m.qc && !add_qc_checks(*m.qc, chain_id, n, checks)) return false;
          return !m.tc || add_tc_checks(*m.tc, chain_id, n, checks);
        } else if constexpr (std::is_same_v<T, FetchRequest>) {
          return true;
        } else {
          static_assert(std::is_same_v<T, FetchResponse>);
          for (const Block& b : m.blocks) {
            if (!add_qc_checks(b.justify, chain_id, n, checks)) return false;
          }
          return true;
        }
      },
      message);
}

}  // namespace kestrel::hotstuff2

namespace kestrel::hotstuff2 {

Bytes encode_safety_record(const SafetyRecord& record) {
  Bytes out;
  Writer w(out);
  w.u8(1);  // record format version
  w.varint(record.last_voted_view);
  write_qc(w, record.locked_qc);
  w.varint(record.last_timeout_view);
  w.varint(record.last_proposed_view);
  return out;
}

Result<SafetyRecord, CodecError> decode_safety_record(ByteSpan bytes) {
  if (bytes.size() > limits::message_size_max) return Err(CodecError::too_long);
  Reader r(bytes);
  auto version = r.u8();
  if (!version) return Err(version.error());
  if (*version != 1) return Err(CodecError::invalid_value);
  SafetyRecord record;
  auto voted = r.varint();
  if (!voted) return Err(voted.error());
  record.last_voted_view = *voted;
  auto lock = read_qc(r);
  if (!lock) return Err(lock.error());
  record.locked_qc = std::move(*lock);
  auto timeout = r.varint();
  if (!timeout) return Err(timeout.error());
  record.last_timeout_view = *timeout;
  auto proposed = r.varint();
  if (!proposed) return Err(proposed.error());
  record.last_proposed_view = *proposed;
  KESTREL_TRY(r.finish());
  return record;
}

}  // namespace kestrel::hotstuff2
