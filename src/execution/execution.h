// Execution: client transactions (format, canonical encoding, ids) and the
// deterministic ledger that applies committed blocks of them (docs/transactions.md).
//
// Who drives it: the node (later) and tests/benchmarks. The mempool decodes and
// pre-checks transactions with this header; the node executes each committed
// block with Ledger::execute_block and persists the receipts and state digest,
// and on restart rebuilds the ledger from the stored state with Ledger::restore.
//
// Signatures: decode_transaction checks the format only (sizes, tags, exact key
// and signature lengths for the scheme); signatures are verified by the caller
// (mempool admission, or the driver for a proposal's transactions) through
// crypto/parallel_verify.h before execution. The ledger does not verify.
//
// Thread-safety: Transaction values are plain data. A Ledger is used by one
// thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/hash.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "execution/lthash.h"

namespace kestrel::execution {

using AccountId = Hash32;  // SHA-256 of the tagged public key encoding
using TransactionId = Hash32;

// --- Transactions ------------------------------------------------------------------

enum class PayloadKind : std::uint8_t { transfer = 0x01, put = 0x02 };

struct Transfer {
  AccountId to;
  std::uint64_t amount = 0;  // > 0 (decoding refuses 0)
  bool operator==(const Transfer&) const = default;
};

struct Put {
  Bytes key;    // 1..limits::ledger_key_bytes_max bytes
  Bytes value;  // 0..limits::ledger_value_bytes_max bytes
  bool operator==(const Put&) const = default;
};

struct Transaction {
  std::uint32_t chain_id = 0;
  crypto::SignatureScheme scheme = crypto::default_signature_scheme;
  Bytes sender_public_key;  // the scheme's raw public key, exact length
  std::uint64_t nonce = 0;
  std::variant<Transfer, Put> payload;
  Bytes signature;  // exact signature_bytes(scheme)
  bool operator==(const Transaction&) const = default;
};

enum class TransactionError : std::uint8_t {
  truncated,         // input ended inside a field
  too_large,         // encoding longer than limits::transaction_bytes_max
  bad_field_length,  // a key, signature, put key or value of the wrong size
  unknown_scheme,    // scheme tag Kestrel does not know
  unknown_payload,   // payload kind tag Kestrel does not know
  zero_amount,       // a transfer of 0 (refused: it could only create empty accounts)
  non_canonical,     // a varint with redundant bytes, or another non-canonical field
  trailing_bytes,    // bytes after the signature
};
const char* describe(TransactionError error);

// The canonical encoding of everything before the signature: what is signed.
Bytes signing_bytes(const Transaction& tx);
// The full canonical encoding (signing bytes then the length-prefixed signature).
// REQUIRES: the fields are within their bounds (a programmer error otherwise).
Bytes encode_transaction(const Transaction& tx);
// Strict: every input yields a transaction or a specific error; encode(decode(b)) == b.
Result<Transaction, TransactionError> decode_transaction(ByteSpan encoded);
// SHA-256 of the canonical encoding.
TransactionId transaction_id(ByteSpan encoded);
// SHA-256 of the tagged public key encoding (tag || varint length || key), the
// same bytes crypto::encode_public_key produces.
AccountId account_id(crypto::SignatureScheme scheme, ByteSpan public_key);
inline AccountId sender_of(const Transaction& tx) {
  return account_id(tx.scheme, tx.sender_public_key);
}
// Builds and signs a transaction (tests, benchmarks, the submit client).
Transaction make_signed(const crypto::Signer& signer, std::uint32_t chain_id, std::uint64_t nonce,
                        std::variant<Transfer, Put> payload);

// --- Ledger ------------------------------------------------------------------------

struct Account {
  std::uint64_t balance = 0;
  std::uint64_t nonce = 0;  // the nonce the account's next transaction must carry
  bool operator==(const Account&) const = default;
};

struct GenesisAllocation {
  AccountId account;
  std::uint64_t balance = 0;
};

// Why a transaction was refused before it could enter a block (mempool, proposal checks).
enum class PrecheckError : std::uint8_t {
  wrong_chain,  // chain id differs from the ledger's
  stale_nonce,  // nonce below the account's next nonce (already used)
  future_nonce, // nonce above the account's next nonce
};
const char* describe(PrecheckError error);

enum class ReceiptStatus : std::uint8_t {
  success = 0,
  insufficient_balance = 1,  // failed: nonce consumed, no other effect
  balance_overflow = 2,      // failed: recipient balance would exceed 2^64 - 1; nonce consumed
  key_space_full = 3,        // failed: account holds ledger_account_keys_max keys; nonce consumed
  rejected_wrong_chain = 4,  // refused inside a block (Byzantine proposer): no effect at all
  rejected_bad_nonce = 5,    // refused inside a block (Byzantine proposer): no effect at all
};
const char* describe(ReceiptStatus status);

struct Receipt {
  TransactionId id;
  ReceiptStatus status = ReceiptStatus::success;
  std::uint64_t height = 0;
  std::uint32_t index = 0;  // position in the block
  bool operator==(const Receipt&) const = default;
};
Bytes encode_receipt(const Receipt& receipt);
Result<Receipt, TransactionError> decode_receipt(ByteSpan encoded);
// A block's receipts as the store keeps them: a count (<= block_transactions_max),
// then each encode_receipt length-prefixed. The decoder refuses trailing bytes.
Bytes encode_receipts(std::span<const Receipt> receipts);
Result<std::vector<Receipt>, TransactionError> decode_receipts(ByteSpan encoded);
// SHA-256("kestrel/receipts/v1" || u64 count || encode_receipt(r) for each r): what
// the state digest commits to of a block's receipts (docs/transactions.md).
Hash32 receipts_digest(std::span<const Receipt> receipts);

// One changed entry of the ledger state, for the store's state column family:
//   account: key 'a' || account id (32 B)         value u64 balance || u64 nonce (LE)
//   put:     key 'k' || account id (32 B) || key  value the put value
// Every account and every key of the ledger is one such entry; the set of entries
// is the whole state (Ledger::state_entries lists it, Ledger::restore reads it).
struct StateWrite {
  Bytes key;
  Bytes value;
  bool operator==(const StateWrite&) const = default;
};
Bytes account_state_key(const AccountId& id);
Bytes kv_state_key(const AccountId& id, ByteSpan key);

// A raw command executed as a put (8-byte key, 8-byte value).
struct RawPut {
  std::array<std::uint8_t, 8> key{};
  std::array<std::uint8_t, 8> value{};
};
// The account raw puts go to: the all-zero id, which no key hashes to in practice
// (a SHA-256 preimage of zero), so no client can sign for it.
inline AccountId raw_account_id() { return AccountId{}; }

struct BlockResult {
  std::vector<Receipt> receipts;
  Hash32 state_digest;
  Hash32 receipts_digest;  // receipts_digest(receipts), one input of state_digest
  // Every account the block touched and every key it put, in key order: what the
  // node writes to storage (in the same write batch as the block's receipts).
  std::vector<StateWrite> state_writes;
};

enum class LedgerError : std::uint8_t {
  height_not_next,     // execute_block at a height other than last + 1
  too_many_transactions,
  genesis_duplicate,   // the same account twice in genesis
  genesis_too_large,   // more than limits::genesis_accounts_max allocations
  // Ledger::restore: the stored state or the arguments are not a ledger's.
  restore_source_failed,     // the page source reported a failure (its caller has the detail)
  restore_page_too_large,    // the source returned more entries than were asked for
  restore_bad_key,           // a key with an unknown tag or a wrong length
  restore_bad_value,         // an account value that is not 16 bytes, a put value too long
  restore_out_of_order,      // keys not strictly increasing (unsorted page or a duplicate)
  restore_orphan_key,        // a put key of an account that has no account entry
  restore_too_many_keys,     // an account with more than ledger_account_keys_max keys
  restore_too_many_entries,  // more than limits::ledger_restore_entries_max entries
  restore_bad_receipts,      // last-block receipts whose heights or indexes do not fit
};
const char* describe(LedgerError error);

// A state entry as the store returns it: (key, value) in the encoding above.
using StateEntry = std::pair<Bytes, Bytes>;
// The next page of the stored state: up to max_entries entries whose keys are
// strictly greater than start_after (empty: from the first key), in byte order of
// the keys; an empty page ends the state. nullopt: the source failed (its owner
// keeps the detail, e.g. the StorageError). storage::Store::state_range fits.
using StatePageSource =
    std::function<std::optional<std::vector<StateEntry>>(ByteSpan start_after, std::size_t max_entries)>;

class Ledger {
 public:
  static Result<Ledger, LedgerError> create(std::uint32_t chain_id,
                                            std::span<const GenesisAllocation> genesis);

