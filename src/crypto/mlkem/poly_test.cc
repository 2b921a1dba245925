// Tests of the arithmetic layers (reduce, ntt, poly): against definitions
// computed independently here (schoolbook products, exact rational rounding),
// and the AVX2 path against the portable one on random inputs.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/poly.h"
#include "crypto/mlkem/polyvec.h"
#include "crypto/mlkem/reduce.h"

namespace kestrel::crypto::mlkem {
namespace {

int mod_q(long a) { return static_cast<int>(((a % q) + q) % q); }

Poly random_poly(Prng& prng, int low, int high) {
  Poly p;
  for (auto& c : p.c) c = static_cast<std::int16_t>(low + static_cast<int>(prng.uniform(static_cast<std::uint64_t>(high - low + 1))));
  return p;
}

std::vector<const PolyOps*> all_paths() {
  std::vector<const PolyOps*> paths{&portable_ops()};
  if (cpu_features().avx2) paths.push_back(&avx2_ops());
  return paths;
}

TEST(MlKemReduceTest, BarrettAndMontgomeryOverTheirDomains) {
  for (int a = -32768; a <= 32767; ++a) {
    const std::int16_t r = barrett_reduce(static_cast<std::int16_t>(a));
    ASSERT_EQ(mod_q(r), mod_q(a)) << a;
    ASSERT_LE(r, (q - 1) / 2) << a;
    ASSERT_GE(r, -(q - 1) / 2) << a;
  }
  Prng prng(3);
  for (int i = 0; i < 200000; ++i) {
    const std::int32_t a = static_cast<std::int32_t>(prng.uniform(2u * q * 32768u)) - q * 32768 + 1;
    const std::int16_t r = montgomery_reduce(a);
    ASSERT_LT(std::abs(r), q);
    ASSERT_EQ(mod_q(static_cast<long>(r) * 65536), mod_q(a));
  }
}

TEST(MlKemPolyTest, CompressMatchesExactRounding) {
  for (unsigned d : {1u, 4u, 5u, 10u, 11u}) {
    for (std::uint32_t x = 0; x < q; ++x) {
      // round(2^d x / q) with round(r) = floor(r + 1/2): floor((2^(d+1) x + q) / 2q).
      const std::uint32_t expected = (((x << (d + 1)) + q) / (2 * q)) % (1u << d);
      ASSERT_EQ(compress(x, d), expected) << "d=" << d << " x=" << x;
    }
    for (std::uint32_t y = 0; y < (1u << d); ++y) {
      const std::uint32_t expected = (2 * q * y + (1u << d)) / (1u << (d + 1));
      ASSERT_EQ(static_cast<std::uint32_t>(decompress(y, d)), expected);
    }
  }
}

// Negacyclic schoolbook product in Z_q[X] / (X^256 + 1), the definition the NTT must agree with.
std::vector<int> schoolbook(const Poly& a, const Poly& b) {
  std::vector<long> acc(n, 0);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) {
      const long p = static_cast<long>(a.c[i]) * b.c[j];
      if (i + j < n) acc[i + j] += p; else acc[i + j - n] -= p;
    }
  std::vector<int> r(n);
  for (int i = 0; i < n; ++i) r[i] = mod_q(acc[i]);
  return r;
}

TEST(MlKemNttTest, ProductThroughNttEqualsSchoolbookOnBothPaths) {
  Prng prng(11);
  for (const PolyOps* ops : all_paths()) {
    for (int round = 0; round < 20; ++round) {
      Poly a = random_poly(prng, -(q - 1), q - 1), b = random_poly(prng, -3, 3);
      const auto expected = schoolbook(a, b);
      Poly a_hat = a, b_hat = b, h;
      ops->ntt(a_hat.c.data());
      ops->ntt(b_hat.c.data());
      for (int i = 0; i < n; ++i) {
        ASSERT_LE(std::abs(a_hat.c[i]), (q - 1) / 2) << ops->name;
      }
      const std::int16_t* f[1] = {a_hat.c.data()};
      const std::int16_t* g[1] = {b_hat.c.data()};
      ops->multiply_ntts_acc(h.c.data(), f, g, 1);
      ops->inverse_ntt(h.c.data());
      for (int i = 0; i < n; ++i) {
        ASSERT_LT(std::abs(h.c[i]), q) << ops->name;
        ASSERT_EQ(mod_q(h.c[i]), expected[i]) << ops->name << " coefficient " << i;
      }
    }
  }
}

TEST(MlKemPolyTest, Avx2MatchesPortableOnRandomInputs) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU has no AVX2: only the portable path exists here";
  const PolyOps& p = portable_ops();
  const PolyOps& v = avx2_ops();
  Prng prng(12);
  for (int round = 0; round < 200; ++round) {
    // NTT: same values mod q (representatives may differ within the stated bound).
    Poly a = random_poly(prng, -(q - 1), q - 1), b = a;
    p.ntt(a.c.data());
    v.ntt(b.c.data());
    for (int i = 0; i < n; ++i) ASSERT_EQ(mod_q(a.c[i]), mod_q(b.c[i])) << "ntt " << i;
    for (int i = 0; i < n; ++i) ASSERT_LE(std::abs(b.c[i]), (q - 1) / 2);
    // Inverse NTT on the largest allowed inputs.
    a = random_poly(prng, -(1 << 14) + 1, (1 << 14) - 1);
    b = a;
    p.inverse_ntt(a.c.data());
    v.inverse_ntt(b.c.data());
    for (int i = 0; i < n; ++i) ASSERT_EQ(mod_q(a.c[i]), mod_q(b.c[i])) << "invntt " << i;
    for (int i = 0; i < n; ++i) ASSERT_LT(std::abs(b.c[i]), q);
    // Base products accumulated over k_max, worst-case ranges.
    Poly fs[k_max], gs[k_max];
    const std::int16_t* f[k_max];
    const std::int16_t* g[k_max];
    for (unsigned j = 0; j < k_max; ++j) {
      fs[j] = random_poly(prng, 0, 4095);
      gs[j] = random_poly(prng, -(q - 1) / 2, (q - 1) / 2);
      f[j] = fs[j].c.data();
      g[j] = gs[j].c.data();
    }
    for (unsigned count = 1; count <= k_max; ++count) {
      Poly hp, hv;
      p.multiply_ntts_acc(hp.c.data(), f, g, count);
      v.multiply_ntts_acc(hv.c.data(), f, g, count);
      for (int i = 0; i < n; ++i) ASSERT_EQ(mod_q(hp.c[i]), mod_q(hv.c[i])) << "basemul " << i;
      for (int i = 0; i < n; ++i) ASSERT_LT(std::abs(hv.c[i]), q);
    }
    // Compression and decompression: identical bytes and coefficients.
    for (unsigned d : {4u, 5u, 10u, 11u}) {
      Poly x = random_poly(prng, -32768 + q, 32767 - q);
      std::uint8_t bp[32 * 11], bv[32 * 11];
      p.compress_encode(bp, x.c.data(), d);
      v.compress_encode(bv, x.c.data(), d);
      ASSERT_EQ(0, std::memcmp(bp, bv, 32 * d)) << "compress d=" << d;
      Poly yp, yv;
      p.decode_decompress(yp.c.data(), bp, d);
      v.decode_decompress(yv.c.data(), bp, d);
      ASSERT_EQ(yp.c, yv.c) << "decompress d=" << d;
    }
    // CBD sampling.
    std::uint8_t bytes[64 * eta_max];
    prng.fill(bytes);
    for (unsigned eta : {2u, 3u}) {
      Poly sp, sv;
      p.sample_cbd(sp.c.data(), bytes, eta);
      v.sample_cbd(sv.c.data(), bytes, eta);
      ASSERT_EQ(sp.c, sv.c) << "cbd eta=" << eta;
    }
    // ByteEncode_12 / ByteDecode_12 and the message bits.
    {
      Poly x = random_poly(prng, 0, q - 1), yp, yv;
      std::uint8_t ep[poly_bytes], ev[poly_bytes];
      p.byte_encode12(ep, x.c.data());
      v.byte_encode12(ev, x.c.data());
      ASSERT_EQ(0, std::memcmp(ep, ev, poly_bytes)) << "encode12";
      prng.fill(ep);
      p.byte_decode12(yp.c.data(), ep);
      v.byte_decode12(yv.c.data(), ep);
      ASSERT_EQ(yp.c, yv.c) << "decode12";
      Poly w = random_poly(prng, -32768 + q, 32767 - q);
      std::uint8_t mp[sym_bytes], mv[sym_bytes];
      p.poly_to_message(mp, w.c.data());
      v.poly_to_message(mv, w.c.data());
      ASSERT_EQ(0, std::memcmp(mp, mv, sym_bytes)) << "poly_to_message";
      Poly fp, fv;
      p.message_to_poly(fp.c.data(), mp);
      v.message_to_poly(fv.c.data(), mp);
      ASSERT_EQ(fp.c, fv.c) << "message_to_poly";
    }
    // Rejection sampling, including short outputs and partial buffers.
    std::uint8_t buf[504];
    prng.fill(buf);
    const std::size_t want = 1 + prng.uniform(n);
    const std::size_t length = 3 * prng.uniform(169);
    Poly rp{}, rv{};
    const std::size_t cp = p.rejection_sample(rp.c.data(), want, buf, length);
    const std::size_t cv = v.rejection_sample(rv.c.data(), want, buf, length);
    ASSERT_EQ(cp, cv);
    ASSERT_LE(cp, want);
    for (std::size_t i = 0; i < cp; ++i) ASSERT_EQ(rp.c[i], rv.c[i]) << "rejection " << i;
    // Against Algorithm 7 directly: the accepted 12-bit values, in order.
    std::size_t expected_count = 0;
    for (std::size_t pos = 0; pos + 3 <= length && expected_count < want; pos += 3) {
      const int d1 = buf[pos] | ((buf[pos + 1] & 0x0F) << 8), d2 = (buf[pos + 1] >> 4) | (buf[pos + 2] << 4);
      if (d1 < q) {
        ASSERT_EQ(rp.c[expected_count++], d1);
      }
      if (d2 < q && expected_count < want) {
        ASSERT_EQ(rp.c[expected_count++], d2);
      }
    }
    ASSERT_EQ(cp, expected_count);
  }
}

