// The generic simulator (private to src/sim): n nodes, each a consensus::Core
// with a disk, on a seeded network in simulated time, some of them Byzantine,
// some crashing and restarting. Everything comes from one Prng, so a run is a
// function of its seed; its trace digest (digest.h) shows it.
//
// It drives any core through the seam (src/consensus/consensus.h) and carries
// out each Ready in the seam's order:
//   1. an honest node's sends marked before_persist leave (Protocol::dispatch);
//   2. the journal is made durable on the node's disk, then the step's commits
//      join the disk's commit stream. Before GST a crash may cut the write: a
//      seeded prefix of the journal operations stays, the step's commits and
//      sends are lost, and the node is down. (Harsher than a validator, which
//      writes its journal and commits in one atomic batch: a restarted core must
//      cope with a journal ahead of its commit stream.)
//   3. the world steps Persisted{} at once: not an event, not digested. It
//      does so after every step that did not crash, even one with no journal
//      operation, so a restarted core learns at its first step that what it
//      was restored from is durable;
//   4. the protocol's checkers see the step (Protocol::completed);
//   5. the other sends leave; a send to self comes back as a deliver event at
//      the same instant (a Received input of its own step);
//   6. wants_payload schedules a payload event at the same instant (the next
//      batch arrives as its own input, as from a mempool); wake_at a wake event.
// A Byzantine node's sends all leave after its journal, in the core's order:
// the adversary gets them as the core made them. Byzantine nodes never crash.
//
// Crashes: up to 3 seeded crash times before GST, and a 1 in 400 chance in any
// honest step with journal operations before GST (1 in 16 in a step that sent
// before its journal was durable: that window is what early sends risk). A
// crashed node restarts 0.1-1.6 s later from its disk (Protocol::restart_core).
//
// Thread-safety: none; one thread runs a world, once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/prng.h"
#include "sim/digest.h"
#include "sim/disk.h"
#include "sim/events.h"
#include "sim/network.h"
#include "sim/protocol.h"
#include "sim/sim.h"

namespace kestrel::sim {

struct WorldConfig {
  std::uint32_t n = 4;             // 1 <= n <= 128
  std::uint32_t byzantine = 0;     // <= (n - 1) / 3, a seeded choice of nodes
  Tick delay_ms = 10;
  Tick jitter_ms = 5;
  bool loss = false;               // the network faults of network.h
  bool duplication = false;
  bool reordering = false;
  bool partition = false;
  bool crash = false;              // honest nodes crash and restart
  // The run ends GST + this after its start at the latest (the protocol's
  // checkers usually end it earlier).
  Tick run_after_gst_ms = 60000;
  std::size_t commit_tail_max = 1024;  // per disk (disk.h)
  bool trace = false;
  std::function<void(const std::string&)> trace_sink;
};

class World {
 public:
  // Draws, in this order: the Byzantine nodes, GST (when any network fault or
  // crash is on: 1-4 s), the partitions, the crash times. `result` receives the
  // world's share of the SimResult.
  World(const WorldConfig& config, Prng& prng, SimResult& result);

  // Runs to the end. REQUIRES: called once.
  void run(Protocol& protocol);

  // For the protocol's part (between steps).
  Tick now() const { return now_; }
  Tick gst() const { return gst_; }
  std::uint32_t n() const { return config_.n; }
  bool byzantine(ReplicaId node) const { return nodes_.at(node).byzantine; }
  bool up(ReplicaId node) const { return nodes_.at(node).up; }
  Network& network() { return *network_; }
  Prng& prng() { return prng_; }
  SimResult& result() { return result_; }
  bool tracing() const { return config_.trace && config_.trace_sink; }
  void trace(const std::string& line) const;

 private:
  struct Node {
    explicit Node(std::size_t commit_tail_max) : disk(commit_tail_max) {}
    std::unique_ptr<consensus::Core> core;
    Disk disk;
    bool up = true;
    bool byzantine = false;
    std::uint64_t incarnation = 0;      // bumped by crash and restart: stale timers die
    std::optional<Tick> wake_pending;   // the earliest wake event scheduled
    std::uint64_t payload_counter = 0;
  };
  // Readies alive at once: a step's, and the Persisted acknowledgement's (which
  // may itself need one more if it wrote to the journal).
  static constexpr std::size_t readies_max = 3;

  void handle(const Event& event);
  void deliver(const Event& event);
  void restart(ReplicaId node);
  void crash(ReplicaId node);
  void step(ReplicaId node, const consensus::Input& input);
  void carry_out(ReplicaId node, std::size_t depth);
  bool crash_draw(ReplicaId node, const consensus::Ready& ready, bool sent_early, std::size_t& durable);
  void schedule_wake(ReplicaId node, Tick at);
  Bytes next_payload(ReplicaId node);

  WorldConfig config_;
  Prng& prng_;
  SimResult& result_;
  Protocol* protocol_ = nullptr;
  std::vector<Node> nodes_;
  EventQueue queue_;
  Tick now_ = 0;
  Tick gst_ = 0;
  std::optional<Network> network_;
  TraceDigest digest_;
  std::vector<consensus::Ready> readies_;
  bool in_step_ = false;
};

}  // namespace kestrel::sim
