// The `kestrel demo` and `kestrel bench cluster` commands: options, the A/B
// runner (--ab), load sweeps (--sweep) and their output; the cluster run itself
// is cluster.cc (run_cluster).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>
#include "cluster.h"
#include "commands.h"
#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/signature.h"
#include "execution/execution.h"
#include "node/admin_http.h"
#include "node/client.h"
#include "node/config.h"
#include "perf/stages.h"
#include "storage/storage.h"

namespace kestrel::app {

namespace {

int run_demo(ClusterOptions o) {
  install_interrupt_handler();
  o.gates = cli_gate_settings();
  std::printf("kestrel demo: %u validators (%s) on loopback, %s for %.0f s%s\n", o.nodes, o.scheme.c_str(),
              o.raw ? "raw 16-byte commands" : "ML-DSA-65-signed transfers", o.load_seconds(),
              o.rate > 0 ? (" at " + std::to_string(static_cast<long>(o.rate)) + "/s").c_str() : " at saturation");
  auto result = run_cluster(o);
  if (!result) {
    std::fprintf(stderr, "kestrel demo: %s\n", result.error().c_str());
    return 1;
  }
  print_summary(o, *result);
  if (!result->digests_agree) {
    std::fprintf(stderr, "kestrel demo: FAILED: the validators' state digests differ at height %llu\n",
                 static_cast<unsigned long long>(result->common_height));
    return 1;
  }
  if (result->committed == 0) {
    std::fprintf(stderr, "kestrel demo: FAILED: nothing was committed\n");
    return 1;
  }
  return 0;
}

int run_bench_cluster(ClusterOptions o, const std::string& json_path) {
  install_interrupt_handler();
  o.live = false;
  o.gates = cli_gate_settings();
  if (!o.raw && !o.rate_steps.empty()) {  // enough pre-signed transfers for every step
    double offered = 0;
    for (const auto& s : o.rate_steps) offered += s.rate * s.seconds;
    o.transactions = std::max<std::size_t>(o.transactions, static_cast<std::size_t>(offered * 1.1));
  }
  auto result = run_cluster(o);
  if (!result) {
    std::fprintf(stderr, "kestrel bench cluster: %s\n", result.error().c_str());
    return 1;
  }
  print_summary(o, *result);
  if (!result->bottlenecks.empty()) std::printf("\n%s", result->bottlenecks.c_str());
  nlohmann::json j = result_json(o, *result);
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) {
      std::fprintf(stderr, "kestrel bench cluster: %s: cannot be written\n", json_path.c_str());
      return 1;
    }
  }
  return result->digests_agree ? 0 : 1;
}

// --sweep R1,R2,...: one run per offered rate; the throughput/latency curve
// (JSON "sweep" rows for scripts/bench-plots).
int run_sweep(ClusterOptions o, const std::string& rates, const std::string& json_path) {
  install_interrupt_handler();
  if (!o.rate_steps.empty()) {
    std::fprintf(stderr, "kestrel bench cluster: --sweep and --rate-steps exclude each other\n");
    return 2;
  }
  o.live = false;
  o.gates = cli_gate_settings();
  nlohmann::json sweep = nlohmann::json::array();
  std::stringstream list(rates);
  std::string item;
  std::printf("%12s %12s %10s %10s\n", "offered", "throughput", "p50 ms", "p99 ms");
  while (std::getline(list, item, ',') && !was_interrupted()) {
    char* end = nullptr;
    const double rate = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0' || !(rate > 0)) {
      std::fprintf(stderr, "kestrel bench cluster --sweep: '%s' is not a positive rate\n", item.c_str());
      return 2;
    }
    ClusterOptions run = o;
    run.rate = rate;
    if (!o.raw) run.transactions = std::max<std::size_t>(o.transactions, static_cast<std::size_t>(rate * o.duration_s * 1.1));
    auto r = run_cluster(run);
    if (!r || !r->digests_agree) {
      std::fprintf(stderr, "kestrel bench cluster --sweep: run at %.0f failed: %s\n", rate,
                   r ? "state digests differ" : r.error().c_str());
      return 1;
    }
    std::printf("%12.0f %12.0f %10.2f %10.2f\n", rate, r->throughput, r->p50_ms, r->p99_ms);
    std::fflush(stdout);
    sweep.push_back({{"series", o.raw ? "raw" : "signed"}, {"offered", rate}, {"throughput", r->throughput},
                     {"p50_ms", r->p50_ms}, {"p99_ms", r->p99_ms}});
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << nlohmann::json{{"sweep", sweep}}.dump(2) << "\n";
  }
  return 0;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// --ab all's load step for perf.adaptive_tuning (raw ops/s), low-high-low over
