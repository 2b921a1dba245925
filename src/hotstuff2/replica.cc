// The HotStuff-2 replica. Rules are cited by docs/consensus.md section; the
// paper's sections are cited where a rule comes from it.
#include <algorithm>

#include "common/assert.h"
#include "common/limits.h"
#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {

const char* describe(Drop drop) {
  switch (drop) {
    case Drop::stale_view: return "stale_view";
    case Drop::future_view: return "future_view";
    case Drop::not_leader: return "not_leader";
    case Drop::bad_certificate: return "bad_certificate";
    case Drop::bad_block: return "bad_block";
    case Drop::duplicate: return "duplicate";
    case Drop::vote_rule: return "vote_rule";
    case Drop::full: return "full";
    case Drop::unknown_block: return "unknown_block";
    case Drop::bad_fetch_response: return "bad_fetch_response";
    case Drop::wrong_sender: return "wrong_sender";
    case Drop::local_input: return "local_input";
    case Drop::bad_view: return "bad_view";
    case Drop::too_far_behind: return "too_far_behind";
    case Drop::fetch_budget: return "fetch_budget";
    case Drop::count_: break;
  }
  return "unknown";
}

Replica::Replica(const Config& config, const RestoredState& restored)
    : config_(config), genesis_(genesis_block(config.chain_id)), genesis_id_(id_of(genesis_)) {
  KESTREL_ASSERT(config_.n >= 1 && config_.n <= 128);
  KESTREL_ASSERT(config_.self < config_.n);
  KESTREL_ASSERT(config_.view_timeout_ticks > 0 && config_.view_timeout_ticks <= config_.view_timeout_ticks_max);
  KESTREL_ASSERT(config_.idle_propose_delay_ticks < config_.view_timeout_ticks);
  // Configuration must agree with the wire limits, or our own messages would
  // trip the encoder's assertions or be refused by peers' decoders.
  KESTREL_ASSERT(config_.fetch_blocks_max >= 1 && config_.fetch_blocks_max <= limits::consensus_fetch_blocks_max);
  KESTREL_ASSERT(config_.payload_bytes_max <= limits::block_payload_bytes_max);
  KESTREL_ASSERT(config_.blocks_max >= 16 && config_.commit_walk_max >= 1);
  KESTREL_ASSERT(config_.stored_payload_bytes_max >= config_.payload_bytes_max);
  if (config_.reputation_window_blocks == 0) {
    config_.reputation_window_blocks = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(std::max<std::uint32_t>(config_.n, 4), config_.keep_committed_blocks));
  }
  KESTREL_ASSERT(config_.reputation_window_blocks >= 1 &&
                 config_.reputation_window_blocks <= limits::consensus_reputation_window_blocks_max &&
                 config_.reputation_window_blocks <= std::max<Height>(config_.keep_committed_blocks, 1));
  blocks_.emplace(genesis_id_, genesis_);
  safety_.locked_qc = genesis_qc(genesis_);
  committed_ = {0, genesis_id_};
  if (restored.safety) safety_ = *restored.safety;
  if (restored.commit) committed_ = *restored.commit;
  // Our own storage (trusted). Keep the newest blocks when there are more than
  // fit: highest first, so the committed head, the lock and the recent chain stay.
  std::vector<const Block*> newest;
  for (const Block& block : restored.blocks) newest.push_back(&block);
  std::stable_sort(newest.begin(), newest.end(),
                   [](const Block* a, const Block* b) { return a->height > b->height; });
  for (const Block* block : newest) {
    if (blocks_.size() >= config_.blocks_max) break;
    if (stored_payload_bytes_ + block->payload.size() > config_.stored_payload_bytes_max) break;
    if (blocks_.emplace(id_of(*block), *block).second) stored_payload_bytes_ += block->payload.size();
  }
  // Resume in the highest view our record proves we reached (docs "Restart").
  // Not last_proposed_view: a real proposal's view is also our vote's (or our
  // timeout's), while a reserved one (reserve_next_proposal) is a view we may
  // never have reached, and a replica alone in a view the others did not reach
  // cannot join their timeout certificates (found by the simulator's sweeps).
  view_ = std::max<View>({1, safety_.locked_qc.view + 1, safety_.last_voted_view, safety_.last_timeout_view});
  restart_proposal_bar_ = safety_.last_proposed_view;
  proposed_in_view_ = restart_proposal_bar_ >= view_;
  // The proposals we stored for the views ahead are each view's first proposal:
  // a leader's other block for such a view stays an equivocation after restart.
  for (const auto& [id, block] : blocks_) {
    if (block.view >= view_) first_proposal_.emplace(block.view, id);
  }
}

