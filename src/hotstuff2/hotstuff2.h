// HotStuff-2 (Malkhi & Nayak, "HotStuff-2: Optimal Two-Phase Responsive BFT",
// 2023) as a sans-IO state machine: the consensus core of Kestrel.
//
// Who drives it: a driver (src/node for real validators, src/sim for the
// deterministic simulator) calls Replica::step(input, output) and then carries
// out the output. The core has no sockets, disk, clock, threads or randomness;
// time is ticks (1 tick = 1 ms in both drivers), and it never calls back into the
// driver. Thread-safety: none; one thread steps a replica.
//
// THE DRIVER'S CONTRACT (what the core relies on and does not re-check):
//   1. Signatures. Before a message becomes an Input, the driver has verified
//      every signature in it through the cluster's Verifier interface: the
//      proposal signature (by block.proposer, over proposal_signing_bytes), the
//      vote signature (by vote.voter), the timeout signature (by timeout.sender),
//      and every signature inside every QC and TC the message carries, including
//      the justify QCs of fetched blocks. A message that fails is dropped and
//      counted by the driver. Signer ids are < n (the driver cannot verify
//      otherwise).
//   2. Signing. Messages in Output::sends carry an empty signature for the
//      Proposal, Vote and Timeout the replica itself authors; the driver signs
//      them with the replica's Signer before sending (the simulator's `sign`,
//      the node's send path). Messages
//      to self are delivered back as Inputs by the driver.
//   3. Persist before send. Every Record in Output::persist must be durable
//      (synced) before ANY message in the same Output leaves. This is what
//      makes "vote at most once per view" survive crashes. The one exception is
//      a Send marked before_persist (only with Config::reserve_next_proposal): a
//      proposal whose view an earlier, durable record already reserved; it may
//      leave before this Output's records are durable, and the others still wait.
//      The driver calls persisted() once records are durable; what the core
//      marks before_persist is judged by the records acknowledged so far (a
//      driver that never acknowledges gets no early proposals).
//   4. Timers. Output::wake_at_tick asks for a Tick input at or after that tick.
//
// What the core checks itself: quorum sizes (n - f distinct signers, distinct by
// construction of the signer bitmap), views and view windows, block ids against
// content, parent links, heights, proposer = leader of the view, the vote rule,
// and every bound in Config. Anything that fails is counted in Counters and
// dropped; Byzantine input never reaches an assertion.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/codec.h"
#include "common/hash.h"
#include "common/result.h"
#include "consensus/consensus.h"

namespace kestrel::hotstuff2 {

using ReplicaId = std::uint32_t;
using View = std::uint64_t;
using Height = std::uint64_t;
using Tick = std::uint64_t;
using BlockId = Hash32;

// --- Certificates -----------------------------------------------------------------

// A signer set as a bitmap: signer i is bit (i % 8) of byte (i / 8). Distinct
// signers by construction; canonical when the last byte is nonzero.
struct SignedBy {
  ReplicaId signer = 0;
  Bytes signature;
};

// QC (DESIGN.md): view, block id, signer bitmap, one signature per signer, in
// signer order. The genesis QC (view 0, genesis id, no signers) is the only QC
// with fewer than n - f signers the core accepts.
struct QuorumCertificate {
  View view = 0;
  BlockId block_id;
  std::vector<SignedBy> signatures;  // strictly increasing signer ids
};

// TC: n - f timeouts of one view; each entry carries the signer's high QC view,
// which its signature covers.
struct TimeoutEntry {
  ReplicaId signer = 0;
  View high_qc_view = 0;
  Bytes signature;
};
struct TimeoutCertificate {
  View view = 0;
  std::vector<TimeoutEntry> entries;  // strictly increasing signer ids
};

// --- Blocks -----------------------------------------------------------------------

struct Block {
  BlockId parent;
  View view = 0;
  Height height = 0;
  ReplicaId proposer = 0;
  QuorumCertificate justify;  // certifies `parent`
  Bytes payload;

