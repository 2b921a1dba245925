#include "crypto/mldsa/poly.h"

#include <bit>
#include <cstring>

#include "crypto/ct.h"
#include "crypto/keccak.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

// Decompose (Algorithm 36) for one coefficient a in [0, q), with 2 gamma2 a
// compile-time constant so the division is a multiply-and-shift (constant
// time; a run-time divisor would be a DIV whose latency may depend on data).
// r0 = a mod+- 2 gamma2 in (-gamma2, gamma2] means r1 = floor((a + gamma2 - 1) / (2 gamma2)).
// r1 reaches m = (q - 1) / (2 gamma2) only when a - r0 = q - 1: then r1 = 0 and
// r0 = r0 - 1 (lines 3-5), all through a mask.
template <std::int32_t Gamma2>
inline std::int32_t decompose_one(std::int32_t a, std::int32_t& r0) {
  constexpr std::uint32_t alpha = 2 * static_cast<std::uint32_t>(Gamma2);
  constexpr std::int32_t m = (q - 1) / (2 * Gamma2);
  auto r1 = static_cast<std::int32_t>((static_cast<std::uint32_t>(a) + Gamma2 - 1) / alpha);
  r0 = a - r1 * static_cast<std::int32_t>(alpha);
  const std::int32_t corner = ((r1 ^ m) - 1) >> 31;  // all ones iff r1 == m (r1 in [0, m])
  r1 &= ~corner;
  r0 -= corner & 1;
  return r1;
}

template <std::int32_t Gamma2>
void decompose_all(Poly& a1, Poly& a0, const Poly& a) {
  for (int i = 0; i < n; ++i) a1.c[i] = decompose_one<Gamma2>(a.c[i], a0.c[i]);
}

template <std::int32_t Gamma2>
void high_bits_all(Poly& a1, const Poly& a) {
  std::int32_t unused = 0;
  for (int i = 0; i < n; ++i) a1.c[i] = decompose_one<Gamma2>(a.c[i], unused);
}

template <std::int32_t Gamma2>
unsigned make_hint_all(Poly& h, const Poly& r_plus_z, const Poly& r) {
  std::int32_t unused = 0;
  unsigned ones = 0;
  for (int i = 0; i < n; ++i) {
    const std::int32_t difference =
        decompose_one<Gamma2>(r_plus_z.c[i], unused) ^ decompose_one<Gamma2>(r.c[i], unused);
    // difference is in [0, 64): nonzero exactly when the high bits differ.
    h.c[i] = static_cast<std::int32_t>(static_cast<std::uint32_t>(-difference) >> 31);
    ones += static_cast<unsigned>(h.c[i]);
  }
  return ones;
}

template <std::int32_t Gamma2>
void use_hint_all(Poly& a1, const Poly& a, const Poly& h) {
  constexpr std::int32_t m = (q - 1) / (2 * Gamma2);
  for (int i = 0; i < n; ++i) {
    std::int32_t r0 = 0;
    std::int32_t r1 = decompose_one<Gamma2>(a.c[i], r0);
    if (h.c[i] != 0) r1 = r0 > 0 ? (r1 + 1) % m : (r1 - 1 + m) % m;  // public data (Algorithm 40)
    a1.c[i] = r1;
  }
}

// Algorithm 14 CoeffFromThreeBytes on 3 bytes at p: the low 23 bits, accepted
// when < q. Returns the value or -1 (public data).
inline std::int32_t coefficient_from_three_bytes(const std::uint8_t* p) {
  const std::uint32_t z = static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
                          (static_cast<std::uint32_t>(p[2] & 0x7f) << 16);
  return z < static_cast<std::uint32_t>(q) ? static_cast<std::int32_t>(z) : -1;
}

}  // namespace

// Parses buf[0, bytes) as RejNTTPoly candidates into a from position count.
int rej_ntt_fill_portable(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes) {
  for (std::size_t pos = 0; pos + 3 <= bytes && count < n; pos += 3) {
    const std::int32_t value = coefficient_from_three_bytes(buf + pos);
    if (value >= 0) a.c[count++] = value;
  }
  return count;
}

