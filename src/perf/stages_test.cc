#include "perf/stages.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "common/gates.h"
#include "common/limits.h"

namespace kestrel::perf {
namespace {

constexpr std::uint64_t ms = 1'000'000;  // ns

TEST(StageNamesTest, StableAndRoundTrip) {
  EXPECT_EQ(stage_name(Stage::client_ingress), "client_ingress");
  EXPECT_EQ(stage_name(Stage::signature_verification), "signature_verification");
  EXPECT_EQ(stage_name(Stage::receipt), "receipt");
  std::set<std::string_view> names;
  for (std::size_t i = 0; i < stage_count; ++i) {
    const auto stage = static_cast<Stage>(i);
    ASSERT_EQ(find_stage(stage_name(stage)), stage);
    names.insert(stage_name(stage));
  }
  EXPECT_EQ(names.size(), stage_count);
  EXPECT_FALSE(find_stage("Client_ingress"));
  EXPECT_FALSE(find_stage(""));
}

TEST(StageProfileTest, RecordFeedsSnapshotAndRegistry) {
  Registry registry;
  StageProfile profile(registry);
  profile.record(Stage::execution, 2 * ms, 1 * ms);
  profile.record(Stage::execution, 4 * ms, 500 * ms);
  profile.record(Stage::persistence, 10 * ms, 0);
  const StageSnapshot s = profile.snapshot();
  EXPECT_EQ(s[Stage::execution].count, 2u);
  EXPECT_EQ(s[Stage::execution].wall_ns, 6 * ms);
  EXPECT_EQ(s[Stage::execution].cpu_ns, 501 * ms);
  EXPECT_GE(s[Stage::execution].wall_ns_p50, 2 * ms);
  EXPECT_LT(s[Stage::execution].wall_ns_p50, 4 * ms);
  EXPECT_GE(s[Stage::execution].wall_ns_p99, 4 * ms);
  EXPECT_EQ(s[Stage::persistence].count, 1u);
  EXPECT_EQ(s[Stage::receipt], StageFigures{});

  const std::string text = registry.prometheus_text();
  EXPECT_NE(text.find("# TYPE kestrel_stage_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("# TYPE kestrel_stage_cpu_seconds_total counter"), std::string::npos);
  EXPECT_NE(text.find("kestrel_stage_seconds_count{stage=\"execution\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_stage_seconds_sum{stage=\"execution\"} 0.006\n"), std::string::npos);
  // CPU counted in ns, exposed in seconds.
  EXPECT_NE(text.find("kestrel_stage_cpu_seconds_total{stage=\"execution\"} 0.501\n"), std::string::npos);
  EXPECT_NE(text.find("kestrel_stage_cpu_seconds_total{stage=\"receipt\"} 0\n"), std::string::npos);
  // Every stage has its series from the start (dashboards see zeros, not gaps).
  for (std::size_t i = 0; i < stage_count; ++i) {
    const std::string label = "{stage=\"" + std::string(stage_name(static_cast<Stage>(i))) + "\"}";
    EXPECT_NE(text.find("kestrel_stage_seconds_count" + label), std::string::npos) << label;
  }
}

TEST(StageProfileTest, TwoProfilesOnOneRegistryShareSeries) {
  // Registration is idempotent per name + labels: a second profile on the same
  // registry reports into the same series (there is one /metrics per process).
  Registry registry;
  StageProfile a(registry);
  StageProfile b(registry);
  a.record(Stage::commit, 1, 0);
  EXPECT_EQ(b.snapshot()[Stage::commit].count, 1u);
}

TEST(StageProfileTest, ConcurrentRecordsAreAllCounted) {
  StageProfile profile;
  constexpr int threads = 4, per_thread = 20000;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&profile, t] {
      for (int i = 0; i < per_thread; ++i) profile.record(static_cast<Stage>(t % stage_count), 3, 1);
    });
  }
  for (auto& w : workers) w.join();
  const StageSnapshot s = profile.snapshot();
  for (int t = 0; t < threads; ++t) {
    const auto& f = s.stages[static_cast<std::size_t>(t)];
    EXPECT_EQ(f.count, static_cast<std::uint64_t>(per_thread));
    EXPECT_EQ(f.wall_ns, 3u * per_thread);
    EXPECT_EQ(f.cpu_ns, 1u * per_thread);
  }
}

TEST(StageTimerTest, RecordsWallAndThreadCpu) {
  StageProfile profile;
  volatile std::uint64_t sink = 0;
  {
    StageTimer timer(profile, Stage::signature_verification);
    // Busy work (no sleeping in tests): enough to register on the CPU clock.
    const std::uint64_t start = ThreadCpuClock::now_ns();
    while (ThreadCpuClock::now_ns() - start < 2 * ms) sink = sink + 1;
  }
  const StageFigures f = profile.snapshot()[Stage::signature_verification];
  EXPECT_EQ(f.count, 1u);
  EXPECT_GE(f.cpu_ns, 2 * ms);
  // Wall time covers the CPU time of this one thread (allow clock granularity).
  EXPECT_GE(f.wall_ns + ms / 10, f.cpu_ns);
  EXPECT_EQ(profile.snapshot()[Stage::commit].count, 0u);
}

TEST(StageProfileTest, ProcessFiguresCoverTheProfileLifetime) {
  StageProfile profile;
  const ProcessFigures p = profile.process_figures();
  EXPECT_GE(p.cores, 1u);
  EXPECT_GE(p.wall_seconds, 0.0);
  EXPECT_LT(p.wall_seconds, 60.0);
  EXPECT_GE(p.cpu_seconds, 0.0);
  EXPECT_EQ(available_cores(), p.cores);
}

StageSnapshot sample_snapshot() {
  StageSnapshot s;
  s[Stage::client_ingress] = {10, 5 * ms, 4 * ms, ms / 2, ms};
  s[Stage::mempool_wait] = {10, 300 * ms, 0, 30 * ms, 40 * ms};
  s[Stage::receipt] = {7, 1, 2, 3, 4};
  return s;
}

TEST(StagesJsonTest, RoundTrip) {
  const StageSnapshot s = sample_snapshot();
  const ProcessFigures p{12.5, 100.25, 8};
  const std::string text = stages_json(s, p);
  auto doc = parse_stages_json(text);
  ASSERT_TRUE(doc.ok()) << describe(doc.error());
  EXPECT_EQ(doc->snapshot, s);
  EXPECT_EQ(doc->process, p);
  // The shape the route promises.
  const auto json = nlohmann::json::parse(text);
  ASSERT_EQ(json["stages"].size(), stage_count);
  EXPECT_EQ(json["stages"][2]["stage"], "mempool_wait");
  EXPECT_EQ(json["stages"][2]["wall_ns"], 300 * ms);
  EXPECT_EQ(json["process"]["cores"], 8);
}

TEST(StagesJsonTest, RefusesWhatItDidNotWrite) {
  const ProcessFigures p{1, 2, 3};
  const std::string good = stages_json(sample_snapshot(), p);
  EXPECT_EQ(parse_stages_json("").error(), StageJsonError::not_json);
  EXPECT_EQ(parse_stages_json("{\"stages\":").error(), StageJsonError::not_json);
  EXPECT_EQ(parse_stages_json(good.substr(0, good.size() - 1)).error(), StageJsonError::not_json);
  EXPECT_EQ(parse_stages_json("[]").error(), StageJsonError::bad_shape);
  EXPECT_EQ(parse_stages_json("{\"stages\":[]}").error(), StageJsonError::bad_shape);
  EXPECT_EQ(parse_stages_json("{\"stages\":{},\"process\":{}}").error(), StageJsonError::bad_shape);

  auto mutate = [&](auto change) {
    auto json = nlohmann::json::parse(good);
    change(json);
    return parse_stages_json(json.dump());
  };
  EXPECT_EQ(mutate([](auto& j) { j["stages"][0]["stage"] = "warp_drive"; }).error(), StageJsonError::unknown_stage);
  EXPECT_EQ(mutate([](auto& j) { j["stages"][1]["stage"] = "client_ingress"; }).error(),
            StageJsonError::duplicate_stage);
  EXPECT_EQ(mutate([](auto& j) { j["stages"][0]["count"] = -1; }).error(), StageJsonError::bad_shape);
  EXPECT_EQ(mutate([](auto& j) { j["stages"][0]["cpu_ns"] = "7"; }).error(), StageJsonError::bad_shape);
  EXPECT_EQ(mutate([](auto& j) { j["stages"][0].erase("wall_ns_p99"); }).error(), StageJsonError::bad_shape);
  EXPECT_EQ(mutate([](auto& j) { j["process"]["cpu_seconds"] = -1.0; }).error(), StageJsonError::bad_shape);
  EXPECT_EQ(mutate([](auto& j) { j["process"].erase("cores"); }).error(), StageJsonError::bad_shape);
  // A document from an older node with fewer stages: the rest stay zero.
  auto fewer = mutate([](auto& j) { j["stages"].erase(j["stages"].size() - 1); });
  ASSERT_TRUE(fewer.ok());
  EXPECT_EQ(fewer->snapshot[Stage::receipt], StageFigures{});
  // Size bound before parsing.
  EXPECT_EQ(parse_stages_json(std::string(limits::stages_json_bytes_max + 1, ' ')).error(),
            StageJsonError::not_json);
}

// --- Bottleneck report ----------------------------------------------------------------

// Every stage has a little time; `heavy` gets the most wall time, with the CPU
// ratio given.
StageSnapshot dominated_by(Stage heavy, double cpu_per_wall) {
  StageSnapshot s;
  for (std::size_t i = 0; i < stage_count; ++i) s.stages[i] = {100, 10 * ms, 5 * ms, ms / 10, ms};
  const auto heavy_wall = 500 * ms;
  s[heavy] = {100, heavy_wall, static_cast<std::uint64_t>(static_cast<double>(heavy_wall) * cpu_per_wall), 5 * ms,
              9 * ms};
  return s;
}

const ProcessFigures idle_process{10, 100, 4};  // 2.5 % utilization

TEST(BottleneckReportTest, EveryStageCanDominateWithItsAdvice) {
  const auto& table = stage_advice_table();
  ASSERT_EQ(table.size(), stage_count);
  for (std::size_t i = 0; i < stage_count; ++i) {
    const auto stage = static_cast<Stage>(i);
    ASSERT_EQ(table[i].stage, stage);
    for (double ratio : {0.05, 0.95}) {
      const BottleneckReport r = bottleneck_report(dominated_by(stage, ratio), idle_process);
      ASSERT_TRUE(r.dominant) << stage_name(stage);
      EXPECT_EQ(*r.dominant, stage);
      EXPECT_FALSE(r.cpu_saturated);
      EXPECT_EQ(r.dominant_cpu_bound, ratio > cpu_bound_ratio);
      EXPECT_EQ(r.suggestion, ratio > cpu_bound_ratio ? table[i].when_cpu_bound : table[i].when_waiting);
      EXPECT_EQ(r.gates, table[i].gates);
      EXPECT_EQ(r.config_keys, table[i].config_keys);
      EXPECT_EQ(r.by_wall.front().stage, stage);
      EXPECT_EQ(r.by_wall.size(), stage_count);
      EXPECT_NE(r.reason.find(std::string(stage_name(stage))), std::string::npos);
      EXPECT_NE(r.to_text().find("suggestion: " + r.suggestion), std::string::npos);
      EXPECT_EQ(r.to_json()["dominant"], stage_name(stage));
    }
  }
}

TEST(BottleneckReportTest, SharesAndEvidence) {
  const BottleneckReport r = bottleneck_report(dominated_by(Stage::persistence, 0.1), idle_process);
  // wall: 8 x 10 ms + 500 ms = 580 ms; persistence 500/580.
  EXPECT_NEAR(r.by_wall.front().wall_share, 500.0 / 580.0, 1e-12);
  // cpu: 8 x 5 ms + 50 ms = 90 ms.
  EXPECT_NEAR(r.by_wall.front().cpu_share, 50.0 / 90.0, 1e-12);
  EXPECT_NEAR(r.by_wall.front().cpu_per_wall, 0.1, 1e-12);
  EXPECT_EQ(r.by_cpu.front().stage, Stage::persistence);
  EXPECT_NEAR(r.process_cpu_utilization, 10.0 / 400.0, 1e-12);
  EXPECT_NEAR(r.stage_cpu_coverage, 0.090 / 10.0, 1e-12);
  double wall_sum = 0, cpu_sum = 0;
  for (const auto& s : r.by_wall) {
    wall_sum += s.wall_share;
    cpu_sum += s.cpu_share;
  }
  EXPECT_NEAR(wall_sum, 1.0, 1e-12);
  EXPECT_NEAR(cpu_sum, 1.0, 1e-12);
  const auto json = r.to_json();
  EXPECT_EQ(json["by_wall"][0]["stage"], "persistence");
  EXPECT_DOUBLE_EQ(json["by_wall"][0]["p99_seconds"].get<double>(), 0.009);
  EXPECT_EQ(json["gates"][0], "storage.write_batching");
  EXPECT_EQ(json["by_cpu"].size(), stage_count);
  const std::string text = r.to_text();
  EXPECT_NE(text.find("persistence"), std::string::npos);
  EXPECT_NE(text.find("storage.write_batching"), std::string::npos);
  EXPECT_NE(text.find("[waiting]"), std::string::npos);
}

TEST(BottleneckReportTest, SaturatedProcessRanksByCpu) {
  // mempool_wait has the most wall time but no CPU; verification burns the CPU.
  StageSnapshot s;
  s[Stage::mempool_wait] = {100, 900 * ms, 0, 9 * ms, 20 * ms};
  s[Stage::signature_verification] = {100, 200 * ms, 190 * ms, 2 * ms, 3 * ms};
  s[Stage::execution] = {100, 100 * ms, 60 * ms, 1 * ms, 2 * ms};
  const ProcessFigures saturated{7.6, 2.0, 4};  // 95 %
  const BottleneckReport busy = bottleneck_report(s, saturated);
  EXPECT_TRUE(busy.cpu_saturated);
  EXPECT_EQ(busy.dominant, Stage::signature_verification);
  EXPECT_TRUE(busy.dominant_cpu_bound);
  EXPECT_EQ(busy.gates, (std::vector<std::string_view>{"crypto.parallel_verify", "crypto.verify_cache",
                                                      "mempool.id_keyed_verify_cache", "crypto.avx2"}));
  // The same stages on an idle process: latency matters, the wait dominates.
  const BottleneckReport idle = bottleneck_report(s, idle_process);
  EXPECT_FALSE(idle.cpu_saturated);
  EXPECT_EQ(idle.dominant, Stage::mempool_wait);
  EXPECT_FALSE(idle.dominant_cpu_bound);
  EXPECT_NE(idle.suggestion.find("consensus.propose_wait_ms"), std::string::npos);
}

TEST(BottleneckReportTest, EmptyTiesAndCpuOnly) {
  const BottleneckReport empty = bottleneck_report(StageSnapshot{}, ProcessFigures{});
  EXPECT_FALSE(empty.dominant);
  EXPECT_TRUE(empty.by_wall.empty());
  EXPECT_EQ(empty.process_cpu_utilization, 0.0);
  EXPECT_NE(empty.to_text().find("dominant: none"), std::string::npos);
  EXPECT_TRUE(empty.to_json()["dominant"].is_null());

  StageSnapshot tie;
  tie[Stage::receipt] = {1, 5, 0, 5, 5};
  tie[Stage::proposal] = {1, 5, 0, 5, 5};
  EXPECT_EQ(bottleneck_report(tie, idle_process).dominant, Stage::proposal);  // earlier in path order

  StageSnapshot cpu_only;  // CPU recorded, no wall (a zero-length span): ranked by CPU
  cpu_only[Stage::commit] = {1, 0, 7, 0, 0};
  EXPECT_EQ(bottleneck_report(cpu_only, idle_process).dominant, Stage::commit);
}

TEST(BottleneckReportTest, AdviceNamesRealGates) {
  // A renamed or removed gate must not leave stale advice behind.
  for (const auto& advice : stage_advice_table()) {
    for (auto gate : advice.gates) EXPECT_TRUE(find_gate(gate).ok()) << gate;
    EXPECT_FALSE(advice.when_cpu_bound.empty());
    EXPECT_FALSE(advice.when_waiting.empty());
    EXPECT_FALSE(advice.gates.empty() && advice.config_keys.empty()) << stage_name(advice.stage);
  }
}

}  // namespace
}  // namespace kestrel::perf
