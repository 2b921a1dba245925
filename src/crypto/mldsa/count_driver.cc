// mldsa_count: runs one ML-DSA operation a fixed number of times inside
// measured(), for callgrind instruction counts that do not depend on the load
// of the machine (docs/mldsa.md "Speed"):
//
//   valgrind --tool=callgrind --toggle-collect='*measured*' --callgrind-out-file=cg.out
//     build/release/src/crypto/mldsa_count keygen|sign|verify avx2|portable 44|65|87 COUNT
//   (one command line)
//
// The `Collected` total divided by COUNT is the figure. keygen uses seeds
// xi = i; sign signs COUNT fixed 64-byte messages (Prng(7)) deterministically
// with one key (xi = 0x42...), verify checks those signatures. With a fifth
// argument `time` it prints the mean CPU time per operation instead.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string_view>
#include <vector>

#include "common/gates.h"
#include "common/prng.h"
#include "crypto/mldsa.h"

namespace {

using namespace kestrel;
using namespace kestrel::crypto::mldsa;

struct Fixture {
  ParameterSet set;
  Bytes pk, sk;
  std::vector<Bytes> messages, signatures;
};

[[gnu::noinline]] bool measured(std::string_view op, Fixture& f, int count) {
  bool ok = true;
  if (op == "keygen") {
    std::array<std::uint8_t, 32> xi{};
    for (int i = 0; i < count; ++i) {
      xi[0] = static_cast<std::uint8_t>(i);
      xi[1] = static_cast<std::uint8_t>(i >> 8);
      key_gen_internal(f.set, xi, f.pk, f.sk);
    }
  } else if (op == "sign") {
    Bytes signature(signature_bytes(f.set));
    for (int i = 0; i < count; ++i) {
      ok &= sign(f.set, f.sk, f.messages[static_cast<std::size_t>(i)], {}, Randomness::deterministic, signature).ok();
    }
  } else {
    for (int i = 0; i < count; ++i) {
      const auto j = static_cast<std::size_t>(i);
      ok &= verify(f.set, f.pk, f.messages[j], {}, f.signatures[j]).ok();
    }
  }
  return ok;
}

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() < 4 || (args[0] != "keygen" && args[0] != "sign" && args[0] != "verify") ||
      (args[1] != "avx2" && args[1] != "portable") || (args[2] != "44" && args[2] != "65" && args[2] != "87")) {
    std::fprintf(stderr, "usage: mldsa_count keygen|sign|verify avx2|portable 44|65|87 COUNT [time]\n");
    return 2;
  }
  const int count = std::atoi(argv[4]);
  if (count <= 0 || count > 100000) {
    std::fprintf(stderr, "mldsa_count: COUNT must be in [1, 100000]\n");
    return 2;
  }
  const ParameterSet set = args[2] == "44"   ? ParameterSet::ml_dsa_44
                           : args[2] == "65" ? ParameterSet::ml_dsa_65
                                             : ParameterSet::ml_dsa_87;
  ScopedGate gate(Gate::crypto_avx2, args[1] == "avx2");
  Fixture f{set, Bytes(public_key_bytes(set)), Bytes(secret_key_bytes(set)), {}, {}};
  std::array<std::uint8_t, 32> xi{};
  xi.fill(0x42);
  key_gen_internal(set, xi, f.pk, f.sk);
  if (args[0] != "keygen") {
    Prng prng(7);
    for (int i = 0; i < count; ++i) {
      Bytes message(64);
      prng.fill(message);
      Bytes signature(signature_bytes(set));
      if (!sign(set, f.sk, message, {}, Randomness::deterministic, signature).ok()) return 1;
      f.messages.push_back(std::move(message));
      f.signatures.push_back(std::move(signature));
    }
  }
  const double start = cpu_seconds();
  if (!measured(args[0], f, count)) {
    std::fprintf(stderr, "mldsa_count: an operation failed\n");
    return 1;
  }
  if (args.size() > 4 && args[4] == "time") {
    std::printf("%s %.2f us\n", argv[1], (cpu_seconds() - start) * 1e6 / count);
  }
  return 0;
}
