#include "crypto/mldsa/polyvec.h"

#include <algorithm>

#include "crypto/ct.h"
#include "crypto/mldsa/reduce.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

// The first squeeze of RejNTTPoly (poly.cc): five SHAKE128 blocks, 280 candidates.
constexpr std::size_t rej_ntt_bytes = 5 * keccak::shake128_rate;

void run_jobs_one_by_one(std::span<const keccak::XofJob> jobs) {
  for (const keccak::XofJob& job : jobs) {
    keccak::Sponge xof(job.rate, job.domain);
    xof.absorb(job.input);
    xof.squeeze(job.out);
  }
}

}  // namespace

void expand_a(Matrix& a, const Params& params, std::span<const std::uint8_t, seed_bytes> rho,
              std::span<const keccak::XofJob> extra_jobs) {
  KESTREL_ASSERT(extra_jobs.size() <= 4);
  auto seed_for = [&](int r, int s) {
    std::array<std::uint8_t, 34> seed;
    std::copy(rho.begin(), rho.end(), seed.begin());
    seed[32] = static_cast<std::uint8_t>(s);  // IntegerToBytes(s, 1) then r (Algorithm 32 line 3)
    seed[33] = static_cast<std::uint8_t>(r);
    return seed;
  };
  const int total = params.k * params.l;
  if (!use_avx2()) {
    for (int index = 0; index < total; ++index) {
      const int r = index / params.l;
      const int s = index % params.l;
      poly_rej_ntt(a.row[r].p[s], seed_for(r, s));
    }
    run_jobs_one_by_one(extra_jobs);
    return;
  }
  // AVX2: every matrix XOF squeezes RejNTTPoly's first five blocks as one job of
  // run_jobs_x4, which keeps all four lanes busy across entries (and the extra
  // jobs) instead of padding the last group of four. k * l = 16, 30 or 56: at
  // most two batches of xof_jobs_max.
  std::array<std::array<std::uint8_t, 34>, keccak::xof_jobs_max> seeds;
  alignas(32) std::array<std::array<std::uint8_t, rej_ntt_bytes>, keccak::xof_jobs_max> buf;
  std::array<keccak::XofJob, keccak::xof_jobs_max> jobs;
  for (int first = 0; first < total;) {
    const std::size_t extra = first == 0 ? extra_jobs.size() : 0;
    const int count = std::min(total - first, static_cast<int>(keccak::xof_jobs_max - extra));
    for (int i = 0; i < count; ++i) {
      const int r = (first + i) / params.l;
      const int s = (first + i) % params.l;
      seeds[i] = seed_for(r, s);
      jobs[i] = {seeds[i], buf[i], keccak::shake128_rate, keccak::shake_domain};
    }
    for (std::size_t j = 0; j < extra; ++j) jobs[count + j] = extra_jobs[j];
    keccak::run_jobs_x4(std::span<const keccak::XofJob>(jobs.data(), count + extra));
    for (int i = 0; i < count; ++i) {
      Poly& out = a.row[(first + i) / params.l].p[(first + i) % params.l];
      // Five blocks fall short with probability ~2^-75: then the streaming
      // sampler recomputes this entry with as many blocks as it needs.
      if (rej_ntt_fill_avx2(out, 0, buf[i].data(), rej_ntt_bytes) < n) poly_rej_ntt(out, seeds[i]);
    }
    first += count;
  }
}

void expand_s(PolyVecL& s1, PolyVecK& s2, const Params& params,
              std::span<const std::uint8_t, rho_prime_bytes> rho_prime) {
  auto seed_for = [&](int r) {
    std::array<std::uint8_t, 66> seed;
    std::copy(rho_prime.begin(), rho_prime.end(), seed.begin());
    seed[64] = static_cast<std::uint8_t>(r);  // IntegerToBytes(r, 2), little-endian
    seed[65] = static_cast<std::uint8_t>(r >> 8);
    return seed;
  };
  auto target = [&](int r) -> Poly& { return r < params.l ? s1.p[r] : s2.p[r - params.l]; };
  const int total = params.k + params.l;
  int r = 0;
  if (use_avx2()) {
    // k + l = 8, 11, 15: a last partial group runs with padding lanes (seeds
    // repeated, outputs discarded), cheaper than single SHAKE256 calls.
    Poly discarded;  // output of the padding lanes
    for (; r < total; r += 4) {
      std::array<std::array<std::uint8_t, 66>, 4> seeds;
      std::array<Poly*, 4> out;
      for (int i = 0; i < 4; ++i) {
        seeds[i] = seed_for(r + i < total ? r + i : r);
        out[i] = r + i < total ? &target(r + i) : &discarded;
      }
      poly_rej_bounded_x4(out, seeds, params.eta);
      secure_zero(seeds.data(), sizeof seeds);
    }
    secure_zero(&discarded, sizeof discarded);
  }
  for (; r < total; ++r) {
    auto seed = seed_for(r);
    poly_rej_bounded(target(r), seed, params.eta);
    secure_zero(seed);
  }
}

