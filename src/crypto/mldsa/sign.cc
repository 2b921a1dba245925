// ML-DSA key generation, signing and verification (FIPS 204 sections 5, 6 and
// 7.2), on top of polyvec.h. See crypto/mldsa.h for the contract.
#include <openssl/evp.h>

#include <algorithm>
#include <initializer_list>

#include "common/cpu.h"
#include "common/limits.h"
#include "crypto/ct.h"
#include "crypto/keccak.h"
#include "crypto/mldsa.h"
#include "crypto/mldsa/polyvec.h"
#include "crypto/mldsa/reduce.h"
#include "crypto/random.h"

namespace kestrel::crypto::mldsa {

using namespace detail;  // NOLINT: the layers below are this file's vocabulary

const char* describe(MlDsaError error) {
  switch (error) {
    case MlDsaError::bad_length: return "ML-DSA key, signature or mu has the wrong length";
    case MlDsaError::bad_context_length: return "ML-DSA context is longer than 255 bytes";
    case MlDsaError::malformed_hint: return "ML-DSA signature hint is not canonically encoded";
    case MlDsaError::z_out_of_range: return "ML-DSA signature z is out of range";
    case MlDsaError::bad_signature: return "ML-DSA signature does not verify";
    case MlDsaError::bad_secret_key: return "ML-DSA secret key is inconsistent";
    case MlDsaError::sign_attempts_exhausted: return "ML-DSA signing exceeded its attempt bound";
    case MlDsaError::unknown_hash: return "unknown HashML-DSA pre-hash function";
  }
  return "unknown ML-DSA error";
}

const char* parameter_set_name(ParameterSet set) {
  switch (set) {
    case ParameterSet::ml_dsa_44: return "ML-DSA-44";
    case ParameterSet::ml_dsa_65: return "ML-DSA-65";
    case ParameterSet::ml_dsa_87: return "ML-DSA-87";
  }
  return "unknown";
}

std::size_t public_key_bytes(ParameterSet set) { return params_for(set).public_key_bytes; }
std::size_t secret_key_bytes(ParameterSet set) { return params_for(set).secret_key_bytes; }
std::size_t signature_bytes(ParameterSet set) { return params_for(set).signature_bytes; }

Result<PreHash, MlDsaError> parse_pre_hash(std::string_view name) {
  static constexpr std::pair<std::string_view, PreHash> names[] = {
      {"SHA2-224", PreHash::sha2_224},         {"SHA2-256", PreHash::sha2_256},
      {"SHA2-384", PreHash::sha2_384},         {"SHA2-512", PreHash::sha2_512},
      {"SHA2-512/224", PreHash::sha2_512_224}, {"SHA2-512/256", PreHash::sha2_512_256},
      {"SHA3-224", PreHash::sha3_224},         {"SHA3-256", PreHash::sha3_256},
      {"SHA3-384", PreHash::sha3_384},         {"SHA3-512", PreHash::sha3_512},
      {"SHAKE-128", PreHash::shake128},        {"SHAKE-256", PreHash::shake256},
  };
  for (const auto& [text, value] : names) {
    if (text == name) return value;
  }
  return Err(MlDsaError::unknown_hash);
}

namespace {

// Zeroes a value holding secrets when it goes out of scope (FIPS 204 section
// 3.6.3: intermediate values must be destroyed).
// value is default-initialised (not zeroed): every field is written before use.
template <typename T>
struct Wiped {
  T value;
  Wiped() = default;
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
  ~Wiped() { secure_zero(&value, sizeof value); }
  T& operator*() { return value; }
  T* operator->() { return &value; }
};

// Wipes the first count polynomials of v: the ones the parameter set in use
// touched (the vectors are sized for ML-DSA-87; wiping all of them cost more
// than the arithmetic of a small set).
template <typename Vec>
void wipe_polys(Vec& v, int count) {
  secure_zero(v.p.data(), sizeof(Poly) * static_cast<std::size_t>(count));
}

// A scratch struct whose wipe(params) zeroes its secret parts on scope exit
// (section 3.6.3); public parts (A-hat, rho, t1) are left alone.
template <typename T>
struct WipedParts {
  T value;
  const Params& params;
  explicit WipedParts(const Params& p) : params(p) {}
  WipedParts(const WipedParts&) = delete;
  WipedParts& operator=(const WipedParts&) = delete;
  ~WipedParts() { value.wipe(params); }
  T& operator*() { return value; }
  T* operator->() { return &value; }
};

// H (FIPS 204 section 3.7): SHAKE256 over the concatenation of parts.
void h(std::span<std::uint8_t> out, std::initializer_list<ByteSpan> parts) {
  keccak::Shake256 xof;
  for (ByteSpan part : parts) xof.absorb(part);
  xof.squeeze(out);
  secure_zero(&xof, sizeof xof);  // the state can hold secrets (xi, K, rho'')
}

// M' pieces (Algorithm 2 line 10 / Algorithm 4 line 23), hashed without copying.
struct MessagePrime {
  std::array<ByteSpan, 4> parts{};
  std::size_t count = 0;
};

void mu_from(std::span<std::uint8_t, mu_bytes> mu, std::span<const std::uint8_t, tr_bytes> tr,
             const MessagePrime& message) {
  keccak::Shake256 xof;
  xof.absorb(tr);
  for (std::size_t i = 0; i < message.count; ++i) xof.absorb(message.parts[i]);
  xof.squeeze(mu);
}

// --- Encodings (section 7.2) ----------------------------------------------------

// Algorithm 22 pkEncode.
void pk_encode(std::uint8_t* out, const Params& params, std::span<const std::uint8_t, seed_bytes> rho,
               const PolyVecK& t1) {
  std::copy(rho.begin(), rho.end(), out);
  for (int i = 0; i < params.k; ++i) pack_simple(out + seed_bytes + 320 * i, t1.p[i], 10);
}

// Algorithm 23 pkDecode: every bit pattern is a valid t1 (10-bit values).
void pk_decode(std::array<std::uint8_t, seed_bytes>& rho, PolyVecK& t1, const Params& params, ByteSpan pk) {
  std::copy_n(pk.begin(), seed_bytes, rho.begin());
  for (int i = 0; i < params.k; ++i) unpack_simple(t1.p[i], pk.data() + seed_bytes + 320 * i, 10);
}

struct SecretKeyParts {
  std::array<std::uint8_t, seed_bytes> rho;
  std::array<std::uint8_t, seed_bytes> key;  // K
  std::array<std::uint8_t, tr_bytes> tr;
  PolyVecL s1;
  PolyVecK s2;
  PolyVecK t0;
  void wipe(const Params& params) {
    secure_zero(key);
    wipe_polys(s1, params.l);
    wipe_polys(s2, params.k);
    wipe_polys(t0, params.k);
  }
};

std::size_t eta_poly_bytes(const Params& params) { return 32 * static_cast<std::size_t>(params.eta_bits); }
constexpr std::size_t t0_poly_bytes = 32 * d;

// Algorithm 24 skEncode.
void sk_encode(std::uint8_t* out, const Params& params, const SecretKeyParts& sk) {
  std::uint8_t* p = out;
  p = std::copy(sk.rho.begin(), sk.rho.end(), p);
  p = std::copy(sk.key.begin(), sk.key.end(), p);
  p = std::copy(sk.tr.begin(), sk.tr.end(), p);
  for (int i = 0; i < params.l; ++i, p += eta_poly_bytes(params)) pack_offset(p, sk.s1.p[i], params.eta_bits, params.eta);
  for (int i = 0; i < params.k; ++i, p += eta_poly_bytes(params)) pack_offset(p, sk.s2.p[i], params.eta_bits, params.eta);
  for (int i = 0; i < params.k; ++i, p += t0_poly_bytes) pack_offset(p, sk.t0.p[i], d, 1 << (d - 1));
  KESTREL_ASSERT(static_cast<std::size_t>(p - out) == params.secret_key_bytes);
}

// Algorithm 25 skDecode. Coefficients of s1, s2 land in [eta - 2^eta_bits + 1, eta]
// (a malformed key can exceed [-eta, eta]; check_secret_key catches that).
void sk_decode(SecretKeyParts& sk, const Params& params, ByteSpan in) {
  const std::uint8_t* p = in.data();
  std::copy_n(p, seed_bytes, sk.rho.begin());
  std::copy_n(p + seed_bytes, seed_bytes, sk.key.begin());
  std::copy_n(p + 2 * seed_bytes, tr_bytes, sk.tr.begin());
  p += 2 * seed_bytes + tr_bytes;
  for (int i = 0; i < params.l; ++i, p += eta_poly_bytes(params)) unpack_offset(sk.s1.p[i], p, params.eta_bits, params.eta);
  for (int i = 0; i < params.k; ++i, p += eta_poly_bytes(params)) unpack_offset(sk.s2.p[i], p, params.eta_bits, params.eta);
  for (int i = 0; i < params.k; ++i, p += t0_poly_bytes) unpack_offset(sk.t0.p[i], p, d, 1 << (d - 1));
}

// Algorithm 20 HintBitPack; h is public here (part of an accepted signature).
void hint_bit_pack(std::uint8_t* out, const Params& params, const PolyVecK& hint) {
  std::fill_n(out, params.omega + params.k, 0);
  int index = 0;
  for (int i = 0; i < params.k; ++i) {
    for (int j = 0; j < n; ++j) {
      if (hint.p[i].c[j] != 0) out[index++] = static_cast<std::uint8_t>(j);
    }
    out[params.omega + i] = static_cast<std::uint8_t>(index);
  }
  KESTREL_ASSERT(index <= params.omega);
}

// Algorithm 21 HintBitUnpack, strict: the per-row end indices must be
// non-decreasing and at most omega, the indices within a row strictly
// increasing, and the unused tail zero. Returns false (FIPS 204's bottom) otherwise.
bool hint_bit_unpack(PolyVecK& hint, const Params& params, const std::uint8_t* in) {
  int index = 0;
  for (int i = 0; i < params.k; ++i) {
    hint.p[i].c.fill(0);
    const int end = in[params.omega + i];
    if (end < index || end > params.omega) return false;
    const int first = index;
    while (index < end) {
      if (index > first && in[index - 1] >= in[index]) return false;
      hint.p[i].c[in[index]] = 1;
      ++index;
    }
  }
  for (int i = index; i < params.omega; ++i) {
    if (in[i] != 0) return false;
  }
  return true;
}

// Algorithm 28 w1Encode.
std::size_t w1_encode(std::uint8_t* out, const Params& params, const PolyVecK& w1) {
  const std::size_t poly_bytes = 32 * static_cast<std::size_t>(params.w1_bits);
  for (int i = 0; i < params.k; ++i) pack_simple(out + poly_bytes * i, w1.p[i], params.w1_bits);
  return poly_bytes * params.k;
}
constexpr std::size_t w1_encoded_bytes_max = k_max * 32 * 6;

// --- Algorithm 6 ML-DSA.KeyGen_internal -----------------------------------------

struct KeyGenScratch {
  std::array<std::uint8_t, 2 * seed_bytes + rho_prime_bytes> seeds;  // rho || rho' || K
  Matrix a;
  SecretKeyParts sk;
  PolyVecL s1_hat;
  PolyVecK t;
  PolyVecK t1;
  void wipe(const Params& params) {
    secure_zero(seeds);
    sk.wipe(params);
    wipe_polys(s1_hat, params.l);
    wipe_polys(t, params.k);
  }
};

// Algorithm 6 lines 5-6: (t1, t0) = Power2Round(NTT^-1(A-hat o NTT(s1)) + s2),
// the last additions and reductions fused with Power2Round (t is not stored).
// t_partial is scratch (the product before s2 is added).
void compute_t1_t0(PolyVecK& t1, PolyVecK& t0, PolyVecK& t_partial, PolyVecL& s1_hat, const Matrix& a,
                   const SecretKeyParts& sk, const Params& params) {
  for (int i = 0; i < params.l; ++i) s1_hat.p[i] = sk.s1.p[i];
  vec_ntt(s1_hat, params.l);
  matrix_multiply(t_partial, a, s1_hat, params);
  vec_inverse_ntt(t_partial, params.k);
  for (int i = 0; i < params.k; ++i) poly_power2round_sum(t1.p[i], t0.p[i], t_partial.p[i], sk.s2.p[i]);
}

void key_gen_with(const Params& params, Seed xi, MutableByteSpan pk, MutableByteSpan sk) {
  KESTREL_ASSERT(pk.size() == params.public_key_bytes && sk.size() == params.secret_key_bytes);
  WipedParts<KeyGenScratch> s(params);
  // Line 1: (rho, rho', K) = H(xi || IntegerToBytes(k, 1) || IntegerToBytes(l, 1), 128).
  const std::array<std::uint8_t, 2> dimensions{static_cast<std::uint8_t>(params.k),
                                               static_cast<std::uint8_t>(params.l)};
  h(s->seeds, {xi, dimensions});
  std::copy_n(s->seeds.begin(), seed_bytes, s->sk.rho.begin());
  std::copy_n(s->seeds.begin() + seed_bytes + rho_prime_bytes, seed_bytes, s->sk.key.begin());
  // rho is published in the public key, so ExpandA's rejection sampling on it
  // may branch (rho' and K stay secret).
  ct_declassify(s->sk.rho.data(), s->sk.rho.size());
  const std::span<const std::uint8_t, rho_prime_bytes> rho_prime(s->seeds.data() + seed_bytes, rho_prime_bytes);
  if (use_avx2()) {
    // Lines 3-9 in one eight-lane Keccak batch (polyvec.h KeyGenRows).
    const KeyGenRows rows{s->s1_hat, s->t, s->t1, s->sk.t0, pk.data(), s->sk.tr};
    expand_a_s_avx2(s->a, s->sk.s1, s->sk.s2, params, s->sk.rho, rho_prime, &rows);
  } else {
    expand_a_s(s->a, s->sk.s1, s->sk.s2, params, s->sk.rho, rho_prime);
    compute_t1_t0(s->t1, s->sk.t0, s->t, s->s1_hat, s->a, s->sk, params);
    pk_encode(pk.data(), params, s->sk.rho, s->t1);
    h(s->sk.tr, {pk});  // line 9: tr = H(pk, 64)
  }
  sk_encode(sk.data(), params, s->sk);
}

// --- Algorithm 7 ML-DSA.Sign_internal -----------------------------------------------

// Taps per int16 flush of c * t0: |t0_i| <= 2^12 after skDecode (Algorithm 25).
constexpr int t0_taps_per_flush = 32767 / (1 << (d - 1));
static_assert(t0_taps_per_flush == 7);

// The per-attempt state of the rejection loop.
struct AttemptScratch {
  std::array<std::uint8_t, 64> rho_double_prime;
  PolyVecL y;
  PolyVecL z;
  PolyVecK w;
  PolyVecK w1;
  PolyVecK r;     // w - cs2 in [0, q)
  PolyVecK r0;
  PolyVecK ct0;
  PolyVecK hint;
  Poly c;
  SparseChallenge c_sparse;  // public, like c
  std::array<std::uint8_t, w1_encoded_bytes_max> w1_encoded;
  std::array<std::uint8_t, 64> c_tilde;
  MaskStream mask;  // ExpandMask counters kappa + r, consecutive over the attempts
  void wipe(const Params& params) {
    mask.wipe();
    secure_zero(rho_double_prime);
    for (PolyVecL* v : {&y, &z}) wipe_polys(*v, params.l);
    for (PolyVecK* v : {&w, &w1, &r, &r0, &ct0, &hint}) wipe_polys(*v, params.k);
    secure_zero(w1_encoded);
  }
};

}  // namespace

// Lines 1-5 of Algorithm 7, done once per key: skDecode, ExpandA(rho), and s1,
// s2, t0 in the form the exact challenge products read (instead of NTT(s1),
// NTT(s2), NTT(t0)). Secret parts wiped on destruction.
struct detail::ExpandedSecretKeyData {
  const Params* params = nullptr;
  std::array<std::uint8_t, seed_bytes> rho{};
  std::array<std::uint8_t, seed_bytes> key{};  // K
  std::array<std::uint8_t, tr_bytes> tr{};
  Matrix a;
  // s1, s2 (int16) and t0 (int32) as negacyclic extensions for the exact
  // products c * s1, c * s2, c * t0 (poly_sparse_multiply*).
  std::array<SmallPolyExtension, l_max> s1_ext;
  std::array<SmallPolyExtension, k_max> s2_ext;
  std::array<PolyExtension, k_max> t0_ext;
  // s1, s2 as int8 for the AVX2 product (poly_sparse_multiply8_avx2), which
  // adds its int8 partial sums into int16 every taps_per_flush taps: skDecode
  // gives s_i in [eta - 2^bitlen(2 eta) + 1, eta] (Algorithm 19), so
  // |s_i| <= 2^eta_bits - 1 - eta (11 for eta = 4, 5 for eta = 2).
  std::array<TinyPolyExtension, l_max> s1_tiny;
  std::array<TinyPolyExtension, k_max> s2_tiny;
  int taps_per_flush = 1;
  // t0 as int16 for poly_sparse_multiply16to32_avx2: skDecode gives t0_i in
  // [-2^12 + 1, 2^12], so int16 partial sums are exact over 32767 / 2^12 = 7 taps.
  std::array<SmallPolyExtension, k_max> t0_small;
  ExpandedSecretKeyData() = default;
  ExpandedSecretKeyData(const ExpandedSecretKeyData&) = delete;
  ExpandedSecretKeyData& operator=(const ExpandedSecretKeyData&) = delete;
  // Only the secret parts are wiped (A-hat, rho and tr are public), and only
  // the polynomials the parameter set uses.
  ~ExpandedSecretKeyData() {
    secure_zero(key);
    const int l = params != nullptr ? params->l : l_max;
    const int k = params != nullptr ? params->k : k_max;
    secure_zero(s1_ext.data(), sizeof(SmallPolyExtension) * static_cast<std::size_t>(l));
    secure_zero(s2_ext.data(), sizeof(SmallPolyExtension) * static_cast<std::size_t>(k));
    secure_zero(t0_ext.data(), sizeof(PolyExtension) * static_cast<std::size_t>(k));
    secure_zero(s1_tiny.data(), sizeof(TinyPolyExtension) * static_cast<std::size_t>(l));
    secure_zero(s2_tiny.data(), sizeof(TinyPolyExtension) * static_cast<std::size_t>(k));
    secure_zero(t0_small.data(), sizeof(SmallPolyExtension) * static_cast<std::size_t>(k));
  }
};

// Lines 1, 5 and 6 of Algorithm 8 done once per key: pkDecode, ExpandA(rho),
// NTT(t1 * 2^d) and tr = H(pk, 64). Public data.
struct detail::ExpandedPublicKeyData {
  const Params* params = nullptr;
  Matrix a;
  PolyVecK t1_hat;
  std::array<std::uint8_t, tr_bytes> tr{};
};

namespace {

// REQUIRES: secret_key.size() == params.secret_key_bytes.
void expand_secret(ExpandedSecretKeyData& out, const Params& params, ByteSpan secret_key) {
  KESTREL_ASSERT(secret_key.size() == params.secret_key_bytes);
  out.params = &params;
  WipedParts<SecretKeyParts> sk(params);
  sk_decode(*sk, params, secret_key);
  out.rho = sk->rho;
  out.key = sk->key;
  out.tr = sk->tr;
  for (int i = 0; i < params.l; ++i) small_poly_extend(out.s1_ext[i], sk->s1.p[i]);
  for (int i = 0; i < params.k; ++i) small_poly_extend(out.s2_ext[i], sk->s2.p[i]);
  // Only CPUs with AVX2 use the int8 forms; there they are filled on both
  // sides of the gate (it may change between expansion and signing).
  if (cpu_features().avx2) {
    auto extend = use_avx2() ? tiny_poly_extend_avx2 : tiny_poly_extend;
    for (int i = 0; i < params.l; ++i) extend(out.s1_tiny[i], sk->s1.p[i]);
    for (int i = 0; i < params.k; ++i) extend(out.s2_tiny[i], sk->s2.p[i]);
    for (int i = 0; i < params.k; ++i) small_poly_extend(out.t0_small[i], sk->t0.p[i]);
  }
  out.taps_per_flush = 127 / ((1 << params.eta_bits) - 1 - params.eta);
  for (int i = 0; i < params.k; ++i) poly_extend(out.t0_ext[i], sk->t0.p[i]);
  expand_a(out.a, params, out.rho);  // rho is public (it is in the public key)
}

// REQUIRES: public_key.size() == params.public_key_bytes. With ball_block,
// also squeezes the first SHAKE256 block of SampleInBall(c_tilde) into it
// (Algorithm 29 line 2; verification knows c~ from the signature up front), so
// that hash shares the 4-way Keccak with ExpandA and H(pk).
void expand_public(ExpandedPublicKeyData& out, const Params& params, ByteSpan public_key, ByteSpan c_tilde = {},
                   std::uint8_t* ball_block = nullptr) {
  KESTREL_ASSERT(public_key.size() == params.public_key_bytes);
  out.params = &params;
  std::array<std::uint8_t, seed_bytes> rho;
  pk_decode(rho, out.t1_hat, params, public_key);
  for (int i = 0; i < params.k; ++i) {
    poly_shift_left_d(out.t1_hat.p[i]);  // t1 * 2^d < 2^23 < q
    ntt(out.t1_hat.p[i]);
  }
  // Line 6: tr = H(pk, 64), hashed alongside ExpandA(rho).
  std::array<keccak::XofJob, 2> jobs{};
  std::size_t job_count = 0;
  jobs[job_count++] = {public_key, out.tr, keccak::shake256_rate, keccak::shake_domain};
  if (ball_block != nullptr) {
    jobs[job_count++] = {c_tilde, {ball_block, keccak::shake256_rate}, keccak::shake256_rate, keccak::shake_domain};
  }
  expand_a(out.a, params, rho, std::span<const keccak::XofJob>(jobs.data(), job_count));
}

// The rejection loop from mu (Algorithm 7 lines 7-33), writing sigEncode into out.
Status<MlDsaError> sign_from_mu(const ExpandedSecretKeyData& key, std::span<const std::uint8_t, mu_bytes> mu,
                                Seed rnd, MutableByteSpan signature) {
  const Params& params = *key.params;
  KESTREL_ASSERT(signature.size() == params.signature_bytes);
  std::fill(signature.begin(), signature.end(), 0);
  WipedParts<AttemptScratch> s(params);
  h(s->rho_double_prime, {key.key, rnd, mu});  // line 7: rho'' = H(K || rnd || mu, 64)
  const std::span<std::uint8_t> c_tilde(s->c_tilde.data(), params.c_tilde_bytes);

  for (std::size_t attempt = 0; attempt < limits::mldsa_sign_attempts_max; ++attempt) {
    // Lines 11-13: y, w = NTT^-1(A-hat o NTT(y)), w1 = HighBits(w).
    expand_mask_next(s->y, s->mask, params, s->rho_double_prime);  // kappa = attempt * l
    s->z = s->y;  // z holds NTT(y) for now
    vec_ntt(s->z, params.l);
    matrix_multiply(s->w, key.a, s->z, params);
    vec_inverse_ntt(s->w, params.k);
    vec_caddq(s->w, params.k);  // (-q, q) -> [0, q)
    for (int i = 0; i < params.k; ++i) poly_high_bits(s->w1.p[i], s->w.p[i], params.gamma2);
    // Lines 15-16: c~ = H(mu || w1Encode(w1), lambda / 4); c = SampleInBall(c~).
    const std::size_t w1_bytes = w1_encode(s->w1_encoded.data(), params, s->w1);
    h(c_tilde, {mu, ByteSpan(s->w1_encoded.data(), w1_bytes)});
    // The challenge of an attempt may be public: Dilithium's security argument
    // treats rejected challenges as known to the adversary (they are random
    // oracle outputs), and accepted ones are in the signature. SampleInBall
    // then runs on public data.
    ct_declassify(c_tilde.data(), c_tilde.size());
    poly_sample_in_ball(s->c, c_tilde, params.tau);
    // Lines 18-20: z = y + <<c s1>>, r0 = LowBits(w - <<c s2>>). The products
    // are computed exactly, as tau signed rotations of s1, s2 (int16:
    // |c s_i| <= tau * 11 for any skDecode output) read at c's public
    // positions: cheaper than NTT(c), a pointwise product and an NTT^-1 per
    // polynomial, and exact values need no reduction afterwards.
    sparse_challenge_from(s->c_sparse, s->c);
    const bool avx2 = use_avx2();
    for (int i = 0; i < params.l; ++i) {
      if (avx2) {
        poly_sparse_multiply8_avx2(s->z.p[i], s->c_sparse, key.s1_tiny[i], key.taps_per_flush);
      } else {
        poly_sparse_multiply(s->z.p[i], s->c_sparse, key.s1_ext[i]);
      }
      poly_add(s->z.p[i], s->z.p[i], s->y.p[i]);  // exact: |z_i| <= gamma1 + 660
    }
    for (int i = 0; i < params.k; ++i) {
      if (avx2) {  // exact, |.| <= 660
        poly_sparse_multiply8_avx2(s->r.p[i], s->c_sparse, key.s2_tiny[i], key.taps_per_flush);
      } else {
        poly_sparse_multiply(s->r.p[i], s->c_sparse, key.s2_ext[i]);
      }
      poly_subtract(s->r.p[i], s->w.p[i], s->r.p[i]);  // w - cs2 in (-660, q + 660)
      poly_reduce32(s->r.p[i]);
      poly_caddq(s->r.p[i]);  // [0, q)
      poly_decompose(s->w1.p[i], s->r0.p[i], s->r.p[i], params.gamma2);
    }
    // Line 23: the first rejection decision, one bit that may leave.
    std::uint32_t rejected = vec_norm_exceeds(s->z, params.l, params.gamma1 - params.beta) |
                             vec_norm_exceeds(s->r0, params.k, params.gamma2 - params.beta);
    ct_declassify(&rejected, sizeof rejected);
    if (rejected != 0) continue;
    // Lines 25-28: <<c t0>>, h = MakeHint(-ct0, w - cs2 + ct0), second decision.
    unsigned hint_ones = 0;
    for (int i = 0; i < params.k; ++i) {
      if (avx2) {  // exact, |.| <= tau 2^12
        poly_sparse_multiply16to32_avx2(s->ct0.p[i], s->c_sparse, key.t0_small[i], t0_taps_per_flush);
      } else {
        poly_sparse_multiply32(s->ct0.p[i], s->c_sparse, key.t0_ext[i]);
      }
      Poly& r_plus = s->w.p[i];  // w is no longer needed: reuse it for w - cs2 + ct0
      poly_add(r_plus, s->r.p[i], s->ct0.p[i]);
      poly_reduce32(r_plus);
      poly_caddq(r_plus);
      hint_ones += poly_make_hint(s->hint.p[i], r_plus, s->r.p[i], params.gamma2);
    }
    rejected = vec_norm_exceeds(s->ct0, params.k, params.gamma2) |
               (static_cast<std::uint32_t>(params.omega - static_cast<int>(hint_ones)) >> 31);
    ct_declassify(&rejected, sizeof rejected);
    if (rejected != 0) continue;
    // Accepted: z and h are the signature, public from here on.
    ct_declassify(&s->z, sizeof s->z);
    ct_declassify(&s->hint, sizeof s->hint);
    // Algorithm 26 sigEncode: c~ || BitPack(z, gamma1 - 1, gamma1) || HintBitPack(h).
    std::uint8_t* p = signature.data();
    p = std::copy(c_tilde.begin(), c_tilde.end(), p);
    for (int i = 0; i < params.l; ++i, p += 32 * params.gamma1_bits) {
      pack_offset(p, s->z.p[i], params.gamma1_bits, params.gamma1);
    }
    hint_bit_pack(p, params, s->hint);
    return {};
  }
  return Err(MlDsaError::sign_attempts_exhausted);
}

// Line 6: mu = H(BytesToBits(tr) || M', 64), then the loop.
Status<MlDsaError> sign_expanded(const ExpandedSecretKeyData& key, const MessagePrime& message, Seed rnd,
                                 MutableByteSpan signature) {
  std::array<std::uint8_t, mu_bytes> mu;
  mu_from(mu, key.tr, message);
  return sign_from_mu(key, mu, rnd, signature);
}

Status<MlDsaError> sign_message(const Params& params, ByteSpan secret_key, const MessagePrime& message,
                                Seed rnd, MutableByteSpan signature) {
  KESTREL_ASSERT(signature.size() == params.signature_bytes);
  if (secret_key.size() != params.secret_key_bytes) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_length);
  }
  ExpandedSecretKeyData key;
  expand_secret(key, params, secret_key);
  return sign_expanded(key, message, rnd, signature);
}

