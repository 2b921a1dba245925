// The DAG core: clusters of cores on a seeded, reordering in-memory network
// (every message through the wire format), honest and with a Byzantine author;
// the commit rule's thresholds on hand-built DAGs; restart from the journal;
// bounds under floods. The simulator's sweeps (src/sim) add crashes, loss and
// partitions.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/prng.h"
#include "dag/core.h"

namespace kestrel::dag {
namespace {

using consensus::Commit;
using consensus::Ready;

// n cores on a network that delivers a random queued message next (any order),
// optionally twice. Journals are applied at once (every step is durable).
class Cluster {
 public:
  Cluster(std::uint32_t n, std::uint64_t seed, Round gc = 20)
      : gc_depth(gc), n_(n), prng_(seed), journals_(n), streams_(n) {
    for (ReplicaId r = 0; r < n; ++r) cores_.push_back(std::make_unique<Core>(config(r), RestoredDag{}));
    for (ReplicaId r = 0; r < n; ++r) step(r, consensus::Start{now_});
  }

  Config config(ReplicaId r) const {
    Config c;
    c.chain_id = 9;
    c.self = r;
    c.n = n_;
    c.leader_wait_ticks = 30;
    c.fetch_retry_ticks = 40;
    c.gc_depth = gc_depth;
    return c;
  }

  // Byzantine hook: called with each vertex `from` broadcasts; returns the
  // deliveries (to, vertex) instead of the broadcast. Empty function: honest.
  std::function<std::vector<std::pair<ReplicaId, Vertex>>(ReplicaId, const Vertex&)> byzantine;
  double duplicate = 0.0;

  void step(ReplicaId r, const consensus::Input& input) {
    Ready ready;
    cores_[r]->step(input, ready);
    for (const auto& op : ready.journal) {
      if (op.kind == consensus::JournalOp::Kind::put) {
        journals_[r][op.key] = op.value;
      } else {
        journals_[r].erase(op.key);
      }
    }
    for (auto& c : ready.commits) {
      ASSERT_EQ(c.sequence, streams_[r].size() + 1) << "a gap in the commit stream of " << r;
      streams_[r].push_back(c);
    }
    for (auto& s : ready.sends) {
      const Message& m = message_of(*s.message);
      if (byzantine && s.to == std::nullopt && std::holds_alternative<VertexMessage>(m)) {
        auto out = byzantine(r, std::get<VertexMessage>(m).vertex);
        if (!out.empty() || r == byzantine_id) {
          for (auto& [to, v] : out) queue_.push_back({to, r, encode_message(VertexMessage{v})});
          continue;
        }
      }
      const Bytes bytes = encode_message(m);
      if (s.to) {
        queue_.push_back({*s.to, r, bytes});
      } else {
        for (ReplicaId p = 0; p < n_; ++p) {
          if (p != r) queue_.push_back({p, r, bytes});
        }
      }
    }
    if (ready.wants_payload) {
      Bytes payload{static_cast<std::uint8_t>(r)};
      for (int i = 0; i < 8; ++i) payload.push_back(static_cast<std::uint8_t>(payload_counter_ >> (8 * i)));
      ++payload_counter_;
      payloads_.push_back({r, std::move(payload)});
    }
    if (ready.wake_at) wakes_[r] = *ready.wake_at;
  }

  void run(std::size_t deliveries) {
    for (std::size_t i = 0; i < deliveries; ++i) {
      ++now_;
      if (!payloads_.empty()) {
        auto [r, payload] = std::move(payloads_.front());
        payloads_.erase(payloads_.begin());
        if (!down_.count(r)) step(r, consensus::PayloadReady{std::move(payload), false});
      }
      for (auto& [r, at] : wakes_) {
        if (at <= now_ && !down_.count(r)) {
          at = UINT64_MAX;
          step(r, consensus::TickInput{now_});
        }
      }
      if (queue_.empty()) continue;
      const std::size_t k = prng_.uniform(queue_.size());
      Delivery d = queue_[k];
      if (prng_.uniform(1000) >= static_cast<std::uint64_t>(duplicate * 1000)) {
        queue_[k] = std::move(queue_.back());
        queue_.pop_back();
      }
      if (down_.count(d.to)) continue;
      auto message = decode_message(d.bytes);
      ASSERT_TRUE(message.ok());
      step(d.to, consensus::Received{d.from, wrap(std::move(*message)), now_});
    }
  }

