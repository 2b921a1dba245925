// QR-Avalanche: Kestrel's DAG consensus protocol, sans-IO (docs/dag.md).
//
// Every validator authors at most one signed vertex per round. A vertex of round
// r > 1 references 2f+1 to n vertices of round r - 1 of distinct authors, its
// author's own vertex of r - 1 among them; its id is the hash of its content.
// A reference is a chit: each vertex keeps the bit set of the authors whose
// next-round vertices reference it (its support; confidence is its popcount),
// updated as vertices arrive. Leaders commit by the uncertified-DAG rule of
// Mysticeti (Babel et al., NDSS 2025), one leader slot per round:
//   vote         a round r + 1 vertex that references the slot's vertex;
//   certificate  a round r + 2 vertex that references 2f+1 votes for it;
//   direct       2f+1 certificates (distinct authors) commit it; 2f+1 round
//                r + 1 vertices that do not vote for any vertex of the slot
//                skip it;
//   indirect     otherwise the first later slot of round >= r + 3 decided as a
//                commit (skips passed over, an undecided one stops the search)
//                decides it: commit if its causal history holds a certificate
//                for the slot's vertex, else skip.
// Slots are decided in round order; each committed leader orders its causal
// history not yet ordered by (round, author, id) into the seam's gap-free commit
// stream (one entry per vertex with a payload). Safe for f < n/3 under
// asynchrony; the argument, rule by rule, is in docs/dag.md.
//
// Thread-safety: none; one thread steps a core. The codec functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/hash.h"
#include "common/result.h"
#include "consensus/consensus.h"

namespace kestrel::dag {

using consensus::ReplicaId;
using consensus::Tick;
using Round = std::uint64_t;
using VertexId = Hash32;

struct Vertex {
  std::uint64_t chain_id = 0;  // part of the id: a vertex of one chain is no vertex of another
  Round round = 0;             // >= 1
  ReplicaId author = 0;
  // Vertices of round - 1, of distinct authors (empty in round 1), in the
  // author's order (the encoding keeps it; the rules do not depend on it).
  std::vector<VertexId> parents;
  Bytes payload;               // a transaction batch (node/payload.h); may be empty
  Bytes signature;             // over signing_bytes(id()); not part of the id

  // SHA-256 over a domain tag and the canonical encoding of every field but the
  // signature.
  VertexId id() const;
};

// What an author signs: a domain tag and the vertex id.
Bytes signing_bytes(const VertexId& id);

// Messages between validators.
struct VertexMessage {  // an author's vertex, broadcast once
  Vertex vertex;
};
struct FetchRequest {  // vertices the sender lacks (missing ancestors)
  std::vector<VertexId> ids;  // 1..limits::dag_fetch_ids_max
};
struct FetchResponse {  // those of them the responder holds
  std::vector<Vertex> vertices;  // <= limits::dag_fetch_ids_max
};
using Message = std::variant<VertexMessage, FetchRequest, FetchResponse>;

// Canonical, bounded encodings (docs/dag.md "Wire format"); the decoders
// refuse anything that does not re-encode to the same bytes.
Bytes encode_vertex(const Vertex& vertex);
Result<Vertex, CodecError> decode_vertex(ByteSpan bytes);
Bytes encode_message(const Message& message);
Result<Message, CodecError> decode_message(ByteSpan bytes);

// --- The core ---------------------------------------------------------------------

struct Config {
  std::uint64_t chain_id = 1;
  ReplicaId self = 0;
  std::uint32_t n = 4;  // f = (n - 1) / 3, quorum = n - f
  // A replica with 2f+1 vertices of its round but not the round's leader vertex
  // waits this long for it before it moves on (a vote for the leader is what
  // commits it).
  Tick leader_wait_ticks = 200;
  // With no payload to carry and nothing uncommitted that carries one, the next
  // vertex waits this long (an idle cluster makes a round per this delay instead
  // of spinning). 0: at once.
  Tick idle_round_ticks = 0;
  // Fetches for a missing vertex are retried after this long, from the next peer.
  Tick fetch_retry_ticks = 200;
  // Rounds kept below the last decided leader slot (garbage collection):
  // vertices below it are dropped, never ordered, never fetched. It also sets
  // the ordering floor (rule O1), so it is a cluster parameter like n: every
  // replica must use the same value or their commit streams differ.
  Round gc_depth = 50;
};

// The leader of a round's slot: round robin, offset so that round 1's is 1.
ReplicaId leader_of(Round round, std::uint32_t n);

// Counters, for metrics and the simulator's summary.
struct Counters {
  std::uint64_t vertices_authored = 0;
  std::uint64_t vertices_accepted = 0;     // inserted into the DAG (own included)
  std::uint64_t equivocations = 0;         // a second vertex for one (author, round)
  std::uint64_t invalid = 0;               // broke a structural rule; dropped
  std::uint64_t stale = 0;                 // below the garbage-collection round
  std::uint64_t buffer_full = 0;           // dropped: the pending buffer was at its bound
  std::uint64_t fetches_sent = 0;
  std::uint64_t fetches_served = 0;
  std::uint64_t fetches_given_up = 0;      // every peer asked twice, or nothing waits for it
  std::uint64_t leaders_committed = 0;
  std::uint64_t leaders_skipped = 0;
  std::uint64_t garbage_collected = 0;     // vertices dropped below the GC round
};

// What a restarted core is rebuilt from: its journal (docs/dag.md "Journal").
struct JournalEntry {
  Bytes key;
  Bytes value;
};

class Core;
// REQUIRES: the journal this core's protocol wrote. An error names the key.
Result<std::unique_ptr<Core>, std::string> restore(const Config& config, const std::vector<JournalEntry>& journal);

}  // namespace kestrel::dag
