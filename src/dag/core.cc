// The DAG core (core.h): admission of vertices, the DAG with its support sets,
// authoring, the commit rule, ordering, fetches and garbage collection. Each rule
// is named in docs/dag.md where its safety argument is.
#include "dag/core.h"

#include <algorithm>
#include <deque>
#include <unordered_set>

#include "common/assert.h"

namespace kestrel::dag {

namespace {

Bytes own_key(Round round) {
  Bytes key{'v'};
  for (int i = 7; i >= 0; --i) key.push_back(static_cast<std::uint8_t>(round >> (8 * i)));
  return key;
}
const Bytes marker_key{'m'};

}  // namespace

ReplicaId leader_of(Round round, std::uint32_t n) { return static_cast<ReplicaId>(round % n); }

const Message& message_of(const consensus::Message& m) { return static_cast<const Envelope&>(m).message; }
Message& message_of(consensus::Message& m) { return static_cast<Envelope&>(m).message; }
consensus::MessagePtr wrap(Message m) { return std::make_shared<Envelope>(std::move(m)); }

Result<Vertex, std::string> vertex_of_commit(ByteSpan proof, ByteSpan payload, const Hash32& id) {
  auto v = decode_vertex(proof);
  if (!v) return Err(std::string("the commit's proof is no vertex: ") + describe(v.error()));
  if (!v->payload.empty()) return Err(std::string("the commit's proof carries a payload"));
  v->payload.assign(payload.begin(), payload.end());
  if (v->id() != id) return Err(std::string("the commit's vertex does not hash to its id"));
  return std::move(*v);
}

// --- Journal ----------------------------------------------------------------------------

Result<RestoredDag, std::string> decode_journal(std::uint32_t n, const std::vector<JournalEntry>& journal) {
  RestoredDag out;
  for (const auto& [key, value] : journal) {
    if (key.size() == 9 && key[0] == 'v') {
      auto v = decode_vertex(value);
      if (!v) return Err("journal key v: the vertex does not decode: " + std::string(describe(v.error())));
      Round r = 0;
      for (std::size_t i = 1; i < 9; ++i) r = (r << 8) | key[i];
      if (v->round != r) return Err(std::string("journal key v: the vertex's round is not its key's"));
      out.own[r] = std::move(*v);
    } else if (key == marker_key) {
      Reader reader(value);
      auto decided = reader.varint();
      auto sequence = reader.varint();
      if (!decided || !sequence) return Err(std::string("journal key m: truncated"));
      out.decided_round = *decided;
      out.sequence = *sequence;
      if (auto s = reader.fixed_into(out.last_id.bytes); !s) return Err(std::string("journal key m: truncated"));
      auto count = reader.varint_max(limits::validators_max);
      if (!count || *count != n) return Err(std::string("journal key m: watermarks for another cluster size"));
      out.watermarks.resize(n);
      for (auto& w : out.watermarks) {
        auto v = reader.varint();
        if (!v) return Err(std::string("journal key m: truncated"));
        w = *v;
      }
      if (!reader.finish()) return Err(std::string("journal key m: trailing bytes"));
    } else {
      return Err(std::string("journal: unknown key for the dag protocol"));
    }
  }
  return out;
}

Result<std::unique_ptr<Core>, std::string> restore(const Config& config, const std::vector<JournalEntry>& journal) {
  auto restored = decode_journal(config.n, journal);
  if (!restored) return Err(restored.error());
  for (const auto& [round, v] : restored->own) {
    if (v.author != config.self) return Err(std::string("journal key v: a vertex of another author"));
  }
  return std::make_unique<Core>(config, std::move(*restored));
}

// --- The core -----------------------------------------------------------------------------

Core::Core(const Config& config, RestoredDag restored)
    : config_(config),
      own_(std::move(restored.own)),
      decided_round_(restored.decided_round),
      sequence_(restored.sequence),
      last_id_(restored.last_id),
      watermarks_(std::move(restored.watermarks)) {
  KESTREL_ASSERT(config_.n >= 1 && config_.n <= limits::validators_max && config_.self < config_.n);
  if (watermarks_.empty()) watermarks_.assign(config_.n, 0);
  pending_per_author_.assign(config_.n, 0);
  KESTREL_ASSERT(watermarks_.size() == config_.n);
  if (!own_.empty()) own_round_ = own_.rbegin()->first;
  gc_round_ = decided_round_ > config_.gc_depth ? decided_round_ - config_.gc_depth : 0;
}

Round Core::low_round() const { return gc_round_; }

Core::RoundState& Core::round_state(Round r) {
  auto [it, inserted] = rounds_.try_emplace(r);
  if (inserted) {
    it->second.first.assign(config_.n, nullptr);
    it->second.versions.assign(config_.n, 0);
  }
  return it->second;
}

void Core::step(const consensus::Input& input, consensus::Ready& ready) {
  if (const auto* s = std::get_if<consensus::Start>(&input)) {
    now_ = s->now;
    started_ = true;
    // A restart: the last vertex authored goes out again (peers may have missed
    // it; it is the same vertex, never a second one for its round).
    if (!own_.empty()) {
      Vertex last = own_.rbegin()->second;
      const VertexId id = last.id();
      ready.sends.push_back({std::nullopt, wrap(VertexMessage{last}), true, false});
      if (!nodes_.count(id) && last.round >= low_round()) on_vertex(config_.self, std::move(last), true, ready);
    }
    ready.wants_payload = true;
  } else if (const auto* t = std::get_if<consensus::TickInput>(&input)) {
    now_ = std::max(now_, t->now);
    retry_fetches();
  } else if (const auto* r = std::get_if<consensus::Received>(&input)) {
    now_ = std::max(now_, r->now);
    const Message& m = message_of(*r->message);
    if (const auto* v = std::get_if<VertexMessage>(&m)) {
      on_vertex(r->from, v->vertex, false, ready);
    } else if (const auto* q = std::get_if<FetchRequest>(&m)) {
      on_fetch(r->from, *q, ready);
    } else {
      for (const Vertex& fetched : std::get<FetchResponse>(m).vertices) on_vertex(r->from, fetched, true, ready);
    }
  } else if (const auto* p = std::get_if<consensus::PayloadReady>(&input)) {
    if (!p->hold) next_payload_ = p->payload;
  }
  if (!started_) return;
  try_decide(ready);
  try_author(ready);
  try_decide(ready);  // an own vertex can complete a certificate (n = 1, small clusters)
  flush_asks(ready);
  if (marker_dirty_) write_marker(ready);
  schedule(ready);
}

// --- Admission ----------------------------------------------------------------------------

// Checks that need no other vertex: the rest (parent rounds, distinct authors,
// the author's own previous vertex) waits for the parents (check_parents).
bool Core::check_header(const Vertex& v) const {
  if (v.chain_id != config_.chain_id || v.author >= config_.n || v.round == 0) return false;
  if (v.payload.size() > limits::block_payload_bytes_max) return false;
  if (v.round == 1) return v.parents.empty();
  if (v.parents.size() < quorum() || v.parents.size() > config_.n) return false;
  for (std::size_t i = 0; i < v.parents.size(); ++i) {
    for (std::size_t j = i + 1; j < v.parents.size(); ++j) {
      if (v.parents[i] == v.parents[j]) return false;
    }
  }
  return true;
}

bool Core::check_parents(const Vertex& v, const std::vector<Node*>& parents) const {
  Authors seen;
  bool own_previous = false;
  for (const Node* p : parents) {
    if (p->vertex.round + 1 != v.round) return false;
    if (seen.test(p->vertex.author)) return false;  // two parents of one author
    seen.set(p->vertex.author);
    if (p->vertex.author == v.author) own_previous = true;
  }
  // Parents below the low round are not held (ordered or collected): the rules
  // were checked when they were current, and nothing above depends on them.
  if (parents.size() < v.parents.size()) return true;
  return v.round == 1 || own_previous;
}

void Core::on_vertex(ReplicaId from, Vertex vertex, bool fetched, consensus::Ready& ready) {
  if (!check_header(vertex)) {
    ++counters_.invalid;
    return;
  }
  if (vertex.round < low_round()) {
    ++counters_.stale;
    return;
  }
  if (vertex.round > std::max(highest_round_, own_round_) + limits::dag_rounds_ahead_max) {
    ++counters_.invalid;  // far future: no honest peer is that far ahead
    return;
  }
  const VertexId id = vertex.id();
  if (nodes_.count(id) || pending_.count(id)) return;  // a duplicate
  const bool wanted = fetches_.erase(id) > 0 || waiting_on_.count(id) > 0;
  // One vertex per (author, round): a second one is equivocation. It is evidence
  // and counted; it enters the DAG only when a vertex we need references it
  // (honest replicas may have taken different ones), never otherwise.
  if (auto rs = rounds_.find(vertex.round); rs != rounds_.end() && rs->second.first[vertex.author] != nullptr) {
    ++counters_.equivocations;
    // At most n versions of one (author, round), wanted or not: honest replicas
    // reference at most n different ones, and no author grows the DAG beyond it.
    if (!wanted || rs->second.versions[vertex.author] >= config_.n) return;
  }
  if (vertex.author == config_.self && !fetched && from != config_.self) return;  // ours come from us
  // Parents we lack: buffer the vertex (bounded) and fetch them. A vertex at or
  // below its author's watermark is ordered already (a restarted replica fetches
  // it as a parent): its own ancestors are not needed, so the fetches stop there.
  std::size_t missing = 0;
  if (vertex.round > low_round() && vertex.round > watermarks_[vertex.author]) {
    for (const VertexId& p : vertex.parents) {
      if (!nodes_.count(p)) ++missing;
    }
  }
  if (missing == 0) {
    insert(std::move(vertex), id, ready);
    return;
  }
  // Bounded in all and per author: one author's flood cannot take the room the
  // others' vertices need while their parents are fetched.
  const std::size_t author_share = std::max<std::size_t>(16, limits::dag_pending_vertices_max / config_.n);
  if (pending_.size() >= limits::dag_pending_vertices_max || pending_per_author_[vertex.author] >= author_share ||
      pending_bytes_ + vertex.payload.size() > limits::dag_pending_bytes_max) {
    ++counters_.buffer_full;
    return;
  }
  for (const VertexId& p : vertex.parents) {
    if (nodes_.count(p)) continue;
    waiting_on_.emplace(p, id);
    if (!pending_.count(p)) ask(from, p);
  }
  pending_bytes_ += vertex.payload.size();
  ++pending_per_author_[vertex.author];
  pending_.emplace(id, Pending{std::move(vertex), missing});
}

// Inserts a vertex whose parents are all held (or below the low round), then the
// pending vertices that waited only for it, without recursion.
void Core::insert(Vertex first, const VertexId& first_id, consensus::Ready& ready) {
  std::deque<std::pair<Vertex, VertexId>> work;
  work.emplace_back(std::move(first), first_id);
  while (!work.empty()) {
    auto [vertex, id] = std::move(work.front());
    work.pop_front();
    std::vector<Node*> parents;
    parents.reserve(vertex.parents.size());
    for (const VertexId& p : vertex.parents) {
      if (auto it = nodes_.find(p); it != nodes_.end()) parents.push_back(it->second.get());
    }
    // check_parents accepts parents not held (below the low round, or below the
    // watermarks of a restarted replica) but checks every one that is.
    RoundState* existing = rounds_.count(vertex.round) ? &rounds_.at(vertex.round) : nullptr;
    const bool valid = vertex.round >= low_round() && check_parents(vertex, parents) &&
                       (!existing || existing->versions[vertex.author] < config_.n);
    // Children waiting for it: released whether it is valid or not (an invalid
    // parent makes them invalid too, found when they are checked).
    std::vector<VertexId> children;
    for (auto [it, end] = waiting_on_.equal_range(id); it != end; ++it) children.push_back(it->second);
    waiting_on_.erase(id);
    fetches_.erase(id);
    if (!valid) {
      ++counters_.invalid;
      for (const VertexId& c : children) {
        if (auto pc = pending_.find(c); pc != pending_.end()) {
          forget_pending(pc);
          ++counters_.invalid;
        }
      }
      continue;
    }
    auto node = std::make_unique<Node>();
    Node* x = node.get();
    x->id = id;
    x->parents = std::move(parents);
    x->vertex = std::move(vertex);
    const Round r = x->vertex.round;
    const ReplicaId a = x->vertex.author;
    RoundState& rs = round_state(r);
    if (rs.first[a] == nullptr) rs.first[a] = x;
    ++rs.versions[a];
    inserted_ = true;
    rs.authors.set(a);
    if (rs.quorum_at == 0 && rs.authors.count() >= quorum()) rs.quorum_at = std::max<Tick>(now_, 1);
    if (a == leader_of(r, config_.n)) rs.slot.push_back(x);
    link(x);
    x->ordered = r <= watermarks_[a];  // ordered before (a restart fetched it as a parent)
    if (!x->vertex.payload.empty() && !x->ordered) {
      ++unordered_with_payload_;
      ready.stored.push_back(id);
    }
    highest_round_ = std::max(highest_round_, r);
    ++counters_.vertices_accepted;
    nodes_.emplace(id, std::move(node));
    for (const VertexId& c : children) {
      auto pc = pending_.find(c);
      if (pc == pending_.end()) continue;
      if (--pc->second.missing == 0) {
        Vertex ready_vertex = std::move(pc->second.vertex);
        --pending_per_author_[ready_vertex.author];
        pending_bytes_ -= ready_vertex.payload.size();
        pending_.erase(pc);
        work.emplace_back(std::move(ready_vertex), c);
      }
    }
  }
}

// Rule C1 (chits, votes, certificates; docs/dag.md): every parent gains the new
// vertex's author in its support; a parent in the previous round's slot makes it
// a vote; 2f+1 parents voting for one slot vertex of round r - 2 make it a
// certificate for that vertex.
void Core::link(Node* x) {
  const Round r = x->vertex.round;
  const ReplicaId a = x->vertex.author;
  for (Node* p : x->parents) {
    p->support.set(a);
    if (p->vertex.author == leader_of(p->vertex.round, config_.n)) x->votes_for = p;
  }
  if (r >= 2 && x->votes_for == nullptr) round_state(r).blamers.set(a);
  if (r < 3) return;
  std::map<Node*, std::uint32_t> votes;
  for (const Node* p : x->parents) {
    if (p->votes_for) ++votes[p->votes_for];
  }
  for (const auto& [leader, count] : votes) {
    if (count < quorum()) continue;
    leader->certificates.push_back(x);
    leader->certificate_authors.set(a);
  }
}

// --- Fetches ----------------------------------------------------------------------------------

void Core::ask(ReplicaId peer, const VertexId& id) {
  if (fetches_.count(id)) return;
  if (fetches_.size() >= limits::dag_fetches_outstanding_max) return;  // asked again when a retry frees room
  if (peer == config_.self) peer = (peer + 1) % config_.n;
  fetches_.emplace(id, Fetch{now_, static_cast<ReplicaId>((peer + 1) % config_.n), 1});
  asks_[peer].push_back(id);
}

void Core::retry_fetches() {
  // A vertex every peer was asked for twice, or that nothing waits for any more,
  // is given up: the vertices waiting for it go too (a Byzantine reference to a
  // vertex that does not exist must not hold a fetch slot or a pending slot
  // forever). An honest vertex given up is fetched again when referenced.
  std::vector<VertexId> given_up;
  for (const auto& [id, fetch] : fetches_) {
    if (fetch.attempts >= 2 * config_.n || !waiting_on_.count(id)) given_up.push_back(id);
  }
  for (const VertexId& id : given_up) {
    fetches_.erase(id);
    ++counters_.fetches_given_up;
    drop_waiting_for(id);
  }
  for (auto& [id, fetch] : fetches_) {
    if (now_ < fetch.asked_at + config_.fetch_retry_ticks) continue;
    ReplicaId peer = fetch.next;
    if (peer == config_.self) peer = (peer + 1) % config_.n;
    fetch.next = static_cast<ReplicaId>((peer + 1) % config_.n);
    fetch.asked_at = now_;
    ++fetch.attempts;
    if (peer != config_.self) asks_[peer].push_back(id);
  }
  // Missing parents with no fetch outstanding (the table was full when they
  // were first seen): ask the vertex's author's peers in turn.
  for (const auto& [parent, child] : waiting_on_) {
    if (fetches_.size() >= limits::dag_fetches_outstanding_max) break;
    if (fetches_.count(parent) || pending_.count(parent)) continue;
    auto pc = pending_.find(child);
    ask(pc != pending_.end() ? pc->second.vertex.author : 0, parent);
  }
}

Core::PendingMap::iterator Core::forget_pending(PendingMap::iterator it) {
  pending_bytes_ -= it->second.vertex.payload.size();
  --pending_per_author_[it->second.vertex.author];
  return pending_.erase(it);
}

// Drops the pending vertices that wait for `id`, and those that wait for them,
// without recursion.
void Core::drop_waiting_for(const VertexId& id) {
  std::vector<VertexId> work{id};
  while (!work.empty()) {
    const VertexId missing = work.back();
    work.pop_back();
    for (auto [it, end] = waiting_on_.equal_range(missing); it != end; ++it) {
      auto pc = pending_.find(it->second);
      if (pc == pending_.end()) continue;
      forget_pending(pc);
      work.push_back(it->second);
    }
    waiting_on_.erase(missing);
  }
}

void Core::flush_asks(consensus::Ready& ready) {
  for (auto& [peer, ids] : asks_) {
    if (peer == config_.self || ids.empty()) continue;
    for (std::size_t at = 0; at < ids.size(); at += limits::dag_fetch_ids_max) {
      FetchRequest request;
      const std::size_t end = std::min(ids.size(), at + limits::dag_fetch_ids_max);
      request.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(at), ids.begin() + static_cast<std::ptrdiff_t>(end));
      ready.sends.push_back({peer, wrap(std::move(request)), true, false});
      ++counters_.fetches_sent;
    }
  }
  asks_.clear();
}

