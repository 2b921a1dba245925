// Performance framework, part 2: the adaptive tuner (DESIGN.md "Performance
// framework", gate perf.adaptive_tuning, control law in docs/performance.md).
//
// A controller for two proposal parameters: the batch size (transactions per
// block, a cap) and the flush delay (how long a leader waits for a batch to fill
// before proposing). Once per control interval the driver (the node, when the
// gate is on) passes what it observed — the p99 latency of the interval, how many
// transactions arrived, how many wait, how full the blocks were — and step()
// returns the new parameters with a decision record saying what moved and why.
//
// The law, in one paragraph (the reasoning is in docs/performance.md): a backlog
// of at least one full batch means capacity is short, so the batch size grows
// multiplicatively (unless the backlog is already draining); otherwise the flush
// delay is the latency knob: multiplicative decrease above the dead band around
// the target, additive increase below it (only while blocks close on the delay,
// where waiting longer buys fuller blocks); a batch cap eight times larger than
// the blocks use shrinks (to no less than four times). One parameter moves per
// interval, every move is bounded, and a relaxing move (batch down, flush delay
// up) that reverses the parameter's previous move must be asked for
// `reversal_intervals` times in a row (fast attack, slow release), so the tuner
// settles instead of oscillating.
//
// Pure and deterministic: no clock, no threads, no I/O, no global state (the
// driver checks the gate). Thread-safety: none; one owner calls step().
#pragma once

#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "perf/perf.h"

namespace kestrel::perf {

enum class TunerError : std::uint8_t {
  bad_batch_bounds,   // not 1 <= min <= initial <= max <= limits::block_transactions_max
  bad_flush_bounds,   // not min <= initial <= max <= limits::tuner_flush_delay_us_max
  bad_target,         // not 0 < target <= limits::tuner_latency_target_us_max
  bad_dead_band,      // not 0 < dead_band <= 0.5 (or not finite)
  bad_step,           // a factor or step outside its range (see TunerConfig)
  bad_reversal,       // not 1 <= reversal_intervals <= limits::tuner_reversal_intervals_max
};
const char* describe(TunerError error);

struct TunerConfig {
  // The p99 latency the tuner holds (submit-to-commit, or the proposal stage:
  // whichever the driver measures; the tuner only compares).
  std::uint64_t latency_target_us = 25'000;
  // Hold still while |p99 - target| <= dead_band * target. REQUIRES: (0, 0.5].
  double dead_band = 0.10;

  std::uint32_t batch_transactions_min = 16;
  std::uint32_t batch_transactions_max = 4096;
  std::uint32_t batch_transactions_initial = 256;
  std::uint64_t flush_delay_us_min = 0;
  std::uint64_t flush_delay_us_max = 50'000;
  std::uint64_t flush_delay_us_initial = 2'000;

  // Batch growth on backlog: x factor per interval. REQUIRES: (1, 2].
  double batch_increase_factor = 1.5;
  // Batch shrink when oversized: x factor per interval. REQUIRES: [0.5, 1).
  double batch_decrease_factor = 0.75;
  // Flush delay: additive increase (REQUIRES: 1 <= step <= flush_delay_us_max)
  // and multiplicative decrease (REQUIRES: [0.25, 1)). The additive step should
  // be below the dead band's width (2 * dead_band * target) so that an increase
  // cannot jump over the band; create() does not insist, the doc explains.
  std::uint64_t flush_delay_step_us = 1'000;
  double flush_delay_decrease_factor = 0.5;

