// Wire format of HotStuff-2 messages: canonical round trips for every message
// type, and refusal (a CodecError, never a crash) of truncated, trailing,
// oversized and out-of-domain input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "common/hash.h"
#include "common/limits.h"
#include "common/prng.h"
#include "hotstuff2/hotstuff2.h"
#include "hotstuff2/test_equal.h"

namespace kestrel::hotstuff2 {
namespace {

using testing::equal;

Bytes filled(std::size_t size, std::uint8_t first) {
  Bytes b(size);
  for (std::size_t i = 0; i < size; ++i) b[i] = static_cast<std::uint8_t>(first + i);
  return b;
}

BlockId id_of(std::uint8_t seed) {
  BlockId id;
  for (std::size_t i = 0; i < id.bytes.size(); ++i) id.bytes[i] = static_cast<std::uint8_t>(seed * 7 + i);
  return id;
}

QuorumCertificate sample_qc(View view, std::vector<ReplicaId> signers) {
  QuorumCertificate qc;
  qc.view = view;
  qc.block_id = id_of(static_cast<std::uint8_t>(view));
  for (ReplicaId s : signers) qc.signatures.push_back({s, filled(3 + s % 5, static_cast<std::uint8_t>(s))});
  return qc;
}

TimeoutCertificate sample_tc(View view) {
  TimeoutCertificate tc;
  tc.view = view;
  // Signers across two bitmap bytes, one at the top of the validator range.
  tc.entries = {{0, 0, filled(4, 1)}, {9, view - 1, filled(2, 9)}, {127, 300, filled(70, 3)}};
  return tc;
}

Block sample_block(View view, std::size_t payload_bytes) {
  Block b;
  b.justify = sample_qc(view - 1, {0, 1, 2, 5});
  b.parent = b.justify.block_id;
  b.view = view;
  b.height = view * 3;
  b.proposer = static_cast<ReplicaId>(view % 4);
  b.payload = filled(payload_bytes, 0x40);
  return b;
}

// One of every message type, with optional parts both present and absent and
// numbers on both sides of the varint byte boundaries.
std::vector<Message> sample_messages() {
  std::vector<Message> m;
  Proposal p;
  p.block = sample_block(2, 10);
  p.signature = filled(64, 7);
  m.push_back(p);
  p.block = sample_block(300, 0);
  p.tc = sample_tc(299);
  m.push_back(p);
  m.push_back(Vote{1, id_of(1), 3, filled(32, 2)});
  m.push_back(Vote{(1ull << 40) + 5, id_of(9), 127, {}});
  m.push_back(Timeout{7, sample_qc(6, {1, 2, 3}), 2, filled(5, 5)});
  m.push_back(Timeout{1, genesis_qc(genesis_block(1)), 0, filled(1, 0)});
  m.push_back(SyncCertificates{});
  m.push_back(SyncCertificates{sample_qc(129, {0, 8, 16}), std::nullopt});
  m.push_back(SyncCertificates{std::nullopt, sample_tc(130)});
  m.push_back(SyncCertificates{sample_qc(4, {3, 4}), sample_tc(5)});
  m.push_back(FetchRequest{id_of(4), 1});
  m.push_back(FetchRequest{id_of(5), static_cast<std::uint32_t>(limits::consensus_fetch_blocks_max)});
  m.push_back(FetchResponse{});
  m.push_back(FetchResponse{{sample_block(3, 1), sample_block(2, 200), genesis_block(9)}});
  return m;
}

std::string type_name(const Message& m) {
  static const char* names[] = {"proposal", "vote", "timeout", "sync", "fetch_request", "fetch_response"};
  return names[m.index()];
}

TEST(MessagesTest, SamplesCoverEveryType) {
  std::set<std::size_t> types;
  for (const Message& m : sample_messages()) types.insert(m.index());
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

TEST(MessagesTest, DecodeOfEncodeIsIdentity) {
  for (const Message& m : sample_messages()) {
    const Bytes bytes = encode_message(m);
    auto decoded = decode_message(bytes);
    ASSERT_TRUE(decoded.ok()) << type_name(m) << ": " << describe(decoded.error());
    EXPECT_TRUE(equal(*decoded, m)) << type_name(m);
    // Canonical: the decoded value encodes to the very same bytes.
    EXPECT_EQ(encode_message(*decoded), bytes) << type_name(m);
  }
}

TEST(MessagesTest, TypeTagsAreStable) {
  const std::vector<Message> m = sample_messages();
  for (const Message& message : m) {
    EXPECT_EQ(std::size_t{encode_message(message)[0]}, message.index() + 1) << type_name(message);
  }
}

TEST(MessagesTest, EveryTruncationIsRefused) {
  for (const Message& m : sample_messages()) {
    const Bytes bytes = encode_message(m);
    for (std::size_t size = 0; size < bytes.size(); ++size) {
      auto decoded = decode_message(ByteSpan(bytes.data(), size));
      ASSERT_FALSE(decoded.ok()) << type_name(m) << " cut to " << size << " of " << bytes.size();
      EXPECT_EQ(decoded.error(), CodecError::truncated) << type_name(m) << " cut to " << size;
    }
  }
}

TEST(MessagesTest, TrailingBytesAreRefused) {
  for (const Message& m : sample_messages()) {
    Bytes bytes = encode_message(m);
    bytes.push_back(0);
    auto decoded = decode_message(bytes);
    ASSERT_FALSE(decoded.ok()) << type_name(m);
    EXPECT_EQ(decoded.error(), CodecError::trailing_bytes) << type_name(m);
  }
}

TEST(MessagesTest, OversizedMessageIsRefusedBeforeParsing) {
  // A valid vote followed by padding up to one byte over the limit.
  Bytes bytes = encode_message(Vote{1, id_of(1), 1, filled(8, 1)});
  bytes.resize(limits::message_size_max + 1, 0);
  auto decoded = decode_message(bytes);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.error(), CodecError::too_long);
}

TEST(MessagesTest, LargestPayloadRoundTripsAndOneMoreByteIsRefused) {
  Proposal p;
  p.block = sample_block(5, limits::block_payload_bytes_max);
  const Bytes bytes = encode_message(p);
  auto decoded = decode_message(bytes);
  ASSERT_TRUE(decoded.ok()) << describe(decoded.error());
  EXPECT_TRUE(equal(*decoded, Message(p)));
  // The same proposal with a payload one byte longer, written with a looser bound.
  Bytes over;
  Writer w(over);
  w.u8(static_cast<std::uint8_t>(MessageType::proposal));
  w.fixed(p.block.parent.bytes);
  w.varint(p.block.view);
  w.varint(p.block.height);
  w.varint(p.block.proposer);
  Bytes qc = encode_message(SyncCertificates{p.block.justify, std::nullopt});
  w.fixed(ByteSpan(qc).subspan(2, qc.size() - 3));  // tag, has_qc ... has_tc: the QC alone
  w.bytes(filled(limits::block_payload_bytes_max + 1, 0), limits::block_payload_bytes_max + 1);
  w.boolean(false);
  w.bytes({}, limits::signature_bytes_max);
  auto refused = decode_message(over);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), CodecError::too_long);
}

