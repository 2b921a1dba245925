#include "execution/execution.h"

#include <algorithm>
#include <limits>

#include "common/assert.h"
#include "common/limits.h"

namespace kestrel::execution {

namespace {

// Domains of the state digest (docs/transactions.md "State digest").
constexpr std::string_view digest_domain_state = "kestrel/state/v2";
constexpr std::string_view digest_domain_receipts = "kestrel/receipts/v1";
constexpr std::string_view digest_domain_entry = "kestrel/state/entry/v1";
constexpr std::uint8_t account_tag = 'a';
constexpr std::uint8_t kv_tag = 'k';
constexpr std::size_t account_key_bytes = 1 + Hash32::size;
constexpr std::size_t account_value_bytes = 16;

TransactionError from_codec(CodecError e) {
  switch (e) {
    case CodecError::truncated: return TransactionError::truncated;
    case CodecError::too_long: return TransactionError::bad_field_length;
    case CodecError::varint_non_canonical: return TransactionError::non_canonical;
    case CodecError::varint_overflow: return TransactionError::non_canonical;
    case CodecError::trailing_bytes: return TransactionError::trailing_bytes;
    case CodecError::invalid_value: return TransactionError::non_canonical;
  }
  return TransactionError::truncated;
}

#define TX_TRY(var, expr)                                       \
  auto var##_r = (expr);                                        \
  if (!var##_r.ok()) return Err(from_codec(var##_r.error()));   \
  auto var = *var##_r

void write_signing_bytes(Writer& w, const Transaction& tx) {
  KESTREL_ASSERT(tx.sender_public_key.size() == crypto::public_key_bytes(tx.scheme));
  w.u32(tx.chain_id);
  w.u8(static_cast<std::uint8_t>(tx.scheme));
  w.bytes(tx.sender_public_key, limits::public_key_bytes_max);
  w.varint(tx.nonce);
  if (const auto* t = std::get_if<Transfer>(&tx.payload)) {
    KESTREL_ASSERT(t->amount > 0);
    w.u8(static_cast<std::uint8_t>(PayloadKind::transfer));
    w.fixed(t->to.span());
    w.varint(t->amount);
  } else {
    const auto& p = std::get<Put>(tx.payload);
    KESTREL_ASSERT(!p.key.empty());
    w.u8(static_cast<std::uint8_t>(PayloadKind::put));
    w.bytes(p.key, limits::ledger_key_bytes_max);
    w.bytes(p.value, limits::ledger_value_bytes_max);
  }
}

void put_hash(Sha256& h, std::uint64_t v) {
  std::uint8_t b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(v >> (8 * i));
  h.update(b);
}

Bytes account_value(const Account& account) {
  Bytes value;
  Writer w(value);
  w.u64(account.balance);
  w.u64(account.nonce);
  KESTREL_DEBUG_ASSERT(value.size() == account_value_bytes);
  return value;
}

std::uint64_t read_u64_le(ByteSpan b) {
  KESTREL_ASSERT(b.size() >= 8);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[i]} << (8 * i);
  return v;
}

// The set-hash element of one state entry: SHA-256(domain || u64 |key| || key ||
// value). A function of the stored (key, value) alone, so restore recomputes it.
Hash32 entry_element(ByteSpan key, ByteSpan value) {
  Bytes buffer;
  buffer.reserve(digest_domain_entry.size() + 8 + key.size() + value.size());
  buffer.insert(buffer.end(), digest_domain_entry.begin(), digest_domain_entry.end());
  for (int i = 0; i < 8; ++i) buffer.push_back(static_cast<std::uint8_t>(key.size() >> (8 * i)));
  buffer.insert(buffer.end(), key.begin(), key.end());
  buffer.insert(buffer.end(), value.begin(), value.end());
  return sha256(buffer);
}

// The first account whose 'a' (or 'k') key can be greater than tag || prefix, for a
// prefix of at most 32 bytes of an account id: ids at or above prefix || 0...0.
template <typename Map>
auto first_account_at_or_after(const Map& accounts, ByteSpan prefix) {
  KESTREL_ASSERT(prefix.size() <= Hash32::size);
  AccountId bound{};
  std::copy(prefix.begin(), prefix.end(), bound.bytes.begin());
  return accounts.lower_bound(bound);
}

}  // namespace

const char* describe(TransactionError error) {
  switch (error) {
    case TransactionError::truncated: return "transaction: input ended inside a field";
    case TransactionError::too_large: return "transaction: larger than transaction_bytes_max";
    case TransactionError::bad_field_length: return "transaction: a field has the wrong length";
    case TransactionError::unknown_scheme: return "transaction: unknown signature scheme tag";
    case TransactionError::unknown_payload: return "transaction: unknown payload kind";
    case TransactionError::zero_amount: return "transaction: transfer of zero";
    case TransactionError::non_canonical: return "transaction: non-canonical encoding";
    case TransactionError::trailing_bytes: return "transaction: bytes after the signature";
  }
  return "transaction: unknown error";
}

const char* describe(PrecheckError error) {
  switch (error) {
    case PrecheckError::wrong_chain: return "wrong chain id";
    case PrecheckError::stale_nonce: return "stale nonce (already used)";
    case PrecheckError::future_nonce: return "nonce ahead of the account's next nonce";
  }
  return "unknown precheck error";
}

const char* describe(ReceiptStatus status) {
  switch (status) {
    case ReceiptStatus::success: return "success";
    case ReceiptStatus::insufficient_balance: return "failed: insufficient balance";
    case ReceiptStatus::balance_overflow: return "failed: recipient balance would overflow";
    case ReceiptStatus::key_space_full: return "failed: account key space full";
    case ReceiptStatus::rejected_wrong_chain: return "rejected: wrong chain id";
    case ReceiptStatus::rejected_bad_nonce: return "rejected: wrong nonce";
  }
  return "unknown receipt status";
}

const char* describe(LedgerError error) {
  switch (error) {
    case LedgerError::height_not_next: return "ledger: block height is not the next height";
    case LedgerError::too_many_transactions: return "ledger: more than block_transactions_max";
    case LedgerError::genesis_duplicate: return "ledger: an account appears twice in genesis";
    case LedgerError::genesis_too_large: return "ledger: more than genesis_accounts_max allocations";
    case LedgerError::restore_source_failed: return "ledger restore: the state source failed";
    case LedgerError::restore_page_too_large: return "ledger restore: the source returned more entries than asked";
    case LedgerError::restore_bad_key: return "ledger restore: a state key with an unknown tag or a wrong length";
    case LedgerError::restore_bad_value: return "ledger restore: a state value of the wrong length";
    case LedgerError::restore_out_of_order: return "ledger restore: state keys not strictly increasing";
    case LedgerError::restore_orphan_key: return "ledger restore: a put key of an account with no account entry";
    case LedgerError::restore_too_many_keys: return "ledger restore: an account with more than ledger_account_keys_max keys";
    case LedgerError::restore_too_many_entries: return "ledger restore: more than ledger_restore_entries_max entries";
    case LedgerError::restore_bad_receipts: return "ledger restore: last-block receipts do not fit the height";
  }
  return "ledger: unknown error";
}

Bytes signing_bytes(const Transaction& tx) {
  Bytes out;
  Writer w(out);
  write_signing_bytes(w, tx);
  return out;
}

Bytes encode_transaction(const Transaction& tx) {
  KESTREL_ASSERT(tx.signature.size() == crypto::signature_bytes(tx.scheme));
  Bytes out;
  Writer w(out);
  write_signing_bytes(w, tx);
  w.bytes(tx.signature, limits::signature_bytes_max);
  KESTREL_ASSERT(out.size() <= limits::transaction_bytes_max);
  return out;
}

Result<Transaction, TransactionError> decode_transaction(ByteSpan encoded) {
  if (encoded.size() > limits::transaction_bytes_max) return Err(TransactionError::too_large);
  Reader r(encoded);
  Transaction tx;
  TX_TRY(chain, r.u32());
  tx.chain_id = chain;
  TX_TRY(tag, r.u8());
  auto scheme = crypto::scheme_from_tag(tag);
  if (!scheme) return Err(TransactionError::unknown_scheme);
  tx.scheme = *scheme;
  TX_TRY(key, r.bytes(limits::public_key_bytes_max));
  if (key.size() != crypto::public_key_bytes(tx.scheme)) return Err(TransactionError::bad_field_length);
  tx.sender_public_key.assign(key.begin(), key.end());
  TX_TRY(nonce, r.varint());
  tx.nonce = nonce;
  TX_TRY(kind, r.u8());
  if (kind == static_cast<std::uint8_t>(PayloadKind::transfer)) {
    Transfer t;
    auto to = r.fixed_into(t.to.bytes);
    if (!to) return Err(from_codec(to.error()));
    TX_TRY(amount, r.varint());
    if (amount == 0) return Err(TransactionError::zero_amount);
    t.amount = amount;
    tx.payload = t;
  } else if (kind == static_cast<std::uint8_t>(PayloadKind::put)) {
    Put p;
    TX_TRY(k, r.bytes(limits::ledger_key_bytes_max));
    if (k.empty()) return Err(TransactionError::bad_field_length);
    TX_TRY(v, r.bytes(limits::ledger_value_bytes_max));
    p.key.assign(k.begin(), k.end());
    p.value.assign(v.begin(), v.end());
    tx.payload = std::move(p);
  } else {
    return Err(TransactionError::unknown_payload);
  }
  TX_TRY(sig, r.bytes(limits::signature_bytes_max));
  if (sig.size() != crypto::signature_bytes(tx.scheme)) return Err(TransactionError::bad_field_length);
  tx.signature.assign(sig.begin(), sig.end());
  auto done = r.finish();
  if (!done) return Err(from_codec(done.error()));
  return tx;
}

TransactionId transaction_id(ByteSpan encoded) { return sha256(encoded); }

AccountId account_id(crypto::SignatureScheme scheme, ByteSpan public_key) {
  Bytes out;
  Writer w(out);
  w.u8(static_cast<std::uint8_t>(scheme));
  w.bytes(public_key, limits::public_key_bytes_max);
  return sha256(out);
}

Transaction make_signed(const crypto::Signer& signer, std::uint32_t chain_id, std::uint64_t nonce,
                        std::variant<Transfer, Put> payload) {
  Transaction tx;
  tx.chain_id = chain_id;
  tx.scheme = signer.scheme();
  const auto key = signer.verifier().public_key();
  tx.sender_public_key.assign(key.begin(), key.end());
  tx.nonce = nonce;
  tx.payload = std::move(payload);
  signer.sign(signing_bytes(tx), tx.signature);
  return tx;
}

Bytes encode_receipt(const Receipt& receipt) {
  Bytes out;
  Writer w(out);
  w.fixed(receipt.id.span());
  w.u8(static_cast<std::uint8_t>(receipt.status));
  w.varint(receipt.height);
  w.varint(receipt.index);
  return out;
}

Hash32 receipts_digest(std::span<const Receipt> receipts) {
  Sha256 h;
  h.update(as_bytes(digest_domain_receipts));
  put_hash(h, receipts.size());
  for (const auto& receipt : receipts) h.update(encode_receipt(receipt));  // self-delimiting
  return h.finish();
}

Result<Receipt, TransactionError> decode_receipt(ByteSpan encoded) {
  Reader r(encoded);
  Receipt receipt;
  auto id = r.fixed_into(receipt.id.bytes);
  if (!id) return Err(from_codec(id.error()));
  TX_TRY(status, r.u8());
  if (status > static_cast<std::uint8_t>(ReceiptStatus::rejected_bad_nonce)) {
    return Err(TransactionError::non_canonical);
  }
  receipt.status = static_cast<ReceiptStatus>(status);
  TX_TRY(height, r.varint());
  receipt.height = height;
  TX_TRY(index, r.varint_max(std::numeric_limits<std::uint32_t>::max()));
  receipt.index = static_cast<std::uint32_t>(index);
  auto done = r.finish();
  if (!done) return Err(from_codec(done.error()));
  return receipt;
}

Bytes encode_receipts(std::span<const Receipt> receipts) {
  Bytes out;
  Writer w(out);
  w.varint(receipts.size());
  for (const auto& r : receipts) w.bytes(encode_receipt(r), limits::receipt_bytes_max);
  return out;
}

Result<std::vector<Receipt>, TransactionError> decode_receipts(ByteSpan encoded) {
  Reader r(encoded);
  TX_TRY(count, r.varint_max(limits::block_transactions_max));
  std::vector<Receipt> out;
  out.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    auto one = r.bytes(limits::receipt_bytes_max);
    if (!one) return Err(from_codec(one.error()));
    auto receipt = decode_receipt(*one);
    if (!receipt) return Err(receipt.error());
    out.push_back(*receipt);
  }
  auto done = r.finish();
  if (!done) return Err(from_codec(done.error()));
  return out;
}

