// The AVX2 samplers of FIPS 204 section 7.3 (compiled with -mavx2, called
// only when use_avx2()):
//  - rej_ntt_fill_avx2 / rej_bounded_fill_avx2: the candidate parsers of
//    RejNTTPoly and RejBoundedPoly (Algorithms 30 and 31), eight candidates
//    per step;
//  - expand_a_s_avx2: ExpandA and ExpandS of key generation (Algorithm 6
//    lines 3-4, Algorithms 32 and 33) on eight Keccak lanes.
//
// Every XOF of expand_a_s_avx2 has a one-block input of a known shape (rho || s
// || r, 34 bytes; rho' || r, 66 bytes) and a fixed first squeeze (RejNTTPoly
// five SHAKE128 blocks, RejBoundedPoly two SHAKE256 blocks, as in expand_a and
// expand_s), so instead of run_jobs_x4's general byte-level sponge bookkeeping
// and output buffers, the driver writes each lane's padded input as words, and
// after every eight-lane permutation transposes the output blocks into one
// small, L1-resident buffer per lane and parses them straight into the
// polynomials (the parsers inlined). Jobs start in the order their results are
// needed, each in the first free lane; in key generation the rows of t are
// computed as their inputs complete and tr = H(pk) runs in a free lane as the
// rows of t1 land in pk (polyvec.h KeyGenRows). The schedule depends only on k
// and l: a lane step per output block, the same for every key.
//
// Constant time: the schedule and the matrix side are public (rho is in the
// public key); rho' enters the lanes through stores only, and the ExpandS
// blocks go through the RejBoundedPoly parser, which declassifies only accept
// bits (section 3.6.3 of FIPS 204 lets them leak).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/mldsa/polyvec.h"

namespace kestrel::crypto::mldsa::detail {

// --- Rejection samplers (FIPS 204 Algorithms 30 and 31, section 7.3) ---------------
//
// Both parse eight candidates at a time: compute the eight values and an 8-bit
// accept mask, then move the accepted values to the front of the register with
// one permutevar8x32 whose index vector is looked up by the mask, and store
// them at the current count. The full-register store writes up to seven lanes
// past the accepted ones, so the vector step runs only while count <= n - 8;
// the last few coefficients go one at a time.

namespace {

// compress_indices[m] lists the set bits of m in increasing order (8 one-byte
// lane indices, the unused tail 0), computed at compile time.
constexpr std::array<std::uint64_t, 256> make_compress_indices() {
  std::array<std::uint64_t, 256> table{};
  for (unsigned m = 0; m < 256; ++m) {
    unsigned slot = 0;
    for (unsigned lane = 0; lane < 8; ++lane) {
      if ((m >> lane) & 1) table[m] |= static_cast<std::uint64_t>(lane) << (8 * slot++);
    }
  }
  return table;
}
constexpr std::array<std::uint64_t, 256> compress_indices = make_compress_indices();

// Stores the lanes of values selected by mask (public) contiguously at out.
// REQUIRES: out has room for 8 int32 values.
inline int compress_store(std::int32_t* out, __m256i values, unsigned mask) {
  const __m256i index =
      _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(compress_indices[mask])));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(values, index));
  return __builtin_popcount(mask);
}

}  // namespace

namespace {

[[gnu::always_inline]] inline int rej_ntt_parse(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes,
                                               std::size_t readable) {
  KESTREL_DEBUG_ASSERT(readable >= bytes);
  // Candidate i (Algorithm 14 CoeffFromThreeBytes) is bytes 3i..3i+2, top bit
  // cleared. permute4x64 puts bytes 0-15 in the low half and 8-23 in the high
  // half, so each 128-bit shuffle reaches its four 3-byte groups.
  const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,  //
                                          4, 5, 6, -1, 7, 8, 9, -1, 10, 11, 12, -1, 13, 14, 15, -1);
  const __m256i low23 = _mm256_set1_epi32(0x7fffff);
  const __m256i q_vector = _mm256_set1_epi32(q);
  std::size_t pos = 0;
  // The 32-byte load reads 8 bytes past the 24 it parses: stay inside
  // buf[0, readable).
  for (; pos + 24 <= bytes && pos + 32 <= readable && count <= n - 8; pos += 24) {
    __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + pos));
    x = _mm256_permute4x64_epi64(x, 0x94);  // qwords 0, 1, 1, 2
    x = _mm256_and_si256(_mm256_shuffle_epi8(x, spread), low23);
    const auto accept = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(q_vector, x))));
    count += compress_store(&a.c[static_cast<std::size_t>(count)], x, accept);  // public data (rho)
  }
  for (; pos + 3 <= bytes && count < n; pos += 3) {
    const std::uint32_t z = static_cast<std::uint32_t>(buf[pos]) | (static_cast<std::uint32_t>(buf[pos + 1]) << 8) |
                            (static_cast<std::uint32_t>(buf[pos + 2] & 0x7f) << 16);
    a.c[static_cast<std::size_t>(count)] = static_cast<std::int32_t>(z);
    count += z < static_cast<std::uint32_t>(q) ? 1 : 0;
  }
  return count;
}

