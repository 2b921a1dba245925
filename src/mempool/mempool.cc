#include "mempool/mempool.h"

#include <algorithm>
#include <unordered_set>

#include "common/assert.h"
#include "common/gates.h"

namespace kestrel::mempool {

using execution::AccountId;
using execution::Transaction;
using execution::TransactionId;

const char* describe(AdmitError error) {
  switch (error) {
    case AdmitError::too_large: return "transaction too large";
    case AdmitError::bad_encoding: return "malformed transaction";
    case AdmitError::wrong_chain: return "wrong chain id";
    case AdmitError::duplicate: return "duplicate transaction";
    case AdmitError::stale_nonce: return "stale nonce";
    case AdmitError::nonce_gap_too_large: return "nonce gap too large";
    case AdmitError::nonce_taken: return "another pending transaction has this nonce";
    case AdmitError::pool_full: return "mempool full";
    case AdmitError::sender_quota: return "sender holds its share of the mempool";
    case AdmitError::bad_public_key: return "invalid sender public key";
    case AdmitError::bad_signature: return "bad signature";
    case AdmitError::batch_too_large: return "too many transactions in one submission";
    case AdmitError::count_: break;
  }
  return "unknown admission error";
}

const char* describe(ProposalError error) {
  switch (error) {
    case ProposalError::too_many_transactions: return "proposal: too many transactions";
    case ProposalError::too_large: return "proposal: payload too large";
    case ProposalError::bad_encoding: return "proposal: malformed transaction";
    case ProposalError::wrong_chain: return "proposal: transaction of another chain";
    case ProposalError::bad_signature: return "proposal: bad transaction signature";
  }
  return "proposal: unknown error";
}

Mempool::Mempool(const Config& config, crypto::ParallelVerifier& verifier, NonceLookup next_nonce)
    : config_(config), verifier_(verifier), next_nonce_(std::move(next_nonce)) {
  KESTREL_ASSERT(config_.transactions_max >= 1 && config_.transactions_max <= limits::mempool_transactions_max);
  KESTREL_ASSERT(config_.bytes_max >= limits::transaction_bytes_max && config_.bytes_max <= limits::mempool_bytes_max);
  if (config_.sender_transactions_max == 0) {
    config_.sender_transactions_max =
        std::max<std::size_t>(1, config_.transactions_max / limits::mempool_sender_share_divisor);
  }
  KESTREL_ASSERT(config_.sender_transactions_max <= config_.transactions_max);
  KESTREL_ASSERT(config_.nonce_gap_max <= limits::mempool_nonce_gap_max);
  KESTREL_ASSERT(next_nonce_ != nullptr);
}

std::shared_ptr<const crypto::Verifier> Mempool::verifier_for(const Transaction& tx, const AccountId& sender) {
  if (const auto it = verifier_index_.find(sender); it != verifier_index_.end()) {
    verifiers_.splice(verifiers_.begin(), verifiers_, it->second);
    return it->second->second;
  }
  auto made = crypto::make_verifier(tx.scheme, tx.sender_public_key);
  if (!made) return nullptr;
  verifiers_.emplace_front(sender, std::shared_ptr<const crypto::Verifier>(std::move(made).value()));
  verifier_index_[sender] = verifiers_.begin();
  while (verifiers_.size() > limits::mempool_verifiers_max) {
    verifier_index_.erase(verifiers_.back().first);
    verifiers_.pop_back();
  }
  return verifiers_.front().second;
}

std::vector<Result<TransactionId, AdmitError>> Mempool::admit(std::span<const ByteSpan> encoded) {
  std::vector<Result<TransactionId, AdmitError>> results;
  results.reserve(encoded.size());
  auto refuse = [&](AdmitError e) {
    refused_[static_cast<std::size_t>(e)]++;
    results.push_back(Err(e));
  };
  if (encoded.size() > limits::mempool_admit_batch_max) {
    for (std::size_t i = 0; i < encoded.size(); ++i) refuse(AdmitError::batch_too_large);
    return results;
  }
  struct Candidate {
    std::size_t index;
    Transaction tx;
    TransactionId id;
    AccountId sender;
    std::shared_ptr<const crypto::Verifier> verifier;
    Bytes signing;
  };
  std::vector<Candidate> candidates;
  candidates.reserve(encoded.size());
  // What earlier candidates of this batch will take, so the batch as a whole
  // respects every bound (checked again at insertion).
  std::unordered_set<TransactionId, Hash32Hasher> batch_ids;
  std::map<std::pair<AccountId, std::uint64_t>, bool> batch_nonces;
  std::map<AccountId, std::size_t> batch_sender_counts;
  std::size_t batch_count = 0, batch_bytes = 0;

  // Phase 1: cheap checks, in the order of the header.
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    const ByteSpan in = encoded[i];
    if (in.size() > limits::transaction_bytes_max) { refuse(AdmitError::too_large); continue; }
    auto tx = execution::decode_transaction(in);
    if (!tx) { refuse(AdmitError::bad_encoding); continue; }
    if (tx->chain_id != config_.chain_id) { refuse(AdmitError::wrong_chain); continue; }
    const TransactionId id = execution::transaction_id(in);
    if (by_id_.count(id) != 0 || batch_ids.count(id) != 0) { refuse(AdmitError::duplicate); continue; }
    const AccountId sender = execution::sender_of(*tx);
    const std::uint64_t next = next_nonce_(sender);
    if (tx->nonce < next) { refuse(AdmitError::stale_nonce); continue; }
    if (tx->nonce - next > config_.nonce_gap_max) { refuse(AdmitError::nonce_gap_too_large); continue; }
    const auto existing = senders_.find(sender);
    const std::size_t held = (existing == senders_.end() ? 0 : existing->second.txs.size()) +
                             batch_sender_counts[sender];
    if ((existing != senders_.end() && existing->second.txs.count(tx->nonce) != 0) ||
        batch_nonces.count({sender, tx->nonce}) != 0) {
      refuse(AdmitError::nonce_taken);
      continue;
    }
    if (count_ + batch_count + 1 > config_.transactions_max || bytes_ + batch_bytes + in.size() > config_.bytes_max) {
      refuse(AdmitError::pool_full);
      continue;
    }
    if (held + 1 > config_.sender_transactions_max) { refuse(AdmitError::sender_quota); continue; }
    auto verifier = verifier_for(*tx, sender);
    if (!verifier) { refuse(AdmitError::bad_public_key); continue; }
    batch_ids.insert(id);
    batch_nonces[{sender, tx->nonce}] = true;
    batch_sender_counts[sender]++;
    batch_count++;
    batch_bytes += in.size();
    Bytes signing = execution::signing_bytes(*tx);
    candidates.push_back(Candidate{i, std::move(tx).value(), id, sender, std::move(verifier), std::move(signing)});
    results.push_back(id);  // provisional: phase 2 may refuse it
  }

