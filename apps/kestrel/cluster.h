// The local cluster runner behind `kestrel demo` and `kestrel bench cluster`
// (cluster.cc; docs/node.md "Demo and cluster benchmark").
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/gates.h"
#include "common/hash.h"
#include "common/result.h"

namespace CLI {
class App;
}

namespace kestrel::app {

// What `kestrel init` creates (keys.cc).
struct ClusterInit {
  std::uint32_t nodes = 4;
  std::string dir;
  std::string scheme = "ml-dsa-65";
  std::uint16_t base_port = 27000;
  std::uint64_t chain_id = 1;
  std::uint32_t accounts = 16;
  std::uint64_t balance = 1000000000;
  bool force = false;
};
Status<std::string> init_cluster(const ClusterInit& init);

// One phase of a load step (--rate-steps R:S,...): offered rate R (tx/s, or
// ops/s raw) for S seconds.
struct RateStep {
  double rate = 0;
  double seconds = 0;
};
// Parses "R1:S1,R2:S2,..." (R > 0, S > 0); the message names the bad item.
Result<std::vector<RateStep>, std::string> parse_rate_steps(const std::string& text);

struct ClusterOptions {
  std::uint32_t nodes = 4;
  double duration_s = 30;
  double rate = 0;  // 0: saturate (bounded windows)
  std::string scheme = "ml-dsa-65";
  bool raw = false;
  bool keep = false;
  bool live = true;  // progress lines (demo); bench cluster prints only the summary
  std::string dir;
  std::uint16_t base_port = 27000;
  std::uint32_t accounts = 256;
  std::size_t transactions = 60000;       // pre-signed (signed mode)
  std::size_t window_per_account = 16;    // 256 x 16 x 5.3 KB = 22 MB in flight, within the node's mempool
  std::size_t raw_window = 20000;         // raw commands in flight per connection
  std::uint32_t batch_transactions_max = 0;
  std::vector<GateSetting> gates;         // passed to every node
  // Load steps, in sequence; when not empty they replace rate and duration_s.
  std::vector<RateStep> rate_steps;
  // [tuner] for every node (0: the config default); used when perf.adaptive_tuning is on.
  std::uint64_t tuner_latency_target_ms = 0;
  std::uint64_t tuner_interval_ms = 0;
  // Validators down: the last `down` validators are SIGKILLed at the start of
  // load step `down_from` (1-based) and, when down_until > down_from, started
  // again at the start of step down_until. The load goes to the other validators
  // only, from the start, so the offered load is the same before and after.
  std::uint32_t down = 0;
  std::uint32_t down_from = 2;
  std::uint32_t down_until = 0;

  // Seconds of load: the sum of the steps, or duration_s.
  double load_seconds() const;
};

// Per phase of a load step. Latency percentiles are of the commands submitted in
// the phase (what a client submitting then saw, even when it committed later);
// throughput is what committed during the phase.
struct PhaseResult {
  double rate = 0, seconds = 0;
  std::uint64_t submitted = 0, committed = 0;
  double throughput = 0;
  double p50_ms = 0, p99_ms = 0;
};

struct NodeFigures {
  double cpu_percent = 0;
  std::uint64_t peak_rss_bytes = 0;
  // Sampled once a second: the peak of the anonymous part (heap, stacks; the rest
  // of the resident set is file pages, mostly shared libraries) and the resident
  // set at the end of the run.
  std::uint64_t peak_anon_bytes = 0, end_rss_bytes = 0;
  std::uint64_t view_changes = 0, timeouts = 0, height = 0;
};

struct ClusterResult {
  std::string dir;
  double elapsed_s = 0;
  std::uint64_t submitted = 0, committed = 0, refused = 0, errors = 0;
  std::map<std::string, std::uint64_t> refusals;
  double throughput = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  // CPU time of all validator processes during the load, per committed
  // transaction (or raw command), in microseconds: the cluster's cost of one
  // operation. Less sensitive than throughput to other work on the machine.
  double cpu_us_per_op = 0;
  std::vector<NodeFigures> nodes;
  std::uint64_t common_height = 0;
  Hash32 digest;
  bool digests_agree = false;
  std::string bottlenecks;  // node 0's bottleneck report at the end of the run (text)
  std::vector<PhaseResult> phases;  // with rate_steps: one per step
  // With --down-until: seconds from the end of the load until every restarted
  // validator reached the lowest height the others had then (-1: not within
  // catch_up_wait_s, or nothing was restarted).
  double catch_up_s = -1;
  std::uint64_t catch_up_target = 0;
};

Result<ClusterResult, std::string> run_cluster(const ClusterOptions& options);
void print_summary(const ClusterOptions& options, const ClusterResult& result);
nlohmann::json result_json(const ClusterOptions& options, const ClusterResult& result);
void install_interrupt_handler();
bool was_interrupted();
void add_cluster_options(CLI::App& command, ClusterOptions& options);

}  // namespace kestrel::app