// --- Algorithm 8 ML-DSA.Verify_internal ------------------------------------------------

struct VerifyScratch {
  PolyVecL z;
  PolyVecK hint;
  PolyVecK w;
  Poly c;
  Poly ct1;
  std::array<std::uint8_t, w1_encoded_bytes_max> w1_encoded;
  std::array<std::uint8_t, 64> c_tilde;
};

// Decodes and range-checks the signature (lines 1-4 and the z check of line 13).
Status<MlDsaError> decode_signature(VerifyScratch& s, const Params& params, ByteSpan signature) {
  const std::uint8_t* p = signature.data() + params.c_tilde_bytes;
  for (int i = 0; i < params.l; ++i, p += 32 * params.gamma1_bits) {
    unpack_offset(s.z.p[i], p, params.gamma1_bits, params.gamma1);  // [-gamma1 + 1, gamma1]
  }
  if (!hint_bit_unpack(s.hint, params, p)) return Err(MlDsaError::malformed_hint);
  if (vec_norm_exceeds(s.z, params.l, params.gamma1 - params.beta) != 0) return Err(MlDsaError::z_out_of_range);
  return {};
}

// Lines 1-4 and 7-13 given the expanded key and mu.
// ball_block: SampleInBall's first block when expand_public computed it.
Status<MlDsaError> verify_from_mu(const ExpandedPublicKeyData& key, std::span<const std::uint8_t, mu_bytes> mu,
                                  ByteSpan signature, const std::uint8_t* ball_block) {
  const Params& params = *key.params;
  if (signature.size() != params.signature_bytes) return Err(MlDsaError::bad_length);
  VerifyScratch s;
  KESTREL_TRY(decode_signature(s, params, signature));
  poly_sample_in_ball(s.c, signature.first(params.c_tilde_bytes), params.tau, ball_block);
  ntt(s.c);
  // Line 9: w'Approx = NTT^-1(A-hat o NTT(z) - NTT(c) o NTT(t1 * 2^d)).
  vec_ntt(s.z, params.l);
  matrix_multiply(s.w, key.a, s.z, params);
  for (int i = 0; i < params.k; ++i) {
    pointwise_montgomery(s.ct1, s.c, key.t1_hat.p[i]);  // |.| < q
    poly_subtract(s.w.p[i], s.w.p[i], s.ct1);
    poly_reduce32(s.w.p[i]);
    inverse_ntt_to_montgomery(s.w.p[i]);
    poly_caddq(s.w.p[i]);
    // Line 10: w1' = UseHint(h, w'Approx).
    poly_use_hint(s.w.p[i], s.w.p[i], s.hint.p[i], params.gamma2);
  }
  // Lines 12-13: c~' = H(mu || w1Encode(w1'), lambda / 4), compare.
  const std::size_t w1_bytes = w1_encode(s.w1_encoded.data(), params, s.w);
  const std::span<std::uint8_t> c_tilde(s.c_tilde.data(), params.c_tilde_bytes);
  h(c_tilde, {mu, ByteSpan(s.w1_encoded.data(), w1_bytes)});
  if (!std::equal(c_tilde.begin(), c_tilde.end(), signature.begin())) return Err(MlDsaError::bad_signature);
  return {};
}

