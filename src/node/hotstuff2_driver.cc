// The node's HotStuff-2 driver (protocol.h): everything in the node that names a
// HotStuff-2 type. The core runs behind the seam (hotstuff2/core.h); this file
// decodes and verifies peer messages, signs ours, checks proposals cheaply,
// serves committed blocks to lagging peers, maps the journal onto the store's
// safety record and pending blocks, restores the core, and marks stages.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <set>

#include "common/assert.h"
#include "common/codec.h"
#include "common/gates.h"
#include "common/limits.h"
#include "crypto/parallel_verify.h"
#include "crypto/signature.h"
#include "hotstuff2/core.h"
#include "node/node_metrics.h"
#include "node/protocol.h"
#include "perf/stages.h"
#include "storage/storage.h"

namespace kestrel::node {

namespace hs = hotstuff2;
namespace {

using Clock = std::chrono::steady_clock;

class HotStuff2Driver final : public ProtocolDriver {
 public:
  explicit HotStuff2Driver(const DriverContext& context) : c_(context), config_(*context.config) {}

  Status<std::string> restore() override;
  consensus::Core& core() override { return *core_; }
  const consensus::Core& core() const override { return *core_; }
  consensus::MessagePtr accept(consensus::ReplicaId from, ByteSpan bytes) override;
  Inbound inspect(consensus::ReplicaId from, const consensus::Message& message) const override;
  bool serve_from_store(consensus::ReplicaId from, const consensus::Message& message,
                        std::optional<consensus::Envelope>* answer) override;
  bool write_journal(const std::vector<consensus::JournalOp>& journal, std::string* error) override;
  bool withhold(const consensus::Envelope& envelope) override;
  Bytes seal(consensus::Envelope& envelope) override;
  std::optional<Hash32> own_proposal(const consensus::Message& message) const override;
  StoredCommit stored_commit(const consensus::Commit& commit) const override;
  Result<Bytes, std::string> payload_of_unit(ByteSpan unit) const override;
  void after_step(const consensus::Ready& ready) override;
  void refresh_metrics() override;
  Drops drops() const override {
    Drops d;
    d.malformed = malformed_.load();
    d.bad_signature = bad_signatures_.load();
    d.unsolicited_response = unsolicited_fetch_responses_.load();
    d.store_fetch_budget = store_fetches_refused_;
    d.votes_withheld = votes_withheld_;
    return d;
  }
  bool sync(std::string* error) override;

 private:
  bool put_block(const hs::BlockId& id, const Bytes& encoded);
  hs::Config core_config() const;
  const hs::Replica& replica() const { return core_->replica(); }