  // Phase 2: one parallel verification of every candidate's signature. The id
  // digests the bytes the candidate was decoded from, so it binds the inputs
  // (gate mempool.id_keyed_verify_cache).
  const bool id_keyed = gate_enabled(Gate::mempool_id_keyed_verify_cache);
  std::vector<crypto::VerifyItem> items;
  items.reserve(candidates.size());
  for (const auto& c : candidates) {
    items.push_back({c.verifier.get(), c.signing, c.tx.signature, id_keyed ? &c.id : nullptr});
  }
  std::vector<std::uint8_t> valid(candidates.size(), 0);
  const auto verified = verifier_.verify_batch(items, valid);
  KESTREL_ASSERT(verified.ok());  // sizes are ours: batch bound checked above

  // Phase 3: insert what verified (results[i] is input i's: one push per input).
  KESTREL_ASSERT(results.size() == encoded.size());
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    auto& c = candidates[k];
    if (valid[k] == 0) {
      refused_[static_cast<std::size_t>(AdmitError::bad_signature)]++;
      results[c.index] = Err(AdmitError::bad_signature);
      continue;
    }
    Sender& s = senders_[c.sender];
    s.next_nonce = next_nonce_(c.sender);
    const std::size_t size = encoded[c.index].size();
    KESTREL_ASSERT(s.txs.count(c.tx.nonce) == 0);
    s.txs.emplace(c.tx.nonce, Entry{c.id, Bytes(encoded[c.index].begin(), encoded[c.index].end())});
    by_id_.emplace(c.id, std::make_pair(c.sender, c.tx.nonce));
    count_++;
    bytes_ += size;
    admitted_++;
  }
  KESTREL_ASSERT(count_ <= config_.transactions_max && bytes_ <= config_.bytes_max);
  KESTREL_ASSERT(by_id_.size() == count_);
  return results;
}

