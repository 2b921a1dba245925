#include "crypto/keccak.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include "common/bytes.h"
#include "common/gates.h"
#include "common/prng.h"

namespace kestrel::crypto::keccak {
namespace {

// OpenSSL as the independent reference.
Bytes openssl_digest(const char* name, ByteSpan in, std::size_t out_bytes) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  KESTREL_ASSERT(md != nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Bytes out(out_bytes);
  KESTREL_ASSERT(EVP_DigestInit_ex(ctx, md, nullptr) == 1);
  KESTREL_ASSERT(EVP_DigestUpdate(ctx, in.data(), in.size()) == 1);
  if (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF) {
    KESTREL_ASSERT(EVP_DigestFinalXOF(ctx, out.data(), out.size()) == 1);
  } else {
    unsigned int n = 0;
    KESTREL_ASSERT(EVP_DigestFinal_ex(ctx, out.data(), &n) == 1 && n == out_bytes);
  }
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  return out;
}

// FIPS 202 examples (NIST "Example Values" for SHA-3 and SHAKE on the empty and
// "abc" messages).
TEST(KeccakTest, Fips202Examples) {
  std::array<std::uint8_t, 32> h256;
  sha3_256(h256, ByteSpan{});
  EXPECT_EQ(to_hex(h256), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
  sha3_256(h256, as_bytes("abc"));
  EXPECT_EQ(to_hex(h256), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  Bytes xof(32);
  shake128(xof, ByteSpan{});
  EXPECT_EQ(to_hex(xof), "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
  shake256(xof, ByteSpan{});
  EXPECT_EQ(to_hex(xof), "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f");
}

TEST(KeccakTest, MatchesOpenSslAcrossRateBoundaries) {
  Prng prng(21);
  Bytes input(3 * 168 + 9);
  prng.fill(input);
  // Every length near each rate multiple, plus a spread up to a few KB.
  std::vector<std::size_t> lengths;
  for (std::size_t rate : {72, 104, 136, 144, 168})
    for (std::size_t k = 0; k <= 3; ++k)
      for (int d = -2; d <= 2; ++d)
        if (static_cast<long>(k * rate) + d >= 0) lengths.push_back(k * rate + d);
  for (std::size_t n = 0; n < 40; ++n) lengths.push_back(prng.uniform(4000));
  Bytes big(4000);
  prng.fill(big);
  for (std::size_t length : lengths) {
    const ByteSpan in = ByteSpan(big).first(length);
    std::array<std::uint8_t, 28> h224;
    std::array<std::uint8_t, 32> h256;
    std::array<std::uint8_t, 48> h384;
    std::array<std::uint8_t, 64> h512;
    sha3_224(h224, in);
    sha3_256(h256, in);
    sha3_384(h384, in);
    sha3_512(h512, in);
    EXPECT_EQ(Bytes(h224.begin(), h224.end()), openssl_digest("SHA3-224", in, 28)) << length;
    EXPECT_EQ(Bytes(h256.begin(), h256.end()), openssl_digest("SHA3-256", in, 32)) << length;
    EXPECT_EQ(Bytes(h384.begin(), h384.end()), openssl_digest("SHA3-384", in, 48)) << length;
    EXPECT_EQ(Bytes(h512.begin(), h512.end()), openssl_digest("SHA3-512", in, 64)) << length;
    const std::size_t xof_bytes = 1 + length % 700;
    Bytes x128(xof_bytes), x256(xof_bytes);
    shake128(x128, in);
    shake256(x256, in);
    EXPECT_EQ(x128, openssl_digest("SHAKE128", in, xof_bytes)) << length;
    EXPECT_EQ(x256, openssl_digest("SHAKE256", in, xof_bytes)) << length;
  }
}

TEST(KeccakTest, IncrementalMatchesOneShot) {
  Prng prng(22);
  Bytes input(1000);
  prng.fill(input);
  Bytes expected(777);
  shake128(expected, input);
  for (int trial = 0; trial < 50; ++trial) {
    Shake128 xof;
    std::size_t at = 0;
    while (at < input.size()) {
      const std::size_t take = std::min<std::size_t>(input.size() - at, prng.uniform(300));
      xof.absorb(ByteSpan(input).subspan(at, take));
      at += take;
    }
    Bytes out(expected.size());
    std::size_t got = 0;
    while (got < out.size()) {
      const std::size_t take = std::min<std::size_t>(out.size() - got, prng.uniform(200));
      xof.squeeze(MutableByteSpan(out).subspan(got, take));
      got += take;
    }
    ASSERT_EQ(out, expected);
  }
}

TEST(KeccakTest, SqueezeBlocksMatchesSqueeze) {
  Bytes seed{1, 2, 3, 4};
  Shake128 a, b;
  a.absorb(seed);
  b.absorb(seed);
  Bytes blocks(3 * shake128_rate), bytes(3 * shake128_rate);
  a.squeeze_blocks(blocks.data(), 1);
  a.squeeze_blocks(blocks.data() + shake128_rate, 2);
  b.squeeze(bytes);
  EXPECT_EQ(blocks, bytes);
}

TEST(KeccakTest, X4PathsMatchScalar) {
  Prng prng(23);
  StateX4 x4;
  for (auto& lane : x4.lanes) lane = prng.next_u64();
  StateX4 portable = x4;
  permute_x4_portable(portable);
  for (bool avx512 : {false, true}) {  // the AVX2 and (where the CPU has it) the AVX-512 permutation
    StateX4 dispatched = x4;
    ScopedGate on(Gate::crypto_avx2, true);
    ScopedGate wide(Gate::crypto_avx512, avx512);
    permute_x4(dispatched);
    EXPECT_EQ(portable.lanes, dispatched.lanes) << "avx512=" << avx512;
  }
  for (unsigned j = 0; j < 4; ++j) {
    State s;
    for (unsigned i = 0; i < lane_count; ++i) s.a[i] = x4.lanes[4 * i + j];
    permute(s);
    for (unsigned i = 0; i < lane_count; ++i) EXPECT_EQ(s.a[i], portable.lanes[4 * i + j]);
  }
}

TEST(KeccakTest, X8MatchesTwoX4BothPaths) {
  Prng prng(25);
  StateX4 first, second;
  for (auto& lane : first.lanes) lane = prng.next_u64();
  for (auto& lane : second.lanes) lane = prng.next_u64();
  StateX4 expected_first = first, expected_second = second;
  permute_x4_portable(expected_first);
  permute_x4_portable(expected_second);
  // Portable, AVX2, AVX-512 (where the CPU has it), and crypto.avx512 on with
  // crypto.avx2 off (must be the portable code).
  for (int path = 0; path < 4; ++path) {
    ScopedGate gate(Gate::crypto_avx2, path == 1 || path == 2);
    ScopedGate wide(Gate::crypto_avx512, path >= 2);
    StateX4 a = first, b = second;
    permute_x8(a, b);
    EXPECT_EQ(a.lanes, expected_first.lanes) << "path " << path;
    EXPECT_EQ(b.lanes, expected_second.lanes) << "path " << path;
  }
}

TEST(KeccakTest, ShakeX4MatchesFourSingleInstancesBothPaths) {
  Prng prng(24);
  for (bool avx2 : {false, true}) {
    ScopedGate gate(Gate::crypto_avx2, avx2);
    for (std::size_t rate : {shake128_rate, shake256_rate}) {
      for (std::size_t length : {0u, 34u, 135u, 136u, 200u, 400u}) {
        std::array<Bytes, 4> inputs;
        for (auto& in : inputs) {
          in.resize(length);
          prng.fill(in);
        }
        ShakeX4 x4(rate);
        x4.absorb_once({inputs[0], inputs[1], inputs[2], inputs[3]});
        std::array<Bytes, 4> out;
        for (auto& o : out) o.resize(3 * rate);
        x4.squeeze_blocks({out[0].data(), out[1].data(), out[2].data(), out[3].data()}, 3);
        for (unsigned j = 0; j < 4; ++j) {
          Bytes expected(3 * rate);
          if (rate == shake128_rate) shake128(expected, inputs[j]);
          else shake256(expected, inputs[j]);
          EXPECT_EQ(out[j], expected) << "avx2=" << avx2 << " rate=" << rate << " len=" << length;
        }
      }
    }
  }
}

}  // namespace
}  // namespace kestrel::crypto::keccak
