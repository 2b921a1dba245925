// Who leads a view (docs/consensus.md "Leaders"): round robin, the leader
// reputation rule, and the replica's use of them. Part of the Replica (replica.cc
// holds the rest); same thread-safety: one thread steps a replica.
#include <functional>

#include "common/assert.h"
#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {

ReplicaId leader_of(View view, std::uint32_t n) {
  KESTREL_ASSERT(n > 0);
  return static_cast<ReplicaId>(view % n);
}

ReplicaId reputation_leader(View view, std::uint32_t n, const ReplicaSet& active) {
  KESTREL_ASSERT(n > 0 && n <= active.size());
  const std::size_t count = active.count();
  if (count == 0) return leader_of(view, n);
  KESTREL_ASSERT((active >> n).none());
  std::size_t k = view % count;  // the k-th member in ascending id order
  for (ReplicaId r = 0; r < n; ++r) {
    if (!active.test(r)) continue;
    if (k == 0) return r;
    --k;
  }
  KESTREL_ASSERT(false);  // k < count members were set
  return 0;
}

std::optional<ReplicaId> Replica::responsive_leader(View view, const BlockId& anchor, BlockId* missing) const {
  if (!config_.leader_reputation) return leader_of(view, config_.n);
  const ReputationMemo* memo = nullptr;
  for (const ReputationMemo& m : reputation_memo_) {
    if (m.valid && m.anchor == anchor) memo = &m;
  }
  if (!memo) {
    // Every proposer and QC signer of the anchor and the blocks below it, down to
    // genesis or the window's length (explicit, bounded walk). Each block is fixed
    // by the anchor's hash chain, so every replica holding them derives one set.
    ReplicaSet active;
    BlockId cursor = anchor;
    std::uint32_t walked = 0;
    for (; walked < config_.reputation_window_blocks && cursor != genesis_id_; ++walked) {
      auto it = blocks_.find(cursor);
      if (it == blocks_.end()) {
        if (missing) *missing = cursor;
        return std::nullopt;
      }
      const Block& b = it->second;
      KESTREL_DEBUG_ASSERT(b.proposer < config_.n);  // valid_block_shape held when it was stored
      active.set(b.proposer);
      for (const SignedBy& s : b.justify.signatures) active.set(s.signer);
      cursor = b.parent;
    }
    // A chain younger than the window says too little (its first block's QC is
    // genesis's, with no signers): round robin until the window is full.
    KESTREL_ASSERT(walked <= config_.reputation_window_blocks);
    if (walked < config_.reputation_window_blocks) active.reset();
    ReputationMemo& slot = reputation_memo_[reputation_memo_next_];
    reputation_memo_next_ = (reputation_memo_next_ + 1) % reputation_memo_.size();
    slot = {true, anchor, active};
    memo = &slot;
  }
  const ReplicaId leader = reputation_leader(view, config_.n, memo->active);
  KESTREL_ASSERT(leader < config_.n);
  return leader;
}

std::optional<ReplicaId> Replica::proposal_leader(const Block& b, BlockId* missing) const {
  if (config_.leader_reputation && b.justify.view + 1 == b.view) return responsive_leader(b.view, b.parent, missing);
  return leader_of(b.view, config_.n);
}

std::optional<ReplicaId> Replica::expected_leader(View view) const {
  KESTREL_ASSERT(view >= 1);
  if (view == view_ && safety_.locked_qc.view + 1 == view_) {
    return responsive_leader(view, safety_.locked_qc.block_id, nullptr);
  }
  if (view == view_ + 1) {
    if (auto first = first_proposal_.find(view_); first != first_proposal_.end()) {
      return responsive_leader(view, first->second, nullptr);
    }
  }
  return leader_of(view, config_.n);
}

bool Replica::plausible_proposer(const Block& block) const {
  const std::optional<ReplicaId> leader = proposal_leader(block, nullptr);
  return !leader || *leader == block.proposer;
}

void Replica::proposal_ancestry(std::vector<BlockId>& ids) const {
  const BlockId* newest = nullptr;
  View newest_view = 0;
  for (const auto& [id, b] : blocks_) {
    if (b.height > committed_.height && (!newest || b.view > newest_view)) newest = &id, newest_view = b.view;
  }
  if (!newest) return;
  const BlockId& lock = safety_.locked_qc.block_id;
  // Walks parents from `from` while uncommitted; bounded by the blocks held.
  const auto walk = [&](const BlockId& from, const std::function<bool(const BlockId&)>& visit) {
    BlockId cursor = from;
    for (std::size_t steps = 0; steps < blocks_.size(); ++steps) {
      auto it = blocks_.find(cursor);
      if (it == blocks_.end() || it->second.height <= committed_.height) return;
      if (!visit(cursor)) return;
      cursor = it->second.parent;
    }
  };
  // A committed lock: every uncommitted block extends it.
  bool extends_lock = !blocks_.count(lock) || blocks_.at(lock).height <= committed_.height;
  if (!extends_lock) {
    walk(*newest, [&](const BlockId& id) {
      extends_lock = id == lock;
      return !extends_lock;
    });
  }
  const std::size_t before = ids.size();
  walk(extends_lock ? *newest : lock, [&](const BlockId& id) {
    ids.push_back(id);
    return true;
  });
  KESTREL_ASSERT(ids.size() - before <= blocks_.size());
}

}  // namespace kestrel::hotstuff2
