#include "crypto/mlkem/ntt.h"

#include "common/assert.h"
#include "crypto/mlkem/reduce.h"

namespace kestrel::crypto::mlkem {

namespace {

constexpr unsigned bit_reverse7(unsigned i) {
  unsigned r = 0;
  for (unsigned b = 0; b < 7; ++b) r |= ((i >> b) & 1u) << (6 - b);
  return r;
}

constexpr std::int64_t pow_mod(std::int64_t base, unsigned exponent) {
  std::int64_t r = 1;
  for (unsigned i = 0; i < exponent; ++i) r = r * base % q;
  return r;
}

constexpr std::int16_t centered(std::int64_t a) {
  a %= q;
  if (a < 0) a += q;
  return static_cast<std::int16_t>(a > q / 2 ? a - q : a);
}

constexpr std::array<std::int16_t, 128> make_zetas() {
  std::array<std::int16_t, 128> t{};
  for (unsigned i = 0; i < 128; ++i) t[i] = centered(pow_mod(zeta, bit_reverse7(i)) * (1 << 16));
  return t;
}

constexpr std::array<std::int16_t, 128> make_gammas() {
  std::array<std::int16_t, 128> t{};
  for (unsigned i = 0; i < 128; ++i) t[i] = centered(pow_mod(zeta, 2 * bit_reverse7(i) + 1) * (1 << 16));
  return t;
}

static_assert(3303 * 128 % q == 1);
static_assert(inverse_ntt_scale == centered(std::int64_t{3303} * mont_r2));

}  // namespace

constinit const std::array<std::int16_t, 128> zetas_montgomery = make_zetas();
constinit const std::array<std::int16_t, 128> gammas_montgomery = make_gammas();
// zeta is a primitive 256-th root of unity: zeta^128 = -1. Appendix A's second
// entry: zeta^BitRev7(1) = zeta^64 = 1729.
static_assert(pow_mod(zeta, 128) == q - 1);
static_assert(make_zetas()[1] == centered(std::int64_t{1729} << 16));
static_assert(make_gammas()[0] == centered(std::int64_t{17} << 16));

namespace {

// One layer of Algorithm 9 with distance len (compile-time, so the inner loop
// has a fixed trip count and, with fqmul_halves, is vectorized by GCC). z_index is Algorithm 9's i.
template <unsigned len>
inline void ntt_layer(std::int16_t f[n], unsigned& z_index) {
  for (unsigned start = 0; start < n; start += 2 * len) {
    const std::int16_t z = zetas_montgomery[z_index++];
    std::int16_t* lo = f + start;
    std::int16_t* hi = f + start + len;
    for (unsigned j = 0; j < len; ++j) {
      const std::int16_t t = fqmul_halves(z, hi[j]);
      hi[j] = static_cast<std::int16_t>(lo[j] - t);
      lo[j] = static_cast<std::int16_t>(lo[j] + t);
    }
  }
}

// One layer of Algorithm 10 with distance len; z_index runs down.
template <unsigned len>
inline void inverse_ntt_layer(std::int16_t f[n], unsigned& z_index) {
  for (unsigned start = 0; start < n; start += 2 * len) {
    const std::int16_t z = zetas_montgomery[z_index--];
    std::int16_t* lo = f + start;
    std::int16_t* hi = f + start + len;
    for (unsigned j = 0; j < len; ++j) {
      const std::int16_t t = lo[j];
      lo[j] = barrett_reduce(static_cast<std::int16_t>(t + hi[j]));
      hi[j] = fqmul_halves(z, static_cast<std::int16_t>(hi[j] - t));
    }
  }
}

}  // namespace

void ntt_portable(std::int16_t f[n]) {
  // Each layer adds at most q to |f| (fqmul output < q): 7 layers from |f| < q
  // stay below 8q < 2^15; the final Barrett pass centers the result.
  unsigned i = 1;
  ntt_layer<128>(f, i);
  ntt_layer<64>(f, i);
  ntt_layer<32>(f, i);
  ntt_layer<16>(f, i);
  ntt_layer<8>(f, i);
  ntt_layer<4>(f, i);
  ntt_layer<2>(f, i);
  KESTREL_DEBUG_ASSERT(i == 128);
  for (unsigned j = 0; j < n; ++j) f[j] = barrett_reduce(f[j]);
}

void inverse_ntt_portable(std::int16_t f[n]) {
  // The sums are Barrett-reduced every layer (|sum| <= q/2 after), differences
  // go through fqmul (|result| < q): nothing grows past 2q between layers.
  unsigned i = 127;
  inverse_ntt_layer<2>(f, i);
  inverse_ntt_layer<4>(f, i);
  inverse_ntt_layer<8>(f, i);
  inverse_ntt_layer<16>(f, i);
  inverse_ntt_layer<32>(f, i);
  inverse_ntt_layer<64>(f, i);
  inverse_ntt_layer<128>(f, i);
  KESTREL_DEBUG_ASSERT(i == 0);
  for (unsigned j = 0; j < n; ++j) f[j] = fqmul_halves(f[j], inverse_ntt_scale);
}

void multiply_ntts_acc_portable(std::int16_t h[n], const std::int16_t* const f[],
                                const std::int16_t* const g[], unsigned count) {
  KESTREL_ASSERT(count >= 1 && count <= k_max);
  // Bound: each term is below 2 * 4095 * 1664 + q * 1664 < 2^24.1; four terms
  // stay below q * 2^15, the input limit of montgomery_reduce.
  for (unsigned i = 0; i < n / 2; ++i) {
    std::int32_t c0 = 0, c1 = 0;
    for (unsigned j = 0; j < count; ++j) {
      const std::int32_t a0 = f[j][2 * i], a1 = f[j][2 * i + 1];
      const std::int32_t b0 = g[j][2 * i], b1 = g[j][2 * i + 1];
      // Algorithm 12: c0 = a0 b0 + a1 b1 gamma, c1 = a0 b1 + a1 b0.
      // montgomery_reduce(a1 b1) = a1 b1 R^-1, times gamma R: a plain product.
      c0 += a0 * b0 + static_cast<std::int32_t>(montgomery_reduce(a1 * b1)) * gammas_montgomery[i];
      c1 += a0 * b1 + a1 * b0;
    }
    h[2 * i] = montgomery_reduce(c0);
    h[2 * i + 1] = montgomery_reduce(c1);
  }
}

}  // namespace kestrel::crypto::mlkem
