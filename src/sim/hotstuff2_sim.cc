// HotStuff-2 in the simulator (sim.h run_hotstuff2): the protocol's part of a
// run on the generic world (world.h). It configures the replicas, builds their
// cores (hotstuff2::Core) and rebuilds them from a disk after a crash, opens and
// signs messages (hotstuff2_wire.h), and routes each send to the checkers
// (hotstuff2_checker.h) or, from a Byzantine replica, to the adversary
// (hotstuff2_adversary.h). One thread, one seed.
#include <memory>
#include <vector>

#include "common/assert.h"
#include "hotstuff2/core.h"
#include "sim/hotstuff2_adversary.h"
#include "sim/hotstuff2_checker.h"
#include "sim/hotstuff2_wire.h"
#include "sim/keys.h"
#include "sim/protocol.h"
#include "sim/sim.h"
#include "sim/world.h"

namespace kestrel::sim {

namespace {

namespace hs = kestrel::hotstuff2;

bool has(const SimConfig& config, Fault fault) { return (config.faults >> static_cast<unsigned>(fault)) & 1; }

WorldConfig world_config(const SimConfig& config) {
  WorldConfig w;
  w.n = config.n;
  w.byzantine = config.byzantine;
  w.delay_ms = config.delay_ms;
  w.jitter_ms = config.jitter_ms;
  w.loss = has(config, Fault::loss);
  w.duplication = has(config, Fault::duplication);
  w.reordering = has(config, Fault::reordering);
  w.partition = has(config, Fault::partition);
  w.crash = has(config, Fault::crash);
  // Two view timeouts per view to reach the target, then time to catch up.
  // Saturating: a huge --views must not wrap the cap around to a small number.
  const Tick per_view = config.view_timeout_ms * 2;
  const Tick views_budget = config.views > (UINT64_MAX / 4) / std::max<Tick>(per_view, 1)
                                ? UINT64_MAX / 4
                                : config.views * per_view;
  w.run_after_gst_ms = views_budget + 20000;
  // A restarted replica gets the committed blocks it would have kept in memory.
  w.commit_tail_max = hs::Config{}.keep_committed_blocks;
  w.trace = config.trace;
  w.trace_sink = config.trace_sink;
  return w;
}

class Hotstuff2Sim final : public Protocol {
 public:
  Hotstuff2Sim(const SimConfig& config, World& world, Keys& keys)
      : config_(config),
        world_(world),
        keys_(keys),
        cores_(config.n, nullptr),
        checker_(config, world, cores_),
        adversary_(config, world, keys, checker_) {}

  std::unique_ptr<consensus::Core> start_core(ReplicaId r) override {
    return keep(r, std::make_unique<hs::Core>(replica_config(r), hs::RestoredState{}));
  }

  // Restart from what the disk kept: the journal (safety record, commit marker,
  // uncommitted blocks) and the tail of the commit stream, whose entries carry
  // the committed blocks the journal erased.
  std::unique_ptr<consensus::Core> restart_core(ReplicaId r, const Disk& disk) override {
    std::vector<hs::JournalEntry> journal;
    journal.reserve(disk.journal().size());
    for (const auto& [key, value] : disk.journal()) journal.push_back({key, value});
    std::vector<hs::Block> tail;
    tail.reserve(disk.commit_tail().size());
    for (const consensus::Commit& c : disk.commit_tail()) {
      auto block = hs::block_of_commit(c.proof, c.payload, c.id);
      KESTREL_ASSERT(block.ok());  // written by our own core
      tail.push_back(std::move(*block));
    }
    auto restored = hs::restore(journal, std::move(tail));
    KESTREL_ASSERT(restored.ok());
    auto core = keep(r, std::make_unique<hs::Core>(replica_config(r), *restored));
    checker_.restarted(r);
    return core;
  }

  Result<consensus::MessagePtr, std::string> open(ReplicaId, ByteSpan bytes) override {
    auto message = hotstuff2_wire::open(keys_, config_.n, bytes);
    if (!message) return Err(message.error());
    return hs::wrap(std::move(*message));
  }

  std::string describe(const consensus::Message& message) const override {
    return hotstuff2_wire::describe(hs::message_of(message));
  }

  void delivered(ReplicaId r, const consensus::Message& message) override {
    if (world_.byzantine(r)) adversary_.remember(r, hs::message_of(message));
  }

  // Test hook: every honest proposal leaves before its records, reserved or not.
  void prepare(ReplicaId r, consensus::Ready& ready) override {
    if (!config_.unreserved_early_proposals || world_.byzantine(r)) return;
    for (consensus::Envelope& envelope : ready.sends) {
      if (std::holds_alternative<hs::Proposal>(hs::message_of(*envelope.message))) envelope.before_persist = true;
    }
  }

  void dispatch(ReplicaId r, consensus::Envelope& envelope) override {
    hs::Message& m = hs::message_of(*envelope.message);
    hotstuff2_wire::sign(keys_, r, m);
    if (const auto* p = std::get_if<hs::Proposal>(&m)) checker_.proposal_sent(p->block.id());
    if (world_.byzantine(r)) {
      adversary_.dispatch(r, envelope.to, m, cores_[r]->replica().view());
      return;
    }
    if (const auto* v = std::get_if<hs::Vote>(&m)) checker_.check_vote(r, *v);
    if (const auto* p = std::get_if<hs::Proposal>(&m)) checker_.check_proposal(r, p->block);
    hotstuff2_wire::send(world_.network(), r, envelope.to, m);
  }

  void completed(ReplicaId r, const std::vector<consensus::Commit>& commits) override {
    if (checker_.audited(r)) checker_.check_step(r, commits);
  }

  bool keep_running() override { return checker_.keep_running(); }
  void finish() override { checker_.finish(); }

 private:
  std::unique_ptr<consensus::Core> keep(ReplicaId r, std::unique_ptr<hs::Core> core) {
    cores_.at(r) = core.get();
    return core;
  }

  hs::Config replica_config(ReplicaId r) const {
    hs::Config c;
    c.chain_id = hotstuff2_wire::chain_id;
    c.self = r;
    c.n = config_.n;
    c.view_timeout_ticks = config_.view_timeout_ms;
    c.view_timeout_ticks_max = config_.view_timeout_ms * 8;
    c.propose_wait_ticks = 3 * (config_.delay_ms + config_.jitter_ms);
    c.reserve_next_proposal = config_.early_proposals && !config_.unreserved_early_proposals;
    c.leader_reputation = config_.leader_reputation;
    return c;
  }

  SimConfig config_;
  World& world_;
  Keys& keys_;
  std::vector<hs::Core*> cores_;  // owned by the world's nodes
  Hotstuff2Checker checker_;
  Hotstuff2Adversary adversary_;
};

}  // namespace

SimResult run_hotstuff2(const SimConfig& config) {
  KESTREL_ASSERT(config.n >= 1 && config.n <= 128);
  SimResult result;
  result.seed = config.seed;
  Prng prng(config.seed);
  Keys keys(config.scheme, config.n, prng);  // the run's first draws
  World world(world_config(config), prng, result);
  Hotstuff2Sim protocol(config, world, keys);
  world.run(protocol);
  return result;
}

}  // namespace kestrel::sim