namespace {

int rej_ntt_fill(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes) {
  if (use_avx2()) return rej_ntt_fill_avx2(a, count, buf, bytes);
  return rej_ntt_fill_portable(a, count, buf, bytes);
}

// Five SHAKE128 blocks (840 bytes, 280 candidates) give 256 accepted
// coefficients with probability ~1 - 2^-75; more blocks follow when needed.
constexpr std::size_t rej_ntt_first_blocks = 5;
static_assert(keccak::shake128_rate % 3 == 0, "candidates never straddle a block");

// Algorithm 15 CoeffFromHalfByte for eta = 2 or 4, branch-free: returns the
// coefficient (meaningless when rejected) and sets accept to 1 or 0.
inline std::int32_t coefficient_from_half_byte(std::uint32_t b, int eta, std::uint32_t& accept) {
  if (eta == 2) {  // eta is public
    accept = (b - 15) >> 31;                // b < 15
    const std::uint32_t mod5 = b - 5 * ((b * 205) >> 10);  // b mod 5 for b < 16
    return 2 - static_cast<std::int32_t>(mod5);
  }
  accept = (b - 9) >> 31;  // b < 9
  return 4 - static_cast<std::int32_t>(b);
}

// Parses buf as RejBoundedPoly nibbles (low nibble first, Algorithm 31 lines 5-12).
// First every candidate's coefficient and accept bit are computed branch-free;
// then the accept bits, and only they, are declassified (FIPS 204 lets the
// accept/reject decision of a candidate leak: rejected nibbles are independent
// of the accepted coefficients) in one step, and the public bits drive the copy.
}  // namespace

int rej_bounded_fill_portable(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes, int eta) {
  constexpr std::size_t candidates_max = 2 * 2 * keccak::shake256_rate;
  KESTREL_ASSERT(2 * bytes <= candidates_max);
  std::array<std::int32_t, candidates_max> values;
  std::array<std::uint8_t, candidates_max> accepted;
  const std::size_t candidates = 2 * bytes;
  for (std::size_t i = 0; i < candidates; ++i) {
    std::uint32_t accept = 0;
    values[i] = coefficient_from_half_byte((static_cast<std::uint32_t>(buf[i / 2]) >> (4 * (i % 2))) & 15, eta,
                                           accept);
    accepted[i] = static_cast<std::uint8_t>(accept);
  }
  ct_declassify(accepted.data(), candidates);
  // Branch-free compaction (the accept pattern is random, so a branch would
  // mispredict often): every candidate is written at count, and count only
  // advances past accepted ones; a rejected value is overwritten later.
  for (std::size_t i = 0; i < candidates && count < n; ++i) {
    a.c[count] = values[i];
    count += accepted[i];
  }
  secure_zero(values.data(), sizeof values);
  return count;
}

namespace {

int rej_bounded_fill(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes, int eta) {
  if (use_avx2()) return rej_bounded_fill_avx2(a, count, buf, bytes, eta);
  return rej_bounded_fill_portable(a, count, buf, bytes, eta);
}

}  // namespace

// --- Arithmetic -------------------------------------------------------------------

void poly_add(Poly& c, const Poly& a, const Poly& b) {
  if (use_avx2()) return poly_add_avx2(c, a, b);
  for (int i = 0; i < n; ++i) c.c[i] = a.c[i] + b.c[i];
}

void poly_subtract(Poly& c, const Poly& a, const Poly& b) {
  if (use_avx2()) return poly_subtract_avx2(c, a, b);
  for (int i = 0; i < n; ++i) c.c[i] = a.c[i] - b.c[i];
}

void poly_reduce32(Poly& a) {
  if (use_avx2()) return poly_reduce32_avx2(a);
  for (auto& x : a.c) x = reduce32(x);
}

void poly_caddq(Poly& a) {
  if (use_avx2()) return poly_caddq_avx2(a);
  for (auto& x : a.c) x = caddq(x);
}

void poly_shift_left_d(Poly& a) {
  for (auto& x : a.c) x <<= d;
}

