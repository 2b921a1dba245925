#include "sim/hotstuff2_checker.h"

#include <algorithm>
#include <string>

#include "common/assert.h"

namespace kestrel::sim {

namespace hs = kestrel::hotstuff2;

Hotstuff2Checker::Hotstuff2Checker(const SimConfig& config, World& world, const std::vector<hs::Core*>& cores)
    : config_(config),
      world_(world),
      result_(world.result()),
      cores_(cores),
      chains_(config.n),
      last_vote_(config.n),
      last_proposal_(config.n) {
  KESTREL_ASSERT(cores.size() == config.n);
}

void Hotstuff2Checker::violation(std::string text) { result_.violations.push_back(std::move(text)); }

void Hotstuff2Checker::proposal_sent(const hs::BlockId& id) { proposed_at_.emplace(id, world_.now()); }

// A replica votes at most once per view and only in views above its last vote
// (its safety record), across crashes and restarts: a vote at or below its last
// one is a violation. The same vote sent again is one vote (a replica that
// cannot name the next leader sends it to everyone and to itself). One record
// per replica, so the check is bounded by n.
void Hotstuff2Checker::check_vote(ReplicaId r, const hs::Vote& v) {
  KESTREL_ASSERT(r < last_vote_.size());
  Mark& last = last_vote_[r];
  if (last && v.view == last->first && v.block_id == last->second) return;
  if (last && v.view <= last->first) {
    violation("replica " + std::to_string(r) +
              (v.view == last->first ? " voted twice in view " + std::to_string(v.view)
                                     : " voted in view " + std::to_string(v.view) + " after voting in view " +
                                           std::to_string(last->first)));
    return;
  }
  last = std::make_pair(v.view, v.block_id);
}

// An honest leader proposes one block per view, across crashes and restarts, in
// views above its last proposal (last_proposed_view); sending the same proposal
// again is allowed.
void Hotstuff2Checker::check_proposal(ReplicaId r, const hs::Block& block) {
  KESTREL_ASSERT(r < last_proposal_.size());
  Mark& last = last_proposal_[r];
  const hs::BlockId id = block.id();
  if (!last || block.view > last->first) {
    last = std::make_pair(block.view, id);
  } else if (block.view < last->first) {
    violation("replica " + std::to_string(r) + " proposed in view " + std::to_string(block.view) +
              " after proposing in view " + std::to_string(last->first));
  } else if (id != last->second) {
    violation("replica " + std::to_string(r) + " proposed twice in view " + std::to_string(block.view));
  }
}

void Hotstuff2Checker::check_step(ReplicaId r, const std::vector<consensus::Commit>& commits) {
  KESTREL_ASSERT(audited(r));
  for (const consensus::Commit& c : commits) check_commit(r, c);
  if (cores_[r]->replica().counters().safety_alarms > 0 && result_.violations.empty()) {
    violation("replica " + std::to_string(r) + "'s commit walk met a block conflicting with its committed chain");
  }
  if (committed_at_.size() > committed_heights_max) forget_passed_heights();
}

void Hotstuff2Checker::check_commit(ReplicaId r, const consensus::Commit& commit) {
  Chain& chain = chains_[r];
  auto [it, inserted] = committed_at_.emplace(commit.sequence, commit.id);
  if (!inserted && it->second != commit.id) {
    violation("two different blocks committed at height " + std::to_string(commit.sequence) + " (replica " +
              std::to_string(r) + ")");
    return;
  }
  // A replica that crashed before its commit reached its disk commits again:
  // it must be the same block (checked above against the global record).
  if (commit.sequence <= chain.height) return;
  // The entry's proof is the block's header: it names the parent and the view.
  auto block = hs::block_of_commit(commit.proof, commit.payload, commit.id);
  if (!block) {
    violation("replica " + std::to_string(r) + " commit at height " + std::to_string(commit.sequence) + ": " +
              block.error());
    return;
  }
  if (commit.sequence != chain.height + 1 || (commit.sequence > 1 && block->parent != chain.id)) {
    violation("replica " + std::to_string(r) + " commit at height " + std::to_string(commit.sequence) +
              " does not extend its previous commit");
    return;
  }
  chain.height = commit.sequence;
  chain.id = commit.id;
  max_commit_view_ = std::max(max_commit_view_, block->view);
  if (auto p = proposed_at_.find(commit.id); p != proposed_at_.end()) {
    latency_sum_ms_ += static_cast<double>(world_.now() - p->second);
    ++latency_count_;
    proposed_at_.erase(p);
  }
  if (world_.tracing()) {
    world_.trace("commit " + std::to_string(r) + " h=" + std::to_string(commit.sequence) +
                 " v=" + std::to_string(block->view));
  }
}

// Every audited replica commits only above its own last commit, so heights at
// or below the lowest of them are never checked again.
void Hotstuff2Checker::forget_passed_heights() {
  std::optional<std::uint64_t> lowest;
  for (ReplicaId r = 0; r < chains_.size(); ++r) {
    if (audited(r)) lowest = std::min(lowest.value_or(UINT64_MAX), chains_[r].height);
  }
  if (lowest) committed_at_.erase(committed_at_.begin(), committed_at_.upper_bound(*lowest));
}

void Hotstuff2Checker::restarted(ReplicaId r) {
  const hs::Replica& replica = cores_[r]->replica();
  if (replica.committed_height() == 0) return;
  chains_[r] = {replica.committed_height(), replica.committed_block()};
}

bool Hotstuff2Checker::keep_running() {
  if (world_.now() >= world_.gst()) check_progress();
  if (!result_.liveness_ok) return false;
  if (!target_reached_ && all_honest_reached(config_.views)) {
    target_reached_ = world_.now();
    height_at_target_ = max_honest_height();
  }
  return !target_reached_ || world_.now() < *target_reached_ + 3000;
}

// After GST a view lasts at most a few message delays unless its leader is
// faulty, and at most f + 1 views in a row lose their leader, so the honest
// views may not run far past the view of the last commit.
void Hotstuff2Checker::check_progress() {
  std::uint64_t max_view = 0;
  for (ReplicaId r = 0; r < config_.n; ++r) {
    if (!world_.byzantine(r) && world_.up(r)) max_view = std::max(max_view, cores_[r]->replica().view());
  }
  if (!view_at_gst_) view_at_gst_ = max_view;
  const std::uint64_t bound = 3ull * config_.n + 12;
  const std::uint64_t base = std::max(*view_at_gst_, max_commit_view_);
  if (max_view > base + bound) {
    result_.liveness_ok = false;
    result_.liveness_failure = "after GST, honest view " + std::to_string(max_view) + " ran " +
                               std::to_string(max_view - base) + " views past the last commit (bound " +
                               std::to_string(bound) + ")";
  }
}

bool Hotstuff2Checker::all_honest_reached(std::uint64_t view) const {
  for (ReplicaId r = 0; r < config_.n; ++r) {
    if (world_.byzantine(r)) continue;
    if (!world_.up(r) || cores_[r]->replica().view() < view) return false;
  }
  return true;
}

std::uint64_t Hotstuff2Checker::max_honest_height() const {
  std::uint64_t h = 0;
  for (ReplicaId r = 0; r < config_.n; ++r) {
    if (!world_.byzantine(r)) h = std::max(h, chains_[r].height);
  }
  return h;
}

void Hotstuff2Checker::check_catch_up() {
  if (!target_reached_) {
    result_.liveness_ok = false;
    result_.liveness_failure = "honest replicas did not all reach view " + std::to_string(config_.views) + " by t=" +
                               std::to_string(world_.now()) + " ms (GST " + std::to_string(world_.gst()) + " ms)";
    return;
  }
  for (ReplicaId r = 0; r < config_.n; ++r) {
    if (world_.byzantine(r)) continue;
    if (chains_[r].height < height_at_target_) {
      result_.liveness_ok = false;
      result_.liveness_failure = "replica " + std::to_string(r) + " stuck at height " +
                                 std::to_string(chains_[r].height) + " < " + std::to_string(height_at_target_) +
                                 " after catch-up time";
    }
  }
}

void Hotstuff2Checker::finish() {
  result_.committed_height = max_honest_height();
  if (result_.violations.empty() && result_.liveness_ok) check_catch_up();
  for (ReplicaId r = 0; r < config_.n; ++r) {
    const hs::Counters& counters = cores_[r]->replica().counters();
    for (auto d : counters.dropped) result_.dropped_by_cores += d;
    if (audited(r) && counters.safety_alarms > 0 && result_.violations.empty()) {
      violation("a replica's commit walk met a conflicting committed block");
    }
  }
  if (latency_count_ > 0) result_.commit_latency_ms = latency_sum_ms_ / static_cast<double>(latency_count_);
  result_.latency_samples = latency_count_;
}

}  // namespace kestrel::sim