[[gnu::always_inline]] inline int rej_bounded_parse(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes,
                                                   std::size_t readable, int eta) {
  KESTREL_DEBUG_ASSERT(readable >= bytes);
  // Pass 1, branch-free on secret nibbles: 64 candidates per 32 input bytes
  // (low nibble first, Algorithm 31 lines 5-12) as bytes; the value of each
  // nibble by one table shuffle (eta = 2: 2 - (b mod 5); eta = 4: 4 - b) and
  // its accept bit by one byte compare (b < 15, b < 9).
  constexpr std::size_t bytes_max = 2 * 136;  // two SHAKE256 blocks
  KESTREL_ASSERT(bytes % 4 == 0 && bytes <= bytes_max);
  constexpr std::size_t groups_max = (bytes_max + 31) / 32;
  const std::size_t groups = (bytes + 31) / 32;
  alignas(32) std::array<std::int8_t, 64 * groups_max> values;
  std::array<std::uint64_t, groups_max> accepted;
  const __m256i table = eta == 2 ? _mm256_setr_epi8(2, 1, 0, -1, -2, 2, 1, 0, -1, -2, 2, 1, 0, -1, -2, 0,  //
                                                    2, 1, 0, -1, -2, 2, 1, 0, -1, -2, 2, 1, 0, -1, -2, 0)
                                 : _mm256_setr_epi8(4, 3, 2, 1, 0, -1, -2, -3, -4, 0, 0, 0, 0, 0, 0, 0,  //
                                                    4, 3, 2, 1, 0, -1, -2, -3, -4, 0, 0, 0, 0, 0, 0, 0);
  const __m256i bound = _mm256_set1_epi8(static_cast<char>(eta == 2 ? 15 : 9));
  const __m256i nibble = _mm256_set1_epi8(15);
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t available = std::min<std::size_t>(32, bytes - 32 * g);
    __m256i x;
    if (32 * g + 32 <= readable) {  // candidates past `available` are masked off below
      x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(buf + 32 * g));
    } else {  // the last, partial group through a zero-padded copy
      alignas(32) std::array<std::uint8_t, 32> padded{};
      std::memcpy(padded.data(), buf + 32 * g, available);
      x = _mm256_load_si256(reinterpret_cast<const __m256i*>(padded.data()));
      secure_zero(padded.data(), padded.size());
    }
    const __m256i low = _mm256_and_si256(x, nibble);
    const __m256i high = _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble);
    // Interleave per 128-bit half, then put the halves in input order:
    // candidates 64g + [0, 32) in first, 64g + [32, 64) in second.
    const __m256i mixed_low = _mm256_unpacklo_epi8(low, high);
    const __m256i mixed_high = _mm256_unpackhi_epi8(low, high);
    const __m256i first = _mm256_permute2x128_si256(mixed_low, mixed_high, 0x20);
    const __m256i second = _mm256_permute2x128_si256(mixed_low, mixed_high, 0x31);
    _mm256_store_si256(reinterpret_cast<__m256i*>(&values[64 * g]), _mm256_shuffle_epi8(table, first));
    _mm256_store_si256(reinterpret_cast<__m256i*>(&values[64 * g + 32]), _mm256_shuffle_epi8(table, second));
    std::uint64_t mask = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpgt_epi8(bound, first)));
    mask |= static_cast<std::uint64_t>(static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpgt_epi8(bound, second))))
            << 32;
    if (available < 32) mask &= (std::uint64_t{1} << (2 * available)) - 1;  // no candidates from the padding
    accepted[g] = mask;
  }
  // FIPS 204 lets each candidate's accept bit leak (rejected nibbles are
  // independent of the accepted coefficients): declassify them, all at once.
  ct_declassify(accepted.data(), groups * sizeof(std::uint64_t));
  // Pass 2: compaction driven by the public masks, eight candidates at a time
  // while a full 8-lane store fits (count <= n - 8), then one at a time.
  std::size_t step = 0;  // eight-candidate steps done
  for (std::size_t g = 0; g < groups && count <= n - 8; ++g) {
    std::uint64_t mask = accepted[g];
    const std::int8_t* v = &values[64 * g];
    for (unsigned sub = 0; sub < 8 && count <= n - 8; ++sub, ++step, v += 8, mask >>= 8) {
      const __m256i wide = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(v)));
      count += compress_store(&a.c[static_cast<std::size_t>(count)], wide, static_cast<unsigned>(mask & 0xff));
    }
  }
  for (std::size_t i = 8 * step; i < 64 * groups && count < n; ++i) {
    a.c[static_cast<std::size_t>(count)] = values[i];
    count += static_cast<int>((accepted[i / 64] >> (i % 64)) & 1);
  }
  secure_zero(values.data(), 64 * groups);
  return count;
}

}  // namespace