// Hand-built encodings of fields outside their domain.
class Crafted {
 public:
  Crafted() : w_(bytes_) {}
  Writer& w() { return w_; }
  Result<Message, CodecError> decode() const { return decode_message(bytes_); }

 private:
  Bytes bytes_;
  Writer w_;
};

void write_vote_head(Writer& w) {
  w.u8(static_cast<std::uint8_t>(MessageType::vote));
  w.varint(3);
  w.fixed(id_of(3).bytes);
}

TEST(MessagesTest, OversizedFieldsAreRefused) {
  {  // signature one byte over signature_bytes_max
    Crafted c;
    write_vote_head(c.w());
    c.w().varint(1);
    c.w().bytes(Bytes(limits::signature_bytes_max + 1, 1), limits::signature_bytes_max + 1);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::too_long);
  }
  {  // voter id = validators_max
    Crafted c;
    write_vote_head(c.w());
    c.w().varint(limits::validators_max);
    c.w().bytes({}, 0);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::too_long);
  }
  {  // fetch request for consensus_fetch_blocks_max + 1 blocks
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::fetch_request));
    c.w().fixed(id_of(1).bytes);
    c.w().varint(limits::consensus_fetch_blocks_max + 1);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::too_long);
  }
  {  // fetch response announcing consensus_fetch_blocks_max + 1 blocks
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::fetch_response));
    c.w().varint(limits::consensus_fetch_blocks_max + 1);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::too_long);
  }
  {  // signer bitmap of 17 bytes (validators_max = 128 needs 16)
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::sync_certificates));
    c.w().boolean(true);
    c.w().varint(1);
    c.w().fixed(id_of(1).bytes);
    c.w().bytes(Bytes(17, 1), 17);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::too_long);
  }
}

TEST(MessagesTest, OutOfDomainValuesAreRefused) {
  for (std::uint8_t tag : {0, 7, 0xff}) {
    Crafted c;
    c.w().u8(tag);
    ASSERT_FALSE(c.decode().ok()) << int{tag};
    EXPECT_EQ(c.decode().error(), CodecError::invalid_value);
  }
  {  // non-canonical bitmap: a trailing zero byte
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::sync_certificates));
    c.w().boolean(true);
    c.w().varint(1);
    c.w().fixed(id_of(1).bytes);
    c.w().bytes(Bytes{0x01, 0x00}, 16);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::invalid_value);
  }
  {  // a fetch request for zero blocks
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::fetch_request));
    c.w().fixed(id_of(1).bytes);
    c.w().varint(0);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::invalid_value);
  }
  {  // an optional-presence byte that is not 0 or 1
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::sync_certificates));
    c.w().u8(2);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::invalid_value);
  }
  {  // a non-minimal varint view in a vote
    Crafted c;
    c.w().u8(static_cast<std::uint8_t>(MessageType::vote));
    c.w().u8(0x81);
    c.w().u8(0x00);
    ASSERT_FALSE(c.decode().ok());
    EXPECT_EQ(c.decode().error(), CodecError::varint_non_canonical);
  }
}

