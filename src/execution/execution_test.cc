#include "execution/execution.h"

#include <gtest/gtest.h>

#include "common/limits.h"
#include "execution/lthash.h"

namespace kestrel::execution {
namespace {

using crypto::SignatureScheme;

constexpr std::uint32_t chain = 7;

struct Party {
  std::unique_ptr<crypto::Signer> signer;
  AccountId id;
  explicit Party(SignatureScheme scheme = SignatureScheme::ed25519)
      : signer(crypto::generate_signer(scheme)),
        id(account_id(scheme, signer->verifier().public_key())) {}
};

Transaction transfer(const Party& from, std::uint64_t nonce, const AccountId& to, std::uint64_t amount,
                     std::uint32_t chain_id = chain) {
  return make_signed(*from.signer, chain_id, nonce, Transfer{to, amount});
}

std::vector<TransactionId> ids_of(const std::vector<Transaction>& txs) {
  std::vector<TransactionId> ids;
  for (const auto& tx : txs) ids.push_back(transaction_id(encode_transaction(tx)));
  return ids;
}

Ledger make_ledger(const std::vector<GenesisAllocation>& genesis) {
  auto ledger = Ledger::create(chain, genesis);
  EXPECT_TRUE(ledger.ok());
  return std::move(ledger).value();
}

TEST(TransactionTest, RoundTripAndSignatureOverSigningBytes) {
  for (auto scheme : {SignatureScheme::ed25519, SignatureScheme::ml_dsa_65, SignatureScheme::hybrid}) {
    Party a(scheme);
    for (int kind = 0; kind < 2; ++kind) {
      std::variant<Transfer, Put> payload = Transfer{Party().id, 42};
      if (kind == 1) payload = Put{Bytes{1, 2, 3}, Bytes(100, 9)};
      const auto tx = make_signed(*a.signer, chain, 5, payload);
      const auto encoded = encode_transaction(tx);
      ASSERT_LE(encoded.size(), limits::transaction_bytes_max);
      auto decoded = decode_transaction(encoded);
      ASSERT_TRUE(decoded.ok()) << describe(decoded.error());
      EXPECT_EQ(*decoded, tx);
      EXPECT_EQ(encode_transaction(*decoded), encoded);
      EXPECT_TRUE(a.signer->verifier().verify(signing_bytes(*decoded), decoded->signature).ok());
      // The signed bytes are a strict prefix of the encoding: the signature covers them all.
      const auto signed_part = signing_bytes(tx);
      EXPECT_TRUE(std::equal(signed_part.begin(), signed_part.end(), encoded.begin()));
    }
  }
}

TEST(TransactionTest, EveryTruncationAndEveryAppendIsRefused) {
  Party a;
  const auto encoded = encode_transaction(transfer(a, 1, Party().id, 10));
  for (std::size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_FALSE(decode_transaction(ByteSpan(encoded).first(n)).ok()) << n;
  }
  auto longer = encoded;
  longer.push_back(0);
  EXPECT_EQ(decode_transaction(longer).error(), TransactionError::trailing_bytes);
}

TEST(TransactionTest, StrictFields) {
  Party a;
  auto tx = transfer(a, 1, Party().id, 10);
  auto encoded = encode_transaction(tx);
  // chain id u32 (4) then scheme tag.
  auto bad = encoded;
  bad[4] = 0x7f;
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::unknown_scheme);
  bad = encoded;
  bad[4] = static_cast<std::uint8_t>(SignatureScheme::ml_dsa_65);  // key length now wrong
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::bad_field_length);
  // payload kind sits after tag(1) + len(1) + key(32) + nonce(1).
  const std::size_t kind_at = 4 + 1 + 1 + 32 + 1;
  ASSERT_EQ(encoded[kind_at], 0x01);
  bad = encoded;
  bad[kind_at] = 0x09;
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::unknown_payload);
  // Non-canonical nonce: 1 encoded as 0x81 0x00.
  bad = encoded;
  bad[kind_at - 1] = 0x81;
  bad.insert(bad.begin() + kind_at, 0x00);
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::non_canonical);
  // Zero amount.
  bad = encoded;
  ASSERT_EQ(bad[kind_at + 1 + 32], 10);
  bad[kind_at + 1 + 32] = 0;
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::zero_amount);
  // Oversized input is refused before parsing.
  Bytes huge(limits::transaction_bytes_max + 1, 0);
  EXPECT_EQ(decode_transaction(huge).error(), TransactionError::too_large);
  // Signature of the wrong length.
  bad = encoded;
  bad.pop_back();
  bad[bad.size() - 64] = 63;
  EXPECT_EQ(decode_transaction(bad).error(), TransactionError::bad_field_length);
}

