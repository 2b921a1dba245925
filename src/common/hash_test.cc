#include "common/hash.h"

#include <gtest/gtest.h>

#include <string>

#include "common/gates.h"
#include "common/prng.h"

namespace kestrel {
namespace {

// FIPS 180-4 examples (NIST "Cryptographic Standards and Guidelines: Examples
// with Intermediate Values", SHA-256): one block, two blocks, one million 'a'.
class Sha256BothPathsTest : public ::testing::TestWithParam<bool> {
 protected:
  ScopedGate gate_{Gate::common_sha256_reuse_context, GetParam()};
};

TEST_P(Sha256BothPathsTest, Fips180Examples) {
  EXPECT_EQ(sha256(as_bytes("abc")).hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256(as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")).hex(),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256(as_bytes("")).hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string million(1000000, 'a');
  EXPECT_EQ(sha256(as_bytes(million)).hex(),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

INSTANTIATE_TEST_SUITE_P(ReuseContext, Sha256BothPathsTest, ::testing::Bool());

TEST(Sha256Test, BothPathsAgreeOnRandomInputs) {
  Prng prng(8);
  for (int i = 0; i < 200; ++i) {
    Bytes data(prng.uniform(300));
    prng.fill(data);
    Hash32 a, b;
    {
      ScopedGate off(Gate::common_sha256_reuse_context, false);
      a = sha256(data);
    }
    {
      ScopedGate on(Gate::common_sha256_reuse_context, true);
      b = sha256(data);
    }
    ASSERT_EQ(a, b);
  }
}

TEST(Sha256Test, IncrementalMatchesOneShotAtEverySplit) {
  Prng prng(7);
  Bytes data(300);
  prng.fill(data);
  const Hash32 expected = sha256(data);
  for (std::size_t split = 0; split <= data.size(); split += 13) {
    Sha256 h;
    h.update(ByteSpan(data).first(split));
    h.update(ByteSpan(data).subspan(split));
    EXPECT_EQ(h.finish(), expected) << "split " << split;
  }
}

TEST(Hash32Test, HexRoundTripAndOrdering) {
  const Hash32 a = sha256(as_bytes("a"));
  const Hash32 b = sha256(as_bytes("b"));
  EXPECT_EQ(*Hash32::from_hex(a.hex()), a);
  EXPECT_NE(a, b);
  EXPECT_TRUE((a < b) != (b < a));
  EXPECT_EQ(Hash32::from_hex("abcd").error(), HexError::wrong_length);
  EXPECT_NE(Hash32Hasher{}(a), Hash32Hasher{}(b));
}

}  // namespace
}  // namespace kestrel
