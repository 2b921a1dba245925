// Every node's signing key (private to src/sim: the simulator holds them all),
// for any protocol: sign and verify bytes as node `signer` under the run's
// scheme (sim.h SimScheme). Verification of the real schemes goes through the
// cluster's Verifier interface and the shared crypto::VerifyCache, as the
// node's does: certificates travel many times.
//
// Thread-safety: none (one run, one thread).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/bytes.h"
#include "common/prng.h"
#include "consensus/consensus.h"
#include "crypto/classic.h"
#include "crypto/mldsa.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"
#include "sim/sim.h"

namespace kestrel::sim {

class Keys {
 public:
  // Draws one 32-byte seed per node from `prng`, in node order.
  Keys(SimScheme scheme, std::uint32_t n, Prng& prng);

  // REQUIRES: signer < n.
  Bytes sign(consensus::ReplicaId signer, ByteSpan message) const;
  // False for an unknown signer or a bad signature (never asserts: the bytes
  // may come from the adversary).
  bool verify(consensus::ReplicaId signer, ByteSpan message, ByteSpan signature);

 private:
  void add_verifier(crypto::SignatureScheme scheme, ByteSpan public_key);
  Bytes mac(consensus::ReplicaId signer, ByteSpan message) const;

  SimScheme scheme_;
  std::vector<crypto::Ed25519KeyPair> ed25519_;
  std::vector<crypto::mldsa::ExpandedSecretKey> mldsa_secret_;
  std::vector<std::array<std::uint8_t, 32>> mac_keys_;
  std::vector<std::unique_ptr<crypto::Verifier>> verifiers_;
  // Signatures alive at once in a simulation: a few views of votes and
  // certificates of up to 128 signers; 4,096 entries keeps the hit rate high
  // and the per-seed allocation small.
  crypto::VerifyCache cache_{4096};
};

}  // namespace kestrel::sim