void expand_a_s(Matrix& a, PolyVecL& s1, PolyVecK& s2, const Params& params,
                std::span<const std::uint8_t, seed_bytes> rho, std::span<const std::uint8_t, rho_prime_bytes> rho_prime) {
  if (use_avx2()) return expand_a_s_avx2(a, s1, s2, params, rho, rho_prime);
  expand_a(a, params, rho);
  expand_s(s1, s2, params, rho_prime);
}

void expand_mask(PolyVecL& y, const Params& params, std::span<const std::uint8_t, 64> rho_double_prime,
                 std::uint16_t kappa) {
  auto seed_for = [&](int r) {
    std::array<std::uint8_t, 66> seed;
    std::copy(rho_double_prime.begin(), rho_double_prime.end(), seed.begin());
    const auto counter = static_cast<std::uint16_t>(kappa + r);  // IntegerToBytes(kappa + r, 2)
    seed[64] = static_cast<std::uint8_t>(counter);
    seed[65] = static_cast<std::uint8_t>(counter >> 8);
    return seed;
  };
  int r = 0;
  if (use_avx2()) {
    // Whole groups of four only: a 4-way permutation costs about as much as
    // four single ones, so padding a group with unused lanes would cost more
    // than hashing the one to three remaining polynomials alone.
    for (; r + 4 <= params.l; r += 4) {
      std::array<std::array<std::uint8_t, 66>, 4> seeds;
      for (int i = 0; i < 4; ++i) seeds[i] = seed_for(r + i);
      poly_expand_mask_x4({&y.p[r], &y.p[r + 1], &y.p[r + 2], &y.p[r + 3]}, seeds, params.gamma1_bits);
      secure_zero(seeds.data(), sizeof seeds);
    }
  }
  for (; r < params.l; ++r) {
    auto seed = seed_for(r);
    poly_expand_mask(y.p[r], seed, params.gamma1_bits);
    secure_zero(seed);
  }
}

void MaskStream::wipe() { secure_zero(pending.data(), sizeof pending); }

void expand_mask_next(PolyVecL& y, MaskStream& stream, const Params& params,
                      std::span<const std::uint8_t, 64> rho_double_prime) {
  if (!use_avx2()) {
    // One SHAKE256 per polynomial either way: no reason to run ahead.
    expand_mask(y, params, rho_double_prime, stream.next_counter);
    stream.next_counter = static_cast<std::uint16_t>(stream.next_counter + params.l);
    return;
  }
  constexpr int batch = MaskStream::batch;
  for (int r = 0; r < params.l; ++r) {
    if (stream.first == batch) {
      // Eight SHAKE256 streams as one run_jobs_x4 batch: eight lanes, five
      // permute_x8 steps, output stored by transposes.
      const std::size_t bytes = 32 * static_cast<std::size_t>(params.gamma1_bits);  // 576 or 640
      std::array<std::array<std::uint8_t, 66>, batch> seeds;
      alignas(32) std::array<std::array<std::uint8_t, 32 * 20>, batch> buf;
      std::array<keccak::XofJob, batch> jobs;
      for (int i = 0; i < batch; ++i) {
        std::copy(rho_double_prime.begin(), rho_double_prime.end(), seeds[i].begin());
        const auto counter = static_cast<std::uint16_t>(stream.next_counter + i);  // IntegerToBytes(kappa + r, 2)
        seeds[i][64] = static_cast<std::uint8_t>(counter);
        seeds[i][65] = static_cast<std::uint8_t>(counter >> 8);
        jobs[i] = {seeds[i], {buf[i].data(), bytes}, keccak::shake256_rate, keccak::shake_domain};
      }
      keccak::run_jobs_x4(jobs);
      for (int i = 0; i < batch; ++i) {
        unpack_offset(stream.pending[i], buf[i].data(), params.gamma1_bits, std::int32_t{1} << (params.gamma1_bits - 1));
      }
      secure_zero(seeds.data(), sizeof seeds);
      secure_zero(buf.data(), sizeof buf);
      stream.next_counter = static_cast<std::uint16_t>(stream.next_counter + batch);
      stream.first = 0;
    }
    y.p[r] = stream.pending[stream.first++];
  }
}

void matrix_multiply(PolyVecK& w, const Matrix& a, const PolyVecL& v, const Params& params) {
  if (!use_avx2()) {
    // Portable: sum the 64-bit products of a row and reduce once per
    // coefficient. |A_i| < q and |v_i| < 9q give |sum| < 7 * 9 q^2 < 2^31 q,
    // within montgomery_reduce's range; l - 1 reductions saved per coefficient.
    for (int r = 0; r < params.k; ++r) {
      for (int i = 0; i < n; ++i) {
        std::int64_t sum = 0;
        for (int s = 0; s < params.l; ++s) sum += static_cast<std::int64_t>(a.row[r].p[s].c[i]) * v.p[s].c[i];
        w.p[r].c[i] = reduce32(montgomery_reduce(sum));
      }
    }
    return;
  }
  // AVX2: the same lazy reduction, eight coefficients at a time (identical output).
  for (int r = 0; r < params.k; ++r) inner_product_montgomery_avx2(w.p[r], a.row[r].p.data(), v.p.data(), params.l);
}

}  // namespace kestrel::crypto::mldsa::detail
