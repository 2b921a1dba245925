// What the generic simulator (world.h) asks of a protocol's part (private to
// src/sim). The world owns time, the network, the disks, crashes and the trace
// digest, and drives any consensus::Core through the seam; a protocol brings
// its cores, its wire adapter (encode, decode, sign, verify), its adversary and
// its checkers by implementing this (hotstuff2_sim.cc).
//
// Calls come from the world's one thread, never during a core's step.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "consensus/consensus.h"
#include "sim/disk.h"

namespace kestrel::sim {

class Protocol {
 public:
  virtual ~Protocol() = default;

  // The core `node` starts the run with (nothing on its disk).
  virtual std::unique_ptr<consensus::Core> start_core(consensus::ReplicaId node) = 0;
  // The core `node` restarts with after a crash, rebuilt from what its disk kept.
  virtual std::unique_ptr<consensus::Core> restart_core(consensus::ReplicaId node, const Disk& disk) = 0;

  // Bytes delivered to `node` as a message its core may step: decoded, and
  // every signature in it verified. An error says why it is dropped (trace).
  virtual Result<consensus::MessagePtr, std::string> open(consensus::ReplicaId node, ByteSpan bytes) = 0;
  // One line about a message, for the trace.
  virtual std::string describe(const consensus::Message& message) const = 0;
  // `message` is about to be stepped into `node` (what an adversary remembers).
  virtual void delivered(consensus::ReplicaId node, const consensus::Message& message) = 0;

  // A Ready of `node`, before the world carries it out (test hooks change it).
  virtual void prepare(consensus::ReplicaId node, consensus::Ready& ready) = 0;
  // `envelope` leaves `node`: sign, check, encode and hand it to the network;
  // for a Byzantine node, whatever its adversary does instead.
  virtual void dispatch(consensus::ReplicaId node, consensus::Envelope& envelope) = 0;
  // A step of `node` completed: its journal and `commits` are durable.
  virtual void completed(consensus::ReplicaId node, const std::vector<consensus::Commit>& commits) = 0;

  // After every event that found no violation: false ends the run (a liveness
  // failure, or the run reached its goal).
  virtual bool keep_running() = 0;
  // The run is over: the protocol's share of the SimResult.
  virtual void finish() = 0;
};

}  // namespace kestrel::sim