Status<MlDsaError> verify_expanded(const ExpandedPublicKeyData& key, const MessagePrime* message,
                                   ByteSpan external_mu, ByteSpan signature,
                                   const std::uint8_t* ball_block = nullptr) {
  if (signature.size() != key.params->signature_bytes) return Err(MlDsaError::bad_length);
  std::array<std::uint8_t, mu_bytes> mu;
  if (message != nullptr) {
    mu_from(mu, key.tr, *message);  // line 7
  } else {
    if (external_mu.size() != mu_bytes) return Err(MlDsaError::bad_length);
    std::copy(external_mu.begin(), external_mu.end(), mu.begin());
  }
  return verify_from_mu(key, mu, signature, ball_block);
}

Status<MlDsaError> verify_message(const Params& params, ByteSpan public_key, const MessagePrime* message,
                                  ByteSpan external_mu, ByteSpan signature) {
  if (public_key.size() != params.public_key_bytes || signature.size() != params.signature_bytes) {
    return Err(MlDsaError::bad_length);
  }
  ExpandedPublicKeyData key;
  std::array<std::uint8_t, keccak::shake256_rate> ball_block;
  expand_public(key, params, public_key, signature.first(params.c_tilde_bytes), ball_block.data());
  return verify_expanded(key, message, external_mu, signature, ball_block.data());
}

