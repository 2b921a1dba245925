#include "node/payload.h"

#include <gtest/gtest.h>

#include "common/prng.h"

namespace kestrel::node {
namespace {

RawEntry raw_entry(std::uint64_t i) {
  RawEntry e;
  e.origin = static_cast<std::uint16_t>(i % 4);
  e.connection = i * 7;
  e.sequence = i;
  for (std::size_t b = 0; b < e.command.size(); ++b) e.command[b] = static_cast<std::uint8_t>(i + b);
  return e;
}

TEST(PayloadTest, EmptyPayloadIsNoBytes) {
  EXPECT_TRUE(encode_payload({}, {}).empty());
  auto p = decode_payload({});
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->transactions.empty());
  EXPECT_TRUE(p->raw.empty());
  // The empty payload has only that encoding.
  const Bytes explicit_empty{1, 0, 0};
  EXPECT_FALSE(decode_payload(explicit_empty).ok());
}

TEST(PayloadTest, RoundTripAndCanonical) {
  std::vector<Bytes> txs{Bytes{1, 2, 3}, Bytes(300, 9), Bytes{7}};
  std::vector<RawEntry> raw{raw_entry(1), raw_entry(2), raw_entry(99)};
  const Bytes encoded = encode_payload(txs, raw);
  auto p = decode_payload(encoded);
  ASSERT_TRUE(p.ok());
  ASSERT_EQ(p->transactions.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(Bytes(p->transactions[i].begin(), p->transactions[i].end()), txs[i]);
  EXPECT_EQ(p->raw, raw);
  std::vector<Bytes> copies;
  for (ByteSpan t : p->transactions) copies.emplace_back(t.begin(), t.end());
  EXPECT_EQ(encode_payload(copies, p->raw), encoded);
}

TEST(PayloadTest, EveryTruncationAndTrailingByteIsRefused) {
  const Bytes encoded = encode_payload(std::vector<Bytes>{Bytes{1, 2, 3}}, std::vector<RawEntry>{raw_entry(5)});
  for (std::size_t len = 1; len < encoded.size(); ++len) {
    EXPECT_FALSE(decode_payload(ByteSpan(encoded).first(len)).ok()) << len;
  }
  Bytes longer = encoded;
  longer.push_back(0);
  EXPECT_FALSE(decode_payload(longer).ok());
  Bytes wrong_version = encoded;
  wrong_version[0] = 2;
  EXPECT_FALSE(decode_payload(wrong_version).ok());
}

TEST(PayloadTest, RandomBytesDecodeOrFailAndReencodeIdentically) {
  Prng prng(42);
  for (int i = 0; i < 20000; ++i) {
    Bytes b(prng.next_u64() % 80);
    for (auto& x : b) x = static_cast<std::uint8_t>(prng.next_u64());
    if (!b.empty() && prng.next_u64() % 2) b[0] = 1;
    auto p = decode_payload(b);
    if (!p) continue;
    std::vector<Bytes> copies;
    for (ByteSpan t : p->transactions) copies.emplace_back(t.begin(), t.end());
    EXPECT_EQ(encode_payload(copies, p->raw), b);
  }
}

TEST(PayloadTest, GossipBatchesRoundTrip) {
  std::vector<Bytes> txs{Bytes{4, 5}, Bytes(70, 1)};
  const Bytes encoded = encode_transaction_batch(txs);  // the views point into it
  auto t = decode_transaction_batch(encoded);
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ(Bytes((*t)[1].begin(), (*t)[1].end()), txs[1]);
  std::vector<RawEntry> raw{raw_entry(3), raw_entry(4)};
  auto r = decode_raw_batch(encode_raw_batch(raw));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, raw);
  Bytes bad = encode_raw_batch(raw);
  bad.pop_back();
  EXPECT_FALSE(decode_raw_batch(bad).ok());
}

}  // namespace
}  // namespace kestrel::node
