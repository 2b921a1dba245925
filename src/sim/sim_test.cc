#include "sim/sim.h"

#include <gtest/gtest.h>

namespace kestrel::sim {
namespace {

SimConfig config(std::uint32_t n, std::uint32_t byzantine, std::uint64_t views, const char* faults,
                 std::uint64_t seed = 1) {
  SimConfig c;
  c.n = n;
  c.byzantine = byzantine;
  c.seed = seed;
  c.views = views;
  c.faults = *parse_faults(faults);
  return c;
}

SimConfig hostile(std::uint64_t seed) { return config(7, 2, 60, "all", seed); }

TEST(SimTest, SameSeedSameTraceDigest) {
  const SimResult a = run_hotstuff2(hostile(42));
  const SimResult b = run_hotstuff2(hostile(42));
  EXPECT_EQ(a.trace_digest, b.trace_digest);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.committed_height, b.committed_height);
  EXPECT_GT(a.events, 1000u);  // the run did something
}

TEST(SimTest, DifferentSeedsDifferentTraces) {
  EXPECT_NE(run_hotstuff2(hostile(1)).trace_digest, run_hotstuff2(hostile(2)).trace_digest);
}

TEST(SimTest, HappyPathCommitsLinearly) {
  SimConfig c;
  c.n = 4;
  c.views = 100;
  const SimResult r = run_hotstuff2(c);
  ASSERT_TRUE(r.violations.empty());
  ASSERT_TRUE(r.liveness_ok) << r.liveness_failure;
  EXPECT_GE(r.committed_height, 95u);
  // Linear happy path: one proposal broadcast (n - 1) and n - 1 votes per block.
  const double per_commit = static_cast<double>(r.messages) / static_cast<double>(r.committed_height);
  EXPECT_LE(per_commit, 2.0 * (c.n - 1) + 0.5);
}

TEST(SimTest, RealSignaturesWork) {
  SimConfig c = hostile(3);
  c.scheme = SimScheme::ed25519;
  c.views = 30;
  const SimResult r = run_hotstuff2(c);
  EXPECT_TRUE(r.violations.empty());
  EXPECT_TRUE(r.liveness_ok) << r.liveness_failure;
  EXPECT_GT(r.dropped_by_drivers, 0u);  // bad signatures and garbage were refused
}

TEST(SimTest, MlDsaSignaturesWork) {
  SimConfig c = hostile(4);
  c.n = 4;
  c.byzantine = 1;
  c.scheme = SimScheme::ml_dsa_65;
  c.views = 20;
  const SimResult r = run_hotstuff2(c);
  EXPECT_TRUE(r.violations.empty());
  EXPECT_TRUE(r.liveness_ok) << r.liveness_failure;
  const SimResult again = run_hotstuff2(c);  // deterministic signing: same trace
  EXPECT_EQ(r.trace_digest, again.trace_digest);
}

// The violations of a run whose Byzantine replica misbehaves with `fault`, its
// messages audited as if it were honest; the same run without auditing is clean.
std::vector<std::string> audited_violations(const char* fault) {
  SimConfig c = config(4, 1, 100, fault, 9);
  EXPECT_TRUE(run_hotstuff2(c).violations.empty()) << fault;
  c.audit_byzantine = true;
  return run_hotstuff2(c).violations;
}

// The checkers can fail: a double-voting Byzantine replica is reported...
TEST(SimTest, CheckersReportMisbehaviourWhenAudited) {
  const auto violations = audited_violations("double-vote");
  ASSERT_FALSE(violations.empty());
  EXPECT_NE(violations.front().find("voted twice"), std::string::npos) << violations.front();
}

// ... and so is one that signs votes for views below (or far above) its last vote.
TEST(SimTest, CheckersReportStaleVotesWhenAudited) {
  const auto violations = audited_violations("bad-view");
  ASSERT_FALSE(violations.empty());
  std::size_t stale = 0;
  for (const auto& v : violations) stale += v.find(" after voting in view ") != std::string::npos;
  EXPECT_GT(stale, 0u) << violations.front();
}

// Early proposals (hotstuff2::Config::reserve_next_proposal): crashes between a
// leader's early proposal and its records, under every fault, stay safe and live,
// and no honest replica proposes twice in a view.
TEST(SimTest, EarlyProposalsSurviveCrashes) {
  SimConfig c = config(4, 1, 150, "all");
  c.early_proposals = true;
  std::uint64_t early = 0, crashes_after = 0;
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    c.seed = seed;
    const SimResult r = run_hotstuff2(c);
    EXPECT_TRUE(r.violations.empty()) << "seed " << seed << ": " << r.violations.front();
    EXPECT_TRUE(r.liveness_ok) << "seed " << seed << ": " << r.liveness_failure;
    early += r.early_proposals;
    crashes_after += r.crashes_after_early_proposal;
  }
  // The sweep reached what it is about: early sends, and crashes right after them.
  EXPECT_GT(early, 1000u);
  EXPECT_GT(crashes_after, 0u);
  c.early_proposals = false;
  c.seed = 1;
  EXPECT_EQ(run_hotstuff2(c).early_proposals, 0u);
}

