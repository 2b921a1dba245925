// The trace digest (private to src/sim): SHA-256 over every event a run
// handles, in order: its time, kind, node, sender and bytes. Two runs with the
// same digest saw the same deliveries at the same instants; `kestrel sim --seed
// S` prints it, so a change that should not alter behaviour can be checked
// against the digests from before it. Steps the world takes on its own (the
// Persisted acknowledgement, world.h) are not events and are not digested.
//
// Thread-safety: none (one run, one thread).
#pragma once

#include "common/hash.h"
#include "sim/events.h"

namespace kestrel::sim {

class TraceDigest {
 public:
  void add(const Event& event);
  // REQUIRES: called once, after the last add.
  Hash32 finish() { return sha_.finish(); }

 private:
  Sha256 sha_;
};

}  // namespace kestrel::sim
