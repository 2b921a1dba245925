// `kestrel bench compare BASELINE.json CURRENT.json --threshold 5%`: the
// regression check of DESIGN.md "Performance framework". Reads either of two
// formats (docs/performance.md):
//   - Google Benchmark JSON (kestrel-microbench --benchmark_out): one figure per
//     benchmark, its time per iteration (lower is better; real_time, or
//     cpu_time with --time cpu), from the median aggregate when present,
//     otherwise the median of its iteration runs;
//   - Kestrel bench JSON: {"machine": {...}, "figures": [{"name", "value",
//     "unit", "better": "higher"|"lower"}, ...]} (what `kestrel bench cluster`
//     writes).
// Every figure present in both files is compared, direction-aware; a figure
// worse by more than the threshold is a regression. Figures present in only one
// file are listed, never failures.
//
// Exit status: 0 no regression, 1 at least one regression (or a unit that
// changed between the files), 2 a file that cannot be read or is malformed.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "commands.h"

namespace kestrel::app {

namespace {

using nlohmann::json;

enum class Better : std::uint8_t { lower, higher };

struct Figure {
  double value = 0;
  std::string unit;
  Better better = Better::lower;
};

// Figures by name; std::map so the table comes out sorted and deterministic.
using Figures = std::map<std::string, Figure>;

struct Loaded {
  Figures figures;
  std::string format;  // "google-benchmark" or "kestrel"
};

// Google Benchmark time units, as nanoseconds.
std::optional<double> unit_nanoseconds(const std::string& unit) {
  if (unit == "ns") return 1.0;
  if (unit == "us") return 1e3;
  if (unit == "ms") return 1e6;
  if (unit == "s") return 1e9;
  return std::nullopt;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool is_finite_number(const json& j) { return j.is_number() && std::isfinite(j.get<double>()); }

// On failure returns nullopt with *error set to what is wrong and where.
std::optional<Figures> google_figures(const json& root, const std::string& time_field, std::string* error) {
  const json& benchmarks = root["benchmarks"];
  if (!benchmarks.is_array()) {
    *error = "\"benchmarks\" is not an array";
    return std::nullopt;
  }
  std::map<std::string, double> medians;                // run_name -> median aggregate (ns)
  std::map<std::string, std::vector<double>> iterations;  // run_name -> iteration times (ns)
  for (std::size_t i = 0; i < benchmarks.size(); ++i) {
    const json& b = benchmarks[i];
    const std::string where = "benchmarks[" + std::to_string(i) + "]";
    if (!b.is_object()) {
      *error = where + " is not an object";
      return std::nullopt;
    }
    if (b.contains("error_occurred") && b["error_occurred"].is_boolean() && b["error_occurred"].get<bool>()) {
      continue;  // a benchmark that failed has no figure; it shows up as missing
    }
    const json& name = b.contains("run_name") ? b["run_name"] : b["name"];
    if (!name.is_string() || !b.contains(time_field) || !is_finite_number(b[time_field]) ||
        !b.contains("time_unit") || !b["time_unit"].is_string()) {
      *error = where + " lacks a string run_name/name, a numeric " + time_field + " or a time_unit";
      return std::nullopt;
    }
    const auto scale = unit_nanoseconds(b["time_unit"].get<std::string>());
    if (!scale) {
      *error = where + " has an unknown time_unit \"" + b["time_unit"].get<std::string>() + "\"";
      return std::nullopt;
    }
    const double ns = b[time_field].get<double>() * *scale;
    const std::string run_type = b.contains("run_type") && b["run_type"].is_string() ? b["run_type"].get<std::string>()
                                                                                     : "iteration";
    if (run_type == "aggregate") {
      if (b.contains("aggregate_name") && b["aggregate_name"] == "median") medians[name.get<std::string>()] = ns;
      continue;  // mean, stddev, cv: not the figure we track
    }
    iterations[name.get<std::string>()].push_back(ns);
  }
  Figures figures;
  for (const auto& [name, times] : iterations) figures[name] = {median(times), "ns", Better::lower};
  for (const auto& [name, ns] : medians) figures[name] = {ns, "ns", Better::lower};  // the median wins
  return figures;
}

std::optional<Figures> kestrel_figures(const json& root, std::string* error) {
  const json& list = root["figures"];
  if (!list.is_array()) {
    *error = "\"figures\" is not an array";
    return std::nullopt;
  }
  Figures figures;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json& f = list[i];
    const std::string where = "figures[" + std::to_string(i) + "]";
    if (!f.is_object() || !f.contains("name") || !f["name"].is_string() || !f.contains("value") ||
        !is_finite_number(f["value"]) || !f.contains("unit") || !f["unit"].is_string() || !f.contains("better") ||
        !f["better"].is_string()) {
      *error = where + " needs \"name\" (string), \"value\" (number), \"unit\" (string), \"better\" (string)";
      return std::nullopt;
    }
    const std::string better = f["better"].get<std::string>();
    if (better != "higher" && better != "lower") {
      *error = where + " has \"better\": \"" + better + "\" (must be \"higher\" or \"lower\")";
      return std::nullopt;
    }
    const std::string name = f["name"].get<std::string>();
    if (figures.count(name) != 0) {
      *error = where + " repeats the name \"" + name + "\"";
      return std::nullopt;
    }
    figures[name] = {f["value"].get<double>(), f["unit"].get<std::string>(),
                     better == "higher" ? Better::higher : Better::lower};
  }
  return figures;
}

std::optional<Loaded> load(const std::string& path, const std::string& time_field, std::string* error) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    *error = path + ": cannot open";
    return std::nullopt;
  }
  std::stringstream text;
  text << file.rdbuf();
  const json root = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    *error = path + ": not valid JSON";
    return std::nullopt;
  }
  if (!root.is_object()) {
    *error = path + ": the top level is not a JSON object";
    return std::nullopt;
  }
  std::string detail;
  Loaded loaded;
  std::optional<Figures> figures;
  if (root.contains("benchmarks")) {
    loaded.format = "google-benchmark";
    figures = google_figures(root, time_field, &detail);
  } else if (root.contains("figures")) {
    loaded.format = "kestrel";
    figures = kestrel_figures(root, &detail);
  } else {
    detail = "neither Google Benchmark JSON (\"benchmarks\") nor Kestrel bench JSON (\"figures\")";
  }
  if (!figures) {
    *error = path + ": " + detail;
    return std::nullopt;
  }
  loaded.figures = std::move(*figures);
  return loaded;
}