  // SHA-256 of the canonical encoding (encode_block), remembered: the first call
  // keeps the id together with the header fields, the QC's signers and signature
  // sizes, and the payload size, and later calls return it while those are
  // unchanged (a MiB payload is hashed once per node, not once per use). Code that
  // changes payload or signature bytes after calling id() without changing a size
  // — in place, or by assigning a new `payload` or `justify` of the same shape —
  // must call forget_id(); debug builds recompute and compare on every memo hit,
  // so a stale memo fails the tests. compute_block_id() always hashes (the
  // baseline of the gate consensus.block_id_memo, which reaches the core as
  // Config::block_id_memo). Not safe for concurrent first calls on one Block (the
  // node hands a block between threads through a queue, which orders them).
  BlockId id() const;
  void forget_id() const { id_memo_.valid = false; }

  // The memo (public only so that Block stays an aggregate; use id()).
  struct IdMemo {
    bool valid = false;
    BlockId id;
    BlockId parent, justify_block;
    View view = 0, justify_view = 0;
    Height height = 0;
    ReplicaId proposer = 0;
    std::size_t justify_signatures = 0, payload_bytes = 0;
    std::uint64_t justify_shape = 0;  // a mix of the QC's signer ids and signature sizes
  };
  mutable IdMemo id_memo_{};
};

// SHA-256 of encode_block(b), computed every time (no memo).
BlockId compute_block_id(const Block& b);

// The genesis block every cluster starts from: view 0, height 0, zero parent,
// empty justify and payload. Its id depends on the chain id in the payload so
// different clusters never share block ids.
Block genesis_block(std::uint64_t chain_id);
QuorumCertificate genesis_qc(const Block& genesis);

// --- Messages ---------------------------------------------------------------------

struct Proposal {
  Block block;
  std::optional<TimeoutCertificate> tc;  // present when the leader entered via a TC
  Bytes signature;                       // by block.proposer over proposal_signing_bytes
};

struct Vote {
  View view = 0;
  BlockId block_id;
  ReplicaId voter = 0;
  Bytes signature;  // over vote_signing_bytes(view, block_id)
};

struct Timeout {
  View view = 0;
  QuorumCertificate high_qc;
  ReplicaId sender = 0;
  Bytes signature;  // over timeout_signing_bytes(view, high_qc.view)
};

// Catch-up: certificates that let a lagging replica enter a later view.
struct SyncCertificates {
  std::optional<QuorumCertificate> qc;
  std::optional<TimeoutCertificate> tc;
};

struct FetchRequest {
  BlockId block_id;
  std::uint32_t count_max = 1;  // the block and up to count_max - 1 ancestors
};

struct FetchResponse {
  std::vector<Block> blocks;  // blocks[0] is the requested one, then parent, ...
};

using Message = std::variant<Proposal, Vote, Timeout, SyncCertificates, FetchRequest, FetchResponse>;

// Message type tags on the wire (stable).
enum class MessageType : std::uint8_t {
  proposal = 1,
  vote = 2,
  timeout = 3,
  sync_certificates = 4,
  fetch_request = 5,
  fetch_response = 6,
};

// Canonical encodings (docs/consensus.md "Wire format"). decode_message is total
// and bounded by the limits in Config-independent constants (limits.h).
Bytes encode_message(const Message& message);
Result<Message, CodecError> decode_message(ByteSpan bytes);
void encode_block(Writer& writer, const Block& block);
Bytes encode_block(const Block& block);
// Strict and total, like decode_message (the node's store and catch-up read blocks back).
Result<Block, CodecError> decode_block(ByteSpan bytes);
Bytes encode_qc(const QuorumCertificate& qc);

// Every signature a message carries, with what it must verify against (driver
// contract 1): the node verifies them in one parallel batch, the simulator one by
// one. `message` bytes are owned by the check. Returns false when a signer id is
// out of range (>= n): such a message cannot be verified and is dropped.
struct SignatureCheck {
  ReplicaId signer = 0;
  Bytes message;
  ByteSpan signature;  // points into the Message it was collected from
};
// block_id_memo: use Block::id() (else compute_block_id; gate consensus.block_id_memo).
bool collect_signature_checks(const Message& message, std::uint64_t chain_id, std::uint32_t n,
                              std::vector<SignatureCheck>& checks, bool block_id_memo = true);

// What each signature covers: a domain tag, the chain id, then the fields.
Bytes proposal_signing_bytes(std::uint64_t chain_id, const BlockId& block_id);
Bytes vote_signing_bytes(std::uint64_t chain_id, View view, const BlockId& block_id);
Bytes timeout_signing_bytes(std::uint64_t chain_id, View view, View high_qc_view);

// --- Configuration ----------------------------------------------------------------

struct Config {
  std::uint64_t chain_id = 1;
  ReplicaId self = 0;
  std::uint32_t n = 4;  // validators; f = (n - 1) / 3, quorum = n - f