void Core::on_fetch(ReplicaId from, const FetchRequest& request, consensus::Ready& ready) {
  if (from == config_.self) return;
  FetchResponse response;
  std::size_t bytes = 0;
  for (const VertexId& id : request.ids) {
    auto it = nodes_.find(id);
    if (it == nodes_.end()) continue;
    response.vertices.push_back(it->second->vertex);
    const Vertex& v = it->second->vertex;
    bytes += v.payload.size() + v.signature.size() + v.parents.size() * Hash32::size + 4 * limits::varint_bytes_max;
    if (bytes >= limits::dag_fetch_response_bytes_max) break;
  }
  if (response.vertices.empty()) return;
  ++counters_.fetches_served;
  ready.sends.push_back({from, wrap(std::move(response)), false, false});
}

// --- Authoring ----------------------------------------------------------------------------------

bool Core::idle() const { return !next_payload_ && unordered_with_payload_ == 0; }

void Core::try_author(consensus::Ready& ready) {
  for (;;) {
    if (own_round_ == 0) {
      author(ready);
      continue;
    }
    if (own_round_ >= decided_round_ + limits::dag_rounds_undecided_max) return;  // commits stalled: wait
    auto rs = rounds_.find(own_round_);
    if (rs == rounds_.end() || rs->second.authors.count() < quorum()) return;
    if (rs->second.first[config_.self] == nullptr) return;  // our own vertex is not back yet (restart)
    // Behind the others (a restart, a partition healed): no waiting, catch up.
    const bool behind = highest_round_ > own_round_ + 1;
    const bool have_leader = !rs->second.slot.empty();
    if (!behind && !have_leader && now_ < rs->second.quorum_at + config_.leader_wait_ticks) return;
    if (!behind && config_.idle_round_ticks > 0 && idle() && now_ < authored_at_ + config_.idle_round_ticks) return;
    author(ready);
  }
}

