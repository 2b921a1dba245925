// Mempool: the bounded pool of client transactions waiting for a proposal.
//
// Who drives it: the node's client ingress calls admit() with batches of encoded
// transactions; the leader calls next_batch() when it proposes; after each
// committed block the node calls on_committed() (after the ledger executed it).
//
// Admission (in this order, each refusal a specific AdmitError the client API
// passes on, and counted): size (too_large), strict decoding (bad_encoding), chain
// id (wrong_chain), duplicate id, nonce against the sender's next nonce from the
// ledger (stale_nonce, nonce_gap_too_large), pool and sender bounds (pool_full,
// sender_quota, nonce_taken), sender public key (bad_public_key), then ONE
// parallel verification of the batch's signatures through crypto::ParallelVerifier
// with its VerifyCache (gates crypto.parallel_verify and crypto.verify_cache):
// bad_signature.
//
// Bounds (limits.h): transactions and bytes in the pool; a sender holds at most
// transactions_max / mempool_sender_share_divisor; nonces at most nonce_gap_max
// ahead; expanded sender verifiers kept in a bounded LRU.
//
// Proposals: next_batch() hands out, by count and bytes, transactions whose nonces
// run contiguously from their sender's next nonce, senders taken round-robin. It
// removes nothing: what a failed view proposed stays and is proposed again;
// on_committed() removes what the ledger consumed.
//
// Deterministic: iteration is over ordered maps; no unordered order reaches output.
// Thread-safety: none; one thread owns a Mempool (verification runs on the
// ParallelVerifier's workers inside admit()).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/result.h"
#include "crypto/parallel_verify.h"
#include "execution/execution.h"

namespace kestrel::mempool {

enum class AdmitError : std::uint8_t {
  too_large,            // encoding above limits::transaction_bytes_max
  bad_encoding,         // not a canonical transaction
  wrong_chain,          // chain id of another cluster
  duplicate,            // already in the pool (same id)
  stale_nonce,          // nonce already used by the sender
  nonce_gap_too_large,  // nonce more than nonce_gap_max ahead of the sender's next nonce
  nonce_taken,          // another transaction of the sender holds this nonce in the pool
  pool_full,            // the pool is at its count or byte bound
  sender_quota,         // the sender holds its share of the pool
  bad_public_key,       // the sender key is not a valid key of its scheme
  bad_signature,        // the signature does not verify
  batch_too_large,      // more than limits::mempool_admit_batch_max in one call
  count_,               // not an error: the number of reasons
};
const char* describe(AdmitError error);

// Why a proposal's transactions are refused (the driver then does not vote).
enum class ProposalError : std::uint8_t {
  too_many_transactions,  // more than limits::block_transactions_max
  too_large,              // more than limits::block_payload_bytes_max in total
  bad_encoding,           // a transaction does not decode
  wrong_chain,            // a transaction of another cluster
  bad_signature,          // a signature does not verify
};
const char* describe(ProposalError error);

struct Config {
  std::uint32_t chain_id = 0;
  std::size_t transactions_max = limits::mempool_transactions_max;
  std::size_t bytes_max = limits::mempool_bytes_max;
  // Default: transactions_max / limits::mempool_sender_share_divisor (0 means that).
  std::size_t sender_transactions_max = 0;
  std::uint64_t nonce_gap_max = limits::mempool_nonce_gap_max;
};

// The sender's next nonce according to the ledger (Ledger::account(id).nonce).
using NonceLookup = std::function<std::uint64_t(const execution::AccountId&)>;

struct Batch {
  std::vector<Bytes> transactions;  // encoded, in proposal order
  std::vector<execution::TransactionId> ids;
  std::size_t bytes = 0;
};

class Mempool {
 public:
  // REQUIRES: verifier outlives the mempool; config bounds within limits.h.
  Mempool(const Config& config, crypto::ParallelVerifier& verifier, NonceLookup next_nonce);

  // One result per input, in order.
  std::vector<Result<execution::TransactionId, AdmitError>> admit(std::span<const ByteSpan> encoded);