// --duration: the high rate is near what the cluster commits on this 2-core
// machine at a p99 of tens of ms (docs/performance.md "Cluster load step").
constexpr double default_step_low_rate = 5000, default_step_high_rate = 60000;
constexpr double light_load_rate = 100;  // GateWorkload::raw_light_load: ops/s, the light-load figure's rate

// How a gate is measured in an A/B run: the workload and the figure.
struct AbWorkload {
  ClusterOptions options;
  bool latency = false;  // figure: p99 ms, lower is better (open loop); else throughput, higher is better
  bool p50 = false;      // with latency: the figure is p50 instead (light load)
  std::string describe;  // e.g. "raw, saturation"
  std::string flags;     // the command-line flags that reproduce it
};

std::string format_number(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", v);
  return b;
}

AbWorkload ab_workload(const ClusterOptions& o, const GateInfo& info, bool automatic) {
  AbWorkload w{o, false, false, "", ""};
  ClusterOptions& run = w.options;
  // --ab all: the workload that exercises the gate (GateInfo::workload); a load
  // step unless steps or a rate were given.
  if (automatic) {
    run.raw = info.workload != GateWorkload::signed_saturation;
    if (info.workload == GateWorkload::raw_load_step && run.rate_steps.empty() && !(run.rate > 0)) {
      const double third = std::max(1.0, std::round(o.duration_s / 3));
      run.rate_steps = {{default_step_low_rate, third}, {default_step_high_rate, third}, {default_step_low_rate, third}};
    }
    if (info.workload == GateWorkload::raw_light_load && run.rate_steps.empty() && !(run.rate > 0)) {
      run.rate = light_load_rate;
    }
  }
  if (!run.raw && (!run.rate_steps.empty() || run.rate > 0)) {
    double offered = run.rate * run.load_seconds();
    for (const auto& s : run.rate_steps) offered += s.rate * s.seconds;
    run.transactions = std::max<std::size_t>(run.transactions, static_cast<std::size_t>(offered * 1.1));
  }
  w.latency = !run.rate_steps.empty() || run.rate > 0;
  // A light-load gate's figure is p50 at one open-loop rate, however it was asked for.
  w.p50 = w.latency && run.rate_steps.empty() && info.workload == GateWorkload::raw_light_load;
  std::string steps;
  for (const auto& s : run.rate_steps) steps += (steps.empty() ? "" : ",") + format_number(s.rate) + ":" + format_number(s.seconds);
  w.describe = std::string(run.raw ? "raw" : "signed") + ", " +
               (!steps.empty() ? "steps " + steps : run.rate > 0 ? "rate " + format_number(run.rate) : "saturation");
  w.flags = (run.raw ? " --raw" : "") +
            (!steps.empty() ? " --rate-steps " + steps
                            : " --duration " + format_number(run.duration_s) +
                                  (run.rate > 0 ? " --rate " + format_number(run.rate) : "")) +
            (run.raw || run.transactions == ClusterOptions{}.transactions ? ""
                                                                           : " --transactions " + std::to_string(run.transactions));
  if (run.tuner_latency_target_ms) w.flags += " --tuner-target-ms " + std::to_string(run.tuner_latency_target_ms);
  if (run.tuner_interval_ms) w.flags += " --tuner-interval-ms " + std::to_string(run.tuner_interval_ms);
  return w;
}

