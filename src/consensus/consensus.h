// The consensus seam: the one contract every consensus core implements, and
// what its drivers (src/node for validators, src/sim for the simulator) rely on.
// docs/architecture.md "The seam" states it with an example step.
//
// In the etcd-raft Step/Ready spirit: the driver steps an Input into a Core and
// carries out the protocol-neutral Ready it appended, in this order:
//   1. Sends marked before_persist leave (the rule's one exception, below).
//   2. Journal operations are made durable (synced), in order. Then the driver
//      steps Persisted{} before any other input.
//   3. Every other send leaves; a send to self becomes a Received input of its
//      own step after this one (never a recursive step).
//   4. Commits go to the commit stream, gap-free, in sequence order.
//   5. wake_at asks for a TickInput at or after that tick; wants_payload for a
//      PayloadReady with the next batch.
//
// PERSIST BEFORE SEND. Nothing in a Ready leaves before its journal operations are
// durable, except an Envelope marked before_persist: a core marks one only when an
// operation already made durable in an earlier step (acknowledged by Persisted)
// covers it. HotStuff-2's reserved proposal is the only such send today
// (hotstuff2.h, driver contract 3).
//
// Signatures. Before a message becomes an Input its adapter has decoded it and
// verified every signature in it (the node in parallel batches on the network
// thread, the simulator one by one). Messages the core authors leave unsigned; the
// adapter signs them before encoding. A core never sees bytes from the wire.
//
// The core reads no global (no gate registry, no clock, no environment): what it
// needs arrives in its protocol's config. Time is ticks (1 tick = 1 ms in both
// drivers). Thread-safety: none; one thread steps a core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"

namespace kestrel::consensus {

using ReplicaId = std::uint32_t;
using Tick = std::uint64_t;
using Sequence = std::uint64_t;

// A protocol message after its adapter decoded and verified it; each protocol
// derives its own (hotstuff2::Envelope) and its core and adapter are the only
// code that looks inside. Shared: a broadcast is one object, encoded once.
class Message {
 public:
  virtual ~Message() = default;
};
using MessagePtr = std::shared_ptr<Message>;

// --- Inputs -------------------------------------------------------------------------

struct Start {
  Tick now = 0;
};
struct TickInput {
  Tick now = 0;
};
struct Received {
  ReplicaId from = 0;
  MessagePtr message;  // decoded and verified by the adapter; never null
  Tick now = 0;
};
// The next batch to propose (replaces one not yet proposed). hold, with an empty
// payload: the driver holds a batch back to let it fill and sends it within the
// core's idle delay (the node's flush hold).
struct PayloadReady {
  Bytes payload;
  bool hold = false;
};
// Every journal operation of the Readies stepped so far is durable.
struct Persisted {};
using Input = std::variant<Start, TickInput, Received, PayloadReady, Persisted>;

// --- Ready: what a step asks of its driver ---------------------------------------------

// One write to the core's journal (a key-value family only the core's protocol
// reads, restored to it on restart). Applied in order; durable before the Ready's
// sends but before_persist ones.
struct JournalOp {
  enum class Kind : std::uint8_t { put, erase };
  Kind kind = Kind::put;
  Bytes key;
  Bytes value;  // empty for erase
};

struct Envelope {
  std::optional<ReplicaId> to;  // nullopt: every other replica
  MessagePtr message;           // never null; signed by the adapter before it leaves
  // The view's critical path (proposals, votes, timeouts, certificates): the
  // node's transport sends it without a batching hold (gate net.urgent_consensus).
  // False for bulk answers (blocks for a lagging peer).
  bool urgent = true;
  // May leave before this Ready's journal is durable (the rule's one exception).
  bool before_persist = false;
};

// One entry of the commit stream: gap-free, sequence = previous + 1, the same
// entries in the same order on every correct replica. `proof` is the protocol's
// evidence that lets a node rebuild the entry and show it was decided (for
// HotStuff-2 the block's header; its justify certifies the parent, so each
// entry's proof certifies the one before it).
struct Commit {
  Sequence sequence = 0;
  Hash32 id;
  Bytes payload;
  Bytes proof;
};

struct Ready {
  std::vector<JournalOp> journal;
  std::vector<Envelope> sends;
  std::vector<Commit> commits;     // in sequence order
  std::optional<Tick> wake_at;
  bool wants_payload = false;      // the core proposed: hand it the next batch
  // Payload-carrying units (blocks, vertices) the core stored in this step, by id:
  // the node's payload builder indexes their transactions once (what is in flight).
  std::vector<Hash32> stored;

  void clear() {
    journal.clear();
    sends.clear();
    commits.clear();
    wake_at.reset();
    wants_payload = false;
    stored.clear();
  }
  bool needs_sync() const { return !journal.empty(); }
};

// What a driver may ask any core between steps (status page, payload timing).
struct CoreStatus {
  std::uint64_t round = 0;                // HotStuff-2: the view
  std::optional<ReplicaId> leader;        // of `round`, when the core can name it
  // The round follows a decided one (HotStuff-2: entered with the previous view's
  // QC), so its leader proposes at once; false after a timeout.
  bool responsive = true;
  Sequence committed = 0;                 // last commit-stream sequence
  Hash32 committed_id;
  std::uint64_t round_changes = 0;        // views entered by timeout certificate or sync
  std::uint64_t timeouts_sent = 0;
  std::uint64_t safety_alarms = 0;        // must stay 0 with at most f faults
};

class Core {
 public:
  virtual ~Core() = default;

  // Processes one input and appends its effects to `ready` (which the driver
  // clears between steps). Deterministic: the same inputs give the same Readies.
  virtual void step(const Input& input, Ready& ready) = 0;

  virtual CoreStatus status() const = 0;
  // True when this replica proposes in the current round or the next, or cannot
  // tell yet: the payload builder keeps a batch ready only then.
  virtual bool leads_soon() const = 0;
  // The ids of the uncommitted units the next proposal will extend (newest
  // first), whose transactions must not be proposed again. Bounded by the core's
  // own bounds; empty when nothing is in flight.
  virtual void proposal_ancestry(std::vector<Hash32>& ids) const = 0;
  // The payload of a unit the core holds (nullptr when it holds none by that id);
  // valid until the next step.
  virtual const Bytes* payload_of(const Hash32& id) const = 0;
};

}  // namespace kestrel::consensus