  // Crash and restart from the journal (messages to it meanwhile are lost).
  void crash(ReplicaId r) { down_.insert(r); }
  void restart(ReplicaId r, bool keep_journal = true) {
    std::vector<JournalEntry> journal;
    if (!keep_journal) {
      journals_[r].clear();
      streams_[r].clear();  // its commit stream starts over with the journal
    }
    for (const auto& [k, v] : journals_[r]) journal.push_back({k, v});
    auto core = restore(config(r), journal);
    ASSERT_TRUE(core.ok()) << core.error();
    cores_[r] = std::move(*core);
    down_.erase(r);
    step(r, consensus::Start{now_});
  }

  // Every pair of honest streams agrees on their common prefix; no payload twice.
  void check_safety(const std::set<ReplicaId>& honest) const {
    for (ReplicaId a : honest) {
      std::set<Bytes> seen;
      for (const Commit& c : streams_[a]) {
        EXPECT_FALSE(c.payload.empty());  // empty vertices are not commit-stream entries
        EXPECT_TRUE(seen.insert(c.payload).second) << "payload ordered twice on " << a;
        auto v = vertex_of_commit(c.proof, c.payload, c.id);
        EXPECT_TRUE(v.ok()) << v.error();
      }
      for (ReplicaId b : honest) {
        const std::size_t common = std::min(streams_[a].size(), streams_[b].size());
        for (std::size_t i = 0; i < common; ++i) {
          ASSERT_EQ(streams_[a][i].id, streams_[b][i].id) << "streams of " << a << " and " << b << " differ at " << i + 1;
        }
      }
    }
  }

  std::size_t committed(ReplicaId r) const { return streams_[r].size(); }
  Core& core(ReplicaId r) { return *cores_[r]; }
  ReplicaId byzantine_id = UINT32_MAX;
  Round gc_depth = 20;

