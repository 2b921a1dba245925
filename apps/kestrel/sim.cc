// `kestrel sim`: runs the consensus simulator over many seeds (sim/sim.h).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <optional>

#include "commands.h"
#include "common/gates.h"
#include "sim/sim.h"

namespace kestrel::app {

namespace {

struct SimOptions {
  std::string protocol = "hotstuff2";
  std::uint32_t nodes = 4;
  std::uint32_t byzantine = 0;
  std::string faults = "none";
  std::uint64_t seeds = 1;
  std::uint64_t seed_start = 1;
  std::uint64_t views = 200;
  std::string scheme = "insecure-fast-mac";
  std::optional<std::uint64_t> seed;
  bool trace = false;
  bool byzantine_given = false;
  std::string byzantine_mode = "faults";
};

std::optional<sim::SimConfig::ByzantineMode> parse_byzantine_mode(const std::string& name) {
  if (name == "faults") return sim::SimConfig::ByzantineMode::faults;
  if (name == "silent") return sim::SimConfig::ByzantineMode::silent;
  if (name == "vote-only") return sim::SimConfig::ByzantineMode::vote_only;
  return std::nullopt;
}

std::string replay_command(const SimOptions& o, std::uint32_t byzantine, std::uint64_t seed) {
  const bool early = gate_enabled(Gate::consensus_early_proposal);
  const bool reputation = gate_enabled(Gate::consensus_leader_reputation);
  return std::string("kestrel --gate consensus.early_proposal=") + (early ? "on" : "off") +
         " --gate consensus.leader_reputation=" + (reputation ? "on" : "off") + " sim --protocol " + o.protocol +
         " --nodes " + std::to_string(o.nodes) + " --byzantine " + std::to_string(byzantine) +
         " --byzantine-mode " + o.byzantine_mode + " --faults " + o.faults + " --views " + std::to_string(o.views) +
         " --scheme " + o.scheme + " --seed " + std::to_string(seed) + " --trace";
}

int run(const SimOptions& o) {
  if (o.protocol != "hotstuff2") {
    std::fprintf(stderr, "kestrel sim: protocol '%s' is not available (available: hotstuff2)\n", o.protocol.c_str());
    return 2;
  }
  auto faults = sim::parse_faults(o.faults);
  if (!faults) {
    std::fprintf(stderr, "kestrel sim: --faults '%s': %s\n", o.faults.c_str(), sim::describe(faults.error()));
    return 2;
  }
  auto scheme = sim::parse_scheme(o.scheme);
  if (!scheme) {
    std::fprintf(stderr, "kestrel sim: --scheme '%s': %s (insecure-fast-mac, ed25519, ml-dsa-65)\n", o.scheme.c_str(),
                 sim::describe(scheme.error()));
    return 2;
  }
  if (o.nodes < 1 || o.nodes > 128 || o.byzantine > (o.nodes - 1) / 3) {
    std::fprintf(stderr, "kestrel sim: need 1 <= nodes <= 128 and byzantine <= (nodes - 1) / 3\n");
    return 2;
  }
  const auto mode = parse_byzantine_mode(o.byzantine_mode);
  if (!mode) {
    std::fprintf(stderr, "kestrel sim: --byzantine-mode '%s': expected faults, silent or vote-only\n",
                 o.byzantine_mode.c_str());
    return 2;
  }
  // Byzantine behaviours need Byzantine replicas: when any is asked for and
  // --byzantine is not given, f replicas are Byzantine.
  std::uint32_t byzantine = o.byzantine;
  const std::uint32_t network_only = *sim::parse_faults("loss,duplication,reordering,partition,crash");
  const bool byzantine_asked = (*faults & ~network_only) != 0 || *mode != sim::SimConfig::ByzantineMode::faults;
  if (!o.byzantine_given && byzantine_asked) byzantine = (o.nodes - 1) / 3;
  sim::SimConfig config;
  config.n = o.nodes;
  config.byzantine = byzantine;
  config.views = o.views;
  config.faults = *faults;
  config.scheme = *scheme;
  // Honest replicas drive the core as the node does with this gate (kestrel --gate).
  config.early_proposals = gate_enabled(Gate::consensus_early_proposal);
  config.leader_reputation = gate_enabled(Gate::consensus_leader_reputation);
  config.byzantine_mode = *mode;
  const std::uint64_t first = o.seed ? *o.seed : o.seed_start;
  const std::uint64_t count = o.seed ? 1 : o.seeds;
  if (count > UINT64_MAX - first) {
    std::fprintf(stderr, "kestrel sim: --seed-start + --seeds overflows\n");
    return 2;
  }
  config.trace = o.trace;
  config.trace_sink = [](const std::string& line) { std::printf("%s\n", line.c_str()); };

  std::uint64_t violations = 0, liveness_failures = 0, committed = 0, messages = 0, bytes = 0, sim_ms = 0;
  std::uint64_t latency_samples = 0;
  double latency_weighted = 0;
  const auto start = std::chrono::steady_clock::now();
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    config.seed = seed;
    const sim::SimResult r = sim::run_hotstuff2(config);
    committed += r.committed_height;
    messages += r.messages;
    bytes += r.bytes;
    sim_ms += r.sim_time_ms;
    latency_weighted += r.commit_latency_ms * static_cast<double>(r.latency_samples);
    latency_samples += r.latency_samples;
    if (!r.violations.empty()) {
      ++violations;
      std::printf("SAFETY VIOLATION seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(seed),
                  r.violations.front().c_str(), replay_command(o, byzantine, seed).c_str());
    } else if (!r.liveness_ok) {
      ++liveness_failures;
      std::printf("LIVENESS FAILURE seed %llu: %s\n  replay: %s\n", static_cast<unsigned long long>(seed),
                  r.liveness_failure.c_str(), replay_command(o, byzantine, seed).c_str());
    }
    if (count == 1) {
      std::printf("seed %llu: trace digest %s, %llu events, GST %llu ms\n", static_cast<unsigned long long>(seed),
                  r.trace_digest.hex().c_str(), static_cast<unsigned long long>(r.events),
                  static_cast<unsigned long long>(r.gst_ms));
    }
  }
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double delay_ms = static_cast<double>(config.delay_ms) + static_cast<double>(config.jitter_ms) / 2.0;
  const double latency_ms = latency_samples ? latency_weighted / static_cast<double>(latency_samples) : 0.0;
  std::printf(
      "sim hotstuff2: n=%u byzantine=%u (%s) faults=%s scheme=%s views=%llu early proposals=%s leader reputation=%s\n"
      "  seeds run:               %llu (%.1f s wall, %.0f seeds/min)\n"
      "  safety violations:       %llu\n"
      "  liveness failures:       %llu\n"
      "  commits / sim second:    %.1f\n"
      "  messages / commit:       %.1f\n"
      "  bytes / commit:          %.0f\n"
      "  commit latency:          %.1f sim ms = %.2f message delays (mean delay %.1f ms)\n",
      o.nodes, byzantine, o.byzantine_mode.c_str(), o.faults.c_str(), o.scheme.c_str(),
      static_cast<unsigned long long>(o.views), config.early_proposals ? "on" : "off",
      config.leader_reputation ? "on" : "off", static_cast<unsigned long long>(count), wall_s, wall_s > 0 ? static_cast<double>(count) * 60.0 / wall_s : 0.0,
      static_cast<unsigned long long>(violations), static_cast<unsigned long long>(liveness_failures),
      sim_ms ? static_cast<double>(committed) * 1000.0 / static_cast<double>(sim_ms) : 0.0,
      committed ? static_cast<double>(messages) / static_cast<double>(committed) : 0.0,
      committed ? static_cast<double>(bytes) / static_cast<double>(committed) : 0.0, latency_ms,
      latency_ms / delay_ms, delay_ms);
  return (violations || liveness_failures) ? 1 : 0;
}

}  // namespace

