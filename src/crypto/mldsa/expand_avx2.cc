// ExpandA and ExpandS of key generation (FIPS 204 Algorithm 6 lines 3-4:
// Algorithms 32 and 33) on eight Keccak lanes, for machines with AVX2
// (compiled with -mavx2, called only when use_avx2()).
//
// Every XOF here has a one-block input of a known shape (rho || s || r, 34
// bytes; rho' || r, 66 bytes) and a fixed first squeeze (RejNTTPoly five
// SHAKE128 blocks, RejBoundedPoly two SHAKE256 blocks, as in expand_a and
// expand_a_s), so instead of run_jobs_x4's general byte-level sponge
// bookkeeping and output buffers, this driver writes each lane's padded input
// as words, and after every eight-lane permutation transposes the output
// blocks into one small, L1-resident buffer per lane and parses them straight
// into the polynomials. Jobs are spread over the lanes longest first, each to
// the least loaded lane (as run_jobs_x4 does), which depends only on k and l.
//
// Constant time: the schedule and the matrix side are public (rho is in the
// public key); rho' enters the lanes through stores only, and the ExpandS
// blocks go through rej_bounded_fill_avx2, which declassifies only accept bits
// (section 3.6.3 of FIPS 204 lets them leak).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/mldsa/polyvec.h"

namespace kestrel::crypto::mldsa::detail {

namespace {

constexpr unsigned lane_total = 8;
constexpr int matrix_blocks = 5;  // RejNTTPoly's first squeeze: 280 candidates (~1 - 2^-75 suffice)
constexpr int small_blocks = 2;   // RejBoundedPoly's: 544 candidates
constexpr int jobs_max = k_max * l_max + k_max + l_max;
// Six 4 x 4 transposes of 64-bit words per lane: the 21 (SHAKE128) or 17
// (SHAKE256) rate words and capacity words after them, which the parsers may
// read (their vector loads run past the last candidate) but never parse.
constexpr std::size_t block_words = 24;
constexpr std::size_t block_bytes = 8 * block_words;
static_assert(block_words >= keccak::shake128_rate / 8 + 1 && block_words < keccak::lane_count);

std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);  // x86-64 is little-endian, as FIPS 202's lane order
  return v;
}

// Lane j of the eight is instance j % 4 of states[j / 4].
std::uint64_t& word(std::array<keccak::StateX4, 2>& states, unsigned lane, std::size_t i) {
  return states[lane / 4].lanes[4 * i + lane % 4];
}

// A fresh sponge in `lane` that absorbed `words` input words and one more
// partial word `tail` (the last input bytes with the SHAKE domain bits after
// them), padded for `rate` bytes (pad10*1, FIPS 202 Algorithm 9 and B.2).
void start_lane(std::array<keccak::StateX4, 2>& states, unsigned lane, const std::uint8_t* input,
                std::size_t words, std::uint64_t tail, std::size_t rate) {
  for (std::size_t i = 0; i < words; ++i) word(states, lane, i) = load_le64(input + 8 * i);
  word(states, lane, words) = tail;
  for (std::size_t i = words + 1; i < keccak::lane_count; ++i) word(states, lane, i) = 0;
  word(states, lane, rate / 8 - 1) ^= std::uint64_t{0x80} << 56;
}

// The first block_words words of each of the four instances of state, to
// out[0..3] (4 x 4 transposes).
void transpose_blocks(const keccak::StateX4& state, std::uint8_t (*out)[block_bytes]) {
  const auto* v = reinterpret_cast<const __m256i*>(state.lanes.data());
#pragma GCC unroll 6
  for (std::size_t w = 0; w < block_words; w += 4) {
    const __m256i r0 = _mm256_load_si256(v + w), r1 = _mm256_load_si256(v + w + 1);
    const __m256i r2 = _mm256_load_si256(v + w + 2), r3 = _mm256_load_si256(v + w + 3);
    const __m256i t0 = _mm256_unpacklo_epi64(r0, r1), t1 = _mm256_unpackhi_epi64(r0, r1);
    const __m256i t2 = _mm256_unpacklo_epi64(r2, r3), t3 = _mm256_unpackhi_epi64(r2, r3);
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[0] + 8 * w), _mm256_permute2x128_si256(t0, t2, 0x20));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[1] + 8 * w), _mm256_permute2x128_si256(t1, t3, 0x20));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[2] + 8 * w), _mm256_permute2x128_si256(t0, t2, 0x31));
    _mm256_store_si256(reinterpret_cast<__m256i*>(out[3] + 8 * w), _mm256_permute2x128_si256(t1, t3, 0x31));
  }
}

// What each lane does at each step: the job (matrix entry k' = r * l + s for
// job < k * l, then ExpandS index r) and which of its output blocks this
// step's permutation makes, or job -1 (idle lane: permuted, never read).
struct LaneStep {
  std::int8_t job = -1;
  std::int8_t block = 0;
};
constexpr int steps_max = (k_max * l_max * matrix_blocks + (k_max + l_max) * small_blocks + lane_total - 1) / lane_total + matrix_blocks;
struct Schedule {
  std::array<std::array<LaneStep, lane_total>, steps_max> at{};
  int steps = 0;
};