// --- Pre-hash (Algorithm 4 lines 10-22) ------------------------------------------

struct PreHashed {
  std::array<std::uint8_t, 11> oid;  // DER of 2.16.840.1.101.3.4.2.x
  std::array<std::uint8_t, 64> digest;
  std::size_t digest_bytes;
};

PreHashed pre_hash_of(PreHash function, ByteSpan message) {
  PreHashed out{{0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x00}, {}, 0};
  auto openssl = [&](const EVP_MD* md, std::uint8_t arc) {
    unsigned int size = 0;
    KESTREL_ASSERT(EVP_Digest(message.data(), message.size(), out.digest.data(), &size, md, nullptr) == 1);
    out.digest_bytes = size;
    out.oid[10] = arc;
  };
  auto keccak_hash = [&](std::size_t bytes, std::uint8_t arc, auto&& fn) {
    fn();
    out.digest_bytes = bytes;
    out.oid[10] = arc;
  };
  switch (function) {
    case PreHash::sha2_256: openssl(EVP_sha256(), 0x01); break;
    case PreHash::sha2_384: openssl(EVP_sha384(), 0x02); break;
    case PreHash::sha2_512: openssl(EVP_sha512(), 0x03); break;
    case PreHash::sha2_224: openssl(EVP_sha224(), 0x04); break;
    case PreHash::sha2_512_224: openssl(EVP_sha512_224(), 0x05); break;
    case PreHash::sha2_512_256: openssl(EVP_sha512_256(), 0x06); break;
    case PreHash::sha3_224:
      keccak_hash(28, 0x07, [&] { keccak::sha3_224(std::span<std::uint8_t, 28>(out.digest.data(), 28), message); });
      break;
    case PreHash::sha3_256:
      keccak_hash(32, 0x08, [&] { keccak::sha3_256(std::span<std::uint8_t, 32>(out.digest.data(), 32), message); });
      break;
    case PreHash::sha3_384:
      keccak_hash(48, 0x09, [&] { keccak::sha3_384(std::span<std::uint8_t, 48>(out.digest.data(), 48), message); });
      break;
    case PreHash::sha3_512:
      keccak_hash(64, 0x0a, [&] { keccak::sha3_512(std::span<std::uint8_t, 64>(out.digest.data(), 64), message); });
      break;
    case PreHash::shake128:  // 256 bits of output (Algorithm 4 line 20)
      keccak_hash(32, 0x0b, [&] { keccak::shake128(std::span<std::uint8_t>(out.digest.data(), 32), message); });
      break;
    case PreHash::shake256:  // 512 bits of output (Algorithm 4 line 22)
      keccak_hash(64, 0x0c, [&] { keccak::shake256(std::span<std::uint8_t>(out.digest.data(), 64), message); });
      break;
  }
  KESTREL_ASSERT(out.digest_bytes > 0 && out.digest_bytes <= out.digest.size());
  return out;
}

