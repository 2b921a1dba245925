// ML-DSA, the Module-Lattice-Based Digital Signature Algorithm (FIPS 204,
// August 2024), written here from the standard; Kestrel's default signature
// scheme is ML-DSA-65 (crypto/signature.h wraps it behind Signer/Verifier).
//
// What is here, by FIPS 204 algorithm number:
//   1 ML-DSA.KeyGen            key_gen
//   2 ML-DSA.Sign              sign            (external, pure, context 0-255 B)
//   3 ML-DSA.Verify            verify
//   4 HashML-DSA.Sign          hash_sign       (pre-hash, PreHash below)
//   5 HashML-DSA.Verify        hash_verify
//   6 ML-DSA.KeyGen_internal   key_gen_internal
//   7 ML-DSA.Sign_internal     sign_internal   (and sign_mu: mu given externally)
//   8 ML-DSA.Verify_internal   verify_internal (and verify_mu)
// Signing randomness: Randomness::hedged draws a fresh 32-byte rnd from the OS
// (crypto/random.h); Randomness::deterministic uses 32 zero bytes; the *_with_rnd
// forms take rnd explicitly (known-answer tests).
//
// Decoding is strict (FIPS 204 Algorithms 21, 23, 27 and the checks of
// Algorithm 8): a public key or signature of the wrong length, a hint that is
// not in canonical form, or ||z||inf >= gamma1 - beta is rejected with a
// specific MlDsaError; verify never asserts on untrusted input. A secret key is
// trusted input (FIPS 204 section 3.6.2); check_secret_key validates one loaded
// from a file.
//
// Paths: portable C++ and AVX2 (NTT, pointwise products, 4-way Keccak for
// ExpandA/ExpandS/ExpandMask), chosen per call by cpu_features().avx2 and the
// gate crypto.avx2; outputs are identical.
//
// Constant time: key generation and signing do not branch on or index memory
// by secret data, except for what FIPS 204 lets leak: whether a rejection
// sampling candidate (RejBoundedPoly, or a signing attempt) is rejected, and the
// challenge c~ of an attempt. Checked by valgrind (mldsa/ct_check.cc).
// Secret intermediates are zeroed before return.
//
// Thread-safe: all functions are pure apart from the OS random source.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace kestrel::crypto::mldsa {

enum class ParameterSet : std::uint8_t { ml_dsa_44, ml_dsa_65, ml_dsa_87 };

namespace detail {
struct ExpandedPublicKeyData;
struct ExpandedSecretKeyData;
}  // namespace detail

const char* parameter_set_name(ParameterSet set);  // "ML-DSA-65" (ACVP spelling)
std::size_t public_key_bytes(ParameterSet set);    // 1312 / 1952 / 2592
std::size_t secret_key_bytes(ParameterSet set);    // 2560 / 4032 / 4896
std::size_t signature_bytes(ParameterSet set);     // 2420 / 3309 / 4627

inline constexpr std::size_t seed_bytes = 32;     // xi (KeyGen) and rnd (Sign)
inline constexpr std::size_t mu_bytes = 64;       // mu = H(tr || M', 64)
inline constexpr std::size_t context_bytes_max = 255;  // FIPS 204 Algorithm 2 line 1

enum class MlDsaError : std::uint8_t {
  bad_length,              // a key, signature or mu of the wrong size
  bad_context_length,      // context longer than 255 bytes
  malformed_hint,          // hint bytes not in the canonical form of Algorithm 21
  z_out_of_range,          // ||z||inf >= gamma1 - beta
  bad_signature,           // well-formed but the challenge does not match
  bad_secret_key,          // a secret key that fails check_secret_key
  sign_attempts_exhausted, // limits::mldsa_sign_attempts_max reached (probability < 2^-128)
  unknown_hash,            // a pre-hash name this module does not know
};
const char* describe(MlDsaError error);

// Pre-hash functions of HashML-DSA (FIPS 204 section 5.4.1) with their OIDs
// 2.16.840.1.101.3.4.2.{1..12}.
enum class PreHash : std::uint8_t {
  sha2_224, sha2_256, sha2_384, sha2_512, sha2_512_224, sha2_512_256,
  sha3_224, sha3_256, sha3_384, sha3_512, shake128, shake256,
};
// ACVP names: "SHA2-256", "SHA2-512/224", "SHA3-384", "SHAKE-128", ...
Result<PreHash, MlDsaError> parse_pre_hash(std::string_view name);

enum class Randomness : std::uint8_t { hedged, deterministic };

using Seed = std::span<const std::uint8_t, seed_bytes>;

// --- Key generation (Algorithms 1 and 6) ----------------------------------------
// REQUIRES (programmer errors, asserted): public_key and secret_key have exactly
// the sizes of `set`.
void key_gen(ParameterSet set, MutableByteSpan public_key, MutableByteSpan secret_key);
void key_gen_internal(ParameterSet set, Seed xi, MutableByteSpan public_key, MutableByteSpan secret_key);

