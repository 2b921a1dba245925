// The AVX2 path of the poly layer (FIPS 203 sections 4.2-4.3): CBD sampling
// (Algorithm 8), the rejection step of SampleNTT (Algorithm 7), compression with
// ByteEncode/ByteDecode (section 4.2.1, Algorithms 5-6), plus the table
// avx2_ops(). Compiled with -mavx2; reached only through avx2_ops(), which
// select_path() returns when the CPU has AVX2 and the gate crypto.avx2 is on.
//
// Only intrinsics, this file's own functions and pack.h (internal linkage) are
// used here: an inline function shared with the portable files and compiled
// here with -mavx2 could be picked by the linker for the portable path.
#include <immintrin.h>

#include <cstring>

#include "crypto/mlkem/avx2.h"
#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/pack.h"
#include "crypto/mlkem/poly.h"

namespace kestrel::crypto::mlkem {

namespace {

inline __m256i load(const std::int16_t* p) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(std::int16_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

// --- SamplePolyCBD (Algorithm 8) -----------------------------------------------------

// eta = 2: each nibble is one coefficient, (popcount of bits 0-1) - (popcount
// of bits 2-3). A 16-entry table in a register (PSHUFB indexes a register, not
// memory: constant time on secret nibbles).
void sample_cbd2(std::int16_t f[n], const std::uint8_t* bytes) {
  const __m128i table = _mm_setr_epi8(0, 1, 1, 2, -1, 0, 0, 1, -1, 0, 0, 1, -2, -1, -1, 0);
  const __m128i low_nibbles = _mm_set1_epi8(0x0F);
  for (unsigned i = 0; i < 128 / 16; ++i) {
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bytes + 16 * i));
    const __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(b, low_nibbles));
    const __m128i hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(b, 4), low_nibbles));
    // Byte j gives coefficients 2j (low nibble) and 2j + 1 (high nibble).
    store(f + 32 * i, _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(lo, hi)));
    store(f + 32 * i + 16, _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(lo, hi)));
  }
}

// eta = 3: three bytes give four coefficients of 6 bits (x: bits 0-2, y: 3-5).
// Each 32-bit lane takes one 3-byte group; the bit sums of each 3-bit field are
// formed in place as in the portable path.
void sample_cbd3(std::int16_t f[n], const std::uint8_t* bytes) {
  const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1, 0, 1, 2, -1, 3, 4,
                                          5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
  const __m256i m249 = _mm256_set1_epi32(0x00249249);
  const __m256i m7 = _mm256_set1_epi32(7);
  const __m256i m7_hi = _mm256_set1_epi32(7 << 16);
  for (unsigned i = 0; i < 192 / 24; ++i) {
    // 24 input bytes -> 32 coefficients; the last group is copied so no load
    // reads past the 192 input bytes.
    alignas(32) std::uint8_t tail[32] = {};
    const std::uint8_t* p = bytes + 24 * i;
    if (i == 192 / 24 - 1) {
      std::memcpy(tail, p, 24);
      p = tail;
    }
    const __m256i raw = _mm256_inserti128_si256(
        _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 12)), 1);
    const __m256i w = _mm256_shuffle_epi8(raw, spread);
    const __m256i s = _mm256_add_epi32(
        _mm256_add_epi32(_mm256_and_si256(w, m249), _mm256_and_si256(_mm256_srli_epi32(w, 1), m249)),
        _mm256_and_si256(_mm256_srli_epi32(w, 2), m249));
    // Lane k holds fields 0..3 of group k at bits 0, 6, 12, 18 (x at +0, y at +3).
    // d01: coefficients 4k, 4k+1 as two int16; d23: 4k+2, 4k+3.
    const __m256i x01 = _mm256_or_si256(_mm256_and_si256(s, m7), _mm256_and_si256(_mm256_slli_epi32(s, 10), m7_hi));
    const __m256i y01 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s, 3), m7),
                                        _mm256_and_si256(_mm256_slli_epi32(s, 7), m7_hi));
    const __m256i s2 = _mm256_srli_epi32(s, 12);
    const __m256i x23 = _mm256_or_si256(_mm256_and_si256(s2, m7), _mm256_and_si256(_mm256_slli_epi32(s2, 10), m7_hi));
    const __m256i y23 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 3), m7),
                                        _mm256_and_si256(_mm256_slli_epi32(s2, 7), m7_hi));
    const __m256i d01 = _mm256_sub_epi16(x01, y01);
    const __m256i d23 = _mm256_sub_epi16(x23, y23);
    // Per 128-bit half: unpacklo gives groups 0,1 (coefficients 0-7 of the half),
    // unpackhi groups 2,3 (8-15); the two halves are 16 apart.
    const __m256i r0 = _mm256_unpacklo_epi32(d01, d23);
    const __m256i r1 = _mm256_unpackhi_epi32(d01, d23);
    store(f + 32 * i, _mm256_permute2x128_si256(r0, r1, 0x20));
    store(f + 32 * i + 16, _mm256_permute2x128_si256(r0, r1, 0x31));
  }
}