Tick Replica::timeout_duration() const {
  // Exponential back-off (docs "Pacemaker"): doubles per consecutive timeout.
  // With leader reputation the first f + 1 are free: consecutive views after a
  // TC have distinct (round-robin) leaders, so a run of up to f + 1 timeouts (one
  // reputation view, then f round-robin ones) is explained by f validators that
  // are down, and only a longer run shows a slow network, which the back-off is for.
  const std::uint32_t grace = config_.leader_reputation ? config_.f() + 1 : 0;
  const std::uint32_t doublings = consecutive_timeouts_ > grace ? consecutive_timeouts_ - grace : 0;
  Tick t = config_.view_timeout_ticks;
  for (std::uint32_t i = 0; i < doublings && t < config_.view_timeout_ticks_max; ++i) t *= 2;
  return std::min(t, config_.view_timeout_ticks_max);
}

bool Replica::is_genesis_qc(const QuorumCertificate& qc) const {
  return qc.view == 0 && qc.block_id == genesis_id_ && qc.signatures.empty();
}

void Replica::step(const Input& input, Output& out) {
  if (const auto* received = std::get_if<Received>(&input)) {
    step_received(received->from, received->message, received->now, out);
    return;
  }
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, Start>) {
          on_start(in.now, out);
        } else if constexpr (std::is_same_v<T, TickInput>) {
          on_tick(in.now, out);
        } else if constexpr (std::is_same_v<T, Received>) {
          KESTREL_ASSERT(false);  // stepped by step_received above
        } else {
          static_assert(std::is_same_v<T, PayloadReady>);
          if (in.payload.size() > config_.payload_bytes_max) {
            drop(Drop::local_input);
            return;
          }
          KESTREL_ASSERT(!in.hold || in.payload.empty());
          pending_payload_ = in.payload;
          payload_held_ = in.hold;
        }
      },
      input);
  finish_step(out);
}

void Replica::step_received(ReplicaId from, const Message& message, Tick now, Output& out) {
  now_ = std::max(now_, now);
  if (from >= config_.n) {
    drop(Drop::wrong_sender);
  } else {
    on_message(from, message, out);
  }
  finish_step(out);
}

void Replica::finish_step(Output& out) {
  drain_buffered(out);
  if (started_) try_propose(out, propose_wait_expired_);
  arm_timer(out);
  KESTREL_ASSERT(safety_.last_voted_view <= view_);
  KESTREL_DEBUG_ASSERT(blocks_.size() <= config_.blocks_max + 1);
}

void Replica::persisted() {
  // Contract 3: every record of the outputs so far is durable, the reservation
  // of our next proposal's view (reserve_next_proposal) included.
  durable_proposal_view_ = safety_.last_proposed_view;
}

void Replica::on_start(Tick now, Output& out) {
  now_ = now;
  started_ = true;
  view_deadline_ = now_ + timeout_duration();
  if (leader_of(view_, config_.n) == config_.self && safety_.locked_qc.view + 1 != view_) {
    propose_wait_deadline_ = now_ + config_.propose_wait_ticks;
  }
  try_propose(out, false);
}

void Replica::on_tick(Tick now, Output& out) {
  now_ = std::max(now_, now);
  if (!started_) return;
  if (now_ >= view_deadline_) local_timeout(out);
  if (propose_wait_deadline_ != 0 && now_ >= propose_wait_deadline_) {
    propose_wait_expired_ = true;
    propose_wait_deadline_ = 0;
  }
}

void Replica::arm_timer(Output& out) {
  if (!started_) return;
  Tick wake = view_deadline_;
  if (propose_wait_deadline_ != 0) wake = std::min(wake, propose_wait_deadline_);
  // A deadline already passed (the proposal waits for a missing parent block)
  // must not wake us in a loop; the block's arrival is a step of its own.
  if (idle_deadline_ > now_ && !proposed_in_view_) wake = std::min(wake, idle_deadline_);
  out.wake_at_tick = wake;
}

void Replica::on_message(ReplicaId from, const Message& message, Output& out) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Proposal>) on_proposal(from, m, out);
        else if constexpr (std::is_same_v<T, Vote>) on_vote(from, m, out);
        else if constexpr (std::is_same_v<T, Timeout>) on_timeout(from, m, out);
        else if constexpr (std::is_same_v<T, SyncCertificates>) on_sync(from, m, out);
        else if constexpr (std::is_same_v<T, FetchRequest>) on_fetch_request(from, m, out);
        else on_fetch_response(from, m, out);
      },
      message);
}

// --- Validation -------------------------------------------------------------------

bool Replica::valid_qc(const QuorumCertificate& qc) const {
  if (is_genesis_qc(qc)) return true;
  if (qc.view == 0) return false;  // only genesis lives in view 0
  if (qc.signatures.size() < config_.quorum()) return false;
  for (std::size_t i = 0; i < qc.signatures.size(); ++i) {
    if (qc.signatures[i].signer >= config_.n) return false;
    if (i > 0 && qc.signatures[i].signer <= qc.signatures[i - 1].signer) return false;
  }
  return true;
}