// "5%", "5" (percent either way) or "2.5%". Nothing else.
std::optional<double> parse_threshold(std::string text) {
  if (!text.empty() && text.back() == '%') text.pop_back();
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double percent = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(percent) || percent < 0 || percent > 1000) {
    return std::nullopt;
  }
  return percent / 100;
}

std::string format_value(double v) {
  char buffer[32];
  if (v != 0 && (std::fabs(v) >= 1e7 || std::fabs(v) < 1e-2)) {
    std::snprintf(buffer, sizeof buffer, "%.4g", v);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.2f", v);
  }
  return buffer;
}

struct CompareOptions {
  std::string baseline;
  std::string current;
  std::string threshold = "5%";
  std::string time = "real";  // Google Benchmark: real_time or cpu_time
};

int run_compare(const CompareOptions& o) {
  const auto threshold = parse_threshold(o.threshold);
  if (!threshold) {
    std::fprintf(stderr, "kestrel bench compare: --threshold must be a percentage like 5%% (got \"%s\")\n",
                 o.threshold.c_str());
    return 2;
  }
  const std::string time_field = o.time + "_time";
  std::string error;
  const auto baseline = load(o.baseline, time_field, &error);
  if (!baseline) {
    std::fprintf(stderr, "kestrel bench compare: %s\n", error.c_str());
    return 2;
  }
  const auto current = load(o.current, time_field, &error);
  if (!current) {
    std::fprintf(stderr, "kestrel bench compare: %s\n", error.c_str());
    return 2;
  }
  std::printf("baseline %s (%s, %zu figures)\ncurrent  %s (%s, %zu figures)\nthreshold %.1f%%; "
              "Google Benchmark figures: %s per iteration\n\n",
              o.baseline.c_str(), baseline->format.c_str(), baseline->figures.size(), o.current.c_str(),
              current->format.c_str(), current->figures.size(), *threshold * 100, time_field.c_str());
  std::printf("%-52s %14s %14s %-6s %7s  %s\n", "figure", "baseline", "current", "unit", "ratio", "verdict");
  int regressions = 0, improvements = 0, unchanged = 0, incomparable = 0;
  std::vector<std::string> only_baseline, only_current;
  for (const auto& [name, base] : baseline->figures) {
    const auto it = current->figures.find(name);
    if (it == current->figures.end()) {
      only_baseline.push_back(name);
      continue;
    }
    const Figure& now = it->second;
    std::string verdict;
    double ratio = 0;
    if (now.unit != base.unit || now.better != base.better) {
      verdict = "REGRESSION? unit or direction changed (" + base.unit + " -> " + now.unit + ")";
      ++regressions;
    } else if (base.value <= 0 || now.value < 0) {
      verdict = "not compared (baseline not positive)";
      ++incomparable;
    } else {
      ratio = now.value / base.value;
      // "worse" is the relative change in the bad direction.
      const double worse = base.better == Better::lower ? ratio - 1 : 1 - ratio;
      if (worse > *threshold) {
        verdict = "REGRESSION";
        ++regressions;
      } else if (-worse > *threshold) {
        verdict = "improved";
        ++improvements;
      } else {
        verdict = "ok";
        ++unchanged;
      }
    }
    std::printf("%-52s %14s %14s %-6s %7.3f  %s (%s is better)\n", name.c_str(), format_value(base.value).c_str(),
                format_value(now.value).c_str(), base.unit.c_str(), ratio, verdict.c_str(),
                base.better == Better::lower ? "lower" : "higher");
  }
  for (const auto& [name, figure] : current->figures) {
    if (baseline->figures.count(name) == 0) only_current.push_back(name);
  }
  for (const auto& name : only_baseline) std::printf("missing in current:  %s\n", name.c_str());
  for (const auto& name : only_current) std::printf("new (not in baseline): %s\n", name.c_str());
  std::printf("\n%d compared: %d regression(s), %d improved, %d within %.1f%%, %d not compared; "
              "%zu missing in current, %zu new\n",
              regressions + improvements + unchanged + incomparable, regressions, improvements, unchanged,
              *threshold * 100, incomparable, only_baseline.size(), only_current.size());
  return regressions > 0 ? 1 : 0;
}

}  // namespace

void register_bench_compare(CLI::App& bench) {
  auto options = std::make_shared<CompareOptions>();
  auto* compare = bench.add_subcommand(
      "compare", "Compare two bench JSON files (Google Benchmark or Kestrel figures); exit 1 on a regression");
  compare->add_option("baseline", options->baseline, "baseline JSON (e.g. bench/baseline.json)")->required();
  compare->add_option("current", options->current, "current JSON (e.g. build/bench/micro.json)")->required();
  compare->add_option("--threshold", options->threshold,
                      "relative change in the bad direction that counts as a regression")
      ->default_str("5%");
  compare->add_option("--time", options->time,
                      "Google Benchmark figure: real (wall-clock, the default) or cpu (steadier on a shared machine)")
      ->check(CLI::IsMember({"real", "cpu"}))
      ->default_str("real");
  compare->callback([options] {
    const int rc = run_compare(*options);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kestrel::app
