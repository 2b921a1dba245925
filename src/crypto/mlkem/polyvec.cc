#include "crypto/mlkem/polyvec.h"

#include <algorithm>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/keccak.h"

namespace kestrel::crypto::mlkem {

namespace {

constexpr std::size_t xof_block = keccak::shake128_rate;   // 168 = 3 x 56: whole 3-byte groups
constexpr std::size_t prf_block = keccak::shake256_rate;   // 136
static_assert(xof_block % 3 == 0);

// SampleNTT for one entry, one SHAKE128 instance (Algorithm 7).
void sample_ntt_one(Poly& a, const std::uint8_t rho[sym_bytes], std::uint8_t b0, std::uint8_t b1,
                    const PolyOps& ops) {
  std::uint8_t seed[sym_bytes + 2];
  std::copy(rho, rho + sym_bytes, seed);
  seed[sym_bytes] = b0;
  seed[sym_bytes + 1] = b1;
  keccak::Shake128 xof;
  xof.absorb(seed);
  alignas(32) std::uint8_t buf[sample_ntt_initial_blocks * xof_block];
  xof.squeeze_blocks(buf, sample_ntt_initial_blocks);
  std::size_t count = ops.rejection_sample(a.c.data(), n, buf, sizeof(buf));
  // Bounded: each further block accepts >= 1 coefficient except with
  // probability (1 - q/4096)^112; 256 blocks is far beyond any real need.
  for (unsigned extra = 0; count < n; ++extra) {
    KESTREL_ASSERT(extra < 256);
    xof.squeeze_blocks(buf, 1);
    count += ops.rejection_sample(a.c.data() + count, n - count, buf, xof_block);
  }
}

// SampleNTT for four entries with one 4-way SHAKE128.
void sample_ntt_x4(Poly* const a[4], const std::uint8_t rho[sym_bytes],
                   const std::array<std::array<std::uint8_t, 2>, 4>& indices, const PolyOps& ops) {
  std::uint8_t seeds[4][sym_bytes + 2];
  std::array<std::span<const std::uint8_t>, 4> inputs;
  for (unsigned t = 0; t < 4; ++t) {
    std::copy(rho, rho + sym_bytes, seeds[t]);
    seeds[t][sym_bytes] = indices[t][0];
    seeds[t][sym_bytes + 1] = indices[t][1];
    inputs[t] = std::span<const std::uint8_t>(seeds[t], sizeof(seeds[t]));
  }
  keccak::ShakeX4 xof(keccak::shake128_rate);
  xof.absorb_once(inputs);
  alignas(32) std::uint8_t buf[4][sample_ntt_initial_blocks * xof_block];
  xof.squeeze_blocks({buf[0], buf[1], buf[2], buf[3]}, sample_ntt_initial_blocks);
  std::size_t count[4];
  for (unsigned t = 0; t < 4; ++t) count[t] = ops.rejection_sample(a[t]->c.data(), n, buf[t], sizeof(buf[t]));
  for (unsigned extra = 0; count[0] < n || count[1] < n || count[2] < n || count[3] < n; ++extra) {
    KESTREL_ASSERT(extra < 256);
    xof.squeeze_blocks({buf[0], buf[1], buf[2], buf[3]}, 1);
    for (unsigned t = 0; t < 4; ++t) {
      count[t] += ops.rejection_sample(a[t]->c.data() + count[t], n - count[t], buf[t], xof_block);
    }
  }
}

}  // namespace

void generate_matrix(PolyMatrix& a, const std::uint8_t rho[sym_bytes], unsigned k, bool transposed,
                     const PolyOps& ops) {
  KESTREL_ASSERT(k >= 2 && k <= k_max);
  // Entry (i, j) hashes rho || j || i (Algorithm 13 step 5); the transpose swaps them.
  const unsigned total = k * k;
  unsigned e = 0;
  for (; e + 4 <= total; e += 4) {
    Poly* out[4];
    std::array<std::array<std::uint8_t, 2>, 4> indices;
    for (unsigned t = 0; t < 4; ++t) {
      const unsigned i = (e + t) / k, j = (e + t) % k;
      out[t] = &a.row[i].v[j];
      indices[t] = transposed ? std::array<std::uint8_t, 2>{static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(j)}
                              : std::array<std::uint8_t, 2>{static_cast<std::uint8_t>(j), static_cast<std::uint8_t>(i)};
    }
    sample_ntt_x4(out, rho, indices, ops);
  }
  // k = 3 leaves one entry: a single SHAKE128 costs a quarter of a 4-way one.
  for (; e < total; ++e) {
    const unsigned i = e / k, j = e % k;
    const auto b0 = static_cast<std::uint8_t>(transposed ? i : j);
    const auto b1 = static_cast<std::uint8_t>(transposed ? j : i);
    sample_ntt_one(a.row[i].v[j], rho, b0, b1, ops);
  }
}

void generate_matrix_batched(PolyMatrix& a, const std::uint8_t rho[sym_bytes], unsigned k, bool transposed,
                             std::span<const keccak::XofJob> extra, const PolyOps& ops) {
  KESTREL_ASSERT(k >= 2 && k <= k_max);
  KESTREL_ASSERT(extra.size() + k * k <= keccak::xof_jobs_max);
  std::array<keccak::XofJob, keccak::xof_jobs_max> jobs;
  std::copy(extra.begin(), extra.end(), jobs.begin());
  std::uint8_t seeds[k_max * k_max][sym_bytes + 2];
  alignas(32) std::uint8_t streams[k_max * k_max][sample_ntt_initial_blocks * xof_block];
  for (unsigned e = 0; e < k * k; ++e) {
    const unsigned i = e / k, j = e % k;
    std::copy(rho, rho + sym_bytes, seeds[e]);
    // Entry (i, j) hashes rho || j || i (Algorithm 13 step 5); the transpose swaps them.
    seeds[e][sym_bytes] = static_cast<std::uint8_t>(transposed ? i : j);
    seeds[e][sym_bytes + 1] = static_cast<std::uint8_t>(transposed ? j : i);
    jobs[extra.size() + e] = keccak::XofJob{std::span<const std::uint8_t>(seeds[e], sym_bytes + 2),
                                            std::span<std::uint8_t>(streams[e], sizeof(streams[e])),
                                            keccak::shake128_rate, keccak::shake_domain};
  }
  keccak::run_jobs_x4(std::span<const keccak::XofJob>(jobs.data(), extra.size() + k * k));
  for (unsigned e = 0; e < k * k; ++e) {
    const unsigned i = e / k, j = e % k;
    Poly& entry = a.row[i].v[j];
    if (ops.rejection_sample(entry.c.data(), n, streams[e], sizeof(streams[e])) < n) {
      // Three blocks were not enough (probability ~0.83%, see poly.h): sample
      // this entry again with its own XOF, which squeezes as many blocks as it
      // needs. The ACVP vectors exercise this path.
      sample_ntt_one(entry, rho, seeds[e][sym_bytes], seeds[e][sym_bytes + 1], ops);
    }
  }
}

void sample_noise(Poly* const out[], const unsigned eta[], unsigned count, const std::uint8_t sigma[sym_bytes],
                  std::uint8_t nonce0, const PolyOps& ops) {
  KESTREL_ASSERT(count <= 2 * k_max + 1);
  unsigned e = 0;
  alignas(32) std::uint8_t buf[4][prf_buffer_bytes];
  // PRF_eta(s, b) = SHAKE256(s || b, 64 eta) (section 4.1); the 4-way batch
  // squeezes the blocks its largest eta needs (outputs are prefixes of one stream).
  while (e < count) {
    const unsigned lanes = std::min(4u, count - e);
    std::uint8_t seeds[4][sym_bytes + 1];
    std::array<std::span<const std::uint8_t>, 4> inputs;
    unsigned blocks = 1;
    for (unsigned t = 0; t < 4; ++t) {
      std::copy(sigma, sigma + sym_bytes, seeds[t]);
      // Unused lanes (t >= lanes) hash a valid but discarded nonce.
      seeds[t][sym_bytes] = static_cast<std::uint8_t>(nonce0 + e + t);
      inputs[t] = std::span<const std::uint8_t>(seeds[t], sizeof(seeds[t]));
      if (t < lanes) {
        KESTREL_ASSERT(eta[e + t] == 2 || eta[e + t] == 3);
        blocks = std::max<unsigned>(blocks, static_cast<unsigned>((64 * eta[e + t] + prf_block - 1) / prf_block));
      }
    }
    if (lanes == 1 || (lanes < 4 && !ops.parallel_keccak)) {
      for (unsigned t = 0; t < lanes; ++t) {
        keccak::Shake256 prf;
        prf.absorb(inputs[t]);
        prf.squeeze_blocks(buf[t], blocks);
        secure_zero(&prf, sizeof(prf));  // the sponge state determines the noise
      }
    } else {
      keccak::ShakeX4 prf(keccak::shake256_rate);
      prf.absorb_once(inputs);
      prf.squeeze_blocks({buf[0], buf[1], buf[2], buf[3]}, blocks);
      secure_zero(&prf, sizeof(prf));
    }
    for (unsigned t = 0; t < lanes; ++t) ops.sample_cbd(out[e + t]->c.data(), buf[t], eta[e + t]);
    secure_zero(seeds, sizeof(seeds));  // sigma or r
    e += lanes;
  }
  secure_zero(buf, sizeof(buf));  // PRF output is the noise itself
}

void polyvec_ntt(PolyVec& v, unsigned k, const PolyOps& ops) {
  for (unsigned i = 0; i < k; ++i) ops.ntt(v.v[i].c.data());
}

void polyvec_inner_product(Poly& h, const PolyVec& a, const PolyVec& b, unsigned k, const PolyOps& ops) {
  const std::int16_t* f[k_max];
  const std::int16_t* g[k_max];
  for (unsigned j = 0; j < k; ++j) {
    f[j] = a.v[j].c.data();
    g[j] = b.v[j].c.data();
  }
  ops.multiply_ntts_acc(h.c.data(), f, g, k);
}

}  // namespace kestrel::crypto::mlkem
