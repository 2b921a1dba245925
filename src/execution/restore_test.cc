// Ledger::restore, Ledger::state_entries and the state set hash (LtHash16).
#include <gtest/gtest.h>

#include <map>

#include "common/limits.h"
#include "common/prng.h"
#include "execution/execution.h"
#include "execution/lthash.h"

namespace kestrel::execution {
namespace {

constexpr std::uint32_t chain = 9;

using StateMap = std::map<Bytes, Bytes>;

// A source over a map, as the store's state_range serves it (keys > start_after).
StatePageSource map_source(const StateMap& state, std::size_t* calls = nullptr) {
  return [&state, calls](ByteSpan after, std::size_t max) -> std::optional<std::vector<StateEntry>> {
    if (calls != nullptr) ++*calls;
    std::vector<StateEntry> page;
    auto it = state.upper_bound(Bytes(after.begin(), after.end()));
    for (; it != state.end() && page.size() < max; ++it) page.emplace_back(it->first, it->second);
    return page;
  };
}

// A source that returns `entries` as they are, in pages, whatever start_after says.
StatePageSource list_source(std::vector<StateEntry> entries) {
  auto position = std::make_shared<std::size_t>(0);
  return [entries = std::move(entries), position](ByteSpan, std::size_t max) -> std::optional<std::vector<StateEntry>> {
    std::vector<StateEntry> page;
    while (*position < entries.size() && page.size() < max) page.push_back(entries[(*position)++]);
    return page;
  };
}

std::vector<StateWrite> all_entries(const Ledger& ledger, std::size_t page_size = 1000) {
  std::vector<StateWrite> out;
  Bytes after;
  for (;;) {
    auto page = ledger.state_entries(after, page_size);
    if (page.empty()) return out;
    EXPECT_LE(page.size(), page_size);
    after = page.back().key;
    for (auto& e : page) out.push_back(std::move(e));
  }
}

Bytes account_value(std::uint64_t balance, std::uint64_t nonce) {
  Bytes v;
  Writer w(v);
  w.u64(balance);
  w.u64(nonce);
  return v;
}

// Unsigned transactions with fixed keys (the ledger does not verify signatures).
Transaction unsigned_tx(std::size_t party, std::uint64_t nonce, std::variant<Transfer, Put> payload,
                        std::uint32_t chain_id = chain) {
  Transaction tx;
  tx.chain_id = chain_id;
  tx.scheme = crypto::SignatureScheme::ed25519;
  tx.sender_public_key = Bytes(32, 0);
  tx.sender_public_key[0] = static_cast<std::uint8_t>(party);
  tx.sender_public_key[1] = 0x5a;
  tx.nonce = nonce;
  tx.payload = std::move(payload);
  tx.signature = Bytes(64, 0);
  return tx;
}
AccountId party_id(std::size_t party) { return sender_of(unsigned_tx(party, 0, Transfer{{}, 1})); }

std::vector<TransactionId> ids_of(const std::vector<Transaction>& txs) {
  std::vector<TransactionId> ids;
  for (const auto& tx : txs) ids.push_back(transaction_id(encode_transaction(tx)));
  return ids;
}

// A random block over `parties` accounts: transfers (some failing: insufficient
// balance, wrong nonce, wrong chain, self-transfers, new recipients) and puts
// (new keys, overwrites, empty values).
std::vector<Transaction> random_block(Prng& prng, const Ledger& ledger, std::size_t parties) {
  std::vector<Transaction> txs;
  std::map<std::size_t, std::uint64_t> next_nonce;
  const std::size_t count = prng.uniform(25);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t from = prng.uniform(parties);
    if (!next_nonce.contains(from)) next_nonce[from] = ledger.account(party_id(from)).nonce;
    std::uint64_t nonce = next_nonce[from];
    if (prng.chance(1, 15)) nonce += 1 + prng.uniform(3);  // wrong nonce: inert
    const std::uint32_t chain_id = prng.chance(1, 30) ? chain + 1 : chain;
    std::variant<Transfer, Put> payload;
    if (prng.chance(2, 3)) {
      AccountId to = party_id(prng.uniform(parties));
      if (prng.chance(1, 10)) to = sha256(as_bytes(std::to_string(prng.next_u64())));  // a new account
      const std::uint64_t balance = ledger.account(party_id(from)).balance;
      payload = Transfer{to, 1 + prng.uniform(balance / 2 + 50)};  // sometimes more than the balance
    } else {
      Bytes key(1 + prng.uniform(3), 0);
      for (auto& b : key) b = static_cast<std::uint8_t>(prng.uniform(4));  // few keys: overwrites
      Bytes value(prng.uniform(40), 0);
      prng.fill(value);
      payload = Put{key, value};
    }
    txs.push_back(unsigned_tx(from, nonce, payload, chain_id));
    if (nonce == next_nonce[from] && chain_id == chain) next_nonce[from]++;
  }
  return txs;
}

TEST(LtHashTest, AddRemoveIsOrderFreeAndMultiset) {
  const Hash32 x = sha256(as_bytes("x")), y = sha256(as_bytes("y"));
  detail::LtHash16 empty, xy, yx, xx, x_only;
  xy.add(x);
  xy.add(y);
  yx.add(y);
  yx.add(x);
  EXPECT_EQ(xy, yx);
  EXPECT_NE(xy, empty);
  x_only.add(x);
  xx.add(x);
  xx.add(x);
  EXPECT_NE(xx, x_only);  // a multiset: an element counts each time it is added
  xy.remove(y);
  EXPECT_EQ(xy, x_only);
  xy.remove(x);
  EXPECT_EQ(xy, empty);
  EXPECT_EQ(empty.encode(), (std::array<std::uint8_t, detail::LtHash16::bytes>{}));
}

TEST(RestoreTest, RestoredLedgerMatchesExecutedLedger) {
  constexpr std::size_t parties = 24;
  Prng prng(20261122);
  std::vector<GenesisAllocation> genesis;
  for (std::size_t p = 0; p < parties; p += 2) genesis.push_back({party_id(p), 1000 + 37 * p});
  genesis.push_back({sha256(as_bytes("empty genesis account")), 0});
  auto a = std::move(Ledger::create(chain, genesis)).value();
  // The store's state family: genesis entries (the node writes them when it creates
  // the store), then every block's state writes.
  StateMap stored;
  for (auto& e : all_entries(a)) stored[e.key] = e.value;
  EXPECT_EQ(stored.size(), genesis.size());
  std::vector<Receipt> last_receipts;

  auto check_restore = [&](std::uint64_t height) {
    std::size_t calls = 0;
    auto b = Ledger::restore(chain, height, last_receipts, map_source(stored, &calls));
    ASSERT_TRUE(b.ok()) << describe(b.error());
    EXPECT_EQ(b->height(), height);
    EXPECT_EQ(b->state_digest(), a.state_digest()) << "height " << height;
    EXPECT_EQ(b->entry_count(), a.entry_count());
    EXPECT_EQ(b->account_count(), a.account_count());
    const auto pages = (stored.size() + limits::ledger_restore_page_entries - 1) / limits::ledger_restore_page_entries;
    EXPECT_EQ(calls, pages + 1);  // the last call returns the empty page
    for (std::size_t p = 0; p < parties; ++p) {
      EXPECT_EQ(b->account(party_id(p)), a.account(party_id(p)));
      for (std::uint8_t k0 = 0; k0 < 4; ++k0) EXPECT_EQ(b->get(party_id(p), Bytes{k0}), a.get(party_id(p), Bytes{k0}));
    }
    // The whole state, entry by entry, equals the store's and the executed ledger's.
    const auto entries = all_entries(*b, 7);
    EXPECT_EQ(entries, all_entries(a));
    ASSERT_EQ(entries.size(), stored.size());
    auto it = stored.begin();
    for (const auto& e : entries) {
      EXPECT_EQ(e.key, it->first);
      EXPECT_EQ(e.value, it->second);
      ++it;
    }
    // One more block on both: the same receipts, state writes and digest.
    auto copy_a = a;
    auto txs = random_block(prng, copy_a, parties);
    auto ra = copy_a.execute_block(height + 1, txs, ids_of(txs));
    auto rb = b->execute_block(height + 1, txs, ids_of(txs));
    ASSERT_TRUE(ra.ok() && rb.ok());
    EXPECT_EQ(ra->receipts, rb->receipts);
    EXPECT_EQ(ra->state_writes, rb->state_writes);
    EXPECT_EQ(ra->state_digest, rb->state_digest);
    EXPECT_EQ(ra->receipts_digest, receipts_digest(ra->receipts));
  };

  check_restore(0);  // genesis only
  std::size_t statuses_seen[8] = {};
  for (std::uint64_t h = 1; h <= 120; ++h) {
    auto txs = random_block(prng, a, parties);
    auto r = a.execute_block(h, txs, ids_of(txs));
    ASSERT_TRUE(r.ok());
    for (const auto& w : r->state_writes) stored[w.key] = w.value;
    for (const auto& receipt : r->receipts) statuses_seen[static_cast<int>(receipt.status)]++;
    last_receipts = r->receipts;
    if (h % 20 == 0) check_restore(h);
  }
  // The random blocks reached every kind of receipt the ledger gives here (all but
  // overflow and a full key space, which have their own tests).
  for (auto status : {ReceiptStatus::success, ReceiptStatus::insufficient_balance,
                      ReceiptStatus::rejected_wrong_chain, ReceiptStatus::rejected_bad_nonce}) {
    EXPECT_GT(statuses_seen[static_cast<int>(status)], 0u) << describe(status);
  }
  EXPECT_GT(stored.size(), 2 * parties);  // accounts and put keys
}

TEST(RestoreTest, ManyPages) {
  // 2,500 genesis accounts plus one block: three full pages and a partial one.
  std::vector<GenesisAllocation> genesis;
  for (std::size_t i = 0; i < 2500; ++i) genesis.push_back({sha256(as_bytes(std::to_string(i))), i});
  genesis.push_back({party_id(0), 500});
  auto a = std::move(Ledger::create(chain, genesis)).value();
  StateMap stored;
  for (auto& e : all_entries(a)) stored[e.key] = e.value;
  std::vector<Transaction> txs{unsigned_tx(0, 0, Transfer{genesis[7].account, 5}), unsigned_tx(0, 1, Put{{1}, {2}})};
  auto r = a.execute_block(1, txs, ids_of(txs));
  ASSERT_TRUE(r.ok());
  for (const auto& w : r->state_writes) stored[w.key] = w.value;
  ASSERT_GT(stored.size(), 2 * limits::ledger_restore_page_entries);
  std::size_t calls = 0;
  auto b = Ledger::restore(chain, 1, r->receipts, map_source(stored, &calls));
  ASSERT_TRUE(b.ok()) << describe(b.error());
  EXPECT_EQ(b->state_digest(), a.state_digest());
  EXPECT_EQ(calls, stored.size() / limits::ledger_restore_page_entries + 2);
  // A changed value anywhere (here in the last page) changes the digest.
  stored.rbegin()->second.push_back(0);
  EXPECT_NE(Ledger::restore(chain, 1, r->receipts, map_source(stored))->state_digest(), a.state_digest());
}

TEST(RestoreTest, DigestDependsOnEveryInput) {
  StateMap stored;
  const auto x = party_id(1);
  stored[account_state_key(x)] = account_value(10, 2);
  stored[kv_state_key(x, Bytes{1})] = Bytes{7};
  auto base = Ledger::restore(chain, 0, {}, map_source(stored));
  ASSERT_TRUE(base.ok());
  // Equal to the genesis digest of the same state? Only without put keys, so
  // compare a genesis-shaped state too.
  StateMap genesis_like;
  genesis_like[account_state_key(x)] = account_value(10, 0);
  const std::vector<GenesisAllocation> g{{x, 10}};
  EXPECT_EQ(Ledger::restore(chain, 0, {}, map_source(genesis_like))->state_digest(),
            Ledger::create(chain, g)->state_digest());
  // Chain id, height, receipts, a value, a key, an extra entry: each changes it.
  const Receipt receipt{sha256(as_bytes("tx")), ReceiptStatus::success, 5, 0};
  const std::vector<Receipt> receipts{receipt};
  EXPECT_NE(Ledger::restore(chain + 1, 0, {}, map_source(stored))->state_digest(), base->state_digest());
  EXPECT_NE(Ledger::restore(chain, 5, {}, map_source(stored))->state_digest(), base->state_digest());
  EXPECT_NE(Ledger::restore(chain, 5, receipts, map_source(stored))->state_digest(),
            Ledger::restore(chain, 5, {}, map_source(stored))->state_digest());
  auto changed = stored;
  changed[kv_state_key(x, Bytes{1})] = Bytes{8};
  EXPECT_NE(Ledger::restore(chain, 0, {}, map_source(changed))->state_digest(), base->state_digest());
  changed = stored;
  changed.erase(kv_state_key(x, Bytes{1}));
  changed[kv_state_key(x, Bytes{2})] = Bytes{7};
  EXPECT_NE(Ledger::restore(chain, 0, {}, map_source(changed))->state_digest(), base->state_digest());
  changed = stored;
  changed[account_state_key(party_id(2))] = account_value(0, 0);
  EXPECT_NE(Ledger::restore(chain, 0, {}, map_source(changed))->state_digest(), base->state_digest());
}

TEST(RestoreTest, MalformedEntriesAreSpecificErrors) {
  const auto x = party_id(1), y = party_id(2);
  const auto ax = account_state_key(x);
  const auto ay = account_state_key(y);
  const Bytes ok_value = account_value(1, 1);
  auto restore_list = [](std::vector<StateEntry> entries, std::uint64_t height = 0,
                         std::vector<Receipt> receipts = {}) {
    return Ledger::restore(chain, height, receipts, list_source(std::move(entries)));
  };
  ASSERT_TRUE(restore_list({{ax, ok_value}, {kv_state_key(x, Bytes{1}), Bytes{}}}).ok());
  // Keys.
  EXPECT_EQ(restore_list({{Bytes{}, ok_value}}).error(), LedgerError::restore_bad_key);
  EXPECT_EQ(restore_list({{Bytes{'b', 1}, ok_value}}).error(), LedgerError::restore_bad_key);
  EXPECT_EQ(restore_list({{Bytes(ax.begin(), ax.end() - 1), ok_value}}).error(), LedgerError::restore_bad_key);
  auto long_account = ax;
  long_account.push_back(0);
  EXPECT_EQ(restore_list({{long_account, ok_value}}).error(), LedgerError::restore_bad_key);
  Bytes kv_no_key{'k'};
  kv_no_key.insert(kv_no_key.end(), x.bytes.begin(), x.bytes.end());
  EXPECT_EQ(restore_list({{ax, ok_value}, {kv_no_key, Bytes{1}}}).error(), LedgerError::restore_bad_key);
  const Bytes longest_key(limits::ledger_key_bytes_max, 1), too_long_key(limits::ledger_key_bytes_max + 1, 1);
  EXPECT_TRUE(restore_list({{ax, ok_value}, {kv_state_key(x, longest_key), Bytes{1}}}).ok());
  EXPECT_EQ(restore_list({{ax, ok_value}, {kv_state_key(x, too_long_key), Bytes{1}}}).error(),
            LedgerError::restore_bad_key);
  // Values.
  EXPECT_EQ(restore_list({{ax, Bytes(15, 0)}}).error(), LedgerError::restore_bad_value);
  EXPECT_EQ(restore_list({{ax, Bytes(17, 0)}}).error(), LedgerError::restore_bad_value);
  EXPECT_TRUE(restore_list({{ax, ok_value}, {kv_state_key(x, Bytes{1}), Bytes(limits::ledger_value_bytes_max, 0)}}).ok());
  EXPECT_EQ(restore_list({{ax, ok_value}, {kv_state_key(x, Bytes{1}), Bytes(limits::ledger_value_bytes_max + 1, 0)}})
                .error(),
            LedgerError::restore_bad_value);
  // Order, duplicates, orphans.
  const auto first = std::min(ax, ay), second = std::max(ax, ay);
  EXPECT_TRUE(restore_list({{first, ok_value}, {second, ok_value}}).ok());
  EXPECT_EQ(restore_list({{second, ok_value}, {first, ok_value}}).error(), LedgerError::restore_out_of_order);
  EXPECT_EQ(restore_list({{ax, ok_value}, {ax, ok_value}}).error(), LedgerError::restore_out_of_order);
  EXPECT_EQ(restore_list({{kv_state_key(x, Bytes{1}), Bytes{1}}}).error(), LedgerError::restore_orphan_key);
  EXPECT_EQ(restore_list({{ax, ok_value}, {kv_state_key(y, Bytes{1}), Bytes{1}}}).error(),
            LedgerError::restore_orphan_key);
  // Key-space bound per account.
  std::vector<StateEntry> full{{ax, ok_value}};
  for (std::size_t i = 0; i < limits::ledger_account_keys_max; ++i) {
    full.emplace_back(kv_state_key(x, Bytes{static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}), Bytes{});
  }
  EXPECT_TRUE(restore_list(full).ok());
  full.emplace_back(kv_state_key(x, Bytes{0xff, 0xff}), Bytes{});
  EXPECT_EQ(restore_list(full).error(), LedgerError::restore_too_many_keys);
  // Receipts: none at height 0, heights and indexes must fit.
  const Receipt r0{sha256(as_bytes("a")), ReceiptStatus::success, 3, 0};
  const Receipt r1{sha256(as_bytes("b")), ReceiptStatus::success, 3, 1};
  EXPECT_TRUE(restore_list({{ax, ok_value}}, 3, {r0, r1}).ok());
  EXPECT_EQ(restore_list({{ax, ok_value}}, 0, {r0}).error(), LedgerError::restore_bad_receipts);
  EXPECT_EQ(restore_list({{ax, ok_value}}, 4, {r0, r1}).error(), LedgerError::restore_bad_receipts);
  EXPECT_EQ(restore_list({{ax, ok_value}}, 3, {r1, r0}).error(), LedgerError::restore_bad_receipts);
  // The source: a failure, and a page larger than asked.
  const StatePageSource failing = [](ByteSpan, std::size_t) -> std::optional<std::vector<StateEntry>> {
    return std::nullopt;
  };
  EXPECT_EQ(Ledger::restore(chain, 0, {}, failing).error(), LedgerError::restore_source_failed);
  const StatePageSource oversized = [&](ByteSpan, std::size_t max) -> std::optional<std::vector<StateEntry>> {
    return std::vector<StateEntry>(max + 1, StateEntry{ax, ok_value});
  };
  EXPECT_EQ(Ledger::restore(chain, 0, {}, oversized).error(), LedgerError::restore_page_too_large);
}

TEST(RestoreTest, StateEntriesPagesFromAnyKey) {
  // A ledger with accounts and keys; pages from every kind of start key must equal
  // the full listing filtered by "key > start".
  StateMap stored;
  Prng prng(3);
  for (int i = 0; i < 40; ++i) {
    const auto id = sha256(as_bytes("acct" + std::to_string(i)));
    stored[account_state_key(id)] = account_value(prng.uniform(100), prng.uniform(5));
    for (int k = 0; k < i % 4; ++k) {
      Bytes key(1 + prng.uniform(3), 0);
      prng.fill(key);
      stored[kv_state_key(id, key)] = Bytes(prng.uniform(5), 1);
    }
  }
  auto ledger = std::move(Ledger::restore(chain, 0, {}, map_source(stored))).value();
  std::vector<StateWrite> full;
  for (const auto& [k, v] : stored) full.push_back({k, v});
  EXPECT_EQ(all_entries(ledger, 1), full);
  EXPECT_EQ(all_entries(ledger, 5), full);
  EXPECT_EQ(all_entries(ledger, 100000), full);
  EXPECT_TRUE(ledger.state_entries({}, 0).empty());
  // Start keys: every stored key, its prefixes, keys just above/below, other tags.
  std::vector<Bytes> starts{{}, {'0'}, {'a'}, {'b'}, {'k'}, {'z'}, {0xff}};
  for (const auto& [k, v] : stored) {
    starts.push_back(k);
    for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{17}, std::size_t{33}, std::size_t{34}}) {
      if (n < k.size()) starts.emplace_back(k.begin(), k.begin() + static_cast<std::ptrdiff_t>(n));
    }
    auto above = k;
    above.push_back(0);
    starts.push_back(above);
    auto below = k;
    below.back()--;
    starts.push_back(below);
  }
  for (const auto& start : starts) {
    std::vector<StateWrite> expected;
    for (const auto& e : full) {
      if (start < e.key && expected.size() < 9) expected.push_back(e);
    }
    EXPECT_EQ(ledger.state_entries(start, 9), expected) << to_hex(start);
  }
}

}  // namespace
}  // namespace kestrel::execution

