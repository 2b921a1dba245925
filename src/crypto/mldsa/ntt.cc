#include "crypto/mldsa/ntt.h"

#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

using zeta_table_detail::power_mod_q;
constexpr const std::array<std::int32_t, n>& zeta_table = zetas;
// FIPS 204 Appendix B: zetas[1] = zeta^BitRev8(1) = zeta^128 = 4808194 (checked here
// in standard form so a wrong table cannot compile).
static_assert(power_mod_q(zeta, 128) == 4808194);
static_assert(power_mod_q(zeta, 256) == q - 1, "zeta must be a primitive 512th root of unity");
static_assert((8347681LL * 256) % q == 1, "f = 256^-1 mod q (Algorithm 42)");
static_assert(power_mod_q(2, 64) == 2365951);

}  // namespace

bool use_avx2() {
  // The CPU's answer (cpu_features(), itself computed once) copied into a local
  // static; the gate every time (it may be switched while running).
  static const bool cpu_has_avx2 = cpu_features().avx2;
  return cpu_has_avx2 && gate_enabled(Gate::crypto_avx2);
}

// Algorithm 41: Cooley-Tukey butterflies, len = 128 down to 1. Each level adds
// at most q to the magnitude (the Montgomery product is < q), so 8 levels take
// |a| < q to |a| < 9q.
void ntt_portable(Poly& a) {
  int m = 0;
  for (int len = 128; len >= 1; len >>= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const std::int64_t z = zeta_table[++m];
      for (int j = start; j < start + len; ++j) {
        const std::int32_t t = montgomery_reduce(z * a.c[j + len]);
        a.c[j + len] = a.c[j] - t;
        a.c[j] = a.c[j] + t;
      }
    }
  }
}

// Algorithm 42: Gentleman-Sande butterflies, len = 1 up to 128. The sum side
// doubles per level: |a| < q in gives at most 256 q < 2^31 before the final
// Montgomery scaling brings every coefficient back below q.
void inverse_ntt_to_montgomery_portable(Poly& a) {
  int m = n;
  for (int len = 1; len < n / 2; len <<= 1) {
    for (int start = 0; start < n; start += 2 * len) {
      const std::int64_t z = -zeta_table[--m];
      for (int j = start; j < start + len; ++j) {
        const std::int32_t t = a.c[j];
        a.c[j] = t + a.c[j + len];
        a.c[j + len] = montgomery_reduce(z * (t - a.c[j + len]));
      }
    }
  }
  // Last level (len = 128, zeta index 1) fused with the scaling by f: the upper
  // half takes f * (-zetas[1]) in one product instead of two.
  KESTREL_DEBUG_ASSERT(m == 2);
  for (int j = 0; j < n / 2; ++j) {
    const std::int32_t t = a.c[j];
    a.c[j] = montgomery_reduce(static_cast<std::int64_t>(inverse_ntt_factor) * (t + a.c[j + 128]));
    a.c[j + 128] = montgomery_reduce(static_cast<std::int64_t>(inverse_ntt_last_factor) * (t - a.c[j + 128]));
  }
}

void pointwise_montgomery_portable(Poly& c, const Poly& a, const Poly& b) {
  for (int i = 0; i < n; ++i) c.c[i] = montgomery_reduce(static_cast<std::int64_t>(a.c[i]) * b.c[i]);
}

void pointwise_accumulate_montgomery_portable(Poly& c, const Poly& a, const Poly& b) {
  for (int i = 0; i < n; ++i) c.c[i] += montgomery_reduce(static_cast<std::int64_t>(a.c[i]) * b.c[i]);
}

void ntt(Poly& a) {
  if (use_avx2()) return ntt_avx2(a);
  ntt_portable(a);
}

void inverse_ntt_to_montgomery(Poly& a) {
  if (use_avx2()) return inverse_ntt_to_montgomery_avx2(a);
  inverse_ntt_to_montgomery_portable(a);
}

void pointwise_montgomery(Poly& c, const Poly& a, const Poly& b) {
  if (use_avx2()) return pointwise_montgomery_avx2(c, a, b);
  pointwise_montgomery_portable(c, a, b);
}

void pointwise_accumulate_montgomery(Poly& c, const Poly& a, const Poly& b) {
  if (use_avx2()) return pointwise_accumulate_montgomery_avx2(c, a, b);
  pointwise_accumulate_montgomery_portable(c, a, b);
}

}  // namespace kestrel::crypto::mldsa::detail
