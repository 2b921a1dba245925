#include "common/bytes.h"

#include <gtest/gtest.h>

namespace kestrel {
namespace {

TEST(HexTest, RoundTripsEveryByte) {
  Bytes all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<std::uint8_t>(i);
  const std::string hex = to_hex(all);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  auto back = from_hex(hex);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, all);
}

TEST(HexTest, AcceptsUpperCaseAndEmpty) {
  EXPECT_EQ(*from_hex("ABcd"), (Bytes{0xab, 0xcd}));
  EXPECT_TRUE(from_hex("")->empty());
}

TEST(HexTest, RejectsMalformed) {
  EXPECT_EQ(from_hex("abc").error(), HexError::odd_length);
  EXPECT_EQ(from_hex("zz").error(), HexError::bad_digit);
  EXPECT_EQ(from_hex("0g").error(), HexError::bad_digit);
  std::uint8_t out[2];
  EXPECT_EQ(from_hex_exact("aabbcc", out).error(), HexError::wrong_length);
  EXPECT_TRUE(from_hex_exact("aabb", out).ok());
  EXPECT_EQ(out[1], 0xbb);
}

}  // namespace
}  // namespace kestrel
