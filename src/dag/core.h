// The DAG core behind the consensus seam (consensus.h): vertices in, the commit
// stream out. dag.h states the protocol; docs/dag.md the safety argument.
//
// The journal (keys owned here):
//   "v" || round (8 bytes, big-endian)  a vertex this replica authored: after a
//        restart it never authors another for that round (no equivocation), and
//        it broadcasts its last one again. Erased below the GC round.
//   "m"  the decision marker: the last decided leader slot's round, the last
//        commit-stream sequence and id, and per author the highest round ordered
//        (its watermark). Written in every step that decides a slot.
// The commit stream: one entry per ordered vertex with a payload; sequence
// counts entries, id = the vertex id, proof = encode_vertex of the vertex with
// an empty payload (the payload goes back in to check the id: vertex_of_commit).
#pragma once

#include <bitset>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "common/limits.h"
#include "dag/dag.h"

namespace kestrel::dag {

using Authors = std::bitset<limits::validators_max>;

// A DAG message as it crosses the seam.
struct Envelope final : consensus::Message {
  explicit Envelope(dag::Message m) : message(std::move(m)) {}
  dag::Message message;
};
const Message& message_of(const consensus::Message& m);
Message& message_of(consensus::Message& m);
consensus::MessagePtr wrap(Message m);

// The vertex an entry of the commit stream carries, or why not.
Result<Vertex, std::string> vertex_of_commit(ByteSpan proof, ByteSpan payload, const Hash32& id);

// What the journal gives back at restart (restore() in dag.h builds the core).
struct RestoredDag {
  std::map<Round, Vertex> own;           // this replica's vertices by round
  Round decided_round = 0;               // last decided leader slot
  consensus::Sequence sequence = 0;      // last commit-stream entry
  Hash32 last_id;
  std::vector<Round> watermarks;         // per author; empty: all 0
};
Result<RestoredDag, std::string> decode_journal(std::uint32_t n, const std::vector<JournalEntry>& journal);

class Core final : public consensus::Core {
 public:
  Core(const Config& config, RestoredDag restored);

  void step(const consensus::Input& input, consensus::Ready& ready) override;
  consensus::CoreStatus status() const override;
  bool leads_soon() const override { return true; }  // every replica authors every round
  void proposal_ancestry(std::vector<Hash32>& ids) const override;
  const Bytes* payload_of(const Hash32& id) const override;

  const Counters& counters() const { return counters_; }
  Round round() const { return own_round_; }
  Round decided_round() const { return decided_round_; }
  std::size_t vertices_held() const { return nodes_.size(); }
  std::size_t pending_held() const { return pending_.size(); }
  // The support of a vertex held (authors of next-round vertices that reference
  // it); nullopt when not held.
  std::optional<Authors> support_of(const VertexId& id) const;

 private:
  struct Node {
    Vertex vertex;
    VertexId id;
    std::vector<Node*> parents;       // those held (all but parents below the low round)
    Authors support;                  // chits: next-round authors referencing it
    Node* votes_for = nullptr;        // the previous round's slot vertex it references
    std::vector<const Node*> certificates;  // slot vertices: round + 2 vertices certifying it
    Authors certificate_authors;
    bool ordered = false;
  };
  struct RoundState {
    std::vector<Node*> first;        // per author, the first vertex held
    std::vector<Node*> slot;         // the leader's vertices (more than one: equivocation)
    Authors authors;                 // authors with a vertex held
    Authors blamers;                 // authors with a vertex not voting for the previous slot
    std::vector<std::uint32_t> versions;  // per author, vertices held (> 1: equivocation)
    Tick quorum_at = 0;              // when `authors` reached the quorum (0: not yet)
  };
  struct Pending {
    Vertex vertex;
    std::size_t missing = 0;
  };
  // Ordered maps for ids a peer chooses (parents, fetches): no hash flooding,
  // and iteration order that is the same on every replica.
  using PendingMap = std::map<VertexId, Pending>;
  struct Fetch {
    Tick asked_at = 0;
    ReplicaId next = 0;  // the peer asked next
    std::uint32_t attempts = 0;
  };
  enum class Decision : std::uint8_t { undecided, commit, skip };

  std::uint32_t quorum() const { return config_.n - (config_.n - 1) / 3; }
  Round low_round() const;  // parents below it are not needed (ordered or collected)
  RoundState& round_state(Round r);

  void on_vertex(ReplicaId from, Vertex vertex, bool fetched, consensus::Ready& ready);
  bool check_header(const Vertex& v) const;
  void insert(Vertex vertex, const VertexId& id, consensus::Ready& ready);
  bool check_parents(const Vertex& v, const std::vector<Node*>& parents) const;
  void link(Node* x);
  void on_fetch(ReplicaId from, const FetchRequest& request, consensus::Ready& ready);
  void ask(ReplicaId peer, const VertexId& id);
  void retry_fetches();
  void drop_waiting_for(const VertexId& id);
  PendingMap::iterator forget_pending(PendingMap::iterator it);
  void flush_asks(consensus::Ready& ready);

  void try_author(consensus::Ready& ready);
  void author(consensus::Ready& ready);
  bool idle() const;

  Decision direct(Round r, const Node** leader) const;
  Decision indirect(Round r, const std::map<Round, std::pair<Decision, const Node*>>& status,
                    const Node** leader) const;
  bool reaches(const Node* from, const Node* target) const;
  void try_decide(consensus::Ready& ready);
  void order(const Node* leader, consensus::Ready& ready);
  void collect_garbage(consensus::Ready& ready);
  void write_marker(consensus::Ready& ready);
  void schedule(consensus::Ready& ready);

  Config config_;
  Tick now_ = 0;
  bool started_ = false;
  Round own_round_ = 0;
  std::map<Round, Vertex> own_;  // authored, not yet collected (the journal's "v" keys)
  Tick authored_at_ = 0;
  std::optional<Bytes> next_payload_;

  std::map<VertexId, std::unique_ptr<Node>> nodes_;
  std::map<Round, RoundState> rounds_;
  Round highest_round_ = 0;
  std::size_t unordered_with_payload_ = 0;

  PendingMap pending_;
  std::size_t pending_bytes_ = 0;
  std::vector<std::size_t> pending_per_author_;
  std::multimap<VertexId, VertexId> waiting_on_;  // missing parent -> child
  std::map<VertexId, Fetch> fetches_;
  std::map<ReplicaId, std::vector<VertexId>> asks_;  // this step's fetch requests, per peer

  Round decided_round_ = 0;
  Round gc_round_ = 0;
  consensus::Sequence sequence_ = 0;
  Hash32 last_id_;
  std::vector<Round> watermarks_;
  bool marker_dirty_ = false;
  bool inserted_ = false;  // a vertex entered the DAG since the last try_decide
  Counters counters_;
};

}  // namespace kestrel::dag
