// Both sides of the gate crypto.avx2 for the single-state permutation: the
// portable build and the BMI2 build (keccak_avx2.cc) of the same round must give
// the same states; keccak_test.cc checks the default side against OpenSSL.
#include <gtest/gtest.h>

#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/keccak.h"

namespace kestrel::crypto::keccak {
namespace {

TEST(KeccakPathsTest, ScalarPermutationSameOnBothGateSides) {
  if (!(cpu_features().avx2 && cpu_features().bmi2)) GTEST_SKIP() << "CPU lacks AVX2/BMI2: one path only";
  Prng prng(31);
  for (int round = 0; round < 200; ++round) {
    State s;
    for (auto& lane : s.a) lane = prng.next_u64();
    State t = s;
    {
      ScopedGate off(Gate::crypto_avx2, false);
      permute(s);
    }
    {
      ScopedGate on(Gate::crypto_avx2, true);
      permute(t);
    }
    ASSERT_EQ(s.a, t.a);
  }
}

TEST(KeccakPathsTest, HashesSameOnBothGateSides) {
  Prng prng(32);
  Bytes input(1000);
  prng.fill(input);
  for (std::size_t length : {0u, 1u, 135u, 136u, 137u, 168u, 500u, 1000u}) {
    Bytes out[2];
    for (bool avx2 : {false, true}) {
      ScopedGate gate(Gate::crypto_avx2, avx2);
      std::array<std::uint8_t, 32> h;
      sha3_256(h, ByteSpan(input.data(), length));
      Bytes x(300);
      shake128(x, ByteSpan(input.data(), length));
      out[avx2].assign(h.begin(), h.end());
      out[avx2].insert(out[avx2].end(), x.begin(), x.end());
    }
    EXPECT_EQ(out[0], out[1]) << length;
  }
}

TEST(KeccakPathsTest, JobBatchesMatchOneShotsOnBothGateSides) {
  Prng prng(33);
  Bytes input(2000);
  prng.fill(input);
  for (int path = 0; path < 3; ++path) {  // portable, AVX2, AVX-512 Keccak (where the CPU has it)
    const bool avx2 = path >= 1;
    ScopedGate gate(Gate::crypto_avx2, avx2);
    ScopedGate wide(Gate::crypto_avx512, path == 2);
    for (int round = 0; round < 40; ++round) {
      const std::size_t count = prng.uniform(xof_jobs_max + 1);
      std::vector<XofJob> jobs(count);
      std::vector<Bytes> out(count), expected(count);
      for (std::size_t j = 0; j < count; ++j) {
        const ByteSpan in(input.data() + prng.uniform(400), prng.uniform(1500));
        switch (prng.uniform(4)) {
          case 0: {
            std::array<std::uint8_t, 32> h;
            sha3_256(h, in);
            expected[j].assign(h.begin(), h.end());
            jobs[j] = XofJob{in, {}, sha3_256_rate, sha3_domain};
            break;
          }
          case 1: {
            std::array<std::uint8_t, 64> h;
            sha3_512(h, in);
            expected[j].assign(h.begin(), h.end());
            jobs[j] = XofJob{in, {}, sha3_512_rate, sha3_domain};
            break;
          }
          case 2:  // multi-block squeezes, as SampleNTT asks for
            expected[j].resize(prng.uniform(4 * shake128_rate));
            shake128(expected[j], in);
            jobs[j] = XofJob{in, {}, shake128_rate, shake_domain};
            break;
          default:
            expected[j].resize(prng.uniform(3 * shake256_rate));
            shake256(expected[j], in);
            jobs[j] = XofJob{in, {}, shake256_rate, shake_domain};
            break;
        }
        out[j].resize(expected[j].size());
        jobs[j].out = out[j];
      }
      run_jobs_x4(jobs);
      for (std::size_t j = 0; j < count; ++j) ASSERT_EQ(out[j], expected[j]) << "avx2=" << avx2 << " job " << j;
    }
  }
}

}  // namespace
}  // namespace kestrel::crypto::keccak