  // At most count_max transactions and bytes_max bytes; `in_flight` lists ids
  // already proposed in uncommitted blocks (skipped, but they keep their place in
  // the sender's nonce run).
  // Senders are served round-robin from a start that rotates with every call, so
  // no sender is always first.
  Batch next_batch(std::size_t count_max, std::size_t bytes_max,
                   std::span<const execution::TransactionId> in_flight = {});

  // Checks the transactions of a proposal before the driver votes: strict
  // decoding, chain id, and every signature in parallel batches through the verify
  // cache. Nonces are not checked here (the ledger gives a wrong nonce an inert
  // receipt). With gate mempool.known_transactions on, a transaction whose id (the
  // hash of its exact bytes) is in this pool was decoded, chain-checked and verified
  // when it was admitted, and costs one hash and one lookup; off, every
  // transaction is decoded and checked (a cache hit when admitted before). Returns
  // the transaction ids in order (the driver reuses them), or the first reason the
  // proposal is refused. `known` (when given) counts the transactions that took
  // the known path.
  Result<std::vector<execution::TransactionId>, ProposalError> verify_proposal(std::span<const ByteSpan> encoded,
                                                                               std::size_t* known = nullptr);

  // After the ledger executed a committed block: re-reads the next nonce of every
  // sender in `committed` and drops that sender's transactions below it.
  // `senders`, when not empty: senders[i] == sender_of(committed[i]) (the
  // caller's, see known_sender); debug builds check it.
  void on_committed(std::span<const execution::Transaction> committed,
                    std::span<const execution::AccountId> senders = {});

  // The sender's account id of a transaction in this pool (computed when it was
  // admitted: the id is the hash of its exact bytes, public key included), or
  // nullopt. Lets the node skip hashing the public key again at commit (gate
  // execution.known_senders).
  std::optional<execution::AccountId> known_sender(const execution::TransactionId& id) const {
    const auto it = by_id_.find(id);
    if (it == by_id_.end()) return std::nullopt;
    return it->second.first;
  }

  bool contains(const execution::TransactionId& id) const { return by_id_.count(id) != 0; }
  // The nonce a new transaction of `sender` should carry: `ledger_nonce` (its
  // next nonce after the executed blocks) plus the run of this pool's
  // transactions of the sender that follows it without a gap (at most
  // nonce_gap_max). Pending transactions past a gap do not count: the gap must be
  // filled first.
  std::uint64_t pending_next_nonce(const execution::AccountId& sender, std::uint64_t ledger_nonce) const;
  std::size_t size() const { return count_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t senders() const { return senders_.size(); }
  std::uint64_t refused(AdmitError reason) const { return refused_[static_cast<std::size_t>(reason)]; }
  std::uint64_t admitted() const { return admitted_; }

 private:
  struct Entry {
    execution::TransactionId id;
    Bytes encoded;
  };
  struct Sender {
    std::uint64_t next_nonce = 0;         // from the ledger, refreshed on admit and commit
    std::map<std::uint64_t, Entry> txs;   // by nonce
  };
  std::shared_ptr<const crypto::Verifier> verifier_for(const execution::Transaction& tx, const execution::AccountId& sender);
  void drop_below(Sender& sender, std::uint64_t nonce);

  Config config_;
  crypto::ParallelVerifier& verifier_;
  NonceLookup next_nonce_;
  std::map<execution::AccountId, Sender> senders_;
  std::unordered_map<execution::TransactionId, std::pair<execution::AccountId, std::uint64_t>, Hash32Hasher> by_id_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  // Bounded LRU of expanded verifiers by sender (an ML-DSA key expansion costs more
  // than a verification).
  std::list<std::pair<execution::AccountId, std::shared_ptr<const crypto::Verifier>>> verifiers_;
  std::map<execution::AccountId, decltype(verifiers_)::iterator> verifier_index_;
  std::array<std::uint64_t, static_cast<std::size_t>(AdmitError::count_)> refused_{};
  std::uint64_t admitted_ = 0;
  std::size_t round_robin_start_ = 0;
};

}  // namespace kestrel::mempool