  // A relaxing move (batch down, flush delay up) that reverses the parameter's
  // last move must be asked for this many intervals in a row; protective moves
  // (batch up on backlog, flush delay down above the band) happen at once.
  // REQUIRES: [1, limits::tuner_reversal_intervals_max]; 1 means no hysteresis.
  std::uint32_t reversal_intervals = 3;
};

// What the driver observed during one control interval.
struct TunerInput {
  std::uint64_t latency_samples = 0;       // transactions committed (latency observations)
  std::uint64_t latency_us_p99 = 0;        // their p99; ignored when latency_samples == 0
  std::uint64_t arrived_transactions = 0;  // admitted to the mempool
  std::uint64_t queued_transactions = 0;   // waiting in the mempool at the end of the interval
  std::uint64_t blocks = 0;                // blocks proposed
  std::uint64_t batched_transactions = 0;  // transactions in those blocks
};

enum class TunerMove : std::uint8_t { hold, batch_up, batch_down, flush_up, flush_down, count_ };
// The label value of kestrel_tuner_decisions_total{direction}.
std::string_view move_name(TunerMove move);

enum class TunerReason : std::uint8_t {
  idle,              // nothing arrived, nothing queued, nothing committed
  no_samples,        // work waits but nothing committed: a stall (view change), not a load signal
  backlog,           // a full batch or more waits after the interval: capacity short, batch up
  backlog_draining,  // a backlog that shrank by 1/8, or blocks took 10 % more than arrived: recovering
  over_target,       // p99 above the dead band, no backlog: flush delay down
  under_target,      // p99 below the dead band, blocks close on the delay: flush delay up
  oversized_batch,   // p99 not above the band, blocks use under 1/8 of the cap: batch down (to >= 4x fill)
  in_band,           // p99 within the dead band
  closing_on_size,   // p99 below the band but blocks close on size: a longer delay changes nothing
  at_bound,          // the wanted move is blocked by a bound
  reversal_pending,  // a relaxing move reverses the last one: asked fewer than reversal_intervals times
  count_,
};
std::string_view reason_name(TunerReason reason);

struct TunerDecision {
  TunerMove move = TunerMove::hold;
  TunerReason reason = TunerReason::idle;
  std::uint32_t batch_transactions = 0;  // after this step
  std::uint64_t flush_delay_us = 0;      // after this step
  std::uint32_t previous_batch_transactions = 0;
  std::uint64_t previous_flush_delay_us = 0;
};

class Tuner {
 public:
  static Result<Tuner, TunerError> create(const TunerConfig& config);

  // One control interval. Always returns parameters within the configured bounds.
  TunerDecision step(const TunerInput& input);

  std::uint32_t batch_transactions() const { return batch_; }
  std::uint64_t flush_delay_us() const { return flush_us_; }
  const TunerConfig& config() const { return config_; }

 private:
  explicit Tuner(const TunerConfig& config);
  struct Wanted {
    TunerMove move;
    TunerReason reason;
    double batch_floor = 0;  // batch_down only: do not shrink below this
  };
  // The move the law asks for this interval, before hysteresis and bounds.
  Wanted wanted_move(const TunerInput& input) const;
  // Applies a move, clamped; false when the bound leaves nothing to change.
  bool apply(TunerMove move, double batch_floor);

  TunerConfig config_;
  std::uint32_t batch_;
  std::uint64_t flush_us_;
  std::uint64_t previous_queued_ = 0;
  // Last applied move per parameter (hold = none yet) and how many intervals
  // in a row a reversal of it has been asked for.
  TunerMove last_batch_move_ = TunerMove::hold;
  TunerMove last_flush_move_ = TunerMove::hold;
  TunerMove pending_reversal_ = TunerMove::hold;
  std::uint32_t pending_count_ = 0;
};

// The leader-side flush hold: how the node applies the flush delay
// (docs/performance.md "Flush hold"). A leader whose batch is below the tuner's
// batch size withholds it from the consensus core (PayloadReady::hold) until
// the batch reaches that size or the flush delay has passed since its view
// became proposable; the driver arms a timer for the deadline and asks again.
// Pure: the driver measures, this decides.
struct FlushHoldInput {
  bool tuning = false;                 // gate perf.adaptive_tuning on and a tuner running
  bool leads_current_view = false;     // false: we lead the next view (the batch is prepared ahead)
  bool view_late = false;              // current view entered without the previous view's QC
  std::uint64_t batch_transactions = 0;  // what the batch would carry now (raw commands / 8)
  std::uint64_t batch_target = 0;        // the tuner's batch size
  std::uint64_t flush_delay_us = 0;      // the tuner's flush delay
  std::uint64_t waited_us = 0;           // since the current view became proposable (ignored ahead)
};

struct FlushHoldDecision {
  bool hold = false;
  // When hold: the batch is released this long from now at the latest (ahead of
  // the view: the whole delay, counted once the view starts).
  std::uint64_t release_in_us = 0;
};

// Release when: the gate is off; the flush delay is 0; the batch is empty (nothing to hold: the core's
// own idle wait applies); it reached the target; the view is late (it already
// cost a timeout, waiting more only adds to that); or the delay has passed.
// Otherwise hold.
FlushHoldDecision flush_hold(const FlushHoldInput& input);

// The tuner's metrics, as the node exports them: kestrel_tuner_batch_size,
// kestrel_tuner_flush_delay_seconds and kestrel_tuner_decisions_total{direction}
// (direction = move_name(): hold, batch_up, batch_down, flush_up, flush_down).
class TunerMetrics {
 public:
  static Result<TunerMetrics, MetricsError> register_in(Registry& registry);
  void record(const TunerDecision& decision);

 private:
  TunerMetrics() = default;
  Gauge* batch_ = nullptr;
  Gauge* flush_ = nullptr;
  Counter* decisions_[static_cast<std::size_t>(TunerMove::count_)] = {};
};

}  // namespace kestrel::perf