// --- Ledger ------------------------------------------------------------------------

Result<Ledger, LedgerError> Ledger::create(std::uint32_t chain_id,
                                           std::span<const GenesisAllocation> genesis) {
  if (genesis.size() > limits::genesis_accounts_max) return Err(LedgerError::genesis_too_large);
  Ledger ledger(chain_id);
  for (const auto& allocation : genesis) {
    auto [it, inserted] = ledger.accounts_.try_emplace(allocation.account);
    if (!inserted) return Err(LedgerError::genesis_duplicate);
    it->second.account.balance = allocation.balance;
    ledger.state_hash_.add(entry_element(account_state_key(allocation.account), account_value(it->second.account)));
    ledger.entry_count_++;
  }
  // Height 0 has no block: its receipts are the empty list.
  ledger.digest_ = ledger.compute_digest(receipts_digest({}));
  KESTREL_ASSERT(ledger.entry_count_ == ledger.accounts_.size());
  return ledger;
}

Result<Ledger, LedgerError> Ledger::restore(std::uint32_t chain_id, std::uint64_t height,
                                            std::span<const Receipt> last_block_receipts,
                                            const StatePageSource& source) {
  if ((height == 0 && !last_block_receipts.empty()) || last_block_receipts.size() > limits::block_transactions_max) {
    return Err(LedgerError::restore_bad_receipts);
  }
  for (std::size_t i = 0; i < last_block_receipts.size(); ++i) {
    if (last_block_receipts[i].height != height || last_block_receipts[i].index != i) {
      return Err(LedgerError::restore_bad_receipts);
    }
  }
  Ledger ledger(chain_id);
  ledger.height_ = height;
  Bytes last_key;  // empty: nothing read yet (every valid key is non-empty)
  // Each non-empty page adds at least one entry, so the entry bound bounds the pages.
  for (std::uint64_t page_count = 0; page_count <= limits::ledger_restore_entries_max; ++page_count) {
    auto page = source(last_key, limits::ledger_restore_page_entries);
    if (!page) return Err(LedgerError::restore_source_failed);
    if (page->size() > limits::ledger_restore_page_entries) return Err(LedgerError::restore_page_too_large);
    if (page->empty()) break;
    for (auto& [key, value] : *page) {
      if (key.empty()) return Err(LedgerError::restore_bad_key);
      if (!(last_key < key)) return Err(LedgerError::restore_out_of_order);
      if (ledger.entry_count_ >= limits::ledger_restore_entries_max) return Err(LedgerError::restore_too_many_entries);
      if (key[0] == account_tag) {
        if (key.size() != account_key_bytes) return Err(LedgerError::restore_bad_key);
        if (value.size() != account_value_bytes) return Err(LedgerError::restore_bad_value);
        AccountId id;
        std::copy(key.begin() + 1, key.end(), id.bytes.begin());
        State state;
        state.account.balance = read_u64_le(value);
        state.account.nonce = read_u64_le(ByteSpan(value).subspan(8));
        // Keys strictly increase, so every account goes at the end of the map.
        ledger.accounts_.emplace_hint(ledger.accounts_.end(), id, std::move(state));
      } else if (key[0] == kv_tag) {
        if (key.size() <= account_key_bytes || key.size() > account_key_bytes + limits::ledger_key_bytes_max) {
          return Err(LedgerError::restore_bad_key);
        }
        if (value.size() > limits::ledger_value_bytes_max) return Err(LedgerError::restore_bad_value);
        AccountId id;
        std::copy(key.begin() + 1, key.begin() + account_key_bytes, id.bytes.begin());
        // 'a' sorts before 'k': every account entry has been read by now.
        const auto it = ledger.accounts_.find(id);
        if (it == ledger.accounts_.end()) return Err(LedgerError::restore_orphan_key);
        auto& keys = it->second.keys;
        if (keys.size() >= limits::ledger_account_keys_max) return Err(LedgerError::restore_too_many_keys);
        keys.emplace_hint(keys.end(), Bytes(key.begin() + account_key_bytes, key.end()), Entry{value, 0});
      } else {
        return Err(LedgerError::restore_bad_key);
      }
      ledger.state_hash_.add(entry_element(key, value));
      ledger.entry_count_++;
      last_key = std::move(key);
    }
  }
  ledger.digest_ = ledger.compute_digest(receipts_digest(last_block_receipts));
  KESTREL_ASSERT(ledger.entry_count_ >= ledger.accounts_.size());
  return ledger;
}

