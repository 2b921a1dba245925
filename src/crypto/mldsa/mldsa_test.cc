// ML-DSA unit tests: arithmetic layers against definitions written
// independently from FIPS 204 (schoolbook products, Decompose by its formula),
// both code paths against each other, strict decoding, round trips and
// tampering for every parameter set. Known answers are the ACVP runs
// (`kestrel kat`, CTest kat_mldsa).
#include "crypto/mldsa.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/mldsa/polyvec.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa {
namespace {

using namespace detail;  // NOLINT

constexpr ParameterSet all_sets[] = {ParameterSet::ml_dsa_44, ParameterSet::ml_dsa_65, ParameterSet::ml_dsa_87};

std::int64_t mod_q(std::int64_t a) { return ((a % q) + q) % q; }

Poly random_poly(Prng& prng, std::int32_t bound) {  // coefficients in (-bound, bound)
  Poly a;
  for (auto& x : a.c) x = static_cast<std::int32_t>(prng.uniform(2 * static_cast<std::uint64_t>(bound) - 1)) - bound + 1;
  return a;
}

// --- Arithmetic -------------------------------------------------------------------

TEST(MlDsaArithmeticTest, MontgomeryReduceMatchesDefinition) {
  Prng prng(1);
  const std::int64_t r_inverse = 8265825;  // 2^-32 mod q: 2^32 * 8265825 = 1 (mod q)
  ASSERT_EQ(mod_q((std::int64_t{1} << 32) % q * r_inverse), 1);
  for (int i = 0; i < 100000; ++i) {
    const std::int64_t a = static_cast<std::int64_t>(prng.uniform(std::uint64_t{1} << 54)) - (std::int64_t{1} << 53);
    const std::int32_t r = montgomery_reduce(a);
    EXPECT_LT(std::abs(r), q);
    EXPECT_EQ(mod_q(r), mod_q(mod_q(a) * r_inverse));
  }
}

// NTT-based multiplication must equal the schoolbook product in Z_q[X]/(X^256 + 1).
void check_ntt_product(bool avx2) {
  ScopedGate gate(Gate::crypto_avx2, avx2);
  Prng prng(avx2 ? 3 : 2);
  for (int round = 0; round < 20; ++round) {
    const Poly a = random_poly(prng, q);
    const Poly b = random_poly(prng, q);
    std::vector<std::int64_t> expected(n, 0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        const std::int64_t product = mod_q(static_cast<std::int64_t>(a.c[i]) * b.c[j]);
        if (i + j < n) {
          expected[i + j] = mod_q(expected[i + j] + product);
        } else {
          expected[i + j - n] = mod_q(expected[i + j - n] - product);  // X^256 = -1
        }
      }
    }
    Poly a_hat = a, b_hat = b, c;
    ntt(a_hat);
    ntt(b_hat);
    for (int i = 0; i < n; ++i) ASSERT_LT(std::abs(a_hat.c[i]), 9 * q);
    pointwise_montgomery(c, a_hat, b_hat);
    inverse_ntt_to_montgomery(c);
    for (int i = 0; i < n; ++i) {
      ASSERT_LT(std::abs(c.c[i]), q);
      ASSERT_EQ(mod_q(c.c[i]), expected[i]) << "coefficient " << i;
    }
  }
}

TEST(MlDsaArithmeticTest, NttProductMatchesSchoolbookPortable) { check_ntt_product(false); }

TEST(MlDsaArithmeticTest, NttProductMatchesSchoolbookAvx2) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  check_ntt_product(true);
}

TEST(MlDsaArithmeticTest, Avx2PathsEqualPortableOnRandomInputs) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(4);
  for (int round = 0; round < 200; ++round) {
    const Poly a = random_poly(prng, q);
    const Poly b = random_poly(prng, 9 * q);
    Poly x = a, y = a;
    ntt_portable(x);
    ntt_avx2(y);
    ASSERT_EQ(x.c, y.c);
    x = a;
    y = a;
    inverse_ntt_to_montgomery_portable(x);
    inverse_ntt_to_montgomery_avx2(y);
    ASSERT_EQ(x.c, y.c);
    pointwise_montgomery_portable(x, a, b);
    pointwise_montgomery_avx2(y, a, b);
    ASSERT_EQ(x.c, y.c);
    pointwise_accumulate_montgomery_portable(x, a, b);
    pointwise_accumulate_montgomery_avx2(y, a, b);
    ASSERT_EQ(x.c, y.c);
  }
}

// A-hat o v on both paths (lazy 64-bit sums on AVX2) for every (k, l), random
// and extreme inputs (A-hat in [0, q), v-hat in (-9q, 9q)).
TEST(MlDsaArithmeticTest, Avx2MatrixMultiplyEqualsPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(15);
  for (int round = 0; round < 20; ++round) {
    for (const auto set : all_sets) {
      const Params& params = params_for(set);
      Matrix a;
      PolyVecL v;
      for (int r = 0; r < params.k; ++r) {
        for (int s = 0; s < params.l; ++s) {
          for (auto& x : a.row[r].p[s].c) {
            x = round == 0 ? q - 1 : static_cast<std::int32_t>(prng.uniform(q));
          }
        }
      }
      for (int s = 0; s < params.l; ++s) {
        v.p[s] = random_poly(prng, 9 * q);
        if (round == 0) v.p[s].c.fill(9 * q - 1);
        if (round == 1) v.p[s].c.fill(-(9 * q - 1));
      }
      PolyVecK portable, avx2;
      {
        ScopedGate gate(Gate::crypto_avx2, false);
        matrix_multiply(portable, a, v, params);
      }
      {
        ScopedGate gate(Gate::crypto_avx2, true);
        matrix_multiply(avx2, a, v, params);
      }
      for (int r = 0; r < params.k; ++r) ASSERT_EQ(portable.p[r].c, avx2.p[r].c) << round << " " << r;
    }
  }
}