std::uint32_t poly_norm_exceeds(const Poly& a, std::int32_t bound) {
  KESTREL_ASSERT(bound <= (q - 1) / 8);
  if (use_avx2()) return poly_norm_exceeds_avx2(a, bound);
  // With |a_i| < q - (q - 1) / 8 after reduce32, a representative whose
  // magnitude is >= bound has a centred value of magnitude >= bound too.
  std::uint32_t exceeds = 0;
  for (int i = 0; i < n; ++i) {
    const std::int32_t sign = a.c[i] >> 31;
    const std::int32_t magnitude = a.c[i] - (sign & (2 * a.c[i]));
    exceeds |= static_cast<std::uint32_t>((bound - 1 - magnitude) >> 31);
  }
  return exceeds & 1;
}

// --- Rounding ---------------------------------------------------------------------

void poly_power2round(Poly& a1, Poly& a0, const Poly& a) {
  if (use_avx2()) return poly_power2round_avx2(a1, a0, a);
  for (int i = 0; i < n; ++i) {
    KESTREL_DEBUG_ASSERT(a.c[i] >= 0 && a.c[i] < q);
    a1.c[i] = (a.c[i] + (1 << (d - 1)) - 1) >> d;
    a0.c[i] = a.c[i] - (a1.c[i] << d);
  }
}

void poly_power2round_sum(Poly& a1, Poly& a0, const Poly& x, const Poly& y) {
  if (use_avx2()) return poly_power2round_sum_avx2(a1, a0, x, y);
  for (int i = 0; i < n; ++i) {
    const std::int32_t a = freeze(x.c[i] + y.c[i]);
    a1.c[i] = (a + (1 << (d - 1)) - 1) >> d;
    a0.c[i] = a - (a1.c[i] << d);
  }
}

void poly_decompose_portable(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return decompose_all<gamma2_88>(a1, a0, a);
  KESTREL_ASSERT(gamma2 == gamma2_32);
  decompose_all<gamma2_32>(a1, a0, a);
}

void poly_high_bits_portable(Poly& a1, const Poly& a, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return high_bits_all<gamma2_88>(a1, a);
  KESTREL_ASSERT(gamma2 == gamma2_32);
  high_bits_all<gamma2_32>(a1, a);
}

unsigned poly_make_hint_portable(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return make_hint_all<gamma2_88>(h, r_plus_z, r);
  KESTREL_ASSERT(gamma2 == gamma2_32);
  return make_hint_all<gamma2_32>(h, r_plus_z, r);
}

void poly_decompose(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2) {
  if (use_avx2()) return poly_decompose_avx2(a1, a0, a, gamma2);
  poly_decompose_portable(a1, a0, a, gamma2);
}

void poly_high_bits(Poly& a1, const Poly& a, std::int32_t gamma2) {
  if (use_avx2()) return poly_high_bits_avx2(a1, a, gamma2);
  poly_high_bits_portable(a1, a, gamma2);
}

unsigned poly_make_hint(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2) {
  if (use_avx2()) return poly_make_hint_avx2(h, r_plus_z, r, gamma2);
  return poly_make_hint_portable(h, r_plus_z, r, gamma2);
}

void poly_use_hint(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2) {
  if (use_avx2()) return poly_use_hint_avx2(a1, a, h, gamma2);
  poly_use_hint_portable(a1, a, h, gamma2);
}

void poly_use_hint_portable(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2) {
  if (gamma2 == gamma2_88) return use_hint_all<gamma2_88>(a1, a, h);
  KESTREL_ASSERT(gamma2 == gamma2_32);
  use_hint_all<gamma2_32>(a1, a, h);
}

// --- Sampling ---------------------------------------------------------------------

void poly_rej_ntt(Poly& a, std::span<const std::uint8_t, 34> seed) {
  keccak::Shake128 xof;
  xof.absorb(seed);
  std::array<std::uint8_t, rej_ntt_first_blocks * keccak::shake128_rate> buf;
  xof.squeeze_blocks(buf.data(), rej_ntt_first_blocks);
  int count = rej_ntt_fill(a, 0, buf.data(), buf.size());
  while (count < n) {  // probability ~2^-75 per polynomial; terminates with probability 1
    xof.squeeze_blocks(buf.data(), 1);
    count = rej_ntt_fill(a, count, buf.data(), keccak::shake128_rate);
  }
}

