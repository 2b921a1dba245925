// The commit pipeline (node_impl.h): the core's commit stream in, executed
// against the ledger, appended to the store with its receipts and state changes,
// and the waiting clients answered (after the synced write, or before it under
// gate node.early_receipts by the quorum argument of docs/node.md "Receipts").
// At start it rebuilds the ledger from the store.
#include <spdlog/spdlog.h>

#include "common/assert.h"
#include "common/codec.h"
#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

namespace {

Bytes encode_receipts(std::span<const execution::Receipt> receipts) {
  Bytes out;
  Writer w(out);
  w.varint(receipts.size());
  for (const auto& r : receipts) w.bytes(execution::encode_receipt(r), limits::receipt_bytes_max);
  return out;
}

std::string hex32(const Hash32& h) { return to_hex(h.bytes); }

}  // namespace

// Restart (docs/node.md "Restart", docs/storage.md): a fresh store gets the genesis
// state; otherwise the ledger is rebuilt from the stored state and checked against
// the stored digest.
Status<std::string> Node::Impl::restore_ledger(const std::string& path) {
  const std::uint64_t height = store_->committed_height();
  auto first = store_->state_range({}, 1);
  if (!first) return Err(path + ": state: " + storage::describe(first.error()));
  if (height == 0 && first->empty()) {
    // A new store: write the genesis state, so a restart can rebuild from the store alone.
    Bytes after;
    for (;;) {
      auto page = ledger_->state_entries(after, limits::ledger_restore_page_entries);
      if (page.empty()) break;
      after = page.back().key;
      for (const auto& e : page) {
        if (auto st = store_->put_state(e.key, e.value); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
      }
    }
    if (auto st = store_->flush(); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
  } else {
    std::vector<execution::Receipt> receipts;
    if (height > 0) {
      auto bytes = store_->receipts(height);
      if (!bytes) return Err(path + ": receipts of height " + std::to_string(height) + ": " + storage::describe(bytes.error()));
      Reader r(*bytes);
      auto count = r.varint_max(limits::block_transactions_max);
      if (!count) return Err(path + ": receipts of height " + std::to_string(height) + " do not decode");
      for (std::uint64_t i = 0; i < *count; ++i) {
        auto one = r.bytes(limits::receipt_bytes_max);
        if (!one) return Err(path + ": receipts of height " + std::to_string(height) + " do not decode");
        auto receipt = execution::decode_receipt(*one);
        if (!receipt) return Err(path + ": a receipt of height " + std::to_string(height) + " does not decode");
        receipts.push_back(*receipt);
      }
    }
    std::optional<storage::StorageError> source_error;
    auto ledger = execution::Ledger::restore(
        static_cast<std::uint32_t>(config_.chain_id), height, receipts,
        [&](ByteSpan after, std::size_t max) -> std::optional<std::vector<execution::StateEntry>> {
          auto page = store_->state_range(after, max);
          if (!page) {
            source_error = page.error();
            return std::nullopt;
          }
          return std::move(*page);
        });
    if (!ledger) {
      return Err(path + ": ledger restore: " + execution::describe(ledger.error()) +
                 (source_error ? std::string(": ") + storage::describe(*source_error) : ""));
    }
    if (height > 0) {
      auto digest = store_->last_state_digest();
      if (!digest) return Err(path + ": state digest: " + storage::describe(digest.error()));
      if (*digest != ledger->state_digest()) {
        return Err(path + ": the restored state's digest differs from the one stored at height " + std::to_string(height) +
                   " (state and blocks disagree; the store is refused, nothing repaired)");
      }
    } else if (ledger->state_digest() != ledger_->state_digest()) {
      return Err(path + ": the stored state is not this cluster's genesis");
    }
    ledger_ = std::move(*ledger);
  }

  if (height > 0) {
    spdlog::info("restarted from {}: height {}, state digest {}", path, height,
                 hex32(ledger_->state_digest()).substr(0, 16));
  }
  return {};
}

bool Node::Impl::apply_commit(const consensus::Commit& c) {
  std::vector<execution::Transaction> txs;
  std::vector<execution::TransactionId> ids;
  std::vector<RawEntry> raw;
  const auto unit = units_.find(c.id);
  const bool indexed = unit != units_.end() && unit->second.payload_ok && unit->second.payload_bytes == c.payload.size();
  if (unit != units_.end()) {
    metrics_.commit_latency->observe(static_cast<std::uint64_t>((Clock::now() - unit->second.stored_at).count()));
  }
  const auto add = [&](ByteSpan encoded, const execution::TransactionId* id) {
    auto tx = execution::decode_transaction(encoded);
    if (!tx) return;  // certified by a quorum that checked it: cannot happen with <= f faults
    txs.push_back(std::move(*tx));
    ids.push_back(id ? *id : execution::transaction_id(encoded));
  };
  if (indexed) {
    // Decoded once, when the unit was stored: the same bytes (the id covers them).
    const UnitInfo& info = unit->second;
    for (std::size_t i = 0; i < info.ranges.size(); ++i) {
      add(ByteSpan(c.payload).subspan(info.ranges[i].first, info.ranges[i].second), &info.ids[i]);
    }
    raw = info.raw_entries;
  } else if (auto payload = decode_payload(c.payload)) {
    for (ByteSpan tx : payload->transactions) add(tx, nullptr);
    raw = std::move(payload->raw);
  } else {
    spdlog::error("committed unit {} at sequence {} has a malformed payload; executed as empty", hex32(c.id), c.sequence);
  }
  // Executed whatever this node's raw_mode: replicas must agree.
  std::vector<execution::RawPut> puts(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::copy_n(raw[i].command.begin(), 8, puts[i].key.begin());
    std::copy_n(raw[i].command.begin() + 8, 8, puts[i].value.begin());
  }
  // Gate execution.known_senders: a transaction this pool admitted has its
  // sender's account id (the hash of its public key) already; the others are
  // hashed once here for both the ledger and the pool.
  std::vector<execution::AccountId> senders;
  if (gate_enabled(Gate::execution_known_senders)) {
    senders.reserve(txs.size());
    for (std::size_t i = 0; i < txs.size(); ++i) {
      const auto known = mempool_->known_sender(ids[i]);
      senders.push_back(known ? *known : execution::sender_of(txs[i]));
    }
  }
  const auto execution_start = Clock::now();
  auto result = [&] {
    perf::StageTimer timer(stages_, perf::Stage::execution);
    return ledger_->execute_block(c.sequence, txs, ids, puts, senders);
  }();
  KESTREL_ASSERT(result.ok());  // sequences come from the core in order
  metrics_.observe_block_executed(txs.size() + raw.size(),
                                  static_cast<std::uint64_t>((Clock::now() - execution_start).count()));
  std::vector<storage::StateWrite> writes;
  writes.reserve(result->state_writes.size());
  for (const auto& w : result->state_writes) writes.push_back({w.key, w.value});
  const StoredCommit stored = protocol_->stored_commit(c);
  auto appended = c.sequence == test_fail_commit_at_height_
                      ? Status<storage::StorageError>(Err(storage::StorageError::io_error))
                      : store_->append_block(c.sequence, c.id, stored.unit, stored.certificate,
                                             encode_receipts(result->receipts), writes, &result->state_digest);
  if (!appended) {
    stop_on_failure("append_block " + std::to_string(c.sequence) + " failed: " + storage::describe(appended.error()));
    return false;
  }
  mempool_->on_committed(txs, senders);
  transactions_committed_ += txs.size();
  raw_committed_ += raw.size();
  last_commit_unix_ms_ = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  answer_receipts(*result);
  raw_committed(raw, c.sequence);
  return true;
}

void Node::Impl::answer_receipts(const execution::BlockResult& result) {
  for (const auto& receipt : result.receipts) {
    // A transaction a block carried at the wrong place (a second copy, a nonce
    // ahead of a gap after a fork, or a Byzantine proposer's) had no effect at
    // all: that is not its outcome, and the client keeps waiting for the block
    // that executes it (docs/node.md "Receipts").
    if (receipt.status == execution::ReceiptStatus::rejected_bad_nonce ||
        receipt.status == execution::ReceiptStatus::rejected_wrong_chain) {
      continue;
    }
    if (auto a = admitted_at_.find(receipt.id); a != admitted_at_.end()) {
      const auto latency = Clock::now() - a->second;
      metrics_.submit_to_commit->observe(static_cast<std::uint64_t>(latency.count()));
      if (tuner_) note_latency(latency);
      admitted_at_.erase(a);
    }
    if (recent_receipts_.size() >= limits::node_recent_receipts_max) {
      recent_receipts_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
    if (recent_receipts_.emplace(receipt.id, receipt).second) recent_order_.push_back(receipt.id);
    if (auto w = waiters_.find(receipt.id); w != waiters_.end()) {
      for (auto& wait : w->second) receipts_due_.emplace_back(std::move(wait), receipt);
      waiter_count_ -= w->second.size();
      waiters_.erase(w);
    }
  }
}

void Node::Impl::deliver_receipts() {
  if (!receipts_due_.empty() || !raw_due_.empty()) {
    perf::StageTimer timer(stages_, perf::Stage::receipt);
    for (auto& [wait, receipt] : receipts_due_) wait.done(receipt);
  }
  receipts_due_.clear();
  for (auto& [call, part] : raw_due_) call->committed(std::move(part.first), part.second);
  raw_due_.clear();
}

}  // namespace kestrel::node