TEST(MlDsaArithmeticTest, Avx2ElementwiseEqualsPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(8);
  for (int round = 0; round < 200; ++round) {
    const Poly a = random_poly(prng, 2 * q);
    const Poly b = random_poly(prng, 2 * q);
    Poly portable, avx2;
    const std::int32_t bound = static_cast<std::int32_t>(prng.uniform((q - 1) / 8)) + 1;
    Poly small = random_poly(prng, round % 2 == 0 ? bound : bound + 1);  // in range or maybe not
    std::uint32_t exceeds[2];
    for (int path = 0; path < 2; ++path) {
      ScopedGate gate(Gate::crypto_avx2, path == 1);
      Poly& out = path == 1 ? avx2 : portable;
      poly_add(out, a, b);
      poly_subtract(out, out, b);
      poly_reduce32(out);
      poly_caddq(out);
      exceeds[path] = poly_norm_exceeds(small, bound);
    }
    ASSERT_EQ(portable.c, avx2.c);
    ASSERT_EQ(exceeds[0], exceeds[1]);
    std::int32_t largest = 0;
    for (auto x : small.c) largest = std::max(largest, std::abs(x));
    ASSERT_EQ(exceeds[0], largest >= bound ? 1u : 0u);
  }
}

TEST(MlDsaArithmeticTest, Avx2SamplersEqualPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(5);
  for (const auto set : all_sets) {
    const Params& params = params_for(set);
    std::array<std::uint8_t, 32> rho;
    std::array<std::uint8_t, 64> rho_prime;
    prng.fill(rho);
    prng.fill(rho_prime);
    Matrix a_portable, a_avx2;
    PolyVecL s1_portable, s1_avx2, y_portable, y_avx2;
    PolyVecK s2_portable, s2_avx2;
    {
      ScopedGate gate(Gate::crypto_avx2, false);
      expand_a(a_portable, params, rho);
      expand_s(s1_portable, s2_portable, params, rho_prime);
      expand_mask(y_portable, params, rho_prime, 77);
    }
    {
      ScopedGate gate(Gate::crypto_avx2, true);
      expand_a(a_avx2, params, rho);
      expand_s(s1_avx2, s2_avx2, params, rho_prime);
      expand_mask(y_avx2, params, rho_prime, 77);
    }
    for (int r = 0; r < params.k; ++r) {
      for (int s = 0; s < params.l; ++s) ASSERT_EQ(a_portable.row[r].p[s].c, a_avx2.row[r].p[s].c);
      ASSERT_EQ(s2_portable.p[r].c, s2_avx2.p[r].c);
    }
    // Key generation's combined form, on both paths.
    for (bool avx2 : {false, true}) {
      ScopedGate gate(Gate::crypto_avx2, avx2);
      Matrix a_both;
      PolyVecL s1_both;
      PolyVecK s2_both;
      expand_a_s(a_both, s1_both, s2_both, params, rho, rho_prime);
      for (int r = 0; r < params.k; ++r) {
        for (int s = 0; s < params.l; ++s) ASSERT_EQ(a_both.row[r].p[s].c, a_portable.row[r].p[s].c) << avx2;
        ASSERT_EQ(s2_both.p[r].c, s2_portable.p[r].c) << avx2;
      }
      for (int s = 0; s < params.l; ++s) ASSERT_EQ(s1_both.p[s].c, s1_portable.p[s].c) << avx2;
    }
    for (int s = 0; s < params.l; ++s) {
      ASSERT_EQ(s1_portable.p[s].c, s1_avx2.p[s].c);
      ASSERT_EQ(y_portable.p[s].c, y_avx2.p[s].c);
      for (int i = 0; i < n; ++i) {
        ASSERT_LE(std::abs(s1_portable.p[s].c[i]), params.eta);
        ASSERT_GT(y_portable.p[s].c[i], -params.gamma1);
        ASSERT_LE(y_portable.p[s].c[i], params.gamma1);
      }
    }
  }
}

// Algorithm 36 by its definition: r0 = r mod+- 2 gamma2, corner case at q - 1.
void decompose_by_definition(std::int32_t r, std::int32_t gamma2, std::int32_t& r1, std::int32_t& r0) {
  const std::int32_t alpha = 2 * gamma2;
  r0 = r % alpha;
  if (r0 > gamma2) r0 -= alpha;
  if (r - r0 == q - 1) {
    r1 = 0;
    r0 -= 1;
  } else {
    r1 = (r - r0) / alpha;
  }
}

class MlDsaRoundingPathTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam() && !cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
    gate_.emplace(Gate::crypto_avx2, GetParam());
  }
  std::optional<ScopedGate> gate_;
};

TEST_P(MlDsaRoundingPathTest, DecomposeMatchesDefinitionForEveryInput) {
  for (const std::int32_t gamma2 : {gamma2_88, gamma2_32}) {
    Poly a, a1, a0, high;
    for (std::int32_t base = 0; base < q; base += n) {
      for (int i = 0; i < n; ++i) a.c[i] = std::min(base + i, q - 1);
      poly_decompose(a1, a0, a, gamma2);
      poly_high_bits(high, a, gamma2);
      for (int i = 0; i < n; ++i) {
        std::int32_t r1 = 0, r0 = 0;
        decompose_by_definition(a.c[i], gamma2, r1, r0);
        ASSERT_EQ(a1.c[i], r1) << "r = " << a.c[i];
        ASSERT_EQ(a0.c[i], r0) << "r = " << a.c[i];
        ASSERT_EQ(high.c[i], r1);
      }
    }
  }
}