void poly_rej_ntt_x4(Poly& a0, Poly& a1, Poly& a2, Poly& a3,
                     const std::array<std::array<std::uint8_t, 34>, 4>& seeds) {
  keccak::ShakeX4 xof(keccak::shake128_rate);
  xof.absorb_once({seeds[0], seeds[1], seeds[2], seeds[3]});
  constexpr std::size_t bytes = rej_ntt_first_blocks * keccak::shake128_rate;
  alignas(32) std::array<std::array<std::uint8_t, bytes>, 4> buf;
  xof.squeeze_blocks({buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data()}, rej_ntt_first_blocks);
  std::array<Poly*, 4> out{&a0, &a1, &a2, &a3};
  std::array<int, 4> count{};
  for (int i = 0; i < 4; ++i) count[i] = rej_ntt_fill(*out[i], 0, buf[i].data(), bytes);
  while (count[0] < n || count[1] < n || count[2] < n || count[3] < n) {
    xof.squeeze_blocks({buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data()}, 1);
    for (int i = 0; i < 4; ++i) count[i] = rej_ntt_fill(*out[i], count[i], buf[i].data(), keccak::shake128_rate);
  }
}

void poly_rej_bounded(Poly& a, std::span<const std::uint8_t, 66> seed, int eta) {
  KESTREL_ASSERT(eta == 2 || eta == 4);
  keccak::Shake256 xof;
  xof.absorb(seed);
  // Two blocks (544 nibbles) hold 256 accepted ones except with tiny probability
  // for eta = 2 (15/16 accepted) and ~2^-40 for eta = 4 (9/16 accepted).
  std::array<std::uint8_t, 2 * keccak::shake256_rate> buf;
  xof.squeeze_blocks(buf.data(), 2);
  int count = rej_bounded_fill(a, 0, buf.data(), buf.size(), eta);
  while (count < n) {
    xof.squeeze_blocks(buf.data(), 1);
    count = rej_bounded_fill(a, count, buf.data(), keccak::shake256_rate, eta);
  }
  secure_zero(buf.data(), buf.size());
  secure_zero(&xof, sizeof xof);  // the sponge state derives from rho' (secret)
}

void poly_rej_bounded_x4(std::array<Poly*, 4> a, const std::array<std::array<std::uint8_t, 66>, 4>& seeds,
                         int eta) {
  KESTREL_ASSERT(eta == 2 || eta == 4);
  keccak::ShakeX4 xof(keccak::shake256_rate);
  xof.absorb_once({seeds[0], seeds[1], seeds[2], seeds[3]});
  constexpr std::size_t bytes = 2 * keccak::shake256_rate;
  alignas(32) std::array<std::array<std::uint8_t, bytes>, 4> buf;
  xof.squeeze_blocks({buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data()}, 2);
  std::array<int, 4> count{};
  for (int i = 0; i < 4; ++i) count[i] = rej_bounded_fill(*a[i], 0, buf[i].data(), bytes, eta);
  while (count[0] < n || count[1] < n || count[2] < n || count[3] < n) {
    xof.squeeze_blocks({buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data()}, 1);
    for (int i = 0; i < 4; ++i) {
      count[i] = rej_bounded_fill(*a[i], count[i], buf[i].data(), keccak::shake256_rate, eta);
    }
  }
  secure_zero(buf.data(), sizeof buf);
  secure_zero(&xof, sizeof xof);
}

namespace {
// ExpandMask output: 32 * gamma1_bits bytes (576 or 640) fit in 5 SHAKE256 blocks.
constexpr std::size_t mask_blocks = 5;
static_assert(mask_blocks * keccak::shake256_rate >= 32 * 20);
}  // namespace