// Random corruptions of valid encodings: each either fails with a CodecError or
// decodes to a value whose encoding is exactly the input (canonical).
TEST(MessagesTest, CorruptedEncodingsFailOrAreCanonical) {
  Prng prng(5);
  std::size_t decoded_count = 0;
  for (const Message& m : sample_messages()) {
    const Bytes original = encode_message(m);
    for (int trial = 0; trial < 300; ++trial) {
      Bytes bytes = original;
      const std::uint64_t flips = 1 + prng.uniform(3);
      for (std::uint64_t f = 0; f < flips; ++f) {
        bytes[prng.uniform(bytes.size())] ^= static_cast<std::uint8_t>(1 + prng.uniform(255));
      }
      auto decoded = decode_message(bytes);
      if (!decoded.ok()) continue;
      ++decoded_count;
      ASSERT_EQ(encode_message(*decoded), bytes) << type_name(m) << " trial " << trial;
    }
  }
  EXPECT_GT(decoded_count, 0u);  // some corruptions hit free fields (ids, signatures)
}

// consensus.block_id_memo, both sides (Block::id() and compute_block_id): the id
// is always SHA-256 of the block's encoding; with the memo on it follows every
// field change and, after forget_id(), in-place byte changes too.
class BlockIdMemo : public ::testing::TestWithParam<bool> {};

TEST_P(BlockIdMemo, IdIsTheHashOfTheEncodingThroughChanges) {
  // The core's choice (Config::block_id_memo, from the gate): the memo or a fresh hash.
  const auto id_of = [](const Block& x) { return GetParam() ? x.id() : compute_block_id(x); };
  const auto expected = [](const Block& b) {
    return sha256(encode_block(b));
  };
  Block b = sample_block(7, 4096);
  const BlockId first = id_of(b);
  EXPECT_EQ(first, expected(b));
  EXPECT_EQ(id_of(b), first);
  EXPECT_EQ(b.id_memo_.valid, GetParam());
  // Every header field, the QC and the payload size are part of the memo's key.
  const std::vector<std::function<void(Block&)>> changes = {
      [](Block& x) { x.view += 1; },
      [](Block& x) { x.height += 1; },
      [](Block& x) { x.proposer = static_cast<ReplicaId>(x.proposer + 1); },
      [](Block& x) { x.parent.bytes[0] ^= 1; },
      [](Block& x) { x.justify.view += 1; },
      [](Block& x) { x.justify.block_id.bytes[31] ^= 1; },
      [](Block& x) { x.justify.signatures.pop_back(); },
      [](Block& x) { x.justify.signatures.back().signer += 1; },  // another quorum, same count
      [](Block& x) { x.payload.push_back(1); },
      [](Block& x) { x.payload = filled(4096, 0x41); x.payload.pop_back(); },
  };
  std::set<std::string> ids{first.hex()};
  for (const auto& change : changes) {
    Block c = b;
    (void)id_of(c);
    change(c);
    EXPECT_EQ(id_of(c), expected(c));
    ids.insert(id_of(c).hex());
  }
  EXPECT_EQ(ids.size(), changes.size() + 1);
  // Bytes changed in place: forget_id() makes the next id() recompute.
  Block d = b;
  (void)id_of(d);
  d.payload[100] ^= 0xff;
  d.forget_id();
  EXPECT_EQ(id_of(d), expected(d));
  EXPECT_NE(id_of(d), first);
  // A copy and a move keep a correct id.
  Block copy = d;
  EXPECT_EQ(id_of(copy), expected(d));
  Block moved = std::move(copy);
  EXPECT_EQ(id_of(moved), expected(d));
  // A decoded block starts without a memo and gets the sender's id.
  const Bytes wire = encode_message(Message(Proposal{b, std::nullopt, filled(8, 1)}));
  auto decoded = decode_message(wire);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(id_of(std::get<Proposal>(*decoded).block), first);
}

INSTANTIATE_TEST_SUITE_P(Gate, BlockIdMemo, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "memo" : "nomemo"); });

// Seeds for messages_fuzz: KESTREL_WRITE_FUZZ_SEEDS=dir writes every sample's
// encoding there (one file each). Does nothing otherwise.
TEST(MessagesTest, WriteFuzzSeeds) {
  const char* dir = std::getenv("KESTREL_WRITE_FUZZ_SEEDS");
  if (!dir) GTEST_SKIP() << "KESTREL_WRITE_FUZZ_SEEDS not set";
  std::filesystem::create_directories(dir);
  int index = 0;
  for (const Message& m : sample_messages()) {
    const Bytes bytes = encode_message(m);
    std::ofstream out(std::string(dir) + "/seed_" + std::to_string(index++) + "_" + type_name(m), std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
}

}  // namespace
}  // namespace kestrel::hotstuff2