TEST_P(MlDsaRoundingPathTest, Power2RoundMatchesDefinition) {
  Poly a, a1, a0;
  for (std::int32_t base = 0; base < q; base += n) {
    for (int i = 0; i < n; ++i) a.c[i] = std::min(base + i, q - 1);
    poly_power2round(a1, a0, a);
    for (int i = 0; i < n; ++i) {
      std::int32_t r0 = a.c[i] % (1 << d);
      if (r0 > (1 << (d - 1))) r0 -= 1 << d;
      ASSERT_EQ(a0.c[i], r0);
      ASSERT_EQ(a1.c[i], (a.c[i] - r0) >> d);
    }
  }
}

// Key generation's fused form: Power2Round(freeze(x + y)) equals the steps one
// by one, for x of either sign (an inverse NTT output) and y in [-eta, eta].
TEST_P(MlDsaRoundingPathTest, Power2RoundSumEqualsSteps) {
  Prng prng(9);
  for (int round = 0; round < 200; ++round) {
    Poly x = random_poly(prng, q), y = random_poly(prng, 5), sum, a1, a0, b1, b0;
    if (round == 0) x.c.fill(-q + 5), y.c.fill(-4);  // most negative sum
    if (round == 1) x.c.fill(q - 5), y.c.fill(4);    // largest sum
    poly_power2round_sum(a1, a0, x, y);
    poly_add(sum, x, y);
    poly_reduce32(sum);
    poly_caddq(sum);
    poly_power2round(b1, b0, sum);
    ASSERT_EQ(a1.c, b1.c) << round;
    ASSERT_EQ(a0.c, b0.c) << round;
  }
}

