#include "perf/stages.h"

#include <sched.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/limits.h"

namespace kestrel::perf {

namespace {

constexpr std::array<std::string_view, stage_count> stage_names = {
    "client_ingress", "signature_verification", "mempool_wait", "proposal", "vote_collection",
    "commit",         "execution",              "persistence",  "receipt",
};

constexpr double ns_per_second = 1e9;

double seconds(std::uint64_t ns) { return static_cast<double>(ns) / ns_per_second; }

}  // namespace

std::string_view stage_name(Stage stage) {
  KESTREL_ASSERT(stage < Stage::count_);
  return stage_names[static_cast<std::size_t>(stage)];
}

std::optional<Stage> find_stage(std::string_view name) {
  for (std::size_t i = 0; i < stage_count; ++i) {
    if (stage_names[i] == name) return static_cast<Stage>(i);
  }
  return std::nullopt;
}

std::uint64_t ThreadCpuClock::now_ns() {
  timespec ts{};
  // Cannot fail for this clock id on Linux; a zero reading would only make one
  // sample's CPU time wrong, never unsafe.
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

std::uint32_t available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
  const int n = CPU_COUNT(&set);
  return n > 0 ? static_cast<std::uint32_t>(n) : 1;
}

// --- StageProfile ---------------------------------------------------------------------

StageProfile::StageProfile() : owned_(std::make_unique<Registry>()) { register_in(*owned_); }

StageProfile::StageProfile(Registry& registry) { register_in(registry); }

void StageProfile::register_in(Registry& registry) {
  for (std::size_t i = 0; i < stage_count; ++i) {
    const Labels labels{{"stage", std::string(stage_names[i])}};
    auto wall = registry.histogram("kestrel_stage_seconds", "Wall time per transaction-path stage", 1e-9, labels);
    auto cpu = registry.counter("kestrel_stage_cpu_seconds_total", "Thread CPU time spent per transaction-path stage",
                                labels, 1e-9);
    KESTREL_ASSERT(wall.ok() && cpu.ok());
    wall_[i] = *wall;
    cpu_[i] = *cpu;
  }
}

StageSnapshot StageProfile::snapshot() const {
  StageSnapshot out;
  for (std::size_t i = 0; i < stage_count; ++i) {
    StageFigures& f = out.stages[i];
    f.count = wall_[i]->count();
    f.wall_ns = wall_[i]->sum();
    f.cpu_ns = cpu_[i]->value();
    f.wall_ns_p50 = wall_[i]->quantile(0.5);
    f.wall_ns_p99 = wall_[i]->quantile(0.99);
  }
  return out;
}

ProcessFigures StageProfile::process_figures() const {
  ProcessFigures p;
  p.cpu_seconds = std::max(0.0, process_cpu_seconds() - started_cpu_seconds_);
  p.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  p.cores = available_cores();
  return p;
}

std::string StageProfile::json() const { return stages_json(snapshot(), process_figures()); }

StageTimer::~StageTimer() {
  const auto wall = std::chrono::steady_clock::now() - wall_start_;
  const std::uint64_t cpu_end = ThreadCpuClock::now_ns();
  const auto wall_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wall).count();
  profile_.record(stage_, wall_ns > 0 ? static_cast<std::uint64_t>(wall_ns) : 0,
                  cpu_end >= cpu_start_ns_ ? cpu_end - cpu_start_ns_ : 0);
}

// --- JSON -----------------------------------------------------------------------------

nlohmann::json to_json(const StageSnapshot& snapshot) {
  nlohmann::json stages = nlohmann::json::array();
  for (std::size_t i = 0; i < stage_count; ++i) {
    const StageFigures& f = snapshot.stages[i];
    stages.push_back({{"stage", stage_names[i]},
                      {"count", f.count},
                      {"wall_ns", f.wall_ns},
                      {"cpu_ns", f.cpu_ns},
                      {"wall_ns_p50", f.wall_ns_p50},
                      {"wall_ns_p99", f.wall_ns_p99}});
  }
  return stages;
}

