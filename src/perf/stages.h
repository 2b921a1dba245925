// Performance framework, part 2: stage profiling along a transaction's path and
// the bottleneck report built from it (DESIGN.md "Performance framework").
//
// A transaction passes through fixed stages (Stage, below). Whoever does the
// work of a stage records its wall time and the CPU time of the thread that did
// it: StageTimer for work done on one thread between two points, or
// StageProfile::record for spans that cross threads or wait (mempool_wait,
// vote_collection) with the CPU time actually spent, often 0.
//
// Each record feeds the registry: `kestrel_stage_seconds{stage}` (histogram of
// wall time) and `kestrel_stage_cpu_seconds_total{stage}` (CPU time). The
// snapshot reads them back, so there is one source of truth.
//
// bottleneck_report() ranks the stages by their share of the summed wall time
// and of the summed CPU time, picks the dominant stage (by CPU share when the
// process is CPU-saturated, else by wall share: see the function) and says which
// gate or config parameter addresses it, with the numbers it used.
//
// Thread-safety: StageProfile::record, snapshot and StageTimer are thread-safe
// and lock-free (relaxed atomics); the free functions are pure.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/assert.h"
#include "common/result.h"
#include "perf/perf.h"

namespace kestrel::perf {

// Stages in path order. Names are stable: they are label values and JSON keys.
enum class Stage : std::uint8_t {
  client_ingress,          // client connection: read, decode, precheck
  signature_verification,  // client and consensus signature checks
  mempool_wait,            // admitted until taken into a proposal (a wait)
  proposal,                // building, signing and sending (or receiving and checking) a proposal
  vote_collection,         // proposal sent until its QC formed (a wait on peers)
  commit,                  // QC formed until the two-chain commit rule fires
  execution,               // executing a committed block against the ledger
  persistence,             // writing and syncing the block, receipts and state
  receipt,                 // answering the waiting clients
  count_,                  // not a stage: the number of stages
};
inline constexpr std::size_t stage_count = static_cast<std::size_t>(Stage::count_);

std::string_view stage_name(Stage stage);
// nullopt for an unknown name.
std::optional<Stage> find_stage(std::string_view name);

// Per-stage figures (cumulative since the profile started). Quantiles are the
// upper bounds of the histogram buckets holding them (within 9.1 % above).
struct StageFigures {
  std::uint64_t count = 0;
  std::uint64_t wall_ns = 0;  // summed wall time
  std::uint64_t cpu_ns = 0;   // summed thread CPU time
  std::uint64_t wall_ns_p50 = 0;
  std::uint64_t wall_ns_p99 = 0;
  friend bool operator==(const StageFigures&, const StageFigures&) = default;
};

struct StageSnapshot {
  std::array<StageFigures, stage_count> stages{};
  StageFigures& operator[](Stage stage) { return stages[static_cast<std::size_t>(stage)]; }
  const StageFigures& operator[](Stage stage) const { return stages[static_cast<std::size_t>(stage)]; }
  friend bool operator==(const StageSnapshot&, const StageSnapshot&) = default;
};

// The whole process over a window: how much CPU it had and used.
struct ProcessFigures {
  double cpu_seconds = 0;   // user + system CPU used in the window
  double wall_seconds = 0;  // the window's length
  std::uint32_t cores = 0;  // CPUs the process may run on
  friend bool operator==(const ProcessFigures&, const ProcessFigures&) = default;
};

// CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID), in nanoseconds.
struct ThreadCpuClock {
  static std::uint64_t now_ns();
};

// Process CPU (getrusage, user + system) in seconds, and the CPUs the process may
// run on (sched_getaffinity; at least 1).
double process_cpu_seconds();
std::uint32_t available_cores();

class StageProfile {
 public:
  // Registers the stage families in `registry` (which must outlive the profile).
  // REQUIRES: the registry has room for 2 x stage_count series (asserted: a
  // full registry at start is a labelling bug elsewhere).
  explicit StageProfile(Registry& registry);
  // With a registry of its own (tools, tests, benchmarks).
  StageProfile();
  StageProfile(const StageProfile&) = delete;
  StageProfile& operator=(const StageProfile&) = delete;

  // Lock-free: three relaxed atomic adds for the histogram, one for the CPU.
  void record(Stage stage, std::uint64_t wall_ns, std::uint64_t cpu_ns) {
    KESTREL_ASSERT(stage < Stage::count_);
    const auto i = static_cast<std::size_t>(stage);
    wall_[i]->observe(wall_ns);
    cpu_[i]->add(cpu_ns);
  }

