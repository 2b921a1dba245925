#include "crypto/verify_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <memory>

#include "common/gates.h"
#include "common/prng.h"

namespace kestrel::crypto {
namespace {

// Counts calls, so a test can tell a cache hit from a verification.
class CountingVerifier final : public Verifier {
 public:
  explicit CountingVerifier(const Verifier& inner) : inner_(inner) {}
  SignatureScheme scheme() const override { return inner_.scheme(); }
  ByteSpan public_key() const override { return inner_.public_key(); }
  Status<CryptoError> verify(ByteSpan message, ByteSpan signature) const override {
    ++calls;
    return inner_.verify(message, signature);
  }
  mutable int calls = 0;

 private:
  const Verifier& inner_;
};

// One ML-DSA-65 signer, a counting verifier of its key, a small cache and one
// signed message, with crypto.verify_cache off and on.
class VerifyCacheTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    gate_.emplace(Gate::crypto_verify_cache, GetParam());
    signer->sign(message, signature);
  }
  std::optional<ScopedGate> gate_;
  const bool enabled = GetParam();
  std::unique_ptr<Signer> signer = generate_signer(SignatureScheme::ml_dsa_65);
  CountingVerifier verifier{signer->verifier()};
  VerifyCache cache{8};
  const Bytes message{'t', 'x'};
  Bytes signature;
};

TEST_P(VerifyCacheTest, SuccessesAreCachedFailuresNever) {
  EXPECT_TRUE(cache.verify(verifier, message, signature).ok());
  EXPECT_TRUE(cache.verify(verifier, message, signature).ok());
  EXPECT_EQ(verifier.calls, enabled ? 1 : 2);
  EXPECT_EQ(cache.hits(), enabled ? 1u : 0u);
  EXPECT_EQ(cache.size(), enabled ? 1u : 0u);

  Bytes bad = signature;
  bad[100] ^= 1;
  verifier.calls = 0;
  EXPECT_FALSE(cache.verify(verifier, message, bad).ok());
  EXPECT_FALSE(cache.verify(verifier, message, bad).ok());
  EXPECT_EQ(verifier.calls, 2) << "a failure must be verified every time";
  EXPECT_FALSE(cache.contains(VerifyCache::key_of(verifier, message, bad)));
  // A cached success does not make a different message or key pass.
  EXPECT_FALSE(cache.verify(verifier, Bytes{'t', 'y'}, signature).ok());
  auto other = generate_signer(SignatureScheme::ml_dsa_65);
  EXPECT_FALSE(cache.verify(other->verifier(), message, signature).ok());
}

// A binding digest keys the entry instead of the inputs; failures stay uncached.
TEST_P(VerifyCacheTest, BindingKeysTheEntry) {
  const Hash32 binding = sha256(signature);  // stands for a transaction id
  EXPECT_TRUE(cache.verify(verifier, message, signature, &binding).ok());
  EXPECT_TRUE(cache.verify(verifier, message, signature, &binding).ok());
  EXPECT_EQ(verifier.calls, enabled ? 1 : 2);
  EXPECT_EQ(cache.contains(VerifyCache::key_of_binding(binding)), enabled);
  EXPECT_FALSE(cache.contains(VerifyCache::key_of(verifier, message, signature)));
  EXPECT_NE(VerifyCache::key_of_binding(binding), binding);
  Bytes bad = signature;
  bad[100] ^= 1;
  const Hash32 bad_binding = sha256(bad);
  verifier.calls = 0;
  EXPECT_FALSE(cache.verify(verifier, message, bad, &bad_binding).ok());
  EXPECT_FALSE(cache.verify(verifier, message, bad, &bad_binding).ok());
  EXPECT_EQ(verifier.calls, 2);
  EXPECT_FALSE(cache.contains(VerifyCache::key_of_binding(bad_binding)));
}

INSTANTIATE_TEST_SUITE_P(Gate, VerifyCacheTest, ::testing::Bool(),
                         [](const auto& test_info) { return test_info.param ? "on" : "off"; });

Hash32 key_number(std::uint32_t i) {
  Hash32 key;
  Prng prng(i);
  prng.fill(key.bytes);
  return key;
}

TEST(VerifyCacheLruTest, EvictsLeastRecentlyUsed) {
  VerifyCache cache(3);
  cache.insert(key_number(1));
  cache.insert(key_number(2));
  cache.insert(key_number(3));
  cache.insert(key_number(1));  // touch 1: 2 is now the oldest
  cache.insert(key_number(4));
  EXPECT_TRUE(cache.contains(key_number(1)));
  EXPECT_FALSE(cache.contains(key_number(2)));
  EXPECT_TRUE(cache.contains(key_number(3)));
  EXPECT_TRUE(cache.contains(key_number(4)));
  EXPECT_EQ(cache.size(), 3u);
  cache.clear();
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.contains(key_number(1)));
}

// Against a reference model (std::list), with keys that collide in the index
// (few distinct home slots) to exercise probing and backward-shift deletion.
TEST(VerifyCacheLruTest, MatchesReferenceModel) {
  constexpr std::size_t capacity = 37;
  VerifyCache cache(capacity);
  std::list<Hash32> model;  // front = newest
  Prng prng(99);
  std::vector<Hash32> universe;
  for (std::uint32_t i = 0; i < 120; ++i) {
    Hash32 key = key_number(i);
    key.bytes[0] = static_cast<std::uint8_t>(i % 5);  // home slot from byte 0..7: force clusters
    for (int b = 1; b < 8; ++b) key.bytes[b] = 0;
    universe.push_back(key);
  }
  for (int step = 0; step < 20000; ++step) {
    const Hash32& key = universe[prng.uniform(universe.size())];
    cache.insert(key);
    auto it = std::find(model.begin(), model.end(), key);
    if (it != model.end()) model.erase(it);
    model.push_front(key);
    if (model.size() > capacity) model.pop_back();
    if (step % 97 == 0) {
      ASSERT_EQ(cache.size(), model.size());
      for (const auto& k : universe) {
        const bool in_model = std::find(model.begin(), model.end(), k) != model.end();
        ASSERT_EQ(cache.contains(k), in_model) << "step " << step;
      }
    }
  }
}

}  // namespace
}  // namespace kestrel::crypto