void sample_cbd_avx2(std::int16_t f[n], const std::uint8_t* bytes, unsigned eta) {
  if (eta == 2) {
    sample_cbd2(f, bytes);
  } else {
    sample_cbd3(f, bytes);
  }
}

// --- SampleNTT's rejection step (Algorithm 7) ------------------------------------------
// The data is public (derived from rho), so a table indexed by the acceptance
// mask is allowed here.

struct alignas(16) CompactTable {
  // For each 8-bit acceptance mask: PSHUFB indices moving the accepted 16-bit
  // lanes to the front, in order.
  std::uint8_t index[256][16];
};

CompactTable build_compact_table() {
  CompactTable t{};
  for (unsigned mask = 0; mask < 256; ++mask) {
    unsigned k = 0;
    for (unsigned lane = 0; lane < 8; ++lane) {
      if (mask & (1u << lane)) {
        t.index[mask][2 * k] = static_cast<std::uint8_t>(2 * lane);
        t.index[mask][2 * k + 1] = static_cast<std::uint8_t>(2 * lane + 1);
        ++k;
      }
    }
    for (; k < 8; ++k) t.index[mask][2 * k] = t.index[mask][2 * k + 1] = 0x80;
  }
  return t;
}


std::size_t rejection_sample_avx2(std::int16_t* out, std::size_t count_max, const std::uint8_t* buf,
                                  std::size_t length) {
  static const CompactTable table = build_compact_table();
  // 24 bytes -> 16 candidates per step. After a 32-byte load (qwords 0,1,1,2),
  // the low half holds bytes 0-15 and the high half bytes 8-23; candidate 2i
  // is bytes (3i, 3i+1) & 0xFFF, candidate 2i+1 is bytes (3i+1, 3i+2) >> 4.
  const __m256i gather = _mm256_setr_epi8(0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11,  //
                                          4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14, 15);
  const __m256i q_vec = _mm256_set1_epi16(q);
  const __m256i mask12 = _mm256_set1_epi16(0x0FFF);
  std::size_t pos = 0, count = 0;
  // Vector steps while a whole 32-byte load fits in the input and 16 more
  // outputs fit in the output; the scalar loop finishes (same order, same stop).
  while (pos + 32 <= length && count + 16 <= count_max) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + pos));
    v = _mm256_permute4x64_epi64(v, 0x94);
    v = _mm256_shuffle_epi8(v, gather);
    const __m256i c = _mm256_blend_epi16(_mm256_and_si256(v, mask12), _mm256_srli_epi16(v, 4), 0xAA);
    const __m256i good = _mm256_cmpgt_epi16(q_vec, c);
    const unsigned bits =
        static_cast<unsigned>(_mm256_movemask_epi8(_mm256_packs_epi16(good, _mm256_setzero_si256())));
    const unsigned m0 = bits & 0xFF, m1 = (bits >> 16) & 0xFF;
    const __m128i lo = _mm_shuffle_epi8(_mm256_castsi256_si128(c),
                                        _mm_load_si128(reinterpret_cast<const __m128i*>(table.index[m0])));
    const __m128i hi = _mm_shuffle_epi8(_mm256_extracti128_si256(c, 1),
                                        _mm_load_si128(reinterpret_cast<const __m128i*>(table.index[m1])));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + count), lo);
    count += static_cast<unsigned>(__builtin_popcount(m0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + count), hi);
    count += static_cast<unsigned>(__builtin_popcount(m1));
    pos += 24;
  }
  return rejection_sample_tail(out, count_max, buf, length, pos, count);
}

// --- Compression (section 4.2.1) with ByteEncode_d / ByteDecode_d ------------------