std::vector<StateWrite> Ledger::state_entries(ByteSpan start_after, std::size_t max_entries) const {
  std::vector<StateWrite> out;
  if (max_entries == 0) return out;
  out.reserve(std::min<std::size_t>(max_entries, 1024));
  const bool after_accounts = !start_after.empty() && start_after[0] > account_tag;
  const bool after_keys = !start_after.empty() && start_after[0] > kv_tag;
  // Account entries: 'a' || id. Keys > start_after start at the first id above it.
  if (!after_accounts) {
    auto it = accounts_.begin();
    if (!start_after.empty() && start_after[0] == account_tag) {
      const auto rest = start_after.subspan(1);
      if (rest.size() >= Hash32::size) {
        AccountId id;
        std::copy(rest.begin(), rest.begin() + Hash32::size, id.bytes.begin());
        it = accounts_.upper_bound(id);  // 'a' || id || anything is not below 'a' || id
      } else {
        it = first_account_at_or_after(accounts_, rest);
      }
    }
    for (; it != accounts_.end() && out.size() < max_entries; ++it) {
      out.push_back({account_state_key(it->first), account_value(it->second.account)});
    }
  }
  if (after_keys || out.size() >= max_entries) return out;
  // Put keys: 'k' || id || key, by id then key.
  auto it = accounts_.begin();
  const Bytes* key_after = nullptr;  // within *it, keys strictly after this one
  Bytes key_bound;
  if (!start_after.empty() && start_after[0] == kv_tag) {
    const auto rest = start_after.subspan(1);
    if (rest.size() >= Hash32::size) {
      AccountId id;
      std::copy(rest.begin(), rest.begin() + Hash32::size, id.bytes.begin());
      it = accounts_.lower_bound(id);
      if (it != accounts_.end() && it->first == id) {
        key_bound.assign(rest.begin() + Hash32::size, rest.end());
        key_after = &key_bound;
      }
    } else {
      it = first_account_at_or_after(accounts_, rest);
    }
  }
  for (; it != accounts_.end() && out.size() < max_entries; ++it) {
    const auto& keys = it->second.keys;
    auto k = key_after != nullptr ? keys.upper_bound(*key_after) : keys.begin();
    key_after = nullptr;
    for (; k != keys.end() && out.size() < max_entries; ++k) {
      out.push_back({kv_state_key(it->first, k->first), k->second.value});
    }
  }
  KESTREL_ASSERT(out.size() <= max_entries);
  return out;
}