namespace kestrel::execution {
namespace {

RawPut raw_put(std::uint64_t key, std::uint64_t value) {
  RawPut p;
  for (int b = 0; b < 8; ++b) p.key[b] = static_cast<std::uint8_t>(key >> (8 * b));
  for (int b = 0; b < 8; ++b) p.value[b] = static_cast<std::uint8_t>(value >> (8 * b));
  return p;
}

TEST(RawPutTest, RawPutsChangeStateAndRestoreMatches) {
  auto a = std::move(Ledger::create(chain, {})).value();
  StateMap stored;
  for (auto& e : all_entries(a)) stored[e.key] = e.value;
  const Hash32 genesis = a.state_digest();
  std::vector<RawPut> puts{raw_put(1, 10), raw_put(2, 20), raw_put(1, 11)};
  auto r = a.execute_block(1, {}, {}, puts);
  ASSERT_TRUE(r.ok());
  EXPECT_NE(a.state_digest(), genesis);
  EXPECT_TRUE(r->receipts.empty());
  const Bytes key1{1, 0, 0, 0, 0, 0, 0, 0};
  const Bytes eleven{11, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(a.get(raw_account_id(), key1), eleven);  // the later put wins
  for (const auto& w : r->state_writes) stored[w.key] = w.value;
  auto b = Ledger::restore(chain, 1, r->receipts, map_source(stored));
  ASSERT_TRUE(b.ok()) << describe(b.error());
  EXPECT_EQ(b->state_digest(), a.state_digest());
  // Equal inputs on both: equal digests; a different value: a different digest.
  auto copy = a;
  auto ra = a.execute_block(2, {}, {}, std::vector<RawPut>{raw_put(3, 30)});
  auto rb = b->execute_block(2, {}, {}, std::vector<RawPut>{raw_put(3, 30)});
  auto rc = copy.execute_block(2, {}, {}, std::vector<RawPut>{raw_put(3, 31)});
  ASSERT_TRUE(ra.ok() && rb.ok() && rc.ok());
  EXPECT_EQ(ra->state_digest, rb->state_digest);
  EXPECT_NE(ra->state_digest, rc->state_digest);
}

TEST(RawPutTest, RawKeySpaceIsBounded) {
  auto a = std::move(Ledger::create(chain, {})).value();
  std::vector<RawPut> puts;
  for (std::uint64_t k = 0; k < limits::ledger_account_keys_max + 10; ++k) puts.push_back(raw_put(k, k));
  ASSERT_TRUE(a.execute_block(1, {}, {}, puts).ok());
  EXPECT_EQ(a.entry_count(), 1 + limits::ledger_account_keys_max);  // the raw account and its keys
  const Bytes beyond{static_cast<std::uint8_t>(limits::ledger_account_keys_max & 0xff),
                     static_cast<std::uint8_t>(limits::ledger_account_keys_max >> 8), 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(a.get(raw_account_id(), beyond).has_value());
}

}  // namespace
}  // namespace kestrel::execution
