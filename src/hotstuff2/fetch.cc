// Block fetch (docs/consensus.md "Block fetch"): asking peers for blocks we lack,
// answering their requests, and accepting a response only as a hash chain from
// an id we asked for. Part of the Replica (replica.cc holds the rest).
#include <algorithm>

#include "common/assert.h"
#include "common/limits.h"
#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {

void Replica::request_block(const BlockId& id, ReplicaId from, Output& out) {
  if (blocks_.count(id)) return;
  auto pending = fetches_in_flight_.find(id);
  if (pending != fetches_in_flight_.end() && pending->second == view_) return;  // asked in this view already
  if (pending == fetches_in_flight_.end() && fetches_in_flight_.size() >= config_.fetches_in_flight_max) {
    // Make room by forgetting the request asked in the oldest view.
    auto oldest = std::min_element(fetches_in_flight_.begin(), fetches_in_flight_.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    if (oldest->second == view_) {
      drop(Drop::full);
      return;
    }
    fetches_in_flight_.erase(oldest);
  }
  ReplicaId target = from;
  if (target == config_.self || target >= config_.n) target = (config_.self + 1) % config_.n;
  if (target == config_.self) return;  // a one-replica cluster has nobody to ask
  fetches_in_flight_[id] = view_;
  out.sends.push_back({target, FetchRequest{id, config_.fetch_blocks_max}});
  ++counters_.fetches_sent;
}

void Replica::on_fetch_request(ReplicaId from, const FetchRequest& request, Output& out) {
  auto& served = fetches_served_in_view_[from];
  if (served >= config_.fetch_responses_per_peer_per_view) {
    drop(Drop::fetch_budget);
    return;
  }
  auto it = blocks_.find(request.block_id);
  if (it == blocks_.end()) {
    // Pruned history or a block we never had: the asker needs state sync.
    drop(Drop::unknown_block);
    return;
  }
  ++served;
  FetchResponse response;
  const std::uint32_t count = std::min(request.count_max, config_.fetch_blocks_max);
  // Stay under message_size_max: a block is at most its payload, its QC and a
  // header; the first block always fits (static_assert in limits.h).
  std::size_t bytes = 0;
  while (it != blocks_.end() && response.blocks.size() < count && it->first != genesis_id_) {
    const Block& b = it->second;
    const std::size_t block_bytes = limits::block_header_bytes_max + b.payload.size() +
                                    b.justify.signatures.size() * (limits::signature_bytes_max + 2 * limits::varint_bytes_max);
    if (!response.blocks.empty() && bytes + block_bytes > limits::message_size_max / 2) break;
    bytes += block_bytes;
    response.blocks.push_back(b);
    it = blocks_.find(b.parent);
  }
  out.sends.push_back({from, std::move(response)});
}

void Replica::on_fetch_response(ReplicaId from, const FetchResponse& response, Output& out) {
  if (response.blocks.empty() || response.blocks.size() > config_.fetch_blocks_max) {
    drop(Drop::bad_fetch_response);
    return;
  }
  // Authenticity: we only accept a chain whose head we asked for (its id came
  // from a certified block), and every further block must be the previous one's
  // parent, so every block is fixed by hashes from a certified id.
  std::vector<BlockId> ids;
  ids.reserve(response.blocks.size());
  for (const Block& b : response.blocks) ids.push_back(id_of(b));
  if (!fetches_in_flight_.count(ids[0]) && !blocks_.count(ids[0])) {
    drop(Drop::bad_fetch_response);
    return;
  }
  for (std::size_t i = 0; i < response.blocks.size(); ++i) {
    const Block& b = response.blocks[i];
    if (!valid_block_shape(b)) {
      drop(Drop::bad_fetch_response);
      return;
    }
    if (i + 1 < response.blocks.size()) {
      const Block& parent = response.blocks[i + 1];
      if (ids[i + 1] != b.parent || parent.height + 1 != b.height || parent.view != b.justify.view) {
        drop(Drop::bad_fetch_response);
        return;
      }
    }
  }
  const Block& oldest = response.blocks.back();
  if (auto parent = blocks_.find(oldest.parent); parent != blocks_.end()) {
    if (parent->second.height + 1 != oldest.height || parent->second.view != oldest.justify.view) {
      drop(Drop::bad_fetch_response);
      return;
    }
  }
  // Store oldest first, so each block's justify finds its parent for the commit rule.
  for (std::size_t i = response.blocks.size(); i-- > 0;) {
    if (!store_block(response.blocks[i], ids[i], out)) break;
  }
  if (!blocks_.count(oldest.parent)) request_block(oldest.parent, from, out);
  for (std::size_t i = response.blocks.size(); i-- > 0;) {
    apply_commit_rule(response.blocks[i].justify);
  }
  apply_commit_rule(safety_.locked_qc);
  try_commit(out);
}

}  // namespace kestrel::hotstuff2