int rej_ntt_fill_avx2(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes) {
  return rej_ntt_parse(a, count, buf, bytes, bytes);
}
int rej_bounded_fill_avx2(Poly& a, int count, const std::uint8_t* buf, std::size_t bytes, int eta) {
  return rej_bounded_parse(a, count, buf, bytes, bytes, eta);
}

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

// The eight lanes of the batch: which job each runs (or none), and its progress.
struct Lanes {
  alignas(32) std::array<keccak::StateX4, 2> states;
  std::array<int, lane_total> job;     // index into the job list, -1 when idle
  std::array<int, lane_total> done;    // blocks squeezed for the job
  std::array<int, lane_total> count;   // coefficients accepted for the job
  std::array<Poly*, lane_total> out;   // the polynomial the job fills
  Lanes() { job.fill(-1); }
  int busy() const { return static_cast<int>(std::count_if(job.begin(), job.end(), [](int x) { return x >= 0; })); }
};

// Moves lane `from` (state and progress) to the idle lane `to`.
void move_lane(Lanes& lanes, unsigned from, unsigned to) {
  for (std::size_t i = 0; i < keccak::lane_count; ++i) word(lanes.states, to, i) = word(lanes.states, from, i);
  lanes.job[to] = lanes.job[from];
  lanes.done[to] = lanes.done[from];
  lanes.count[to] = lanes.count[from];
  lanes.out[to] = lanes.out[from];
  lanes.job[from] = -1;
}

// tr = H(pk, 64) (Algorithm 6 line 9) absorbed block by block as the rows of
// t1 land in pk. Public data.
struct PublicKeyHash {
  keccak::State state;
  int blocks_done = 0;
  int blocks = 0;           // padded SHAKE256 blocks of pk
  std::size_t bytes = 0;    // pk length
  // XORs block blocks_done of pk into the state (with pad10*1 and the domain
  // bits in the last one, FIPS 202 Algorithm 9 and B.2).
  void absorb_next(const std::uint8_t* pk) {
    constexpr std::size_t rate = keccak::shake256_rate;
    const std::size_t offset = rate * static_cast<std::size_t>(blocks_done);
    const std::size_t length = std::min(rate, bytes - offset);
    std::size_t i = 0;
    for (; 8 * i + 8 <= length; ++i) state.a[i] ^= load_le64(pk + offset + 8 * i);
    if (blocks_done + 1 < blocks) return;
    std::uint8_t last[8] = {};
    std::memcpy(last, pk + offset + 8 * i, length - 8 * i);
    last[length - 8 * i] ^= keccak::shake_domain;
    state.a[i] ^= load_le64(last);
    state.a[rate / 8 - 1] ^= std::uint64_t{0x80} << 56;
  }
};

}  // namespace