// f mod q in [0, q) for any int16 (barrett_reduce then a masked + q).
inline __m256i reduce_unsigned(__m256i a) {
  __m256i t = _mm256_mulhi_epi16(a, _mm256_set1_epi16(20159));
  t = _mm256_srai_epi16(_mm256_add_epi16(t, _mm256_set1_epi16(512)), 10);
  a = _mm256_sub_epi16(a, _mm256_mullo_epi16(t, _mm256_set1_epi16(q)));
  return _mm256_add_epi16(a, _mm256_and_si256(_mm256_srai_epi16(a, 15), _mm256_set1_epi16(q)));
}

// Compress_d for d in {4, 5} (and 1): round(2^d x / q) = round(y / 2^b) with
// y = floor(x M / 2^16); (b, M) = (1, 630) for d = 4, (1, 1260) for d = 5,
// found by exhaustive search over x in [0, q) and checked the same way in
// poly_test.cc. mulhrs by 2^(15-b) is the rounding shift.
template <unsigned d>
inline __m256i compress_small(__m256i x) {
  static_assert(d == 4 || d == 5);
  constexpr std::int16_t multiplier = d == 4 ? 630 : 1260;
  const __m256i y = _mm256_mulhi_epu16(x, _mm256_set1_epi16(multiplier));
  const __m256i r = _mm256_mulhrs_epi16(y, _mm256_set1_epi16(1 << 14));
  return _mm256_and_si256(r, _mm256_set1_epi16((1 << d) - 1));
}

// Compress_d for d in {10, 11}: floor((x 2^d + (q-1)/2) / q) via 64-bit
// products with ceil(2^35 / q), exact for numerators below 2^23 (as poly.h's
// compress(), with a smaller shift that is still exact: checked exhaustively).
template <unsigned d>
inline __m256i compress_large_half(__m128i x8) {
  const __m256i m = _mm256_set1_epi64x(10321340);  // ceil(2^35 / q)
  const __m256i numerator = _mm256_add_epi32(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x8), d),
                                             _mm256_set1_epi32((q - 1) / 2));
  const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(numerator, m), 35);
  const __m256i odd = _mm256_slli_epi64(_mm256_srli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(numerator, 32), m), 35), 32);
  return _mm256_and_si256(_mm256_blend_epi32(even, odd, 0xAA), _mm256_set1_epi32((1 << d) - 1));
}

template <unsigned d>
inline __m256i compress_large(__m256i x) {
  const __m256i lo = compress_large_half<d>(_mm256_castsi256_si128(x));
  const __m256i hi = compress_large_half<d>(_mm256_extracti128_si256(x, 1));
  return _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
}

// ByteEncode_10 of 16 values (10 bits in 16-bit lanes) -> 20 bytes at out
// (writes 26 bytes: the caller's next step overwrites the last 6).
inline void pack10(std::uint8_t* out, __m256i c) {
  // Pairs -> 20-bit values in 32-bit lanes; pairs of those -> 40 bits in
  // 64-bit lanes; the five low bytes of each 64-bit lane, per 128-bit half.
  const __m256i x = _mm256_madd_epi16(c, _mm256_set1_epi32(1 | (1024 << 16)));
  const __m256i high = _mm256_and_si256(x, _mm256_set1_epi64x(static_cast<long long>(0xFFFFFFFF00000000ULL)));
  const __m256i y = _mm256_add_epi64(_mm256_andnot_si256(high, x), _mm256_srli_epi64(high, 12));
  const __m256i bytes = _mm256_shuffle_epi8(y, _mm256_setr_epi8(0, 1, 2, 3, 4, 8, 9, 10, 11, 12, -1, -1, -1, -1, -1, -1,
                                                                0, 1, 2, 3, 4, 8, 9, 10, 11, 12, -1, -1, -1, -1, -1, -1));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(bytes));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out + 10), _mm256_extracti128_si256(bytes, 1));
}

template <unsigned d>
void compress_encode_d(std::uint8_t* out, const std::int16_t f[n]) {
  if constexpr (d == 10) {
    // 20 bytes per 16 coefficients; the last step writes into a copy.
    alignas(32) std::uint8_t tail[32];
    for (unsigned i = 0; i < n / 16; ++i) {
      const __m256i c = compress_large<10>(reduce_unsigned(load(f + 16 * i)));
      if (i + 1 < n / 16) {
        pack10(out + 20 * i, c);
      } else {
        pack10(tail, c);
        std::memcpy(out + 20 * i, tail, 20);
      }
    }
    return;
  }
  alignas(32) std::uint16_t v[n];
  for (unsigned i = 0; i < n / 16; ++i) {
    const __m256i x = reduce_unsigned(load(f + 16 * i));
    __m256i c;
    if constexpr (d <= 5) {
      c = compress_small<d>(x);
    } else {
      c = compress_large<d>(x);
    }
    _mm256_store_si256(reinterpret_cast<__m256i*>(v + 16 * i), c);
  }
  pack_bits<d>(out, v);
}

