#include "common/codec.h"

#include <gtest/gtest.h>

#include <limits>

#include "common/limits.h"
#include "common/prng.h"

namespace kestrel {
namespace {

Bytes encode_varint(std::uint64_t v) {
  Bytes out;
  Writer(out).varint(v);
  return out;
}

TEST(CodecTest, FixedWidthIsLittleEndian) {
  Bytes out;
  Writer w(out);
  w.u8(0x01);
  w.u16(0x0302);
  w.u32(0x07060504);
  w.u64(0x0f0e0d0c0b0a0908ULL);
  w.boolean(true);
  ASSERT_EQ(out.size(), 16u);
  for (std::size_t i = 0; i < 15; ++i) EXPECT_EQ(out[i], i + 1);
  EXPECT_EQ(out[15], 1);
  Reader r(out);
  EXPECT_EQ(*r.u8(), 0x01);
  EXPECT_EQ(*r.u16(), 0x0302);
  EXPECT_EQ(*r.u32(), 0x07060504u);
  EXPECT_EQ(*r.u64(), 0x0f0e0d0c0b0a0908ULL);
  EXPECT_TRUE(*r.boolean());
  EXPECT_TRUE(r.finish().ok());
}

TEST(CodecTest, VarintKnownEncodings) {
  EXPECT_EQ(encode_varint(0), (Bytes{0x00}));
  EXPECT_EQ(encode_varint(127), (Bytes{0x7f}));
  EXPECT_EQ(encode_varint(128), (Bytes{0x80, 0x01}));
  EXPECT_EQ(encode_varint(300), (Bytes{0xac, 0x02}));
  const Bytes max = encode_varint(std::numeric_limits<std::uint64_t>::max());
  ASSERT_EQ(max.size(), limits::varint_bytes_max);
  EXPECT_EQ(max.back(), 0x01);
}

TEST(CodecTest, VarintRoundTripsBoundaries) {
  for (int bit = 0; bit < 64; ++bit) {
    for (std::uint64_t v : {(1ULL << bit) - 1, 1ULL << bit, (1ULL << bit) + 1}) {
      const Bytes b = encode_varint(v);
      Reader r(b);
      auto decoded = r.varint();
      ASSERT_TRUE(decoded.ok()) << v;
      EXPECT_EQ(*decoded, v);
      EXPECT_TRUE(r.finish().ok());
    }
  }
}

TEST(CodecTest, VarintRejectsNonCanonicalOverflowAndTruncation) {
  const Bytes padded_zero{0x80, 0x00};
  EXPECT_EQ(Reader(padded_zero).varint().error(), CodecError::varint_non_canonical);
  const Bytes padded_one{0x81, 0x80, 0x00};
  EXPECT_EQ(Reader(padded_one).varint().error(), CodecError::varint_non_canonical);
  Bytes eleven(10, 0xff);
  eleven.push_back(0x01);
  EXPECT_EQ(Reader(eleven).varint().error(), CodecError::varint_overflow);
  Bytes too_big(9, 0xff);
  too_big.push_back(0x02);  // bit 64
  EXPECT_EQ(Reader(too_big).varint().error(), CodecError::varint_overflow);
  const Bytes truncated{0x80};
  EXPECT_EQ(Reader(truncated).varint().error(), CodecError::truncated);
  EXPECT_EQ(Reader(ByteSpan{}).varint().error(), CodecError::truncated);
}

TEST(CodecTest, BytesRespectCallerMaximumBeforeReading) {
  Bytes out;
  Writer w(out);
  const Bytes payload{1, 2, 3, 4, 5};
  w.bytes(payload, 5);
  {
    Reader r(out);
    auto view = r.bytes(5);
    ASSERT_TRUE(view.ok());
    EXPECT_EQ(Bytes(view->begin(), view->end()), payload);
  }
  EXPECT_EQ(Reader(out).bytes(4).error(), CodecError::too_long);
  // A huge declared length is refused by its maximum, not by reading.
  const Bytes huge = encode_varint(1ULL << 40);
  EXPECT_EQ(Reader(huge).bytes(1 << 20).error(), CodecError::too_long);
  // Declared length within the maximum but beyond the input.
  Bytes short_input = encode_varint(10);
  short_input.push_back(7);
  EXPECT_EQ(Reader(short_input).bytes(100).error(), CodecError::truncated);
}

TEST(CodecTest, FixedAndTrailingBytes) {
  const Bytes in{9, 8, 7};
  Reader r(in);
  std::uint8_t two[2];
  ASSERT_TRUE(r.fixed_into(two).ok());
  EXPECT_EQ(two[1], 8);
  EXPECT_EQ(r.finish().error(), CodecError::trailing_bytes);
  EXPECT_EQ(r.fixed(2).error(), CodecError::truncated);
  EXPECT_EQ(*r.u8(), 7);
  EXPECT_TRUE(r.finish().ok());
  EXPECT_EQ(r.u8().error(), CodecError::truncated);
  EXPECT_EQ(r.u64().error(), CodecError::truncated);
}

TEST(CodecTest, BooleanDomain) {
  const Bytes two{2};
  EXPECT_EQ(Reader(two).boolean().error(), CodecError::invalid_value);
  const Bytes zero{0};
  EXPECT_FALSE(*Reader(zero).boolean());
}

TEST(CodecTest, VarintMax) {
  const Bytes b = encode_varint(1000);
  EXPECT_EQ(*Reader(b).varint_max(1000), 1000u);
  EXPECT_EQ(Reader(b).varint_max(999).error(), CodecError::too_long);
}

// A small schema used by the property tests and the fuzzer: u32, varint, bool,
// bytes(<= 64), fixed(4).
struct Sample {
  std::uint32_t a = 0;
  std::uint64_t b = 0;
  bool c = false;
  Bytes d;
  std::array<std::uint8_t, 4> e{};
};

void encode(const Sample& s, Bytes& out) {
  Writer w(out);
  w.u32(s.a);
  w.varint(s.b);
  w.boolean(s.c);
  w.bytes(s.d, 64);
  w.fixed(s.e);
}

Result<Sample, CodecError> decode(ByteSpan in) {
  Reader r(in);
  Sample s;
  auto a = r.u32();
  if (!a) return Err(a.error());
  s.a = *a;
  auto b = r.varint();
  if (!b) return Err(b.error());
  s.b = *b;
  auto c = r.boolean();
  if (!c) return Err(c.error());
  s.c = *c;
  auto d = r.bytes(64);
  if (!d) return Err(d.error());
  s.d.assign(d->begin(), d->end());
  KESTREL_TRY(r.fixed_into(s.e));
  KESTREL_TRY(r.finish());
  return s;
}

TEST(CodecPropertyTest, EncodeThenDecodeIsIdentity) {
  Prng prng(11);
  for (int i = 0; i < 2000; ++i) {
    Sample s;
    s.a = static_cast<std::uint32_t>(prng.next_u64());
    s.b = prng.next_u64() >> prng.uniform(64);
    s.c = prng.chance(1, 2);
    s.d.resize(prng.uniform(65));
    prng.fill(s.d);
    prng.fill(s.e);
    Bytes wire;
    encode(s, wire);
    auto back = decode(wire);
    ASSERT_TRUE(back.ok()) << describe(back.error());
    EXPECT_EQ(back->a, s.a);
    EXPECT_EQ(back->b, s.b);
    EXPECT_EQ(back->c, s.c);
    EXPECT_EQ(back->d, s.d);
    EXPECT_EQ(back->e, s.e);
  }
}

TEST(CodecPropertyTest, DecodeThenEncodeReproducesInputOnRandomBytes) {
  Prng prng(12);
  int decoded = 0;
  for (int i = 0; i < 200000; ++i) {
    Bytes in(prng.uniform(24));
    prng.fill(in);
    // Bias towards plausible inputs: small lengths, valid bools.
    if (in.size() > 5) in[5] &= prng.chance(3, 4) ? 0x01 : 0xff;
    if (in.size() > 6 && prng.chance(1, 2)) in[6] = static_cast<std::uint8_t>(in.size() - 11);
    auto s = decode(in);
    if (!s) continue;
    ++decoded;
    Bytes again;
    encode(*s, again);
    ASSERT_EQ(again, in);
  }
  EXPECT_GT(decoded, 100);  // the property was actually exercised
}

}  // namespace
}  // namespace kestrel