  // Rebuilds the ledger a node had after executing block `height` from the stored
  // state (every entry, read page by page from `source`, limits::ledger_restore_page_entries
  // at a time) and that block's receipts (empty at height 0). The result's
  // state_digest() is exactly the digest execute_block (or create, at height 0)
  // produced for that state: the caller compares it with the stored digest
  // (storage::Store::last_state_digest) before trusting the ledger. Every malformed
  // input is a specific restore_* error; nothing is repaired.
  static Result<Ledger, LedgerError> restore(std::uint32_t chain_id, std::uint64_t height,
                                             std::span<const Receipt> last_block_receipts,
                                             const StatePageSource& source);

  std::uint32_t chain_id() const { return chain_id_; }
  // Last executed height (0 = genesis only).
  std::uint64_t height() const { return height_; }
  // Digest after the last executed block (the genesis digest at height 0).
  const Hash32& state_digest() const { return digest_; }

  Account account(const AccountId& id) const;  // zero account when absent
  std::optional<Bytes> get(const AccountId& id, ByteSpan key) const;
  std::size_t account_count() const { return accounts_.size(); }
  // Entries in the state (accounts plus put keys).
  std::uint64_t entry_count() const { return entry_count_; }

  // The state as store entries (the encoding of StateWrite), in key order: up to
  // max_entries whose keys are strictly greater than start_after (empty: from the
  // first). Written by the node to a new store at genesis (put_state), and usable to
  // compare a ledger with a store or to ship a snapshot. Costs O(log n + page).
  std::vector<StateWrite> state_entries(ByteSpan start_after, std::size_t max_entries) const;