nlohmann::json to_json(const ProcessFigures& process) {
  return {{"cpu_seconds", process.cpu_seconds}, {"wall_seconds", process.wall_seconds}, {"cores", process.cores}};
}

std::string stages_json(const StageSnapshot& snapshot, const ProcessFigures& process) {
  return nlohmann::json{{"stages", to_json(snapshot)}, {"process", to_json(process)}}.dump();
}

const char* describe(StageJsonError error) {
  switch (error) {
    case StageJsonError::not_json: return "not JSON, or larger than limits::stages_json_bytes_max";
    case StageJsonError::bad_shape: return "a field is missing or has the wrong type";
    case StageJsonError::unknown_stage: return "unknown stage name";
    case StageJsonError::duplicate_stage: return "a stage appears twice";
  }
  return "unknown stages JSON error";
}

namespace {

bool read_u64(const nlohmann::json& object, const char* key, std::uint64_t& out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned()) return false;
  out = it->get<std::uint64_t>();
  return true;
}

bool read_double(const nlohmann::json& object, const char* key, double& out) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return false;
  out = it->get<double>();
  return out >= 0;  // every figure here is a non-negative amount
}

}  // namespace

Result<StagesDocument, StageJsonError> parse_stages_json(std::string_view text) {
  if (text.size() > limits::stages_json_bytes_max) return Err(StageJsonError::not_json);
  // No exceptions: allow_exceptions = false gives a discarded value on error.
  const nlohmann::json doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return Err(StageJsonError::not_json);
  if (!doc.is_object()) return Err(StageJsonError::bad_shape);
  auto stages = doc.find("stages");
  auto process = doc.find("process");
  if (stages == doc.end() || !stages->is_array() || process == doc.end() || !process->is_object()) {
    return Err(StageJsonError::bad_shape);
  }
  StagesDocument out;
  std::array<bool, stage_count> seen{};
  for (const auto& entry : *stages) {
    if (!entry.is_object()) return Err(StageJsonError::bad_shape);
    auto name = entry.find("stage");
    if (name == entry.end() || !name->is_string()) return Err(StageJsonError::bad_shape);
    const auto stage = find_stage(name->get_ref<const std::string&>());
    if (!stage) return Err(StageJsonError::unknown_stage);
    const auto i = static_cast<std::size_t>(*stage);
    if (seen[i]) return Err(StageJsonError::duplicate_stage);
    seen[i] = true;
    StageFigures& f = out.snapshot.stages[i];
    if (!read_u64(entry, "count", f.count) || !read_u64(entry, "wall_ns", f.wall_ns) ||
        !read_u64(entry, "cpu_ns", f.cpu_ns) || !read_u64(entry, "wall_ns_p50", f.wall_ns_p50) ||
        !read_u64(entry, "wall_ns_p99", f.wall_ns_p99)) {
      return Err(StageJsonError::bad_shape);
    }
  }
  std::uint64_t cores = 0;
  if (!read_double(*process, "cpu_seconds", out.process.cpu_seconds) ||
      !read_double(*process, "wall_seconds", out.process.wall_seconds) || !read_u64(*process, "cores", cores) ||
      cores > UINT32_MAX) {
    return Err(StageJsonError::bad_shape);
  }
  out.process.cores = static_cast<std::uint32_t>(cores);
  return out;
}

// --- Bottleneck report ----------------------------------------------------------------