bool Replica::valid_tc(const TimeoutCertificate& tc) const {
  if (tc.view == 0 || tc.entries.size() < config_.quorum()) return false;
  for (std::size_t i = 0; i < tc.entries.size(); ++i) {
    if (tc.entries[i].signer >= config_.n) return false;
    if (i > 0 && tc.entries[i].signer <= tc.entries[i - 1].signer) return false;
  }
  return true;
}

// Checks what a block says about itself; parent-dependent checks (height) are
// done where the parent is known.
bool Replica::valid_block_shape(const Block& b) const {
  if (b.view == 0) return false;  // only genesis
  if (b.proposer >= config_.n) return false;
  // Round robin is checked here; a reputation leader depends on the parent's
  // window, so on_proposal checks it (a fetched block is fixed by the hash chain
  // from a certified id, whose voters checked its proposer).
  if (!config_.leader_reputation && b.proposer != leader_of(b.view, config_.n)) return false;
  if (b.justify.block_id != b.parent) return false;
  if (b.justify.view >= b.view) return false;
  if (b.height == 0) return false;
  if (b.payload.size() > config_.payload_bytes_max) return false;
  return valid_qc(b.justify);
}

// --- Certificates, lock, commit rule, views ------------------------------------------

void Replica::persist_safety(Output& out) {
  // One safety record per output is enough: later ones supersede earlier ones.
  if (!out.persist.empty() && std::holds_alternative<SafetyRecord>(out.persist.back())) {
    out.persist.back() = safety_;
  } else {
    out.persist.emplace_back(safety_);
  }
}

// Commit rule (docs "Commit rule"; paper section 4): a QC for block P in view v,
// where P's own justify certifies its parent G in view v - 1, commits G (and its
// ancestors): G and P are certified in consecutive views.
void Replica::apply_commit_rule(const QuorumCertificate& qc) {
  auto p = blocks_.find(qc.block_id);
  if (p == blocks_.end()) return;
  const Block& block = p->second;
  if (block.view != qc.view) return;  // a QC certifies a block in the block's own view
  if (block.justify.view + 1 != block.view) return;  // non-consecutive: no commit
  if (is_genesis_qc(block.justify)) return;            // genesis is committed already
  const BlockId& target = block.justify.block_id;
  auto g = blocks_.find(target);
  if (g == blocks_.end()) return;  // fetched before the walk (try_commit asks)
  if (g->second.height <= committed_.height) return;
  if (commit_target_) {
    auto current = blocks_.find(*commit_target_);
    KESTREL_ASSERT(current != blocks_.end());  // targets are chosen among stored blocks and not pruned
    if (current->second.height >= g->second.height) return;
  }
  commit_target_ = target;
}

bool Replica::process_qc(const QuorumCertificate& qc, ReplicaId from, Output& out) {
  if (!valid_qc(qc)) {
    drop(Drop::bad_certificate);
    return false;
  }
  if (qc.view > safety_.locked_qc.view) {
    // Lock rule (docs "Lock"): HotStuff-2 locks on the highest QC seen.
    safety_.locked_qc = qc;
    consecutive_timeouts_ = 0;  // progress: reset the back-off
    persist_safety(out);
  }
  if (!blocks_.count(qc.block_id)) {
    // Fetch only what we now lock on: old certificates (which anyone may replay)
    // must not crowd out fetches that matter. The commit walk and proposals ask
    // for the other blocks they need.
    if (qc.view >= safety_.locked_qc.view) request_block(qc.block_id, from, out);
  } else {
    apply_commit_rule(qc);
    try_commit(out);
  }
  if (qc.view >= view_) enter_view(qc.view + 1, out);
  return true;
}

bool Replica::process_tc(const TimeoutCertificate& tc, Output& out) {
  if (!valid_tc(tc)) {
    drop(Drop::bad_certificate);
    return false;
  }
  if (!last_tc_ || tc.view > last_tc_->view) last_tc_ = tc;
  if (tc.view >= view_) enter_view(tc.view + 1, out);
  return true;
}

void Replica::enter_view(View view, Output& out) {
  KESTREL_ASSERT(view > view_);
  view_ = view;
  view_entered_at_ = now_;
  ++counters_.view_changes;
  proposed_in_view_ = restart_proposal_bar_ >= view;  // proposed (or reserved) before a restart
  propose_wait_expired_ = false;
  propose_wait_deadline_ = 0;
  idle_deadline_ = 0;
  synced_in_view_.clear();
  fetches_served_in_view_.clear();
  view_deadline_ = now_ + timeout_duration();
  // Forget state for views that can no longer matter (bounded maps).
  while (!votes_.empty() && votes_.begin()->first.first < view_ - 1) votes_.erase(votes_.begin());
  while (!timeouts_.empty() && timeouts_.begin()->first < view_ - 1) timeouts_.erase(timeouts_.begin());
  while (!first_proposal_.empty() && first_proposal_.begin()->first < view_) {
    first_proposal_.erase(first_proposal_.begin());
  }
  if (leader_of(view_, config_.n) == config_.self && safety_.locked_qc.view + 1 != view_) {
    // Non-responsive leader (docs "Pacemaker"): wait for high QCs in timeouts.
    propose_wait_deadline_ = now_ + config_.propose_wait_ticks;
  }
  try_propose(out, false);
}

