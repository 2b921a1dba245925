// The commit pipeline (node_impl.h): the core's commit stream into the store,
// each commit through the execution pipeline (execution_pipeline.h), the results
// written (Store::apply_execution) and the waiting clients answered — after the
// synced write that holds both the commit and its execution, or before it under
// gate node.early_receipts by the quorum argument of docs/node.md "Receipts".
// At start it restores the executor at the store's executed height and replays
// the commits it had not executed.
#include <spdlog/spdlog.h>

#include "common/assert.h"
#include "common/codec.h"
#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

namespace {

// The stored state as the executor reads it (execution/executor.h).
class StoreStateView final : public execution::StateView {
 public:
  explicit StoreStateView(storage::Store& store) : store_(store) {}
  std::optional<std::vector<execution::StateEntry>> page(ByteSpan after, std::size_t max) override {
    auto page = store_.state_range(after, max);
    if (!page) {
      error = page.error();
      return std::nullopt;
    }
    return std::move(*page);
  }
  std::optional<storage::StorageError> error;

 private:
  storage::Store& store_;
};

Result<std::vector<execution::Receipt>, std::string> stored_receipts(storage::Store& store, std::uint64_t height) {
  if (height == 0) return std::vector<execution::Receipt>{};
  const std::string where = "receipts of height " + std::to_string(height);
  auto bytes = store.receipts(height);
  if (!bytes) return Err(where + ": " + storage::describe(bytes.error()));
  auto decoded = execution::decode_receipts(*bytes);
  if (!decoded) return Err(where + " do not decode: " + execution::describe(decoded.error()));
  return std::move(*decoded);
}

}  // namespace