  Tick view_timeout_ticks = 1000;      // first timeout of a view
  Tick view_timeout_ticks_max = 16000; // cap of the exponential back-off
  // A leader that enters its view without the previous view's QC waits this long
  // for timeouts (which carry high QCs) before proposing on the highest QC it
  // knows (HotStuff-2's non-responsive wait; section "Pacemaker" of the docs).
  Tick propose_wait_ticks = 100;
  // A responsive leader with nothing to propose (no pending payload, and no
  // payload in the uncommitted blocks it would extend) waits up to this long for
  // a PayloadReady before it proposes an empty block: an idle cluster makes a
  // heartbeat block per this delay instead of spinning, while a block that
  // carries payload is still followed at once by the block that commits it and
  // by the block whose QC tells the other replicas (lock_commits_payload).
  // 0: propose at once (the simulator's and the golden traces' setting).
  // REQUIRES: < view_timeout_ticks (followers would time out first).
  Tick idle_propose_delay_ticks = 0;
  // Early proposals (the node's gate consensus.early_proposal). When a replica
  // votes in view v and leads view v + 1, that vote's safety record also
  // reserves v + 1 (last_proposed_view = v + 1: after a restart it never proposes
  // in v + 1). Its proposal of v + 1 is then marked Send::before_persist: the
  // leader's synced write (its lock, its own vote, the commit) no longer delays
  // the view. A crash between that vote and the proposal costs its turn (it
  // resumes in v, the view it voted in, and does not propose when it reaches
  // v + 1, which times out). Off: every
  // proposal waits for the step's records, as votes and timeouts always do.
  bool reserve_next_proposal = false;
  // Leader reputation (the node's gate consensus.leader_reputation; docs
  // "Leaders"). Off: every view is led by round robin, leader_of(view, n). On: a
  // proposal that extends the block certified in the view just before its own
  // (the responsive path) must come from reputation_leader(view, n, active),
  // where `active` is every proposer and QC signer of that block and the
  // reputation_window_blocks - 1 blocks below it; any other proposal (the view
  // after a timeout certificate) from round robin. Safety never depends on who
  // leads (one vote per view, the lock); liveness after a timeout falls back to
  // round robin, which reaches every honest validator.
  bool leader_reputation = false;
  // Blocks in the reputation window; 0: n (min 4), so a validator that went
  // silent is chosen about once (window / active set) before it drops out.
  // REQUIRES: <= limits::consensus_reputation_window_blocks_max and
  // <= keep_committed_blocks (the window is read from blocks the core keeps).
  std::uint32_t reputation_window_blocks = 0;
  // Block ids through Block::id()'s memo (the node's gate consensus.block_id_memo);
  // off: every id is hashed again from the block (compute_block_id).
  bool block_id_memo = true;