// --- Proposals and votes ---------------------------------------------------------------

// True when a block between the lock and our committed head carries payload: the
// next block must follow at once so that payload commits (idle_propose_delay).
bool Replica::uncommitted_payload_below_lock() const {
  BlockId cursor = safety_.locked_qc.block_id;
  for (std::size_t steps = 0; steps < config_.commit_walk_max; ++steps) {
    auto it = blocks_.find(cursor);
    if (it == blocks_.end() || it->second.height <= committed_.height) return false;
    if (!it->second.payload.empty()) return true;
    cursor = it->second.parent;
  }
  return false;
}

// True when the lock's QC is what commits a block with payload (the locked
// block's parent, one view earlier: the two-chain rule). The other replicas learn
// of that commit only from the QC our proposal carries, so the proposal must not
// wait for the idle delay either (at light load the last block of a burst would
// otherwise reach its clients idle_propose_delay late everywhere but here).
bool Replica::lock_commits_payload() const {
  auto locked = blocks_.find(safety_.locked_qc.block_id);
  if (locked == blocks_.end()) return false;
  auto parent = blocks_.find(locked->second.parent);
  if (parent == blocks_.end() || parent->first == genesis_id_) return false;
  return parent->second.view + 1 == locked->second.view && !parent->second.payload.empty();
}

void Replica::try_propose(Output& out, bool wait_expired) {
  if (!started_ || proposed_in_view_) return;
  const bool responsive = safety_.locked_qc.view + 1 == view_;
  // The responsive leader is read from the locked block's window (docs "Leaders").
  BlockId missing;
  const std::optional<ReplicaId> leader =
      responsive ? responsive_leader(view_, safety_.locked_qc.block_id, &missing) : leader_of(view_, config_.n);
  if (!leader) {
    // Ask a signer of our lock: it voted for the locked block, so it holds it and
    // its window (the next view's round-robin leader may be the one that is down).
    ReplicaId target = leader_of(safety_.locked_qc.view + 1, config_.n);
    for (const SignedBy& s : safety_.locked_qc.signatures) {
      if (s.signer != config_.self) {
        target = s.signer;
        break;
      }
    }
    request_block(missing, target, out);
    return;  // retried when the block arrives
  }
  KESTREL_ASSERT(*leader < config_.n);
  if (*leader != config_.self) return;
  // With reputation, a view after a timeout needs the TC to propose (on_proposal).
  if (config_.leader_reputation && !responsive && !(last_tc_ && last_tc_->view + 1 == view_)) return;
  // What keeps a restarted leader from proposing twice in a view (or in one it
  // reserved): proposed_in_view_ is set for every view at or below the bar.
  KESTREL_ASSERT(view_ > restart_proposal_bar_);
  bool all_timeouts = false;
  if (auto t = timeouts_.find(view_ - 1); t != timeouts_.end()) {
    all_timeouts = t->second.entries.size() == config_.n;
  }
  if (!responsive && !wait_expired && !all_timeouts) return;
  if (responsive && config_.idle_propose_delay_ticks != 0 && pending_payload_.empty() &&
      (payload_held_ || !(uncommitted_payload_below_lock() || lock_commits_payload()))) {
    if (idle_deadline_ == 0) idle_deadline_ = now_ + config_.idle_propose_delay_ticks;
    if (now_ < idle_deadline_) return;  // arm_timer wakes us at the deadline
  }
  auto parent = blocks_.find(safety_.locked_qc.block_id);
  if (parent == blocks_.end()) {
    request_block(safety_.locked_qc.block_id, leader_of(safety_.locked_qc.view + 1, config_.n), out);
    return;
  }
  Proposal proposal;
  Block& b = proposal.block;
  b.parent = safety_.locked_qc.block_id;
  b.view = view_;
  b.height = parent->second.height + 1;
  b.proposer = config_.self;
  b.justify = safety_.locked_qc;
  b.payload = std::move(pending_payload_);
  pending_payload_.clear();
  payload_held_ = false;
  if (!responsive && last_tc_ && last_tc_->view + 1 == view_) proposal.tc = last_tc_;
  const BlockId id = id_of(b);
  if (!store_block(b, id, out)) return;  // counted; the view times out
  proposed_in_view_ = true;
  out.proposed = true;
  ++counters_.proposals_sent;
  first_proposal_.emplace(view_, id);
  // Durable before the proposal leaves: one proposal per view, across restarts.
  // (The leader's own vote below updates this same record in the output.) With
  // reserve_next_proposal, a durable record may have reserved this view already
  // (try_vote): then the proposal need not wait for this output's records.
  const bool reserved = config_.reserve_next_proposal && durable_proposal_view_ >= view_;
  safety_.last_proposed_view = std::max(safety_.last_proposed_view, view_);
  persist_safety(out);
  out.sends.push_back({std::nullopt, proposal, reserved});
  if (reserved) ++counters_.early_proposals;
  try_vote(b, id, out);
  KESTREL_ASSERT(blocks_.count(id) || blocks_.size() >= config_.blocks_max);
}