  StageSnapshot snapshot() const;
  // Process CPU and wall time since this profile was constructed.
  ProcessFigures process_figures() const;
  // What /stages serves: {"stages": [...], "process": {...}} (stages_json).
  std::string json() const;

 private:
  void register_in(Registry& registry);

  std::unique_ptr<Registry> owned_;
  std::array<Histogram*, stage_count> wall_{};
  std::array<Counter*, stage_count> cpu_{};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  double started_cpu_seconds_ = process_cpu_seconds();
};

// Records wall and thread-CPU time from construction to destruction.
class StageTimer {
 public:
  StageTimer(StageProfile& profile, Stage stage)
      : profile_(profile), stage_(stage), wall_start_(std::chrono::steady_clock::now()),
        cpu_start_ns_(ThreadCpuClock::now_ns()) {}
  ~StageTimer();
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  StageProfile& profile_;
  Stage stage_;
  std::chrono::steady_clock::time_point wall_start_;
  std::uint64_t cpu_start_ns_;
};

// --- JSON (/stages) -------------------------------------------------------------------

// {"stages":[{"stage":"client_ingress","count":..,"wall_ns":..,"cpu_ns":..,
//   "wall_ns_p50":..,"wall_ns_p99":..}, ... in Stage order],
//  "process":{"cpu_seconds":..,"wall_seconds":..,"cores":..}}
nlohmann::json to_json(const StageSnapshot& snapshot);
nlohmann::json to_json(const ProcessFigures& process);
std::string stages_json(const StageSnapshot& snapshot, const ProcessFigures& process);

enum class StageJsonError : std::uint8_t {
  not_json,       // does not parse, or is larger than limits::stages_json_bytes_max
  bad_shape,      // a field is missing or has the wrong type
  unknown_stage,  // a stage name this build does not know
  duplicate_stage,
};
const char* describe(StageJsonError error);

struct StagesDocument {
  StageSnapshot snapshot;
  ProcessFigures process;
};
// Parses what stages_json writes. Stages absent from the document stay zero
// (an older node); unknown ones are an error.
Result<StagesDocument, StageJsonError> parse_stages_json(std::string_view text);

// --- Bottleneck report ----------------------------------------------------------------

// What to try when a stage dominates: gates (names from common/gates.h) and node
// config keys (docs/configuration.md), and a sentence for each case.
struct StageAdvice {
  Stage stage;
  std::vector<std::string_view> gates;        // gate names, e.g. "crypto.parallel_verify"
  std::vector<std::string_view> config_keys;  // e.g. "consensus.batch_transactions_max"
  std::string_view when_cpu_bound;            // the stage burns CPU
  std::string_view when_waiting;              // the stage mostly waits
};
// One entry per stage, in Stage order.
const std::vector<StageAdvice>& stage_advice_table();

struct RankedStage {
  Stage stage;
  StageFigures figures;
  double wall_share = 0;     // of the summed wall time of all stages, [0, 1]
  double cpu_share = 0;      // of the summed CPU time of all stages, [0, 1]
  double cpu_per_wall = 0;   // cpu_ns / wall_ns: near 1 busy on a core, near 0 waiting
};

struct BottleneckReport {
  std::vector<RankedStage> by_wall;  // stages with samples, largest wall share first
  std::vector<RankedStage> by_cpu;   // the same stages, largest CPU share first
  std::optional<Stage> dominant;     // nullopt: no samples at all
  bool cpu_saturated = false;        // process CPU utilization >= saturation threshold
  bool dominant_cpu_bound = false;   // the dominant stage's cpu_per_wall >= cpu-bound threshold
  double process_cpu_utilization = 0;  // cpu_seconds / (wall_seconds x cores), [0, 1]-ish
  double stage_cpu_coverage = 0;       // summed stage CPU / process CPU: how much the stages explain
  ProcessFigures process;
  std::string reason;      // why that stage is dominant (which ranking, which share)
  std::string suggestion;  // the advice sentence for the dominant stage
  std::vector<std::string_view> gates;        // levers for the dominant stage
  std::vector<std::string_view> config_keys;

  std::string to_text() const;
  nlohmann::json to_json() const;
};

// Thresholds of the report (documented in docs/metrics.md).
inline constexpr double cpu_saturated_utilization = 0.85;
inline constexpr double cpu_bound_ratio = 0.5;

// Dominant stage: when the process is CPU-saturated, throughput is bounded by CPU
// and the stage with the largest CPU share dominates; otherwise latency is what
// there is to win and the stage with the largest wall share dominates. Ties go
// to the earlier stage in path order (deterministic).
BottleneckReport bottleneck_report(const StageSnapshot& snapshot, const ProcessFigures& process);

}  // namespace kestrel::perf