// Restart (docs/node.md "Restart", docs/storage.md): a fresh store gets the genesis
// state; otherwise the executor is rebuilt from the stored state at the executed
// height and checked against the digest stored with it.
Status<std::string> Node::Impl::restore_execution(const std::string& path) {
  std::vector<execution::GenesisAllocation> genesis;
  for (const auto& g : config_.genesis) {
    auto key = crypto::decode_public_key(g.public_key);
    if (!key) return Err(config_.path + ": cluster.genesis: " + crypto::describe(key.error()));
    genesis.push_back({execution::account_id((*key)->scheme(), (*key)->public_key()), g.balance});
  }
  const auto chain = static_cast<std::uint32_t>(config_.chain_id);
  auto ledger = execution::Ledger::create(chain, genesis);
  if (!ledger) return Err(config_.path + ": cluster.genesis: " + execution::describe(ledger.error()));
  std::unique_ptr<execution::Executor> executor;
  const std::uint64_t height = store_->executed_height();
  auto first = store_->state_range({}, 1);
  if (!first) return Err(path + ": state: " + storage::describe(first.error()));
  if (height == 0 && first->empty()) {
    // A new store: the genesis state, so a restart can rebuild from the store alone.
    std::vector<execution::StateWrite> entries;
    Bytes after;
    for (;;) {
      auto page = ledger->state_entries(after, limits::ledger_restore_page_entries);
      if (page.empty()) break;
      after = page.back().key;
      for (auto& e : page) entries.push_back(std::move(e));
    }
    std::vector<storage::StateWrite> writes;
    for (const auto& e : entries) writes.push_back({e.key, e.value});
    if (auto st = store_->apply_genesis(writes); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
    if (auto st = store_->flush(); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
    executor = std::make_unique<execution::NativeExecutor>(std::move(*ledger));
  } else {
    auto receipts = stored_receipts(*store_, height);
    if (!receipts) return Err(path + ": " + receipts.error());
    StoreStateView view(*store_);
    auto restored = execution::NativeExecutor::restore(chain, height, *receipts, view);
    if (!restored) {
      return Err(path + ": ledger restore: " + execution::describe(restored.error()) +
                 (view.error ? std::string(": ") + storage::describe(*view.error) : ""));
    }
    if (height > 0) {
      auto digest = store_->last_state_digest();
      if (!digest) return Err(path + ": state digest: " + storage::describe(digest.error()));
      if (*digest != (*restored)->state_digest()) {
        return Err(path + ": the restored state's digest differs from the one stored at height " + std::to_string(height) +
                   " (state and blocks disagree; the store is refused, nothing repaired)");
      }
    } else if ((*restored)->state_digest() != ledger->state_digest()) {
      return Err(path + ": the stored state is not this cluster's genesis");
    }
    executor = std::move(*restored);
    spdlog::info("restarted from {}: height {}, state digest {}", path, height,
                 executor->state_digest().hex().substr(0, 16));
  }
  execution_ = std::make_unique<ExecutionPipeline>(std::move(executor), [this] { events_.poke(); },
                                                   gate_enabled(Gate::node_execution_thread));
  return {};
}

// Commits durable in the commit stream but not executed (a crash between the two,
// gate node.execution_thread): executed now, in order, and synced, before the node
// serves anyone.
Status<std::string> Node::Impl::replay_unexecuted(const std::string& path) {
  const std::uint64_t committed = store_->committed_height();
  const std::uint64_t executed = store_->executed_height();
  KESTREL_ASSERT(executed <= committed);
  for (std::uint64_t h = executed + 1; h <= committed; ++h) {
    auto entry = store_->commit_at(h);
    if (!entry) return Err(path + ": commit " + std::to_string(h) + ": " + storage::describe(entry.error()));
    auto payload = protocol_->payload_of_unit(*entry->unit);
    if (!payload) return Err(path + ": commit " + std::to_string(h) + ": " + payload.error());
    ExecutionJob job;
    job.height = h;
    job.id = entry->id;
    job.payload = std::move(*payload);
    job.known_senders = gate_enabled(Gate::execution_known_senders);
    // The pipeline is not started: the job runs here, on this thread.
    std::vector<ExecutedBlock> done;
    execution_->run_now(std::move(job), done);
    for (auto& d : done) {
      if (!write_executed(d)) return Err(path + ": replaying commit " + std::to_string(h) + " failed");
    }
  }
  if (committed > executed) {
    if (auto st = store_->flush(); !st) return Err(path + ": replay: " + storage::describe(st.error()));
    spdlog::info("replayed the execution of heights {} to {}", executed + 1, committed);
  }
  return {};
}

bool Node::Impl::apply_commit(consensus::Commit& c) {
  const auto unit = units_.find(c.id);
  if (unit != units_.end()) {
    metrics_.commit_latency->observe(static_cast<std::uint64_t>((Clock::now() - unit->second.stored_at).count()));
  }
  const StoredCommit stored = protocol_->stored_commit(c);
  auto appended = c.sequence == test_fail_commit_at_height_
                      ? Status<storage::StorageError>(Err(storage::StorageError::io_error))
                      : store_->append_commit(c.sequence, c.id, stored.unit, c.proof);
  if (!appended) {
    stop_on_failure("append_commit " + std::to_string(c.sequence) + " failed: " + storage::describe(appended.error()));
    return false;
  }
  ExecutionJob job;
  job.height = c.sequence;
  job.id = c.id;
  job.indexed = unit != units_.end() && unit->second.payload_ok && unit->second.payload_bytes == c.payload.size();
  job.payload = std::move(c.payload);
  if (unit != units_.end()) unit->second.committed = true;  // in flight for the batches until executed
  if (job.indexed) {
    // The ids stay: the unit is in flight for the batches until executed.
    UnitInfo& info = unit->second;
    job.ranges = std::move(info.ranges);
    job.ids = info.ids;
    job.raw = std::move(info.raw_entries);
  }
  // Gate execution.known_senders: a transaction this pool admitted has its
  // sender's account id (the hash of its public key) already; the others are
  // hashed once by the pipeline, for both the ledger and the pool.
  job.known_senders = gate_enabled(Gate::execution_known_senders);
  if (job.known_senders && job.indexed) {
    job.senders.reserve(job.ids.size());
    for (const auto& id : job.ids) job.senders.push_back(mempool_->known_sender(id));
  }
  // Bounded: wait for (and write) results before submitting past the bound.
  while (execution_->in_flight() >= limits::node_execution_queue_max) {
    execution_->wait_done();
    if (!drain_executed(/*sync=*/false)) return false;
  }
  // Gate node.execution_inline_small: a small block (the light-load case) may
  // execute inside this step, its clients answered before the step's synced write.
  const bool small = job.indexed && job.ids.size() + job.raw.size() <= limits::node_execution_inline_ops_max;
  execution_->submit(std::move(job), small && gate_enabled(Gate::node_execution_inline_small));
  return true;
}

bool Node::Impl::drain_executed(bool sync) {
  std::vector<ExecutedBlock> done;
  execution_->take(done);
  if (!done.empty()) {
    perf::StageTimer timer(stages_, perf::Stage::execution);
    for (auto& block : done) {
      if (!write_executed(block)) return false;
    }
  }
  if (!sync || !execution_unsynced_) return true;
  if (!done.empty()) deliver_early_receipts(done.front().height, done.back().height);
  // With gate node.early_receipts the clients have their answers; the writes ride
  // the next step's synced write (a view makes one every few milliseconds under
  // load, and idle clusters make heartbeat blocks), or this flush once
  // node_execution_sync_delay_ms passed: a synced write of its own per commit
  // would double the fsyncs of a disk the views share. Without the gate the
  // receipts wait for this write.
  if (gate_enabled(Gate::node_early_receipts) && receipts_due_.empty() && raw_due_.empty() &&
      Clock::now() - execution_unsynced_since_ < std::chrono::milliseconds(limits::node_execution_sync_delay_ms)) {
    return true;
  }
  const auto sync_start = Clock::now();
  {
    perf::StageTimer timer(stages_, perf::Stage::persistence);
    if (auto s = store_->flush(); !s) {
      stop_on_failure(std::string("store flush failed: ") + storage::describe(s.error()));
      return false;
    }
  }
  metrics_.storage_sync->observe(static_cast<std::uint64_t>((Clock::now() - sync_start).count()));
  execution_unsynced_ = false;
  deliver_receipts();
  return true;
}

bool Node::Impl::write_executed(ExecutedBlock& block) {
  metrics_.observe_block_executed(block.transactions.size() + block.raw.size(),
                                  static_cast<std::uint64_t>(block.execution_time.count()));
  std::vector<storage::StateWrite> writes;
  writes.reserve(block.result.state_writes.size());
  for (const auto& w : block.result.state_writes) writes.push_back({w.key, w.value});
  auto applied = store_->apply_execution(block.height, execution::encode_receipts(block.result.receipts), writes,
                                         block.result.state_digest);
  if (!applied) {
    stop_on_failure("apply_execution " + std::to_string(block.height) + " failed: " + storage::describe(applied.error()));
    return false;
  }
  if (!execution_unsynced_) execution_unsynced_since_ = Clock::now();
  execution_unsynced_ = true;
  mempool_->on_committed(block.transactions, block.senders);
  transactions_committed_ += block.transactions.size();
  raw_committed_ += block.raw.size();
  last_commit_unix_ms_ = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  answer_receipts(block.result);
  raw_committed(block.raw, block.height);
  units_.erase(block.id);
  ++units_version_;
  return true;
}

// A committed block is durable on a quorum already (each voter of the QC that
// certified it synced it before voting), and its execution is a function of it,
// so with gate node.early_receipts its clients hear now, not after this node's
// own synced write.
void Node::Impl::deliver_early_receipts(std::uint64_t height_from, std::uint64_t height_to) {
  if (!gate_enabled(Gate::node_early_receipts)) return;
  const std::size_t answered = receipts_due_.size() + raw_due_.size();
  early_receipts_ += answered;
  deliver_receipts();
  if (answered > 0 && test_exit_after_early_receipts_ != 0 && early_receipts_ >= test_exit_after_early_receipts_) {
    // The failpoint: these clients were answered, their blocks' commits or
    // executions are in the store's unsynced batch only. Give the client server
    // time to send the answers, then go down before the synced write, as a crash would.
    spdlog::warn("test failpoint: {} early receipts sent, exiting before the synced write of heights {} to {}",
                 early_receipts_, height_from, height_to);
    spdlog::default_logger()->flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::_Exit(test_exit_status);
  }
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