// Vote rule (docs "Vote rule"; paper section 4): vote for a proposal of the
// current view, at most once per view, when its justify QC is at least as high
// as our lock. last_voted_view is persisted before the vote leaves (contract 3).
void Replica::try_vote(const Block& b, const BlockId& id, Output& out) {
  if (b.view != view_) return;
  if (b.view <= safety_.last_voted_view) return;  // at most once per view
  // A replica that timed out in a view no longer votes in it (docs "Vote rule"):
  // its timeout reported its high QC, and a QC formed after that would not be
  // reflected in the TC the next leader builds on.
  if (b.view <= safety_.last_timeout_view) {
    drop(Drop::vote_rule);
    return;
  }
  if (b.justify.view < safety_.locked_qc.view) {
    drop(Drop::vote_rule);
    return;
  }
  safety_.last_voted_view = b.view;
  // The next view's leader, which forms the QC of this block and proposes on it.
  BlockId missing;
  const std::optional<ReplicaId> next = responsive_leader(b.view + 1, id, &missing);
  if (config_.reserve_next_proposal && next == config_.self) {
    // Reserve our next view's proposal in the record this vote persists anyway.
    safety_.last_proposed_view = std::max(safety_.last_proposed_view, b.view + 1);
  }
  persist_safety(out);
  Vote vote;
  vote.view = b.view;
  vote.block_id = id;
  vote.voter = config_.self;
  // Pipelining (docs "Happy path"): votes go to the next view's leader, which
  // forms the QC and proposes on it; the happy path stays linear in n.
  if (next) {
    if (*next != leader_of(b.view + 1, config_.n)) ++counters_.reputation_skips;
    out.sends.push_back({*next, vote});
  } else {
    // Part of the block's reputation window is not here (a block that came by
    // the round-robin path after a gap): everyone, ourselves included, gets the
    // vote, so the leader has it whoever it is; the window is fetched.
    out.sends.push_back({std::nullopt, vote});
    out.sends.push_back({config_.self, vote});
    request_block(missing, b.proposer, out);
  }
  ++counters_.votes_sent;
}

// Stores a block and persists it. Returns false (counted) when it cannot be
// kept even after evicting forks and uncertified blocks.
bool Replica::store_block(const Block& block, const BlockId& id, Output& out) {
  if (blocks_.count(id)) return true;
  if (!make_room(block.payload.size())) {
    drop(Drop::full);
    return false;
  }
  blocks_.emplace(id, block);
  stored_payload_bytes_ += block.payload.size();
  out.persist.emplace_back(block);
  fetches_in_flight_.erase(id);
  // A block that arrives after the QC naming it may complete a commit rule.
  if (safety_.locked_qc.block_id == id) apply_commit_rule(safety_.locked_qc);
  KESTREL_DEBUG_ASSERT(blocks_.size() <= config_.blocks_max);
  return true;
}

// Frees room for one block of `payload_bytes`: first what prune() drops, then
// blocks above the committed head that are not on the chain from the lock down
// (forks and uncertified proposals), oldest view first. The committed tail, the
// locked chain and genesis are never evicted here.
bool Replica::make_room(std::size_t payload_bytes) {
  auto fits = [&] {
    return blocks_.size() < config_.blocks_max &&
           stored_payload_bytes_ + payload_bytes <= config_.stored_payload_bytes_max;
  };
  if (fits()) return true;
  prune();
  if (fits()) return true;
  std::set<BlockId> keep{genesis_id_, committed_.block_id};
  BlockId cursor = safety_.locked_qc.block_id;
  for (std::size_t steps = 0; steps < config_.commit_walk_max; ++steps) {
    auto it = blocks_.find(cursor);
    if (it == blocks_.end() || it->second.height <= committed_.height) break;
    keep.insert(cursor);
    cursor = it->second.parent;
  }
  std::vector<std::pair<View, BlockId>> evictable;
  for (const auto& [id, block] : blocks_) {
    if (block.height > committed_.height && !keep.count(id)) evictable.emplace_back(block.view, id);
  }
  std::sort(evictable.begin(), evictable.end());
  for (const auto& [view, id] : evictable) {
    if (fits()) break;
    auto it = blocks_.find(id);
    stored_payload_bytes_ -= it->second.payload.size();
    if (commit_target_ && *commit_target_ == id) commit_target_.reset();
    blocks_.erase(it);
  }
  return fits();
}

