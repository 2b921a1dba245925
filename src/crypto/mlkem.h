// ML-KEM (FIPS 203, August 2024): the module-lattice key-encapsulation
// mechanism Kestrel's validator sessions use, with X25519, to agree keys.
// ML-KEM-512, ML-KEM-768 and ML-KEM-1024; key generation, encapsulation and
// decapsulation (Algorithms 19-21), their deterministic internal forms
// (Algorithms 16-18), and the input checks of section 7.
//
// Inputs and outputs are byte spans of the sizes below; a wrong size is
// MlKemError::bad_length (lengths are checked first). On any error every output
// is zeroed. Implicit rejection in decapsulation is constant time: a tampered
// ciphertext yields J(z || c) without a branch on secret data.
//
// Paths: portable C++ everywhere; AVX2 when the CPU has it and the gate
// crypto.avx2 is on (checked once per call). Both give identical bytes.
// Internals (layered params -> reduce -> ntt -> poly -> polyvec -> k-pke -> kem)
// live in crypto/mlkem/ and are not part of this interface. See docs/mlkem.md.
//
// Thread-safe: yes (no shared state; callers own all buffers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "common/result.h"

namespace kestrel::crypto::mlkem {

enum class ParameterSet : std::uint8_t { ml_kem_512, ml_kem_768, ml_kem_1024 };
const char* describe(ParameterSet set);  // "ML-KEM-768", the name ACVP uses

enum class MlKemError : std::uint8_t {
  bad_length,               // a key, ciphertext or output span has the wrong size
  ek_modulus_check_failed,  // section 7.2: ByteEncode12(ByteDecode12(ek)) != ek
  dk_hash_check_failed,     // section 7.3: H(ek part of dk) != the hash stored in dk
};
const char* describe(MlKemError error);

// Byte sizes (FIPS 203 section 8, Table 3).
inline constexpr std::size_t seed_bytes = 32;        // d, z, and the message m
inline constexpr std::size_t shared_key_bytes = 32;  // K
inline constexpr std::size_t ml_kem_512_ek_bytes = 800;
inline constexpr std::size_t ml_kem_512_dk_bytes = 1632;
inline constexpr std::size_t ml_kem_512_ciphertext_bytes = 768;
inline constexpr std::size_t ml_kem_768_ek_bytes = 1184;
inline constexpr std::size_t ml_kem_768_dk_bytes = 2400;
inline constexpr std::size_t ml_kem_768_ciphertext_bytes = 1088;
inline constexpr std::size_t ml_kem_1024_ek_bytes = 1568;
inline constexpr std::size_t ml_kem_1024_dk_bytes = 3168;
inline constexpr std::size_t ml_kem_1024_ciphertext_bytes = 1568;

struct Sizes {
  std::size_t ek_bytes;
  std::size_t dk_bytes;
  std::size_t ciphertext_bytes;
};
constexpr Sizes sizes(ParameterSet set) {
  switch (set) {
    case ParameterSet::ml_kem_512:
      return {ml_kem_512_ek_bytes, ml_kem_512_dk_bytes, ml_kem_512_ciphertext_bytes};
    case ParameterSet::ml_kem_768:
      return {ml_kem_768_ek_bytes, ml_kem_768_dk_bytes, ml_kem_768_ciphertext_bytes};
    case ParameterSet::ml_kem_1024:
      break;
  }
  return {ml_kem_1024_ek_bytes, ml_kem_1024_dk_bytes, ml_kem_1024_ciphertext_bytes};
}

using Seed = std::span<const std::uint8_t, seed_bytes>;
using SharedKey = std::span<std::uint8_t, shared_key_bytes>;

// ML-KEM.KeyGen_internal (Algorithm 16): deterministic from the seeds d and z.
// REQUIRES sizes: ek.size() == ek_bytes, dk.size() == dk_bytes (else bad_length).
Status<MlKemError> keygen_internal(ParameterSet set, std::span<std::uint8_t> ek,
                                   std::span<std::uint8_t> dk, Seed d, Seed z);
// ML-KEM.KeyGen (Algorithm 19): d and z from the operating system's RNG.
Status<MlKemError> keygen(ParameterSet set, std::span<std::uint8_t> ek, std::span<std::uint8_t> dk);

// ML-KEM.Encaps_internal (Algorithm 17) with the encapsulation key check of
// section 7.2 first: deterministic from the message m.
Status<MlKemError> encaps_internal(ParameterSet set, SharedKey shared_key,
                                   std::span<std::uint8_t> ciphertext,
                                   std::span<const std::uint8_t> ek, Seed m);
// ML-KEM.Encaps (Algorithm 20): m from the operating system's RNG.
Status<MlKemError> encaps(ParameterSet set, SharedKey shared_key, std::span<std::uint8_t> ciphertext,
                          std::span<const std::uint8_t> ek);

// ML-KEM.Decaps (Algorithm 21): the checks of section 7.3 (ciphertext and key
// lengths, then the hash check of dk), then Decaps_internal (Algorithm 18). A
// ciphertext that does not re-encrypt gives the implicit-rejection key J(z || c).
Status<MlKemError> decaps(ParameterSet set, SharedKey shared_key,
                          std::span<const std::uint8_t> ciphertext, std::span<const std::uint8_t> dk);
// ML-KEM.Decaps_internal (Algorithm 18): lengths checked, no hash check. For a
// dk that has passed check_decapsulation_key() once (e.g. when loaded), this
// saves hashing the embedded ek on every call.
Status<MlKemError> decaps_internal(ParameterSet set, SharedKey shared_key,
                                   std::span<const std::uint8_t> ciphertext,
                                   std::span<const std::uint8_t> dk);

// Section 7.2 (encapsulation key type and modulus checks).
Status<MlKemError> check_encapsulation_key(ParameterSet set, std::span<const std::uint8_t> ek);
// Section 7.3 (decapsulation key type and hash checks).
Status<MlKemError> check_decapsulation_key(ParameterSet set, std::span<const std::uint8_t> dk);

}  // namespace kestrel::crypto::mlkem
