// The payload builder (node_impl.h): keeps the core's next batch current while
// this node leads the current round or the next. It indexes every unit the core
// stores (its transactions decoded once, here or by the proposal check) so that a
// batch never repeats what the chain it extends carries, and runs the flush hold
// and the adaptive tuner (docs/performance.md "In the node").
#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/assert.h"
#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

void Node::Impl::fill_unit(UnitInfo& info, const Bytes& bytes, const Payload& payload) {
  const bool have_ids = info.ids.size() == payload.transactions.size();
  if (!have_ids) info.ids.clear();
  info.ranges.reserve(payload.transactions.size());
  for (ByteSpan tx : payload.transactions) {
    info.ranges.emplace_back(static_cast<std::uint32_t>(tx.data() - bytes.data()), static_cast<std::uint32_t>(tx.size()));
    if (!have_ids) info.ids.push_back(execution::transaction_id(tx));
  }
  KESTREL_DEBUG_ASSERT(std::equal(info.ids.begin(), info.ids.end(), payload.transactions.begin(),
                                  [](const auto& id, ByteSpan tx) { return id == execution::transaction_id(tx); }));
  info.payload_bytes = bytes.size();
  for (const auto& r : payload.raw) info.raw.push_back(key_of(r));
  info.raw_entries = payload.raw;
}

void Node::Impl::index_units(const std::vector<Hash32>& stored) {
  for (const Hash32& id : stored) {
    if (units_.count(id)) continue;
    if (units_.size() >= limits::node_in_flight_blocks_max) {
      ++units_not_indexed_;  // its transactions may be proposed again: a duplicate gets a bad-nonce receipt
      continue;
    }
    const Bytes* bytes = protocol_->core().payload_of(id);
    if (!bytes) continue;
    UnitInfo info;
    if (checked_ && checked_->first == id) {
      info = std::move(checked_->second);  // decoded and hashed once, by the proposal check
    } else if (auto payload = decode_payload(*bytes)) {
      fill_unit(info, *bytes, *payload);
    } else {
      info.payload_ok = false;
      info.payload_bytes = bytes->size();
    }
    info.stored_at = Clock::now();
    if (!admitted_at_.empty()) {
      for (const auto& tx : info.ids) {
        if (auto a = admitted_at_.find(tx); a != admitted_at_.end()) {
          stages_.record(perf::Stage::mempool_wait, static_cast<std::uint64_t>((info.stored_at - a->second).count()), 0);
        }
      }
    }
    for (const RawKey& k : info.raw) {
      if (auto it = raw_pool_.find(k); it != raw_pool_.end()) it->second = true;
    }
    ++tuner_window_.blocks;
    tuner_window_.batched_transactions += info.ids.size();
    tuner_window_.batched_raw += info.raw.size();
    units_.emplace(id, std::move(info));
    ++units_version_;
  }
  checked_.reset();
}

// After commits: units the core no longer holds and that did not commit (forks a
// commit made dead) leave the index, and their raw entries go back to the pool.
// Committed units stay until executed (write_executed): their transactions are
// still in the pool until then and must not be proposed again.
void Node::Impl::forget_units(const std::vector<consensus::Commit>& commits) {
  if (commits.empty()) return;
  for (auto it = units_.begin(); it != units_.end();) {
    if (it->second.committed || protocol_->core().payload_of(it->first) != nullptr) {
      ++it;
      continue;
    }
    for (const RawKey& k : it->second.raw) {
      if (auto p = raw_pool_.find(k); p != raw_pool_.end()) p->second = false;
    }
    it = units_.erase(it);
  }
  ++units_version_;
}