// Lemma of FIPS 204 section 7.4: UseHint(MakeHint(z, r), r) = HighBits(r + z) for ||z|| <= gamma2.
TEST_P(MlDsaRoundingPathTest, UseHintRecoversHighBits) {
  Prng prng(6);
  for (const std::int32_t gamma2 : {gamma2_88, gamma2_32}) {
    for (int round = 0; round < 200; ++round) {
      Poly r, z, r_plus_z, hint, recovered, expected;
      for (int i = 0; i < n; ++i) {
        r.c[i] = static_cast<std::int32_t>(prng.uniform(q));
        z.c[i] = static_cast<std::int32_t>(prng.uniform(2 * gamma2 + 1)) - gamma2;
        r_plus_z.c[i] = static_cast<std::int32_t>(mod_q(r.c[i] + z.c[i]));
      }
      poly_make_hint(hint, r_plus_z, r, gamma2);
      poly_use_hint(recovered, r, hint, gamma2);
      poly_high_bits(expected, r_plus_z, gamma2);
      ASSERT_EQ(recovered.c, expected.c);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, MlDsaRoundingPathTest, ::testing::Bool(),
                         [](const auto& test_info) { return test_info.param ? "avx2" : "portable"; });

// The AVX2 candidate parsers against the portable ones on random buffers, from
// every start count near the end (where the vector step hands over to the
// scalar tail), with bytes biased so both accept and reject occur often.
TEST(MlDsaArithmeticTest, Avx2RejectionParsersEqualPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(9);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<std::uint8_t> buf(5 * 168);
    prng.fill(buf);
    // Make some RejNTTPoly candidates land just above and below q.
    for (std::size_t pos = 0; pos + 3 <= buf.size(); pos += 3 * (1 + prng.uniform(5))) {
      const auto value = static_cast<std::uint32_t>(q - 2 + prng.uniform(4)) | (prng.uniform(2) << 23);
      buf[pos] = static_cast<std::uint8_t>(value);
      buf[pos + 1] = static_cast<std::uint8_t>(value >> 8);
      buf[pos + 2] = static_cast<std::uint8_t>(value >> 16);
    }
    for (std::size_t bytes : {std::size_t{840}, std::size_t{168}, std::size_t{3 * prng.uniform(280)}}) {
      for (int start : {0, 1, 200, 241, 248, 249, 255}) {
        Poly portable, avx2;
        portable.c.fill(-7);
        avx2.c.fill(-7);
        const int count_portable = rej_ntt_fill_portable(portable, start, buf.data(), bytes);
        const int count_avx2 = rej_ntt_fill_avx2(avx2, start, buf.data(), bytes);
        ASSERT_EQ(count_portable, count_avx2);
        ASSERT_TRUE(std::equal(portable.c.begin() + start, portable.c.begin() + count_portable, avx2.c.begin() + start));
      }
    }
    for (int eta : {2, 4}) {
      for (std::size_t bytes : {std::size_t{272}, std::size_t{136}, std::size_t{4 * prng.uniform(69)}}) {
        for (int start : {0, 3, 200, 247, 248, 252, 255}) {
          Poly portable, avx2;
          portable.c.fill(-7);
          avx2.c.fill(-7);
          const int count_portable = rej_bounded_fill_portable(portable, start, buf.data(), bytes, eta);
          const int count_avx2 = rej_bounded_fill_avx2(avx2, start, buf.data(), bytes, eta);
          ASSERT_EQ(count_portable, count_avx2);
          ASSERT_TRUE(
              std::equal(portable.c.begin() + start, portable.c.begin() + count_portable, avx2.c.begin() + start));
        }
      }
    }
  }
}

// UseHint: AVX2 against portable for random a in [0, q) (with the corners
// around multiples of 2 gamma2 and q - 1) and random hints.
TEST(MlDsaArithmeticTest, Avx2UseHintEqualsPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(12);
  for (const std::int32_t gamma2 : {gamma2_88, gamma2_32}) {
    for (int round = 0; round < 300; ++round) {
      Poly a, h, portable, avx2;
      for (int i = 0; i < n; ++i) {
        const auto corner = static_cast<std::int32_t>(prng.uniform((q - 1) / (2 * gamma2) + 1)) * 2 * gamma2 +
                            static_cast<std::int32_t>(prng.uniform(5)) - 2;
        a.c[i] = prng.uniform(2) != 0 ? static_cast<std::int32_t>(prng.uniform(q)) : std::clamp(corner, 0, q - 1);
        h.c[i] = static_cast<std::int32_t>(prng.uniform(2));
      }
      poly_use_hint_portable(portable, a, h, gamma2);
      poly_use_hint_avx2(avx2, a, h, gamma2);
      ASSERT_EQ(portable.c, avx2.c);
    }
  }
}

// The exact sparse products c * s (AVX2 and portable) against the NTT product, for challenges
// from SampleInBall and s over skDecode's whole range [-11, 4] / [-5, 2].
TEST(MlDsaArithmeticTest, SparseChallengeProductsEqualNttProduct) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(14);
  for (int trial = 0; trial < 100; ++trial) {
    for (const auto set : all_sets) {
      const Params& params = params_for(set);
      std::array<std::uint8_t, 64> c_tilde;
      prng.fill(c_tilde);
      Poly c, s, c_hat, s_hat, expected, product;
      poly_sample_in_ball(c, std::span<const std::uint8_t>(c_tilde.data(), params.c_tilde_bytes), params.tau);
      const std::int32_t low = params.eta - (1 << params.eta_bits) + 1;
      for (auto& x : s.c) x = low + static_cast<std::int32_t>(prng.uniform(static_cast<std::uint64_t>(params.eta - low + 1)));
      c_hat = c;
      s_hat = s;
      ntt_portable(c_hat);
      ntt_portable(s_hat);
      pointwise_montgomery_portable(expected, c_hat, s_hat);
      inverse_ntt_to_montgomery_portable(expected);
      SparseChallenge sparse;
      sparse_challenge_from(sparse, c);
      ASSERT_EQ(sparse.plus_count + sparse.minus_count, params.tau);
      SmallPolyExtension ext;
      small_poly_extend(ext, s);
      poly_sparse_multiply_avx2(product, sparse, ext);
      Poly product_portable;
      poly_sparse_multiply_portable(product_portable, sparse, ext);
      ASSERT_EQ(product.c, product_portable.c);
      // The int8 form, with the flush interval signing uses and with every
      // interval the bound allows down to 1.
      TinyPolyExtension tiny, tiny_avx2;
      tiny_poly_extend(tiny, s);
      tiny_poly_extend_avx2(tiny_avx2, s);
      ASSERT_EQ(tiny.v, tiny_avx2.v);
      const int max_taps = 127 / ((1 << params.eta_bits) - 1 - params.eta);
      for (int taps : {max_taps, 1 + static_cast<int>(prng.uniform(static_cast<std::uint64_t>(max_taps)))}) {
        Poly product8;
        poly_sparse_multiply8_avx2(product8, sparse, tiny, taps);
        ASSERT_EQ(product8.c, product_portable.c) << "taps per flush " << taps;
      }
      for (int i = 0; i < n; ++i) {
        ASSERT_LE(std::abs(product.c[i]), params.tau * 11);
        ASSERT_EQ(freeze(product.c[i]), freeze(expected.c[i])) << i;
      }
      // c * t0 with t0 in (-2^12, 2^12] (int32 form).
      Poly t0, t0_hat, expected_t0, product_t0;
      for (auto& x : t0.c) x = static_cast<std::int32_t>(prng.uniform(1 << d)) - (1 << (d - 1)) + 1;
      t0_hat = t0;
      ntt_portable(t0_hat);
      pointwise_montgomery_portable(expected_t0, c_hat, t0_hat);
      inverse_ntt_to_montgomery_portable(expected_t0);
      PolyExtension ext32;
      poly_extend(ext32, t0);
      poly_sparse_multiply32_avx2(product_t0, sparse, ext32);
      Poly product_t0_portable;
      poly_sparse_multiply32_portable(product_t0_portable, sparse, ext32);
      ASSERT_EQ(product_t0.c, product_t0_portable.c);
      SmallPolyExtension ext16;  // the int16 form signing uses on AVX2, every flush interval up to 7
      small_poly_extend(ext16, t0);
      for (int taps = 1; taps <= 7; ++taps) {
        Poly product16;
        poly_sparse_multiply16to32_avx2(product16, sparse, ext16, taps);
        ASSERT_EQ(product16.c, product_t0_portable.c) << "taps per flush " << taps;
      }
      for (int i = 0; i < n; ++i) {
        ASSERT_LE(std::abs(product_t0.c[i]), params.tau << (d - 1));
        ASSERT_EQ(freeze(product_t0.c[i]), freeze(expected_t0.c[i])) << i;
      }
    }
  }
}

// The int8 product at its bound: s constant at skDecode's extreme and tau
// challenge taps all +1 (then all -1) next to each other, so every int8 partial
// sum reaches taps_per_flush * max |s_i| in magnitude.
TEST(MlDsaArithmeticTest, TinySparseProductAtItsBound) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  for (const auto set : all_sets) {
    const Params& params = params_for(set);
    const std::int32_t low = params.eta - (1 << params.eta_bits) + 1;
    const int max_taps = 127 / ((1 << params.eta_bits) - 1 - params.eta);
    ASSERT_LE(max_taps * -low, 127);
    for (const std::int32_t value : {low, static_cast<std::int32_t>(params.eta)}) {
      for (const std::int32_t sign : {1, -1}) {
        Poly s, c;
        s.c.fill(value);
        c.c.fill(0);
        for (int i = 0; i < params.tau; ++i) c.c[static_cast<std::size_t>(3 * i)] = sign;
        SparseChallenge sparse;
        sparse_challenge_from(sparse, c);
        SmallPolyExtension ext;
        small_poly_extend(ext, s);
        TinyPolyExtension tiny;
        tiny_poly_extend(tiny, s);
        Poly expected, product8;
        poly_sparse_multiply_portable(expected, sparse, ext);
        poly_sparse_multiply8_avx2(product8, sparse, tiny, max_taps);
        ASSERT_EQ(product8.c, expected.c) << parameter_set_name(set) << " value " << value << " sign " << sign;
      }
    }
  }
}