  DriverContext c_;
  const NodeConfig& config_;
  std::unique_ptr<hs::Core> core_;
  std::uint32_t n_ = 0;
  bool block_id_memo_ = true;
  // Fetch requests sent to each peer and not yet answered: a fetch response
  // nobody asked for is dropped before its (many) signatures are verified.
  std::array<std::atomic<std::uint32_t>, limits::validators_max> fetches_outstanding_{};
  std::atomic<std::uint64_t> malformed_{0}, bad_signatures_{0}, unsolicited_fetch_responses_{0};
  struct FetchBudget {
    std::size_t requests = 0, bytes = 0;
    std::uint64_t second = 0;
  };
  std::map<hs::ReplicaId, FetchBudget> store_fetch_budget_;  // store-served fetches per peer this second
  std::uint64_t store_fetches_refused_ = 0;
  std::uint64_t votes_withheld_ = 0, pending_put_failures_ = 0;
  // Pending blocks in the store (bounded by its family: an id enters only when
  // its put succeeded). A vote for a block not here is withheld.
  std::set<hs::BlockId> pending_;
  bool test_refuse_pending_blocks_ = false;
  // Stage marks: our proposals by view, QCs seen by view.
  std::map<hs::View, Clock::time_point> proposed_at_;
  std::map<hs::View, Clock::time_point> certified_at_;
  hs::View last_lock_view_ = 0;
};

hs::Config HotStuff2Driver::core_config() const {
  hs::Config hc;
  hc.chain_id = config_.chain_id;
  hc.self = config_.id;
  hc.n = n_;
  hc.view_timeout_ticks = config_.view_timeout_ms;
  hc.view_timeout_ticks_max = config_.view_timeout_max_ms;
  hc.propose_wait_ticks = config_.propose_wait_ms;
  hc.idle_propose_delay_ticks = config_.idle_delay_ms;
  // Read once: the reservation and the early send must agree for the node's life.
  hc.reserve_next_proposal = gate_enabled(Gate::consensus_early_proposal);
  hc.leader_reputation = gate_enabled(Gate::consensus_leader_reputation);
  hc.block_id_memo = block_id_memo_;
  hc.keep_committed_blocks = limits::node_core_committed_blocks;  // older blocks are served from the store
  // How far behind a node can catch up by block fetch (docs/node.md "Catch-up").
  hc.blocks_max = limits::node_catch_up_blocks_max;
  hc.commit_walk_max = limits::node_catch_up_blocks_max;
  // Validity is the protocol's bound; batch_bytes_max only sizes our own batches
  // (a smaller local setting must not make certified blocks unfetchable).
  hc.payload_bytes_max = limits::block_payload_bytes_max;
  // stored_payload_bytes_max stays at the core's default (256 MiB): in steady state
  // the core holds only the uncommitted chain and 16 committed blocks, but a node
  // catching up holds the whole fetched chain until it reaches its committed head,
  // so this bounds how far behind a node can catch up (docs/node.md "Catch-up").
  // The store's pending family holds as many blocks as the core (a node votes only
  // for a block it stored), and twice the core's payload bytes for their headers
  // and QCs.
  KESTREL_ASSERT(hc.blocks_max <= limits::storage_journal_units_max);
  KESTREL_ASSERT(2 * hc.stored_payload_bytes_max <= limits::storage_journal_units_bytes_max);
  return hc;
}

// Restart (docs/node.md "Restart"): the safety record, the last committed blocks
// and the pending (uncommitted) blocks, through hotstuff2::restore.
Status<std::string> HotStuff2Driver::restore() {
  n_ = static_cast<std::uint32_t>(config_.validators.size());
  block_id_memo_ = gate_enabled(Gate::consensus_block_id_memo);
  test_refuse_pending_blocks_ = c_.test_refuse_pending_blocks;
  storage::Store& store = *c_.store;
  std::vector<hs::JournalEntry> journal;
  auto entries = store.journal();
  if (!entries) return Err("journal: " + std::string(storage::describe(entries.error())));
  for (auto& [key, value] : *entries) journal.push_back({std::move(key), std::move(value)});
  const std::uint64_t height = store.committed_height();
  std::vector<hs::Block> tail;
  if (height > 0) {
    const std::uint64_t keep = limits::node_core_committed_blocks;
    const std::uint64_t from = std::max<std::uint64_t>(store.first_kept_height(), height > keep ? height - keep + 1 : 1);
    for (std::uint64_t h = from; h <= height; ++h) {
      auto entry = store.commit_at(h);
      if (!entry) return Err("commit " + std::to_string(h) + ": " + storage::describe(entry.error()));
      auto block = hs::decode_block(*entry->unit);
      if (!block) return Err("the block of commit " + std::to_string(h) + " does not decode");
      tail.push_back(std::move(*block));
    }
  }
  auto units = store.journal_units();
  if (!units) return Err("journal units: " + std::string(storage::describe(units.error())));
  std::size_t dead = 0;
  for (auto& [id, bytes] : *units) {
    auto block = hs::decode_block(bytes);
    if (!block) return Err(std::string("a journal block does not decode"));
    if (block->height <= height) {
      // A dead fork (committed units left the journal with their commit).
      if (store.unit_erase(id).ok()) ++dead;
      continue;
    }
    pending_.insert(id);
    Bytes key{'b'};
    key.insert(key.end(), id.bytes.begin(), id.bytes.end());
    journal.push_back({std::move(key), std::move(bytes)});
  }
  auto restored = hs::restore(journal, std::move(tail));
  if (!restored) return Err(restored.error());
  core_ = std::make_unique<hs::Core>(core_config(), *restored);
  if (height > 0 || restored->safety) {
    spdlog::info("consensus restored: committed height {}, {} blocks, last voted view {}, {} dead pending blocks dropped",
                 height, restored->blocks.size(), restored->safety ? restored->safety->last_voted_view : 0, dead);
  }
  return {};
}

consensus::MessagePtr HotStuff2Driver::accept(consensus::ReplicaId from, ByteSpan bytes) {
  auto message = hs::decode_message(bytes);
  if (!message) {
    ++malformed_;
    return nullptr;
  }
  if (std::holds_alternative<hs::FetchResponse>(*message)) {
    auto& outstanding = fetches_outstanding_[from];
    std::uint32_t expected = outstanding.load(std::memory_order_relaxed);
    do {
      if (expected == 0) {
        ++unsolicited_fetch_responses_;
        return nullptr;
      }
    } while (!outstanding.compare_exchange_weak(expected, expected - 1, std::memory_order_relaxed));
  }
  std::vector<hs::SignatureCheck> checks;
  if (!hs::collect_signature_checks(*message, config_.chain_id, n_, checks, block_id_memo_)) {
    ++malformed_;
    return nullptr;
  }
  if (!checks.empty()) {
    std::vector<crypto::VerifyItem> items;
    items.reserve(checks.size());
    for (const auto& c : checks) items.push_back({c_.validators[c.signer], c.message, c.signature});
    std::vector<std::uint8_t> valid(items.size());
    bool ok = false;
    {
      perf::StageTimer timer(*c_.stages, perf::Stage::signature_verification);
      ok = c_.verifier->verify_batch(items, valid).ok();
    }
    const auto failed = static_cast<std::uint64_t>(std::count(valid.begin(), valid.end(), 0));
    c_.metrics->observe_verify_batch(items.size(), ok ? failed : items.size());
    if (!ok || failed != 0) {
      ++bad_signatures_;
      return nullptr;
    }
  }
  c_.metrics->count_received(static_cast<hs::MessageType>(bytes[0]));
  return hs::wrap(std::move(*message));
}

Inbound HotStuff2Driver::inspect(consensus::ReplicaId from, const consensus::Message& message) const {
  Inbound in;
  const auto* proposal = std::get_if<hs::Proposal>(&hs::message_of(message));
  if (!proposal) return in;
  // Cheap checks first, so a Byzantine peer cannot make us verify its
  // transactions for a proposal the core would drop anyway: from its view's
  // leader, within the core's view window.
  const hs::Block& block = proposal->block;
  const hs::Replica& r = replica();
  const bool plausible = block.proposer == from && r.plausible_proposer(block) && block.view + 1 >= r.view() &&
                         block.view <= r.view() + r.config().view_jump_max;
  in.kind = plausible ? Inbound::Kind::proposal : Inbound::Kind::implausible;
  in.payload = &block.payload;
  in.id = r.id_of(block);
  in.round = block.view;
  return in;
}

bool HotStuff2Driver::serve_from_store(consensus::ReplicaId from, const consensus::Message& message,
                                       std::optional<consensus::Envelope>* answer) {
  const auto* request = std::get_if<hs::FetchRequest>(&hs::message_of(message));
  if (!request || replica().has_block(request->block_id)) return false;
  const auto now = Clock::now().time_since_epoch();
  const auto second = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  auto& budget = store_fetch_budget_[from];
  if (budget.second != second) budget = {0, 0, second};
  if (budget.requests >= limits::node_store_fetches_per_peer_per_second ||
      budget.bytes >= limits::node_store_fetch_bytes_per_peer_per_second) {
    ++store_fetches_refused_;
    return true;
  }
  ++budget.requests;
  hs::FetchResponse response;
  hs::BlockId cursor = request->block_id;
  const std::uint32_t count = std::min<std::uint32_t>(std::max<std::uint32_t>(request->count_max, 1),
                                                      limits::consensus_fetch_blocks_max);
  std::size_t bytes = 0;
  while (response.blocks.size() < count) {
    auto sequence = c_.store->sequence_of(cursor);
    if (!sequence) break;
    auto entry = c_.store->commit_at(*sequence);
    if (!entry) break;
    const Bytes* stored = entry->unit.get();
    // Stay under message_size_max, like the core's own answers.
    if (!response.blocks.empty() && bytes + stored->size() > limits::message_size_max / 2) break;
    auto block = hs::decode_block(*stored);
    if (!block) break;
    bytes += stored->size();
    cursor = block->parent;
    const bool at_genesis = block->height <= 1;
    response.blocks.push_back(std::move(*block));
    if (at_genesis) break;
  }
  if (response.blocks.empty()) return true;  // a block we never committed: nothing to serve
  budget.bytes += bytes;
  // Sent by the host like any send of ours (bulk, to the asker).
  *answer = consensus::Envelope{from, hs::wrap(hs::Message(std::move(response))), false, false};
  return true;
}

bool HotStuff2Driver::put_block(const hs::BlockId& id, const Bytes& encoded) {
  auto put = [&] {
    return test_refuse_pending_blocks_ ? Status<storage::StorageError>(Err(storage::StorageError::units_full))
                                       : c_.store->unit_put(id, encoded);
  };
  auto s = put();
  // Full: the blocks the core evicted (forks, uncertified proposals) go, then once
  // more. The core holds no more than the family does (limits.h), so this fits
  // unless the store failed.
  if (!s && s.error() == storage::StorageError::units_full) {
    const std::size_t dropped = std::erase_if(pending_, [&](const hs::BlockId& held) {
      return !replica().has_block(held) && c_.store->unit_erase(held).ok();
    });
    if (dropped > 0) {
      spdlog::info("pending blocks full: dropped {} the core no longer holds", dropped);
      s = put();
    }
  }
  if (!s) {
    // The block stays in memory (a restart would fetch it from peers), and this
    // node does not vote for it (withhold).
    if (note_rare(pending_put_failures_)) {
      spdlog::warn("pending block {} not persisted: {} ({} so far)", id.hex().substr(0, 16), storage::describe(s.error()),
                   pending_put_failures_);
    }
    return false;
  }
  pending_.insert(id);
  return true;
}

// The journal onto the store: "s" and "c" into its journal family, "b" || id as
// a unit (the store writes a block's bytes once, whether or not it commits).
bool HotStuff2Driver::write_journal(const std::vector<consensus::JournalOp>& journal, std::string* error) {
  for (const consensus::JournalOp& op : journal) {
    if (op.key.size() == 1 && (op.key[0] == 's' || op.key[0] == 'c')) {
      KESTREL_ASSERT(op.kind == consensus::JournalOp::Kind::put);
      if (auto st = c_.store->journal_put(op.key, op.value); !st) {
        *error = std::string("journal write: ") + storage::describe(st.error());
        return false;
      }
    } else if (op.key.size() == 33 && op.key[0] == 'b') {
      hs::BlockId id;
      std::copy(op.key.begin() + 1, op.key.end(), id.bytes.begin());
      if (op.kind == consensus::JournalOp::Kind::erase) {
        // Committed blocks left the pending family with their append; others go now.
        if (pending_.erase(id) != 0 && !c_.store->unit_erase(id).ok()) pending_.insert(id);
      } else if (!pending_.count(id)) {
        (void)put_block(id, op.value);  // refused: not in pending_, so no vote for it (withhold)
      }
    } else {
      *error = "a journal key HotStuff-2 does not write";
      return false;
    }
  }
  return true;
}

bool HotStuff2Driver::sync(std::string* error) {
  if (auto s = c_.store->flush(); !s) {
    *error = std::string("store flush: ") + storage::describe(s.error());
    return false;
  }
  return true;
}

bool HotStuff2Driver::withhold(const consensus::Envelope& envelope) {
  const auto* vote = std::get_if<hs::Vote>(&hs::message_of(*envelope.message));
  // Fails closed: whatever is not in the store's pending family gets no vote.
  if (!vote || pending_.count(vote->block_id)) return false;
  // A vote only for a block this node stored: a QC's voters each hold its block
  // durably (gate node.early_receipts answers clients on that, and the quorum
  // serves the block to peers that catch up). Not voting is always safe; the
  // safety record already has the view, so the node will not vote in it later.
  if (note_rare(votes_withheld_)) {
    spdlog::warn("vote for block {} at view {} withheld: the block is not in the store ({} so far)",
                 vote->block_id.hex().substr(0, 16), vote->view, votes_withheld_);
  }
  return true;
}

Bytes HotStuff2Driver::seal(consensus::Envelope& envelope) {
  hs::Message& message = hs::message_of(*envelope.message);
  const crypto::Signer& signer = *c_.signer;
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, hs::Proposal>) {
          if (m.signature.empty()) signer.sign(hs::proposal_signing_bytes(config_.chain_id, replica().id_of(m.block)), m.signature);
        } else if constexpr (std::is_same_v<T, hs::Vote>) {
          if (m.signature.empty()) signer.sign(hs::vote_signing_bytes(config_.chain_id, m.view, m.block_id), m.signature);
        } else if constexpr (std::is_same_v<T, hs::Timeout>) {
          if (m.signature.empty()) signer.sign(hs::timeout_signing_bytes(config_.chain_id, m.view, m.high_qc.view), m.signature);
        } else if constexpr (std::is_same_v<T, hs::FetchRequest>) {
          if (envelope.to) {
            auto& outstanding = fetches_outstanding_[*envelope.to];
            if (outstanding.load(std::memory_order_relaxed) < replica().config().fetches_in_flight_max) {
              outstanding.fetch_add(1, std::memory_order_relaxed);
            }
          }
        }
      },
      message);
  if (envelope.to && *envelope.to == config_.id) return {};  // to self: delivered as a message, never encoded
  return hs::encode_message(message);
}