 private:
  struct Delivery {
    ReplicaId to, from;
    Bytes bytes;
  };
  std::uint32_t n_;
  Prng prng_;
  consensus::Tick now_ = 1;
  std::vector<std::unique_ptr<Core>> cores_;
  std::vector<std::map<Bytes, Bytes>> journals_;
  std::vector<std::vector<Commit>> streams_;
  std::vector<Delivery> queue_;
  std::vector<std::pair<ReplicaId, Bytes>> payloads_;
  std::map<ReplicaId, consensus::Tick> wakes_;
  std::set<ReplicaId> down_;
  std::uint64_t payload_counter_ = 0;
};

// Replica 0 of 4, stepped by hand.
Config lone_config() {
  Config c;
  c.chain_id = 9;
  c.self = 0;
  c.n = 4;
  return c;
}

std::set<ReplicaId> all(std::uint32_t n) {
  std::set<ReplicaId> s;
  for (ReplicaId r = 0; r < n; ++r) s.insert(r);
  return s;
}

TEST(DagCore, HonestClustersCommitOneStream) {
  for (std::uint32_t n : {1u, 4u, 7u}) {
    for (std::uint64_t seed = 1; seed <= 3; ++seed) {
      Cluster cluster(n, seed);
      cluster.duplicate = 0.05;
      cluster.run(4000 * n);
      cluster.check_safety(all(n));
      for (ReplicaId r = 0; r < n; ++r) {
        EXPECT_GE(cluster.committed(r), 20u) << "n " << n << " seed " << seed << " replica " << r;
        EXPECT_EQ(cluster.core(r).counters().equivocations, 0u);
        EXPECT_EQ(cluster.core(r).counters().invalid, 0u);
      }
    }
  }
}

// A Byzantine author sends one vertex per round to two replicas and another
// (a different payload, so a different id) to the third. The honest replicas
// count the equivocation, fetch the version they need when an honest vertex
// references it, and still order one stream.
TEST(DagCore, EquivocatingAuthorIsCountedAndStreamsAgree) {
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    Cluster cluster(4, seed);
    cluster.byzantine_id = 3;
    cluster.byzantine = [](ReplicaId from, const Vertex& v) {
      std::vector<std::pair<ReplicaId, Vertex>> out;
      if (from != 3) return out;
      Vertex other = v;  // a different payload: a different id, unique per round
      other.payload.push_back(0xee);
      for (int i = 0; i < 8; ++i) other.payload.push_back(static_cast<std::uint8_t>(v.round >> (8 * i)));
      out.push_back({0, v});
      out.push_back({1, v});
      out.push_back({2, other});
      out.push_back({0, other});  // and the other one to 0 as well, later
      return out;
    };
    cluster.run(20000);
    cluster.check_safety({0, 1, 2});
    std::uint64_t equivocations = 0;
    for (ReplicaId r : {0u, 1u, 2u}) {
      EXPECT_GE(cluster.committed(r), 20u) << "seed " << seed << " replica " << r;
      equivocations += cluster.core(r).counters().equivocations;
    }
    EXPECT_GT(equivocations, 0u);
  }
}

// One reference, one vote or one certificate finalizes nothing: the leader of
// round 1 commits only when 2f+1 round-3 vertices each reference 2f+1 votes.
TEST(DagCore, OneVoteOrOneReferenceNeverFinalizes) {
  const Config c = lone_config();
  Core core(c, RestoredDag{});
  Ready ready;
  core.step(consensus::PayloadReady{Bytes{0}, false}, ready);
  core.step(consensus::Start{1}, ready);
  std::map<std::pair<Round, ReplicaId>, VertexId> ids;
  for (const auto& s : ready.sends) {
    const auto& v = std::get<VertexMessage>(message_of(*s.message)).vertex;
    ids[{v.round, v.author}] = v.id();
  }
  ASSERT_TRUE(ids.count({1, 0}));
  const auto feed = [&](Round round, ReplicaId author, std::vector<ReplicaId> parents) {
    Vertex v;
    v.chain_id = 9;
    v.round = round;
    v.author = author;
    for (ReplicaId p : parents) v.parents.push_back(ids.at({round - 1, p}));
    v.payload = Bytes{static_cast<std::uint8_t>(author), static_cast<std::uint8_t>(round)};
    ids[{round, author}] = v.id();
    Ready r;
    core.step(consensus::Received{author, wrap(VertexMessage{v}), 2}, r);
    for (const auto& s : r.sends) {
      if (const auto* m = std::get_if<VertexMessage>(&message_of(*s.message))) {
        ids[{m->vertex.round, m->vertex.author}] = m->vertex.id();
      }
    }
    return r.commits.size();
  };
  // Round 1 (the leader of round 1 is 1).
  EXPECT_EQ(feed(1, 1, {}), 0u);
  EXPECT_EQ(feed(1, 2, {}), 0u);
  EXPECT_EQ(feed(1, 3, {}), 0u);
  // Core 0 authored round 2 referencing all four; one more round-2 vote (from 2).
  ASSERT_TRUE(ids.count({2, 0}));
  EXPECT_EQ(feed(2, 2, {0, 1, 2}), 0u);
  EXPECT_EQ(core.support_of(ids.at({1, 1}))->count(), 2u);  // two chits: 0 and 2
  // Round 3 from author 2 only (core 0 cannot author round 3: one round-2 vertex short).
  EXPECT_EQ(core.round(), 2u);
  EXPECT_EQ(feed(2, 3, {0, 2, 3}), 0u);  // a third round-2 vertex that does not vote for 1's
  ASSERT_TRUE(ids.count({3, 0}));        // now 0 authors round 3: 2f+1 round-2 vertices
  EXPECT_EQ(feed(3, 2, {0, 2, 3}), 0u);  // one certificate? No: votes 0 and 2 only, 2 < 2f+1
  EXPECT_EQ(core.counters().leaders_committed, 0u);
  // A round-2 vote from 1 gives the leader 2f+1 votes; round-3 vertices that
  // reference those three votes are certificates: 2f+1 of them commit round 1's leader.
  EXPECT_EQ(feed(2, 1, {0, 1, 2}), 0u);
  EXPECT_EQ(feed(3, 1, {0, 1, 2}), 0u);  // certificate 1
  EXPECT_EQ(feed(3, 3, {0, 1, 2}), 0u);  // certificate 2 (with 0's round-3 vertex: not one)
  EXPECT_EQ(core.counters().leaders_committed, 0u);
  const std::size_t committed = feed(3, 2, {0, 1, 2});  // refused: 2 authored round 3 already
  EXPECT_EQ(committed, 0u);
  EXPECT_EQ(core.counters().equivocations, 1u);
}

// A replica restarted from its journal keeps its round (it never authors a
// second vertex for a round it authored), resumes its commit stream where it
// stopped, and the cluster goes on with one stream. The replica is down for ~17
// rounds: it fetches the vertices above its watermarks, which its peers still
// keep; one further behind than that needs the commit stream's catch-up
// (docs/dag.md "Restart").
TEST(DagCore, RestartFromTheJournalNeverEquivocates) {
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    Cluster cluster(4, seed, 100);
    cluster.run(3000);
    const Round before = cluster.core(2).round();
    cluster.crash(2);
    cluster.run(300);
    cluster.restart(2);
    EXPECT_EQ(cluster.core(2).round(), before);
    cluster.run(12000);
    cluster.check_safety(all(4));
    for (ReplicaId r = 0; r < 4; ++r) {
      EXPECT_EQ(cluster.core(r).counters().equivocations, 0u) << "replica " << r << " seed " << seed;
      EXPECT_GE(cluster.committed(r), 20u);
    }
    EXPECT_GT(cluster.core(2).round(), before + 5);
  }
}

