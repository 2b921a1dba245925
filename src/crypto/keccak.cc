#include "crypto/keccak.h"

#include <algorithm>
#include <cstring>

#include "common/assert.h"
#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/ct.h"
#include "crypto/keccak_rounds.h"

namespace kestrel::crypto::keccak {

namespace detail {
// keccak_avx2.cc: four permutations at once on interleaved lanes; and the
// scalar permutation compiled with BMI1/BMI2 (ANDN, RORX).
void permute_x4_avx2(StateX4& state);
// Two StateX4 at once, rounds interleaved (eight instances).
void permute_x8_avx2(StateX4& first, StateX4& second);
// keccak_avx512.cc: the same with AVX-512F/VL (x8 on 512-bit registers).
void permute_x4_avx512(StateX4& state);
void permute_x8_avx512(StateX4& first, StateX4& second);
void permute_bmi2(State& state);
// Stores words [0, words) of state j to out[j] for each j with out[j] != null.
void store_words_x4_avx2(const StateX4& state, std::size_t words, std::uint8_t* const out[4]);
}  // namespace detail

namespace {

std::uint64_t load_le64(const std::uint8_t* p) {
  std::uint64_t v;
  std::memcpy(&v, p, 8);  // x86-64 is little-endian, as FIPS 202's lane order
  return v;
}

void store_le64(std::uint8_t* p, std::uint64_t v) { std::memcpy(p, &v, 8); }

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "lane loads assume little-endian");

// XORs `length` bytes into the state starting at byte `offset`.
void xor_bytes(State& s, std::size_t offset, const std::uint8_t* data, std::size_t length) {
  auto* bytes = reinterpret_cast<std::uint8_t*>(s.a.data());
  for (std::size_t i = 0; i < length; ++i) bytes[offset + i] ^= data[i];
}

}  // namespace

namespace {
// The BMI2 build of the same round runs on the machines that take the AVX2
// paths (every AVX2 CPU has BMI2 except a few VIA parts, hence both checks),
// under the same gate so that turning crypto.avx2 off gives the portable code.
bool use_avx2_machine_code() {
  const CpuFeatures& cpu = cpu_features();
  return cpu.avx2 && cpu.bmi2 && gate_enabled(Gate::crypto_avx2);
}
// AVX-512F and VL with the OS saving the ZMM and opmask state (libgcc's
// __builtin_cpu_supports checks XCR0 for AVX-512), on top of the AVX2 set,
// and both gates on.
bool cpu_has_avx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  return has;
}
bool use_avx512_machine_code() {
  return use_avx2_machine_code() && cpu_has_avx512() && gate_enabled(Gate::crypto_avx512);
}
}  // namespace

void permute(State& state) {
  if (use_avx2_machine_code()) {
    detail::permute_bmi2(state);
    return;
  }
  detail::permute_lanes_complemented<std::uint64_t, detail::ScalarOps>(state.a.data());
}

void permute_x4_portable(StateX4& state) {
  for (unsigned j = 0; j < 4; ++j) {
    State s;
    for (unsigned i = 0; i < lane_count; ++i) s.a[i] = state.lanes[4 * i + j];
    permute(s);
    for (unsigned i = 0; i < lane_count; ++i) state.lanes[4 * i + j] = s.a[i];
  }
}

void permute_x4(StateX4& state) {
  if (use_avx512_machine_code()) {
    detail::permute_x4_avx512(state);
  } else if (cpu_features().avx2 && gate_enabled(Gate::crypto_avx2)) {
    detail::permute_x4_avx2(state);
  } else {
    permute_x4_portable(state);
  }
}

// --- Sponge ------------------------------------------------------------------------

Sponge::~Sponge() { secure_zero(&state_, sizeof state_); }

ShakeX4::~ShakeX4() { secure_zero(&state_, sizeof state_); }

Sponge::Sponge(std::size_t rate_bytes, std::uint8_t domain) : rate_(rate_bytes), domain_(domain) {
  KESTREL_ASSERT(rate_bytes > 0 && rate_bytes < 200 && rate_bytes % 8 == 0);
}

void Sponge::reset() {
  state_ = State{};
  position_ = 0;
  squeezing_ = false;
}