  // Bounds (Byzantine input cannot grow state past them). The constructor
  // asserts them against limits.h (they are configuration, not peer input).
  //
  // Uncertified proposals beyond view + this are dropped: a replica never needs
  // to buffer a proposal further ahead than the views one timeout back-off can
  // skip; certificates (verified) may move it any distance.
  View view_jump_max = 1000;
  // Blocks held in memory: the committed tail kept for fetches, the uncommitted
  // certified chain, and one proposal per view. Forks and uncertified blocks are
  // evicted first when it is full (store_block).
  std::size_t blocks_max = 4096;
  // Payload bytes held in memory: 256 MiB is ~64 full 4 MiB blocks; a long
  // uncommitted chain of full blocks means the cluster is not committing anyway.
  std::size_t stored_payload_bytes_max = 256u * 1024 * 1024;
  // Committed blocks kept below the committed head to serve fetches: at 10
  // blocks/s, 1,024 blocks is ~100 s of history. A replica further behind needs
  // state sync (the node's catch-up), not block fetch; counted as too_far_behind.
  Height keep_committed_blocks = 1024;
  // Proposals buffered for views ahead of ours (or waiting for a parent); when
  // full, the furthest in the future gives way to a nearer one.
  std::size_t future_proposals_max = 64;
  std::size_t vote_views_max = 8;        // votes accepted up to this many views ahead
  std::size_t timeout_views_max = 16;    // timeouts kept up to this many views ahead
  // Distinct blocks being fetched at once: a gap of a few views plus the commit
  // walk's next ancestor; each response may bring fetch_blocks_max blocks.
  std::size_t fetches_in_flight_max = 32;
  std::uint32_t fetch_blocks_max = 64;   // blocks per fetch response (<= limits::consensus_fetch_blocks_max)
  // Fetch requests answered per peer per view: an honest laggard needs one or
  // two per view; more is amplification (40-byte request, up to 4 MiB answer).
  std::uint32_t fetch_responses_per_peer_per_view = 4;
  std::size_t commit_walk_max = 4096;    // ancestors walked per commit (<= blocks_max is enough)
  std::size_t payload_bytes_max = 4 * 1024 * 1024;  // <= limits::block_payload_bytes_max

  std::uint32_t f() const { return (n - 1) / 3; }
  std::uint32_t quorum() const { return n - f(); }
};

// Round robin: the baseline leader rule, and the rule after a timeout certificate.
ReplicaId leader_of(View view, std::uint32_t n);

// A set of validator ids (bit i: validator i). n <= 128 (Replica's constructor).
using ReplicaSet = std::bitset<128>;

// Leader reputation (docs/consensus.md "Leaders"): round robin over the
// validators in `active` (ascending ids, position view mod |active|); round robin
// over all n when `active` is empty. A pure function of its arguments, so every
// replica that derives the same `active` from the same blocks picks the same
// leader; it knows nothing of HotStuff-2, so any protocol's leader slots can use it.
// REQUIRES: n >= 1, no bit at or above n set in active.
ReplicaId reputation_leader(View view, std::uint32_t n, const ReplicaSet& active);

// --- Inputs and outputs -----------------------------------------------------------

// The seam's own (consensus.h): the same for every core.
using Start = consensus::Start;
using TickInput = consensus::TickInput;
struct Received {
  ReplicaId from = 0;
  Message message;  // signatures verified by the driver (contract 1)
  Tick now = 0;
};
// The next batch to propose (replaces a batch not yet proposed).
//
// hold (with an empty payload): the driver is holding a batch back to let it
// fill (the node's flush delay, gate perf.adaptive_tuning) and will send it
// within idle_propose_delay_ticks. A responsive leader then waits for the next
// PayloadReady up to its idle deadline even when the block it extends carries
// payload (where it would otherwise propose an empty block at once); at the
// deadline it proposes whatever it has, so the hold is bounded by the same
// delay as the heartbeat. Cleared by the proposal or by a PayloadReady without
// hold. REQUIRES: payload empty when hold is set.
struct PayloadReady {
  Bytes payload;
  bool hold = false;
};
using Input = std::variant<Start, TickInput, Received, PayloadReady>;

// The safety record: everything that must survive a crash for safety.
struct SafetyRecord {
  View last_voted_view = 0;      // never vote at or below this again
  QuorumCertificate locked_qc;   // the highest QC seen (HotStuff-2 locks on it)
  View last_timeout_view = 0;    // we timed out in this view: no vote in it any more
  // Never propose twice in a view, across restarts: after a restart no proposal
  // at or below this view (with reserve_next_proposal it may be a reserved view).
  View last_proposed_view = 0;
};

// The node's durable form of the safety record (versioned, strict).
Bytes encode_safety_record(const SafetyRecord& record);
Result<SafetyRecord, CodecError> decode_safety_record(ByteSpan bytes);

struct CommitMarker {
  Height height = 0;
  BlockId block_id;
};

using Record = std::variant<SafetyRecord, Block, CommitMarker>;

struct Send {
  std::optional<ReplicaId> to;  // nullopt: broadcast to every other replica
  Message message;
  // May leave before this Output's persist records are durable (contract 3's
  // exception): a proposal whose view a durable record already reserved.
  bool before_persist = false;
};

struct Committed {
  Height height = 0;
  View view = 0;
  BlockId block_id;
  BlockId parent;
  Bytes payload;
  ReplicaId proposer = 0;
  QuorumCertificate justify;  // the block's own justify (certifies parent)
};

struct Output {
  std::vector<Record> persist;        // durable before any send but a before_persist one (contract 3)
  std::vector<Send> sends;
  std::optional<Tick> wake_at_tick;   // contract 4
  std::vector<Committed> commits;     // in height order
  bool proposed = false;              // a proposal was made in this step

