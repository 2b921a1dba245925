// Classical primitives: Ed25519 signatures and X25519 key agreement from
// libsodium; ChaCha20-Poly1305 (IETF, RFC 8439) authenticated encryption from
// OpenSSL 3's EVP for inputs of limits::openssl_aead_bytes_min or more with gate
// crypto.openssl_aead on, from libsodium otherwise (the same cipher: the same
// bytes either way; docs/crypto.md).
//
// Every function checks lengths at the boundary (fixed-size arrays make most of
// them static) and returns a CryptoError on failure; an AEAD open that fails
// zeroes its output. libsodium is initialised once on first use; OpenSSL's cipher
// is fetched once, and if that fails every input goes to libsodium.
//
// Thread-safe: yes (libsodium's functions are, after sodium_init; the OpenSSL
// path uses one EVP context per thread).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "common/bytes.h"
#include "common/result.h"

namespace kestrel::crypto {

enum class CryptoError : std::uint8_t {
  bad_length,          // an input has the wrong size
  bad_signature,       // signature verification failed
  bad_public_key,      // a public key is malformed or of low order
  authentication_failed,  // AEAD tag mismatch
  bad_encoding,        // a serialized key or signature is malformed
  unknown_scheme,      // a scheme tag or name Kestrel does not know
  internal,            // the library reported an unexpected failure
};
const char* describe(CryptoError error);

// Idempotent; called by every wrapper. Exposed for startup code that wants to fail early.
void sodium_init_once();

// --- Ed25519 (RFC 8032) -------------------------------------------------------------

inline constexpr std::size_t ed25519_seed_bytes = 32;
inline constexpr std::size_t ed25519_public_key_bytes = 32;
inline constexpr std::size_t ed25519_secret_key_bytes = 64;  // seed || public key
inline constexpr std::size_t ed25519_signature_bytes = 64;

struct Ed25519KeyPair {
  std::array<std::uint8_t, ed25519_public_key_bytes> public_key{};
  std::array<std::uint8_t, ed25519_secret_key_bytes> secret_key{};
  ~Ed25519KeyPair();
};

Ed25519KeyPair ed25519_keypair_from_seed(std::span<const std::uint8_t, ed25519_seed_bytes> seed);
Ed25519KeyPair ed25519_keypair();
void ed25519_sign(std::span<std::uint8_t, ed25519_signature_bytes> signature, ByteSpan message,
                  std::span<const std::uint8_t, ed25519_secret_key_bytes> secret_key);
// Strict verification: rejects non-canonical encodings and small-order keys.
Status<CryptoError> ed25519_verify(ByteSpan signature, ByteSpan message, ByteSpan public_key);

// --- X25519 (RFC 7748) ------------------------------------------------------------

inline constexpr std::size_t x25519_bytes = 32;

struct X25519KeyPair {
  std::array<std::uint8_t, x25519_bytes> public_key{};
  std::array<std::uint8_t, x25519_bytes> secret_key{};
  ~X25519KeyPair();
};

X25519KeyPair x25519_keypair();
// shared = X25519(secret_key, public_key). Fails when the result is all zero
// (a low-order peer key), which RFC 7748 section 6.1 says to check.
Status<CryptoError> x25519(std::span<std::uint8_t, x25519_bytes> shared,
                           std::span<const std::uint8_t, x25519_bytes> secret_key,
                           std::span<const std::uint8_t, x25519_bytes> public_key);
// public_key = X25519(secret_key, 9).
void x25519_base(std::span<std::uint8_t, x25519_bytes> public_key,
                 std::span<const std::uint8_t, x25519_bytes> secret_key);

// --- ChaCha20-Poly1305 IETF (RFC 8439) ------------------------------------------

inline constexpr std::size_t aead_key_bytes = 32;
inline constexpr std::size_t aead_nonce_bytes = 12;
inline constexpr std::size_t aead_tag_bytes = 16;

using AeadKey = std::array<std::uint8_t, aead_key_bytes>;
using AeadNonce = std::array<std::uint8_t, aead_nonce_bytes>;

// Detached: ciphertext has plaintext's size, the tag goes to `tag`.
// REQUIRES: ciphertext.size() == plaintext.size() (may alias for in-place).
void aead_seal_detached(MutableByteSpan ciphertext, std::span<std::uint8_t, aead_tag_bytes> tag,
                        ByteSpan plaintext, ByteSpan associated_data, const AeadNonce& nonce,
                        const AeadKey& key);
// On failure the plaintext is zeroed and authentication_failed returned.
Status<CryptoError> aead_open_detached(MutableByteSpan plaintext, ByteSpan ciphertext,
                                       ByteSpan tag, ByteSpan associated_data,
                                       const AeadNonce& nonce, const AeadKey& key);
// Attached: the output is ciphertext || tag.
Bytes aead_seal(ByteSpan plaintext, ByteSpan associated_data, const AeadNonce& nonce,
                const AeadKey& key);
Result<Bytes, CryptoError> aead_open(ByteSpan sealed, ByteSpan associated_data,
                                     const AeadNonce& nonce, const AeadKey& key);

}  // namespace kestrel::crypto