TEST(TransactionTest, IdIsHashOfEncodingAndSensitiveToEveryField) {
  Party a;
  const auto to = Party().id;
  const auto base = encode_transaction(transfer(a, 1, to, 10));
  EXPECT_EQ(transaction_id(base), sha256(base));
  EXPECT_NE(transaction_id(encode_transaction(transfer(a, 2, to, 10))), transaction_id(base));
  EXPECT_NE(transaction_id(encode_transaction(transfer(a, 1, to, 11))), transaction_id(base));
  EXPECT_NE(transaction_id(encode_transaction(transfer(a, 1, to, 10, chain + 1))), transaction_id(base));
}

TEST(TransactionTest, ReceiptRoundTrip) {
  Receipt r{sha256(as_bytes("x")), ReceiptStatus::insufficient_balance, 99, 7};
  auto d = decode_receipt(encode_receipt(r));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, r);
  auto bad = encode_receipt(r);
  bad[32] = 200;
  EXPECT_FALSE(decode_receipt(bad).ok());
}

TEST(LedgerTest, GenesisRefusesDuplicates) {
  Party a;
  std::vector<GenesisAllocation> g{{a.id, 1}, {a.id, 2}};
  EXPECT_EQ(Ledger::create(chain, g).error(), LedgerError::genesis_duplicate);
}

TEST(LedgerTest, TransfersMoveBalanceAndAdvanceNonce) {
  Party a, b;
  auto ledger = make_ledger({{a.id, 100}});
  std::vector<Transaction> txs{transfer(a, 0, b.id, 30), transfer(a, 1, b.id, 20)};
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->receipts.size(), 2u);
  EXPECT_EQ(r->receipts[0].status, ReceiptStatus::success);
  EXPECT_EQ(r->receipts[1].index, 1u);
  EXPECT_EQ(r->receipts[1].height, 1u);
  EXPECT_EQ(ledger.account(a.id), (Account{50, 2}));
  EXPECT_EQ(ledger.account(b.id), (Account{50, 0}));
  EXPECT_EQ(ledger.height(), 1u);
}

TEST(LedgerTest, InsufficientBalanceConsumesNonceOnly) {
  Party a, b;
  auto ledger = make_ledger({{a.id, 10}});
  std::vector<Transaction> txs{transfer(a, 0, b.id, 11), transfer(a, 1, b.id, 10)};
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->receipts[0].status, ReceiptStatus::insufficient_balance);
  EXPECT_EQ(r->receipts[1].status, ReceiptStatus::success);
  EXPECT_EQ(ledger.account(a.id), (Account{0, 2}));
  EXPECT_EQ(ledger.account(b.id).balance, 10u);
}

TEST(LedgerTest, WrongNonceAndChainRefusedBeforeBlockAndInertInside) {
  Party a, b;
  auto ledger = make_ledger({{a.id, 10}});
  EXPECT_EQ(ledger.precheck(transfer(a, 1, b.id, 1)).error(), PrecheckError::future_nonce);
  EXPECT_EQ(ledger.precheck(transfer(a, 0, b.id, 1, chain + 1)).error(), PrecheckError::wrong_chain);
  EXPECT_TRUE(ledger.precheck(transfer(a, 0, b.id, 1)).ok());
  // A Byzantine proposer includes them anyway: rejected, no effect, nonce kept.
  std::vector<Transaction> txs{transfer(a, 1, b.id, 1), transfer(a, 0, b.id, 1, chain + 1)};
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->receipts[0].status, ReceiptStatus::rejected_bad_nonce);
  EXPECT_EQ(r->receipts[1].status, ReceiptStatus::rejected_wrong_chain);
  EXPECT_EQ(ledger.account(a.id), (Account{10, 0}));
  // Replay of an executed transaction is stale.
  std::vector<Transaction> once{transfer(a, 0, b.id, 1)};
  ASSERT_TRUE(ledger.execute_block(2, once, ids_of(once)).ok());
  EXPECT_EQ(ledger.precheck(once[0]).error(), PrecheckError::stale_nonce);
  auto replay = ledger.execute_block(3, once, ids_of(once));
  EXPECT_EQ(replay->receipts[0].status, ReceiptStatus::rejected_bad_nonce);
  EXPECT_EQ(ledger.account(b.id).balance, 1u);
}

TEST(LedgerTest, OverflowIsAFailedReceiptNotAWrap) {
  Party a, b;
  const auto max = std::numeric_limits<std::uint64_t>::max();
  auto ledger = make_ledger({{a.id, 10}, {b.id, max - 5}});
  std::vector<Transaction> txs{transfer(a, 0, b.id, 6), transfer(a, 1, b.id, 5)};
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  EXPECT_EQ(r->receipts[0].status, ReceiptStatus::balance_overflow);
  EXPECT_EQ(r->receipts[1].status, ReceiptStatus::success);
  EXPECT_EQ(ledger.account(b.id).balance, max);
  EXPECT_EQ(ledger.account(a.id), (Account{5, 2}));
}

