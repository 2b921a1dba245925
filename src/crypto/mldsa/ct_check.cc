// Constant-time check of ML-DSA key generation and signing with valgrind
// memcheck (the technique of ctgrind): secret inputs are marked undefined, so
// memcheck reports any conditional branch or memory address that depends on
// them. Run by CTest as `valgrind --error-exitcode=1 mldsa_ct_check`.
//
// Secret inputs: xi for key generation; for signing, the secret parts of the
// secret key (K, s1, s2, t0) and rnd. rho and tr stay defined: they are public
// (rho is in the public key, tr = H(pk)). Inside the library, ct_declassify
// marks as defined exactly what FIPS 204 lets leak: the accept/reject decision
// of each RejBoundedPoly candidate and of each signing attempt, and the
// challenge c~ of an attempt; the accepted z and h become the signature.
// Outputs (keys, signature) are declassified here before they are compared.
//
// Both code paths run (portable, then AVX2 when the CPU has it), all three
// parameter sets, several seeds so that several rejection paths are taken.
#include <valgrind/memcheck.h>

#include <cstdio>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/mldsa.h"

namespace {

namespace mldsa = kestrel::crypto::mldsa;

void mark_secret(void* data, std::size_t size) { (void)VALGRIND_MAKE_MEM_UNDEFINED(data, size); }
void mark_public(const void* data, std::size_t size) { (void)VALGRIND_MAKE_MEM_DEFINED(data, size); }

int check(mldsa::ParameterSet set, std::uint8_t seed) {
  std::vector<std::uint8_t> pk(mldsa::public_key_bytes(set)), sk(mldsa::secret_key_bytes(set));
  std::array<std::uint8_t, 32> xi;
  xi.fill(seed);
  mark_secret(xi.data(), xi.size());
  mldsa::key_gen_internal(set, xi, pk, sk);
  mark_public(pk.data(), pk.size());
  mark_public(sk.data(), sk.size());  // for the test's own use below

  std::array<std::uint8_t, 32> rnd;
  rnd.fill(static_cast<std::uint8_t>(seed + 1));
  mark_secret(rnd.data(), rnd.size());
  mark_secret(sk.data() + 32, 32);               // K
  mark_secret(sk.data() + 128, sk.size() - 128);  // s1, s2, t0
  const std::vector<std::uint8_t> message{'c', 't', seed};
  std::vector<std::uint8_t> signature(mldsa::signature_bytes(set));
  auto status = mldsa::sign_with_rnd(set, sk, message, {}, rnd, signature);
  mark_public(&status, sizeof status);
  mark_public(signature.data(), signature.size());
  if (!status.ok()) return 1;
  if (!mldsa::verify(set, pk, message, {}, signature).ok()) {
    std::printf("signature made under the check does not verify\n");
    return 1;
  }
  return 0;
}

}  // namespace

int main() {
  std::vector<bool> paths{false};
  if (kestrel::cpu_features().avx2) paths.push_back(true);
  int failures = 0;
  for (bool avx2 : paths) {
    kestrel::ScopedGate gate(kestrel::Gate::crypto_avx2, avx2);
    for (auto set : {mldsa::ParameterSet::ml_dsa_44, mldsa::ParameterSet::ml_dsa_65, mldsa::ParameterSet::ml_dsa_87}) {
      for (std::uint8_t seed = 1; seed <= 3; ++seed) failures += check(set, seed);
    }
    std::printf("mldsa_ct_check: %s path: keygen and sign checked for ML-DSA-44/65/87\n", avx2 ? "avx2" : "portable");
  }
  if (!RUNNING_ON_VALGRIND) std::printf("note: not running under valgrind; only functional checks ran\n");
  return failures == 0 ? 0 : 1;
}