// The proposal checker can fail: early proposals without the reservation let a
// leader that crashed after its proposal propose again in the same view.
TEST(SimTest, UnreservedEarlyProposalsAreReported) {
  SimConfig c = config(4, 0, 200, "crash");
  c.early_proposals = true;
  c.unreserved_early_proposals = true;
  std::uint64_t reported = 0;
  for (std::uint64_t seed = 1; seed <= 200 && reported == 0; ++seed) {
    c.seed = seed;
    const SimResult r = run_hotstuff2(c);
    for (const auto& v : r.violations) reported += v.find("proposed twice") != std::string::npos;
  }
  EXPECT_GT(reported, 0u);
}

// Commits per simulated second of a run.
double commit_rate(const SimResult& r) {
  return r.sim_time_ms ? static_cast<double>(r.committed_height) * 1000.0 / static_cast<double>(r.sim_time_ms) : 0.0;
}

// Leader reputation (hotstuff2::Config::leader_reputation) against round robin
// with f validators down for the whole run (Byzantine mode `silent`): safe, live,
// and the commit rate at least doubles, because round robin hands every n-th view
// to a silent validator and pays a view timeout for it.
TEST(SimTest, LeaderReputationSkipsSilentValidators) {
  for (const auto& [n, down] : {std::pair<std::uint32_t, std::uint32_t>{4, 1}, {7, 2}}) {
    double rate[2] = {0, 0};
    for (int reputation = 0; reputation < 2; ++reputation) {
      for (std::uint64_t seed = 1; seed <= 3; ++seed) {
        SimConfig c = config(n, down, 300, "none", seed);
        c.byzantine_mode = SimConfig::ByzantineMode::silent;
        c.leader_reputation = reputation == 1;
        const SimResult r = run_hotstuff2(c);
        EXPECT_TRUE(r.violations.empty()) << "n " << n << " seed " << seed << ": " << r.violations.front();
        EXPECT_TRUE(r.liveness_ok) << "n " << n << " seed " << seed << ": " << r.liveness_failure;
        rate[reputation] += commit_rate(r) / 3;
      }
    }
    EXPECT_GT(rate[1], 2.0 * rate[0]) << "n " << n << ": round robin " << rate[0] << "/s, reputation " << rate[1]
                                      << "/s";
  }
}

// With every validator up, reputation changes nothing: the window holds all n,
// and round robin over all n is round robin.
TEST(SimTest, LeaderReputationWithAllUpIsRoundRobin) {
  SimConfig c = config(4, 0, 100, "none");
  const SimResult off = run_hotstuff2(c);
  c.leader_reputation = true;
  const SimResult on = run_hotstuff2(c);
  EXPECT_EQ(on.committed_height, off.committed_height);
  EXPECT_EQ(on.messages, off.messages);
}

// Validators that game the reputation: they vote (so they stay in every window)
// but never propose, and others that misbehave in every other way; every fault
// on. Safe and live over a sweep, with reputation on.
TEST(SimTest, LeaderReputationSurvivesByzantineLeaders) {
  for (auto mode : {SimConfig::ByzantineMode::vote_only, SimConfig::ByzantineMode::faults,
                    SimConfig::ByzantineMode::silent}) {
    for (std::uint64_t seed = 1; seed <= 40; ++seed) {
      SimConfig c = config(seed % 2 ? 4 : 7, seed % 2 ? 1 : 2, 120, "all", seed);
      c.byzantine_mode = mode;
      c.leader_reputation = true;
      c.early_proposals = true;
      const SimResult r = run_hotstuff2(c);
      EXPECT_TRUE(r.violations.empty()) << "seed " << seed << ": " << r.violations.front();
      EXPECT_TRUE(r.liveness_ok) << "seed " << seed << ": " << r.liveness_failure;
    }
  }
}

TEST(SimTest, FaultParsing) {
  EXPECT_EQ(*parse_faults("none"), 0u);
  EXPECT_EQ(*parse_faults("loss,crash"),
            (1u << static_cast<unsigned>(Fault::loss)) | (1u << static_cast<unsigned>(Fault::crash)));
  EXPECT_EQ(parse_faults("loss,meteor").error(), SimError::unknown_fault);
  EXPECT_EQ(*parse_scheme("ed25519"), SimScheme::ed25519);
  EXPECT_EQ(parse_scheme("rsa").error(), SimError::unknown_scheme);
}

}  // namespace
}  // namespace kestrel::sim
