// ML-KEM round trips, tampering and malformed inputs (FIPS 203 sections 6-7),
// on both paths. Known answers are checked by `kestrel kat` (ctest kat_mlkem).
#include "crypto/mlkem.h"

#include <gtest/gtest.h>

#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/ct.h"
#include "crypto/keccak.h"

namespace kestrel::crypto::mlkem {
namespace {

struct Case {
  ParameterSet set;
  bool avx2;
};

class MlKemTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (GetParam().avx2 && !cpu_features().avx2) GTEST_SKIP() << "CPU has no AVX2";
  }
  ScopedGate gate_{Gate::crypto_avx2, GetParam().avx2};
};

using Buffer = std::vector<std::uint8_t>;

TEST_P(MlKemTest, RoundTripAndImplicitRejection) {
  const ParameterSet set = GetParam().set;
  const Sizes s = sizes(set);
  Prng prng(100 + static_cast<int>(set));
  for (int round = 0; round < 20; ++round) {
    Buffer ek(s.ek_bytes), dk(s.dk_bytes), c(s.ciphertext_bytes);
    std::array<std::uint8_t, 32> d, z, m, k1, k2;
    prng.fill(d);
    prng.fill(z);
    prng.fill(m);
    ASSERT_TRUE(keygen_internal(set, ek, dk, d, z));
    ASSERT_TRUE(check_encapsulation_key(set, ek));
    ASSERT_TRUE(check_decapsulation_key(set, dk));
    ASSERT_TRUE(encaps_internal(set, k1, c, ek, m));
    ASSERT_TRUE(decaps(set, k2, c, dk));
    ASSERT_EQ(k1, k2);
    // A flipped bit anywhere yields J(z || c'), computed here from its definition.
    Buffer tampered = c;
    const std::size_t bit = prng.uniform(8 * c.size());
    tampered[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    ASSERT_TRUE(decaps(set, k2, tampered, dk));
    Buffer j_input(z.begin(), z.end());
    j_input.insert(j_input.end(), tampered.begin(), tampered.end());
    std::array<std::uint8_t, 32> rejection;
    keccak::shake256(rejection, j_input);
    ASSERT_EQ(k2, rejection) << "bit " << bit;
    ASSERT_NE(k2, k1);
  }
  // Random (OS-seeded) keys and ciphertexts.
  Buffer ek(s.ek_bytes), dk(s.dk_bytes), c(s.ciphertext_bytes);
  std::array<std::uint8_t, 32> k1, k2;
  ASSERT_TRUE(keygen(set, ek, dk));
  ASSERT_TRUE(encaps(set, k1, c, ek));
  ASSERT_TRUE(decaps(set, k2, c, dk));
  EXPECT_EQ(k1, k2);
  // Random bytes as a ciphertext still decapsulate (to the rejection key).
  Prng prng2(7);
  prng2.fill(c);
  ASSERT_TRUE(decaps(set, k2, c, dk));
  EXPECT_NE(k1, k2);
}

TEST_P(MlKemTest, BothPathsAgree) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU has no AVX2";
  const ParameterSet set = GetParam().set;
  const Sizes s = sizes(set);
  Prng prng(5);
  for (int round = 0; round < 10; ++round) {
    std::array<std::uint8_t, 32> d, z, m;
    prng.fill(d);
    prng.fill(z);
    prng.fill(m);
    Buffer out[2];
    for (bool avx2 : {false, true}) {
      ScopedGate g(Gate::crypto_avx2, avx2);
      Buffer ek(s.ek_bytes), dk(s.dk_bytes), c(s.ciphertext_bytes);
      std::array<std::uint8_t, 32> k, kd;
      ASSERT_TRUE(keygen_internal(set, ek, dk, d, z));
      ASSERT_TRUE(encaps_internal(set, k, c, ek, m));
      c[round] ^= 1;
      ASSERT_TRUE(decaps(set, kd, c, dk));
      Buffer& o = out[avx2];
      o.insert(o.end(), ek.begin(), ek.end());
      o.insert(o.end(), dk.begin(), dk.end());
      o.insert(o.end(), c.begin(), c.end());
      o.insert(o.end(), k.begin(), k.end());
      o.insert(o.end(), kd.begin(), kd.end());
    }
    ASSERT_EQ(out[0], out[1]);
  }
}