void Sponge::absorb(std::span<const std::uint8_t> data) {
  KESTREL_ASSERT(!squeezing_);
  const std::uint8_t* p = data.data();
  std::size_t left = data.size();
  // Finish a partial block.
  if (position_ != 0) {
    const std::size_t take = std::min(left, rate_ - position_);
    xor_bytes(state_, position_, p, take);
    position_ += take;
    p += take;
    left -= take;
    if (position_ < rate_) return;
    permute(state_);
    position_ = 0;
  }
  // Whole blocks, a lane at a time.
  while (left >= rate_) {
    for (std::size_t i = 0; i < rate_ / 8; ++i) state_.a[i] ^= load_le64(p + 8 * i);
    permute(state_);
    p += rate_;
    left -= rate_;
  }
  xor_bytes(state_, 0, p, left);
  position_ = left;
}

void Sponge::pad() {
  // pad10*1 with the domain bits in front (FIPS 202 Algorithm 9 and section B.2).
  auto* bytes = reinterpret_cast<std::uint8_t*>(state_.a.data());
  bytes[position_] ^= domain_;
  bytes[rate_ - 1] ^= 0x80;
  permute(state_);
  position_ = 0;
  squeezing_ = true;
}

void Sponge::squeeze(std::span<std::uint8_t> out) {
  if (!squeezing_) pad();
  auto* bytes = reinterpret_cast<const std::uint8_t*>(state_.a.data());
  std::uint8_t* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    if (position_ == rate_) {
      permute(state_);
      position_ = 0;
    }
    const std::size_t take = std::min(left, rate_ - position_);
    std::memcpy(p, bytes + position_, take);
    position_ += take;
    p += take;
    left -= take;
  }
}

void Sponge::squeeze_blocks(std::uint8_t* out, std::size_t blocks) {
  if (!squeezing_) pad();
  // After pad() position_ is 0 with a fresh block ready; after whole blocks it is rate_.
  KESTREL_ASSERT(position_ == 0 || position_ == rate_);
  for (std::size_t b = 0; b < blocks; ++b) {
    if (position_ == rate_) permute(state_);
    for (std::size_t i = 0; i < rate_ / 8; ++i) store_le64(out + 8 * i, state_.a[i]);
    position_ = rate_;
    out += rate_;
  }
}

// --- One-shot functions -------------------------------------------------------------

namespace {
void hash_once(std::size_t rate, std::uint8_t domain, std::span<std::uint8_t> out,
               std::span<const std::uint8_t> in) {
  Sponge sponge(rate, domain);
  sponge.absorb(in);
  sponge.squeeze(out);
}
}  // namespace

void sha3_224(std::span<std::uint8_t, 28> out, std::span<const std::uint8_t> in) {
  hash_once(sha3_224_rate, sha3_domain, out, in);
}
void sha3_256(std::span<std::uint8_t, 32> out, std::span<const std::uint8_t> in) {
  hash_once(sha3_256_rate, sha3_domain, out, in);
}
void sha3_384(std::span<std::uint8_t, 48> out, std::span<const std::uint8_t> in) {
  hash_once(sha3_384_rate, sha3_domain, out, in);
}
void sha3_512(std::span<std::uint8_t, 64> out, std::span<const std::uint8_t> in) {
  hash_once(sha3_512_rate, sha3_domain, out, in);
}
void shake128(std::span<std::uint8_t> out, std::span<const std::uint8_t> in) {
  hash_once(shake128_rate, shake_domain, out, in);
}
void shake256(std::span<std::uint8_t> out, std::span<const std::uint8_t> in) {
  hash_once(shake256_rate, shake_domain, out, in);
}

// --- Four-way SHAKE -------------------------------------------------------------------

void ShakeX4::absorb_once(std::array<std::span<const std::uint8_t>, 4> inputs) {
  const std::size_t length = inputs[0].size();
  for (const auto& in : inputs) KESTREL_ASSERT(in.size() == length);
  state_ = StateX4{};
  std::size_t offset = 0;
  while (length - offset >= rate_) {
    for (unsigned j = 0; j < 4; ++j)
      for (std::size_t i = 0; i < rate_ / 8; ++i)
        state_.lanes[4 * i + j] ^= load_le64(inputs[j].data() + offset + 8 * i);
    permute_x4(state_);
    offset += rate_;
  }
  const std::size_t tail = length - offset;
  for (unsigned j = 0; j < 4; ++j) {
    std::uint8_t block[200] = {};
    if (tail > 0) std::memcpy(block, inputs[j].data() + offset, tail);  // data() may be null when empty
    block[tail] ^= shake_domain;
    block[rate_ - 1] ^= 0x80;
    for (std::size_t i = 0; i < rate_ / 8; ++i) state_.lanes[4 * i + j] ^= load_le64(block + 8 * i);
  }
  // The first squeeze_blocks permutes: the state is padded, not yet squeezed.
}