std::array<std::uint8_t, 32> fresh_rnd(Randomness randomness) {
  std::array<std::uint8_t, 32> rnd{};  // deterministic variant: 32 zero bytes
  if (randomness == Randomness::hedged) random_bytes(rnd);
  return rnd;
}

}  // namespace

// --- Public API -----------------------------------------------------------------------

void key_gen_internal(ParameterSet set, Seed xi, MutableByteSpan public_key, MutableByteSpan secret_key) {
  key_gen_with(params_for(set), xi, public_key, secret_key);
}

void key_gen(ParameterSet set, MutableByteSpan public_key, MutableByteSpan secret_key) {
  std::array<std::uint8_t, seed_bytes> xi;
  random_bytes(xi);  // Algorithm 1 line 1
  key_gen_with(params_for(set), xi, public_key, secret_key);
  secure_zero(xi);
}

Status<MlDsaError> sign_with_rnd(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                                 Seed rnd, MutableByteSpan signature) {
  const Params& params = params_for(set);
  KESTREL_ASSERT(signature.size() == params.signature_bytes);
  if (context.size() > context_bytes_max) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_context_length);
  }
  // Algorithm 2 line 10: M' = IntegerToBytes(0, 1) || IntegerToBytes(|ctx|, 1) || ctx || M.
  const std::array<std::uint8_t, 2> prefix{0, static_cast<std::uint8_t>(context.size())};
  return sign_message(params, secret_key, MessagePrime{{prefix, context, message}, 3}, rnd, signature);
}

