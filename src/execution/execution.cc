#include "execution/execution.h"

#include <algorithm>
#include <limits>

#include "common/assert.h"
#include "common/limits.h"

namespace kestrel::execution {

namespace {

constexpr std::string_view digest_domain_genesis = "kestrel/state/genesis/v1";
constexpr std::string_view digest_domain_block = "kestrel/state/block/v1";

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

// --- Ledger ------------------------------------------------------------------------

Result<Ledger, LedgerError> Ledger::create(std::uint32_t chain_id,
                                           std::span<const GenesisAllocation> genesis) {
  if (genesis.size() > limits::genesis_accounts_max) return Err(LedgerError::genesis_too_large);
  Ledger ledger(chain_id);
  for (const auto& allocation : genesis) {
    auto [it, inserted] = ledger.accounts_.try_emplace(allocation.account);
    if (!inserted) return Err(LedgerError::genesis_duplicate);
    it->second.account.balance = allocation.balance;
  }
  // Genesis digest: domain, chain id, every account in id order.
  Sha256 h;
  h.update(as_bytes(digest_domain_genesis));
  put_hash(h, chain_id);
  put_hash(h, ledger.accounts_.size());
  for (const auto& [id, state] : ledger.accounts_) hash_account(h, id, state);
  ledger.digest_ = h.finish();
  return ledger;
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

void Ledger::hash_account(Sha256& h, const AccountId& id, const State& state) {
  h.update(id.span());
  put_hash(h, state.account.balance);
  put_hash(h, state.account.nonce);
  put_hash(h, state.keys.size());
  for (const auto& [key, entry] : state.keys) {
    put_hash(h, key.size());
    h.update(key);
    h.update(entry.value_hash.span());
  }
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

ReceiptStatus Ledger::apply(const Transaction& tx, std::vector<AccountId>& touched,
                            std::vector<Bytes>& put_keys) {
  if (tx.chain_id != chain_id_) return ReceiptStatus::rejected_wrong_chain;
  const AccountId sender = sender_of(tx);
  auto sender_it = accounts_.find(sender);
  const std::uint64_t next = sender_it == accounts_.end() ? 0 : sender_it->second.account.nonce;
  if (tx.nonce != next) return ReceiptStatus::rejected_bad_nonce;
  // The nonce is right: from here the transaction consumes it, success or not.
  if (sender_it == accounts_.end()) sender_it = accounts_.try_emplace(sender).first;
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
    if (to_it == accounts_.end()) to_it = accounts_.try_emplace(t->to).first;
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
  }
  entry->second.value = p.value;
  entry->second.value_hash = sha256(p.value);
  put_keys.push_back(kv_state_key(sender, p.key));
  return ReceiptStatus::success;
}

Result<BlockResult, LedgerError> Ledger::execute_block(std::uint64_t height,
                                                       std::span<const Transaction> txs,
                                                       std::span<const TransactionId> ids) {
  KESTREL_ASSERT(txs.size() == ids.size());
  if (height != height_ + 1) return Err(LedgerError::height_not_next);
  if (txs.size() > limits::block_transactions_max) return Err(LedgerError::too_many_transactions);
  BlockResult result;
  result.receipts.reserve(txs.size());
  std::vector<AccountId> touched;
  touched.reserve(2 * txs.size());
  std::vector<Bytes> put_keys;
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const auto status = apply(txs[i], touched, put_keys);
    result.receipts.push_back(Receipt{ids[i], status, height, static_cast<std::uint32_t>(i)});
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  // Block digest: domain, previous digest, height, the receipts, then every account
  // the block touched (in id order) in its new state. Chained, so it commits to the
  // whole history from genesis, and costs O(accounts touched), not O(state).
  Sha256 h;
  h.update(as_bytes(digest_domain_block));
  h.update(digest_.span());
  put_hash(h, height);
  put_hash(h, result.receipts.size());
  for (const auto& receipt : result.receipts) h.update(encode_receipt(receipt));
  put_hash(h, touched.size());
  for (const auto& id : touched) hash_account(h, id, accounts_.at(id));
  digest_ = h.finish();
  height_ = height;
  result.state_digest = digest_;
  // State writes: touched accounts, then put keys (each once, final value).
  std::sort(put_keys.begin(), put_keys.end());
  put_keys.erase(std::unique(put_keys.begin(), put_keys.end()), put_keys.end());
  result.state_writes.reserve(touched.size() + put_keys.size());
  for (const auto& id : touched) {
    const auto& account = accounts_.at(id).account;
    Bytes value;
    Writer w(value);
    w.u64(account.balance);
    w.u64(account.nonce);
    result.state_writes.push_back({account_state_key(id), std::move(value)});
  }
  for (auto& key : put_keys) {
    AccountId id;
    std::copy(key.begin() + 1, key.begin() + 1 + Hash32::size, id.bytes.begin());
    const Bytes k(key.begin() + 1 + Hash32::size, key.end());
    result.state_writes.push_back({std::move(key), accounts_.at(id).keys.at(k).value});
  }
  KESTREL_ASSERT(result.receipts.size() == txs.size());
  return result;
}

}  // namespace kestrel::execution