  // Admission rule: chain id and exact next nonce.
  Status<PrecheckError> precheck(const Transaction& tx) const;

  // Executes one block of transactions in order at height() + 1. Deterministic:
  // equal ledgers and equal inputs give equal receipts and digests everywhere.
  // REQUIRES (contract, not checked): signatures were verified by the caller.
  // `raw` are the benchmark mode's unsigned commands (docs/client-api.md), applied
  // after the transactions as puts into the raw account (raw_account_id): no
  // receipts, no nonce; when the raw account holds ledger_account_keys_max keys, a
  // put of a new key has no effect (like key_space_full).
  // `senders`, when not empty: senders[i] == sender_of(txs[i]), computed by the
  // caller (the node's gate execution.known_senders), so the ledger does not hash
  // each sender's public key again; debug builds check it.
  Result<BlockResult, LedgerError> execute_block(std::uint64_t height,
                                                 std::span<const Transaction> txs,
                                                 std::span<const TransactionId> ids,
                                                 std::span<const RawPut> raw = {},
                                                 std::span<const AccountId> senders = {});

 private:
  // touched_height: the height of the block that last changed the entry. The
  // first change in a block removes the entry's old element from state_hash_
  // (later changes in the same block find touched_height == height and do not);
  // the block adds the final element of every touched entry at its end.
  struct Entry {
    Bytes value;
    std::uint64_t touched_height = 0;
  };
  struct State {
    Account account;
    std::map<Bytes, Entry> keys;  // ordered: state_entries lists keys in byte order
    std::uint64_t touched_height = 0;
  };
  explicit Ledger(std::uint32_t chain_id) : chain_id_(chain_id) {}
  ReceiptStatus apply(const Transaction& tx, const AccountId& sender, std::uint64_t height,
                      std::vector<AccountId>& touched, std::vector<Bytes>& put_keys);
  void apply_raw(std::span<const RawPut> raw, std::uint64_t height, std::vector<AccountId>& touched,
                 std::vector<Bytes>& put_keys);
  // Before the first change of an existing entry in the block at `height`.
  void touch(State& state, const AccountId& id, std::uint64_t height);
  void touch(Entry& entry, const AccountId& id, const Bytes& key, std::uint64_t height);
  Hash32 compute_digest(const Hash32& receipts) const;

  std::uint32_t chain_id_;
  std::uint64_t height_ = 0;
  Hash32 digest_;
  std::uint64_t entry_count_ = 0;   // accounts plus put keys
  detail::LtHash16 state_hash_;     // the set hash of every state entry
  std::map<AccountId, State> accounts_;  // ordered: state_entries and restore walk it in key order
};

}  // namespace kestrel::execution