Result<std::vector<execution::TransactionId>, ProposalError> Mempool::verify_proposal(std::span<const ByteSpan> encoded,
                                                                                      std::size_t* known) {
  if (encoded.size() > limits::block_transactions_max) return Err(ProposalError::too_many_transactions);
  std::size_t total = 0;
  for (const auto& e : encoded) total += e.size();
  if (total > limits::block_payload_bytes_max) return Err(ProposalError::too_large);
  const bool use_known = gate_enabled(Gate::mempool_known_transactions);
  std::vector<execution::TransactionId> ids;
  ids.reserve(encoded.size());
  std::vector<Transaction> txs;  // the ones that were not admitted here
  std::vector<std::size_t> txs_at;  // txs[k] is encoded[txs_at[k]] (its id: ids[txs_at[k]])
  for (const auto& e : encoded) {
    ids.push_back(execution::transaction_id(e));
    if (use_known && by_id_.count(ids.back())) continue;  // these exact bytes passed admit()
    auto tx = execution::decode_transaction(e);
    if (!tx) return Err(ProposalError::bad_encoding);
    if (tx->chain_id != config_.chain_id) return Err(ProposalError::wrong_chain);
    txs.push_back(std::move(tx).value());
    txs_at.push_back(ids.size() - 1);
  }
  const bool id_keyed = gate_enabled(Gate::mempool_id_keyed_verify_cache);
  if (known) *known = encoded.size() - txs.size();
  // Verify in chunks of one verifier batch; verifiers and signing bytes live for
  // the chunk.
  for (std::size_t at = 0; at < txs.size(); at += limits::verify_batch_items_max) {
    const std::size_t n = std::min(limits::verify_batch_items_max, txs.size() - at);
    std::vector<std::shared_ptr<const crypto::Verifier>> verifiers;
    std::vector<Bytes> signing;
    std::vector<crypto::VerifyItem> items;
    verifiers.reserve(n);
    signing.reserve(n);
    items.reserve(n);
    for (std::size_t i = at; i < at + n; ++i) {
      verifiers.push_back(verifier_for(txs[i], execution::sender_of(txs[i])));
      if (!verifiers.back()) return Err(ProposalError::bad_signature);
      signing.push_back(execution::signing_bytes(txs[i]));
      items.push_back({verifiers.back().get(), signing.back(), txs[i].signature, id_keyed ? &ids[txs_at[i]] : nullptr});
    }
    std::vector<std::uint8_t> valid(n, 0);
    const auto verified = verifier_.verify_batch(items, valid);
    KESTREL_ASSERT(verified.ok());  // n <= verify_batch_items_max
    if (std::find(valid.begin(), valid.end(), 0) != valid.end()) return Err(ProposalError::bad_signature);
  }
  return ids;
}