Status<MlDsaError> sign(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                        Randomness randomness, MutableByteSpan signature) {
  auto rnd = fresh_rnd(randomness);
  auto result = sign_with_rnd(set, secret_key, message, context, rnd, signature);
  secure_zero(rnd);
  return result;
}

Status<MlDsaError> hash_sign_with_rnd(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                                      PreHash pre_hash, Seed rnd, MutableByteSpan signature) {
  const Params& params = params_for(set);
  KESTREL_ASSERT(signature.size() == params.signature_bytes);
  if (context.size() > context_bytes_max) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_context_length);
  }
  // Algorithm 4 line 23: M' = 1 || |ctx| || ctx || OID || PH(M).
  const PreHashed hashed = pre_hash_of(pre_hash, message);
  const std::array<std::uint8_t, 2> prefix{1, static_cast<std::uint8_t>(context.size())};
  return sign_message(params, secret_key,
                      MessagePrime{{prefix, context, hashed.oid, ByteSpan(hashed.digest.data(), hashed.digest_bytes)}, 4},
                      rnd, signature);
}

Status<MlDsaError> hash_sign(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                             PreHash pre_hash, Randomness randomness, MutableByteSpan signature) {
  auto rnd = fresh_rnd(randomness);
  auto result = hash_sign_with_rnd(set, secret_key, message, context, pre_hash, rnd, signature);
  secure_zero(rnd);
  return result;
}