// The journal is what prevents it: restarted with an empty one, the replica
// authors its rounds again (other payloads, other ids) and its peers see
// equivocation. Shows the test above can fail.
TEST(DagCore, RestartWithoutTheJournalIsSeenAsEquivocation) {
  Cluster cluster(4, 1, 100);
  cluster.run(200);  // its rounds are still held by its peers (not collected)
  ASSERT_GT(cluster.core(2).round(), 2u);
  cluster.crash(2);
  cluster.restart(2, /*keep_journal=*/false);
  cluster.run(3000);
  std::uint64_t equivocations = 0;
  for (ReplicaId r : {0u, 1u, 3u}) equivocations += cluster.core(r).counters().equivocations;
  EXPECT_GT(equivocations, 0u);
}

// An equivocating author whose versions are each wanted (its own next-round
// versions reference them) gets at most n versions of a round into the DAG.
TEST(DagCore, EquivocationVersionsAreBoundedByN) {
  const Config c = lone_config();
  Core core(c, RestoredDag{});
  Ready ready;
  core.step(consensus::Start{1}, ready);
  const VertexId own1 = std::get<VertexMessage>(message_of(*ready.sends.at(0).message)).vertex.id();
  Vertex other1;
  other1.chain_id = 9;
  other1.round = 1;
  other1.author = 1;
  const auto step = [&](const Vertex& v) {
    Ready r;
    core.step(consensus::Received{v.author, wrap(VertexMessage{v}), 2}, r);
  };
  std::vector<Vertex> round1, round2;
  for (std::uint8_t k = 0; k < 10; ++k) {
    Vertex v1;
    v1.chain_id = 9;
    v1.round = 1;
    v1.author = 3;
    v1.payload = Bytes{k};
    Vertex v2;
    v2.chain_id = 9;
    v2.round = 2;
    v2.author = 3;
    v2.parents = {own1, other1.id(), v1.id()};
    v2.payload = Bytes{k};
    round1.push_back(v1);
    round2.push_back(v2);
  }
  step(other1);
  for (const Vertex& v : round2) step(v);  // all pending: their round-1 parents are missing
  for (const Vertex& v : round1) step(v);  // each wanted by a pending child
  // Held: our round-1 vertex, 1's, 3's round-1 and round-2 versions (n = 4 each),
  // and our round-2 vertex (round 1 had 2f+1 with its leader, 1).
  EXPECT_EQ(core.vertices_held(), 1u + 1u + 4u + 4u + 1u);
  EXPECT_GT(core.counters().equivocations, 0u);
}