// In flight: the transactions of the chain our proposal will extend (the core
// names it) and of committed blocks not executed yet. Not forks: their transactions will not commit, so a batch that
// skipped them would send later nonces of the same sender ahead of a gap.
std::vector<execution::TransactionId> Node::Impl::in_flight_ids() {
  std::vector<Hash32> chain;
  protocol_->core().proposal_ancestry(chain);
  std::vector<execution::TransactionId> ids;
  for (const Hash32& id : chain) {
    auto it = units_.find(id);
    if (it != units_.end() && !it->second.committed) ids.insert(ids.end(), it->second.ids.begin(), it->second.ids.end());
  }
  // Committed and not yet executed (gate node.execution_thread): still in the pool.
  for (const auto& [id, info] : units_) {
    if (info.committed) ids.insert(ids.end(), info.ids.begin(), info.ids.end());
  }
  return ids;
}

// Building a batch copies up to a block of transactions, so it happens only when
// the answer can change: the round changed, a proposal or commit changed what is
// in flight, or (the core holding an empty payload) the pool got something. Work
// that reached an empty pool within node_prepare_interval_min_ms of the last
// batch waits for the interval; the loop wakes for it then instead of at its next
// event (at light load that could be the idle wake-up).
std::optional<Clock::time_point> Node::Impl::payload_retry_at() const {
  if (!pool_grew_while_empty() || !protocol_->core().leads_soon()) return std::nullopt;
  return last_prepare_ + std::chrono::milliseconds(limits::node_prepare_interval_min_ms);
}

bool Node::Impl::pool_grew_while_empty() const { return !prepared_nonempty_ && pool_version_ != prepared_pool_version_; }

void Node::Impl::maybe_prepare_payload(bool force) {
  const consensus::CoreStatus core = protocol_->core().status();
  const auto now = Clock::now();
  if (core.round != entered_round_) {  // the flush hold counts from here
    entered_round_ = core.round;
    round_entered_at_ = now;
  }
  if (!protocol_->core().leads_soon()) return;
  const bool round_changed = core.round != prepared_round_;
  const bool units_changed = units_version_ != prepared_units_version_;
  const bool pool_due =
      pool_grew_while_empty() && now - last_prepare_ >= std::chrono::milliseconds(limits::node_prepare_interval_min_ms);
  if (!force && !round_changed && !units_changed && !pool_due) return;
  const std::vector<execution::TransactionId> in_flight = in_flight_ids();
  std::size_t bytes_max = config_.batch_bytes_max;
  const std::vector<RawEntry> raw = raw_batch(bytes_max);
  if (!raw.empty()) bytes_max -= std::min(bytes_max, raw.size() * limits::payload_raw_entry_bytes + limits::payload_fixed_bytes);
  mempool::Batch batch = mempool_->next_batch(
      batch_limit(),
      bytes_max > limits::payload_transactions_slack_bytes ? bytes_max - limits::payload_transactions_slack_bytes : 0,
      in_flight);
  prepared_round_ = core.round;
  prepared_pool_version_ = pool_version_;
  prepared_units_version_ = units_version_;
  last_prepare_ = now;
  const bool nonempty = !batch.transactions.empty() || !raw.empty();
  // Flush hold (gate perf.adaptive_tuning): a batch below the tuner's size waits
  // for more, up to the flush delay from the start of our view; the core is told
  // to wait for it (PayloadReady::hold) instead of proposing an empty block.
  perf::FlushHoldInput hold_input;
  hold_input.tuning = tuning();
  if (hold_input.tuning) {
    hold_input.leads_current_view = core.leader == self_ && proposed_round_ < core.round;
    hold_input.view_late = !core.responsive;
    hold_input.batch_transactions =
        batch.transactions.size() + (raw.size() + limits::node_raw_per_transaction_slot - 1) / limits::node_raw_per_transaction_slot;
    hold_input.batch_target = tuner_->batch_transactions();
    hold_input.flush_delay_us = tuner_->flush_delay_us();
    hold_input.waited_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - round_entered_at_).count());
  }
  const perf::FlushHoldDecision hold = perf::flush_hold(hold_input);
  if (hold.hold) {
    hold_deadline_.reset();
    if (hold_input.leads_current_view) hold_deadline_ = now + std::chrono::microseconds(hold.release_in_us);
    if (prepared_held_) return;  // the core already waits for us
    prepared_held_ = true;
    prepared_nonempty_ = false;
    step(consensus::PayloadReady{Bytes{}, true});
    return;
  }
  hold_deadline_.reset();
  if (!nonempty && !prepared_nonempty_ && !prepared_held_) return;  // the core's pending payload is already empty
  prepared_nonempty_ = nonempty;
  prepared_held_ = false;
  step(consensus::PayloadReady{encode_payload(batch.transactions, raw), false});
}

