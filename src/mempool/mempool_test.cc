#include "mempool/mempool.h"

#include <gtest/gtest.h>

#include "common/gates.h"
#include "common/prng.h"

namespace kestrel::mempool {
namespace {

using crypto::SignatureScheme;
using execution::Ledger;
using execution::Transaction;
using execution::Transfer;

constexpr std::uint32_t chain = 3;

struct Client {
  std::unique_ptr<crypto::Signer> signer;
  execution::AccountId id;
  explicit Client(SignatureScheme scheme = SignatureScheme::ed25519)
      : signer(crypto::generate_signer(scheme)), id(execution::account_id(scheme, signer->verifier().public_key())) {}
  Bytes tx(std::uint64_t nonce, std::uint64_t amount = 1, std::uint32_t chain_id = chain) const {
    return execution::encode_transaction(
        execution::make_signed(*signer, chain_id, nonce, Transfer{execution::AccountId{}, amount}));
  }
};

struct Fixture {
  Ledger ledger;
  crypto::VerifyCache cache{1024};
  crypto::ParallelVerifier verifier;
  Mempool pool;
  Fixture(const Config& config, std::vector<execution::GenesisAllocation> genesis = {}, std::size_t threads = 2)
      : ledger(std::move(Ledger::create(chain, genesis)).value()),
        verifier(threads, &cache),
        pool(config, verifier, [this](const execution::AccountId& id) { return ledger.account(id).nonce; }) {}
};

Config config_with(std::size_t count = 1000, std::size_t bytes = limits::mempool_bytes_max) {
  Config c;
  c.chain_id = chain;
  c.transactions_max = count;
  c.bytes_max = bytes;
  return c;
}

AdmitError admit_error(Mempool& pool, const Bytes& tx) {
  const ByteSpan in[] = {tx};
  auto r = pool.admit(in);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_FALSE(r[0].ok());
  return r[0].ok() ? AdmitError::count_ : r[0].error();
}

execution::TransactionId admit_ok(Mempool& pool, const Bytes& tx) {
  const ByteSpan in[] = {tx};
  auto r = pool.admit(in);
  EXPECT_TRUE(r[0].ok()) << (r[0].ok() ? "" : describe(r[0].error()));
  return r[0].ok() ? *r[0] : execution::TransactionId{};
}

TEST(MempoolTest, AdmitsAndRefusesWithSpecificReasons) {
  Fixture f(config_with());
  Client a;
  const auto tx0 = a.tx(0);
  const auto id = admit_ok(f.pool, tx0);
  EXPECT_EQ(id, execution::transaction_id(tx0));
  EXPECT_TRUE(f.pool.contains(id));
  EXPECT_EQ(f.pool.size(), 1u);
  EXPECT_EQ(f.pool.bytes(), tx0.size());
  EXPECT_EQ(admit_error(f.pool, tx0), AdmitError::duplicate);
  EXPECT_EQ(admit_error(f.pool, a.tx(0, 2)), AdmitError::nonce_taken);
  EXPECT_EQ(admit_error(f.pool, a.tx(1, 1, chain + 1)), AdmitError::wrong_chain);
  EXPECT_EQ(admit_error(f.pool, a.tx(limits::mempool_nonce_gap_max + 1)), AdmitError::nonce_gap_too_large);
  admit_ok(f.pool, a.tx(limits::mempool_nonce_gap_max));
  auto bad_sig = a.tx(1);
  bad_sig[bad_sig.size() - 10] ^= 1;
  EXPECT_EQ(admit_error(f.pool, bad_sig), AdmitError::bad_signature);
  auto garbage = a.tx(1);
  garbage.push_back(0);
  EXPECT_EQ(admit_error(f.pool, garbage), AdmitError::bad_encoding);
  EXPECT_EQ(admit_error(f.pool, Bytes(limits::transaction_bytes_max + 1, 0)), AdmitError::too_large);
  EXPECT_EQ(f.pool.refused(AdmitError::bad_signature), 1u);
  EXPECT_EQ(f.pool.refused(AdmitError::duplicate), 1u);
  EXPECT_EQ(f.pool.size(), 2u);
  // Stale: once the ledger consumed nonce 0, a nonce-0 transaction is refused.
  std::vector<Transaction> block{*execution::decode_transaction(tx0)};
  ASSERT_TRUE(f.ledger.execute_block(1, block, std::vector{id}).ok());
  f.pool.on_committed(block);
  EXPECT_FALSE(f.pool.contains(id));
  EXPECT_EQ(admit_error(f.pool, a.tx(0, 5)), AdmitError::stale_nonce);
}

TEST(MempoolTest, BoundsByCountBytesAndSenderShare) {
  {
    Fixture f(config_with(32));  // sender share = 32 / 16 = 2
    Client a;
    admit_ok(f.pool, a.tx(0));
    admit_ok(f.pool, a.tx(1));
    EXPECT_EQ(admit_error(f.pool, a.tx(2)), AdmitError::sender_quota);
    for (int i = 0; i < 15; ++i) {
      Client c;
      admit_ok(f.pool, c.tx(0));
      admit_ok(f.pool, c.tx(1));
    }
    EXPECT_EQ(f.pool.size(), 32u);
    EXPECT_EQ(admit_error(f.pool, Client().tx(0)), AdmitError::pool_full);
  }
  {
    std::vector<Client> clients(4);
    const auto one = clients[0].tx(0);
    Config c = config_with(1000, limits::transaction_bytes_max);
    c.sender_transactions_max = 1000;
    Fixture f(c);
    std::size_t admitted = 0;
    for (std::uint64_t n = 0; n < 200; ++n) {
      const Bytes tx = clients[n / 50].tx(n % 50);
      const ByteSpan in[] = {tx};
      auto r = f.pool.admit(in);
      if (!r[0].ok()) {
        EXPECT_EQ(r[0].error(), AdmitError::pool_full);
        break;
      }
      ++admitted;
    }
    EXPECT_EQ(admitted, limits::transaction_bytes_max / one.size());
    EXPECT_LE(f.pool.bytes(), limits::transaction_bytes_max);
  }
}

TEST(MempoolTest, BatchChecksBoundsAcrossItsOwnItems) {
  Fixture f(config_with(32));
  Client a;
  std::vector<Bytes> txs{a.tx(0), a.tx(0), a.tx(1), a.tx(2), a.tx(0, 7)};
  std::vector<ByteSpan> in(txs.begin(), txs.end());
  auto r = f.pool.admit(in);
  EXPECT_TRUE(r[0].ok());
  EXPECT_EQ(r[1].error(), AdmitError::duplicate);
  EXPECT_TRUE(r[2].ok());
  EXPECT_EQ(r[3].error(), AdmitError::sender_quota);
  EXPECT_EQ(r[4].error(), AdmitError::nonce_taken);
  std::vector<ByteSpan> too_many(limits::mempool_admit_batch_max + 1, ByteSpan(txs[0]));
  auto big = f.pool.admit(too_many);
  EXPECT_EQ(big.size(), too_many.size());
  EXPECT_EQ(big[0].error(), AdmitError::batch_too_large);
}

TEST(MempoolTest, GarbageNeverCrashesAndIsCounted) {
  Fixture f(config_with());
  Prng prng(42);
  Client a;
  const auto valid = a.tx(0);
  std::vector<Bytes> inputs;
  for (int i = 0; i < 500; ++i) {
    Bytes b = valid;
    const auto flips = 1 + prng.uniform(4);
    for (std::uint64_t k = 0; k < flips; ++k) b[prng.uniform(b.size())] ^= static_cast<std::uint8_t>(1 + prng.uniform(255));
    if (prng.chance(1, 3)) b.resize(prng.uniform(b.size() + 1));
    inputs.push_back(std::move(b));
  }
  std::vector<ByteSpan> in(inputs.begin(), inputs.end());
  auto r = f.pool.admit(in);
  std::size_t refused = 0;
  for (const auto& x : r) refused += x.ok() ? 0 : 1;
  EXPECT_EQ(refused, 500u);  // every change breaks the encoding or the signature
  EXPECT_EQ(f.pool.admitted() + refused, 500u);
}

TEST(MempoolTest, BatchesFollowNonceOrderCountBytesAndKeepFailedViews) {
  Fixture f(config_with());
  Client a, b;
  // a: nonces 0,1,2 and 5 (gap); b: 0,1.
  for (std::uint64_t n : {2, 0, 5, 1}) admit_ok(f.pool, a.tx(n));
  for (std::uint64_t n : {1, 0}) admit_ok(f.pool, b.tx(n));
  auto batch = f.pool.next_batch(100, 1 << 20);
  ASSERT_EQ(batch.ids.size(), 5u);  // a's nonce 5 cannot run yet
  auto nonces_of = [&](const Client& c) {
    std::vector<std::uint64_t> out;
    for (const auto& t : batch.transactions) {
      auto tx = execution::decode_transaction(t);
      if (execution::sender_of(*tx) == c.id) out.push_back(tx->nonce);
    }
    return out;
  };
  EXPECT_EQ(nonces_of(a), (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(nonces_of(b), (std::vector<std::uint64_t>{0, 1}));
  // By count and by bytes.
  EXPECT_EQ(f.pool.next_batch(3, 1 << 20).ids.size(), 3u);
  const std::size_t one = batch.transactions[0].size();
  EXPECT_EQ(f.pool.next_batch(100, 2 * one + 1).ids.size(), 2u);
  // Nothing was removed: a failed view's batch is proposed again.
  EXPECT_EQ(f.pool.size(), 6u);
  // In-flight ids are skipped but the run continues behind them.
  auto rest = f.pool.next_batch(100, 1 << 20, batch.ids);
  EXPECT_TRUE(rest.ids.empty());
  // Commit a's 0 and 1 and b's 0: they leave, the rest stays.
  std::vector<Transaction> block;
  std::vector<execution::TransactionId> ids;
  for (const auto& t : batch.transactions) {
    auto tx = *execution::decode_transaction(t);
    if ((execution::sender_of(tx) == a.id && tx.nonce < 2) || (execution::sender_of(tx) == b.id && tx.nonce == 0)) {
      block.push_back(tx);
      ids.push_back(execution::transaction_id(t));
    }
  }
  ASSERT_EQ(block.size(), 3u);
  auto executed = f.ledger.execute_block(1, block, ids);
  ASSERT_TRUE(executed.ok());
  f.pool.on_committed(block);
  EXPECT_EQ(f.pool.size(), 3u);  // a:2, a:5, b:1
  for (const auto& id : ids) EXPECT_FALSE(f.pool.contains(id));
  EXPECT_EQ(f.pool.next_batch(100, 1 << 20).ids.size(), 2u);
}

TEST(MempoolTest, FailedExecutionConsumesNonceAndClearsPool) {
  // Sender without balance: its transfers fail at execution but consume nonces,
  // so the pool drops them on commit.
  Fixture f(config_with());
  Client a;
  std::vector<Bytes> txs{a.tx(0, 100), a.tx(1, 100)};
  for (const auto& t : txs) admit_ok(f.pool, t);
  std::vector<Transaction> block{*execution::decode_transaction(txs[0])};
  auto r = f.ledger.execute_block(1, block, std::vector{execution::transaction_id(txs[0])});
  EXPECT_EQ(r->receipts[0].status, execution::ReceiptStatus::insufficient_balance);
  f.pool.on_committed(block);
  EXPECT_EQ(f.pool.size(), 1u);
}

// The next nonce for a client counts the sender's pooled run from the ledger's
// nonce, stops at a gap, and follows commits.
TEST(MempoolTest, PendingNextNonceCountsTheContiguousRun) {
  Fixture f(config_with());
  Client a, b;
  EXPECT_EQ(f.pool.pending_next_nonce(a.id, 0), 0u);  // unknown sender: the ledger's
  std::vector<Bytes> txs{a.tx(0), a.tx(1), a.tx(2), a.tx(5)};
  for (const auto& t : txs) admit_ok(f.pool, t);
  EXPECT_EQ(f.pool.pending_next_nonce(a.id, 0), 3u);  // 0, 1, 2; 5 is past a gap
  EXPECT_EQ(f.pool.pending_next_nonce(b.id, 0), 0u);
  std::vector<Transaction> block{*execution::decode_transaction(txs[0]), *execution::decode_transaction(txs[1])};
  ASSERT_TRUE(f.ledger.execute_block(1, block, std::vector{execution::transaction_id(txs[0]), execution::transaction_id(txs[1])}).ok());
  f.pool.on_committed(block);
  const std::uint64_t ledger_nonce = f.ledger.account(a.id).nonce;
  EXPECT_EQ(ledger_nonce, 2u);
  EXPECT_EQ(f.pool.pending_next_nonce(a.id, ledger_nonce), 3u);
  admit_ok(f.pool, a.tx(3));
  admit_ok(f.pool, a.tx(4));
  EXPECT_EQ(f.pool.pending_next_nonce(a.id, ledger_nonce), 6u);  // the gap is filled: 2..5
}

// known_sender and on_committed with the caller's senders (gate
// execution.known_senders): the admitted transaction's sender, nothing for one not
// in the pool, and the same pool after the commit either way.
TEST(MempoolTest, KnownSenderAndCommitWithSenders) {
  Client a, b;
  const std::vector<Bytes> txs{a.tx(0, 1), a.tx(1, 1), b.tx(0, 1)};
  const execution::AccountId a_id = a.id, b_id = b.id;
  for (bool with_senders : {false, true}) {
    Fixture f(config_with(), {{a_id, 10}, {b_id, 10}});
    for (const auto& t : txs) admit_ok(f.pool, t);
    EXPECT_EQ(f.pool.known_sender(execution::transaction_id(txs[0])), a_id);
    EXPECT_EQ(f.pool.known_sender(execution::transaction_id(txs[2])), b_id);
    EXPECT_FALSE(f.pool.known_sender(execution::transaction_id(a.tx(2, 1))).has_value());
    const std::vector<Transaction> block{*execution::decode_transaction(txs[0]), *execution::decode_transaction(txs[2])};
    const std::vector<execution::TransactionId> ids{execution::transaction_id(txs[0]), execution::transaction_id(txs[2])};
    const std::vector<execution::AccountId> senders{a_id, b_id};
    ASSERT_TRUE(f.ledger.execute_block(1, block, ids, {}, with_senders ? std::span(senders) : std::span<const execution::AccountId>()).ok());
    if (with_senders) {
      f.pool.on_committed(block, senders);
    } else {
      f.pool.on_committed(block);
    }
    EXPECT_EQ(f.pool.size(), 1u) << with_senders;  // a's nonce-1 transfer is left
    EXPECT_FALSE(f.pool.known_sender(ids[0]).has_value());
    EXPECT_EQ(f.pool.known_sender(execution::transaction_id(txs[1])), a_id);
  }
}

// Both sides of mempool.known_transactions: admitted transactions take the known
// path (no decode, no verification) with the gate on and a verify-cache hit with
// it off; transactions not admitted here, and every tampered one, are checked in
// full either way.
class VerifyProposal : public ::testing::TestWithParam<bool> {};

TEST_P(VerifyProposal, UsesKnownTransactionsOrTheCacheAndRefusesBadTransactions) {
  ScopedGate known_gate(Gate::mempool_known_transactions, GetParam());
  ScopedGate cache_gate(Gate::crypto_verify_cache, true);
  Fixture f(config_with());
  Client a(SignatureScheme::ml_dsa_65), b;
  std::vector<Bytes> txs{a.tx(0), a.tx(1), b.tx(0)};
  std::vector<ByteSpan> in(txs.begin(), txs.end());
  for (const auto& r : f.pool.admit(in)) ASSERT_TRUE(r.ok());
  const auto hits = f.cache.hits(), misses = f.cache.misses();
  std::size_t known = 99;
  auto checked = f.pool.verify_proposal(in, &known);
  ASSERT_TRUE(checked.ok());
  ASSERT_EQ(checked->size(), 3u);
  for (std::size_t i = 0; i < txs.size(); ++i) EXPECT_EQ((*checked)[i], execution::transaction_id(txs[i]));
  if (GetParam()) {
    EXPECT_EQ(known, 3u);
    EXPECT_EQ(f.cache.hits(), hits);  // nothing verified again
  } else {
    EXPECT_EQ(known, 0u);
    EXPECT_EQ(f.cache.hits(), hits + 3);  // admitted before: every check is a cache hit
  }
  EXPECT_EQ(f.cache.misses(), misses);
  // A transaction this pool never saw is verified in full on both sides.
  const Bytes fresh = b.tx(1);
  std::vector<ByteSpan> mixed{in[0], fresh};
  auto mixed_checked = f.pool.verify_proposal(mixed, &known);
  ASSERT_TRUE(mixed_checked.ok());
  EXPECT_EQ(known, GetParam() ? 1u : 0u);
  EXPECT_EQ(f.cache.misses(), misses + 1);
  auto bad = txs;
  bad[1][bad[1].size() - 7] ^= 1;
  std::vector<ByteSpan> bad_in(bad.begin(), bad.end());
  EXPECT_EQ(f.pool.verify_proposal(bad_in).error(), ProposalError::bad_signature);
  bad = txs;
  bad[0].pop_back();
  bad_in.assign(bad.begin(), bad.end());
  EXPECT_EQ(f.pool.verify_proposal(bad_in).error(), ProposalError::bad_encoding);
  const Bytes other = a.tx(2, 1, chain + 1);
  const ByteSpan other_in[] = {other};
  EXPECT_EQ(f.pool.verify_proposal(other_in).error(), ProposalError::wrong_chain);
  EXPECT_TRUE(f.pool.verify_proposal({}).ok());
}

INSTANTIATE_TEST_SUITE_P(KnownTransactions, VerifyProposal, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "known" : "checked"); });

// Both sides of mempool.id_keyed_verify_cache: admission keys the cache entry by
// the transaction's id with the gate on and by its inputs with it off, and a
// proposal carrying the transaction finds that entry either way.
class IdKeyedCache : public ::testing::TestWithParam<bool> {};

TEST_P(IdKeyedCache, EntryKeyFollowsTheGate) {
  ScopedGate id_gate(Gate::mempool_id_keyed_verify_cache, GetParam());
  ScopedGate cache_gate(Gate::crypto_verify_cache, true);
  ScopedGate known_gate(Gate::mempool_known_transactions, false);  // proposals go through the cache
  Fixture f(config_with());
  Client a(SignatureScheme::ml_dsa_65);
  const Bytes tx = a.tx(0);
  const ByteSpan in[] = {tx};
  ASSERT_TRUE(f.pool.admit(in)[0].ok());
  const auto decoded = execution::decode_transaction(tx).value();
  const Hash32 by_inputs =
      crypto::VerifyCache::key_of(a.signer->verifier(), execution::signing_bytes(decoded), decoded.signature);
  const Hash32 by_id = crypto::VerifyCache::key_of_binding(execution::transaction_id(tx));
  EXPECT_EQ(f.cache.contains(by_id), GetParam());
  EXPECT_EQ(f.cache.contains(by_inputs), !GetParam());
  const auto hits = f.cache.hits(), misses = f.cache.misses();
  ASSERT_TRUE(f.pool.verify_proposal(in).ok());
  EXPECT_EQ(f.cache.hits(), hits + 1);
  EXPECT_EQ(f.cache.misses(), misses);
  // Other bytes, other id: a tampered copy is verified, and refused.
  Bytes bad = tx;
  bad[bad.size() - 9] ^= 1;
  const ByteSpan bad_in[] = {bad};
  EXPECT_EQ(f.pool.verify_proposal(bad_in).error(), ProposalError::bad_signature);
}

INSTANTIATE_TEST_SUITE_P(Gate, IdKeyedCache, ::testing::Bool(),
                         [](const auto& p) { return std::string(p.param ? "id" : "inputs"); });

// Both sides of crypto.parallel_verify and crypto.verify_cache, 1 and 2 threads,
// ML-DSA-65: the same verdicts, and the cache is hit only with its gate on.
class MempoolGates : public ::testing::TestWithParam<std::tuple<bool, bool, std::size_t>> {};

TEST_P(MempoolGates, SameVerdictsEveryWay) {
  const auto [parallel, cached, threads] = GetParam();
  ScopedGate g1(Gate::crypto_parallel_verify, parallel);
  ScopedGate g2(Gate::crypto_verify_cache, cached);
  Client a(SignatureScheme::ml_dsa_65), b(SignatureScheme::hybrid);
  std::vector<Bytes> txs{a.tx(0), a.tx(1), b.tx(0), a.tx(2)};
  txs[2][txs[2].size() - 100] ^= 0x40;  // b's signature broken
  std::vector<ByteSpan> in(txs.begin(), txs.end());
  {
    Fixture f(config_with(), {}, threads);
    auto r = f.pool.admit(in);
    EXPECT_TRUE(r[0].ok());
    EXPECT_TRUE(r[1].ok());
    ASSERT_FALSE(r[2].ok());
    EXPECT_EQ(r[2].error(), AdmitError::bad_signature);
    EXPECT_TRUE(r[3].ok());
    EXPECT_EQ(f.pool.size(), 3u);
  }
  // Warm cache: a second mempool sharing the cache verifies nothing again.
  crypto::VerifyCache cache(64);
  crypto::ParallelVerifier verifier(threads, &cache);
  auto ledger = std::move(Ledger::create(chain, {})).value();
  auto lookup = [&](const execution::AccountId& id) { return ledger.account(id).nonce; };
  Mempool first(config_with(), verifier, lookup);
  (void)first.admit(in);
  const auto misses = cache.misses();
  Mempool second(config_with(), verifier, lookup);
  auto r = second.admit(in);
  EXPECT_EQ(r[2].error(), AdmitError::bad_signature);  // failures are never cached
  if (cached) {
    EXPECT_EQ(cache.hits(), 3u);
    EXPECT_EQ(cache.misses(), misses + 1);
  } else {
    EXPECT_EQ(cache.hits(), 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Gates, MempoolGates,
                         ::testing::Combine(::testing::Bool(), ::testing::Bool(), ::testing::Values(1u, 2u)));

}  // namespace
}  // namespace kestrel::mempool