  void clear() {
    persist.clear();
    sends.clear();
    wake_at_tick.reset();
    commits.clear();
    proposed = false;
  }
};

// What a restarted replica is rebuilt from (everything it persisted).
struct RestoredState {
  std::optional<SafetyRecord> safety;
  std::vector<Block> blocks;
  std::optional<CommitMarker> commit;
};

// Why input was dropped; counted, never asserted.
enum class Drop : std::uint8_t {
  stale_view,          // message for a view we left
  future_view,         // beyond cur_view + view_jump_max
  not_leader,          // proposal not from the view's leader, or vote to a non-leader
  bad_certificate,     // too few signers, unknown signer, genesis misuse
  bad_block,           // id/parent/height/justify mismatch, payload too large
  duplicate,           // already had it
  vote_rule,           // proposal fails the lock/vote rule
  full,                // a bounded buffer was full
  unknown_block,       // fetch request for a block we do not have
  bad_fetch_response,  // blocks not chained from the request
  wrong_sender,        // vote/timeout whose signer is not the authenticated sender
  local_input,         // a driver input out of range (oversized payload)
  bad_view,            // a message for view 0
  too_far_behind,      // a fetch for a block pruned below keep_committed_blocks
  fetch_budget,        // fetch requests beyond the per-peer per-view budget
  count_,
};
const char* describe(Drop drop);

struct Counters {
  std::array<std::uint64_t, static_cast<std::size_t>(Drop::count_)> dropped{};
  std::uint64_t proposals_sent = 0;
  std::uint64_t early_proposals = 0;  // of which marked before_persist (reserve_next_proposal)
  std::uint64_t votes_sent = 0;
  std::uint64_t qcs_formed = 0;
  std::uint64_t tcs_formed = 0;
  std::uint64_t timeouts_sent = 0;
  std::uint64_t view_changes = 0;
  std::uint64_t commits = 0;
  std::uint64_t fetches_sent = 0;
  std::uint64_t equivocations_seen = 0;  // second proposal of a view from its leader
  // Leader reputation: votes sent to a next leader other than round robin's (the
  // view round robin gives to a validator missing from the window, or a shifted one).
  std::uint64_t reputation_skips = 0;
  // The commit walk met a block conflicting with our committed chain. Impossible
  // with at most f faults; the simulator treats a nonzero value as a violation.
  std::uint64_t safety_alarms = 0;
};

// --- The replica ------------------------------------------------------------------

class Replica {
 public:
  // REQUIRES: config.n >= 1, config.self < config.n.
  Replica(const Config& config, const RestoredState& restored);