Account Ledger::account(const AccountId& id) const {
  const auto it = accounts_.find(id);
  return it == accounts_.end() ? Account{} : it->second.account;
}

std::optional<Bytes> Ledger::get(const AccountId& id, ByteSpan key) const {
  const auto it = accounts_.find(id);
  if (it == accounts_.end()) return std::nullopt;
  const auto entry = it->second.keys.find(Bytes(key.begin(), key.end()));
  if (entry == it->second.keys.end()) return std::nullopt;
  return entry->second.value;
}

Status<PrecheckError> Ledger::precheck(const Transaction& tx) const {
  if (tx.chain_id != chain_id_) return Err(PrecheckError::wrong_chain);
  const auto next = account(sender_of(tx)).nonce;
  if (tx.nonce < next) return Err(PrecheckError::stale_nonce);
  if (tx.nonce > next) return Err(PrecheckError::future_nonce);
  return {};
}

Hash32 Ledger::compute_digest(const Hash32& receipts) const {
  Sha256 h;
  h.update(as_bytes(digest_domain_state));
  put_hash(h, chain_id_);
  put_hash(h, height_);
  h.update(receipts.span());
  put_hash(h, entry_count_);
  h.update(state_hash_.encode());
  return h.finish();
}

void Ledger::touch(State& state, const AccountId& id, std::uint64_t height) {
  if (state.touched_height == height) return;  // its old element is already out
  KESTREL_ASSERT(state.touched_height < height);
  state_hash_.remove(entry_element(account_state_key(id), account_value(state.account)));
  state.touched_height = height;
}