void Node::Impl::note_latency(Clock::duration latency) {
  auto& w = tuner_window_;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  const auto sample = static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, 0xFFFFFFFF));
  ++w.latency_seen;
  if (w.latency_us.size() < limits::node_tuner_latency_samples_max) {
    w.latency_us.push_back(sample);
    return;
  }
  // Reservoir sampling (Vitter's algorithm R): every observation of the interval
  // is kept with the same probability.
  const std::uint64_t slot = reservoir_prng_.uniform(w.latency_seen);
  if (slot < w.latency_us.size()) w.latency_us[slot] = sample;
}

// One control interval: what the node observed goes in, the tuner's batch size
// and flush delay come out (applied by maybe_prepare_payload from now on).
// Raw commands count as 1/8 transaction each, the ratio of their batch cap.
void Node::Impl::tuner_step() {
  KESTREL_ASSERT(tuner_.has_value());
  auto& w = tuner_window_;
  const auto eighths = [](std::uint64_t raw) {
    return (raw + limits::node_raw_per_transaction_slot - 1) / limits::node_raw_per_transaction_slot;
  };
  perf::TunerInput in;
  in.latency_samples = w.latency_seen;
  if (!w.latency_us.empty()) {
    const std::size_t k = (w.latency_us.size() * 99 + 99) / 100 - 1;  // ceil(0.99 n) - 1
    KESTREL_ASSERT(k < w.latency_us.size());
    std::nth_element(w.latency_us.begin(), w.latency_us.begin() + static_cast<std::ptrdiff_t>(k), w.latency_us.end());
    in.latency_us_p99 = w.latency_us[k];
  }
  in.arrived_transactions = w.arrived_transactions + eighths(w.arrived_raw);
  // Waiting: in the pools and not in an uncommitted block (those are on their way).
  std::uint64_t ids_in_flight = 0, raw_in_flight = 0;
  for (const auto& [id, info] : units_) {
    ids_in_flight += info.ids.size();
    raw_in_flight += info.raw.size();
  }
  const auto minus = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  in.queued_transactions = minus(mempool_->size(), ids_in_flight) + eighths(minus(raw_pool_.size(), raw_in_flight));
  in.blocks = w.blocks;
  in.batched_transactions = w.batched_transactions + eighths(w.batched_raw);
  const perf::TunerDecision d = tuner_->step(in);
  metrics_.tuner.record(d);
  if (d.move != perf::TunerMove::hold) {
    spdlog::info("tuner: {} ({}): batch {} -> {}, flush delay {} -> {} us; p99 {} us of {} commits, arrived {}, "
                 "queued {}, {} blocks with {}",
                 perf::move_name(d.move), perf::reason_name(d.reason), d.previous_batch_transactions,
                 d.batch_transactions, d.previous_flush_delay_us, d.flush_delay_us, in.latency_us_p99,
                 in.latency_samples, in.arrived_transactions, in.queued_transactions, in.blocks,
                 in.batched_transactions);
  } else {
    spdlog::debug("tuner: hold ({}); p99 {} us of {} commits, arrived {}, queued {}, {} blocks with {}",
                  perf::reason_name(d.reason), in.latency_us_p99, in.latency_samples, in.arrived_transactions,
                  in.queued_transactions, in.blocks, in.batched_transactions);
  }
  w.latency_us.clear();
  w.latency_seen = 0;
  w.arrived_transactions = w.arrived_raw = 0;
  w.blocks = w.batched_transactions = w.batched_raw = 0;
  // A new size or delay may release a batch held under the old one.
  if (prepared_held_ && d.move != perf::TunerMove::hold) maybe_prepare_payload(true);
}

}  // namespace kestrel::node