void Replica::on_proposal(ReplicaId from, const Proposal& p, Output& out) {
  const Block& b = p.block;
  // The view's leader (docs "Leaders"); nullopt while part of the reputation
  // window is missing: the proposal is buffered below and the block fetched.
  BlockId missing;
  const std::optional<ReplicaId> leader = proposal_leader(b, &missing);
  if (from != b.proposer || b.proposer >= config_.n || (leader && b.proposer != *leader)) {
    drop(Drop::not_leader);
    return;
  }
  // With reputation, a view has a round-robin leader only after a TC of the view
  // before it, and the proposal must carry that TC: otherwise a round-robin
  // leader could propose on an older QC in a view whose QC(v - 1) exists and take
  // the reputation leader's place at replicas that see it first.
  if (config_.leader_reputation && b.justify.view + 1 != b.view && !(p.tc && p.tc->view + 1 == b.view)) {
    drop(Drop::not_leader);
    return;
  }
  if (!valid_block_shape(b)) {
    drop(Drop::bad_block);
    return;
  }
  // Certificates first: they may move us into the proposal's view.
  if (p.tc && !process_tc(*p.tc, out)) return;
  if (!process_qc(b.justify, from, out)) return;
  if (b.view < view_) {
    drop(Drop::stale_view);
    return;
  }
  if (b.view > view_ + config_.view_jump_max) {
    drop(Drop::future_view);
    return;
  }
  const BlockId id = id_of(b);
  // One proposal per view is kept (paper section 4: an honest leader sends one).
  // A second one is equivocation: counted, not stored, never voted for; it is
  // fetched later only if a QC names it. This bounds what a Byzantine leader can
  // make us store to one block per view it leads.
  auto first = first_proposal_.find(b.view);
  if (first != first_proposal_.end() && first->second != id) {
    // With leader reputation a view can also have a round-robin leader's
    // proposal after a timeout certificate: the same view, another proposer.
    auto kept = blocks_.find(first->second);
    if (kept != blocks_.end() && kept->second.proposer != b.proposer) {
      drop(Drop::duplicate);
    } else {
      ++counters_.equivocations_seen;
    }
    return;
  }
  auto parent = blocks_.find(b.parent);
  if (b.view > view_ || parent == blocks_.end() || !leader) {
    // Ahead of us, or its parent (or reputation window) is missing: buffer
    // (bounded) and retry later.
    if (parent == blocks_.end()) {
      request_block(b.parent, from, out);
    } else if (!leader) {
      request_block(missing, from, out);
    }
    // Keyed by (view, proposer): while a reputation window is missing the
    // proposer cannot be checked yet, and another validator's proposal for the
    // view must not take the leader's place in the buffer.
    const auto key = std::make_pair(b.view, b.proposer);
    if (!future_proposals_.count(key) && future_proposals_.size() >= config_.future_proposals_max) {
      // Full: the proposal furthest ahead gives way to a nearer one, so proposals
      // sent far ahead cannot crowd out the views we are about to enter.
      auto furthest = std::prev(future_proposals_.end());
      if (furthest->first.first <= b.view) {
        drop(Drop::full);
        return;
      }
      future_proposals_.erase(furthest);
      drop(Drop::full);
    }
    future_proposals_.emplace(key, p);
    KESTREL_DEBUG_ASSERT(future_proposals_.size() <= config_.future_proposals_max);
    return;
  }
  const Block& parent_block = parent->second;
  if (b.height != parent_block.height + 1 || b.justify.view != parent_block.view) {
    drop(Drop::bad_block);
    return;
  }
  if (blocks_.count(id)) {
    // Known already (re-delivered, restored after a restart, or fetched): it is
    // this view's proposal; vote if we have not.
    first_proposal_.emplace(b.view, id);
    if (b.view <= safety_.last_voted_view) {
      drop(Drop::duplicate);
      return;
    }
    try_vote(b, id, out);
    return;
  }
  if (!store_block(b, id, out)) return;  // never vote for a block we could not keep
  first_proposal_.emplace(b.view, id);
  try_vote(b, id, out);
}

void Replica::drain_buffered(Output& out) {
  // Each buffered proposal is retried at most once per step (no recursion, no
  // unbounded loop): collect the eligible views first.
  std::vector<std::pair<View, ReplicaId>> ready;
  for (const auto& [key, proposal] : future_proposals_) {
    if (key.first > view_) break;
    ready.push_back(key);
  }
  for (const auto& key : ready) {
    auto it = future_proposals_.find(key);
    if (it == future_proposals_.end()) continue;
    Proposal p = std::move(it->second);
    future_proposals_.erase(it);
    if (key.first < view_) {
      drop(Drop::stale_view);
      continue;
    }
    on_proposal(p.block.proposer, p, out);
  }
}

