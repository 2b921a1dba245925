#include "sim/network.h"

#include <algorithm>

#include "common/assert.h"

namespace kestrel::sim {

Network::Network(const NetworkConfig& config, Prng& prng, EventQueue& queue, const Tick& now)
    : config_(config), prng_(prng), queue_(queue), now_(now) {
  KESTREL_ASSERT(config.n >= 1);
  if (!config.partition) return;
  const auto count = 1 + prng_.uniform(partitions_max);
  for (std::uint64_t i = 0; i < count; ++i) {
    Partition p;
    p.start = prng_.uniform(config_.gst_ms);
    p.end = std::min(config_.gst_ms, p.start + 200 + prng_.uniform(1500));
    p.side.resize(config_.n);
    for (auto&& s : p.side) s = prng_.chance(1, 2);
    partitions_.push_back(std::move(p));
  }
  KESTREL_ASSERT(partitions_.size() <= partitions_max);
}

bool Network::partitioned(ReplicaId a, ReplicaId b) const {
  for (const auto& p : partitions_) {
    if (now_ >= p.start && now_ < p.end && p.side[a] != p.side[b]) return true;
  }
  return false;
}

void Network::send(ReplicaId from, std::optional<ReplicaId> to, const Bytes& bytes) {
  if (to) {
    transmit(from, *to, bytes);
    return;
  }
  for (ReplicaId r = 0; r < config_.n; ++r) {
    if (r != from) transmit(from, r, bytes);
  }
}

void Network::transmit(ReplicaId from, ReplicaId to, Bytes bytes) {
  KESTREL_ASSERT(from < config_.n && to < config_.n);
  if (to == from) {
    queue_.schedule({now_, 0, EventKind::deliver, to, from, 0, std::move(bytes)});
    return;
  }
  ++messages_;
  bytes_ += bytes.size();
  const bool before_gst = now_ < config_.gst_ms;
  if (before_gst && partitioned(from, to)) return;
  if (before_gst && config_.loss && prng_.chance(1, 20)) return;
  Tick delay = config_.delay_ms + prng_.uniform(config_.jitter_ms + 1);
  if (before_gst && config_.reordering && prng_.chance(1, 5)) delay += prng_.uniform(5 * config_.delay_ms + 1);
  if (config_.duplication && prng_.chance(1, 30)) {
    queue_.schedule({now_ + delay + prng_.uniform(config_.delay_ms + 1), 0, EventKind::deliver, to, from, 0, bytes});
  }
  queue_.schedule({now_ + delay, 0, EventKind::deliver, to, from, 0, std::move(bytes)});
}

}  // namespace kestrel::sim
