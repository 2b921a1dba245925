// Constant-time check for ML-KEM, run under valgrind memcheck (ctest
// mlkem_ct_valgrind): the secret inputs (seeds d and z, the message m, the
// decapsulation key) are marked undefined with ct_poison; memcheck then reports
// every conditional branch and every memory address computed from them. Values
// public by design are declassified inside the library (rho, the dk hash-check
// verdict) and here (outputs, before they are compared). Exit status 0 means no
// report; valgrind's --error-exitcode turns any report into a failure.
//
// Runs KeyGen_internal, Encaps_internal, Decaps (valid and tampered ciphertext)
// for ML-KEM-512/768/1024 on the portable path and, when the CPU has it, AVX2.
#include <array>
#include <cstdio>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/prng.h"
#include "crypto/ct.h"
#include "crypto/mlkem.h"

namespace {

using namespace kestrel;
using namespace kestrel::crypto;

bool run(mlkem::ParameterSet set, bool avx2, std::uint64_t seed) {
  ScopedGate gate(Gate::crypto_avx2, avx2);
  const mlkem::Sizes s = mlkem::sizes(set);
  Prng prng(seed);
  std::array<std::uint8_t, 32> d, z, m, k_encaps, k_decaps, k_reject;
  prng.fill(d);
  prng.fill(z);
  prng.fill(m);
  std::vector<std::uint8_t> ek(s.ek_bytes), dk(s.dk_bytes), c(s.ciphertext_bytes);

  ct_poison(d.data(), d.size());
  ct_poison(z.data(), z.size());
  if (!mlkem::keygen_internal(set, ek, dk, d, z)) return false;
  ct_declassify(ek.data(), ek.size());  // the public key is published

  ct_poison(m.data(), m.size());
  if (!mlkem::encaps_internal(set, k_encaps, c, ek, m)) return false;
  ct_declassify(c.data(), c.size());  // the ciphertext is sent in the clear

  ct_poison(dk.data(), dk.size());
  if (!mlkem::decaps(set, k_decaps, c, dk)) return false;
  c[c.size() / 2] ^= 0x04;  // implicit rejection: same code, other selected key
  if (!mlkem::decaps(set, k_reject, c, dk)) return false;

  ct_declassify(k_encaps.data(), k_encaps.size());
  ct_declassify(k_decaps.data(), k_decaps.size());
  ct_declassify(k_reject.data(), k_reject.size());
  const bool ok = k_encaps == k_decaps && k_reject != k_encaps;
  std::printf("%-12s %-8s %s\n", mlkem::describe(set), avx2 ? "avx2" : "portable",
              ok ? "ok" : "WRONG RESULT");
  return ok;
}

}  // namespace

int main() {
#ifndef KESTREL_CT_HAVE_MEMCHECK
  std::printf("note: built without <valgrind/memcheck.h>: secrets cannot be marked, nothing is checked\n");
#else
  if (!RUNNING_ON_VALGRIND) {
    std::printf("note: not running under valgrind: results are checked, timing behaviour is not\n");
  }
#endif
  bool ok = true;
  for (auto set : {mlkem::ParameterSet::ml_kem_512, mlkem::ParameterSet::ml_kem_768,
                   mlkem::ParameterSet::ml_kem_1024}) {
    ok &= run(set, false, 1);
    if (cpu_features().avx2) {
      ok &= run(set, true, 2);
    } else {
      std::printf("%-12s avx2     skipped: this CPU has no AVX2\n", mlkem::describe(set));
    }
  }
  return ok ? 0 : 1;
}
