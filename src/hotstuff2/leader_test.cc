// Leader reputation (docs/consensus.md "Leaders"): the pure rule, and a replica
// that applies it to a restored chain in which validator 1 has stopped signing.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {
namespace {

ReplicaSet set_of(std::initializer_list<ReplicaId> ids) {
  ReplicaSet s;
  for (ReplicaId id : ids) s.set(id);
  return s;
}

TEST(LeaderReputation, EmptyActiveSetIsRoundRobin) {
  for (View v = 0; v < 20; ++v) EXPECT_EQ(reputation_leader(v, 4, ReplicaSet{}), leader_of(v, 4));
}

TEST(LeaderReputation, AllActiveIsRoundRobin) {
  for (View v = 0; v < 40; ++v) EXPECT_EQ(reputation_leader(v, 7, set_of({0, 1, 2, 3, 4, 5, 6})), leader_of(v, 7));
}

TEST(LeaderReputation, RotatesOverTheActiveSetOnly) {
  const ReplicaSet active = set_of({0, 2, 3});
  std::vector<ReplicaId> seen;
  for (View v = 9; v < 15; ++v) seen.push_back(reputation_leader(v, 4, active));
  // view mod 3 picks the k-th active id: 9 -> 0, 10 -> 2, 11 -> 3, 12 -> 0, ...
  EXPECT_EQ(seen, (std::vector<ReplicaId>{0, 2, 3, 0, 2, 3}));
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1u), 0);
}

// --- A replica on a restored chain ----------------------------------------------------

constexpr std::uint64_t chain_id = 5;

QuorumCertificate qc_for(const Block& b, std::initializer_list<ReplicaId> signers) {
  QuorumCertificate qc;
  qc.view = b.view;
  qc.block_id = b.id();
  for (ReplicaId s : signers) qc.signatures.push_back({s, Bytes{0x73, static_cast<std::uint8_t>(s)}});
  return qc;
}

Block child_of(const Block& parent, const QuorumCertificate& justify, View view, ReplicaId proposer) {
  Block b;
  b.parent = parent.id();
  b.view = view;
  b.height = parent.height + 1;
  b.proposer = proposer;
  b.justify = justify;
  b.payload = Bytes{static_cast<std::uint8_t>(view)};
  return b;
}

// Blocks of views 2..7 (height 1..6), proposed by 0, 2, 3 in turn and certified
// by 0, 2, 3: validator 1 is down. qcs[i] certifies blocks[i].
struct Chain {
  std::vector<Block> blocks;
  std::vector<QuorumCertificate> qcs;
};

Chain down_chain() {
  Chain c;
  Block parent = genesis_block(chain_id);
  QuorumCertificate justify = genesis_qc(parent);
  const ReplicaId proposers[] = {2, 3, 0, 2, 3, 0};
  for (View v = 2; v <= 7; ++v) {
    Block b = child_of(parent, justify, v, proposers[v - 2]);
    justify = qc_for(b, {0, 2, 3});
    c.blocks.push_back(b);
    c.qcs.push_back(justify);
    parent = b;
  }
  return c;
}

Config config(bool reputation) {
  Config c;
  c.chain_id = chain_id;
  c.n = 4;
  c.self = 2;
  c.leader_reputation = reputation;
  c.reputation_window_blocks = 4;
  return c;
}

// A replica locked on the QC of view 7 (so in view 8), holding `blocks`.
Replica restored(bool reputation, const std::vector<Block>& blocks, const QuorumCertificate& lock,
                 Output* start_output = nullptr) {
  RestoredState state;
  SafetyRecord record;
  record.locked_qc = lock;
  record.last_voted_view = lock.view;
  state.safety = record;
  state.blocks = blocks;
  Replica r(config(reputation), state);
  Output out;
  r.step(Start{0}, out);
  if (start_output) *start_output = out;
  return r;
}

Proposal proposal_of(const Block& b) { return Proposal{b, std::nullopt, Bytes{0x01}}; }