TEST_P(MlKemTest, MalformedInputsAreRefused) {
  const ParameterSet set = GetParam().set;
  const Sizes s = sizes(set);
  Buffer ek(s.ek_bytes), dk(s.dk_bytes), c(s.ciphertext_bytes);
  std::array<std::uint8_t, 32> seed{}, k;
  ASSERT_TRUE(keygen_internal(set, ek, dk, seed, seed));
  ASSERT_TRUE(encaps_internal(set, k, c, ek, seed));

  // Wrong lengths, one byte short or long, for every input.
  Buffer ek_short(ek.begin(), ek.end() - 1), dk_long(dk), c_short(c.begin(), c.end() - 1);
  dk_long.push_back(0);
  EXPECT_EQ(encaps_internal(set, k, c, ek_short, seed).error(), MlKemError::bad_length);
  EXPECT_EQ(decaps(set, k, c_short, dk).error(), MlKemError::bad_length);
  EXPECT_EQ(decaps(set, k, c, dk_long).error(), MlKemError::bad_length);
  EXPECT_EQ(decaps_internal(set, k, c_short, dk).error(), MlKemError::bad_length);
  EXPECT_EQ(check_encapsulation_key(set, ek_short).error(), MlKemError::bad_length);
  EXPECT_EQ(check_decapsulation_key(set, dk_long).error(), MlKemError::bad_length);
  Buffer ek_out(s.ek_bytes + 1, 0xAA), dk_out(s.dk_bytes, 0xAA);
  EXPECT_EQ(keygen_internal(set, ek_out, dk_out, seed, seed).error(), MlKemError::bad_length);
  EXPECT_EQ(dk_out, Buffer(s.dk_bytes, 0)) << "outputs are zeroed on failure";

  // Modulus check: coefficient 0 of t-hat set to q (0xD01) in ek.
  Buffer bad_ek = ek;
  bad_ek[0] = 0x01;
  bad_ek[1] = static_cast<std::uint8_t>((bad_ek[1] & 0xF0) | 0x0D);
  std::fill(k.begin(), k.end(), 0xAA);
  EXPECT_EQ(check_encapsulation_key(set, bad_ek).error(), MlKemError::ek_modulus_check_failed);
  EXPECT_EQ(encaps_internal(set, k, c, bad_ek, seed).error(), MlKemError::ek_modulus_check_failed);
  EXPECT_EQ(k, (std::array<std::uint8_t, 32>{})) << "shared key zeroed on failure";
  // The last coefficient (high nibble) set to 4095.
  bad_ek = ek;
  const std::size_t last = s.ek_bytes - 32 - 1;
  bad_ek[last] = 0xFF;
  bad_ek[last - 1] |= 0xF0;
  EXPECT_EQ(check_encapsulation_key(set, bad_ek).error(), MlKemError::ek_modulus_check_failed);

  // Hash check: any change to the ek part or the stored H(ek) of dk.
  const std::size_t ek_offset = s.dk_bytes - 2 * 32 - s.ek_bytes;
  for (std::size_t offset : {ek_offset, ek_offset + s.ek_bytes - 1, ek_offset + s.ek_bytes,
                             ek_offset + s.ek_bytes + 31}) {
    Buffer bad_dk = dk;
    bad_dk[offset] ^= 0x10;
    EXPECT_EQ(check_decapsulation_key(set, bad_dk).error(), MlKemError::dk_hash_check_failed) << offset;
    EXPECT_EQ(decaps(set, k, c, bad_dk).error(), MlKemError::dk_hash_check_failed) << offset;
  }
  // z and s-hat are not covered by the hash: such a dk passes the check.
  Buffer dk_z = dk;
  dk_z.back() ^= 1;
  EXPECT_TRUE(check_decapsulation_key(set, dk_z));
}

// ct_equal decides implicit rejection: every differing byte, at every offset
// of the word-wise loop and its tail, must count.
TEST(MlKemCtTest, CtEqualSeesEveryByte) {
  Prng prng(9);
  for (std::size_t length : {0u, 1u, 7u, 8u, 9u, 15u, 16u, 17u, 33u, 768u, 1088u, 1568u}) {
    Buffer a(length);
    prng.fill(a);
    const Buffer b = a;
    ASSERT_EQ(ct_equal(a, b), 1) << length;
    for (std::size_t i = 0; i < length; ++i) {
      Buffer c = a;
      c[i] ^= static_cast<std::uint8_t>(1u << (i % 8));
      ASSERT_EQ(ct_equal(a, c), 0) << length << " " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllSetsBothPaths, MlKemTest,
    ::testing::Values(Case{ParameterSet::ml_kem_512, false}, Case{ParameterSet::ml_kem_512, true},
                      Case{ParameterSet::ml_kem_768, false}, Case{ParameterSet::ml_kem_768, true},
                      Case{ParameterSet::ml_kem_1024, false}, Case{ParameterSet::ml_kem_1024, true}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
      return std::string(describe(param_info.param.set)).substr(7) + (param_info.param.avx2 ? "_avx2" : "_portable");
    });

}  // namespace
}  // namespace kestrel::crypto::mlkem