void Ledger::touch(Entry& entry, const AccountId& id, const Bytes& key, std::uint64_t height) {
  if (entry.touched_height == height) return;
  KESTREL_ASSERT(entry.touched_height < height);
  state_hash_.remove(entry_element(kv_state_key(id, key), entry.value));
  entry.touched_height = height;
}

Bytes account_state_key(const AccountId& id) {
  Bytes key{'a'};
  key.insert(key.end(), id.bytes.begin(), id.bytes.end());
  return key;
}

Bytes kv_state_key(const AccountId& id, ByteSpan k) {
  Bytes key{'k'};
  key.insert(key.end(), id.bytes.begin(), id.bytes.end());
  key.insert(key.end(), k.begin(), k.end());
  return key;
}

ReceiptStatus Ledger::apply(const Transaction& tx, const AccountId& sender, std::uint64_t height,
                            std::vector<AccountId>& touched, std::vector<Bytes>& put_keys) {
  if (tx.chain_id != chain_id_) return ReceiptStatus::rejected_wrong_chain;
  auto sender_it = accounts_.find(sender);
  const std::uint64_t next = sender_it == accounts_.end() ? 0 : sender_it->second.account.nonce;
  if (tx.nonce != next) return ReceiptStatus::rejected_bad_nonce;
  // The nonce is right: from here the transaction consumes it, success or not.
  if (sender_it == accounts_.end()) {
    sender_it = accounts_.try_emplace(sender).first;
    sender_it->second.touched_height = height;  // new: no old element to remove
    entry_count_++;
  } else {
    touch(sender_it->second, sender, height);
  }
  State& from = sender_it->second;
  KESTREL_ASSERT(from.account.nonce < std::numeric_limits<std::uint64_t>::max());
  from.account.nonce += 1;
  touched.push_back(sender);
  if (const auto* t = std::get_if<Transfer>(&tx.payload)) {
    if (from.account.balance < t->amount) return ReceiptStatus::insufficient_balance;
    if (t->to == sender) return ReceiptStatus::success;  // moves nothing
    auto to_it = accounts_.find(t->to);
    const std::uint64_t to_balance = to_it == accounts_.end() ? 0 : to_it->second.account.balance;
    if (to_balance > std::numeric_limits<std::uint64_t>::max() - t->amount) {
      return ReceiptStatus::balance_overflow;
    }
    if (to_it == accounts_.end()) {
      to_it = accounts_.try_emplace(t->to).first;
      to_it->second.touched_height = height;
      entry_count_++;
    } else {
      touch(to_it->second, t->to, height);
    }
    // try_emplace may not invalidate `from` (std::map references are stable).
    from.account.balance -= t->amount;
    to_it->second.account.balance += t->amount;
    touched.push_back(t->to);
    return ReceiptStatus::success;
  }
  const auto& p = std::get<Put>(tx.payload);
  auto entry = from.keys.find(p.key);
  if (entry == from.keys.end()) {
    if (from.keys.size() >= limits::ledger_account_keys_max) return ReceiptStatus::key_space_full;
    entry = from.keys.try_emplace(p.key).first;
    entry->second.touched_height = height;
    entry_count_++;
  } else {
    touch(entry->second, sender, p.key, height);
  }
  entry->second.value = p.value;
  put_keys.push_back(kv_state_key(sender, p.key));
  return ReceiptStatus::success;
}