void ShakeX4::squeeze_blocks(std::array<std::uint8_t*, 4> out, std::size_t blocks) {
  for (std::size_t b = 0; b < blocks; ++b) {
    permute_x4(state_);
    for (unsigned j = 0; j < 4; ++j)
      for (std::size_t i = 0; i < rate_ / 8; ++i)
        store_le64(out[j] + b * rate_ + 8 * i, state_.lanes[4 * i + j]);
  }
}

// --- Batches of independent hashes on the 4-way permutation ---------------------

namespace {

// Permutations a job needs: its padded input blocks, then one more per output
// block after the first (the first is read right after the last absorption).
std::size_t job_permutations(const XofJob& job) {
  const std::size_t absorb = job.input.size() / job.rate + 1;
  const std::size_t squeeze = job.out.empty() ? 1 : (job.out.size() + job.rate - 1) / job.rate;
  return absorb + squeeze - 1;
}

}  // namespace

namespace {

// LPT schedule of the jobs over `lanes` lanes: queue[lane] lists job indices in
// run order; returns the makespan (permutation steps).
struct Schedule {
  std::array<std::array<std::size_t, xof_jobs_max>, 8> queue;
  std::array<std::size_t, 8> queued{};
  std::size_t steps = 0;
};
void schedule_jobs(Schedule& schedule, unsigned lanes, std::size_t count,
                   const std::array<std::size_t, xof_jobs_max>& order,
                   const std::array<std::size_t, xof_jobs_max>& permutations) {
  std::array<std::size_t, 8> load{};
  for (std::size_t i = 0; i < count; ++i) {
    unsigned lane = 0;
    for (unsigned j = 1; j < lanes; ++j) lane = load[j] < load[lane] ? j : lane;
    schedule.queue[lane][schedule.queued[lane]++] = order[i];
    load[lane] += permutations[order[i]];
  }
  for (unsigned j = 0; j < lanes; ++j) schedule.steps = std::max(schedule.steps, load[j]);
}

}  // namespace