// A Byzantine author floods far-future rounds and vertices with unknown parents:
// dropped or buffered within the bounds, and the honest replicas go on.
TEST(DagCore, FloodsStayWithinTheBounds) {
  const Config c = lone_config();
  Core core(c, RestoredDag{});
  Ready ready;
  core.step(consensus::Start{1}, ready);
  Prng prng(5);
  for (std::size_t i = 0; i < limits::dag_pending_vertices_max + 500; ++i) {
    Vertex v;
    v.chain_id = 9;
    v.round = 2 + i % 50;
    v.author = 3;
    for (int p = 0; p < 3; ++p) {
      VertexId id;
      prng.fill(id.bytes);
      v.parents.push_back(id);
    }
    v.payload = Bytes{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i >> 16)};
    Ready r;
    core.step(consensus::Received{3, wrap(VertexMessage{v}), 2}, r);
  }
  // One author's share of the buffer, not all of it: another author's vertex
  // with a missing parent is still buffered.
  const std::size_t share = limits::dag_pending_vertices_max / 4;
  EXPECT_EQ(core.pending_held(), share);
  EXPECT_GT(core.counters().buffer_full, 0u);
  {
    Vertex honest;
    honest.chain_id = 9;
    honest.round = 2;
    honest.author = 1;
    honest.parents.resize(3);
    for (std::uint8_t p = 0; p < 3; ++p) honest.parents[p].bytes[1] = p;
    Ready r;
    core.step(consensus::Received{1, wrap(VertexMessage{honest}), 2}, r);
    EXPECT_EQ(core.pending_held(), share + 1);
  }
  // Their parents do not exist: once every peer was asked twice the fetches are
  // given up and the vertices waiting for them dropped, a fetch table at a time.
  const std::size_t before = core.pending_held();
  for (consensus::Tick t = 10; t < 10 + 20 * c.fetch_retry_ticks; t += c.fetch_retry_ticks) {
    Ready r;
    core.step(consensus::TickInput{t}, r);
  }
  EXPECT_LT(core.pending_held(), before);
  EXPECT_GT(core.counters().fetches_given_up, 0u);
  Vertex far;
  far.chain_id = 9;
  far.round = limits::dag_rounds_ahead_max + 10;
  far.author = 2;
  far.parents.resize(3);
  for (std::uint8_t p = 0; p < 3; ++p) far.parents[p].bytes[0] = p;
  const auto invalid = core.counters().invalid;
  core.step(consensus::Received{2, wrap(VertexMessage{far}), 3}, ready);
  EXPECT_EQ(core.counters().invalid, invalid + 1);
  // Wrong chain, unknown author, round 1 with parents, too few parents.
  Vertex bad;
  bad.chain_id = 8;
  bad.round = 1;
  bad.author = 1;
  core.step(consensus::Received{1, wrap(VertexMessage{bad}), 3}, ready);
  bad.chain_id = 9;
  bad.author = 4;
  core.step(consensus::Received{1, wrap(VertexMessage{bad}), 3}, ready);
  bad.author = 1;
  bad.parents.resize(1);
  core.step(consensus::Received{1, wrap(VertexMessage{bad}), 3}, ready);
  bad.round = 2;
  core.step(consensus::Received{1, wrap(VertexMessage{bad}), 3}, ready);
  EXPECT_EQ(core.counters().invalid, invalid + 5);
}

}  // namespace
}  // namespace kestrel::dag