Batch Mempool::next_batch(std::size_t count_max, std::size_t bytes_max,
                          std::span<const TransactionId> in_flight) {
  Batch batch;
  if (senders_.empty() || count_max == 0) return batch;
  const std::unordered_set<TransactionId, Hash32Hasher> skip(in_flight.begin(), in_flight.end());
  // Each sender's run of consecutive nonces from its next nonce.
  struct Run {
    std::vector<const Entry*> entries;
    std::size_t taken = 0;
    bool blocked = false;
  };
  std::vector<Run> runs;
  runs.reserve(senders_.size());
  for (const auto& [id, sender] : senders_) {
    Run run;
    std::uint64_t expect = sender.next_nonce;
    for (auto it = sender.txs.lower_bound(expect); it != sender.txs.end() && it->first == expect; ++it, ++expect) {
      if (skip.count(it->second.id) == 0) run.entries.push_back(&it->second);
      if (run.entries.size() >= count_max) break;
    }
    runs.push_back(std::move(run));
  }
  const std::size_t start = round_robin_start_++ % runs.size();
  bool progress = true;
  while (progress && batch.ids.size() < count_max) {
    progress = false;
    for (std::size_t k = 0; k < runs.size() && batch.ids.size() < count_max; ++k) {
      Run& run = runs[(start + k) % runs.size()];
      if (run.blocked || run.taken == run.entries.size()) continue;
      const Entry* e = run.entries[run.taken];
      if (batch.bytes + e->encoded.size() > bytes_max) {
        run.blocked = true;  // later nonces of this sender cannot skip it
        continue;
      }
      batch.transactions.push_back(e->encoded);
      batch.ids.push_back(e->id);
      batch.bytes += e->encoded.size();
      run.taken++;
      progress = true;
    }
  }
  KESTREL_ASSERT(batch.ids.size() <= count_max && batch.bytes <= bytes_max);
  return batch;
}

std::uint64_t Mempool::pending_next_nonce(const execution::AccountId& sender, std::uint64_t ledger_nonce) const {
  auto it = senders_.find(sender);
  if (it == senders_.end()) return ledger_nonce;
  // Walk the pooled nonces from the ledger's (explicit, bounded by the sender's
  // entries, which nonce_gap_max bounds).
  std::uint64_t next = ledger_nonce;
  for (auto tx = it->second.txs.lower_bound(next); tx != it->second.txs.end() && tx->first == next; ++tx) ++next;
  KESTREL_ASSERT(next - ledger_nonce <= it->second.txs.size());
  return next;
}

void Mempool::drop_below(Sender& sender, std::uint64_t nonce) {
  for (auto it = sender.txs.begin(); it != sender.txs.end() && it->first < nonce;) {
    by_id_.erase(it->second.id);
    count_--;
    bytes_ -= it->second.encoded.size();
    it = sender.txs.erase(it);
  }
}

void Mempool::on_committed(std::span<const Transaction> committed, std::span<const AccountId> senders) {
  KESTREL_ASSERT(senders.empty() || senders.size() == committed.size());
  std::vector<AccountId> touched(senders.begin(), senders.end());
  touched.reserve(committed.size());
  for (std::size_t i = 0; i < committed.size(); ++i) {
    if (senders.empty()) {
      touched.push_back(execution::sender_of(committed[i]));
    } else {
      KESTREL_DEBUG_ASSERT(senders[i] == execution::sender_of(committed[i]));
    }
  }
  std::sort(touched.begin(), touched.end());
  touched.erase(std::unique(touched.begin(), touched.end()), touched.end());
  for (const auto& id : touched) {
    const auto it = senders_.find(id);
    if (it == senders_.end()) continue;
    it->second.next_nonce = next_nonce_(id);
    drop_below(it->second, it->second.next_nonce);
    if (it->second.txs.empty()) senders_.erase(it);
  }
  KESTREL_ASSERT(by_id_.size() == count_);
}

}  // namespace kestrel::mempool