  // Processes one input and appends its effects to `output` (which the caller
  // clears). Deterministic: the same inputs give the same outputs.
  void step(const Input& input, Output& output);
  // step(Received{from, message, now}) without copying the message in.
  void step_received(ReplicaId from, const Message& message, Tick now, Output& output);
  // Every record of the outputs so far is durable (the driver made them so).
  // Contract 3's exception reads this: a proposal marked before_persist is one
  // whose view a record durable by then reserved.
  void persisted();
  // The id of a block under this replica's memo setting (Config::block_id_memo).
  BlockId id_of(const Block& b) const { return config_.block_id_memo ? b.id() : compute_block_id(b); }

  View view() const { return view_; }
  View last_voted_view() const { return safety_.last_voted_view; }
  const QuorumCertificate& locked_qc() const { return safety_.locked_qc; }
  Height committed_height() const { return committed_.height; }
  const BlockId& committed_block() const { return committed_.block_id; }
  const Counters& counters() const { return counters_; }
  const Config& config() const { return config_; }
  bool has_block(const BlockId& id) const { return blocks_.count(id) != 0; }
  // A block this replica holds (nullptr when none by that id); valid until the next step.
  const Block* block(const BlockId& id) const {
    auto it = blocks_.find(id);
    return it == blocks_.end() ? nullptr : &it->second;
  }
  // The uncommitted blocks a proposal of ours would extend, newest first: from
  // the newest-view uncommitted block we hold when it extends our lock (the happy
  // path: it is about to be certified), else from the locked block, down to the
  // committed head. Not forks: their payloads will not commit.
  void proposal_ancestry(std::vector<BlockId>& ids) const;
  // Who leads `view` as far as this replica can tell now (the node's payload
  // timing and status): the responsive leader from our lock for the current view,
  // from the current view's first proposal for the next one, round robin
  // otherwise; nullopt when the reputation window is not all here.
  std::optional<ReplicaId> expected_leader(View view) const;
  // False only when the proposal's leader is known and is not its proposer (the
  // node's cheap check before it verifies a proposal's transactions).
  bool plausible_proposer(const Block& block) const;

 private:
  struct VoteSet {
    std::map<ReplicaId, Bytes> signatures;
  };
  struct TimeoutSet {
    std::map<ReplicaId, std::pair<View, Bytes>> entries;  // signer -> (high QC view, signature)
  };

  void finish_step(Output& out);
  void on_start(Tick now, Output& out);
  void on_tick(Tick now, Output& out);
  void on_message(ReplicaId from, const Message& message, Output& out);
  void on_proposal(ReplicaId from, const Proposal& proposal, Output& out);
  void on_vote(ReplicaId from, const Vote& vote, Output& out);
  void on_timeout(ReplicaId from, const Timeout& timeout, Output& out);
  void on_sync(ReplicaId from, const SyncCertificates& sync, Output& out);
  void on_fetch_request(ReplicaId from, const FetchRequest& request, Output& out);
  void on_fetch_response(ReplicaId from, const FetchResponse& response, Output& out);

