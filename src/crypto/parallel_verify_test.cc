#include "crypto/parallel_verify.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "common/gates.h"

namespace kestrel::crypto {
namespace {

struct Batch {
  std::vector<std::unique_ptr<Signer>> signers;
  std::vector<Bytes> messages;
  std::vector<Bytes> signatures;
  std::vector<VerifyItem> items;
  std::vector<std::uint8_t> expected;
};

// Mixed schemes; every third signature is corrupted.
Batch make_batch(std::size_t count) {
  Batch batch;
  const SignatureScheme schemes[] = {SignatureScheme::ed25519, SignatureScheme::ml_dsa_65, SignatureScheme::hybrid};
  for (auto scheme : schemes) batch.signers.push_back(generate_signer(scheme));
  for (std::size_t i = 0; i < count; ++i) {
    const auto& signer = batch.signers[i % batch.signers.size()];
    batch.messages.push_back(Bytes{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), 'v'});
    Bytes signature;
    signer->sign(batch.messages.back(), signature);
    const bool corrupt = i % 3 == 1;
    if (corrupt) signature[i % signature.size()] ^= 0x20;
    batch.signatures.push_back(std::move(signature));
    batch.expected.push_back(corrupt ? 0 : 1);
  }
  for (std::size_t i = 0; i < count; ++i) {
    batch.items.push_back({&batch.signers[i % batch.signers.size()]->verifier(), batch.messages[i], batch.signatures[i]});
  }
  return batch;
}

// Records which threads verify; with `rendezvous`, the first call waits (up to
// 2 s) until a second thread is verifying too, so a pool that never hands work
// to a worker fails instead of passing by luck.
class ThreadRecordingVerifier final : public Verifier {
 public:
  explicit ThreadRecordingVerifier(bool rendezvous) : rendezvous_(rendezvous) {}
  SignatureScheme scheme() const override { return SignatureScheme::ed25519; }
  ByteSpan public_key() const override { return {}; }
  Status<CryptoError> verify(ByteSpan, ByteSpan) const override {
    std::unique_lock lock(mutex_);
    threads_.insert(std::this_thread::get_id());
    changed_.notify_all();
    if (rendezvous_ && threads_.size() < 2) {
      changed_.wait_for(lock, std::chrono::seconds(2), [&] { return threads_.size() >= 2; });
    }
    return {};
  }
  std::set<std::thread::id> threads() const {
    std::lock_guard lock(mutex_);
    return threads_;
  }

 private:
  bool rendezvous_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  mutable std::set<std::thread::id> threads_;
};

TEST(ParallelVerifyGateTest, GateOnUsesWorkersGateOffUsesOnlyTheCaller) {
  for (bool parallel : {true, false}) {
    ScopedGate gate(Gate::crypto_parallel_verify, parallel);
    ThreadRecordingVerifier recorder(/*rendezvous=*/parallel);
    const Bytes message{1}, signature{2};
    std::vector<VerifyItem> items(64, VerifyItem{&recorder, message, signature});
    std::vector<std::uint8_t> valid(items.size(), 0);
    ParallelVerifier verifier(2);
    ASSERT_TRUE(verifier.verify_batch(items, valid).ok());
    EXPECT_EQ(valid, std::vector<std::uint8_t>(items.size(), 1));
    const auto threads = recorder.threads();
    if (parallel) {
      EXPECT_GE(threads.size(), 2u) << "gate on: a worker must take part";
    } else {
      ASSERT_EQ(threads.size(), 1u) << "gate off: the caller verifies alone";
      EXPECT_EQ(*threads.begin(), std::this_thread::get_id());
    }
  }
}

class ParallelVerifyTest : public ::testing::TestWithParam<std::tuple<bool, bool>> {
 protected:
  void SetUp() override {
    parallel_.emplace(Gate::crypto_parallel_verify, std::get<0>(GetParam()));
    cache_gate_.emplace(Gate::crypto_verify_cache, std::get<1>(GetParam()));
  }
  std::optional<ScopedGate> parallel_;
  std::optional<ScopedGate> cache_gate_;
};

TEST_P(ParallelVerifyTest, ResultsMatchSequentialForEveryThreadCount) {
  const Batch batch = make_batch(60);
  VerifyCache cache(64);
  for (std::size_t threads : {std::size_t{1}, std::size_t{2}, std::size_t{4}}) {
    for (VerifyCache* c : {static_cast<VerifyCache*>(nullptr), &cache}) {
      ParallelVerifier verifier(threads, c);
      EXPECT_EQ(verifier.threads(), threads);
      for (int round = 0; round < 2; ++round) {  // second round: cache hits when enabled
        std::vector<std::uint8_t> valid(batch.items.size(), 7);
        ASSERT_TRUE(verifier.verify_batch(batch.items, valid).ok());
        EXPECT_EQ(valid, batch.expected) << threads << " threads, round " << round;
      }
    }
  }
  if (std::get<1>(GetParam())) {
    EXPECT_GT(cache.hits(), 0u);
  } else {
    EXPECT_EQ(cache.hits(), 0u);
  }
}

TEST_P(ParallelVerifyTest, ConcurrentCallersShareThePool) {
  const Batch batch = make_batch(30);
  ParallelVerifier verifier(3);
  std::vector<std::thread> callers;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int round = 0; round < 5; ++round) {
        std::vector<std::uint8_t> valid(batch.items.size(), 7);
        if (!verifier.verify_batch(batch.items, valid).ok() || valid != batch.expected) ++mismatches;
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(mismatches.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Gates, ParallelVerifyTest, ::testing::Combine(::testing::Bool(), ::testing::Bool()),
                         [](const auto& test_info) {
                           return std::string(std::get<0>(test_info.param) ? "parallel_on" : "parallel_off") +
                                  (std::get<1>(test_info.param) ? "_cache_on" : "_cache_off");
                         });

TEST(ParallelVerifyBoundsTest, RejectsOversizedBatchesAndMismatchedResults) {
  ParallelVerifier verifier(2);
  std::vector<VerifyItem> items(limits::verify_batch_items_max + 1);
  std::vector<std::uint8_t> valid(items.size());
  EXPECT_EQ(verifier.verify_batch(items, valid).error(), VerifyBatchError::too_many_items);
  const Batch batch = make_batch(3);
  std::vector<std::uint8_t> short_valid(2);
  EXPECT_EQ(verifier.verify_batch(batch.items, short_valid).error(), VerifyBatchError::result_size);
  std::vector<std::uint8_t> none;
  EXPECT_TRUE(verifier.verify_batch({}, none).ok());
}

}  // namespace
}  // namespace kestrel::crypto