void Ledger::apply_raw(std::span<const RawPut> raw, std::uint64_t height, std::vector<AccountId>& touched,
                       std::vector<Bytes>& put_keys) {
  const AccountId id = raw_account_id();
  auto [it, created] = accounts_.try_emplace(id);
  if (created) {
    it->second.touched_height = height;  // new: no old element to remove
    entry_count_++;
    touched.push_back(id);
  }
  State& state = it->second;
  for (const RawPut& put : raw) {
    const Bytes key(put.key.begin(), put.key.end());
    auto entry = state.keys.find(key);
    if (entry == state.keys.end()) {
      if (state.keys.size() >= limits::ledger_account_keys_max) continue;  // key space full: no effect
      entry = state.keys.try_emplace(key).first;
      entry->second.touched_height = height;
      entry_count_++;
    } else {
      touch(entry->second, id, key, height);
    }
    entry->second.value.assign(put.value.begin(), put.value.end());
    put_keys.push_back(kv_state_key(id, key));
  }
}

Result<BlockResult, LedgerError> Ledger::execute_block(std::uint64_t height,
                                                       std::span<const Transaction> txs,
                                                       std::span<const TransactionId> ids,
                                                       std::span<const RawPut> raw,
                                                       std::span<const AccountId> senders) {
  KESTREL_ASSERT(txs.size() == ids.size());
  KESTREL_ASSERT(senders.empty() || senders.size() == txs.size());
  if (height != height_ + 1) return Err(LedgerError::height_not_next);
  if (txs.size() > limits::block_transactions_max) return Err(LedgerError::too_many_transactions);
  BlockResult result;
  result.receipts.reserve(txs.size());
  std::vector<AccountId> touched;
  touched.reserve(2 * txs.size());
  std::vector<Bytes> put_keys;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const AccountId sender = senders.empty() ? sender_of(txs[i]) : senders[i];
    KESTREL_DEBUG_ASSERT(senders.empty() || sender == sender_of(txs[i]));
    const auto status = apply(txs[i], sender, height, touched, put_keys);
    result.receipts.push_back(Receipt{ids[i], status, height, static_cast<std::uint32_t>(i)});
  }
  if (!raw.empty()) apply_raw(raw, height, touched, put_keys);
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  // State writes: touched accounts, then put keys (each once, final value).
  std::sort(put_keys.begin(), put_keys.end());
  put_keys.erase(std::unique(put_keys.begin(), put_keys.end()), put_keys.end());
  result.state_writes.reserve(touched.size() + put_keys.size());
  for (const auto& id : touched) {
    result.state_writes.push_back({account_state_key(id), account_value(accounts_.at(id).account)});
  }
  for (auto& key : put_keys) {
    AccountId id;
    std::copy(key.begin() + 1, key.begin() + 1 + Hash32::size, id.bytes.begin());
    const Bytes k(key.begin() + 1 + Hash32::size, key.end());
    result.state_writes.push_back({std::move(key), accounts_.at(id).keys.at(k).value});
  }
  // Every entry the block changed had its old element removed at its first change
  // (touch); its new element is the element of its state write. The digest then
  // costs O(entries written), not O(state), and is a function of the state alone
  // (plus chain id, height and receipts): Ledger::restore rebuilds it.
  for (const auto& write : result.state_writes) state_hash_.add(entry_element(write.key, write.value));
  height_ = height;
  result.receipts_digest = receipts_digest(result.receipts);
  digest_ = compute_digest(result.receipts_digest);
  result.state_digest = digest_;
  KESTREL_ASSERT(result.receipts.size() == txs.size());
  KESTREL_ASSERT(entry_count_ >= accounts_.size());
  return result;
}

}  // namespace kestrel::execution