const std::vector<StageAdvice>& stage_advice_table() {
  static const std::vector<StageAdvice> table = {
      {Stage::client_ingress,
       {"common.sha256_reuse_context"},
       {"client.in_flight_max"},
       "decoding and prechecking client transactions dominates: keep common.sha256_reuse_context on "
       "(transaction ids) and spread clients over more validators",
       "client transactions wait to be read: raise client.in_flight_max if clients hit the in-flight "
       "bound, else look at the client link"},
      {Stage::signature_verification,
       {"crypto.parallel_verify", "crypto.verify_cache", "mempool.id_keyed_verify_cache", "crypto.avx2"},
       {"cluster.scheme"},
       "signature checks dominate: turn on crypto.parallel_verify (batches over all cores), "
       "crypto.verify_cache (a transaction checked at ingress is not checked again in the proposal) and "
       "crypto.avx2 (ML-DSA); cluster.scheme = ed25519 is far cheaper where post-quantum signatures "
       "are not required",
       "signature checks wait for verifier threads: with crypto.parallel_verify on, batches queue behind "
       "each other; crypto.verify_cache removes repeat checks"},
      {Stage::mempool_wait,
       {},
       {"consensus.propose_wait_ms", "consensus.batch_transactions_max", "consensus.batch_bytes_max"},
       "taking batches from the mempool burns CPU: lower consensus.batch_transactions_max so each "
       "proposal selects fewer transactions",
       "transactions wait in the mempool for a proposal: with proposals not full, lower "
       "consensus.propose_wait_ms; with proposals full, raise consensus.batch_transactions_max and "
       "consensus.batch_bytes_max (the adaptive tuner, perf.adaptive_tuning, sets batch size and flush "
       "delay from a latency target)"},
      {Stage::proposal,
       {"net.adaptive_batching", "net.buffer_pool", "net.compression", "crypto.openssl_aead", "consensus.block_id_memo"},
       {"consensus.batch_transactions_max", "consensus.batch_bytes_max"},
       "building and checking proposals dominates: keep consensus.block_id_memo on (a block's payload "
       "is hashed once); smaller proposals (consensus.batch_transactions_max, "
       "consensus.batch_bytes_max) spread the work; net.buffer_pool avoids per-frame allocation; "
       "net.compression costs CPU, turn it off if it is on",
       "proposals are slow on the wire: keep net.adaptive_batching on, try net.compression for "
       "compressible payloads, or lower consensus.batch_bytes_max"},
      {Stage::vote_collection,
       {"net.adaptive_batching", "crypto.parallel_verify", "crypto.verify_cache"},
       {"consensus.batch_transactions_max"},
       "collecting votes burns CPU on vote signatures: crypto.parallel_verify and crypto.verify_cache "
       "(a vote checked alone is not checked again inside the QC)",
       "the leader waits for n - f votes (a network round trip plus the slowest quorum member's "
       "checks): keep net.adaptive_batching on, crypto.parallel_verify on so peers vote sooner, and "
       "larger consensus.batch_transactions_max to amortize each round"},
      {Stage::commit,
       {"net.adaptive_batching", "net.urgent_consensus", "consensus.early_proposal"},
       {"consensus.propose_wait_ms", "consensus.view_timeout_ms"},
       "the commit walk burns CPU: many small blocks per commit; raise consensus.propose_wait_ms so "
       "blocks carry more transactions",
       "certified blocks wait for the next view's QC (two-chain rule): lower consensus.propose_wait_ms "
       "so the next proposal leaves sooner, keep net.urgent_consensus and consensus.early_proposal on "
       "so each view's messages skip the batching hold and the leader's synced write; if view changes "
       "are frequent, consensus.view_timeout_ms is too short for the network"},
      {Stage::execution,
       {},
       {"consensus.batch_transactions_max"},
       "executing committed blocks dominates (the ledger runs one block at a time): lower "
       "consensus.batch_transactions_max to bound per-block latency; parallel execution "
       "(execution.parallel) is the lever once built",
       "execution waits: usually on the store (see persistence)"},
      {Stage::persistence,
       {"storage.write_batching", "storage.block_cache", "storage.blob_files", "storage.direct_io_flush"},
       {"storage.keep_committed_blocks"},
       "encoding and writing blocks burns CPU: keep storage.blob_files on (compactions move references, "
       "not megabyte blocks) and storage.block_cache on (reads served from memory); a smaller "
       "storage.keep_committed_blocks prunes sooner and keeps compaction cheap",
       "synced writes dominate: turn on storage.write_batching (one fsync per batch instead of one per "
       "write) or put data_dir on a faster disk"},
      {Stage::receipt,
       {},
       {"client.in_flight_max"},
       "encoding receipts dominates: fewer, larger client batches",
       "receipts wait for slow clients: client.in_flight_max bounds how many a node holds"},
  };
  return table;
}

