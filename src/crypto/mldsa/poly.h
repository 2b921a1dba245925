// Polynomial layer of ML-DSA: rounding (FIPS 204 section 7.4), sampling
// (section 7.3), bit packing (section 7.1), and the infinity-norm test, on one
// polynomial of R_q = Z_q[X]/(X^256 + 1).
//
// Constant time: everything here that takes secret input is branch-free and
// indexes memory only by public counters, except where FIPS 204 lets a
// rejection decision leak (RejBoundedPoly's per-nibble accept, declassified with
// ct_declassify). SampleInBall, RejNTTPoly and UseHint run on public data.
//
// Thread-safe: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "crypto/mldsa/ntt.h"

namespace kestrel::crypto::mldsa::detail {

// --- Arithmetic ---------------------------------------------------------------

void poly_add(Poly& c, const Poly& a, const Poly& b);        // c = a + b, no reduction
void poly_subtract(Poly& c, const Poly& a, const Poly& b);   // c = a - b, no reduction
void poly_reduce32(Poly& a);    // REQUIRES a_i <= 2^31 - 2^22 - 1; ENSURES |a_i| <= 6283008
void poly_caddq(Poly& a);       // (-q, q) -> [0, q)
void poly_shift_left_d(Poly& a);  // a * 2^d; REQUIRES a_i < 2^10 (t1), ENSURES < q
// AVX2 forms of the above (poly_avx2.cc); the unsuffixed functions dispatch.
void poly_add_avx2(Poly& c, const Poly& a, const Poly& b);
void poly_subtract_avx2(Poly& c, const Poly& a, const Poly& b);
void poly_reduce32_avx2(Poly& a);
void poly_caddq_avx2(Poly& a);

// True (1) when ||a||inf >= bound, for a with |a_i| < q/2 ... or a in (-q, q)
// centred by the caller. Branch-free over all coefficients: the single result is
// the rejection decision (FIPS 204 Algorithm 7, lines 23 and 28).
// REQUIRES: bound <= (q - 1) / 8; a_i in (-q, q) after reduce32 (any sign).
std::uint32_t poly_norm_exceeds(const Poly& a, std::int32_t bound);
std::uint32_t poly_norm_exceeds_avx2(const Poly& a, std::int32_t bound);

// --- Rounding (section 7.4) -------------------------------------------------------

// Algorithm 35 Power2Round: for a_i in [0, q), a1_i = (a_i - a0_i) / 2^d with
// a0_i = a_i mod+- 2^d in (-2^12, 2^12]; a1_i in [0, 2^10).
void poly_power2round(Poly& a1, Poly& a0, const Poly& a);
void poly_power2round_avx2(Poly& a1, Poly& a0, const Poly& a);  // poly_avx2.cc; the above dispatches
// Power2Round of freeze(x + y) (reduce32, caddq, then Algorithm 35) in one pass:
// key generation's t = NTT^-1(A-hat o NTT(s1)) + s2 (Algorithm 6 lines 5-6)
// without storing t. REQUIRES x_i + y_i within reduce32's range.
void poly_power2round_sum(Poly& a1, Poly& a0, const Poly& x, const Poly& y);
void poly_power2round_sum_avx2(Poly& a1, Poly& a0, const Poly& x, const Poly& y);
// Algorithm 36 Decompose for a_i in [0, q): a1_i in [0, (q-1)/(2 gamma2)),
// a0_i in [-gamma2, gamma2] with the q-1 corner case of the standard.
void poly_decompose(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2);
// Algorithm 37 HighBits only (the a1 output of Decompose).
void poly_high_bits(Poly& a1, const Poly& a, std::int32_t gamma2);
// Algorithm 39 MakeHint(z, r) = [HighBits(r) != HighBits(r + z)], given here as
// h_i = [HighBits(r_plus_z_i) != HighBits(r_i)] with both in [0, q). Returns the
// number of 1s. Branch-free.
unsigned poly_make_hint(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2);
// The portable and AVX2 (poly_avx2.cc) forms of the three above; the unsuffixed
// functions dispatch on use_avx2().
void poly_decompose_portable(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2);
void poly_high_bits_portable(Poly& a1, const Poly& a, std::int32_t gamma2);
unsigned poly_make_hint_portable(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2);
void poly_decompose_avx2(Poly& a1, Poly& a0, const Poly& a, std::int32_t gamma2);
void poly_high_bits_avx2(Poly& a1, const Poly& a, std::int32_t gamma2);
unsigned poly_make_hint_avx2(Poly& h, const Poly& r_plus_z, const Poly& r, std::int32_t gamma2);
// Algorithm 40 UseHint on public data: a_i in [0, q), h_i in {0, 1}; the
// unsuffixed function dispatches to the portable or AVX2 (poly_avx2.cc) form.
void poly_use_hint(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2);
void poly_use_hint_portable(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2);
void poly_use_hint_avx2(Poly& a1, const Poly& a, const Poly& h, std::int32_t gamma2);

// --- Sampling (section 7.3) -------------------------------------------------------

// Algorithm 30 RejNTTPoly(rho || s || r): uniform coefficients in [0, q) from
// SHAKE128 by rejection (public seed).
void poly_rej_ntt(Poly& a, std::span<const std::uint8_t, 34> seed);
// The same for four seeds at once with the 4-way Keccak (AVX2 path of ExpandA).
void poly_rej_ntt_x4(Poly& a0, Poly& a1, Poly& a2, Poly& a3,
                     const std::array<std::array<std::uint8_t, 34>, 4>& seeds);
// Algorithm 31 RejBoundedPoly(rho' || r): coefficients in [-eta, eta] from SHAKE256
// nibbles by rejection (secret seed; only accept decisions leak).
void poly_rej_bounded(Poly& a, std::span<const std::uint8_t, 66> seed, int eta);
void poly_rej_bounded_x4(std::array<Poly*, 4> a, const std::array<std::array<std::uint8_t, 66>, 4>& seeds,
                         int eta);
// The candidate parsers of the two samplers on eight candidates per step
// (sample_avx2.cc): append the accepted coefficients parsed from buf[0, bytes) to
// a from position count, stop at n, return the new count. Identical results to
// the portable parsers. rej_bounded_fill_avx2: bytes a multiple of 4, at most
// two SHAKE256 blocks; it declassifies only the accept bits, like the portable one.
int rej_ntt_fill_avx2(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes);
int rej_bounded_fill_avx2(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes, int eta);
// The portable parsers (poly.cc), exposed for the tests.
int rej_ntt_fill_portable(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes);
int rej_bounded_fill_portable(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes, int eta);
// Algorithm 34, one polynomial of ExpandMask: BitUnpack(H(rho'' || kappa + r), gamma1 - 1,
// gamma1), coefficients in [-gamma1 + 1, gamma1].
void poly_expand_mask(Poly& y, std::span<const std::uint8_t, 66> seed, int gamma1_bits);
void poly_expand_mask_x4(std::array<Poly*, 4> y, const std::array<std::array<std::uint8_t, 66>, 4>& seeds,
                         int gamma1_bits);
// Algorithm 29 SampleInBall(c~): tau coefficients in {-1, 1}, the rest 0.
// first_block, when given, is the first SHAKE256 block of H(c~) computed by the
// caller (136 bytes); further blocks, rarely needed, come from a fresh sponge.
void poly_sample_in_ball(Poly& c, std::span<const std::uint8_t> c_tilde, int tau,
                         const std::uint8_t* first_block = nullptr);

// --- Sparse challenge products (AVX2 path of Algorithm 7 lines 18-20) ----------------

// The challenge c = SampleInBall(c~) as the lists of its +1 and -1 positions
// (public: c~ is declassified per attempt).
struct SparseChallenge {
  std::array<std::uint8_t, n> plus, minus;
  int plus_count = 0;
  int minus_count = 0;
};
void sparse_challenge_from(SparseChallenge& out, const Poly& c);  // REQUIRES c_i in {-1, 0, 1}
// A small polynomial s (|s_i| <= 2^15 / tau, e.g. s1, s2 with |s_i| <= 11 after
// skDecode) as int16 in negacyclic extended form: ext[i] = -s_i, ext[n + i] = s_i,
// so X^j * s is the n values starting at ext[n - j].
struct alignas(32) SmallPolyExtension {
  std::array<std::int16_t, 2 * n> v;
};
void small_poly_extend(SmallPolyExtension& ext, const Poly& s);
// out = c * s in Z[X]/(X^n + 1), exact (|out_i| <= tau * max |s_i| < 2^15): a sum
// of tau rotations of s read at public offsets, 16 coefficients per register.
// Replaces NTT^-1(c-hat o s-hat) (one inverse NTT per polynomial) where the
// exact product is wanted anyway. poly_avx2.cc; REQUIRES cpu_features().avx2.
void poly_sparse_multiply_avx2(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext);
// The same product from an int8 extension, 32 coefficients per register:
// partial sums over at most taps_per_flush taps stay exact in int8
// (REQUIRES taps_per_flush * max |s_i| <= 127) and are then added into int16
// accumulators. Half the loads of the int16 form (the product is load-bound:
// every other unaligned load crosses a cache line). AVX2 only (poly_avx2.cc).
struct alignas(32) TinyPolyExtension {
  std::array<std::int8_t, 2 * n> v;
};
// REQUIRES |s_i| <= 127. The AVX2 form gives the same bytes.
void tiny_poly_extend(TinyPolyExtension& ext, const Poly& s);
void tiny_poly_extend_avx2(TinyPolyExtension& ext, const Poly& s);
void poly_sparse_multiply8_avx2(Poly& out, const SparseChallenge& c, const TinyPolyExtension& ext,
                                int taps_per_flush);
// The same for t0 (|t0_i| <= 2^12, |c t0|_i <= tau 2^12 needs 32 bits): int32
// extension, eight coefficients per register.
struct alignas(32) PolyExtension {
  std::array<std::int32_t, 2 * n> v;
};
void poly_extend(PolyExtension& ext, const Poly& s);
void poly_sparse_multiply32_avx2(Poly& out, const SparseChallenge& c, const PolyExtension& ext);
// c * t0 from an int16 extension of t0 (|t0_i| <= 2^12): int16 partial sums over
// at most taps_per_flush taps (REQUIRES taps_per_flush * max |t0_i| <= 32767),
// added into int32; half the loads of the int32 form. AVX2 only.
void poly_sparse_multiply16to32_avx2(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext,
                                     int taps_per_flush);
// Portable forms (poly.cc) and the dispatching functions.
void poly_sparse_multiply_portable(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext);
void poly_sparse_multiply32_portable(Poly& out, const SparseChallenge& c, const PolyExtension& ext);
void poly_sparse_multiply(Poly& out, const SparseChallenge& c, const SmallPolyExtension& ext);
void poly_sparse_multiply32(Poly& out, const SparseChallenge& c, const PolyExtension& ext);

// --- Bit packing (section 7.1) -----------------------------------------------------

// Algorithm 16 SimpleBitPack: coefficients in [0, 2^bits) -> 32 * bits bytes.
void pack_simple(std::uint8_t* out, const Poly& a, int bits);
// Algorithm 18 SimpleBitUnpack: every bit pattern is valid.
void unpack_simple(Poly& a, const std::uint8_t* in, int bits);
// AVX2 forms of SimpleBitUnpack (offset false) and BitUnpack (offset true: b - x)
// for the widths FIPS 204 uses (3, 4, 10, 13, 18, 20 bits); false for any other
// width (nothing written). Reads only the 32 * bits input bytes. poly_avx2.cc.
bool unpack_avx2(Poly& a, const std::uint8_t* in, int bits, std::int32_t b, bool offset);
// AVX2 SimpleBitPack (offset false) and BitPack (offset true: b - a_i) at 4
// bits (w1 for gamma2 = (q-1)/32, s1 and s2 for eta = 4). REQUIRES the packed
// values in [0, 16). poly_avx2.cc; pack_simple and pack_offset dispatch.
void pack4_avx2(std::uint8_t* out, const Poly& a, std::int32_t b, bool offset);
// AVX2 SimpleBitPack / BitPack at 4, 10 (t1) and 13 (t0) bits; false for any
// other width (nothing written). Writes exactly 32 * bits bytes. poly_avx2.cc.
bool pack_avx2(std::uint8_t* out, const Poly& a, int bits, std::int32_t b, bool offset);
// Algorithm 17 BitPack(w, a, b) with a = b - 2^bits + 1 (all uses in FIPS 204):
// stores b - w_i in [0, 2^bits).
void pack_offset(std::uint8_t* out, const Poly& a, int bits, std::int32_t b);
// Algorithm 19 BitUnpack: w_i = b - x_i for each bits-wide x_i, in [b - 2^bits + 1, b].
void unpack_offset(Poly& a, const std::uint8_t* in, int bits, std::int32_t b);

}  // namespace kestrel::crypto::mldsa::detail