// --- Signing (Algorithms 2, 4, 7) -------------------------------------------------
// REQUIRES: signature.size() == signature_bytes(set). Errors: bad_length (secret
// key size), bad_context_length. On error the signature is zeroed.
Status<MlDsaError> sign(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                        Randomness randomness, MutableByteSpan signature);
Status<MlDsaError> sign_with_rnd(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                                 Seed rnd, MutableByteSpan signature);
Status<MlDsaError> hash_sign(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                             PreHash pre_hash, Randomness randomness, MutableByteSpan signature);
Status<MlDsaError> hash_sign_with_rnd(ParameterSet set, ByteSpan secret_key, ByteSpan message, ByteSpan context,
                                      PreHash pre_hash, Seed rnd, MutableByteSpan signature);
// Sign_internal on M' as given (no domain prefix).
Status<MlDsaError> sign_internal(ParameterSet set, ByteSpan secret_key, ByteSpan message_prime, Seed rnd,
                                 MutableByteSpan signature);
// Sign_internal from mu = H(tr || M', 64) computed by the caller (external mu).
Status<MlDsaError> sign_mu(ParameterSet set, ByteSpan secret_key, ByteSpan mu, Seed rnd, MutableByteSpan signature);

// --- Verification (Algorithms 3, 5, 8) ---------------------------------------------
// Ok when the signature is valid; otherwise the first reason found.
Status<MlDsaError> verify(ParameterSet set, ByteSpan public_key, ByteSpan message, ByteSpan context,
                          ByteSpan signature);
Status<MlDsaError> hash_verify(ParameterSet set, ByteSpan public_key, ByteSpan message, ByteSpan context,
                               PreHash pre_hash, ByteSpan signature);
Status<MlDsaError> verify_internal(ParameterSet set, ByteSpan public_key, ByteSpan message_prime,
                                   ByteSpan signature);
Status<MlDsaError> verify_mu(ParameterSet set, ByteSpan public_key, ByteSpan mu, ByteSpan signature);

// mu = H(H(pk, 64) || M', 64) for external-mu signing (Algorithm 7 line 6).
Status<MlDsaError> compute_mu(ParameterSet set, ByteSpan public_key, ByteSpan message_prime,
                              std::span<std::uint8_t, mu_bytes> mu);

// --- Expanded keys ------------------------------------------------------------------
// The per-key part of Verify (pkDecode, ExpandA, NTT(t1 * 2^d), tr = H(pk)) and of
// Sign (skDecode, ExpandA, NTT of s1, s2, t0) depends only on the key, so a
// party that signs or verifies many messages under one key does it once. The
// results are the same as the byte-key functions'. Sizes: A-hat is k * l KiB
// (30 KiB for ML-DSA-65); an expanded ML-DSA-65 public key is ~37 KiB, a secret
// key ~47 KiB (heap). An expanded secret key is wiped when destroyed.
// Thread-safe: immutable after construction; share freely.
class ExpandedPublicKey {
 public:
  ExpandedPublicKey(ExpandedPublicKey&&) noexcept;
  ExpandedPublicKey& operator=(ExpandedPublicKey&&) noexcept;
  ~ExpandedPublicKey();
  ParameterSet set() const { return set_; }

 private:
  friend Result<ExpandedPublicKey, MlDsaError> expand_public_key(ParameterSet, ByteSpan);
  friend Status<MlDsaError> verify(const ExpandedPublicKey&, ByteSpan, ByteSpan, ByteSpan);
  ExpandedPublicKey(ParameterSet set, std::unique_ptr<detail::ExpandedPublicKeyData> data);
  ParameterSet set_;
  std::unique_ptr<detail::ExpandedPublicKeyData> data_;
};

class ExpandedSecretKey {
 public:
  ExpandedSecretKey(ExpandedSecretKey&&) noexcept;
  ExpandedSecretKey& operator=(ExpandedSecretKey&&) noexcept;
  ~ExpandedSecretKey();
  ParameterSet set() const { return set_; }

 private:
  friend Result<ExpandedSecretKey, MlDsaError> expand_secret_key(ParameterSet, ByteSpan);
  friend Status<MlDsaError> sign(const ExpandedSecretKey&, ByteSpan, ByteSpan, Randomness, MutableByteSpan);
  ExpandedSecretKey(ParameterSet set, std::unique_ptr<detail::ExpandedSecretKeyData> data);
  ParameterSet set_;
  std::unique_ptr<detail::ExpandedSecretKeyData> data_;
};

// bad_length for a key of the wrong size. (Every public key of the right size
// decodes; a secret key is trusted input, see check_secret_key.)
Result<ExpandedPublicKey, MlDsaError> expand_public_key(ParameterSet set, ByteSpan public_key);
Result<ExpandedSecretKey, MlDsaError> expand_secret_key(ParameterSet set, ByteSpan secret_key);
// Algorithms 3 and 2 on expanded keys (same results as verify / sign above).
Status<MlDsaError> verify(const ExpandedPublicKey& key, ByteSpan message, ByteSpan context, ByteSpan signature);
Status<MlDsaError> sign(const ExpandedSecretKey& key, ByteSpan message, ByteSpan context, Randomness randomness,
                        MutableByteSpan signature);

// --- Keys ------------------------------------------------------------------------
// Recomputes the public key from an expanded secret key and checks that the
// secret key is consistent (s1, s2 in [-eta, eta]; t0 and tr match). Used when a
// secret key is read from a file. REQUIRES: public_key.size() == public_key_bytes(set).
Status<MlDsaError> check_secret_key(ParameterSet set, ByteSpan secret_key, MutableByteSpan public_key);

}  // namespace kestrel::crypto::mldsa