  // The leader of `view` for proposals extending `anchor`, the block certified in
  // view - 1 (docs "Leaders"): reputation from anchor's window, or round robin
  // with the gate off. nullopt (and *missing set, when given) when a block of the
  // window is not here; the caller fetches it.
  std::optional<ReplicaId> responsive_leader(View view, const BlockId& anchor, BlockId* missing) const;
  // The leader a proposal of block b must come from: responsive_leader when b
  // extends the block certified in b.view - 1, round robin otherwise.
  std::optional<ReplicaId> proposal_leader(const Block& b, BlockId* missing) const;
  bool valid_qc(const QuorumCertificate& qc) const;
  bool valid_tc(const TimeoutCertificate& tc) const;
  bool valid_block_shape(const Block& block) const;
  // Applies a verified QC: lock update, commit rule, view advance. Returns false
  // (and counts) when the QC is malformed.
  bool process_qc(const QuorumCertificate& qc, ReplicaId from, Output& out);
  bool process_tc(const TimeoutCertificate& tc, Output& out);
  bool store_block(const Block& block, const BlockId& id, Output& out);
  void enter_view(View view, Output& out);
  void try_vote(const Block& block, const BlockId& id, Output& out);
  void try_propose(Output& out, bool wait_expired);
  bool uncommitted_payload_below_lock() const;
  bool lock_commits_payload() const;
  void local_timeout(Output& out);
  void try_commit(Output& out);
  void request_block(const BlockId& id, ReplicaId from, Output& out);
  void persist_safety(Output& out);
  void arm_timer(Output& out);
  void prune();
  bool make_room(std::size_t payload_bytes);
  void drain_buffered(Output& out);
  void apply_commit_rule(const QuorumCertificate& qc);
  Tick timeout_duration() const;
  void drop(Drop reason) { ++counters_.dropped[static_cast<std::size_t>(reason)]; }
  bool is_genesis_qc(const QuorumCertificate& qc) const;

  Config config_;
  Block genesis_;
  BlockId genesis_id_;
  SafetyRecord safety_;
  CommitMarker committed_;
  View view_ = 1;
  Tick now_ = 0;
  Tick view_deadline_ = 0;
  Tick view_entered_at_ = 0;
  Tick propose_wait_deadline_ = 0;
  Tick idle_deadline_ = 0;  // idle_propose_delay: propose an empty block at this tick
  std::uint32_t consecutive_timeouts_ = 0;
  bool proposed_in_view_ = false;
  // The durable last_proposed_view read at restart: never propose at or below it
  // (it may be a reservation for a view after the one we resume in).
  View restart_proposal_bar_ = 0;
  // safety_.last_proposed_view as of the start of this step: what the driver has
  // made durable (contract 3), so a proposal at or below it may leave early.
  View durable_proposal_view_ = 0;
  bool propose_wait_expired_ = false;
  std::set<ReplicaId> synced_in_view_;  // peers sent catch-up certificates this view (since our last timeout)
  std::map<View, BlockId> first_proposal_;  // first proposal stored per view (later ones are not stored)
  std::map<ReplicaId, std::uint32_t> fetches_served_in_view_;
  std::size_t stored_payload_bytes_ = 0;
  bool started_ = false;
  std::optional<TimeoutCertificate> last_tc_;
  Bytes pending_payload_;
  bool payload_held_ = false;  // PayloadReady::hold: wait for the batch up to the idle deadline
  std::map<BlockId, Block> blocks_;
  std::map<std::pair<View, ReplicaId>, Proposal> future_proposals_;  // by (view, proposer)
  std::map<std::pair<View, BlockId>, VoteSet> votes_;
  std::map<View, TimeoutSet> timeouts_;
  std::map<BlockId, View> fetches_in_flight_;  // id -> view of the last request
  std::optional<BlockId> commit_target_;  // highest block the commit rule selected
  // responsive_leader's last two windows (each a pure function of its anchor's
  // chain, so a memo): a step asks about the locked block and the proposal of the
  // view, the node about this view's and the next view's leader.
  struct ReputationMemo {
    bool valid = false;
    BlockId anchor;
    ReplicaSet active;
  };
  mutable std::array<ReputationMemo, 2> reputation_memo_{};
  mutable std::size_t reputation_memo_next_ = 0;  // the entry the next miss replaces
  Counters counters_;
};

}  // namespace kestrel::hotstuff2
