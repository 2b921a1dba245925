#include "sim/keys.h"

#include <algorithm>

#include "common/assert.h"
#include "common/hash.h"
#include "crypto/ct.h"

namespace kestrel::sim {

Keys::Keys(SimScheme scheme, std::uint32_t n, Prng& prng) : scheme_(scheme) {
  for (std::uint32_t i = 0; i < n; ++i) {
    std::array<std::uint8_t, 32> seed;
    prng.fill(seed);
    if (scheme == SimScheme::ed25519) {
      ed25519_.push_back(crypto::ed25519_keypair_from_seed(seed));
      add_verifier(crypto::SignatureScheme::ed25519, ed25519_.back().public_key);
    } else if (scheme == SimScheme::ml_dsa_65) {
      constexpr auto set = crypto::mldsa::ParameterSet::ml_dsa_65;
      Bytes public_key(crypto::mldsa::public_key_bytes(set)), secret_key(crypto::mldsa::secret_key_bytes(set));
      crypto::mldsa::key_gen_internal(set, seed, public_key, secret_key);
      // Signed here deterministically (rnd = 0) so that a seed replays byte for byte;
      // the scheme's Signer signs hedged.
      mldsa_secret_.push_back(std::move(crypto::mldsa::expand_secret_key(set, secret_key)).value());
      crypto::secure_zero(secret_key);
      add_verifier(crypto::SignatureScheme::ml_dsa_65, public_key);
    } else {
      mac_keys_.push_back(seed);
    }
  }
}

Bytes Keys::sign(consensus::ReplicaId signer, ByteSpan message) const {
  if (scheme_ == SimScheme::ml_dsa_65) {
    KESTREL_ASSERT(signer < mldsa_secret_.size());
    Bytes sig(crypto::mldsa::signature_bytes(crypto::mldsa::ParameterSet::ml_dsa_65));
    KESTREL_ASSERT(
        crypto::mldsa::sign(mldsa_secret_[signer], message, {}, crypto::mldsa::Randomness::deterministic, sig).ok());
    return sig;
  }
  if (scheme_ == SimScheme::ed25519) {
    KESTREL_ASSERT(signer < ed25519_.size());
    Bytes sig(crypto::ed25519_signature_bytes);
    crypto::ed25519_sign(std::span<std::uint8_t, 64>(sig.data(), 64), message, ed25519_[signer].secret_key);
    return sig;
  }
  KESTREL_ASSERT(signer < mac_keys_.size());
  return mac(signer, message);
}

bool Keys::verify(consensus::ReplicaId signer, ByteSpan message, ByteSpan signature) {
  if (scheme_ == SimScheme::insecure_fast_mac) {
    if (signer >= mac_keys_.size()) return false;
    const Bytes expected = mac(signer, message);
    return signature.size() == expected.size() && std::equal(expected.begin(), expected.end(), signature.begin());
  }
  if (signer >= verifiers_.size()) return false;
  return cache_.verify(*verifiers_[signer], message, signature).ok();
}

void Keys::add_verifier(crypto::SignatureScheme scheme, ByteSpan public_key) {
  verifiers_.push_back(std::move(crypto::make_verifier(scheme, public_key)).value());
}

// Not a signature: a keyed hash only the simulator can compute (sim.h).
Bytes Keys::mac(consensus::ReplicaId signer, ByteSpan message) const {
  Sha256 h;
  h.update(mac_keys_[signer]);
  h.update(message);
  const Hash32 d = h.finish();
  return Bytes(d.bytes.begin(), d.bytes.end());
}

}  // namespace kestrel::sim
