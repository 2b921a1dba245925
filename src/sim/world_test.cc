// The generic world driving a toy core through the seam: no HotStuff-2, so
// what these tests see is the world's own behaviour (determinism, the crash
// prefix, the Persisted acknowledgement, restarts from the disk).
#include "sim/world.h"

#include <gtest/gtest.h>

#include "common/assert.h"

namespace kestrel::sim {
namespace {

struct ToyMessage final : consensus::Message {
  explicit ToyMessage(std::uint64_t v) : value(v) {}
  std::uint64_t value;
};

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes encode(std::uint64_t v) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}

std::uint64_t decode(ByteSpan bytes) {
  KESTREL_ASSERT(bytes.size() == 8);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(bytes[i]) << (8 * i);
  return v;
}

// Every 10 ticks: the next round, journaled under three keys in one step,
// committed, and broadcast. Restarts at the last committed round. Sets
// `unacknowledged` when an input arrives before its last step was acknowledged.
class ToyCore final : public consensus::Core {
 public:
  ToyCore(std::uint64_t round, bool& unacknowledged) : round_(round), unacknowledged_(unacknowledged) {}

  void step(const consensus::Input& input, consensus::Ready& ready) override {
    if (std::holds_alternative<consensus::Persisted>(input)) {
      awaiting_ack_ = false;
      return;
    }
    if (awaiting_ack_) unacknowledged_ = true;  // an input before the last step was acknowledged
    awaiting_ack_ = true;
    consensus::Tick now = 0;
    if (const auto* s = std::get_if<consensus::Start>(&input)) now = s->now;
    else if (const auto* t = std::get_if<consensus::TickInput>(&input)) now = t->now;
    else return;
    ++round_;
    const Bytes value = encode(round_);
    for (const char* key : {"a", "b", "c"}) {
      ready.journal.push_back({consensus::JournalOp::Kind::put, text(key), value});
    }
    consensus::Commit commit;
    commit.sequence = round_;
    ready.commits.push_back(commit);
    ready.sends.push_back({std::nullopt, std::make_shared<ToyMessage>(round_), true, false});
    ready.wake_at = now + 10;
  }
  consensus::CoreStatus status() const override {
    consensus::CoreStatus s;
    s.round = round_;
    return s;
  }
  bool leads_soon() const override { return false; }
  void proposal_ancestry(std::vector<Hash32>&) const override {}
  const Bytes* payload_of(const Hash32&) const override { return nullptr; }

 private:
  std::uint64_t round_;
  bool& unacknowledged_;
  bool awaiting_ack_ = false;
};

class ToyProtocol final : public Protocol {
 public:
  explicit ToyProtocol(World& world) : world_(world) {}

  std::unique_ptr<consensus::Core> start_core(ReplicaId) override {
    return std::make_unique<ToyCore>(0, unacknowledged_);
  }
  std::unique_ptr<consensus::Core> restart_core(ReplicaId, const Disk& disk) override {
    // What a crash left of the last step's three puts: a prefix, so a >= b >= c >= a - 1.
    const auto round = [&](const char* key) -> std::uint64_t {
      auto it = disk.journal().find(text(key));
      return it == disk.journal().end() ? 0 : decode(it->second);
    };
    const std::uint64_t a = round("a"), b = round("b"), c = round("c");
    prefixes_ok_ = prefixes_ok_ && a >= b && b >= c && c + 1 >= a;
    if (a != c) ++partial_restarts_;
    // The commit stream holds only steps whose journal was all durable.
    const std::uint64_t committed = disk.last_committed().value_or(0);
    prefixes_ok_ = prefixes_ok_ && committed <= c;
    ++restarts_;
    return std::make_unique<ToyCore>(committed, unacknowledged_);
  }
  Result<consensus::MessagePtr, std::string> open(ReplicaId, ByteSpan bytes) override {
    if (bytes.size() != 8) return Err(std::string("not a toy message"));
    return consensus::MessagePtr(std::make_shared<ToyMessage>(decode(bytes)));
  }
  std::string describe(const consensus::Message& m) const override {
    return "toy " + std::to_string(static_cast<const ToyMessage&>(m).value);
  }
  void delivered(ReplicaId, const consensus::Message&) override {}
  void prepare(ReplicaId, consensus::Ready&) override {}
  void dispatch(ReplicaId r, consensus::Envelope& envelope) override {
    const auto value = static_cast<const ToyMessage&>(*envelope.message).value;
    world_.network().send(r, envelope.to, encode(value));
  }
  void completed(ReplicaId, const std::vector<consensus::Commit>& commits) override { commits_ += commits.size(); }
  bool keep_running() override { return true; }
  void finish() override {}

  bool prefixes_ok_ = true;
  bool unacknowledged_ = false;
  std::uint64_t restarts_ = 0, partial_restarts_ = 0, commits_ = 0;

 private:
  World& world_;
};

struct ToyRun {
  SimResult result;
  bool prefixes_ok = false, acknowledged = false;
  std::uint64_t restarts = 0, partial_restarts = 0, commits = 0;
};

ToyRun run_toy(std::uint64_t seed) {
  WorldConfig config;
  config.n = 4;
  config.loss = config.duplication = config.reordering = config.partition = config.crash = true;
  config.run_after_gst_ms = 2000;
  ToyRun run;
  Prng prng(seed);
  World world(config, prng, run.result);
  ToyProtocol protocol(world);
  world.run(protocol);
  run.prefixes_ok = protocol.prefixes_ok_;
  run.acknowledged = !protocol.unacknowledged_;
  run.restarts = protocol.restarts_;
  run.partial_restarts = protocol.partial_restarts_;
  run.commits = protocol.commits_;
  return run;
}

TEST(WorldTest, SameSeedSameTraceDigest) {
  const ToyRun a = run_toy(5), b = run_toy(5), c = run_toy(6);
  EXPECT_EQ(a.result.trace_digest, b.result.trace_digest);
  EXPECT_EQ(a.result.events, b.result.events);
  EXPECT_EQ(a.result.messages, b.result.messages);
  EXPECT_EQ(a.commits, b.commits);
  EXPECT_GT(a.result.events, 1000u);  // the run did something
  EXPECT_NE(a.result.trace_digest, c.result.trace_digest);
}

// Crashes leave a prefix of a step's journal (and the step's commits only with
// all of it); the restarted core reads it back; every completed step is
// acknowledged with Persisted before the node's next input.
TEST(WorldTest, CrashesKeepAPrefixOfTheJournal) {
  std::uint64_t restarts = 0, partial = 0;
  for (std::uint64_t seed = 1; seed <= 30; ++seed) {
    const ToyRun run = run_toy(seed);
    EXPECT_TRUE(run.prefixes_ok) << "seed " << seed;
    EXPECT_TRUE(run.acknowledged) << "seed " << seed;
    restarts += run.restarts;
    partial += run.partial_restarts;
  }
  // The sweep reached what it is about: restarts, some of them after a cut write.
  EXPECT_GT(restarts, 30u);
  EXPECT_GT(partial, 0u);
}

}  // namespace
}  // namespace kestrel::sim