void poly_expand_mask(Poly& y, std::span<const std::uint8_t, 66> seed, int gamma1_bits) {
  keccak::Shake256 xof;
  xof.absorb(seed);
  std::array<std::uint8_t, mask_blocks * keccak::shake256_rate> buf;
  xof.squeeze_blocks(buf.data(), mask_blocks);
  unpack_offset(y, buf.data(), gamma1_bits, std::int32_t{1} << (gamma1_bits - 1));
  secure_zero(buf.data(), buf.size());
  secure_zero(&xof, sizeof xof);  // derived from rho'' (secret)
}

void poly_expand_mask_x4(std::array<Poly*, 4> y, const std::array<std::array<std::uint8_t, 66>, 4>& seeds,
                         int gamma1_bits) {
  keccak::ShakeX4 xof(keccak::shake256_rate);
  xof.absorb_once({seeds[0], seeds[1], seeds[2], seeds[3]});
  alignas(32) std::array<std::array<std::uint8_t, mask_blocks * keccak::shake256_rate>, 4> buf;
  xof.squeeze_blocks({buf[0].data(), buf[1].data(), buf[2].data(), buf[3].data()}, mask_blocks);
  for (int i = 0; i < 4; ++i) {
    if (y[i] != nullptr) unpack_offset(*y[i], buf[i].data(), gamma1_bits, std::int32_t{1} << (gamma1_bits - 1));
  }
  secure_zero(buf.data(), sizeof buf);
  secure_zero(&xof, sizeof xof);
}

void poly_sample_in_ball(Poly& c, std::span<const std::uint8_t> c_tilde, int tau, const std::uint8_t* first_block) {
  keccak::Shake256 xof;
  xof.absorb(c_tilde);
  std::array<std::uint8_t, keccak::shake256_rate> buf;
  if (first_block != nullptr) {
    std::memcpy(buf.data(), first_block, buf.size());
  } else {
    xof.squeeze_blocks(buf.data(), 1);
  }
  bool first_block_squeezed = first_block == nullptr;  // by xof itself
  std::uint64_t signs = 0;  // Algorithm 29 lines 3-4: the first 8 bytes give the signs
  for (int i = 0; i < 8; ++i) signs |= static_cast<std::uint64_t>(buf[i]) << (8 * i);
  std::size_t pos = 8;
  c.c.fill(0);
  for (int i = n - tau; i < n; ++i) {
    int j = 0;
    do {  // lines 7-10: rejection on public bytes (c~ is public)
      if (pos == buf.size()) {
        if (!first_block_squeezed) {  // skip the block the caller gave
          xof.squeeze_blocks(buf.data(), 1);
          first_block_squeezed = true;
        }
        xof.squeeze_blocks(buf.data(), 1);
        pos = 0;
      }
      j = buf[pos++];
    } while (j > i);
    c.c[i] = c.c[j];
    c.c[j] = 1 - 2 * static_cast<std::int32_t>(signs & 1);
    signs >>= 1;
  }
}

// --- Sparse challenge products ----------------------------------------------------

void sparse_challenge_from(SparseChallenge& out, const Poly& c) {
  out.plus_count = 0;
  out.minus_count = 0;
  for (int i = 0; i < n; ++i) {  // c is public
    if (c.c[i] == 1) out.plus[out.plus_count++] = static_cast<std::uint8_t>(i);
    if (c.c[i] == -1) out.minus[out.minus_count++] = static_cast<std::uint8_t>(i);
  }
}

void small_poly_extend(SmallPolyExtension& ext, const Poly& s) {
  for (int i = 0; i < n; ++i) {
    ext.v[i] = static_cast<std::int16_t>(-s.c[i]);
    ext.v[n + i] = static_cast<std::int16_t>(s.c[i]);
  }
}

void tiny_poly_extend(TinyPolyExtension& ext, const Poly& s) {
  for (int i = 0; i < n; ++i) {
    ext.v[i] = static_cast<std::int8_t>(-s.c[i]);
    ext.v[n + i] = static_cast<std::int8_t>(s.c[i]);
  }
}