BottleneckReport bottleneck_report(const StageSnapshot& snapshot, const ProcessFigures& process) {
  BottleneckReport report;
  report.process = process;
  std::uint64_t wall_total = 0;
  std::uint64_t cpu_total = 0;
  for (const auto& f : snapshot.stages) {
    wall_total += f.wall_ns;
    cpu_total += f.cpu_ns;
  }
  for (std::size_t i = 0; i < stage_count; ++i) {
    const StageFigures& f = snapshot.stages[i];
    if (f.count == 0 && f.wall_ns == 0 && f.cpu_ns == 0) continue;
    RankedStage r{static_cast<Stage>(i), f};
    r.wall_share = wall_total ? static_cast<double>(f.wall_ns) / static_cast<double>(wall_total) : 0;
    r.cpu_share = cpu_total ? static_cast<double>(f.cpu_ns) / static_cast<double>(cpu_total) : 0;
    r.cpu_per_wall = f.wall_ns ? static_cast<double>(f.cpu_ns) / static_cast<double>(f.wall_ns) : 0;
    report.by_wall.push_back(r);
  }
  report.by_cpu = report.by_wall;
  // Stable sorts on the integer sums: ties keep path order, no floating point.
  std::stable_sort(report.by_wall.begin(), report.by_wall.end(),
                   [](const RankedStage& a, const RankedStage& b) { return a.figures.wall_ns > b.figures.wall_ns; });
  std::stable_sort(report.by_cpu.begin(), report.by_cpu.end(),
                   [](const RankedStage& a, const RankedStage& b) { return a.figures.cpu_ns > b.figures.cpu_ns; });

  if (process.wall_seconds > 0 && process.cores > 0) {
    report.process_cpu_utilization = process.cpu_seconds / (process.wall_seconds * process.cores);
  }
  if (process.cpu_seconds > 0) report.stage_cpu_coverage = seconds(cpu_total) / process.cpu_seconds;
  report.cpu_saturated = report.process_cpu_utilization >= cpu_saturated_utilization;

  if (report.by_wall.empty()) {
    report.reason = "no stage has recorded anything yet";
    return report;
  }
  char buffer[256];
  const RankedStage* dominant = nullptr;
  if ((report.cpu_saturated && cpu_total > 0) || wall_total == 0) {
    dominant = &report.by_cpu.front();
    std::snprintf(buffer, sizeof buffer, "%s: largest share of stage CPU time (%.1f %%)%s",
                  std::string(stage_name(dominant->stage)).c_str(), dominant->cpu_share * 100,
                  report.cpu_saturated ? ", and the process is CPU-saturated" : ", no wall time recorded");
  } else {
    dominant = &report.by_wall.front();
    std::snprintf(buffer, sizeof buffer, "%s: largest share of stage wall time (%.1f %%), process CPU at %.0f %% of %u cores",
                  std::string(stage_name(dominant->stage)).c_str(), dominant->wall_share * 100,
                  report.process_cpu_utilization * 100, process.cores);
  }
  report.reason = buffer;
  report.dominant = dominant->stage;
  report.dominant_cpu_bound = dominant->cpu_per_wall >= cpu_bound_ratio;
  const StageAdvice& advice = stage_advice_table()[static_cast<std::size_t>(dominant->stage)];
  KESTREL_ASSERT(advice.stage == dominant->stage);
  report.suggestion = std::string(report.dominant_cpu_bound ? advice.when_cpu_bound : advice.when_waiting);
  report.gates = advice.gates;
  report.config_keys = advice.config_keys;
  KESTREL_ASSERT(report.by_wall.size() == report.by_cpu.size());
  return report;
}

