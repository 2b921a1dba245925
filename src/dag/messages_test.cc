// The DAG wire format: round trips, the id and what it covers, and refusals.
#include <gtest/gtest.h>

#include "common/limits.h"
#include "dag/dag.h"

namespace kestrel::dag {
namespace {

Vertex sample() {
  Vertex v;
  v.chain_id = 7;
  v.round = 12;
  v.author = 3;
  for (std::uint8_t i = 0; i < 3; ++i) {
    VertexId p;
    p.bytes[0] = i;
    p.bytes[31] = static_cast<std::uint8_t>(0xa0 + i);
    v.parents.push_back(p);
  }
  v.payload = Bytes{1, 2, 3, 4};
  v.signature = Bytes(40, 0x5a);
  return v;
}

TEST(DagMessages, VertexRoundTrips) {
  const Vertex v = sample();
  auto back = decode_vertex(encode_vertex(v));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->id(), v.id());
  EXPECT_EQ(back->signature, v.signature);
  EXPECT_EQ(back->parents, v.parents);
}

TEST(DagMessages, IdCoversEveryFieldButTheSignature) {
  const Vertex v = sample();
  const VertexId id = v.id();
  auto changed = [&](auto&& edit) {
    Vertex w = v;
    edit(w);
    return w.id() != id;
  };
  EXPECT_TRUE(changed([](Vertex& w) { ++w.chain_id; }));
  EXPECT_TRUE(changed([](Vertex& w) { ++w.round; }));
  EXPECT_TRUE(changed([](Vertex& w) { w.author = 2; }));
  EXPECT_TRUE(changed([](Vertex& w) { w.parents.pop_back(); }));
  EXPECT_TRUE(changed([](Vertex& w) { std::swap(w.parents[0], w.parents[1]); }));
  EXPECT_TRUE(changed([](Vertex& w) { w.payload.push_back(9); }));
  EXPECT_FALSE(changed([](Vertex& w) { w.signature[0] ^= 1; }));
  // What is signed is the id under its own domain tag: not the id's bytes alone.
  const Bytes signed_bytes = signing_bytes(id);
  EXPECT_EQ(signed_bytes.size(), 33u);
  EXPECT_EQ(Bytes(signed_bytes.begin() + 1, signed_bytes.end()), Bytes(id.bytes.begin(), id.bytes.end()));
  EXPECT_NE(signed_bytes[0], 0x61);  // not the id's domain tag
}

TEST(DagMessages, MessagesRoundTrip) {
  const Vertex v = sample();
  FetchRequest request{{v.id(), v.parents[0]}};
  FetchResponse response{{v, v}};
  for (const Message& m : {Message{VertexMessage{v}}, Message{request}, Message{response}}) {
    const Bytes encoded = encode_message(m);
    auto back = decode_message(encoded);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(back->index(), m.index());
    EXPECT_EQ(encode_message(*back), encoded);
  }
}

TEST(DagMessages, RefusesWhatIsNotCanonicalOrOutOfBounds) {
  const Bytes good = encode_message(VertexMessage{sample()});
  Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_EQ(decode_message(trailing).error(), CodecError::trailing_bytes);
  Bytes truncated(good.begin(), good.end() - 1);
  EXPECT_FALSE(decode_message(truncated).ok());
  EXPECT_EQ(decode_message(Bytes{9}).error(), CodecError::invalid_value);  // unknown tag
  EXPECT_FALSE(decode_message(Bytes{}).ok());
  // Round 0 is no round.
  Vertex zero = sample();
  zero.round = 0;
  Bytes encoded;
  {
    Vertex one = zero;
    one.round = 1;
    encoded = encode_vertex(one);
  }
  encoded[1] = 0;  // chain 7 is one byte; the round's varint follows it
  EXPECT_EQ(decode_vertex(encoded).error(), CodecError::invalid_value);
  // An empty fetch request, and one with more ids than a round of the largest cluster.
  EXPECT_EQ(decode_message(Bytes{2, 0}).error(), CodecError::invalid_value);
  Bytes many{2};
  Writer w(many);
  w.varint(limits::dag_fetch_ids_max + 1);
  EXPECT_EQ(decode_message(many).error(), CodecError::too_long);
  // More parents than validators.
  Bytes parents;
  Writer pw(parents);
  pw.varint(7);
  pw.varint(2);
  pw.varint(1);
  pw.varint(limits::validators_max + 1);
  EXPECT_EQ(decode_vertex(parents).error(), CodecError::too_long);
  // A message above the decoder's bound is refused before it is read.
  EXPECT_EQ(decode_message(Bytes(limits::dag_message_bytes_max + 1, 0)).error(), CodecError::too_long);
}

}  // namespace
}  // namespace kestrel::dag


