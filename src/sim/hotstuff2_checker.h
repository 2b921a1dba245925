// The HotStuff-2 checkers of a simulation (private to src/sim). Safety, after
// every step: no two different blocks committed at one height; each audited
// replica's commits extend its previous commit (height + 1, parent = previous
// id; a re-commit after a crash must be the same block); each votes only in
// views above its last vote and proposes only in views above its last proposal
// (the same proposal again is allowed), across restarts; no commit walk met a
// conflicting committed block. Liveness: after GST the highest honest view may
// not run more than 3n + 12 views past the last commit; all honest replicas
// must reach the target view, and then catch up to the height committed at
// that point within 3 s.
//
// Audited replicas are the honest ones (and, with the test hook
// SimConfig::audit_byzantine, the Byzantine ones too). Violations and liveness
// failures go to the world's SimResult. Thread-safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "consensus/consensus.h"
#include "hotstuff2/core.h"
#include "sim/sim.h"
#include "sim/world.h"

namespace kestrel::sim {

class Hotstuff2Checker {
 public:
  // `cores`: every replica's current core (the protocol part replaces one on
  // restart); read between steps only.
  Hotstuff2Checker(const SimConfig& config, World& world, const std::vector<hotstuff2::Core*>& cores);

  bool audited(ReplicaId r) const { return !world_.byzantine(r) || config_.audit_byzantine; }

  // A proposal left some replica: the start of its block's commit latency.
  void proposal_sent(const hotstuff2::BlockId& id);
  // An audited replica's vote or proposal leaves.
  void check_vote(ReplicaId r, const hotstuff2::Vote& vote);
  void check_proposal(ReplicaId r, const hotstuff2::Block& block);
  // A step of an audited replica completed with these commits.
  void check_step(ReplicaId r, const std::vector<consensus::Commit>& commits);
  // `r` restarted; its core resumes from its restored commit.
  void restarted(ReplicaId r);

  // After every event: false ends the run (liveness failure, or caught up).
  bool keep_running();
  // The run is over: final liveness, counters, latency.
  void finish();

 private:
  struct Chain {
    std::uint64_t height = 0;  // last commit this checker saw, or restored
    hotstuff2::BlockId id;
  };
  using Mark = std::optional<std::pair<hotstuff2::View, hotstuff2::BlockId>>;
  // Heights remembered for the agreement check beyond which those every
  // audited replica has passed are forgotten (none of them commits there again).
  static constexpr std::size_t committed_heights_max = 4096;

  void check_commit(ReplicaId r, const consensus::Commit& commit);
  void forget_passed_heights();
  void check_progress();
  void check_catch_up();
  bool all_honest_reached(std::uint64_t view) const;
  std::uint64_t max_honest_height() const;
  void violation(std::string text);

  SimConfig config_;
  World& world_;
  SimResult& result_;
  const std::vector<hotstuff2::Core*>& cores_;
  std::vector<Chain> chains_;
  std::map<std::uint64_t, hotstuff2::BlockId> committed_at_;
  // Per replica, its last vote and last proposal (view, block id): n records.
  std::vector<Mark> last_vote_, last_proposal_;
  std::map<hotstuff2::BlockId, Tick> proposed_at_;
  std::uint64_t max_commit_view_ = 0;
  std::optional<std::uint64_t> view_at_gst_;
  std::optional<Tick> target_reached_;
  std::uint64_t height_at_target_ = 0;
  double latency_sum_ms_ = 0;
  std::uint64_t latency_count_ = 0;
};

}  // namespace kestrel::sim
