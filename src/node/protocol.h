// What a consensus protocol brings to the node: one ProtocolDriver per protocol
// (hotstuff2_driver.cc), picked by consensus.protocol. The node's host, ingress,
// payload builder and commit pipeline see only this and the consensus seam
// (consensus/consensus.h); everything that names a protocol's types lives in its
// driver: decoding and verifying peer messages, signing and encoding our own,
// the cheap proposal checks, serving blocks from the store to lagging peers,
// mapping the core's journal and commits onto the store, restoring the core,
// stage marks and the protocol's metrics.
//
// Threads: accept() runs on the network thread and is thread-safe; everything
// else runs on the consensus thread (node.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/result.h"
#include "consensus/consensus.h"
#include "node/config.h"

namespace kestrel::crypto {
class Signer;
class Verifier;
class ParallelVerifier;
}  // namespace kestrel::crypto
namespace kestrel::storage {
class Store;
}
namespace kestrel::perf {
class StageProfile;
}

namespace kestrel::node {

class NodeMetrics;

// What the node needs to know of an inbound message before stepping it.
struct Inbound {
  enum class Kind : std::uint8_t {
    other,
    proposal,    // carries a payload the node checks before the core may vote on it
    implausible  // a proposal the core will drop anyway (wrong proposer, view window): no payload checks
  };
  Kind kind = Kind::other;
  const Bytes* payload = nullptr;  // a proposal's payload (points into the message)
  Hash32 id;                       // a proposal's unit id
  std::uint64_t round = 0;         // a proposal's round (view), for logs
};

// A commit as the store keeps it: the unit's encoding (storage.h append_commit).
struct StoredCommit {
  Bytes unit;
};

// Counts a rare event and says whether to log this one: the first and every
// limits::node_rare_log_every-th (the host and the drivers log the same way).
inline bool note_rare(std::uint64_t& count) { return ++count % limits::node_rare_log_every == 1; }

struct DriverContext {
  const NodeConfig* config = nullptr;
  const crypto::Signer* signer = nullptr;
  std::vector<const crypto::Verifier*> validators;  // by id
  crypto::ParallelVerifier* verifier = nullptr;
  storage::Store* store = nullptr;
  NodeMetrics* metrics = nullptr;
  perf::StageProfile* stages = nullptr;
  // Test failpoint KESTREL_TEST_REFUSE_PENDING_BLOCKS (docs/node.md "Test
  // failpoints"): every pending-block write is refused as if the family were full.
  bool test_refuse_pending_blocks = false;
};

class ProtocolDriver {
 public:
  virtual ~ProtocolDriver() = default;

  // Builds the core from the store (journal and the last commits). Once, before
  // anything else. On failure a message naming what in the store is wrong.
  virtual Status<std::string> restore() = 0;
  virtual consensus::Core& core() = 0;
  virtual const consensus::Core& core() const = 0;

  // Network thread: decodes a consensus message and verifies every signature in
  // it; nullptr when it fails (counted in dropped_total()).
  virtual consensus::MessagePtr accept(consensus::ReplicaId from, ByteSpan bytes) = 0;

  virtual Inbound inspect(consensus::ReplicaId from, const consensus::Message& message) const = 0;
  // A request the core cannot answer (blocks below its window) answered from the
  // store within the peer's budget: true when handled here (the core need not see
  // it), with the answer for the host to send in *answer (none when refused).
  virtual bool serve_from_store(consensus::ReplicaId from, const consensus::Message& message,
                                std::optional<consensus::Envelope>* answer) = 0;

  // Puts the journal operations into the store's batch (sync() makes them durable).
  // False when a write the node cannot go on without failed (*error set).
  virtual bool write_journal(const std::vector<consensus::JournalOp>& journal, std::string* error) = 0;
  // One synced store write: the journal written so far and the commits appended
  // (the seam's persist-before-send point). False on failure (*error set).
  virtual bool sync(std::string* error) = 0;
  // True when this send must not leave: it depends on a journal write the store
  // refused (a vote for a block this node did not store).
  virtual bool withhold(const consensus::Envelope& envelope) = 0;
  // Signs what the core authored (the seam's signing rule) and encodes it.
  virtual Bytes seal(consensus::Envelope& envelope) = 0;
  // The id of the unit when the message is our own proposal.
  virtual std::optional<Hash32> own_proposal(const consensus::Message& message) const = 0;

  // The unit (block) a commit-stream entry stores: written once, the same bytes
  // its journal put wrote while it was uncommitted.
  virtual StoredCommit stored_commit(const consensus::Commit& commit) const = 0;
  // The payload inside a stored unit (the execution replay at start).
  virtual Result<Bytes, std::string> payload_of_unit(ByteSpan unit) const = 0;

  // After each step (its journal synced, its sends gone): stage marks.
  virtual void after_step(const consensus::Ready& ready) = 0;
  // The protocol's counters into the metrics (consensus thread, about twice a second).
  virtual void refresh_metrics() = 0;
  // The driver's own drops by reason (malformed, bad_signature, unsolicited fetch
  // response, store fetch budget), for kestrel_node_dropped_total.
  struct Drops {
    std::uint64_t malformed = 0, bad_signature = 0, unsolicited_response = 0, store_fetch_budget = 0;
    std::uint64_t votes_withheld = 0;
  };
  virtual Drops drops() const = 0;
};

Result<std::unique_ptr<ProtocolDriver>, std::string> make_protocol_driver(const DriverContext& context);

}  // namespace kestrel::node