TEST(LedgerTest, PutAndKeySpaceBound) {
  Party a;
  auto ledger = make_ledger({});
  std::vector<Transaction> txs;
  for (std::size_t i = 0; i <= limits::ledger_account_keys_max; ++i) {
    Bytes key{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)};
    txs.push_back(make_signed(*a.signer, chain, i, Put{key, Bytes{static_cast<std::uint8_t>(i)}}));
  }
  // Overwriting an existing key is allowed when full.
  txs.push_back(make_signed(*a.signer, chain, txs.size(), Put{Bytes{0, 0}, Bytes{42}}));
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->receipts[limits::ledger_account_keys_max - 1].status, ReceiptStatus::success);
  EXPECT_EQ(r->receipts[limits::ledger_account_keys_max].status, ReceiptStatus::key_space_full);
  EXPECT_EQ(r->receipts.back().status, ReceiptStatus::success);
  EXPECT_EQ(*ledger.get(a.id, Bytes{0, 0}), Bytes{42});
  EXPECT_EQ(*ledger.get(a.id, Bytes{5, 0}), Bytes{5});
  EXPECT_FALSE(ledger.get(a.id, Bytes{0, 4}).has_value());
}

TEST(LedgerTest, HeightMustBeNext) {
  auto ledger = make_ledger({});
  EXPECT_EQ(ledger.execute_block(2, {}, {}).error(), LedgerError::height_not_next);
  EXPECT_TRUE(ledger.execute_block(1, {}, {}).ok());
  EXPECT_EQ(ledger.execute_block(1, {}, {}).error(), LedgerError::height_not_next);
}

TEST(LedgerTest, DigestIsDeterministicAndSensitive) {
  Party a, b, c;
  std::vector<GenesisAllocation> g{{a.id, 100}, {b.id, 50}};
  std::vector<GenesisAllocation> g_reversed{{b.id, 50}, {a.id, 100}};
  auto l1 = make_ledger(g);
  auto l2 = make_ledger(g_reversed);  // genesis order does not matter
  EXPECT_EQ(l1.state_digest(), l2.state_digest());
  EXPECT_NE(l1.state_digest(), make_ledger({{a.id, 100}, {b.id, 51}}).state_digest());
  std::vector<Transaction> txs{transfer(a, 0, c.id, 5), transfer(b, 0, c.id, 70),
                               make_signed(*a.signer, chain, 1, Put{Bytes{1}, Bytes{2}})};
  const auto ids = ids_of(txs);
  auto r1 = l1.execute_block(1, txs, ids);
  auto r2 = l2.execute_block(1, txs, ids);
  EXPECT_EQ(r1->state_digest, r2->state_digest);
  EXPECT_EQ(r1->receipts, r2->receipts);
  // Same transactions in another order: other receipts, other digest.
  auto l3 = make_ledger(g);
  std::vector<Transaction> swapped{txs[1], txs[0], txs[2]};
  auto r3 = l3.execute_block(1, swapped, ids_of(swapped));
  EXPECT_NE(r3->state_digest, r1->state_digest);
  // A different put value gives a different digest.
  auto l4 = make_ledger(g);
  std::vector<Transaction> other{txs[0], txs[1], make_signed(*a.signer, chain, 1, Put{Bytes{1}, Bytes{3}})};
  EXPECT_NE(l4.execute_block(1, other, ids_of(other))->state_digest, r1->state_digest);
}

// The caller's sender ids (gate execution.known_senders) give the same receipts,
// state writes and digest as the ledger hashing each public key itself.
TEST(LedgerTest, SendersFromTheCallerGiveTheSameBlock) {
  Party a, b, c;
  const std::vector<GenesisAllocation> g{{a.id, 100}, {b.id, 50}};
  const std::vector<Transaction> txs{transfer(a, 0, c.id, 5), transfer(b, 0, c.id, 70), transfer(b, 5, c.id, 1),
                                     make_signed(*a.signer, chain, 1, Put{Bytes{1}, Bytes{2}})};
  const auto ids = ids_of(txs);
  const std::vector<AccountId> senders{a.id, b.id, b.id, a.id};
  auto plain = make_ledger(g);
  auto memo = make_ledger(g);
  const auto r1 = plain.execute_block(1, txs, ids);
  const auto r2 = memo.execute_block(1, txs, ids, {}, senders);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(r1->receipts, r2->receipts);
  EXPECT_EQ(r1->state_digest, r2->state_digest);
  ASSERT_EQ(r1->state_writes.size(), r2->state_writes.size());
  for (std::size_t i = 0; i < r1->state_writes.size(); ++i) {
    EXPECT_EQ(r1->state_writes[i].key, r2->state_writes[i].key);
    EXPECT_EQ(r1->state_writes[i].value, r2->state_writes[i].value);
  }
  EXPECT_EQ(memo.account(c.id).balance, 5u);  // b's 70 is more than its 50: insufficient
  EXPECT_EQ(memo.account(b.id).nonce, 1u);  // the nonce-5 transfer was inert
}