TEST(MlKemPolyTest, CompressionOfEveryResidueSameOnBothPaths) {
  if (!cpu_features().avx2) GTEST_SKIP() << "CPU has no AVX2: only the portable path exists here";
  // Every x in [0, q), and the same residues offset by -q and +q (inputs to
  // compress_encode may be any representative): 13 polynomials cover them.
  for (int offset : {-q, 0, q}) {
    for (int start = 0; start < q; start += n) {
      Poly x;
      for (int i = 0; i < n; ++i) x.c[i] = static_cast<std::int16_t>((start + i) % q + offset);
      for (unsigned d : {4u, 5u, 10u, 11u}) {
        std::uint8_t bp[32 * 11], bv[32 * 11];
        portable_ops().compress_encode(bp, x.c.data(), d);
        avx2_ops().compress_encode(bv, x.c.data(), d);
        ASSERT_EQ(0, std::memcmp(bp, bv, 32 * d)) << "d=" << d << " start=" << start << " offset=" << offset;
      }
      std::uint8_t mp[sym_bytes], mv[sym_bytes];
      portable_ops().poly_to_message(mp, x.c.data());
      avx2_ops().poly_to_message(mv, x.c.data());
      ASSERT_EQ(0, std::memcmp(mp, mv, sym_bytes)) << "message start=" << start << " offset=" << offset;
    }
  }
}