void expand_a_s_avx2(Matrix& a, PolyVecL& s1, PolyVecK& s2, const Params& params,
                     std::span<const std::uint8_t, seed_bytes> rho,
                     std::span<const std::uint8_t, rho_prime_bytes> rho_prime, const KeyGenRows* rows) {
  const int k = params.k, l = params.l;
  // Jobs in the order their results are needed: ExpandS for s1 (all rows of t
  // need NTT(s1)), then row by row the l matrix entries and s2[r]. Job j < l
  // is s1[j]; then row r is jobs l + r (l + 1) + [0, l) (A[r][s]) and
  // l + r (l + 1) + l (s2[r]).
  const int jobs = l + k * (l + 1);
  KESTREL_ASSERT(jobs <= jobs_max);
  auto is_matrix = [&](int job) { return job >= l && (job - l) % (l + 1) < l; };
  auto row_of = [&](int job) { return (job - l) / (l + 1); };
  Lanes lanes;
  alignas(32) std::uint8_t blocks[lane_total][block_bytes];
  const std::uint64_t tail_domain = std::uint64_t{keccak::shake_domain} << 16;
  auto start = [&](unsigned j, int job) {
    lanes.job[j] = job;
    lanes.done[j] = 0;
    lanes.count[j] = 0;
    if (job < l) {
      // rho' || IntegerToBytes(r, 2) (Algorithm 33 lines 2 and 5).
      start_lane(lanes.states, j, rho_prime.data(), rho_prime_bytes / 8, static_cast<std::uint64_t>(job) | tail_domain,
                 keccak::shake256_rate);
      lanes.out[j] = &s1.p[job];
      return;
    }
    const int r = row_of(job), s = (job - l) % (l + 1);
    if (s < l) {
      // rho || IntegerToBytes(s, 1) || IntegerToBytes(r, 1) (Algorithm 32 line 3).
      start_lane(lanes.states, j, rho.data(), seed_bytes / 8,
                 static_cast<std::uint64_t>(s) | static_cast<std::uint64_t>(r) << 8 | tail_domain,
                 keccak::shake128_rate);
      lanes.out[j] = &a.row[r].p[s];
    } else {
      start_lane(lanes.states, j, rho_prime.data(), rho_prime_bytes / 8,
                 static_cast<std::uint64_t>(l + r) | tail_domain, keccak::shake256_rate);
      lanes.out[j] = &s2.p[r];
    }
  };
  // Called when the lane's job squeezed its last block: the streaming sampler
  // recomputes the polynomial in the rare case the first squeeze fell short
  // (matrix ~2^-75, ExpandS with eta = 4 ~1e-5; the decision is an accept
  // count, which may leak).
  auto finish = [&](unsigned j) {
    const int job = lanes.job[j];
    if (lanes.count[j] < n) {
      if (is_matrix(job)) {
        std::array<std::uint8_t, seed_bytes + 2> seed;
        std::copy(rho.begin(), rho.end(), seed.begin());
        seed[seed_bytes] = static_cast<std::uint8_t>((job - l) % (l + 1));
        seed[seed_bytes + 1] = static_cast<std::uint8_t>(row_of(job));
        poly_rej_ntt(*lanes.out[j], seed);
      } else {
        const int r = job < l ? job : l + row_of(job);
        std::array<std::uint8_t, rho_prime_bytes + 2> seed;
        std::copy(rho_prime.begin(), rho_prime.end(), seed.begin());
        seed[rho_prime_bytes] = static_cast<std::uint8_t>(r);
        seed[rho_prime_bytes + 1] = 0;
        poly_rej_bounded(*lanes.out[j], seed, params.eta);
        secure_zero(seed);
      }
    }
    lanes.job[j] = -1;
  };

  // Progress of the key generation continuation (rows != nullptr).
  int s1_left = l;
  std::array<int, k_max> row_left;
  row_left.fill(l + 1);
  bool s1_transformed = false;
  int rows_done = 0;  // rows of t1 packed into pk
  PublicKeyHash hash;
  if (rows != nullptr) {
    hash.bytes = params.public_key_bytes;
    KESTREL_ASSERT(hash.bytes == seed_bytes + 320 * static_cast<std::size_t>(k));  // FIPS 204 Table 2
    hash.blocks = static_cast<int>(hash.bytes / keccak::shake256_rate) + 1;
    std::copy(rho.begin(), rho.end(), rows->pk);  // pkEncode (Algorithm 22): rho first
  }
  // pkEncode: rho, then 320 bytes of t1 per row (all k rows: the whole key).
  auto pk_bytes_ready = [&]() -> std::size_t { return seed_bytes + 320 * static_cast<std::size_t>(rows_done); };

  int next_job = 0;
  while (next_job < jobs || lanes.busy() > 0 || hash.blocks_done < hash.blocks) {
    // The next H(pk) block runs this step if its bytes are in pk and a lane is
    // free for it (the lanes taken by unfinished jobs cannot be freed).
    const std::size_t block_end =
        std::min(keccak::shake256_rate * static_cast<std::size_t>(hash.blocks_done + 1), hash.bytes);
    bool hash_runs = hash.blocks_done < hash.blocks && pk_bytes_ready() >= block_end &&
                     lanes.busy() < static_cast<int>(lane_total);
    for (unsigned j = 0; j < lane_total && next_job < jobs; ++j) {
      if (lanes.job[j] < 0 && lanes.busy() + (hash_runs ? 1 : 0) < static_cast<int>(lane_total)) start(j, next_job++);
    }
    if (hash_runs) hash.absorb_next(rows->pk);
    const int busy = lanes.busy();
    if (busy == 0) {
      KESTREL_ASSERT(hash_runs);  // every row is in pk once every job is done
      keccak::permute(hash.state);  // only the hash is left: one scalar permutation
    } else {
      // Everything into the first four lanes when it fits (one four-lane
      // permutation instead of eight): move jobs from the second half down.
      const int total = busy + (hash_runs ? 1 : 0);
      if (total <= 4) {
        unsigned free_low = 0;
        for (unsigned j = 4; j < lane_total; ++j) {
          if (lanes.job[j] < 0) continue;
          while (lanes.job[free_low] >= 0) ++free_low;
          move_lane(lanes, j, free_low);
        }
      }
      unsigned hash_lane = lane_total;
      if (hash_runs) {
        hash_lane = 0;
        while (lanes.job[hash_lane] >= 0) ++hash_lane;
        for (std::size_t i = 0; i < keccak::lane_count; ++i) word(lanes.states, hash_lane, i) = hash.state.a[i];
      }
      bool second_busy = hash_lane >= 4 && hash_lane < lane_total;
      for (unsigned j = 4; j < lane_total; ++j) second_busy = second_busy || lanes.job[j] >= 0;
      if (second_busy) {
        keccak::permute_x8(lanes.states[0], lanes.states[1]);
      } else {
        keccak::permute_x4(lanes.states[0]);
      }
      if (hash_runs) {
        for (std::size_t i = 0; i < keccak::lane_count; ++i) hash.state.a[i] = word(lanes.states, hash_lane, i);
      }
      transpose_blocks(lanes.states[0], &blocks[0]);
      if (second_busy) transpose_blocks(lanes.states[1], &blocks[4]);
      for (unsigned j = 0; j < lane_total; ++j) {
        const int job = lanes.job[j];
        if (job < 0) continue;
        Poly& out = *lanes.out[j];
        int blocks_needed;
        if (is_matrix(job)) {
          lanes.count[j] = rej_ntt_parse(out, lanes.count[j], blocks[j], keccak::shake128_rate, block_bytes);
          blocks_needed = matrix_blocks;
        } else {
          lanes.count[j] = rej_bounded_parse(out, lanes.count[j], blocks[j], keccak::shake256_rate, block_bytes, params.eta);
          blocks_needed = small_blocks;
        }
        if (++lanes.done[j] < blocks_needed) continue;
        finish(j);
        if (job < l) {
          --s1_left;
        } else {
          --row_left[static_cast<std::size_t>(row_of(job))];
        }
      }
    }
    if (hash_runs) ++hash.blocks_done;
    if (rows == nullptr) continue;
    // Algorithm 6 lines 5-6 for every row whose inputs are complete, in order:
    // t[r] = NTT^-1(A-hat[r] o NTT(s1)) + s2[r], Power2Round, and t1[r] into pk.
    if (s1_left == 0 && !s1_transformed) {
      for (int i = 0; i < l; ++i) rows->s1_hat.p[i] = s1.p[i];
      vec_ntt(rows->s1_hat, l);
      s1_transformed = true;
    }
    while (s1_transformed && rows_done < k && row_left[static_cast<std::size_t>(rows_done)] == 0) {
      const int r = rows_done++;
      inner_product_montgomery_avx2(rows->t.p[r], a.row[r].p.data(), rows->s1_hat.p.data(), l);
      inverse_ntt_to_montgomery(rows->t.p[r]);
      poly_power2round_sum(rows->t1.p[r], rows->t0.p[r], rows->t.p[r], s2.p[r]);
      pack_simple(rows->pk + seed_bytes + 320 * r, rows->t1.p[r], 10);  // pkEncode
    }
  }
  KESTREL_ASSERT(next_job == jobs && rows_done == (rows != nullptr ? k : 0));
  if (rows != nullptr) {
    for (std::size_t i = 0; i < tr_bytes / 8; ++i) std::memcpy(rows->tr.data() + 8 * i, &hash.state.a[i], 8);
  }
  // The ExpandS lanes and blocks are secret (derived from rho').
  secure_zero(lanes.states.data(), sizeof lanes.states);
  secure_zero(&blocks[0][0], sizeof blocks);
}

}  // namespace kestrel::crypto::mldsa::detail
