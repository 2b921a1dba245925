// Polynomials of R_q and R_q-hat (FIPS 203 sections 2.3, 4.2, 4.3): encoding
// (Algorithms 5, 6), compression (section 4.2.1), sampling (Algorithms 7, 8),
// and the per-path function table. Fourth layer: params -> reduce -> ntt -> poly.
//
// Two paths implement the same functions on the same coefficient layout:
// portable C++ (here and ntt.cc) and AVX2 (*_avx2.cc, compiled with -mavx2).
// Callers pick one table per operation with select_path(); the AVX2 table is
// used only when the CPU has AVX2 and the gate crypto.avx2 is on.
//
// Thread-safe: pure functions over caller-owned data.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "crypto/mlkem/params.h"

namespace kestrel::crypto::mlkem {

// 256 coefficients, aligned for 256-bit loads. Ranges are stated per function;
// coefficients are always |c| < 2^15.
struct alignas(32) Poly {
  std::array<std::int16_t, n> c;
};

// Blocks of XOF output SampleNTT starts with: three SHAKE128 blocks are 504
// bytes, 336 candidates, each accepted with probability q / 4096 ~ 0.81; 256
// acceptances come out of them except with probability ~0.83% (binomial tail),
// and then more blocks are squeezed (Algorithm 7 loops until 256 are
// accepted). Four blocks would fail only with probability ~2^-105 but cost a
// fourth permutation every time; three plus the rare extra is cheaper.
inline constexpr std::size_t sample_ntt_initial_blocks = 3;
// PRF output for CBD: 64 * eta bytes (Algorithm 8), rounded up to whole SHAKE256
// blocks of 136 bytes: at most 192 bytes -> 2 blocks.
inline constexpr std::size_t prf_blocks_max = 2;
inline constexpr std::size_t prf_buffer_bytes = prf_blocks_max * 136;
static_assert(64 * eta_max <= prf_buffer_bytes);

// One path's implementations. Every function has the same contract on both paths.
struct PolyOps {
  const char* name;
  // True when keccak::permute_x4 is the AVX2 one (about 1.6 single
  // permutations for four), so that batching even two independent hashes pays;
  // false on the portable path, where a partly filled 4-way batch wastes work.
  bool parallel_keccak;
  // Algorithm 9, in place: input |f| < q, output |f_hat| <= (q-1)/2 (ntt.h).
  void (*ntt)(std::int16_t f[n]);
  // Algorithm 10 times R, in place: input |f_hat| < 2^14, output |f| < q.
  void (*inverse_ntt)(std::int16_t f[n]);
  // Algorithms 11 and 12 summed over `count` pairs, times R^-1; see ntt.h.
  void (*multiply_ntts_acc)(std::int16_t h[n], const std::int16_t* const f[],
                            const std::int16_t* const g[], unsigned count);
  // ByteEncode_d(Compress_d(f)) (Algorithm 5, section 4.2.1) for d in {4, 5, 10,
  // 11}: 32 d bytes. Input: any |f| < 2^15 (reduced mod q first).
  void (*compress_encode)(std::uint8_t* out, const std::int16_t f[n], unsigned d);
  // Decompress_d(ByteDecode_d(in)) for d in {4, 5, 10, 11}: output in [0, q).
  void (*decode_decompress)(std::int16_t f[n], const std::uint8_t* in, unsigned d);
  // SamplePolyCBD_eta (Algorithm 8) from 64 eta bytes: output in [-eta, eta].
  void (*sample_cbd)(std::int16_t f[n], const std::uint8_t* bytes, unsigned eta);
  // One step of SampleNTT's loop (Algorithm 7) over a buffer: parses 3-byte
  // groups of buf[0, length) into coefficients in [0, q), writes accepted ones
  // to out[0, count_max) and returns how many were accepted; entries of
  // out[count, count_max) may be overwritten with scratch. Branches only on
  // public data (the matrix seed rho).
  std::size_t (*rejection_sample)(std::int16_t* out, std::size_t count_max,
                                  const std::uint8_t* buf, std::size_t length);
  // byte_encode12, byte_decode12, poly_to_message and message_to_poly below, per path.
  void (*byte_encode12)(std::uint8_t out[poly_bytes], const std::int16_t f[n]);
  void (*byte_decode12)(std::int16_t f[n], const std::uint8_t in[poly_bytes]);
  void (*poly_to_message)(std::uint8_t m[sym_bytes], const std::int16_t w[n]);
  void (*message_to_poly)(std::int16_t f[n], const std::uint8_t m[sym_bytes]);
};

const PolyOps& portable_ops();

// SampleNTT's candidate loop (FIPS 203 Algorithm 7, steps 5-13) from byte `pos`
// on, with `count` outputs already written: the tail both paths run after their
// bulk step. Portable code (defined in poly.cc, not inline), so the AVX2 file may
// call it without its -mavx2 code generation leaking into portable callers.
std::size_t rejection_sample_tail(std::int16_t* out, std::size_t count_max, const std::uint8_t* buf,
                                  std::size_t length, std::size_t pos, std::size_t count);
// The AVX2 table. REQUIRES: cpu_features().avx2.
const PolyOps& avx2_ops();
// The table to use now: AVX2 when the CPU has it and the gate crypto.avx2 is on.
const PolyOps& select_path();

// --- Path-independent helpers (byte-level, cheap, portable only) ---------------------

// ByteEncode_12 (Algorithm 5, d = 12): 384 bytes. REQUIRES: f in [0, q).
void byte_encode12(std::uint8_t out[poly_bytes], const std::int16_t f[n]);
// ByteDecode_12 (Algorithm 6, d = 12): output in [0, 4096) (not reduced mod q:
// the modulus check of section 7.2 looks at exactly these values).
void byte_decode12(std::int16_t f[n], const std::uint8_t in[poly_bytes]);
// 0xFFFF when every coefficient is < q, else 0; no branch on the data.
std::uint16_t all_below_q(const std::int16_t f[n]);
// Decompress_1(ByteDecode_1(m)): coefficient i is 1665 (= round(q/2)) if bit i
// of m is set, else 0. The message is secret: masks, no branch.
void message_to_poly(std::int16_t f[n], const std::uint8_t m[sym_bytes]);
// ByteEncode_1(Compress_1(w)): bit i is 1 when w[i] mod q is nearer q/2 than 0.
// Input any |w| < 2^15. Constant time (multiply-shift, no division).
void poly_to_message(std::uint8_t m[sym_bytes], const std::int16_t w[n]);
// f = f + g, f = f - g (coefficient-wise, no reduction; callers keep the sum < 2^15).
void poly_add(std::int16_t f[n], const std::int16_t g[n]);
void poly_sub(std::int16_t f[n], const std::int16_t g[n]);
// Barrett-reduces to [0, q) from any int16.
void poly_reduce_unsigned(std::int16_t f[n]);
// f = f * R mod q (Montgomery multiplication by R^2), output |f| < q. Used once
// after the base products of key generation, which carry R^-1.
void poly_to_montgomery(std::int16_t f[n]);

// Compress_d(x) for x in [0, q): round(2^d x / q) mod 2^d, by multiply and
// shift (no variable-time division on secrets). d in [1, 11].
inline std::uint16_t compress(std::uint32_t x, unsigned d) {
  // floor((x 2^d + (q-1)/2) / q) = (N * ceil(2^40 / q)) >> 40 exactly for
  // N < 2^40 / q (the multiplier's error is below q, so the error term
  // N * err / 2^40 stays below 1/q for all N < 2^23, our maximum).
  constexpr std::uint64_t m = ((std::uint64_t{1} << 40) + q - 1) / q;
  const std::uint64_t numerator = (static_cast<std::uint64_t>(x) << d) + (q - 1) / 2;
  return static_cast<std::uint16_t>(((numerator * m) >> 40) & ((1u << d) - 1));
}
// Decompress_d(y) = round(q y / 2^d), y in [0, 2^d): output in [0, q).
inline std::int16_t decompress(std::uint32_t y, unsigned d) {
  return static_cast<std::int16_t>((y * q + (1u << (d - 1))) >> d);
}

}  // namespace kestrel::crypto::mlkem