void run_jobs_x4(std::span<const XofJob> jobs) {
  const std::size_t count = jobs.size();
  KESTREL_ASSERT(count <= xof_jobs_max);
  std::array<std::size_t, xof_jobs_max> absorb, permutations, order;
  for (std::size_t i = 0; i < count; ++i) {
    KESTREL_ASSERT(jobs[i].rate > 0 && jobs[i].rate < 200 && jobs[i].rate % 8 == 0);
    absorb[i] = jobs[i].input.size() / jobs[i].rate + 1;
    permutations[i] = job_permutations(jobs[i]);
    // Longest job first (insertion sort: at most xof_jobs_max entries, stable).
    std::size_t k = i;
    for (; k > 0 && permutations[order[k - 1]] < permutations[i]; --k) order[k] = order[k - 1];
    order[k] = i;
  }
  // Each job to the least loaded lane (LPT scheduling), over four lanes (one
  // StateX4) or, on the AVX2 path, eight (two StateX4 permuted together by
  // permute_x8, which costs ~1.75 permute_x4 calls) when that finishes sooner.
  // With AVX-512 an eight-lane step (512-bit registers) costs about 1.45
  // four-lane ones (388 vs 270 ns in a loop on the build machine).
  const bool avx2 = use_avx2_machine_code();
  const bool avx512 = avx2 && use_avx512_machine_code();
  Schedule four, eight;
  schedule_jobs(four, 4, count, order, permutations);
  bool use_eight = false;
  if (avx2 && count > 4) {
    schedule_jobs(eight, 8, count, order, permutations);
    use_eight = avx512 ? 29 * eight.steps < 20 * four.steps : 7 * eight.steps < 4 * four.steps;
  }
  const Schedule& schedule = use_eight ? eight : four;
  const unsigned lanes = use_eight ? 8 : 4;

  std::array<StateX4, 2> states;
  // Lane j is instance j % 4 of states[j / 4].
  auto word = [&](unsigned j, std::size_t i) -> std::uint64_t& { return states[j / 4].lanes[4 * i + j % 4]; };
  std::array<std::size_t, 8> current{};  // index into queue[lane]
  std::array<std::size_t, 8> step{};     // permutations done for the current job
  for (std::size_t t = 0; t < schedule.steps; ++t) {
    bool second_busy = false;
    for (unsigned j = 0; j < lanes; ++j) {
      if (current[j] >= schedule.queued[j]) continue;  // idle lane: permuted, never read
      second_busy = second_busy || j >= 4;
      const std::size_t id = schedule.queue[j][current[j]];
      const XofJob& job = jobs[id];
      const std::size_t words = job.rate / 8;
      if (step[j] == 0) {
        for (std::size_t i = 0; i < lane_count; ++i) word(j, i) = 0;  // a fresh sponge
      }
      if (step[j] + 1 < absorb[id]) {
        const std::uint8_t* p = job.input.data() + step[j] * job.rate;
        for (std::size_t i = 0; i < words; ++i) word(j, i) ^= load_le64(p + 8 * i);
      } else if (step[j] + 1 == absorb[id]) {
        // Final block: the tail (whole words, then the last partial word), the
        // domain bits right after it and the final bit of pad10*1 (FIPS 202 B.2).
        const std::size_t offset = step[j] * job.rate;
        const std::size_t tail = job.input.size() - offset;
        const std::uint8_t* p = job.input.data() + offset;
        std::size_t i = 0;
        for (; 8 * i + 8 <= tail; ++i) word(j, i) ^= load_le64(p + 8 * i);
        std::uint8_t last[8] = {};
        if (tail > 8 * i) std::memcpy(last, p + 8 * i, tail - 8 * i);
        last[tail - 8 * i] ^= job.domain;
        word(j, i) ^= load_le64(last);
        word(j, words - 1) ^= std::uint64_t{0x80} << 56;
      }
    }
    if (!use_eight || !second_busy) {
      permute_x4(states[0]);  // the second state's lanes, if any, are all idle
    } else if (avx512) {
      detail::permute_x8_avx512(states[0], states[1]);
    } else {
      detail::permute_x8_avx2(states[0], states[1]);
    }
    // Outputs of this step. Lanes of one state emitting a whole block at the
    // same rate are stored together with one transpose on AVX2 machines
    // (matrix XOFs often run in step); the rest word by word.
    std::array<std::size_t, 8> take{};
    std::array<std::uint8_t*, 8> out{};
    for (unsigned half = 0; half < lanes / 4; ++half) {
      std::uint8_t* block_out[4] = {nullptr, nullptr, nullptr, nullptr};
      std::size_t block_rate = 0;
      unsigned blocks_together = 0;
      for (unsigned j = 4 * half; j < 4 * half + 4; ++j) {
        if (current[j] >= schedule.queued[j]) continue;
        const std::size_t id = schedule.queue[j][current[j]];
        const XofJob& job = jobs[id];
        ++step[j];
        if (step[j] < absorb[id]) continue;
        // Output block number step - absorb.
        const std::size_t offset = (step[j] - absorb[id]) * job.rate;
        take[j] = std::min(job.rate, job.out.size() - std::min(job.out.size(), offset));
        out[j] = job.out.data() + offset;
        if (take[j] == job.rate && (blocks_together == 0 || job.rate == block_rate)) {
          block_out[j % 4] = out[j];
          block_rate = job.rate;
          ++blocks_together;
        }
      }
      if (blocks_together >= 2 && avx2) {
        detail::store_words_x4_avx2(states[half], block_rate / 8, block_out);
        for (unsigned j = 0; j < 4; ++j) {
          if (block_out[j] != nullptr) take[4 * half + j] = 0;  // done
        }
      }
    }
    for (unsigned j = 0; j < lanes; ++j) {
      if (current[j] >= schedule.queued[j]) continue;
      std::size_t i = 0;
      for (; 8 * i + 8 <= take[j]; ++i) store_le64(out[j] + 8 * i, word(j, i));
      if (8 * i < take[j]) {
        std::uint8_t bytes[8];
        store_le64(bytes, word(j, i));
        std::memcpy(out[j] + 8 * i, bytes, take[j] - 8 * i);
      }
      if (step[j] == permutations[schedule.queue[j][current[j]]]) {
        ++current[j];
        step[j] = 0;
      }
    }
  }
  for (unsigned j = 0; j < lanes; ++j) KESTREL_ASSERT(current[j] == schedule.queued[j]);
  secure_zero(states.data(), sizeof states);  // lanes may hold secret-derived sponge states
}

void permute_x8(StateX4& first, StateX4& second) {
  if (use_avx512_machine_code()) {
    detail::permute_x8_avx512(first, second);
  } else if (use_avx2_machine_code()) {
    detail::permute_x8_avx2(first, second);
  } else {
    permute_x4(first);
    permute_x4(second);
  }
}

}  // namespace kestrel::crypto::keccak