void Core::author(consensus::Ready& ready) {
  Vertex v;
  v.chain_id = config_.chain_id;
  v.round = own_round_ + 1;
  v.author = config_.self;
  if (own_round_ > 0) {
    const RoundState& rs = rounds_.at(own_round_);
    for (ReplicaId a = 0; a < config_.n; ++a) {
      if (rs.first[a]) v.parents.push_back(rs.first[a]->id);
    }
  }
  if (next_payload_) {
    v.payload = std::move(*next_payload_);
    next_payload_.reset();
  }
  const VertexId id = v.id();
  own_round_ = v.round;
  authored_at_ = now_;
  ++counters_.vertices_authored;
  // Persist before send: the journal holds the vertex before it leaves, so a
  // restarted replica never authors a second one for this round.
  ready.journal.push_back({consensus::JournalOp::Kind::put, own_key(v.round), encode_vertex(v)});
  ready.sends.push_back({std::nullopt, wrap(VertexMessage{v}), true, false});
  ready.wants_payload = true;
  own_.emplace(v.round, v);
  insert(std::move(v), id, ready);
}

// --- The commit rule ------------------------------------------------------------------------------

// Rule D1 (direct commit) and D2 (direct skip), docs/dag.md.
Core::Decision Core::direct(Round r, const Node** leader) const {
  auto rs = rounds_.find(r);
  if (rs != rounds_.end()) {
    for (const Node* l : rs->second.slot) {
      if (l->certificate_authors.count() >= quorum()) {
        *leader = l;
        return Decision::commit;
      }
    }
  }
  auto next = rounds_.find(r + 1);
  if (next != rounds_.end() && next->second.blamers.count() >= quorum()) return Decision::skip;
  return Decision::undecided;
}

