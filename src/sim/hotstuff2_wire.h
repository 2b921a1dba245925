// HotStuff-2 messages on the simulated wire (private to src/sim): the adapter
// between the protocol's messages and the bytes the world's network carries.
// It signs what a replica authored, encodes, and on the way in decodes and
// verifies every signature (hotstuff2.h driver contracts 1 and 2).
//
// Thread-safety: none (one run, one thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "hotstuff2/hotstuff2.h"
#include "sim/keys.h"
#include "sim/network.h"

namespace kestrel::sim::hotstuff2_wire {

namespace hs = kestrel::hotstuff2;

// The simulated cluster's chain id (every replica's Config::chain_id).
inline constexpr std::uint64_t chain_id = 7;

// Signs the Proposal, Vote or Timeout `signer` authored (empty signature);
// leaves every other message, and one already signed, as it is.
void sign(const Keys& keys, consensus::ReplicaId signer, hs::Message& message);
// Encodes once and sends to `to`, or to every other replica (nullopt).
void send(Network& network, consensus::ReplicaId from, std::optional<consensus::ReplicaId> to,
          const hs::Message& message);
// Decodes `bytes` and verifies every signature in them (the list the node
// verifies in parallel batches); an error says why the message is dropped.
Result<hs::Message, std::string> open(Keys& keys, std::uint32_t n, ByteSpan bytes);
// One line for the trace.
std::string describe(const hs::Message& message);

}  // namespace kestrel::sim::hotstuff2_wire
