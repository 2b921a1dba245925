// The raw benchmark mode's pool (docs/client-api.md "Raw mode"): unsigned 16-byte
// commands from clients and peers, batched into payloads beside transactions and
// answered with their commit height. Consensus thread only (node_impl.h).
#include <unordered_set>

#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

void Node::Impl::on_peer_raw(PeerRaw& e) {
  for (const auto& entry : e.entries) {
    if (raw_pool_.size() >= limits::node_raw_pool_max) break;
    if (raw_pool_.emplace(key_of(entry), false).second) {
      raw_queue_.push_back(entry);
      ++pool_version_;
      ++tuner_window_.arrived_raw;
    }
  }

}

void Node::Impl::on_client_raw(ClientRaw& e) {
  stages_.record(perf::Stage::client_ingress, static_cast<std::uint64_t>((Clock::now() - e.posted).count()), 0);
  if (!config_.raw_mode) {
    e.refused(static_cast<std::uint8_t>(ClientErrorCode::raw_disabled));
    return;
  }
  if (raw_pool_.size() + e.commands.size() > limits::node_raw_pool_max) {
    e.refused(static_cast<std::uint8_t>(ClientErrorCode::overloaded));
    return;
  }
  // Every sequence must be new on this connection (the client server
  // waits for each one): a repeat refuses the whole call.
  {
    std::unordered_set<std::uint64_t> seen;
    for (const auto& c : e.commands) {
      if (!seen.insert(c.sequence).second ||
          raw_pool_.count(RawKey{static_cast<std::uint16_t>(self_), e.connection, c.sequence})) {
        e.refused(static_cast<std::uint8_t>(ClientErrorCode::malformed));
        return;
      }
    }
  }
  auto call = std::make_shared<RawCall>();
  call->committed = std::move(e.committed);
  call->admitted = Clock::now();
  for (const auto& c : e.commands) {
    RawEntry entry{static_cast<std::uint16_t>(self_), e.connection, c.sequence, c.command};
    // A sequence already pending on this connection (a client reusing one)
    // keeps its first call; this call does not wait for it.
    if (raw_pool_.emplace(key_of(entry), false).second) {
      raw_queue_.push_back(entry);
      gossip_raw_.push_back(entry);
      raw_calls_.emplace(key_of(entry), call);
      ++call->remaining;
      ++pool_version_;
      ++tuner_window_.arrived_raw;
    }
  }
}

// Our clients' commands that committed at `height`: each submit_raw call hears
// which of its sequences did (deliver_receipts()); every committed entry leaves
// the pool.
void Node::Impl::raw_committed(const std::vector<RawEntry>& raw, std::uint64_t height) {
  std::map<RawCall*, std::pair<std::shared_ptr<RawCall>, std::vector<std::uint64_t>>> mine;
  for (const auto& e : raw) {
    raw_pool_.erase(key_of(e));
    if (e.origin != self_) continue;
    auto call = raw_calls_.find(key_of(e));
    if (call == raw_calls_.end()) continue;  // connection closed, or already committed in a fork's twin
    if (tuner_) note_latency(Clock::now() - call->second->admitted);
    auto& [owner, sequences] = mine[call->second.get()];
    owner = call->second;
    sequences.push_back(e.sequence);
    --call->second->remaining;
    raw_calls_.erase(call);
  }
  for (auto& [raw_call, part] : mine) raw_due_.push_back({part.first, {std::move(part.second), height}});
}

// The raw entries of the next batch: in arrival order, not in a proposal, within
// the batch's share and `bytes_max`.
std::vector<RawEntry> Node::Impl::raw_batch(std::size_t bytes_max) {
  std::vector<RawEntry> raw;
  if (raw_pool_.empty()) return raw;
  // Drop queue entries already committed, then take those not in a proposal.
  while (!raw_queue_.empty() && !raw_pool_.count(key_of(raw_queue_.front()))) raw_queue_.pop_front();
  // Bounded: committed entries behind an uncommitted head are dropped in one
  // pass when the queue holds twice what the pool does.
  if (raw_queue_.size() > 2 * raw_pool_.size() + limits::node_raw_queue_slack) {
    std::erase_if(raw_queue_, [&](const RawEntry& e) { return !raw_pool_.count(key_of(e)); });
  }
  const std::size_t raw_max =
      std::min<std::size_t>(std::size_t{batch_limit()} * limits::node_raw_per_transaction_slot, limits::block_raw_commands_max);
  for (const RawEntry& e : raw_queue_) {
    if (raw.size() >= raw_max ||
        (raw.size() + 1) * limits::payload_raw_entry_bytes + limits::payload_fixed_bytes > bytes_max) {
      break;
    }
    auto it = raw_pool_.find(key_of(e));
    if (it != raw_pool_.end() && !it->second) raw.push_back(e);
  }
  return raw;
}

}  // namespace kestrel::node
