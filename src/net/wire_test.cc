#include "net/wire.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "common/limits.h"
#include "crypto/random.h"

namespace kestrel::net::wire {
namespace {

Hello sample_hello(KeyExchange kx) {
  Hello h;
  h.key_exchange = kx;
  h.scheme_tag = 2;
  h.cluster_id.bytes.fill(9);
  h.initiator = 3;
  h.responder = 7;
  crypto::random_bytes(h.x25519_public);
  crypto::random_bytes(h.mlkem_ek);
  crypto::random_bytes(h.nonce);
  return h;
}

TEST(WireTest, HelloRoundTripBothKeyExchanges) {
  for (auto kx : {KeyExchange::hybrid, KeyExchange::x25519}) {
    const Hello h = sample_hello(kx);
    Bytes enc;
    encode_hello(h, enc);
    auto dec = decode_hello(enc);
    ASSERT_TRUE(dec.ok());
    EXPECT_EQ(dec->key_exchange, kx);
    EXPECT_EQ(dec->initiator, 3);
    EXPECT_EQ(dec->responder, 7);
    EXPECT_EQ(dec->x25519_public, h.x25519_public);
    if (kx == KeyExchange::hybrid) {
      EXPECT_EQ(dec->mlkem_ek, h.mlkem_ek);
    }
    EXPECT_EQ(dec->nonce, h.nonce);
    EXPECT_EQ(dec->cluster_id, h.cluster_id);
    // Every truncation and one extra byte are refused.
    for (std::size_t n = 0; n < enc.size(); ++n) {
      EXPECT_FALSE(decode_hello(ByteSpan(enc).first(n)).ok()) << n;
    }
    Bytes longer = enc;
    longer.push_back(0);
    EXPECT_EQ(decode_hello(longer).error(), WireError::malformed);
  }
}

TEST(WireTest, HelloRejectsBadVersionKindAndValidatorRange) {
  Bytes enc;
  encode_hello(sample_hello(KeyExchange::hybrid), enc);
  Bytes v = enc;
  v[0] = 2;
  EXPECT_EQ(decode_hello(v).error(), WireError::bad_version);
  Bytes k = enc;
  k[1] = 9;
  EXPECT_EQ(decode_hello(k).error(), WireError::malformed);
  Hello h = sample_hello(KeyExchange::x25519);
  h.initiator = limits::validators_max;  // out of range
  Bytes out;
  encode_hello(h, out);
  EXPECT_EQ(decode_hello(out).error(), WireError::malformed);
  EXPECT_EQ(decode_hello(Bytes(limits::net_handshake_message_bytes_max + 1)).error(),
            WireError::oversized);
}

TEST(WireTest, ReplyAndFinishRoundTrip) {
  Reply r;
  r.responder = 5;
  crypto::random_bytes(r.x25519_public);
  crypto::random_bytes(r.mlkem_ciphertext);
  Bytes enc;
  encode_reply_unsigned(r, enc);
  const std::size_t unsigned_size = enc.size();
  const Bytes signature(3309, 0xAB);
  append_signature(signature, enc);
  std::size_t got_unsigned = 0;
  auto dec = decode_reply(enc, got_unsigned);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(got_unsigned, unsigned_size);
  EXPECT_EQ(dec->mlkem_ciphertext, r.mlkem_ciphertext);
  EXPECT_TRUE(std::equal(dec->signature.begin(), dec->signature.end(), signature.begin(), signature.end()));
  Bytes fin;
  encode_finish(signature, fin);
  auto f = decode_finish(fin);
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->signature.size(), signature.size());
  fin.pop_back();
  EXPECT_FALSE(decode_finish(fin).ok());
}

TEST(WireTest, KeysDependOnEverySecretAndTranscript) {
  Bytes x(32, 1), k(32, 2);
  Hash32 t;
  t.bytes.fill(3);
  auto base = derive_session_keys(x, k, t);
  ASSERT_TRUE(base.ok());
  EXPECT_NE(base->initiator_to_responder, base->responder_to_initiator);
  Bytes x2 = x;
  x2[0] ^= 1;
  Bytes k2 = k;
  k2[31] ^= 1;
  Hash32 t2 = t;
  t2.bytes[5] ^= 1;
  EXPECT_NE(derive_session_keys(x2, k, t)->initiator_to_responder, base->initiator_to_responder);
  EXPECT_NE(derive_session_keys(x, k2, t)->initiator_to_responder, base->initiator_to_responder);
  EXPECT_NE(derive_session_keys(x, k, t2)->initiator_to_responder, base->initiator_to_responder);
  EXPECT_NE(derive_session_keys(x, {}, t)->initiator_to_responder, base->initiator_to_responder);
  EXPECT_FALSE(derive_session_keys(Bytes(31), k, t).ok());
}

Bytes make_frame(FrameCipher& c, ByteSpan plaintext) {
  Bytes f(frame_header_bytes + plaintext.size() + crypto::aead_tag_bytes);
  std::copy(plaintext.begin(), plaintext.end(), f.begin() + frame_header_bytes);
  c.seal(f);
  return f;
}

Status<WireError> open_frame(FrameCipher& c, Bytes f) {
  std::span<const std::uint8_t, 4> header(f.data(), 4);
  auto length = decode_frame_length(header);
  if (!length) return Err(length.error());
  if (*length != f.size() - 4) return Err(WireError::malformed);
  return c.open(header, MutableByteSpan(f).subspan(4));
}

TEST(WireTest, FramesRejectTamperReplayReorderAndWrongKey) {
  crypto::AeadKey key{};
  crypto::random_bytes(key);
  FrameCipher tx(key, 1000, 1 << 20), rx(key, 1000, 1 << 20);
  const Bytes pt = {0, 1, 2, 3, 4, 5};
  const Bytes f0 = make_frame(tx, pt), f1 = make_frame(tx, pt), f2 = make_frame(tx, pt);
  EXPECT_TRUE(open_frame(rx, f0).ok());
  EXPECT_EQ(open_frame(rx, f0).error(), WireError::authentication_failed);  // replay
  EXPECT_EQ(open_frame(rx, f2).error(), WireError::authentication_failed);  // reorder
  Bytes tampered = f1;
  tampered[6] ^= 0x40;
  EXPECT_EQ(open_frame(rx, tampered).error(), WireError::authentication_failed);
  Bytes tag_tampered = f1;
  tag_tampered.back() ^= 1;
  EXPECT_EQ(open_frame(rx, tag_tampered).error(), WireError::authentication_failed);
  EXPECT_TRUE(open_frame(rx, f1).ok());  // failures do not advance the counter
  EXPECT_TRUE(open_frame(rx, f2).ok());
  crypto::AeadKey other = key;
  other[0] ^= 1;
  FrameCipher wrong(other, 1000, 1 << 20);
  EXPECT_EQ(open_frame(wrong, f0).error(), WireError::authentication_failed);
}

TEST(WireTest, BothEndsRekeyInStepOnFramesAndBytes) {
  crypto::AeadKey key{};
  crypto::random_bytes(key);
  FrameCipher tx(key, 3, 100), rx(key, 3, 100);
  FrameCipher never(key, limits::net_rekey_frames_max, limits::net_rekey_bytes_max);
  std::vector<Bytes> frames;
  for (int i = 0; i < 20; ++i) {
    const Bytes pt(static_cast<std::size_t>(1 + i * 7), static_cast<std::uint8_t>(i));
    frames.push_back(make_frame(tx, pt));
  }
  for (auto& f : frames) EXPECT_TRUE(open_frame(rx, f).ok());
  EXPECT_GT(tx.rekeys(), 3u);
  EXPECT_EQ(tx.rekeys(), rx.rekeys());
  // A receiver that does not rekey fails from the first frame after the rekey.
  int opened = 0;
  for (auto& f : frames) {
    if (!open_frame(never, f).ok()) break;
    ++opened;
  }
  EXPECT_GE(opened, 1);
  EXPECT_LT(opened, 4);
}

TEST(WireTest, FrameLengthBounds) {
  auto header = [](std::uint32_t v) {
    return std::array<std::uint8_t, 4>{static_cast<std::uint8_t>(v), static_cast<std::uint8_t>(v >> 8),
                                       static_cast<std::uint8_t>(v >> 16), static_cast<std::uint8_t>(v >> 24)};
  };
  EXPECT_EQ(decode_frame_length(header(limits::frame_bytes_max + 1)).error(), WireError::oversized);
  EXPECT_EQ(decode_frame_length(header(0xFFFFFFFF)).error(), WireError::oversized);
  EXPECT_EQ(decode_frame_length(header(16)).error(), WireError::undersized);
  EXPECT_EQ(*decode_frame_length(header(17)), 17u);
  EXPECT_EQ(*decode_frame_length(header(limits::frame_bytes_max)), limits::frame_bytes_max);
}

TEST(WireTest, MessagesDecodeInOrderAndRejectGarbage) {
  Bytes body;
  for (std::uint16_t i = 0; i < 50; ++i) append_message(i, Bytes(i, static_cast<std::uint8_t>(i)), body);
  std::vector<std::uint16_t> types;
  auto n = decode_messages(body, [&](std::uint16_t type, ByteSpan payload) {
    EXPECT_EQ(payload.size(), type);
    types.push_back(type);
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 50u);
  for (std::uint16_t i = 0; i < 50; ++i) EXPECT_EQ(types[i], i);
  Bytes cut = body;
  cut.pop_back();
  EXPECT_FALSE(decode_messages(cut, [](std::uint16_t, ByteSpan) {}).ok());
  EXPECT_FALSE(decode_messages(Bytes{}, [](std::uint16_t, ByteSpan) {}).ok());
  const Bytes huge_type = {0xFF, 0xFF, 0x7F, 0x00};  // type 2^21 - 1 > 0xFFFF
  EXPECT_FALSE(decode_messages(huge_type, [](std::uint16_t, ByteSpan) {}).ok());
  EXPECT_EQ(message_record_bytes(0) >= 2, true);
}

TEST(WireTest, CompressionRoundTripAndBombBounded) {
  Bytes body;
  for (int i = 0; i < 1000; ++i) append_message(1, as_bytes("hello hello hello"), body);
  Bytes compressed;
  ASSERT_TRUE(compress_body(body, compressed));
  EXPECT_LT(compressed.size(), body.size() / 4);
  Bytes inflated;
  ASSERT_TRUE(decompress_body(compressed, inflated).ok());
  EXPECT_EQ(inflated, body);
  // Random data does not compress: refused, output untouched.
  Bytes noise(8192);
  crypto::random_bytes(noise);
  Bytes out;
  EXPECT_FALSE(compress_body(noise, out));
  EXPECT_TRUE(out.empty());
  // A stated size above frame_bytes_max is refused before allocation.
  Bytes bomb;
  Writer(bomb).varint(limits::frame_bytes_max + 1);
  EXPECT_EQ(decompress_body(bomb, out).error(), WireError::decompression_failed);
  // A size that lies about the content is refused.
  Bytes liar;
  Writer(liar).varint(body.size() + 1);
  liar.insert(liar.end(), compressed.begin() + 3, compressed.end());
  EXPECT_FALSE(decompress_body(liar, out).ok());
}

}  // namespace
}  // namespace kestrel::net::wire