namespace {

nlohmann::json ranked_json(const RankedStage& r) {
  return {{"stage", stage_name(r.stage)},
          {"count", r.figures.count},
          {"wall_seconds", seconds(r.figures.wall_ns)},
          {"wall_share", r.wall_share},
          {"cpu_seconds", seconds(r.figures.cpu_ns)},
          {"cpu_share", r.cpu_share},
          {"cpu_per_wall", r.cpu_per_wall},
          {"p50_seconds", seconds(r.figures.wall_ns_p50)},
          {"p99_seconds", seconds(r.figures.wall_ns_p99)}};
}

}  // namespace

nlohmann::json BottleneckReport::to_json() const {
  nlohmann::json out;
  out["dominant"] = dominant ? nlohmann::json(stage_name(*dominant)) : nlohmann::json(nullptr);
  out["reason"] = reason;
  out["suggestion"] = suggestion;
  out["gates"] = gates;
  out["config_keys"] = config_keys;
  out["cpu_saturated"] = cpu_saturated;
  out["dominant_cpu_bound"] = dominant_cpu_bound;
  out["process"] = perf::to_json(process);
  out["process"]["cpu_utilization"] = process_cpu_utilization;
  out["stage_cpu_coverage"] = stage_cpu_coverage;
  out["by_wall"] = nlohmann::json::array();
  for (const auto& r : by_wall) out["by_wall"].push_back(ranked_json(r));
  out["by_cpu"] = nlohmann::json::array();
  for (const auto& r : by_cpu) out["by_cpu"].push_back(stage_name(r.stage));
  return out;
}

std::string BottleneckReport::to_text() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-23s %10s %11s %7s %11s %7s %8s %10s %10s\n", "stage", "count", "wall s",
                "wall %", "cpu s", "cpu %", "cpu/wall", "p50 ms", "p99 ms");
  out += line;
  for (const auto& r : by_wall) {
    std::snprintf(line, sizeof line, "%-23s %10llu %11.3f %6.1f%% %11.3f %6.1f%% %8.2f %10.3f %10.3f\n",
                  std::string(stage_name(r.stage)).c_str(), static_cast<unsigned long long>(r.figures.count),
                  seconds(r.figures.wall_ns), r.wall_share * 100, seconds(r.figures.cpu_ns), r.cpu_share * 100,
                  r.cpu_per_wall, seconds(r.figures.wall_ns_p50) * 1e3, seconds(r.figures.wall_ns_p99) * 1e3);
    out += line;
  }
  std::snprintf(line, sizeof line,
                "\nprocess: %.1f s CPU over %.1f s on %u cores (%.0f %% utilization%s); stages account for %.0f %% "
                "of it\n",
                process.cpu_seconds, process.wall_seconds, process.cores, process_cpu_utilization * 100,
                cpu_saturated ? ", saturated" : "", stage_cpu_coverage * 100);
  out += line;
  if (!dominant) {
    out += "dominant: none (" + reason + ")\n";
    return out;
  }
  out += "dominant: " + reason + (dominant_cpu_bound ? " [CPU-bound]" : " [waiting]") + "\n";
  out += "suggestion: " + suggestion + "\n";
  auto join = [](const std::vector<std::string_view>& items) {
    std::string s;
    for (auto item : items) s += (s.empty() ? "" : ", ") + std::string(item);
    return s.empty() ? std::string("-") : s;
  };
  out += "gates: " + join(gates) + "\nconfig: " + join(config_keys) + "\n";
  return out;
}

}  // namespace kestrel::perf