void register_sim(CLI::App& app) {
  static SimOptions options;
  auto* command = app.add_subcommand("sim", "Run the deterministic consensus simulator over many seeds");
  command->add_option("--protocol", options.protocol, "Consensus protocol (hotstuff2)");
  command->add_option("--nodes", options.nodes, "Validators n");
  command->add_option("--byzantine", options.byzantine, "Byzantine replicas (<= f)");
  command->add_option("--faults", options.faults,
                      "all, none, or a list of: loss,duplication,reordering,partition,crash,equivocation,"
                      "double-vote,withhold,subset,bad-view,forged-cert,bad-signature,garbage,fork,flood");
  command->add_option("--seeds", options.seeds, "Number of seeds to run");
  command->add_option("--seed-start", options.seed_start, "First seed");
  command->add_option("--views", options.views, "Run until every honest replica reaches this view");
  command->add_option("--scheme", options.scheme, "insecure-fast-mac (simulator only), ed25519 or ml-dsa-65");
  command->add_option("--seed", options.seed, "Run exactly this seed");
  command->add_option("--byzantine-mode", options.byzantine_mode,
                      "faults (only what --faults says), silent (send nothing: a validator that is down) or "
                      "vote-only (never propose)");
  command->add_flag("--trace", options.trace, "Print every event (use with --seed)");
  command->callback([command] {
    options.byzantine_given = command->count("--byzantine") > 0;
    const int status = run(options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace kestrel::app