// Portable forms: plain loops over whole polynomials, which the compiler turns
// into SIMD adds on the baseline instruction set (constant trip count, a local
// accumulator nothing else can alias).
void poly_sparse_multiply_portable(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext) {
  std::array<std::int16_t, n> acc{};
  for (int t = 0; t < c.plus_count; ++t) {
    const std::int16_t* p = ext.v.data() + n - c.plus[t];  // public offset
    for (int i = 0; i < n; ++i) acc[i] = static_cast<std::int16_t>(acc[i] + p[i]);
  }
  for (int t = 0; t < c.minus_count; ++t) {
    const std::int16_t* p = ext.v.data() + n - c.minus[t];
    for (int i = 0; i < n; ++i) acc[i] = static_cast<std::int16_t>(acc[i] - p[i]);
  }
  for (int i = 0; i < n; ++i) out.c[i] = acc[i];
  secure_zero(acc.data(), sizeof acc);
}

void poly_sparse_multiply32_portable(Poly& out, const SparseChallenge& c, const PolyExtension& ext) {
  std::array<std::int32_t, n> acc{};
  for (int t = 0; t < c.plus_count; ++t) {
    const std::int32_t* p = ext.v.data() + n - c.plus[t];
    for (int i = 0; i < n; ++i) acc[i] += p[i];
  }
  for (int t = 0; t < c.minus_count; ++t) {
    const std::int32_t* p = ext.v.data() + n - c.minus[t];
    for (int i = 0; i < n; ++i) acc[i] -= p[i];
  }
  out.c = acc;
  secure_zero(acc.data(), sizeof acc);
}

void poly_sparse_multiply(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext) {
  if (use_avx2()) return poly_sparse_multiply_avx2(out, c, ext);
  poly_sparse_multiply_portable(out, c, ext);
}

void poly_sparse_multiply32(Poly& out, const SparseChallenge& c, const PolyExtension& ext) {
  if (use_avx2()) return poly_sparse_multiply32_avx2(out, c, ext);
  poly_sparse_multiply32_portable(out, c, ext);
}

void poly_extend(PolyExtension& ext, const Poly& s) {
  for (int i = 0; i < n; ++i) {
    ext.v[i] = -s.c[i];
    ext.v[n + i] = s.c[i];
  }
}

// --- Bit packing ------------------------------------------------------------------

// The coefficients form one little-endian bit stream, bits each; a 64-bit
// accumulator moves it in 32-bit words. 256 * bits is a multiple of 32, so the
// stream is exactly 8 * bits words.
static_assert(std::endian::native == std::endian::little, "bit packing moves little-endian words");

namespace {

// Fixed-width forms for the widths FIPS 204 uses (t1 10, t0 13, eta 3/4, z 18/20,
// w1 4/6): each group of 8 coefficients is exactly Bits bytes, and with Bits a
// compile-time constant every shift, mask and byte index below is a constant,
// so the loops over j and b unroll into straight-line code.
// Packs a (Offset false) or b - a (Offset true: BitPack's b - w_i, computed
// on the fly so no shifted copy of a secret polynomial is made and wiped).
template <int Bits, bool Offset = false>
void pack_fixed(std::uint8_t* out, const Poly& a, std::int32_t b = 0) {
  // 32 coefficients are 4 * Bits bytes, a whole number of 32-bit words: with
  // the loop unrolled, when a word is full is known at compile time.
  for (int g = 0; g < n / 32; ++g) {
    std::uint64_t accumulator = 0;
    int held = 0;  // < 32 between coefficients
#pragma GCC unroll 32
    for (int j = 0; j < 32; ++j) {
      const std::int32_t value = Offset ? b - a.c[32 * g + j] : a.c[32 * g + j];
      accumulator |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(value)) << held;
      held += Bits;
      if (held >= 32) {
        const auto word = static_cast<std::uint32_t>(accumulator);
        std::memcpy(out, &word, 4);
        out += 4;
        accumulator >>= 32;
        held -= 32;
      }
    }
  }
}