// c * t0 in int16 at its bound: t0 = 2^12 (and -2^12 + 1) everywhere, tau taps of
// one sign, so each int16 partial sum reaches 7 * 2^12 = 28672 in magnitude.
TEST(MlDsaArithmeticTest, Int16T0ProductAtItsBound) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  for (const auto set : all_sets) {
    const Params& params = params_for(set);
    for (const std::int32_t value : {std::int32_t{1} << (d - 1), -(std::int32_t{1} << (d - 1)) + 1}) {
      for (const std::int32_t sign : {1, -1}) {
        Poly t0, c;
        t0.c.fill(value);
        c.c.fill(0);
        for (int i = 0; i < params.tau; ++i) c.c[static_cast<std::size_t>(3 * i)] = sign;
        SparseChallenge sparse;
        sparse_challenge_from(sparse, c);
        PolyExtension ext32;
        poly_extend(ext32, t0);
        SmallPolyExtension ext16;
        small_poly_extend(ext16, t0);
        Poly expected, product;
        poly_sparse_multiply32_portable(expected, sparse, ext32);
        poly_sparse_multiply16to32_avx2(product, sparse, ext16, 7);
        ASSERT_EQ(product.c, expected.c) << parameter_set_name(set) << " value " << value << " sign " << sign;
      }
    }
  }
}

// The ExpandMask stream hands out expand_mask(y, kappa = i * l) for call i, on
// both paths and for every l.
TEST(MlDsaSamplingTest, MaskStreamEqualsExpandMask) {
  Prng prng(13);
  for (bool avx2 : {false, true}) {
    if (avx2 && !cpu_features().avx2) continue;
    ScopedGate gate(Gate::crypto_avx2, avx2);
    for (const auto set : all_sets) {
      const Params& params = params_for(set);
      std::array<std::uint8_t, 64> rho_double_prime;
      prng.fill(rho_double_prime);
      MaskStream stream;
      for (int attempt = 0; attempt < 9; ++attempt) {
        PolyVecL streamed, expected;
        expand_mask_next(streamed, stream, params, rho_double_prime);
        expand_mask(expected, params, rho_double_prime, static_cast<std::uint16_t>(attempt * params.l));
        for (int r = 0; r < params.l; ++r) ASSERT_EQ(streamed.p[r].c, expected.p[r].c) << attempt << " " << r;
      }
      stream.wipe();
    }
  }
}

// SampleInBall given its first block from outside (verification) equals the
// self-contained one, including when the block runs out (large tau).
TEST(MlDsaSamplingTest, SampleInBallWithFirstBlockEqualsStandalone) {
  Prng prng(10);
  for (int trial = 0; trial < 50; ++trial) {
    std::array<std::uint8_t, 64> c_tilde;
    prng.fill(c_tilde);
    for (int tau : {39, 49, 60, 120, 200}) {
      std::array<std::uint8_t, 136> block;
      keccak::shake256(block, c_tilde);
      Poly standalone, given;
      poly_sample_in_ball(standalone, c_tilde, tau);
      poly_sample_in_ball(given, c_tilde, tau, block.data());
      ASSERT_EQ(standalone.c, given.c) << tau;
    }
  }
}

// ExpandA with extra jobs: the matrix is unchanged and the jobs' outputs equal
// one-shot SHAKE on both paths.
TEST(MlDsaSamplingTest, ExpandAWithExtraJobs) {
  Prng prng(11);
  for (bool avx2 : {false, true}) {
    if (avx2 && !cpu_features().avx2) continue;
    ScopedGate gate(Gate::crypto_avx2, avx2);
    for (const auto set : all_sets) {
      const Params& params = params_for(set);
      std::array<std::uint8_t, 32> rho;
      prng.fill(rho);
      std::vector<std::uint8_t> long_input(params.public_key_bytes), short_input(48);
      prng.fill(long_input);
      prng.fill(short_input);
      std::array<std::uint8_t, 64> out_long, expected_long;
      std::array<std::uint8_t, 136> out_short, expected_short;
      const std::array<keccak::XofJob, 2> jobs{{{long_input, out_long, keccak::shake256_rate, keccak::shake_domain},
                                                {short_input, out_short, keccak::shake256_rate, keccak::shake_domain}}};
      Matrix plain, with_jobs;
      expand_a(plain, params, rho);
      expand_a(with_jobs, params, rho, jobs);
      for (int r = 0; r < params.k; ++r) {
        for (int s = 0; s < params.l; ++s) ASSERT_EQ(plain.row[r].p[s].c, with_jobs.row[r].p[s].c);
      }
      keccak::shake256(expected_long, long_input);
      keccak::shake256(expected_short, short_input);
      EXPECT_EQ(out_long, expected_long);
      EXPECT_EQ(out_short, expected_short);
    }
  }
}

// SimpleBitPack against its definition (bit j of coefficient i is bit i * bits + j
// of the little-endian stream), for the fixed widths and a generic one.
TEST(MlDsaPackingTest, BitPackMatchesDefinition) {
  Prng prng(8);
  for (int bits : {3, 4, 5, 6, 10, 13, 18, 20}) {
    Poly a, b;
    for (auto& x : a.c) x = static_cast<std::int32_t>(prng.uniform(std::uint64_t{1} << bits));
    std::vector<std::uint8_t> packed(32 * bits, 0xee), expected(32 * bits, 0);
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < bits; ++j) {
        const int bit = i * bits + j;
        expected[bit / 8] |= static_cast<std::uint8_t>(((a.c[i] >> j) & 1) << (bit % 8));
      }
    }
    pack_simple(packed.data(), a, bits);
    EXPECT_EQ(packed, expected) << bits;
    unpack_simple(b, expected.data(), bits);
    EXPECT_EQ(a.c, b.c) << bits;
  }
}