// Whether `target` is in the causal history of `from` (target's round or above).
bool Core::reaches(const Node* from, const Node* target) const {
  if (from == target) return true;
  std::vector<const Node*> stack{from};
  std::unordered_set<const Node*> seen{from};
  while (!stack.empty()) {
    const Node* x = stack.back();
    stack.pop_back();
    for (const Node* p : x->parents) {
      if (p == target) return true;
      if (p->vertex.round <= target->vertex.round || !seen.insert(p).second) continue;
      stack.push_back(p);
    }
  }
  return false;
}

// Decides slots from the last decided one up, as far as decisions go (rule D3
// for the undecided ones), and orders the committed leaders.
void Core::try_decide(consensus::Ready& ready) {
  // Decisions change only when a vertex enters the DAG.
  if (!inserted_) return;
  inserted_ = false;
  if (highest_round_ < decided_round_ + 3) return;  // the next slot cannot have 2f+1 certificates yet
  const Round top = highest_round_ - 2;               // the highest slot with certificates possible
  // Decisions from the top down, so each undecided slot finds its anchors decided.
  std::map<Round, std::pair<Decision, const Node*>> status;
  for (Round r = top; r > decided_round_; --r) {
    const Node* leader = nullptr;
    Decision d = direct(r, &leader);
    if (d == Decision::undecided) d = indirect(r, status, &leader);
    status[r] = {d, leader};
  }
  const auto first = status.find(decided_round_ + 1);
  if (first == status.end() || first->second.first == Decision::undecided) return;
  for (auto it = first; it != status.end() && it->second.first != Decision::undecided; ++it) {
    if (it->second.first == Decision::commit) {
      ++counters_.leaders_committed;
      order(it->second.second, ready);
    } else {
      ++counters_.leaders_skipped;
    }
    decided_round_ = it->first;
    marker_dirty_ = true;
  }
  collect_garbage(ready);
}

