#include "perf/tuner.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "common/assert.h"
#include "common/limits.h"

namespace kestrel::perf {

const char* describe(TunerError error) {
  switch (error) {
    case TunerError::bad_batch_bounds:
      return "batch size bounds must satisfy 1 <= min <= initial <= max <= block_transactions_max";
    case TunerError::bad_flush_bounds:
      return "flush delay bounds must satisfy min <= initial <= max <= tuner_flush_delay_us_max";
    case TunerError::bad_target: return "latency target must be in (0, tuner_latency_target_us_max]";
    case TunerError::bad_dead_band: return "dead band must be in (0, 0.5]";
    case TunerError::bad_step: return "a tuner factor or step is outside its range";
    case TunerError::bad_reversal: return "reversal intervals must be in [1, tuner_reversal_intervals_max]";
  }
  return "unknown tuner error";
}

std::string_view move_name(TunerMove move) {
  switch (move) {
    case TunerMove::hold: return "hold";
    case TunerMove::batch_up: return "batch_up";
    case TunerMove::batch_down: return "batch_down";
    case TunerMove::flush_up: return "flush_up";
    case TunerMove::flush_down: return "flush_down";
    case TunerMove::count_: break;
  }
  return "unknown";
}

std::string_view reason_name(TunerReason reason) {
  switch (reason) {
    case TunerReason::idle: return "idle";
    case TunerReason::no_samples: return "no_samples";
    case TunerReason::backlog: return "backlog";
    case TunerReason::backlog_draining: return "backlog_draining";
    case TunerReason::over_target: return "over_target";
    case TunerReason::under_target: return "under_target";
    case TunerReason::oversized_batch: return "oversized_batch";
    case TunerReason::in_band: return "in_band";
    case TunerReason::closing_on_size: return "closing_on_size";
    case TunerReason::at_bound: return "at_bound";
    case TunerReason::reversal_pending: return "reversal_pending";
    case TunerReason::count_: break;
  }
  return "unknown";
}

namespace {

bool in_range(double v, double low, double high) { return std::isfinite(v) && v >= low && v <= high; }

bool is_batch_move(TunerMove move) { return move == TunerMove::batch_up || move == TunerMove::batch_down; }

}  // namespace

Result<Tuner, TunerError> Tuner::create(const TunerConfig& c) {
  if (c.batch_transactions_min < 1 || c.batch_transactions_min > c.batch_transactions_initial ||
      c.batch_transactions_initial > c.batch_transactions_max ||
      c.batch_transactions_max > limits::block_transactions_max) {
    return Err(TunerError::bad_batch_bounds);
  }
  if (c.flush_delay_us_min > c.flush_delay_us_initial || c.flush_delay_us_initial > c.flush_delay_us_max ||
      c.flush_delay_us_max > limits::tuner_flush_delay_us_max) {
    return Err(TunerError::bad_flush_bounds);
  }
  if (c.latency_target_us == 0 || c.latency_target_us > limits::tuner_latency_target_us_max) {
    return Err(TunerError::bad_target);
  }
  if (!std::isfinite(c.dead_band) || c.dead_band <= 0 || c.dead_band > 0.5) return Err(TunerError::bad_dead_band);
  if (!in_range(c.batch_increase_factor, 1, 2) || c.batch_increase_factor == 1 ||
      !in_range(c.batch_decrease_factor, 0.5, 1) || c.batch_decrease_factor == 1 ||
      !in_range(c.flush_delay_decrease_factor, 0.25, 1) || c.flush_delay_decrease_factor == 1 ||
      c.flush_delay_step_us < 1 || c.flush_delay_step_us > std::max<std::uint64_t>(1, c.flush_delay_us_max)) {
    return Err(TunerError::bad_step);
  }
  if (c.reversal_intervals < 1 || c.reversal_intervals > limits::tuner_reversal_intervals_max) {
    return Err(TunerError::bad_reversal);
  }
  return Tuner(c);
}

Tuner::Tuner(const TunerConfig& config)
    : config_(config), batch_(config.batch_transactions_initial), flush_us_(config.flush_delay_us_initial) {}

Tuner::Wanted Tuner::wanted_move(const TunerInput& in) const {
  // Comparisons in double: inputs may be anything up to 2^64 (they come from
  // counters), and a product of two of them must not wrap.
  const auto f = [](std::uint64_t v) { return static_cast<double>(v); };
  const double batch = f(batch_);
  if (in.latency_samples == 0) {
    // No commit: either nothing to do, or a stall (a view change, a slow peer)
    // whose cause is not the batch parameters. Moving now would act on noise.
    return {TunerMove::hold, (in.queued_transactions > 0 || in.arrived_transactions > 0) ? TunerReason::no_samples
                                                                                        : TunerReason::idle};
  }
  // Backlog: a full batch (or more) still waits after the interval, so blocks are
  // produced more slowly than transactions arrive. A bigger cap amortizes the
  // per-block overhead (signatures, a QC, a round trip) over more transactions.
  if (f(in.queued_transactions) >= batch) {
    // Already draining (the queue shrank by 1/8, or blocks took 10 % more than
    // arrived): the last increase is working; growing further would overshoot
    // once the backlog is gone.
    const bool shrinking = previous_queued_ > 0 && f(in.queued_transactions) * 8 <= f(previous_queued_) * 7;
    const bool outpacing = f(in.batched_transactions) > f(in.arrived_transactions) * 1.1;
    if (shrinking || outpacing) return {TunerMove::hold, TunerReason::backlog_draining};
    return {TunerMove::batch_up, TunerReason::backlog};
  }
  const double latency = f(in.latency_us_p99);
  const double target = f(config_.latency_target_us);
  const double band = config_.dead_band * target;
  // No backlog, so latency above the band is waiting for blocks to fill: wait less.
  if (latency > target + band) return {TunerMove::flush_down, TunerReason::over_target};
  // Blocks used under an eighth of the cap: the cap is not what closes them,
  // and a cap far above need only lets a burst build oversized blocks. It
  // shrinks to no less than 4x the mean fill, so blocks still have room to
  // grow 4x (a longer flush delay, more load) before the cap binds again.
  // A cap already at its configured minimum cannot shrink: the flush-delay
  // rules below decide instead (otherwise a minimum set high, as the node's
  // default is, would hold the delay still at light load). (4x fill is never
  // the blocker: a cap above 8x fill is above 4x fill.)
  if (in.blocks > 0 && f(in.batched_transactions) * 8 < f(in.blocks) * batch) {
    const double fill = std::ceil(f(in.batched_transactions) / f(in.blocks));
    if (std::max(f(config_.batch_transactions_min), 4 * fill) < batch) {
      return {TunerMove::batch_down, TunerReason::oversized_batch, 4 * fill};
    }
  }
  if (latency < target - band) {
    // Headroom: wait longer for fuller blocks (fewer blocks, fewer certificates
    // per transaction), but only while blocks close on the delay; when they
    // close on size (90 % full or more) a longer delay changes nothing.
    if (in.blocks > 0 && f(in.batched_transactions) * 10 >= f(in.blocks) * batch * 9) {
      return {TunerMove::hold, TunerReason::closing_on_size};
    }
    return {TunerMove::flush_up, TunerReason::under_target};
  }
  return {TunerMove::hold, TunerReason::in_band};
}

bool Tuner::apply(TunerMove move, double batch_floor) {
  switch (move) {
    case TunerMove::batch_up: {
      const double grown = std::ceil(static_cast<double>(batch_) * config_.batch_increase_factor);
      const double next = std::min(static_cast<double>(config_.batch_transactions_max),
                                   std::max(static_cast<double>(batch_) + 1, grown));
      const auto value = static_cast<std::uint32_t>(next);
      if (value <= batch_) return false;
      batch_ = value;
      return true;
    }
    case TunerMove::batch_down: {
      const double next = std::max({static_cast<double>(config_.batch_transactions_min), batch_floor,
                                    std::floor(static_cast<double>(batch_) * config_.batch_decrease_factor)});
      const auto value = static_cast<std::uint32_t>(next);
      if (value >= batch_) return false;
      batch_ = value;
      return true;
    }
    case TunerMove::flush_up: {
      // flush_us_ <= tuner_flush_delay_us_max (1e6) and the step is bounded the
      // same way, so the sum cannot overflow.
      const std::uint64_t value = std::min(config_.flush_delay_us_max, flush_us_ + config_.flush_delay_step_us);
      if (value <= flush_us_) return false;
      flush_us_ = value;
      return true;
    }
    case TunerMove::flush_down: {
      const double shrunk = std::floor(static_cast<double>(flush_us_) * config_.flush_delay_decrease_factor);
      const std::uint64_t value = std::max(config_.flush_delay_us_min, static_cast<std::uint64_t>(shrunk));
      if (value >= flush_us_) return false;
      flush_us_ = value;
      return true;
    }
    case TunerMove::hold:
    case TunerMove::count_: break;
  }
  KESTREL_ASSERT(false && "apply() takes a move that changes a parameter");
  return false;
}

TunerDecision Tuner::step(const TunerInput& input) {
  TunerDecision d;
  d.previous_batch_transactions = batch_;
  d.previous_flush_delay_us = flush_us_;
  const Wanted wanted = wanted_move(input);
  TunerMove move = wanted.move;
  d.reason = wanted.reason;
  previous_queued_ = input.queued_transactions;

  // Fast attack, slow release: a protective move (batch up on backlog, flush
  // delay down above the band) happens at once; a relaxing move that reverses
  // the parameter's last move must be asked for reversal_intervals in a row.
  const bool relaxing = move == TunerMove::batch_down || move == TunerMove::flush_up;
  const TunerMove last = is_batch_move(move) ? last_batch_move_ : last_flush_move_;
  if (relaxing && last != TunerMove::hold && last != move) {
    if (pending_reversal_ == move) {
      ++pending_count_;
    } else {
      pending_reversal_ = move;
      pending_count_ = 1;
    }
    if (pending_count_ < config_.reversal_intervals) {
      d.reason = TunerReason::reversal_pending;
      move = TunerMove::hold;
    }
  }
  if (move == TunerMove::hold && d.reason != TunerReason::reversal_pending) {
    // A reversal must be asked for in consecutive intervals.
    pending_reversal_ = TunerMove::hold;
    pending_count_ = 0;
  }
  if (move != TunerMove::hold) {
    pending_reversal_ = TunerMove::hold;
    pending_count_ = 0;
    if (apply(move, wanted.batch_floor)) {
      (is_batch_move(move) ? last_batch_move_ : last_flush_move_) = move;
    } else {
      d.reason = TunerReason::at_bound;
      move = TunerMove::hold;
    }
  }

  d.move = move;
  d.batch_transactions = batch_;
  d.flush_delay_us = flush_us_;
  KESTREL_ASSERT(batch_ >= config_.batch_transactions_min && batch_ <= config_.batch_transactions_max);
  KESTREL_ASSERT(flush_us_ >= config_.flush_delay_us_min && flush_us_ <= config_.flush_delay_us_max);
  KESTREL_ASSERT((move == TunerMove::hold) ==
                 (batch_ == d.previous_batch_transactions && flush_us_ == d.previous_flush_delay_us));
  return d;
}

FlushHoldDecision flush_hold(const FlushHoldInput& in) {
  if (!in.tuning || in.flush_delay_us == 0 || in.batch_transactions == 0 || in.batch_transactions >= in.batch_target) {
    return {};
  }
  if (!in.leads_current_view) return {true, in.flush_delay_us};
  if (in.view_late || in.waited_us >= in.flush_delay_us) return {};
  const FlushHoldDecision d{true, in.flush_delay_us - in.waited_us};
  KESTREL_ASSERT(d.release_in_us > 0 && d.release_in_us <= in.flush_delay_us);
  return d;
}

Result<TunerMetrics, MetricsError> TunerMetrics::register_in(Registry& registry) {
  TunerMetrics m;
  auto batch = registry.gauge("kestrel_tuner_batch_size", "Proposal batch size chosen by the adaptive tuner (transactions)");
  if (!batch) return Err(batch.error());
  auto flush = registry.gauge("kestrel_tuner_flush_delay_seconds",
                              "Flush delay chosen by the adaptive tuner", {}, 1e-6);
  if (!flush) return Err(flush.error());
  m.batch_ = *batch;
  m.flush_ = *flush;
  for (std::size_t i = 0; i < static_cast<std::size_t>(TunerMove::count_); ++i) {
    auto counter = registry.counter("kestrel_tuner_decisions_total", "Adaptive tuner decisions by move",
                                    {{"direction", std::string(move_name(static_cast<TunerMove>(i)))}});
    if (!counter) return Err(counter.error());
    m.decisions_[i] = *counter;
  }
  return m;
}

void TunerMetrics::record(const TunerDecision& decision) {
  KESTREL_ASSERT(batch_ != nullptr && flush_ != nullptr);
  batch_->set(static_cast<std::int64_t>(decision.batch_transactions));
  flush_->set(static_cast<std::int64_t>(decision.flush_delay_us));
  const auto i = static_cast<std::size_t>(decision.move);
  KESTREL_ASSERT(i < static_cast<std::size_t>(TunerMove::count_));
  decisions_[i]->add();
}

}  // namespace kestrel::perf