// The AVX2 unpackers against the portable ones on random bytes (every bit
// pattern is valid), with and without the offset b - x, reading from the end
// of an exactly sized buffer (the tail groups must not read past it).
TEST(MlDsaPackingTest, Avx2UnpackEqualsPortable) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(16);
  for (int round = 0; round < 50; ++round) {
    for (int bits : {3, 4, 10, 13, 18, 20}) {
      std::vector<std::uint8_t> packed(32 * bits);
      prng.fill(packed);
      const std::int32_t b = static_cast<std::int32_t>(prng.uniform(1 << 20));
      Poly portable, avx2;
      {
        ScopedGate gate(Gate::crypto_avx2, false);
        unpack_simple(portable, packed.data(), bits);
      }
      ASSERT_TRUE(unpack_avx2(avx2, packed.data(), bits, 0, false));
      ASSERT_EQ(portable.c, avx2.c) << bits;
      {
        ScopedGate gate(Gate::crypto_avx2, false);
        unpack_offset(portable, packed.data(), bits, b);
      }
      ASSERT_TRUE(unpack_avx2(avx2, packed.data(), bits, b, true));
      ASSERT_EQ(portable.c, avx2.c) << bits;
    }
  }
  Poly unused;
  EXPECT_FALSE(unpack_avx2(unused, nullptr, 6, 0, false));
}

// pack_simple and pack_offset (AVX2 at 4, 10 and 13 bits, the fused-offset
// templates elsewhere) against the portable path, every value of the range included.
TEST(MlDsaPackingTest, PackPathsAgree) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
  Prng prng(17);
  for (int round = 0; round < 50; ++round) {
    for (int bits : {3, 4, 6, 10, 13, 18, 20}) {
      const std::int32_t b = static_cast<std::int32_t>(prng.uniform(std::uint64_t{1} << bits));
      Poly a, w;
      for (int i = 0; i < n; ++i) {
        a.c[i] = round == 0 ? i % (1 << bits) : static_cast<std::int32_t>(prng.uniform(std::uint64_t{1} << bits));
        w.c[i] = b - a.c[i];  // b - w_i = a_i in [0, 2^bits)
      }
      std::vector<std::uint8_t> simple[2], offset[2];
      for (int path = 0; path < 2; ++path) {
        ScopedGate gate(Gate::crypto_avx2, path == 1);
        simple[path].assign(32 * bits, 0xee);
        offset[path].assign(32 * bits, 0xee);
        pack_simple(simple[path].data(), a, bits);
        pack_offset(offset[path].data(), w, bits, b);
      }
      ASSERT_EQ(simple[0], simple[1]) << bits;
      ASSERT_EQ(offset[0], offset[1]) << bits;
      ASSERT_EQ(simple[0], offset[0]) << bits;
    }
  }
}

TEST(MlDsaPackingTest, BitPackRoundTrips) {
  Prng prng(7);
  for (int bits : {3, 4, 6, 10, 13, 18, 20}) {
    Poly a, b;
    for (auto& x : a.c) x = static_cast<std::int32_t>(prng.uniform(std::uint64_t{1} << bits));
    std::vector<std::uint8_t> packed(32 * bits);
    pack_simple(packed.data(), a, bits);
    unpack_simple(b, packed.data(), bits);
    EXPECT_EQ(a.c, b.c) << bits;
  }
}

// --- Sign and verify ------------------------------------------------------------------

struct Keys {
  Bytes pk, sk;
};

Keys make_keys(ParameterSet set, std::uint8_t seed_byte) {
  Keys keys{Bytes(public_key_bytes(set)), Bytes(secret_key_bytes(set))};
  std::array<std::uint8_t, 32> xi;
  xi.fill(seed_byte);
  key_gen_internal(set, xi, keys.pk, keys.sk);
  return keys;
}

class MlDsaSetTest : public ::testing::TestWithParam<std::tuple<ParameterSet, bool>> {
 protected:
  ParameterSet set() const { return std::get<0>(GetParam()); }
  void SetUp() override {
    if (std::get<1>(GetParam()) && !cpu_features().avx2) GTEST_SKIP() << "CPU without AVX2";
    gate_.emplace(Gate::crypto_avx2, std::get<1>(GetParam()));
  }
  std::optional<ScopedGate> gate_;
};

TEST_P(MlDsaSetTest, RoundTripAllInterfaces) {
  const Keys keys = make_keys(set(), 9);
  const Bytes message{'b', 'l', 'o', 'c', 'k'};
  const Bytes context{'k', 'e', 's', 't', 'r', 'e', 'l'};
  Bytes signature(signature_bytes(set()));
  ASSERT_TRUE(sign(set(), keys.sk, message, context, Randomness::hedged, signature).ok());
  EXPECT_TRUE(verify(set(), keys.pk, message, context, signature).ok());

  ASSERT_TRUE(hash_sign(set(), keys.sk, message, context, PreHash::sha2_512, Randomness::hedged, signature).ok());
  EXPECT_TRUE(hash_verify(set(), keys.pk, message, context, PreHash::sha2_512, signature).ok());
  EXPECT_FALSE(hash_verify(set(), keys.pk, message, context, PreHash::sha3_512, signature).ok());
  EXPECT_FALSE(verify(set(), keys.pk, message, context, signature).ok());  // domain separation

  std::array<std::uint8_t, 32> rnd{};
  ASSERT_TRUE(sign_internal(set(), keys.sk, message, rnd, signature).ok());
  EXPECT_TRUE(verify_internal(set(), keys.pk, message, signature).ok());
  std::array<std::uint8_t, mu_bytes> mu;
  ASSERT_TRUE(compute_mu(set(), keys.pk, message, mu).ok());
  EXPECT_TRUE(verify_mu(set(), keys.pk, mu, signature).ok());  // same mu, same signature
  Bytes from_mu(signature_bytes(set()));
  ASSERT_TRUE(sign_mu(set(), keys.sk, mu, rnd, from_mu).ok());
  EXPECT_EQ(from_mu, signature);
}