TEST(MlKemPolyvecTest, BatchedMatrixEqualsSequentialMatrix) {
  Prng prng(15);
  for (int round = 0; round < 20; ++round) {
    std::uint8_t rho[sym_bytes];
    prng.fill(rho);
    const unsigned k = 2 + static_cast<unsigned>(prng.uniform(3));
    const bool transposed = prng.chance(1, 2);
    PolyMatrix expected, got;
    generate_matrix(expected, rho, k, transposed, portable_ops());
    // Two unrelated jobs in the same batch must not disturb the matrix.
    std::uint8_t in[100], out1[32], out2[200];
    prng.fill(in);
    const std::array<keccak::XofJob, 2> extra{
        keccak::XofJob{in, out1, keccak::sha3_256_rate, keccak::sha3_domain},
        keccak::XofJob{std::span<const std::uint8_t>(in, 33), out2, keccak::shake256_rate, keccak::shake_domain}};
    for (const PolyOps* ops : all_paths()) {
      generate_matrix_batched(got, rho, k, transposed, extra, *ops);
      for (unsigned i = 0; i < k; ++i)
        for (unsigned j = 0; j < k; ++j) ASSERT_EQ(got.row[i].v[j].c, expected.row[i].v[j].c) << ops->name;
      std::uint8_t h[32];
      keccak::sha3_256(h, in);
      ASSERT_EQ(0, std::memcmp(h, out1, 32));
    }
  }
}

TEST(MlKemPolyTest, CbdMatchesAlgorithm8BitByBit) {
  Prng prng(13);
  for (const PolyOps* ops : all_paths()) {
    for (unsigned eta : {2u, 3u}) {
      std::uint8_t bytes[64 * eta_max];
      prng.fill(bytes);
      Poly f;
      ops->sample_cbd(f.c.data(), bytes, eta);
      for (unsigned i = 0; i < n; ++i) {
        int x = 0, y = 0;
        for (unsigned j = 0; j < eta; ++j) {
          const unsigned bx = 2 * i * eta + j, by = 2 * i * eta + eta + j;
          x += (bytes[bx / 8] >> (bx % 8)) & 1;
          y += (bytes[by / 8] >> (by % 8)) & 1;
        }
        ASSERT_EQ(f.c[i], x - y) << ops->name << " eta=" << eta << " i=" << i;
      }
    }
  }
}

TEST(MlKemPolyTest, MessageRoundTripAndEncode12) {
  Prng prng(14);
  std::uint8_t m[32], back[32];
  prng.fill(m);
  Poly f;
  message_to_poly(f.c.data(), m);
  for (int i = 0; i < n; ++i) ASSERT_EQ(f.c[i], ((m[i / 8] >> (i % 8)) & 1) ? 1665 : 0);
  // Noise below q/4 keeps the message.
  for (auto& c : f.c) c = static_cast<std::int16_t>(c + static_cast<int>(prng.uniform(1600)) - 800);
  poly_to_message(back, f.c.data());
  EXPECT_EQ(0, std::memcmp(m, back, 32));
  Poly g = random_poly(prng, 0, q - 1), h;
  std::uint8_t bytes[poly_bytes];
  byte_encode12(bytes, g.c.data());
  byte_decode12(h.c.data(), bytes);
  EXPECT_EQ(g.c, h.c);
  EXPECT_EQ(all_below_q(h.c.data()), 0xFFFF);
  h.c[77] = q;
  EXPECT_EQ(all_below_q(h.c.data()), 0);
}

}  // namespace
}  // namespace kestrel::crypto::mlkem