void Replica::on_vote(ReplicaId from, const Vote& v, Output& out) {
  if (v.voter != from) {
    drop(Drop::wrong_sender);
    return;
  }
  // Future first, so that v.view + 1 below cannot overflow.
  if (v.view > view_ + config_.vote_views_max) {
    drop(Drop::future_view);
    return;
  }
  if (v.view == 0 || v.view < view_ - 1) {
    drop(Drop::stale_view);
    return;
  }
  // Votes go to the next view's leader (docs "Leaders"): with reputation, a vote
  // for a block whose window we cannot read yet is kept (bounded like the rest).
  if (const auto leader = responsive_leader(v.view + 1, v.block_id, nullptr); leader && *leader != config_.self) {
    drop(Drop::not_leader);
    return;
  }
  // One vote per voter per view: a second one (double vote) is dropped.
  for (auto it = votes_.lower_bound({v.view, BlockId{}}); it != votes_.end() && it->first.first == v.view; ++it) {
    if (it->second.signatures.count(v.voter)) {
      drop(Drop::duplicate);
      return;
    }
  }
  const auto key = std::make_pair(v.view, v.block_id);
  auto it = votes_.find(key);
  if (it == votes_.end()) {
    // Votes are accepted for views [view_ - 1, view_ + vote_views_max] and one per
    // voter per view, so at most (vote_views_max + 2) * n sets exist; the cap below
    // is that structural bound, kept as a check. Were it reached, the sets
    // furthest in the future give way, so votes sent ahead can never crowd out
    // the views we are in.
    if (votes_.size() >= (config_.vote_views_max + 2) * config_.n) {
      const View furthest = votes_.rbegin()->first.first;
      if (v.view >= furthest) {
        drop(Drop::full);
        return;
      }
      votes_.erase(votes_.lower_bound({furthest, BlockId{}}), votes_.end());
      drop(Drop::full);
    }
    it = votes_.emplace(key, VoteSet{}).first;
  }
  it->second.signatures.emplace(v.voter, v.signature);
  if (it->second.signatures.size() != config_.quorum()) return;
  // Quorum: form the QC (signatures in signer order, as the bitmap encodes them).
  QuorumCertificate qc;
  qc.view = v.view;
  qc.block_id = v.block_id;
  for (const auto& [signer, signature] : it->second.signatures) qc.signatures.push_back({signer, signature});
  ++counters_.qcs_formed;
  process_qc(qc, from, out);
}

// --- Timeouts -----------------------------------------------------------------------

void Replica::local_timeout(Output& out) {
  safety_.last_timeout_view = std::max(safety_.last_timeout_view, view_);
  persist_safety(out);
  Timeout t;
  t.view = view_;
  t.high_qc = safety_.locked_qc;
  t.sender = config_.self;
  out.sends.push_back({std::nullopt, t});      // every other replica
  out.sends.push_back({config_.self, t});      // ourselves: signed by the driver, counted in the TC
  ++counters_.timeouts_sent;
  if (consecutive_timeouts_ < 32) ++consecutive_timeouts_;
  view_deadline_ = now_ + timeout_duration();  // retransmit if the view does not end
  // Catch-up answers are retransmitted too (once per peer per timeout period):
  // one lost before the network healed must not leave a laggard behind for good.
  synced_in_view_.clear();
}