// Rule D3: the first later slot of round >= r + 3 decided as a commit (skips
// passed over, an undecided one stops the search) decides slot r: commit the slot
// vertex one of whose certificates the anchor reaches, else skip.
Core::Decision Core::indirect(Round r, const std::map<Round, std::pair<Decision, const Node*>>& status,
                              const Node** leader) const {
  for (auto a = status.lower_bound(r + 3); a != status.end(); ++a) {
    if (a->second.first == Decision::undecided) return Decision::undecided;
    if (a->second.first == Decision::skip) continue;
    if (auto rs = rounds_.find(r); rs != rounds_.end()) {
      for (const Node* l : rs->second.slot) {
        for (const Node* c : l->certificates) {
          if (reaches(a->second.second, c)) {
            *leader = l;
            return Decision::commit;
          }
        }
      }
    }
    return Decision::skip;
  }
  return Decision::undecided;
}

// Orders the committed leader's causal history not yet ordered: vertices above
// their author's watermark and the GC round, by (round, author, id). Rule O1.
void Core::order(const Node* leader, consensus::Ready& ready) {
  const Round floor = leader->vertex.round > config_.gc_depth ? leader->vertex.round - config_.gc_depth : 0;
  std::vector<Node*> history;
  Node* start = nodes_.at(leader->id).get();  // the same vertex, writable
  std::vector<Node*> stack{start};
  std::unordered_set<const Node*> seen{start};
  while (!stack.empty()) {
    Node* x = stack.back();
    stack.pop_back();
    if (x->vertex.round <= watermarks_[x->vertex.author] || x->vertex.round < floor) continue;
    history.push_back(x);
    for (Node* p : x->parents) {
      if (seen.insert(p).second) stack.push_back(p);
    }
  }
  std::sort(history.begin(), history.end(), [](const Node* a, const Node* b) {
    if (a->vertex.round != b->vertex.round) return a->vertex.round < b->vertex.round;
    if (a->vertex.author != b->vertex.author) return a->vertex.author < b->vertex.author;
    return a->id < b->id;
  });
  for (Node* x : history) {
    watermarks_[x->vertex.author] = std::max(watermarks_[x->vertex.author], x->vertex.round);
  }
  for (Node* x : history) {
    x->ordered = true;  // above its watermark until now: not ordered before
    if (x->vertex.payload.empty()) continue;
    --unordered_with_payload_;
    Vertex header = x->vertex;
    header.payload.clear();
    ready.commits.push_back({++sequence_, x->id, x->vertex.payload, encode_vertex(header)});
    last_id_ = x->id;
  }
}