Status<MlDsaError> sign_internal(ParameterSet set, ByteSpan secret_key, ByteSpan message_prime, Seed rnd,
                                 MutableByteSpan signature) {
  return sign_message(params_for(set), secret_key, MessagePrime{{message_prime}, 1}, rnd, signature);
}

Status<MlDsaError> sign_mu(ParameterSet set, ByteSpan secret_key, ByteSpan mu, Seed rnd, MutableByteSpan signature) {
  const Params& params = params_for(set);
  KESTREL_ASSERT(signature.size() == params.signature_bytes);
  if (mu.size() != mu_bytes) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_length);
  }
  if (secret_key.size() != params.secret_key_bytes) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_length);
  }
  ExpandedSecretKeyData key;
  expand_secret(key, params, secret_key);
  return sign_from_mu(key, std::span<const std::uint8_t, mu_bytes>(mu.data(), mu_bytes), rnd, signature);
}

Status<MlDsaError> verify(ParameterSet set, ByteSpan public_key, ByteSpan message, ByteSpan context,
                          ByteSpan signature) {
  if (context.size() > context_bytes_max) return Err(MlDsaError::bad_context_length);
  const std::array<std::uint8_t, 2> prefix{0, static_cast<std::uint8_t>(context.size())};
  const MessagePrime message_prime{{prefix, context, message}, 3};
  return verify_message(params_for(set), public_key, &message_prime, {}, signature);
}

Status<MlDsaError> hash_verify(ParameterSet set, ByteSpan public_key, ByteSpan message, ByteSpan context,
                               PreHash pre_hash, ByteSpan signature) {
  if (context.size() > context_bytes_max) return Err(MlDsaError::bad_context_length);
  const PreHashed hashed = pre_hash_of(pre_hash, message);
  const std::array<std::uint8_t, 2> prefix{1, static_cast<std::uint8_t>(context.size())};
  const MessagePrime message_prime{{prefix, context, hashed.oid, ByteSpan(hashed.digest.data(), hashed.digest_bytes)}, 4};
  return verify_message(params_for(set), public_key, &message_prime, {}, signature);
}