void compress_encode_avx2(std::uint8_t* out, const std::int16_t f[n], unsigned d) {
  switch (d) {
    case 4: return compress_encode_d<4>(out, f);
    case 5: return compress_encode_d<5>(out, f);
    case 10: return compress_encode_d<10>(out, f);
    case 11: return compress_encode_d<11>(out, f);
    default: __builtin_trap();  // d comes from Params only
  }
}

// Decompress_d(y) = round(q y / 2^d) = floor((y 2^(15-d) q + 2^14) / 2^15):
// one MULHRS after a shift (y 2^(15-d) < 2^15 fits a signed lane).
// ByteDecode_10 of 20 bytes -> 16 values in 16-bit lanes: each lane gets the
// two bytes holding its bits, shifted left by 6 - (10 j mod 8) (a multiply)
// and right by 6, which leaves exactly its 10 bits.
inline __m256i unpack10(const std::uint8_t* p) {
  // Low half: bytes 0-15 (values 0-7 use bytes 0-9); high half: bytes 10-25.
  const __m256i raw = _mm256_inserti128_si256(
      _mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
      _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 10)), 1);
  const __m256i gather = _mm256_setr_epi8(0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 7, 7, 8, 8, 9,  //
                                          0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 6, 7, 7, 8, 8, 9);
  const __m256i shift = _mm256_setr_epi16(64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1, 64, 16, 4, 1);
  return _mm256_srli_epi16(_mm256_mullo_epi16(_mm256_shuffle_epi8(raw, gather), shift), 6);
}

template <unsigned d>
void decode_decompress_d(std::int16_t f[n], const std::uint8_t* in) {
  if constexpr (d == 10) {
    // The last step would read past the 320 input bytes: it reads a copy.
    alignas(32) std::uint8_t tail[32] = {};
    std::memcpy(tail, in + 20 * (n / 16 - 1), 20);
    const __m256i q_vec = _mm256_set1_epi16(q);
    for (unsigned i = 0; i < n / 16; ++i) {
      const __m256i y = unpack10(i + 1 < n / 16 ? in + 20 * i : tail);
      store(f + 16 * i, _mm256_mulhrs_epi16(_mm256_slli_epi16(y, 15 - d), q_vec));
    }
    return;
  }
  alignas(32) std::uint16_t v[n];
  unpack_bits<d>(v, in);
  const __m256i q_vec = _mm256_set1_epi16(q);
  for (unsigned i = 0; i < n / 16; ++i) {
    const __m256i y = _mm256_load_si256(reinterpret_cast<const __m256i*>(v + 16 * i));
    store(f + 16 * i, _mm256_mulhrs_epi16(_mm256_slli_epi16(y, 15 - d), q_vec));
  }
}

void decode_decompress_avx2(std::int16_t f[n], const std::uint8_t* in, unsigned d) {
  switch (d) {
    case 4: return decode_decompress_d<4>(f, in);
    case 5: return decode_decompress_d<5>(f, in);
    case 10: return decode_decompress_d<10>(f, in);
    case 11: return decode_decompress_d<11>(f, in);
    default: __builtin_trap();
  }
}

// --- ByteEncode_12 / ByteDecode_12 (Algorithms 5-6, d = 12) ------------------------

// 24 bytes -> 16 coefficients, as the rejection step's parse but keeping every
// value: output in [0, 4096).
void byte_decode12_avx2(std::int16_t f[n], const std::uint8_t in[poly_bytes]) {
  const __m256i gather = _mm256_setr_epi8(0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11,  //
                                          4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14, 15);
  const __m256i mask12 = _mm256_set1_epi16(0x0FFF);
  for (unsigned i = 0; i < n / 16; ++i) {
    // The last step would load 8 bytes past the input: it reads a copy.
    alignas(32) std::uint8_t tail[32] = {};
    const std::uint8_t* p = in + 24 * i;
    if (i == n / 16 - 1) {
      std::memcpy(tail, p, 24);
      p = tail;
    }
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    v = _mm256_shuffle_epi8(_mm256_permute4x64_epi64(v, 0x94), gather);
    store(f + 16 * i, _mm256_blend_epi16(_mm256_and_si256(v, mask12), _mm256_srli_epi16(v, 4), 0xAA));
  }
}