std::optional<Hash32> HotStuff2Driver::own_proposal(const consensus::Message& message) const {
  const auto* proposal = std::get_if<hs::Proposal>(&hs::message_of(message));
  if (!proposal || proposal->block.proposer != config_.id) return std::nullopt;
  return replica().id_of(proposal->block);
}

// The block's encoding is its header's (the commit's proof, which ends with the
// empty payload's one-byte length) with the payload in place of that length: the
// same bytes the pending family holds, so the store writes them once.
StoredCommit HotStuff2Driver::stored_commit(const consensus::Commit& commit) const {
  StoredCommit out;
  KESTREL_ASSERT(!commit.proof.empty() && commit.proof.back() == 0);
  out.unit.reserve(commit.proof.size() + commit.payload.size() + 8);
  out.unit.assign(commit.proof.begin(), commit.proof.end() - 1);
  Writer w(out.unit);
  w.bytes(commit.payload, limits::block_payload_bytes_max);
  KESTREL_DEBUG_ASSERT(hs::compute_block_id(*hs::decode_block(out.unit)) == commit.id);
  return out;
}

Result<Bytes, std::string> HotStuff2Driver::payload_of_unit(ByteSpan unit) const {
  auto block = hs::decode_block(unit);
  if (!block) return Err(std::string("the stored block does not decode: ") + describe(block.error()));
  return std::move(block->payload);
}