void Replica::on_timeout(ReplicaId from, const Timeout& t, Output& out) {
  if (t.sender != from) {
    drop(Drop::wrong_sender);
    return;
  }
  if (t.view == 0) {
    drop(Drop::bad_view);
    return;
  }
  if (t.view > view_ + config_.timeout_views_max) {
    drop(Drop::future_view);
    return;
  }
  // A replica one view behind is answered only once we have been in our view
  // for half a view timeout: its timeout then is a retransmission (it is stuck),
  // not the usual late timeout of a view we just left by a TC it will form too.
  const bool stuck_behind = t.view + 1 < view_ || now_ >= view_entered_at_ + config_.view_timeout_ticks / 2;
  if (t.view < view_ && stuck_behind && from != config_.self && synced_in_view_.insert(from).second) {
    // A replica behind us (once per peer per view, so a replay cannot make us
    // amplify; docs "Pacemaker"): send it the certificates that end
    // its view. One view behind too: a replica that lost the TC we entered by (the
    // message was lost, or it crashed) cannot form it again without us once we
    // moved on, and the next leader, whose proposal would carry it, may be down.
    // When we hold no certificate that ends its view (ours was lost in a restart),
    // our own timeout of its view counts towards the TC it is missing: safe, as
    // we left that view (we never vote in it again) and our high QC has only grown
    // since. Without this, replicas of adjacent views wait for each other forever
    // (found by the simulator's sweeps with a silent validator).
    const bool ends_its_view = safety_.locked_qc.view >= t.view || (last_tc_ && last_tc_->view >= t.view);
    if (ends_its_view) {
      SyncCertificates sync;
      sync.qc = safety_.locked_qc;
      sync.tc = last_tc_;
      out.sends.push_back({from, sync});
    } else {
      // We reached a later view without a certificate for this one (a restart, or
      // the f + 1 join), and both paths left a durable record above t.view: we
      // can never vote in t.view.
      KESTREL_ASSERT(std::max(safety_.last_voted_view, safety_.last_timeout_view) > t.view);
      Timeout ours;
      ours.view = t.view;
      ours.high_qc = safety_.locked_qc;
      ours.sender = config_.self;
      out.sends.push_back({from, ours});
    }
  }
  if (t.view < view_ - 1) {
    drop(Drop::stale_view);
    return;
  }
  if (!process_qc(t.high_qc, from, out)) return;
  if (t.view < view_ - 1) return;  // the high QC moved us past it
  auto& set = timeouts_[t.view];
  if (!set.entries.emplace(t.sender, std::make_pair(t.high_qc.view, t.signature)).second) {
    drop(Drop::duplicate);
    return;
  }
  const std::size_t count = set.entries.size();
  // f + 1 timeouts for a view at or above ours prove an honest replica gave up on
  // it: join (docs "Pacemaker"), so a TC forms even if our timer is behind.
  if (count >= config_.f() + 1 && t.view >= view_ && safety_.last_timeout_view < t.view) {
    if (t.view > view_) enter_view(t.view, out);
    local_timeout(out);
  }
  if (count == config_.quorum()) {
    TimeoutCertificate tc;
    tc.view = t.view;
    for (const auto& [signer, entry] : set.entries) tc.entries.push_back({signer, entry.first, entry.second});
    ++counters_.tcs_formed;
    process_tc(tc, out);
  }
}

void Replica::on_sync(ReplicaId from, const SyncCertificates& sync, Output& out) {
  if (sync.tc) process_tc(*sync.tc, out);
  if (sync.qc) process_qc(*sync.qc, from, out);
}

// --- Committing (fetching: fetch.cc) --------------------------------------------------

void Replica::try_commit(Output& out) {
  if (!commit_target_) return;
  // Walk from the target down to our committed head (explicit, bounded loop).
  std::vector<const Block*> chain;
  std::vector<BlockId> chain_ids;
  BlockId cursor = *commit_target_;
  bool reached = false;
  for (std::size_t steps = 0; steps < config_.commit_walk_max; ++steps) {
    if (cursor == committed_.block_id) {
      reached = true;
      break;
    }
    auto it = blocks_.find(cursor);
    if (it == blocks_.end()) {
      request_block(cursor, leader_of(view_, config_.n), out);
      return;  // retried when the block arrives
    }
    const Block& b = it->second;
    if (b.height <= committed_.height) {
      ++counters_.safety_alarms;  // conflicts with our committed chain
      commit_target_.reset();
      return;
    }
    chain.push_back(&b);
    chain_ids.push_back(cursor);
    cursor = b.parent;
  }
  if (!reached || chain.empty()) return;  // gap wider than commit_walk_max: the node's catch-up closes it
  for (std::size_t i = chain.size(); i-- > 0;) {
    const Block& b = *chain[i];
    if (b.height != committed_.height + 1) {
      ++counters_.safety_alarms;  // heights not contiguous: only possible beyond f faults
      commit_target_.reset();
      return;
    }
    out.commits.push_back({b.height, b.view, chain_ids[i], b.parent, b.payload, b.proposer, b.justify});
    committed_ = {b.height, chain_ids[i]};
    ++counters_.commits;
  }
  out.persist.emplace_back(committed_);
  commit_target_.reset();
  prune();
}

// Bounded memory: drop committed blocks more than keep_committed_blocks below the
// head and forks that can never commit (at or below the committed height but not
// the committed block).
void Replica::prune() {
  for (auto it = blocks_.begin(); it != blocks_.end();) {
    const Block& b = it->second;
    const bool is_genesis = it->first == genesis_id_;
    const bool too_old = b.height + config_.keep_committed_blocks < committed_.height;
    const bool dead_fork = b.height == committed_.height && it->first != committed_.block_id;
    const bool pinned = it->first == safety_.locked_qc.block_id || (commit_target_ && it->first == *commit_target_);
    if (!is_genesis && !pinned && (too_old || dead_fork)) {
      stored_payload_bytes_ -= b.payload.size();
      it = blocks_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace kestrel::hotstuff2
