// The simulated network (private to src/sim): carries bytes between nodes with
// a seeded delay, and before GST (global stabilization time) loses, reorders
// and partitions them; duplication lasts the whole run. After GST every message
// arrives within delay + jitter (+ delay for a duplicate), which is what the
// liveness checkers rely on.
//
// Protocol-neutral: it moves bytes and schedules deliver events; the world
// (world.h) hands them to the receiving node. Thread-safety: none.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/prng.h"
#include "sim/events.h"

namespace kestrel::sim {

struct NetworkConfig {
  std::uint32_t n = 4;
  Tick delay_ms = 10;   // base one-way delay
  Tick jitter_ms = 5;   // uniform extra delay, always
  Tick gst_ms = 0;      // loss, reordering and partitions end here
  bool loss = false;         // 1 in 20 messages dropped before GST
  bool duplication = false;  // 1 in 30 messages delivered twice
  bool reordering = false;   // 1 in 5 messages delayed up to 5 more delays before GST
  bool partition = false;    // 1 to 3 seeded partitions before GST
};

class Network {
 public:
  // Draws the partition schedule from `prng`. `now` is the world's clock.
  Network(const NetworkConfig& config, Prng& prng, EventQueue& queue, const Tick& now);

  // One message to `to`, or to every other node (nullopt). A message to self
  // is delivered at once and not counted: it never touches the wire.
  void send(ReplicaId from, std::optional<ReplicaId> to, const Bytes& bytes);
  void transmit(ReplicaId from, ReplicaId to, Bytes bytes);

  std::uint64_t messages() const { return messages_; }
  std::uint64_t bytes() const { return bytes_; }

 private:
  struct Partition {
    Tick start = 0, end = 0;  // [start, end)
    std::vector<bool> side;   // per node
  };
  // Partitions per run: a few, each cutting the nodes in two random halves.
  static constexpr std::uint64_t partitions_max = 3;

  bool partitioned(ReplicaId a, ReplicaId b) const;

  NetworkConfig config_;
  Prng& prng_;
  EventQueue& queue_;
  const Tick& now_;
  std::vector<Partition> partitions_;
  std::uint64_t messages_ = 0;
  std::uint64_t bytes_ = 0;
};

}  // namespace kestrel::sim
