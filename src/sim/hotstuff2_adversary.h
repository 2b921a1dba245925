// The Byzantine replicas of a HotStuff-2 simulation (private to src/sim). Each
// runs an honest core; this corrupts what it sends, per SimConfig::faults and
// byzantine_mode: withheld proposals and votes, forks below the lock, two to
// six equivocating proposals per view, double votes, floods of fetch requests
// and replayed certificates, validly signed stale and far-future views, forged
// certificates, corrupted signatures, random bytes, broadcasts to a subset.
// `silent` sends nothing; `vote_only` never proposes.
//
// It remembers what its replicas received (bounded) to build forks and floods.
// Thread-safety: none.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "hotstuff2/hotstuff2.h"
#include "sim/hotstuff2_checker.h"
#include "sim/keys.h"
#include "sim/sim.h"
#include "sim/world.h"

namespace kestrel::sim {

class Hotstuff2Adversary {
 public:
  Hotstuff2Adversary(const SimConfig& config, World& world, const Keys& keys, Hotstuff2Checker& checker);

  // A message Byzantine replica `r` received (before its core steps it).
  void remember(ReplicaId r, const hotstuff2::Message& message);
  // What Byzantine replica `r` sends instead of `message` (signed by its core's
  // adapter) to `to` (nullopt: everyone else). `view`: its core's view now.
  void dispatch(ReplicaId r, std::optional<ReplicaId> to, hotstuff2::Message& message, hotstuff2::View view);

 private:
  // What a Byzantine replica remembers (bounded: oldest dropped first).
  struct Memory {
    std::map<hotstuff2::View, hotstuff2::QuorumCertificate> seen_qcs;
    std::map<hotstuff2::BlockId, hotstuff2::Height> seen_heights;
  };
  static constexpr std::size_t seen_qcs_max = 64;
  static constexpr std::size_t seen_heights_max = 256;

  bool has(Fault fault) const { return (config_.faults >> static_cast<unsigned>(fault)) & 1; }
  // A behaviour fires in about one message of three when its fault is on.
  bool act(Fault fault);
  void send(ReplicaId from, std::optional<ReplicaId> to, const hotstuff2::Message& message);
  void equivocate(ReplicaId r, const hotstuff2::Proposal& honest);
  void double_vote(ReplicaId r, const hotstuff2::Vote& vote);
  void move_view(ReplicaId r, const hotstuff2::Message& message);
  void corrupt_signature(hotstuff2::Message& message);
  std::optional<hotstuff2::Proposal> make_fork(ReplicaId r, const hotstuff2::Proposal& honest);
  void send_flood(ReplicaId r);
  void send_forged_certificates(ReplicaId r, const hotstuff2::Message& basis, hotstuff2::View view);

  SimConfig config_;
  World& world_;
  Prng& prng_;
  const Keys& keys_;
  Hotstuff2Checker& checker_;
  std::vector<Memory> memory_;
};

}  // namespace kestrel::sim
