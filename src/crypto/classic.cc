#include "crypto/classic.h"

#include <sodium.h>

#include <mutex>

#include "common/assert.h"
#include "crypto/ct.h"
#include "crypto/random.h"

namespace kestrel::crypto {

const char* describe(CryptoError error) {
  switch (error) {
    case CryptoError::bad_length: return "input has the wrong length";
    case CryptoError::bad_signature: return "signature verification failed";
    case CryptoError::bad_public_key: return "public key is malformed or of low order";
    case CryptoError::authentication_failed: return "authentication tag mismatch";
    case CryptoError::bad_encoding: return "serialized key or signature is malformed";
    case CryptoError::unknown_scheme: return "unknown signature scheme";
    case CryptoError::internal: return "cryptographic library failure";
  }
  return "unknown crypto error";
}

void sodium_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { KESTREL_ASSERT(sodium_init() >= 0); });
}

void secure_zero(std::span<std::uint8_t> buffer) { sodium_memzero(buffer.data(), buffer.size()); }
void secure_zero(void* data, std::size_t size) { sodium_memzero(data, size); }

void random_bytes(std::span<std::uint8_t> out) {
  sodium_init_once();
  randombytes_buf(out.data(), out.size());
}

// --- Ed25519 ----------------------------------------------------------------------

static_assert(ed25519_public_key_bytes == crypto_sign_PUBLICKEYBYTES);
static_assert(ed25519_secret_key_bytes == crypto_sign_SECRETKEYBYTES);
static_assert(ed25519_signature_bytes == crypto_sign_BYTES);
static_assert(ed25519_seed_bytes == crypto_sign_SEEDBYTES);

Ed25519KeyPair::~Ed25519KeyPair() { secure_zero(secret_key); }

Ed25519KeyPair ed25519_keypair_from_seed(std::span<const std::uint8_t, ed25519_seed_bytes> seed) {
  sodium_init_once();
  Ed25519KeyPair kp;
  KESTREL_ASSERT(crypto_sign_seed_keypair(kp.public_key.data(), kp.secret_key.data(), seed.data()) == 0);
  return kp;
}

Ed25519KeyPair ed25519_keypair() {
  std::array<std::uint8_t, ed25519_seed_bytes> seed;
  random_bytes(seed);
  Ed25519KeyPair kp = ed25519_keypair_from_seed(seed);
  secure_zero(seed);
  return kp;
}

void ed25519_sign(std::span<std::uint8_t, ed25519_signature_bytes> signature, ByteSpan message,
                  std::span<const std::uint8_t, ed25519_secret_key_bytes> secret_key) {
  sodium_init_once();
  KESTREL_ASSERT(crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(),
                                      secret_key.data()) == 0);
}

Status<CryptoError> ed25519_verify(ByteSpan signature, ByteSpan message, ByteSpan public_key) {
  sodium_init_once();
  if (signature.size() != ed25519_signature_bytes || public_key.size() != ed25519_public_key_bytes) {
    return Err(CryptoError::bad_length);
  }
  // libsodium >= 1.0.16 rejects non-canonical S, small-order R and A by default.
  if (crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                  public_key.data()) != 0) {
    return Err(CryptoError::bad_signature);
  }
  return {};
}

// --- X25519 ---------------------------------------------------------------------

static_assert(x25519_bytes == crypto_scalarmult_BYTES);
static_assert(x25519_bytes == crypto_scalarmult_SCALARBYTES);

X25519KeyPair::~X25519KeyPair() { secure_zero(secret_key); }

X25519KeyPair x25519_keypair() {
  X25519KeyPair kp;
  random_bytes(kp.secret_key);
  x25519_base(kp.public_key, kp.secret_key);
  return kp;
}

Status<CryptoError> x25519(std::span<std::uint8_t, x25519_bytes> shared,
                           std::span<const std::uint8_t, x25519_bytes> secret_key,
                           std::span<const std::uint8_t, x25519_bytes> public_key) {
  sodium_init_once();
  // crypto_scalarmult returns -1 when the output is all zero (low-order point).
  if (crypto_scalarmult(shared.data(), secret_key.data(), public_key.data()) != 0) {
    secure_zero(shared);
    return Err(CryptoError::bad_public_key);
  }
  return {};
}

void x25519_base(std::span<std::uint8_t, x25519_bytes> public_key,
                 std::span<const std::uint8_t, x25519_bytes> secret_key) {
  sodium_init_once();
  KESTREL_ASSERT(crypto_scalarmult_base(public_key.data(), secret_key.data()) == 0);
}

// --- ChaCha20-Poly1305 IETF -----------------------------------------------------------

static_assert(aead_key_bytes == crypto_aead_chacha20poly1305_ietf_KEYBYTES);
static_assert(aead_nonce_bytes == crypto_aead_chacha20poly1305_ietf_NPUBBYTES);
static_assert(aead_tag_bytes == crypto_aead_chacha20poly1305_ietf_ABYTES);

void aead_seal_detached(MutableByteSpan ciphertext, std::span<std::uint8_t, aead_tag_bytes> tag,
                        ByteSpan plaintext, ByteSpan associated_data, const AeadNonce& nonce,
                        const AeadKey& key) {
  sodium_init_once();
  KESTREL_ASSERT(ciphertext.size() == plaintext.size());
  unsigned long long tag_length = 0;
  KESTREL_ASSERT(crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                     ciphertext.data(), tag.data(), &tag_length, plaintext.data(), plaintext.size(),
                     associated_data.data(), associated_data.size(), nullptr, nonce.data(),
                     key.data()) == 0);
  KESTREL_ASSERT(tag_length == aead_tag_bytes);
}

Status<CryptoError> aead_open_detached(MutableByteSpan plaintext, ByteSpan ciphertext,
                                       ByteSpan tag, ByteSpan associated_data,
                                       const AeadNonce& nonce, const AeadKey& key) {
  sodium_init_once();
  if (plaintext.size() != ciphertext.size() || tag.size() != aead_tag_bytes) {
    secure_zero(plaintext);
    return Err(CryptoError::bad_length);
  }
  if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(
          plaintext.data(), nullptr, ciphertext.data(), ciphertext.size(), tag.data(),
          associated_data.data(), associated_data.size(), nonce.data(), key.data()) != 0) {
    secure_zero(plaintext);
    return Err(CryptoError::authentication_failed);
  }
  return {};
}

Bytes aead_seal(ByteSpan plaintext, ByteSpan associated_data, const AeadNonce& nonce,
                const AeadKey& key) {
  Bytes sealed(plaintext.size() + aead_tag_bytes);
  MutableByteSpan body(sealed.data(), plaintext.size());
  std::span<std::uint8_t, aead_tag_bytes> tag(sealed.data() + plaintext.size(), aead_tag_bytes);
  aead_seal_detached(body, tag, plaintext, associated_data, nonce, key);
  return sealed;
}

Result<Bytes, CryptoError> aead_open(ByteSpan sealed, ByteSpan associated_data,
                                     const AeadNonce& nonce, const AeadKey& key) {
  if (sealed.size() < aead_tag_bytes) return Err(CryptoError::bad_length);
  const std::size_t body = sealed.size() - aead_tag_bytes;
  Bytes plaintext(body);
  auto status = aead_open_detached(plaintext, sealed.first(body), sealed.subspan(body),
                                   associated_data, nonce, key);
  if (!status) return Err(status.error());
  return plaintext;
}

}  // namespace kestrel::crypto