TEST(LedgerTest, StateWritesCoverEveryChange) {
  Party a, b;
  auto ledger = make_ledger({{a.id, 100}});
  std::vector<Transaction> txs{transfer(a, 0, b.id, 30), make_signed(*a.signer, chain, 1, Put{Bytes{7}, Bytes{1}}),
                               make_signed(*a.signer, chain, 2, Put{Bytes{7}, Bytes{2}}),
                               transfer(b, 5, a.id, 1)};  // wrong nonce: no effect, no write
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  auto account_value = [](std::uint64_t balance, std::uint64_t nonce) {
    Bytes v;
    Writer w(v);
    w.u64(balance);
    w.u64(nonce);
    return v;
  };
  std::vector<StateWrite> expected{{account_state_key(a.id), account_value(70, 3)},
                                   {account_state_key(b.id), account_value(30, 0)},
                                   {kv_state_key(a.id, Bytes{7}), Bytes{2}}};
  std::sort(expected.begin(), expected.begin() + 2,
            [](const StateWrite& x, const StateWrite& y) { return x.key < y.key; });
  EXPECT_EQ(r->state_writes, expected);
}

// A golden digest pins the digest definition (docs/transactions.md) across machines,
// compilers and refactors; recorded once from this code. The
// inputs are fixed bytes (no random keys).
TEST(LedgerTest, GoldenDigest) {
  AccountId x{}, y{};
  x.bytes[0] = 1;
  y.bytes[0] = 2;
  auto ledger = make_ledger({{x, 1000}, {y, 7}});
  Transaction tx;
  tx.chain_id = chain;
  tx.scheme = SignatureScheme::ed25519;
  tx.sender_public_key = Bytes(32, 0xab);
  tx.payload = Transfer{y, 1};
  tx.signature = Bytes(64, 0xcd);
  std::vector<Transaction> txs{tx};
  auto r = ledger.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->receipts[0].status, ReceiptStatus::insufficient_balance);
  // The value changed when the digest became a function of the state (v2,
  // docs/transactions.md); the v1 chained digest was f502dcc9...793c.
  EXPECT_EQ(ledger.state_digest().hex(), "82a65bfbf9a01ebe1db86d1e9e16f777f7d1e6a0adda84f1fa166529aa45ded2");
  // The same value from the documented definition, written out here.
  auto u64_le = [](std::uint64_t v) {
    Bytes b;
    Writer w(b);
    w.u64(v);
    return b;
  };
  auto element = [&](const Bytes& key, const Bytes& value) {
    Bytes in(as_bytes("kestrel/state/entry/v1").begin(), as_bytes("kestrel/state/entry/v1").end());
    for (const auto& part : {u64_le(key.size()), key, value}) in.insert(in.end(), part.begin(), part.end());
    return sha256(in);
  };
  auto account_value = [&](std::uint64_t balance, std::uint64_t nonce) {
    Bytes v = u64_le(balance);
    const auto n = u64_le(nonce);
    v.insert(v.end(), n.begin(), n.end());
    return v;
  };
  const auto sender = sender_of(tx);
  detail::LtHash16 set;
  set.add(element(account_state_key(x), account_value(1000, 0)));
  set.add(element(account_state_key(y), account_value(7, 0)));
  set.add(element(account_state_key(sender), account_value(0, 1)));  // failed, nonce consumed
  Bytes receipts_in(as_bytes("kestrel/receipts/v1").begin(), as_bytes("kestrel/receipts/v1").end());
  for (const auto& part : {u64_le(1), encode_receipt(r->receipts[0])}) {
    receipts_in.insert(receipts_in.end(), part.begin(), part.end());
  }
  EXPECT_EQ(r->receipts_digest, sha256(receipts_in));
  Bytes digest_in(as_bytes("kestrel/state/v2").begin(), as_bytes("kestrel/state/v2").end());
  const auto set_bytes = set.encode();
  for (const auto& part : {u64_le(chain), u64_le(1), Bytes(r->receipts_digest.bytes.begin(), r->receipts_digest.bytes.end()),
                           u64_le(3), Bytes(set_bytes.begin(), set_bytes.end())}) {
    digest_in.insert(digest_in.end(), part.begin(), part.end());
  }
  EXPECT_EQ(ledger.state_digest(), sha256(digest_in));
}

}  // namespace
}  // namespace kestrel::execution