void Core::collect_garbage(consensus::Ready& ready) {
  const Round gc = decided_round_ > config_.gc_depth ? decided_round_ - config_.gc_depth : 0;
  if (gc <= gc_round_) return;
  gc_round_ = gc;
  while (!rounds_.empty() && rounds_.begin()->first < gc_round_) rounds_.erase(rounds_.begin());
  for (auto it = nodes_.begin(); it != nodes_.end();) {
    if (it->second->vertex.round < gc_round_) {
      if (!it->second->ordered && !it->second->vertex.payload.empty()) --unordered_with_payload_;
      ++counters_.garbage_collected;
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
  // Pointers into collected vertices: parents and certificates below the GC round.
  for (auto& [id, node] : nodes_) {
    if (node->vertex.round <= gc_round_) node->parents.clear();
    if (node->votes_for && node->vertex.round <= gc_round_) node->votes_for = nullptr;
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.vertex.round < gc_round_) {
      it = forget_pending(it);
    } else {
      ++it;
    }
  }
  // Waits of vertices no longer pending (collected, dropped, given up).
  std::erase_if(waiting_on_, [&](const auto& entry) { return !pending_.count(entry.second); });
  while (!own_.empty() && own_.begin()->first < gc_round_ && own_.size() > 1) {
    ready.journal.push_back({consensus::JournalOp::Kind::erase, own_key(own_.begin()->first), {}});
    own_.erase(own_.begin());
  }
}

void Core::write_marker(consensus::Ready& ready) {
  Bytes value;
  Writer w(value);
  w.varint(decided_round_);
  w.varint(sequence_);
  w.fixed(last_id_.bytes);
  w.varint(watermarks_.size());
  for (Round m : watermarks_) w.varint(m);
  ready.journal.push_back({consensus::JournalOp::Kind::put, marker_key, std::move(value)});
  marker_dirty_ = false;
}

void Core::schedule(consensus::Ready& ready) {
  std::optional<Tick> at;
  const auto earliest = [&](Tick t) { at = at ? std::min(*at, t) : t; };
  if (auto rs = rounds_.find(own_round_); rs != rounds_.end() && rs->second.quorum_at != 0) {
    if (rs->second.slot.empty()) earliest(rs->second.quorum_at + config_.leader_wait_ticks);
    if (config_.idle_round_ticks > 0) earliest(authored_at_ + config_.idle_round_ticks);
  }
  for (const auto& [id, fetch] : fetches_) earliest(fetch.asked_at + config_.fetch_retry_ticks);
  if (!waiting_on_.empty() && fetches_.empty()) earliest(now_ + config_.fetch_retry_ticks);
  if (at) ready.wake_at = std::max(*at, now_ + 1);
}

// --- Queries ------------------------------------------------------------------------------------------

consensus::CoreStatus Core::status() const {
  consensus::CoreStatus s;
  s.round = own_round_;
  s.leader = leader_of(own_round_ + 1, config_.n);
  s.committed = sequence_;
  s.committed_id = last_id_;
  return s;
}

void Core::proposal_ancestry(std::vector<Hash32>& ids) const {
  ids.clear();
  for (auto rs = rounds_.rbegin(); rs != rounds_.rend(); ++rs) {
    for (const Node* x : rs->second.first) {
      if (x && !x->ordered && !x->vertex.payload.empty()) ids.push_back(x->id);
    }
  }
}

const Bytes* Core::payload_of(const Hash32& id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second->vertex.payload;
}

std::optional<Authors> Core::support_of(const VertexId& id) const {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return std::nullopt;
  return it->second->support;
}

}  // namespace kestrel::dag