// The gate settings of one side: the command line's, then the gate; turning a
// gate on turns on what it requires, turning it off turns off what requires it
// (a node refuses to start with a dependency off).
std::vector<GateSetting> ab_gates(Gate gate, bool on) {
  std::vector<GateSetting> gates = cli_gate_settings();
  gates.push_back({gate, on});
  const GateInfo& info = gate_info(gate);
  if (on && info.required_gate != Gate::count_) gates.push_back({info.required_gate, true});
  if (!on) {
    for (const auto& other : all_gates()) {
      if (other.required_gate == gate) gates.push_back({other.gate, false});
    }
  }
  return gates;
}

// --ab GATE|all: the same workload with the gate off and on, interleaved (off,
// on, then on, off, ...: the first side alternates), `pairs` pairs; medians and
// the ratio of each pair.
// With load steps, also each phase's p99 per pair and their medians.
int run_ab(ClusterOptions o, const std::string& which, bool auto_workload, std::uint32_t pairs,
           const std::string& json_path, const std::string& markdown_path) {
  install_interrupt_handler();
  o.live = false;
  std::vector<Gate> gates;
  const bool automatic = which == "all" || auto_workload;
  if (which == "all") {
    for (const auto& info : all_gates()) gates.push_back(info.gate);
  } else {
    std::stringstream list(which);
    std::string name;
    while (std::getline(list, name, ',')) {
      auto setting = parse_gate_setting(name + "=on");
      if (!setting) {
        std::fprintf(stderr, "kestrel bench cluster --ab: %s: %s\n", name.c_str(), describe(setting.error()));
        return 2;
      }
      gates.push_back(setting->gate);
    }
  }
  nlohmann::json ab = nlohmann::json::array(), phases_ab = nlohmann::json::array();
  std::string table =
      "| gate | what it does | workload | figure | off | on | on/off (median) | per pair | command |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (Gate gate : gates) {
    const auto& info = gate_info(gate);
    const std::string name(info.name);
    const AbWorkload workload = ab_workload(o, info, automatic);
    const ClusterOptions& base = workload.options;
    const char* unit = workload.latency ? (workload.p50 ? "ms p50" : "ms p99") : base.raw ? "ops/s" : "tx/s";
    std::vector<double> off, on, ratios, cpu_op_ratios;
    std::vector<std::vector<double>> phase_p99[2];  // [side][phase] -> per pair
    phase_p99[0].resize(base.rate_steps.size());
    phase_p99[1].resize(base.rate_steps.size());
    std::printf("%-32s %s\n", name.c_str(), workload.describe.c_str());
    bool failed = false;
    for (std::uint32_t p = 0; p < pairs && !failed && !was_interrupted(); ++p) {
      double pair[2] = {0, 0}, cpu[2] = {0, 0}, blocks[2] = {0, 0}, cpu_op[2] = {0, 0}, p50[2] = {0, 0};
      std::vector<PhaseResult> pair_phases[2];
      // Alternate which side runs first (off/on, on/off, ...) so a bias of run
      // order (a warmer page cache, a neighbour's load fading) cancels over pairs.
      for (int turn = 0; turn < 2 && !failed; ++turn) {
        const int side = p % 2 == 0 ? turn : 1 - turn;
        ClusterOptions run = base;
        run.gates = ab_gates(gate, side == 1);
        auto r = run_cluster(run);
        if (!r || !r->digests_agree || r->committed == 0) {
          std::fprintf(stderr, "kestrel bench cluster --ab %s: %s run failed: %s\n", name.c_str(), side ? "on" : "off",
                       !r ? r.error().c_str() : !r->digests_agree ? "state digests differ" : "nothing committed");
          failed = true;
          break;
        }
        pair[side] = workload.latency ? (workload.p50 ? r->p50_ms : r->p99_ms) : r->throughput;
        p50[side] = r->p50_ms;
        for (const auto& n : r->nodes) cpu[side] += n.cpu_percent / static_cast<double>(r->nodes.size());
        blocks[side] = r->elapsed_s > 0 ? static_cast<double>(r->common_height) / r->elapsed_s : 0;
        cpu_op[side] = r->cpu_us_per_op;
        (side ? on : off).push_back(pair[side]);
        pair_phases[side] = r->phases;
        for (std::size_t i = 0; i < r->phases.size() && i < phase_p99[side].size(); ++i) {
          phase_p99[side][i].push_back(r->phases[i].p99_ms);
        }
      }
      if (failed) break;
      ratios.push_back(pair[0] > 0 ? pair[1] / pair[0] : 0);
      cpu_op_ratios.push_back(cpu_op[0] > 0 ? cpu_op[1] / cpu_op[0] : 0);
      std::printf("%-32s pair %u: off %.2f  on %.2f %s  ratio %.3f   (cpu per node off %.0f%%  on %.0f%%, blocks/s off %.0f  on %.0f, "
                  "CPU us/op off %.0f  on %.0f  ratio %.3f)\n",
                  name.c_str(), p + 1, pair[0], pair[1], unit, ratios.back(), cpu[0], cpu[1], blocks[0], blocks[1],
                  cpu_op[0], cpu_op[1], cpu_op_ratios.back());
      if (workload.latency && !workload.p50) {
        std::printf("%-32s   p50 off %.2f  on %.2f ms  ratio %.3f\n", "", p50[0], p50[1], p50[0] > 0 ? p50[1] / p50[0] : 0);
      }
      for (std::size_t i = 0; i < pair_phases[0].size() && i < pair_phases[1].size(); ++i) {
        const auto &a = pair_phases[0][i], &b = pair_phases[1][i];
        std::printf("%-32s   phase %zu (%.0f/s): p99 off %.2f  on %.2f ms  ratio %.3f   committed/s off %.0f  on %.0f\n",
                    "", i + 1, a.rate, a.p99_ms, b.p99_ms, a.p99_ms > 0 ? b.p99_ms / a.p99_ms : 0, a.throughput,
                    b.throughput);
      }
      std::fflush(stdout);
    }
    if (failed || off.empty()) return 1;
    const double m_off = median(off), m_on = median(on), m_ratio = median(ratios);
    const double m_cpu_op_ratio = median(cpu_op_ratios);
    std::printf("%-32s median: off %.2f  on %.2f %s  ratio %.3f   (CPU us/op ratio %.3f)\n", name.c_str(), m_off, m_on,
                unit, m_ratio, m_cpu_op_ratio);
    ab.push_back({{"gate", info.name}, {"figure", unit}, {"better", workload.latency ? "lower" : "higher"}, {"off", m_off},
                  {"on", m_on}, {"ratio", m_ratio}, {"workload", workload.describe}, {"cpu_per_op_ratio", m_cpu_op_ratio}});
    for (std::size_t i = 0; i < base.rate_steps.size(); ++i) {
      const double p_off = median(phase_p99[0][i]), p_on = median(phase_p99[1][i]);
      std::printf("%-32s   phase %zu (%.0f/s) median p99: off %.2f  on %.2f ms\n", "", i + 1, base.rate_steps[i].rate,
                  p_off, p_on);
      phases_ab.push_back({{"gate", info.name}, {"phase", i + 1}, {"offered", base.rate_steps[i].rate},
                           {"seconds", base.rate_steps[i].seconds}, {"p99_off_ms", phase_p99[0][i]},
                           {"p99_on_ms", phase_p99[1][i]}, {"median_off_ms", p_off}, {"median_on_ms", p_on}});
    }
    std::string per_pair;
    for (double r : ratios) {
      char b[16];
      std::snprintf(b, sizeof b, "%s%.2f", per_pair.empty() ? "" : ", ", r);
      per_pair += b;
    }
    char row[1024];
    std::snprintf(row, sizeof row, "| `%s` | %s | %s | %s | %.*f | %.*f | %.3f | %s | `kestrel bench cluster --ab %s --pairs %u%s` |\n",
                  name.c_str(), std::string(info.description).c_str(), workload.describe.c_str(),
                  workload.latency ? (workload.p50 ? "p50 ms, lower is better" : "p99 ms, lower is better")
                                   : (std::string(unit) + ", higher is better").c_str(),
                  workload.latency ? 2 : 0, m_off, workload.latency ? 2 : 0, m_on, m_ratio, per_pair.c_str(),
                  name.c_str(), pairs, workload.flags.c_str());
    table += row;
  }
  if (!json_path.empty()) {
    std::ofstream out(json_path, std::ios::trunc);
    out << nlohmann::json{{"ab", ab}, {"phases_ab", phases_ab}}.dump(2) << "\n";
  }
  if (!markdown_path.empty()) {
    // Replace the generated table between its markers, keep the rest of the file.
    std::ifstream in(markdown_path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string begin = "<!-- BEGIN bench-cluster-ab -->", end = "<!-- END bench-cluster-ab -->";
    const auto b = text.find(begin), e = text.find(end);
    if (b == std::string::npos || e == std::string::npos || e < b) {
      std::fprintf(stderr, "kestrel bench cluster --ab: %s has no %s ... %s markers\n", markdown_path.c_str(), begin.c_str(),
                   end.c_str());
      return 1;
    }
    const std::string how = "\nCommand: `kestrel bench cluster --ab " + which + (auto_workload && which != "all" ? " --ab-auto" : "") +
                            " --pairs " + std::to_string(pairs) +
                            (automatic ? " --duration " + format_number(o.duration_s) : "") + "` (" +
                            std::to_string(o.nodes) + " nodes; each row's command reproduces it alone).\n\n";
    text = text.substr(0, b + begin.size()) + how + table + "\n" + text.substr(e);
    std::ofstream out(markdown_path, std::ios::trunc);
    out << text;
    std::printf("wrote the table to %s\n", markdown_path.c_str());
  }
  return 0;
}

}  // namespace