const Vote* vote_in(const Output& out, std::optional<ReplicaId>* to) {
  for (const Send& s : out.sends) {
    if (const auto* v = std::get_if<Vote>(&s.message)) {
      *to = s.to;
      return v;
    }
  }
  return nullptr;
}

std::uint64_t dropped(const Replica& r, Drop d) { return r.counters().dropped[static_cast<std::size_t>(d)]; }

// Window of the block of view 7: blocks of views 7..4, proposers and signers
// {0, 2, 3}. View 8 goes to the third of them (8 mod 3 = 2): validator 3, where
// round robin says 0; view 9 to 0 (9 mod 3), where round robin says 1, the
// validator that is down.
TEST(LeaderReputation, ReplicaSkipsTheSilentValidator) {
  const Chain c = down_chain();
  Replica r = restored(true, c.blocks, c.qcs.back());
  ASSERT_EQ(r.view(), 8u);
  EXPECT_EQ(r.expected_leader(8), 3u);
  const Block b8 = child_of(c.blocks.back(), c.qcs.back(), 8, 3);
  Output out;
  r.step(Received{3, proposal_of(b8), 10}, out);
  std::optional<ReplicaId> to;
  const Vote* vote = vote_in(out, &to);
  ASSERT_NE(vote, nullptr);
  EXPECT_EQ(vote->view, 8u);
  EXPECT_EQ(to, std::optional<ReplicaId>(0));  // not 1
  EXPECT_EQ(r.counters().reputation_skips, 1u);
  EXPECT_EQ(r.expected_leader(9), 0u);
}

// The round-robin leader of view 8 (0) may not propose on the QC of view 7: the
// view is the reputation leader's.
TEST(LeaderReputation, ReplicaRefusesTheRoundRobinLeaderOnTheResponsivePath) {
  const Chain c = down_chain();
  Replica r = restored(true, c.blocks, c.qcs.back());
  Output out;
  r.step(Received{0, proposal_of(child_of(c.blocks.back(), c.qcs.back(), 8, 0)), 10}, out);
  EXPECT_EQ(dropped(r, Drop::not_leader), 1u);
  EXPECT_EQ(r.last_voted_view(), 7u);
  EXPECT_FALSE(r.plausible_proposer(child_of(c.blocks.back(), c.qcs.back(), 8, 0)));
  EXPECT_TRUE(r.plausible_proposer(child_of(c.blocks.back(), c.qcs.back(), 8, 3)));
}

// Off (the baseline): round robin, so 3 is refused, 0 is followed, and the vote
// goes to 1, the validator that is down.
TEST(LeaderReputation, GateOffIsRoundRobin) {
  const Chain c = down_chain();
  Replica r = restored(false, c.blocks, c.qcs.back());
  EXPECT_EQ(r.expected_leader(8), 0u);
  Output out;
  r.step(Received{3, proposal_of(child_of(c.blocks.back(), c.qcs.back(), 8, 3)), 10}, out);
  EXPECT_EQ(dropped(r, Drop::not_leader), 1u);
  out.clear();
  r.step(Received{0, proposal_of(child_of(c.blocks.back(), c.qcs.back(), 8, 0)), 10}, out);
  std::optional<ReplicaId> to;
  ASSERT_NE(vote_in(out, &to), nullptr);
  EXPECT_EQ(to, std::optional<ReplicaId>(1));
  EXPECT_EQ(r.counters().reputation_skips, 0u);
}

// After a timeout certificate (a proposal whose justify is older than the view
// before it), round robin leads even with reputation on.
TEST(LeaderReputation, NonResponsiveViewIsRoundRobin) {
  const Chain c = down_chain();
  Replica r = restored(true, c.blocks, c.qcs.back());
  // Block of view 9 on the QC of view 7 (view 8 failed): round robin says 1, so
  // a proposal from 0 is refused.
  Output out;
  r.step(Received{0, proposal_of(child_of(c.blocks.back(), c.qcs.back(), 9, 0)), 10}, out);
  EXPECT_EQ(dropped(r, Drop::not_leader), 1u);
  EXPECT_TRUE(r.plausible_proposer(child_of(c.blocks.back(), c.qcs.back(), 9, 1)));
}