// Jobs longest first (matrix, then ExpandS), each to the least loaded lane
// (LPT, as run_jobs_x4); depends only on k and l, so it is built at compile time.
constexpr Schedule make_schedule(int k, int l) {
  Schedule schedule;
  std::array<int, lane_total> load{};
  for (int job = 0; job < k * l + k + l; ++job) {
    unsigned lane = 0;
    for (unsigned j = 1; j < lane_total; ++j) lane = load[j] < load[lane] ? j : lane;
    const int blocks = job < k * l ? matrix_blocks : small_blocks;
    for (int b = 0; b < blocks; ++b) {
      schedule.at[static_cast<std::size_t>(load[lane] + b)][lane] = {static_cast<std::int8_t>(job), static_cast<std::int8_t>(b)};
    }
    load[lane] += blocks;
    schedule.steps = std::max(schedule.steps, load[lane]);
  }
  return schedule;
}
constexpr Schedule schedules[] = {make_schedule(ml_dsa_44_params.k, ml_dsa_44_params.l),
                                  make_schedule(ml_dsa_65_params.k, ml_dsa_65_params.l),
                                  make_schedule(ml_dsa_87_params.k, ml_dsa_87_params.l)};
static_assert(schedules[0].steps == 12 && schedules[1].steps == 22 && schedules[2].steps == 39);
static_assert(schedules[2].steps <= steps_max);

const Schedule& schedule_for(const Params& params) {
  switch (params.set) {
    case ParameterSet::ml_dsa_44: return schedules[0];
    case ParameterSet::ml_dsa_65: return schedules[1];
    case ParameterSet::ml_dsa_87: return schedules[2];
  }
  KESTREL_ASSERT(false);
  return schedules[1];
}

}  // namespace

void expand_a_s_avx2(Matrix& a, PolyVecL& s1, PolyVecK& s2, const Params& params,
                     std::span<const std::uint8_t, seed_bytes> rho,
                     std::span<const std::uint8_t, rho_prime_bytes> rho_prime) {
  const int matrix = params.k * params.l;
  const int total = matrix + params.k + params.l;
  KESTREL_ASSERT(total <= jobs_max);
  const Schedule& schedule = schedule_for(params);
  auto target = [&](int job) -> Poly& {
    if (job < matrix) return a.row[job / params.l].p[job % params.l];
    const int r = job - matrix;
    return r < params.l ? s1.p[r] : s2.p[r - params.l];
  };
  alignas(32) std::array<keccak::StateX4, 2> states;
  alignas(32) std::uint8_t blocks[lane_total][block_bytes];
  std::array<int, lane_total> count{};        // coefficients accepted for the lane's current job
  std::array<Poly*, lane_total> out_of{};     // the polynomial the lane's current job fills
  const std::uint64_t tail_domain = std::uint64_t{keccak::shake_domain} << 16;
  for (int step = 0; step < schedule.steps; ++step) {
    const auto& lanes = schedule.at[static_cast<std::size_t>(step)];
    bool second_busy = false;
    for (unsigned j = 0; j < lane_total; ++j) {
      const int job = lanes[j].job;
      if (job < 0) continue;
      second_busy = second_busy || j >= 4;
      if (lanes[j].block != 0) continue;
      if (job < matrix) {
        // rho || IntegerToBytes(s, 1) || IntegerToBytes(r, 1) (Algorithm 32 line 3).
        const auto s = static_cast<std::uint64_t>(job % params.l), r = static_cast<std::uint64_t>(job / params.l);
        start_lane(states, j, rho.data(), seed_bytes / 8, s | r << 8 | tail_domain, keccak::shake128_rate);
      } else {
        // rho' || IntegerToBytes(r, 2) (Algorithm 33 lines 2 and 5).
        const auto r = static_cast<std::uint64_t>(job - matrix);
        start_lane(states, j, rho_prime.data(), rho_prime_bytes / 8, r | tail_domain, keccak::shake256_rate);
      }
      count[j] = 0;
      out_of[j] = &target(job);
    }
    if (second_busy) {
      keccak::permute_x8(states[0], states[1]);
    } else {
      keccak::permute_x4(states[0]);
    }
    transpose_blocks(states[0], &blocks[0]);
    if (second_busy) transpose_blocks(states[1], &blocks[4]);
    for (unsigned j = 0; j < lane_total; ++j) {
      const int job = lanes[j].job;
      if (job < 0) continue;
      Poly& out = *out_of[j];
      int last_block;
      if (job < matrix) {
        count[j] = rej_ntt_fill_avx2(out, count[j], blocks[j], keccak::shake128_rate, block_bytes);
        last_block = matrix_blocks - 1;
      } else {
        count[j] = rej_bounded_fill_avx2(out, count[j], blocks[j], keccak::shake256_rate, block_bytes, params.eta);
        last_block = small_blocks - 1;
      }
      if (lanes[j].block < last_block || count[j] == n) continue;
      // Rare (matrix ~2^-75, ExpandS with eta = 4 ~1e-5; the decision is an
      // accept count, which may leak): the streaming sampler recomputes the
      // polynomial with as many blocks as it needs.
      if (job < matrix) {
        std::array<std::uint8_t, seed_bytes + 2> seed;
        std::copy(rho.begin(), rho.end(), seed.begin());
        seed[seed_bytes] = static_cast<std::uint8_t>(job % params.l);
        seed[seed_bytes + 1] = static_cast<std::uint8_t>(job / params.l);
        poly_rej_ntt(out, seed);
      } else {
        std::array<std::uint8_t, rho_prime_bytes + 2> seed;
        std::copy(rho_prime.begin(), rho_prime.end(), seed.begin());
        seed[rho_prime_bytes] = static_cast<std::uint8_t>(job - matrix);
        seed[rho_prime_bytes + 1] = 0;
        poly_rej_bounded(out, seed, params.eta);
        secure_zero(seed);
      }
    }
  }
  // The ExpandS lanes and blocks are secret (derived from rho').
  secure_zero(states.data(), sizeof states);
  secure_zero(&blocks[0][0], sizeof blocks);
}

}  // namespace kestrel::crypto::mldsa::detail