template <int Bits>
void unpack_fixed(Poly& a, const std::uint8_t* in) {
  constexpr std::uint32_t mask = (std::uint32_t{1} << Bits) - 1;
  // Every coefficient but the last group's is read with one 4-byte load (the
  // bytes after it belong to the next group); the last group goes through a
  // padded copy so nothing past the input is read.
  auto group = [&](int g, const std::uint8_t* p) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      std::uint32_t v;
      std::memcpy(&v, p + j * Bits / 8, 4);
      a.c[8 * g + j] = static_cast<std::int32_t>((v >> (j * Bits % 8)) & mask);
    }
  };
  for (int g = 0; g < n / 8 - 1; ++g, in += Bits) group(g, in);
  std::uint8_t last[Bits + 4] = {};
  std::memcpy(last, in, Bits);
  group(n / 8 - 1, last);
}

}  // namespace

void pack_simple(std::uint8_t* out, const Poly& a, int bits) {
  KESTREL_DEBUG_ASSERT(bits >= 1 && bits <= 24);
  if (use_avx2() && pack_avx2(out, a, bits, 0, false)) return;
  switch (bits) {
    case 3: return pack_fixed<3>(out, a);
    case 4: return pack_fixed<4>(out, a);
    case 6: return pack_fixed<6>(out, a);
    case 10: return pack_fixed<10>(out, a);
    case 13: return pack_fixed<13>(out, a);
    case 18: return pack_fixed<18>(out, a);
    case 20: return pack_fixed<20>(out, a);
    default: break;
  }
  std::uint64_t accumulator = 0;
  int held = 0;  // < 32 between coefficients, so held + bits < 64
  for (int i = 0; i < n; ++i) {
    accumulator |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(a.c[i])) << held;
    held += bits;
    if (held >= 32) {
      const auto word = static_cast<std::uint32_t>(accumulator);
      std::memcpy(out, &word, 4);
      out += 4;
      accumulator >>= 32;
      held -= 32;
    }
  }
  KESTREL_DEBUG_ASSERT(held == 0);
}

void unpack_simple(Poly& a, const std::uint8_t* in, int bits) {
  KESTREL_DEBUG_ASSERT(bits >= 1 && bits <= 24);
  if (use_avx2() && unpack_avx2(a, in, bits, 0, false)) return;
  switch (bits) {
    case 3: return unpack_fixed<3>(a, in);
    case 4: return unpack_fixed<4>(a, in);
    case 6: return unpack_fixed<6>(a, in);
    case 10: return unpack_fixed<10>(a, in);
    case 13: return unpack_fixed<13>(a, in);
    case 18: return unpack_fixed<18>(a, in);
    case 20: return unpack_fixed<20>(a, in);
    default: break;
  }
  const std::uint64_t mask = (std::uint64_t{1} << bits) - 1;
  std::uint64_t accumulator = 0;
  int held = 0;
  for (int i = 0; i < n; ++i) {
    if (held < bits) {
      std::uint32_t word;
      std::memcpy(&word, in, 4);
      in += 4;
      accumulator |= static_cast<std::uint64_t>(word) << held;
      held += 32;
    }
    a.c[i] = static_cast<std::int32_t>(accumulator & mask);
    accumulator >>= bits;
    held -= bits;
  }
}

void pack_offset(std::uint8_t* out, const Poly& a, int bits, std::int32_t b) {
  if (use_avx2() && pack_avx2(out, a, bits, b, true)) return;
  switch (bits) {
    case 3: return pack_fixed<3, true>(out, a, b);
    case 4: return pack_fixed<4, true>(out, a, b);
    case 13: return pack_fixed<13, true>(out, a, b);
    case 18: return pack_fixed<18, true>(out, a, b);
    case 20: return pack_fixed<20, true>(out, a, b);
    default: break;
  }
  Poly shifted;
  for (int i = 0; i < n; ++i) shifted.c[i] = b - a.c[i];
  pack_simple(out, shifted, bits);
  secure_zero(&shifted, sizeof shifted);
}

void unpack_offset(Poly& a, const std::uint8_t* in, int bits, std::int32_t b) {
  if (use_avx2() && unpack_avx2(a, in, bits, b, true)) return;
  unpack_simple(a, in, bits);
  for (auto& x : a.c) x = b - x;
}

}  // namespace kestrel::crypto::mldsa::detail