Status<MlDsaError> verify_internal(ParameterSet set, ByteSpan public_key, ByteSpan message_prime,
                                   ByteSpan signature) {
  const MessagePrime message{{message_prime}, 1};
  return verify_message(params_for(set), public_key, &message, {}, signature);
}

Status<MlDsaError> verify_mu(ParameterSet set, ByteSpan public_key, ByteSpan mu, ByteSpan signature) {
  return verify_message(params_for(set), public_key, nullptr, mu, signature);
}

Status<MlDsaError> compute_mu(ParameterSet set, ByteSpan public_key, ByteSpan message_prime,
                              std::span<std::uint8_t, mu_bytes> mu) {
  if (public_key.size() != params_for(set).public_key_bytes) return Err(MlDsaError::bad_length);
  std::array<std::uint8_t, tr_bytes> tr;
  h(tr, {public_key});
  mu_from(mu, tr, MessagePrime{{message_prime}, 1});
  return {};
}

Status<MlDsaError> check_secret_key(ParameterSet set, ByteSpan secret_key, MutableByteSpan public_key) {
  const Params& params = params_for(set);
  KESTREL_ASSERT(public_key.size() == params.public_key_bytes);
  if (secret_key.size() != params.secret_key_bytes) return Err(MlDsaError::bad_length);
  WipedParts<KeyGenScratch> s(params);
  sk_decode(s->sk, params, secret_key);
  // s1, s2 in [-eta, eta] (a key file is not trusted to be well formed). The
  // answer is public (accept or refuse the file); the loop itself is branch-free.
  std::uint32_t out_of_range = vec_norm_exceeds(s->sk.s1, params.l, params.eta + 1) |
                               vec_norm_exceeds(s->sk.s2, params.k, params.eta + 1);
  expand_a(s->a, params, s->sk.rho);
  PolyVecK t0;
  compute_t1_t0(s->t1, t0, s->t, s->s1_hat, s->a, s->sk, params);
  for (int i = 0; i < params.k; ++i) {
    for (int j = 0; j < n; ++j) out_of_range |= static_cast<std::uint32_t>(t0.p[i].c[j] ^ s->sk.t0.p[i].c[j]);
  }
  secure_zero(&t0, sizeof t0);
  pk_encode(public_key.data(), params, s->sk.rho, s->t1);
  std::array<std::uint8_t, tr_bytes> tr;
  h(tr, {public_key});
  const std::uint8_t tr_matches = ct_equal(tr, s->sk.tr);
  ct_declassify(&out_of_range, sizeof out_of_range);
  if (out_of_range != 0 || tr_matches == 0) {
    std::fill(public_key.begin(), public_key.end(), 0);
    return Err(MlDsaError::bad_secret_key);
  }
  return {};
}

ExpandedPublicKey::ExpandedPublicKey(ParameterSet set, std::unique_ptr<detail::ExpandedPublicKeyData> data)
    : set_(set), data_(std::move(data)) {}
ExpandedPublicKey::ExpandedPublicKey(ExpandedPublicKey&&) noexcept = default;
ExpandedPublicKey& ExpandedPublicKey::operator=(ExpandedPublicKey&&) noexcept = default;
ExpandedPublicKey::~ExpandedPublicKey() = default;

ExpandedSecretKey::ExpandedSecretKey(ParameterSet set, std::unique_ptr<detail::ExpandedSecretKeyData> data)
    : set_(set), data_(std::move(data)) {}
ExpandedSecretKey::ExpandedSecretKey(ExpandedSecretKey&&) noexcept = default;
ExpandedSecretKey& ExpandedSecretKey::operator=(ExpandedSecretKey&&) noexcept = default;
ExpandedSecretKey::~ExpandedSecretKey() = default;  // ExpandedSecretKeyData wipes itself

Result<ExpandedPublicKey, MlDsaError> expand_public_key(ParameterSet set, ByteSpan public_key) {
  const Params& params = params_for(set);
  if (public_key.size() != params.public_key_bytes) return Err(MlDsaError::bad_length);
  auto data = std::make_unique_for_overwrite<detail::ExpandedPublicKeyData>();
  expand_public(*data, params, public_key);
  return ExpandedPublicKey(set, std::move(data));
}

Result<ExpandedSecretKey, MlDsaError> expand_secret_key(ParameterSet set, ByteSpan secret_key) {
  const Params& params = params_for(set);
  if (secret_key.size() != params.secret_key_bytes) return Err(MlDsaError::bad_length);
  auto data = std::make_unique_for_overwrite<detail::ExpandedSecretKeyData>();
  expand_secret(*data, params, secret_key);
  return ExpandedSecretKey(set, std::move(data));
}

Status<MlDsaError> verify(const ExpandedPublicKey& key, ByteSpan message, ByteSpan context, ByteSpan signature) {
  KESTREL_ASSERT(key.data_ != nullptr);  // not moved from
  if (context.size() > context_bytes_max) return Err(MlDsaError::bad_context_length);
  const std::array<std::uint8_t, 2> prefix{0, static_cast<std::uint8_t>(context.size())};
  const MessagePrime message_prime{{prefix, context, message}, 3};
  return verify_expanded(*key.data_, &message_prime, {}, signature);
}

Status<MlDsaError> sign(const ExpandedSecretKey& key, ByteSpan message, ByteSpan context, Randomness randomness,
                        MutableByteSpan signature) {
  KESTREL_ASSERT(key.data_ != nullptr);
  KESTREL_ASSERT(signature.size() == key.data_->params->signature_bytes);
  if (context.size() > context_bytes_max) {
    std::fill(signature.begin(), signature.end(), 0);
    return Err(MlDsaError::bad_context_length);
  }
  auto rnd = fresh_rnd(randomness);
  const std::array<std::uint8_t, 2> prefix{0, static_cast<std::uint8_t>(context.size())};
  auto result = sign_expanded(*key.data_, MessagePrime{{prefix, context, message}, 3}, rnd, signature);
  secure_zero(rnd);
  return result;
}

}  // namespace kestrel::crypto::mldsa