void HotStuff2Driver::after_step(const consensus::Ready& ready) {
  const auto now = Clock::now();
  for (const auto& send : ready.sends) {
    const auto* p = std::get_if<hs::Proposal>(&hs::message_of(*send.message));
    if (p && p->block.proposer == config_.id) proposed_at_[p->block.view] = now;
  }
  while (proposed_at_.size() > limits::node_in_flight_blocks_max) proposed_at_.erase(proposed_at_.begin());
  // A QC for a view we proposed in ends its vote collection.
  if (replica().locked_qc().view > last_lock_view_) {
    last_lock_view_ = replica().locked_qc().view;
    certified_at_[last_lock_view_] = now;
    if (auto p = proposed_at_.find(last_lock_view_); p != proposed_at_.end()) {
      c_.stages->record(perf::Stage::vote_collection, static_cast<std::uint64_t>((now - p->second).count()), 0);
    }
    while (!proposed_at_.empty() && proposed_at_.begin()->first <= last_lock_view_) proposed_at_.erase(proposed_at_.begin());
    while (certified_at_.size() > limits::node_stage_marks_max) certified_at_.erase(certified_at_.begin());
  }
  // A commit ends the commit stage of its block's view (QC seen -> committed here).
  for (const auto& commit : ready.commits) {
    const hs::Block* b = replica().block(commit.id);
    if (!b) continue;
    if (auto q = certified_at_.find(b->view); q != certified_at_.end()) {
      c_.stages->record(perf::Stage::commit, static_cast<std::uint64_t>((now - q->second).count()), 0);
    }
  }
}

void HotStuff2Driver::refresh_metrics() {
  c_.metrics->refresh(replica().counters(), replica().view(), replica().committed_height());
}

}  // namespace

Result<std::unique_ptr<ProtocolDriver>, std::string> make_protocol_driver(const DriverContext& context) {
  KESTREL_ASSERT(context.config && context.signer && context.verifier && context.store && context.metrics &&
                 context.stages);
  if (context.config->protocol == "hotstuff2") return std::unique_ptr<ProtocolDriver>(new HotStuff2Driver(context));
  return Err(context.config->path + ": consensus.protocol: unknown protocol \"" + context.config->protocol +
             "\" (known: " + known_protocols() + ")");
}

}  // namespace kestrel::node
