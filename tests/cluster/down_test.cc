// Validators down under a steady load (docs/consensus.md "Leaders"): f validators
// of a real cluster are SIGKILLed and kept down, and the others must keep
// committing at the offered load, with a p50 latency close to what they had with
// all validators up; restarted, the killed ones catch up and the state digests
// agree. Runs `kestrel bench cluster --down` (the same command that gives the
// figures in docs/node.md) on a port slot of the harness and reads its JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "harness.h"

namespace kestrel::cluster_test {
namespace {

using namespace std::chrono_literals;

struct DownRun {
  nlohmann::json result;
  std::string output;
};

// `kestrel bench cluster --raw` with the last `down` of `nodes` validators killed at
// the start of step 2 and restarted at the start of step 4. Steps: all up (6 s),
// the first 10 s after the kill, 6 s of steady state with them down, 6 s after
// the restart.
std::optional<DownRun> run_down(std::uint32_t nodes, std::uint32_t down, double rate) {
  Cluster::Options options;
  options.name = "down" + std::to_string(nodes);
  options.nodes = nodes;
  options.budget = 200s;
  auto cluster = Cluster::create(options);  // the port slot and a work directory; no node runs
  if (!cluster) {
    ADD_FAILURE() << cluster.error();
    return std::nullopt;
  }
  const node::NodeConfig& first = (*cluster)->config(0);
  const std::uint16_t base = std::min<std::uint16_t>(
      {first.validators[0].address.port, first.client_listen.port, first.admin_listen.port});
  const std::string dir = ((*cluster)->dir() / "bench").string();
  const std::string json = ((*cluster)->dir() / "down.json").string();
  const std::string r = std::to_string(static_cast<long>(rate));
  const std::string command = std::string(KESTREL_BINARY) + " bench cluster --raw --nodes " + std::to_string(nodes) +
                              " --base-port " + std::to_string(base) + " --dir " + dir + " --rate-steps " + r + ":6," +
                              r + ":10," + r + ":6," + r + ":6 --down " + std::to_string(down) +
                              " --down-from 2 --down-until 4 --json " + json + " 2>&1";
  DownRun run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) {
    ADD_FAILURE() << "popen failed";
    return std::nullopt;
  }
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) run.output += buffer;
  const int status = ::pclose(pipe);
  std::printf("%s", run.output.c_str());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ADD_FAILURE() << command << " failed (status " << status << ")";
    return std::nullopt;
  }
  std::ifstream in(json);
  run.result = nlohmann::json::parse(in, nullptr, false);
  if (run.result.is_discarded() || run.result["phases"].size() != 4) {
    ADD_FAILURE() << json << ": no four phases";
    return std::nullopt;
  }
  return run;
}

// 10-16 s after the kill (step 3): at least 60 % of the throughput with all up
// and at most 2x its p50; the restarted ones catch up; the digests agree.
void check_down(const DownRun& run) {
  const auto& phases = run.result["phases"];
  const double up = phases[0]["throughput"].get<double>(), down = phases[2]["throughput"].get<double>();
  const double up_p50 = phases[0]["p50_ms"].get<double>(), down_p50 = phases[2]["p50_ms"].get<double>();
  std::printf("[down] all up %.0f ops/s p50 %.2f ms; 10-16 s after the kill %.0f ops/s (%.2fx) p50 %.2f ms (%.2fx); "
              "caught up %.1f s after the load\n",
              up, up_p50, down, down / up, down_p50, down_p50 / up_p50, run.result["catch_up_s"].get<double>());
  EXPECT_GT(up, 0.0);
  EXPECT_GE(down, 0.6 * up);
  // A floor of 5 ms: at light load a p50 of a few ms doubles with any hiccup.
  EXPECT_LE(down_p50, 2.0 * std::max(up_p50, 5.0));
  EXPECT_GE(run.result["catch_up_s"].get<double>(), 0.0) << "the restarted validators did not catch up";
  EXPECT_TRUE(run.result["digests_agree"].get<bool>());
}

// Offered load per cluster: light enough for 7 sanitizer-built validators on two
// cores (AddressSanitizer makes a node several times slower).
#if defined(__SANITIZE_ADDRESS__)
constexpr double rate_scale = 0.25;
#else
constexpr double rate_scale = 1.0;
#endif

TEST(Cluster, OneOfFourDownKeepsCommitting) {
  auto run = run_down(4, 1, 2000 * rate_scale);
  ASSERT_TRUE(run);
  check_down(*run);
}

TEST(Cluster, TwoOfSevenDownKeepCommitting) {
  auto run = run_down(7, 2, 1000 * rate_scale);
  ASSERT_TRUE(run);
  check_down(*run);
}

}  // namespace
}  // namespace kestrel::cluster_test
