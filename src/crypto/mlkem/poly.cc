#include "crypto/mlkem/poly.h"

#include "common/assert.h"
#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/ct.h"
#include "crypto/mlkem/ntt.h"
#include "crypto/mlkem/pack.h"
#include "crypto/mlkem/reduce.h"

namespace kestrel::crypto::mlkem {

namespace {

void compress_encode_portable(std::uint8_t* out, const std::int16_t f[n], unsigned d) {
  // Compress_d (section 4.2.1) into d-bit values, then ByteEncode_d (Algorithm 5).
  std::uint16_t v[n];
  for (unsigned i = 0; i < n; ++i) {
    v[i] = compress(static_cast<std::uint16_t>(to_unsigned(barrett_reduce(f[i]))), d);
  }
  pack_bits_d(out, v, d);
}

void decode_decompress_portable(std::int16_t f[n], const std::uint8_t* in, unsigned d) {
  // ByteDecode_d (Algorithm 6), then Decompress_d (section 4.2.1).
  std::uint16_t v[n];
  unpack_bits_d(v, in, d);
  for (unsigned i = 0; i < n; ++i) f[i] = decompress(v[i], d);
}

// Algorithm 8 with the bit sums done in parallel inside a word: adding the
// bits of each eta-bit field counts its ones (x and y of the algorithm).
void sample_cbd_portable(std::int16_t f[n], const std::uint8_t* bytes, unsigned eta) {
  if (eta == 2) {
    // 4 bits per coefficient: x = b0 + b1, y = b2 + b3.
    for (unsigned i = 0; i < n / 8; ++i) {
      std::uint32_t w = 0;
      for (unsigned b = 0; b < 4; ++b) w |= static_cast<std::uint32_t>(bytes[4 * i + b]) << (8 * b);
      const std::uint32_t sums = (w & 0x55555555u) + ((w >> 1) & 0x55555555u);
      for (unsigned j = 0; j < 8; ++j) {
        const std::int16_t x = static_cast<std::int16_t>((sums >> (4 * j)) & 3);
        const std::int16_t y = static_cast<std::int16_t>((sums >> (4 * j + 2)) & 3);
        f[8 * i + j] = static_cast<std::int16_t>(x - y);
      }
    }
  } else {
    KESTREL_ASSERT(eta == 3);
    // 6 bits per coefficient: x = b0 + b1 + b2, y = b3 + b4 + b5.
    for (unsigned i = 0; i < n / 4; ++i) {
      std::uint32_t w = 0;
      for (unsigned b = 0; b < 3; ++b) w |= static_cast<std::uint32_t>(bytes[3 * i + b]) << (8 * b);
      const std::uint32_t sums = (w & 0x00249249u) + ((w >> 1) & 0x00249249u) + ((w >> 2) & 0x00249249u);
      for (unsigned j = 0; j < 4; ++j) {
        const std::int16_t x = static_cast<std::int16_t>((sums >> (6 * j)) & 7);
        const std::int16_t y = static_cast<std::int16_t>((sums >> (6 * j + 3)) & 7);
        f[4 * i + j] = static_cast<std::int16_t>(x - y);
      }
    }
  }
}

std::size_t rejection_sample_portable(std::int16_t* out, std::size_t count_max, const std::uint8_t* buf,
                                      std::size_t length) {
  std::size_t count = 0;
  std::size_t pos = 0;
  // Algorithm 7, steps 5-13. The data is public (derived from rho), but about
  // one candidate in five is rejected at random, which a branch predicts badly:
  // while two more outputs fit, write both candidates and advance by the
  // comparisons instead.
  for (; pos + 3 <= length && count + 2 <= count_max; pos += 3) {
    const std::uint16_t d1 = static_cast<std::uint16_t>(buf[pos] | ((buf[pos + 1] & 0x0F) << 8));
    const std::uint16_t d2 = static_cast<std::uint16_t>((buf[pos + 1] >> 4) | (buf[pos + 2] << 4));
    out[count] = static_cast<std::int16_t>(d1);
    count += d1 < q;
    out[count] = static_cast<std::int16_t>(d2);
    count += d2 < q;
  }
  return rejection_sample_tail(out, count_max, buf, length, pos, count);
}

constexpr PolyOps portable_table{
    "portable",        false,                  ntt_portable,           inverse_ntt_portable,     multiply_ntts_acc_portable,
    compress_encode_portable, decode_decompress_portable, sample_cbd_portable, rejection_sample_portable,
    byte_encode12,     byte_decode12,          poly_to_message,          message_to_poly,
};

}  // namespace

std::size_t rejection_sample_tail(std::int16_t* out, std::size_t count_max, const std::uint8_t* buf,
                                  std::size_t length, std::size_t pos, std::size_t count) {
  KESTREL_DEBUG_ASSERT(count <= count_max);
  for (; pos + 3 <= length && count < count_max; pos += 3) {
    const std::uint16_t d1 = static_cast<std::uint16_t>(buf[pos] | ((buf[pos + 1] & 0x0F) << 8));
    const std::uint16_t d2 = static_cast<std::uint16_t>((buf[pos + 1] >> 4) | (buf[pos + 2] << 4));
    if (d1 < q) out[count++] = static_cast<std::int16_t>(d1);
    if (d2 < q && count < count_max) out[count++] = static_cast<std::int16_t>(d2);
  }
  return count;
}

const PolyOps& portable_ops() { return portable_table; }

const PolyOps& select_path() {
  // The AVX2 files are compiled with -mavx2 -mbmi2 -mpopcnt (kestrel_avx2_sources):
  // all three must be present (every AVX2 CPU in practice has the other two).
  const CpuFeatures& cpu = cpu_features();
  if (cpu.avx2 && cpu.bmi2 && cpu.popcnt && gate_enabled(Gate::crypto_avx2)) return avx2_ops();
  return portable_table;
}

void byte_encode12(std::uint8_t out[poly_bytes], const std::int16_t f[n]) {
  for (unsigned i = 0; i < n / 2; ++i) {
    const std::uint16_t a = static_cast<std::uint16_t>(f[2 * i]);
    const std::uint16_t b = static_cast<std::uint16_t>(f[2 * i + 1]);
    KESTREL_DEBUG_ASSERT(a < q && b < q);
    out[3 * i] = static_cast<std::uint8_t>(a);
    out[3 * i + 1] = static_cast<std::uint8_t>((a >> 8) | (b << 4));
    out[3 * i + 2] = static_cast<std::uint8_t>(b >> 4);
  }
}

void byte_decode12(std::int16_t f[n], const std::uint8_t in[poly_bytes]) {
  for (unsigned i = 0; i < n / 2; ++i) {
    f[2 * i] = static_cast<std::int16_t>(in[3 * i] | ((in[3 * i + 1] & 0x0F) << 8));
    f[2 * i + 1] = static_cast<std::int16_t>((in[3 * i + 1] >> 4) | (in[3 * i + 2] << 4));
  }
}

std::uint16_t all_below_q(const std::int16_t f[n]) {
  // (x - q) is negative exactly when x < q: AND the sign bits together.
  std::uint16_t all = 0xFFFF;
  for (unsigned i = 0; i < n; ++i) all &= static_cast<std::uint16_t>((f[i] - q) >> 15);
  return all;
}

void message_to_poly(std::int16_t f[n], const std::uint8_t m[sym_bytes]) {
  for (unsigned i = 0; i < n; ++i) {
    const std::int16_t bit = static_cast<std::int16_t>((m[i / 8] >> (i % 8)) & 1);
    f[i] = static_cast<std::int16_t>(ct_barrier(static_cast<std::int16_t>(-bit)) & ((q + 1) / 2));
  }
}

void poly_to_message(std::uint8_t m[sym_bytes], const std::int16_t w[n]) {
  for (unsigned i = 0; i < sym_bytes; ++i) {
    std::uint8_t byte = 0;
    for (unsigned j = 0; j < 8; ++j) {
      const std::uint32_t x = static_cast<std::uint16_t>(to_unsigned(barrett_reduce(w[8 * i + j])));
      byte = static_cast<std::uint8_t>(byte | (compress(x, 1) << j));
    }
    m[i] = byte;
  }
}

void poly_add(std::int16_t f[n], const std::int16_t g[n]) {
#pragma GCC ivdep  // f and g never overlap: lets GCC vectorize without an alias check
  for (unsigned i = 0; i < n; ++i) f[i] = static_cast<std::int16_t>(f[i] + g[i]);
}

void poly_sub(std::int16_t f[n], const std::int16_t g[n]) {
#pragma GCC ivdep  // f and g never overlap: lets GCC vectorize without an alias check
  for (unsigned i = 0; i < n; ++i) f[i] = static_cast<std::int16_t>(f[i] - g[i]);
}

void poly_reduce_unsigned(std::int16_t f[n]) {
#pragma GCC ivdep  // f and g never overlap: lets GCC vectorize without an alias check
  for (unsigned i = 0; i < n; ++i) f[i] = to_unsigned(barrett_reduce(f[i]));
}

void poly_to_montgomery(std::int16_t f[n]) {
#pragma GCC ivdep  // f and g never overlap: lets GCC vectorize without an alias check
  for (unsigned i = 0; i < n; ++i) f[i] = fqmul_halves(f[i], mont_r2);
}

}  // namespace kestrel::crypto::mlkem