// 16 coefficients in [0, q) -> 24 bytes: pairs a, b become a + 2^12 b in a
// 32-bit lane (PMADDWD), and the three low bytes of each lane are packed.
void byte_encode12_avx2(std::uint8_t out[poly_bytes], const std::int16_t f[n]) {
  const __m256i pair = _mm256_set1_epi32(1 | (4096 << 16));
  const __m256i compact = _mm256_setr_epi8(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1,  //
                                           0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  for (unsigned i = 0; i < n / 16; ++i) {
    const __m256i v = _mm256_shuffle_epi8(_mm256_madd_epi16(load(f + 16 * i), pair), compact);
    // Each 16-byte store carries 12 bytes of data; the next store overwrites
    // the 4 bytes of padding. The last step goes through a copy.
    alignas(16) std::uint8_t tail[32];
    std::uint8_t* p = i == n / 16 - 1 ? tail : out + 24 * i;
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(v));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p + 12), _mm256_extracti128_si256(v, 1));
    if (p == tail) std::memcpy(out + 24 * i, tail, 24);
  }
}

// --- ByteEncode_1(Compress_1(w)) --------------------------------------------------

// Compress_1(x) = 1 exactly for x in [833, 2496] (round(2x / q) = 1): one
// unsigned range test per lane, then the sign bits are gathered. The message
// is secret: masks and a movemask, no branch.
void poly_to_message_avx2(std::uint8_t m[sym_bytes], const std::int16_t w[n]) {
  const __m256i lower = _mm256_set1_epi16(833);
  const __m256i width = _mm256_set1_epi16(2496 - 833 + 1);
  for (unsigned i = 0; i < n / 32; ++i) {
    // t = x - 833 in [0, 1664) <=> bit set; as signed: t >= 0 and t < 1664.
    const __m256i t0 = _mm256_sub_epi16(reduce_unsigned(load(w + 32 * i)), lower);
    const __m256i t1 = _mm256_sub_epi16(reduce_unsigned(load(w + 32 * i + 16)), lower);
    const __m256i b0 = _mm256_andnot_si256(_mm256_srai_epi16(t0, 15), _mm256_cmpgt_epi16(width, t0));
    const __m256i b1 = _mm256_andnot_si256(_mm256_srai_epi16(t1, 15), _mm256_cmpgt_epi16(width, t1));
    const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packs_epi16(b0, b1), 0xD8);
    const auto bits = static_cast<std::uint32_t>(_mm256_movemask_epi8(bytes));
    std::memcpy(m + 4 * i, &bits, 4);  // little-endian: bit j of m[4i + j / 8]
  }
}

// Decompress_1(ByteDecode_1(m)): lane j of step i tests bit j of message bits
// [16 i, 16 i + 16) held in every lane, and the all-ones compare result masks
// 1665. Registers only: constant time on the secret message.
void message_to_poly_avx2(std::int16_t f[n], const std::uint8_t m[sym_bytes]) {
  const __m256i bit = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384,
                                        static_cast<std::int16_t>(-32768));
  const __m256i half_q = _mm256_set1_epi16((q + 1) / 2);
  for (unsigned i = 0; i < n / 16; ++i) {
    const auto bits = static_cast<std::int16_t>(m[2 * i] | (m[2 * i + 1] << 8));
    const __m256i set = _mm256_cmpeq_epi16(_mm256_and_si256(_mm256_set1_epi16(bits), bit), bit);
    store(f + 16 * i, _mm256_and_si256(set, half_q));
  }
}

}  // namespace

const PolyOps& avx2_ops() {
  static const PolyOps table = [] {
    PolyOps t = portable_ops();
    t.name = "avx2";
    t.parallel_keccak = true;
    t.ntt = detail::ntt_avx2;
    t.inverse_ntt = detail::inverse_ntt_avx2;
    t.multiply_ntts_acc = detail::multiply_ntts_acc_avx2;
    t.compress_encode = compress_encode_avx2;
    t.decode_decompress = decode_decompress_avx2;
    t.sample_cbd = sample_cbd_avx2;
    t.rejection_sample = rejection_sample_avx2;
    t.byte_encode12 = byte_encode12_avx2;
    t.byte_decode12 = byte_decode12_avx2;
    t.poly_to_message = poly_to_message_avx2;
    t.message_to_poly = message_to_poly_avx2;
    return t;
  }();
  return table;
}

}  // namespace kestrel::crypto::mlkem