TEST_P(MlDsaSetTest, DeterministicIsRepeatableHedgedIsNot) {
  const Keys keys = make_keys(set(), 10);
  const Bytes message{1, 2, 3};
  Bytes a(signature_bytes(set())), b(signature_bytes(set()));
  ASSERT_TRUE(sign(set(), keys.sk, message, {}, Randomness::deterministic, a).ok());
  ASSERT_TRUE(sign(set(), keys.sk, message, {}, Randomness::deterministic, b).ok());
  EXPECT_EQ(a, b);
  ASSERT_TRUE(sign(set(), keys.sk, message, {}, Randomness::hedged, a).ok());
  ASSERT_TRUE(sign(set(), keys.sk, message, {}, Randomness::hedged, b).ok());
  EXPECT_NE(a, b);
  EXPECT_TRUE(verify(set(), keys.pk, message, {}, a).ok());
  EXPECT_TRUE(verify(set(), keys.pk, message, {}, b).ok());
}

// Any flipped bit of message, context, signature or public key must fail. Every
// bit of message and context; every bit of signature and public key for
// ML-DSA-44, every 5th for the larger sets (about 10^4 verifications per case
// keeps the suite within seconds), always including the whole of c~ and the hint.
TEST_P(MlDsaSetTest, EveryFlippedBitFails) {
  const Keys keys = make_keys(set(), 11);
  const Bytes message{'v', 'o', 't', 'e', ' ', 7};
  const Bytes context{'c', 't', 'x'};
  Bytes signature(signature_bytes(set()));
  ASSERT_TRUE(sign(set(), keys.sk, message, context, Randomness::hedged, signature).ok());
  ASSERT_TRUE(verify(set(), keys.pk, message, context, signature).ok());
  auto flips = [](const Bytes& bytes, std::size_t stride, auto&& check) {
    for (std::size_t bit = 0; bit < bytes.size() * 8; bit += stride) {
      Bytes copy = bytes;
      copy[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      check(copy, bit);
    }
  };
  flips(message, 1, [&](const Bytes& m, std::size_t bit) {
    EXPECT_FALSE(verify(set(), keys.pk, m, context, signature).ok()) << "message bit " << bit;
  });
  flips(context, 1, [&](const Bytes& c, std::size_t bit) {
    EXPECT_FALSE(verify(set(), keys.pk, message, c, signature).ok()) << "context bit " << bit;
  });
  const std::size_t stride = set() == ParameterSet::ml_dsa_44 ? 1 : 5;
  const Params& params = params_for(set());
  const std::size_t hint_start_bit = (signature.size() - params.omega - params.k) * 8;
  flips(signature, 1, [&](const Bytes& s, std::size_t bit) {
    const bool always = bit < params.c_tilde_bytes * 8 || bit >= hint_start_bit;
    if (!always && bit % stride != 0) return;
    EXPECT_FALSE(verify(set(), keys.pk, message, context, s).ok()) << "signature bit " << bit;
  });
  flips(keys.pk, stride, [&](const Bytes& pk, std::size_t bit) {
    EXPECT_FALSE(verify(set(), pk, message, context, signature).ok()) << "public key bit " << bit;
  });
  // Appending or removing a byte of message or context fails as well.
  Bytes longer = message;
  longer.push_back(0);
  EXPECT_FALSE(verify(set(), keys.pk, longer, context, signature).ok());
  EXPECT_FALSE(verify(set(), keys.pk, message, Bytes{}, signature).ok());
}

TEST_P(MlDsaSetTest, StrictDecoding) {
  const Params& params = params_for(set());
  const Keys keys = make_keys(set(), 12);
  const Bytes message{'x'};
  Bytes signature(signature_bytes(set()));
  // Find a signature with at least two hints in row 0 (most have several).
  for (std::uint8_t i = 0;; ++i) {
    Bytes m{i};
    ASSERT_TRUE(sign(set(), keys.sk, message, m, Randomness::hedged, signature).ok());
    if (signature[signature.size() - params.k] >= 2) break;
  }
  Bytes context;
  for (std::uint8_t i = 0;; ++i) {
    context = Bytes{i};
    if (verify(set(), keys.pk, message, context, signature).ok()) break;
  }
  const std::size_t hint_offset = signature.size() - params.omega - params.k;
  auto expect = [&](const Bytes& s, MlDsaError error, const char* what) {
    auto status = verify(set(), keys.pk, message, context, s);
    ASSERT_FALSE(status.ok()) << what;
    EXPECT_EQ(status.error(), error) << what;
  };
  // Lengths.
  expect(Bytes(signature.begin(), signature.end() - 1), MlDsaError::bad_length, "short signature");
  Bytes longer = signature;
  longer.push_back(0);
  expect(longer, MlDsaError::bad_length, "long signature");
  EXPECT_EQ(verify(set(), Bytes(keys.pk.begin(), keys.pk.end() - 1), message, context, signature).error(),
            MlDsaError::bad_length);
  EXPECT_EQ(verify(set(), keys.pk, message, Bytes(256, 0), signature).error(), MlDsaError::bad_context_length);
  // Hints: a row end beyond omega; decreasing row ends; indices out of order in
  // a row; a repeated index; nonzero padding after the last index.
  Bytes bad = signature;
  bad[hint_offset + params.omega] = static_cast<std::uint8_t>(params.omega + 1);
  expect(bad, MlDsaError::malformed_hint, "row end > omega");
  bad = signature;
  const std::uint8_t row0_end = signature[hint_offset + params.omega];
  bad[hint_offset + params.omega + 1] = static_cast<std::uint8_t>(row0_end - 1);
  expect(bad, MlDsaError::malformed_hint, "row ends decrease");
  bad = signature;
  std::swap(bad[hint_offset], bad[hint_offset + 1]);
  expect(bad, MlDsaError::malformed_hint, "indices not increasing");
  bad = signature;
  bad[hint_offset + 1] = bad[hint_offset];
  expect(bad, MlDsaError::malformed_hint, "repeated index");
  const std::uint8_t total = signature[signature.size() - 1];
  if (total < params.omega) {
    bad = signature;
    bad[hint_offset + params.omega - 1] = 1;
    expect(bad, MlDsaError::malformed_hint, "nonzero padding");
  }
  // z: first coefficient set to gamma1 - beta (stored as gamma1 - z = beta).
  bad = signature;
  std::uint64_t bits = 0;
  for (int i = 0; i < 3; ++i) bits |= static_cast<std::uint64_t>(bad[params.c_tilde_bytes + i]) << (8 * i);
  const std::uint64_t mask = (std::uint64_t{1} << params.gamma1_bits) - 1;
  bits = (bits & ~mask) | static_cast<std::uint64_t>(params.beta);
  for (int i = 0; i < 3; ++i) bad[params.c_tilde_bytes + i] = static_cast<std::uint8_t>(bits >> (8 * i));
  expect(bad, MlDsaError::z_out_of_range, "z = gamma1 - beta");
  // One below the bound is in range (then it fails only as a wrong signature).
  bits = (bits & ~mask) | static_cast<std::uint64_t>(params.beta + 1);
  for (int i = 0; i < 3; ++i) bad[params.c_tilde_bytes + i] = static_cast<std::uint8_t>(bits >> (8 * i));
  expect(bad, MlDsaError::bad_signature, "z = gamma1 - beta - 1");
}

// Expanded keys give the same results as the byte-key functions.
TEST_P(MlDsaSetTest, ExpandedKeysMatchByteKeys) {
  const Keys keys = make_keys(set(), 14);
  auto expanded_pk = expand_public_key(set(), keys.pk);
  auto expanded_sk = expand_secret_key(set(), keys.sk);
  ASSERT_TRUE(expanded_pk.ok());
  ASSERT_TRUE(expanded_sk.ok());
  const Bytes message{'e', 'x', 'p'};
  const Bytes context{'c'};
  Bytes from_bytes(signature_bytes(set())), from_expanded(signature_bytes(set()));
  ASSERT_TRUE(sign(set(), keys.sk, message, context, Randomness::deterministic, from_bytes).ok());
  ASSERT_TRUE(sign(*expanded_sk, message, context, Randomness::deterministic, from_expanded).ok());
  EXPECT_EQ(from_bytes, from_expanded);
  EXPECT_TRUE(verify(*expanded_pk, message, context, from_bytes).ok());
  Bytes bad = from_bytes;
  bad[7] ^= 1;
  EXPECT_EQ(verify(*expanded_pk, message, context, bad).error(), verify(set(), keys.pk, message, context, bad).error());
  EXPECT_FALSE(verify(*expanded_pk, message, Bytes{}, from_bytes).ok());
  EXPECT_EQ(verify(*expanded_pk, message, context, Bytes(10)).error(), MlDsaError::bad_length);
  EXPECT_EQ(expand_public_key(set(), Bytes(10)).error(), MlDsaError::bad_length);
  EXPECT_EQ(expand_secret_key(set(), Bytes(10)).error(), MlDsaError::bad_length);
  // Hedged signatures from the expanded key verify under the byte key.
  ASSERT_TRUE(sign(*expanded_sk, message, context, Randomness::hedged, from_expanded).ok());
  EXPECT_TRUE(verify(set(), keys.pk, message, context, from_expanded).ok());
}

TEST_P(MlDsaSetTest, SecretKeyCheck) {
  const Keys keys = make_keys(set(), 13);
  Bytes pk(public_key_bytes(set()));
  ASSERT_TRUE(check_secret_key(set(), keys.sk, pk).ok());
  EXPECT_EQ(pk, keys.pk);
  for (std::size_t byte : {std::size_t{0}, std::size_t{40}, std::size_t{100}, std::size_t{130},
                           keys.sk.size() / 2, keys.sk.size() - 1}) {
    if (byte >= 32 && byte < 64) continue;  // K is not checkable: any K is a valid key
    Bytes bad = keys.sk;
    bad[byte] ^= 0x10;
    EXPECT_EQ(check_secret_key(set(), bad, pk).error(), MlDsaError::bad_secret_key) << byte;
  }
  EXPECT_EQ(check_secret_key(set(), Bytes(10), pk).error(), MlDsaError::bad_length);
  Bytes signature(signature_bytes(set()));
  EXPECT_EQ(sign(set(), Bytes(10), Bytes{}, Bytes{}, Randomness::hedged, signature).error(),
            MlDsaError::bad_length);
}

INSTANTIATE_TEST_SUITE_P(AllSets, MlDsaSetTest,
                         ::testing::Combine(::testing::ValuesIn(all_sets), ::testing::Bool()),
                         [](const auto& test_info) {
                           std::string name = parameter_set_name(std::get<0>(test_info.param));
                           name.erase(std::remove(name.begin(), name.end(), '-'), name.end());
                           return name + (std::get<1>(test_info.param) ? "_avx2" : "_portable");
                         });

TEST(MlDsaPreHashTest, AcvpNames) {
  EXPECT_EQ(*parse_pre_hash("SHA2-512/224"), PreHash::sha2_512_224);
  EXPECT_EQ(*parse_pre_hash("SHAKE-256"), PreHash::shake256);
  EXPECT_EQ(parse_pre_hash("SHA2-1024").error(), MlDsaError::unknown_hash);
}

}  // namespace
}  // namespace kestrel::crypto::mldsa