void register_demo(CLI::App& app) {
  static ClusterOptions options;
  auto* command = app.add_subcommand("demo", "Start a local validator cluster, drive it with signed transfers, report");
  add_cluster_options(*command, options);
  command->callback([] {
    if (int code = run_demo(options); code != 0) throw CLI::RuntimeError(code);
  });
}

void register_bench_cluster(CLI::App& bench) {
  static ClusterOptions options;
  static std::string json_path;
  options.duration_s = 20;
  auto* command = bench.add_subcommand("cluster", "The demo without the live display: one cluster run, JSON figures");
  add_cluster_options(*command, options);
  command->add_option("--json", json_path, "Write the figures as JSON to this file");
  static std::string ab;
  static std::uint32_t pairs = 3;
  static std::string markdown;
  command->add_option("--ab", ab, "A/B: GATE[,GATE...] or all; runs off/on interleaved, --pairs pairs each");
  command->add_option("--pairs", pairs, "A/B pairs per gate (at least 3 for a claim)")->check(CLI::Range(1, 20));
  static bool ab_auto = false;
  command->add_flag("--ab-auto", ab_auto,
                    "With --ab GATE,...: each gate's own workload, as --ab all chooses it (the workload column of "
                    "`kestrel gates`)");
  command->add_option("--markdown", markdown, "With --ab: rewrite the table between the markers in this file (docs/performance.md)");
  static std::string sweep;
  command->add_option("--sweep", sweep, "Load sweep: comma-separated offered rates, one run each (JSON \"sweep\" rows)");
  command->callback([] {
    const int code = !sweep.empty() ? run_sweep(options, sweep, json_path)
                     : ab.empty()   ? run_bench_cluster(options, json_path)
                                    : run_ab(options, ab, ab_auto, pairs, json_path, markdown);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace kestrel::app
