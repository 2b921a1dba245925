// Keccak-f[1600] and the FIPS 202 functions built on it: SHA3-224/256/384/512,
// SHAKE128 and SHAKE256, with incremental absorb/squeeze; plus a 4-way
// interface (four independent states permuted together) for the places FIPS 203
// and FIPS 204 hash independent inputs (SampleNTT / ExpandA, CBD / ExpandS).
//
// Why our own: OpenSSL's EVP costs ~2 µs per small call, more than an entire
// ML-KEM operation may take. OpenSSL is still the reference in keccak_test.cc.
//
// Paths: permute() is portable C++. permute_x4() runs four portable permutations,
// or one AVX2 permutation over interleaved lanes when the CPU has AVX2 and the
// gate crypto.avx2 is on (keccak_avx2.cc), or the AVX-512F/VL one when the CPU
// has that too and the gate crypto.avx512 is on (keccak_avx512.cc).
//
// Thread-safety: objects are used by one thread at a time; free functions are
// pure.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace kestrel::crypto::keccak {

inline constexpr std::size_t lane_count = 25;  // 5 x 5 lanes of 64 bits (FIPS 202 section 3.1)

struct State {
  std::array<std::uint64_t, lane_count> a{};  // a[x + 5y]
};

// Four states with lanes interleaved: lane i of instance j is lanes[4 * i + j],
// so one 256-bit load holds lane i of all four.
struct alignas(32) StateX4 {
  std::array<std::uint64_t, 4 * lane_count> lanes{};
};

// Keccak-p[1600, 24] (FIPS 202 Algorithm 7) on one state.
void permute(State& state);
// The same on four states; AVX2 when available and gated on, portable otherwise.
void permute_x4(StateX4& state);
// The portable x4 path, always available (tests compare both paths).
void permute_x4_portable(StateX4& state);
// Eight states as two StateX4: one interleaved AVX2 permutation of both (~0.87
// of the time of two permute_x4) when available and gated on, with crypto.avx512
// one AVX-512 permutation on 512-bit registers, else two permute_x4 calls.
void permute_x8(StateX4& first, StateX4& second);

// Rates in bytes (FIPS 202 section 6): 1600 - 2 x capacity, in bytes.
inline constexpr std::size_t shake128_rate = 168;
inline constexpr std::size_t shake256_rate = 136;
inline constexpr std::size_t sha3_224_rate = 144;
inline constexpr std::size_t sha3_256_rate = 136;
inline constexpr std::size_t sha3_384_rate = 104;
inline constexpr std::size_t sha3_512_rate = 72;

// Domain separation suffixes with the first pad bit (FIPS 202 section 6, B.2):
// SHA3 appends 01, SHAKE appends 1111, then pad10*1 starts with a 1.
inline constexpr std::uint8_t sha3_domain = 0x06;
inline constexpr std::uint8_t shake_domain = 0x1f;

// A sponge (FIPS 202 Algorithm 8) with incremental absorb and squeeze.
// absorb() any number of times, then squeeze() any number of times; the first
// squeeze pads. REQUIRES: no absorb after the first squeeze. The state is zeroed
// on destruction: a sponge that absorbed a secret leaves nothing behind.
class Sponge {
 public:
  Sponge(std::size_t rate_bytes, std::uint8_t domain);
  ~Sponge();
  Sponge(const Sponge&) = default;
  Sponge& operator=(const Sponge&) = default;

  void absorb(std::span<const std::uint8_t> data);
  void squeeze(std::span<std::uint8_t> out);
  // Squeezes whole blocks (rate bytes each); faster than squeeze() for
  // rejection samplers. REQUIRES: called only at a block boundary of the output
  // (i.e. every previous squeeze produced whole blocks).
  void squeeze_blocks(std::uint8_t* out, std::size_t blocks);
  void reset();
  std::size_t rate() const { return rate_; }

 private:
  void pad();
  State state_;
  std::size_t rate_;
  std::size_t position_ = 0;  // byte offset in the current block, [0, rate_)
  std::uint8_t domain_;
  bool squeezing_ = false;
};

class Shake128 : public Sponge {
 public:
  Shake128() : Sponge(shake128_rate, shake_domain) {}
};
class Shake256 : public Sponge {
 public:
  Shake256() : Sponge(shake256_rate, shake_domain) {}
};

// One-shot hashes (FIPS 202 section 6.1) and XOFs (section 6.2).
void sha3_224(std::span<std::uint8_t, 28> out, std::span<const std::uint8_t> in);
void sha3_256(std::span<std::uint8_t, 32> out, std::span<const std::uint8_t> in);
void sha3_384(std::span<std::uint8_t, 48> out, std::span<const std::uint8_t> in);
void sha3_512(std::span<std::uint8_t, 64> out, std::span<const std::uint8_t> in);
void shake128(std::span<std::uint8_t> out, std::span<const std::uint8_t> in);
void shake256(std::span<std::uint8_t> out, std::span<const std::uint8_t> in);

// Four independent SHAKE instances with the same rate, absorbing inputs of equal
// length in one go and squeezing whole blocks together (permute_x4).
class ShakeX4 {
 public:
  explicit ShakeX4(std::size_t rate_bytes) : rate_(rate_bytes) {}
  ~ShakeX4();  // zeroes the four states
  ShakeX4(const ShakeX4&) = default;
  ShakeX4& operator=(const ShakeX4&) = default;
  // Absorbs four equal-length inputs and pads. REQUIRES: called once, before squeezing.
  void absorb_once(std::array<std::span<const std::uint8_t>, 4> inputs);
  // Squeezes `blocks` whole blocks into each of out[0..3] (rate * blocks bytes each).
  void squeeze_blocks(std::array<std::uint8_t*, 4> out, std::size_t blocks);
  std::size_t rate() const { return rate_; }

 private:
  StateX4 state_;
  std::size_t rate_;
};

// A batch of independent hashes run on the 4-way permutation: each job is one
// sponge (SHA3-x or SHAKE) that absorbs `input` with its rate and domain and
// squeezes out.size() bytes. Jobs are spread over the four lanes (longest
// first, each to the least loaded lane) and run one after another in their
// lane, so a lane that finishes a short job starts the next one at the next
// permutation. On the AVX2 path a batch whose schedule over eight lanes is
// shorter by enough (makespan x 1.75 below the four-lane one; x 1.45 with the
// AVX-512 permutations) runs on eight lanes with permute_x8. ML-KEM uses it to hash H(ek), J(z || c), the matrix XOFs and the
// PRFs of one operation together: with the AVX2 permute_x4 four lanes cost about
// 1.6 single permutations.
struct XofJob {
  std::span<const std::uint8_t> input;
  std::span<std::uint8_t> out;
  std::size_t rate = 0;     // bytes, as the *_rate constants above
  std::uint8_t domain = 0;  // sha3_domain or shake_domain
};
// REQUIRES: jobs.size() <= xof_jobs_max; each rate a multiple of 8 below 200.
// ML-DSA-87 ExpandA: 56 matrix XOFs, run in batches of at most this many
// (ML-KEM-1024: 16 matrix XOFs + 2 hashes). ML-DSA key generation on the AVX2
// path has its own eight-lane batch (mldsa/sample_avx2.cc).
inline constexpr std::size_t xof_jobs_max = 48;
void run_jobs_x4(std::span<const XofJob> jobs);

}  // namespace kestrel::crypto::keccak