// The round-robin leader of a view after a timeout needs the TC of the view
// before: without it, its proposal on an older QC could take the view from the
// reputation leader at replicas that see it first.
TEST(LeaderReputation, RoundRobinProposalNeedsTheTimeoutCertificate) {
  const Chain c = down_chain();
  Replica r = restored(true, c.blocks, c.qcs.back());
  const Block b9 = child_of(c.blocks.back(), c.qcs.back(), 9, 1);  // round robin: 9 mod 4 = 1
  Output out;
  r.step(Received{1, proposal_of(b9), 10}, out);
  EXPECT_EQ(dropped(r, Drop::not_leader), 1u);
  TimeoutCertificate tc;
  tc.view = 8;
  for (ReplicaId s : {0u, 2u, 3u}) tc.entries.push_back({s, 7, Bytes{0x74}});
  Proposal with_tc = proposal_of(b9);
  with_tc.tc = tc;
  out.clear();
  r.step(Received{1, with_tc, 20}, out);
  EXPECT_EQ(dropped(r, Drop::not_leader), 1u);
  EXPECT_EQ(r.view(), 9u);
  EXPECT_EQ(r.last_voted_view(), 9u);
}

// A chain younger than the window is round robin: the window would hold
// genesis's empty QC.
TEST(LeaderReputation, YoungChainIsRoundRobin) {
  const Chain c = down_chain();
  const std::vector<Block> young(c.blocks.begin(), c.blocks.begin() + 2);  // views 2, 3
  Replica r = restored(true, young, c.qcs[1]);
  ASSERT_EQ(r.view(), 4u);
  EXPECT_EQ(r.expected_leader(4), leader_of(4, 4));
}

// A replica missing a block of the window cannot name the leader: it buffers the
// proposal, fetches the block, and votes once the block is here.
TEST(LeaderReputation, MissingWindowBlockIsFetched) {
  const Chain c = down_chain();
  std::vector<Block> partial = c.blocks;
  const Block lost = partial[2];  // view 4, inside the window of view 7's block
  partial.erase(partial.begin() + 2);
  partial.erase(partial.begin(), partial.begin() + 2);  // and everything below it
  // At start the replica already asks for it: it may lead view 8 and cannot tell.
  Output out;
  Replica r = restored(true, partial, c.qcs.back(), &out);
  EXPECT_EQ(r.expected_leader(8), std::nullopt);
  const FetchRequest* fetch = nullptr;
  for (const Send& s : out.sends) {
    if (const auto* f = std::get_if<FetchRequest>(&s.message)) fetch = f;
  }
  ASSERT_NE(fetch, nullptr);
  EXPECT_EQ(fetch->block_id, lost.id());
  const Block b8 = child_of(c.blocks.back(), c.qcs.back(), 8, 3);
  EXPECT_TRUE(r.plausible_proposer(b8));  // cannot tell yet: the core decides
  out.clear();
  r.step(Received{3, proposal_of(b8), 10}, out);
  std::optional<ReplicaId> to;
  EXPECT_EQ(vote_in(out, &to), nullptr);  // buffered
  out.clear();
  Received response;  // named: an inline temporary trips GCC 12's maybe-uninitialized
  response.from = 3;
  response.message = FetchResponse{{lost, c.blocks[1], c.blocks[0]}};
  response.now = 20;
  r.step(response, out);
  const Vote* vote = vote_in(out, &to);
  ASSERT_NE(vote, nullptr);
  EXPECT_EQ(vote->view, 8u);
  EXPECT_EQ(to, std::optional<ReplicaId>(0));
}

}  // namespace
}  // namespace kestrel::hotstuff2
