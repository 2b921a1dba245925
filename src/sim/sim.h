// The deterministic simulator: runs consensus cores on a seeded, hostile
// network with simulated time, disks that lose unsynced writes on crash, and
// Byzantine replicas, and checks safety after every step (DESIGN.md "sim").
//
// Everything is driven by one seed: the same config gives the same trace (and
// trace digest) on every machine. A failing run reports its seed; `kestrel sim
// --seed S --trace` replays it. Thread-safety: a run is single-threaded; runs
// with different configs may proceed on different threads.
//
// Inside, a generic world (world.h: time, network, disks, crashes, digest)
// drives any consensus::Core through the seam, and each protocol adds its
// part: run_hotstuff2 is hotstuff2_sim.cc with its wire, checker and adversary.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/result.h"

namespace kestrel::sim {

// Network and Byzantine behaviours that can be switched on (`--faults`).
enum class Fault : std::uint8_t {
  loss,           // messages dropped before GST
  duplication,    // messages delivered twice
  reordering,     // extra random delay before GST
  partition,      // scheduled partitions before GST
  crash,          // honest replicas crash and restart from their storage
  equivocation,   // Byzantine leader sends two proposals in one view
  double_vote,    // Byzantine replica votes for two blocks in one view
  withhold,       // Byzantine replica drops its proposals and votes
  subset,         // Byzantine replica sends broadcasts to a subset only
  bad_view,       // Byzantine replica sends signed messages with stale or far-future views
  forged_cert,    // Byzantine replica sends QCs/TCs with too few or unknown signers, wrong views
  bad_signature,  // Byzantine replica corrupts signatures
  garbage,        // Byzantine replica sends random bytes
  fork,           // Byzantine leader proposes on an older QC, forking below the lock
  flood,          // Byzantine replica floods fetch requests and replays old certificates
  count_,
};
const char* fault_name(Fault fault);
// Parses "all", "none" or a comma-separated list of fault names.
enum class SimError : std::uint8_t { unknown_fault, unknown_scheme, bad_config };
const char* describe(SimError error);
Result<std::uint32_t, SimError> parse_faults(const std::string& list);  // bitmask of Fault

// Signature schemes the simulator can run. `insecure_fast_mac` is a keyed hash
// that only the simulator can construct (it holds every key): it is NOT a
// signature scheme, and exists so that large sweeps run fast. The real schemes
// measure real message sizes and costs; ml-dsa-65 signs deterministically
// (FIPS 204 rnd = 0) so that a seed still replays byte for byte.
enum class SimScheme : std::uint8_t { insecure_fast_mac, ed25519, ml_dsa_65 };
Result<SimScheme, SimError> parse_scheme(const std::string& name);
const char* scheme_name(SimScheme scheme);

struct SimConfig {
  std::uint32_t n = 4;
  std::uint32_t byzantine = 0;     // <= f
  std::uint64_t seed = 1;
  std::uint64_t views = 200;       // run until every honest replica reaches this view
  std::uint32_t faults = 0;        // bitmask of Fault
  SimScheme scheme = SimScheme::insecure_fast_mac;
  std::uint64_t delay_ms = 10;     // base one-way delay
  std::uint64_t jitter_ms = 5;     // uniform extra delay, always
  std::uint64_t view_timeout_ms = 200;
  bool trace = false;              // print every event
  // Honest replicas reserve their next proposal and send it before the step's
  // records are durable (hotstuff2::Config::reserve_next_proposal; `kestrel sim`
  // takes it from the gate consensus.early_proposal). A crash then can fall
  // between an early proposal and its records, which the restart must survive.
  bool early_proposals = false;
  // Leader reputation (hotstuff2::Config::leader_reputation; `kestrel sim` takes it
  // from the gate consensus.leader_reputation).
  bool leader_reputation = false;
  // What the Byzantine replicas do besides the faults asked for: `faults` only
  // what --faults says; `silent` nothing at all (a validator that crashed and
  // stays down); `vote_only` votes and times out but never proposes (it stays in
  // the reputation window and wastes every turn it is given: the way to game it).
  enum class ByzantineMode : std::uint8_t { faults, silent, vote_only };
  ByzantineMode byzantine_mode = ByzantineMode::faults;
  // Test hook: every honest proposal leaves before its records, with no
  // reservation. A restarted leader may then propose twice in a view, which the
  // checker MUST report (sim_test.cc). Never set by `kestrel sim`.
  bool unreserved_early_proposals = false;
  // Test hook: apply the honest-replica checkers to the Byzantine replicas too.
  // A Byzantine replica that double-votes then MUST be reported, which shows the
  // checkers can fail (sim_test.cc). Never set by `kestrel sim`.
  bool audit_byzantine = false;
  std::function<void(const std::string&)> trace_sink;  // where trace lines go
};

struct SimResult {
  std::uint64_t seed = 0;
  std::vector<std::string> violations;  // safety violations (empty when safe)
  bool liveness_ok = true;
  std::string liveness_failure;
  std::uint64_t committed_height = 0;   // highest honest commit
  std::uint64_t sim_time_ms = 0;
  std::uint64_t gst_ms = 0;
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
  std::uint64_t dropped_by_drivers = 0;   // failed decode or signature check
  std::uint64_t dropped_by_cores = 0;     // counted by Replica::Counters
  double commit_latency_ms = 0;          // mean: proposal sent -> first honest commit
  std::uint64_t latency_samples = 0;
  std::uint64_t events = 0;
  std::uint64_t early_proposals = 0;            // proposals sent before their step's records
  std::uint64_t crashes_after_early_proposal = 0;  // crashes between such a send and the records
  Hash32 trace_digest;
};

SimResult run_hotstuff2(const SimConfig& config);

}  // namespace kestrel::sim
