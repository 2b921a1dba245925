#include "crypto/classic.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <climits>
#include <mutex>

#include "common/assert.h"
#include "common/gates.h"
#include "common/limits.h"
#include "crypto/aead_detail.h"
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

namespace {

// OpenSSL's ChaCha20-Poly1305: fetched once (null if the provider lacks it), one
// EVP context per thread. The context is reset after every use, which wipes the
// key state and frees the provider's cipher context, so each call allocates it
// anew: the measured per-call cost is in limits::openssl_aead_bytes_min's note,
// and keeping key state alive between frames is what the reset avoids.
const EVP_CIPHER* openssl_chacha20_poly1305() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return cipher;
}

struct AeadContext {
  EVP_CIPHER_CTX* context = EVP_CIPHER_CTX_new();
  ~AeadContext() { EVP_CIPHER_CTX_free(context); }
};

EVP_CIPHER_CTX* thread_aead_context() {
  thread_local AeadContext c;
  KESTREL_ASSERT(c.context != nullptr);
  return c.context;
}

// EVP takes int lengths: larger inputs go in INT_MAX-bounded pieces (the stream
// cipher and the MAC continue across calls).
template <typename Update>
bool evp_in_pieces(Update update, std::uint8_t* out, const std::uint8_t* in, std::size_t size) {
  constexpr std::size_t piece = static_cast<std::size_t>(INT_MAX) & ~std::size_t{63};
  for (std::size_t at = 0; at < size; at += piece) {
    const int n = static_cast<int>(std::min(piece, size - at));
    int written = 0;
    if (update(out == nullptr ? nullptr : out + at, &written, in + at, n) != 1 || written != n) return false;
  }
  return true;
}

void openssl_seal(MutableByteSpan ciphertext, std::span<std::uint8_t, aead_tag_bytes> tag, ByteSpan plaintext,
                  ByteSpan associated_data, const AeadNonce& nonce, const AeadKey& key) {
  const EVP_CIPHER* cipher = openssl_chacha20_poly1305();
  KESTREL_ASSERT(cipher != nullptr);
  EVP_CIPHER_CTX* c = thread_aead_context();
  auto update = [c](std::uint8_t* out, int* written, const std::uint8_t* in, int n) {
    return EVP_EncryptUpdate(c, out, written, in, n);
  };
  int final_bytes = 0;
  const bool ok = EVP_EncryptInit_ex2(c, cipher, key.data(), nonce.data(), nullptr) == 1 &&
                  evp_in_pieces(update, nullptr, associated_data.data(), associated_data.size()) &&
                  evp_in_pieces(update, ciphertext.data(), plaintext.data(), plaintext.size()) &&
                  EVP_EncryptFinal_ex(c, ciphertext.data() + ciphertext.size(), &final_bytes) == 1 &&
                  final_bytes == 0 &&
                  EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(aead_tag_bytes), tag.data()) == 1;
  EVP_CIPHER_CTX_reset(c);
  KESTREL_ASSERT(ok);
}

bool openssl_open(MutableByteSpan plaintext, ByteSpan ciphertext, ByteSpan tag, ByteSpan associated_data,
                  const AeadNonce& nonce, const AeadKey& key) {
  const EVP_CIPHER* cipher = openssl_chacha20_poly1305();
  KESTREL_ASSERT(cipher != nullptr);
  KESTREL_ASSERT(tag.size() == aead_tag_bytes);
  EVP_CIPHER_CTX* c = thread_aead_context();
  auto update = [c](std::uint8_t* out, int* written, const std::uint8_t* in, int n) {
    return EVP_DecryptUpdate(c, out, written, in, n);
  };
  std::array<std::uint8_t, aead_tag_bytes> expected;
  std::copy(tag.begin(), tag.end(), expected.begin());
  int final_bytes = 0;
  KESTREL_ASSERT(EVP_DecryptInit_ex2(c, cipher, key.data(), nonce.data(), nullptr) == 1);
  KESTREL_ASSERT(evp_in_pieces(update, nullptr, associated_data.data(), associated_data.size()));
  KESTREL_ASSERT(evp_in_pieces(update, plaintext.data(), ciphertext.data(), ciphertext.size()));
  KESTREL_ASSERT(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(aead_tag_bytes), expected.data()) == 1);
  // The tag is checked here, after decryption: the caller zeroes the output on failure.
  const bool authentic = EVP_DecryptFinal_ex(c, plaintext.data() + plaintext.size(), &final_bytes) == 1;
  EVP_CIPHER_CTX_reset(c);
  return authentic && final_bytes == 0;
}

void sodium_seal(MutableByteSpan ciphertext, std::span<std::uint8_t, aead_tag_bytes> tag, ByteSpan plaintext,
                 ByteSpan associated_data, const AeadNonce& nonce, const AeadKey& key) {
  sodium_init_once();
  unsigned long long tag_length = 0;
  KESTREL_ASSERT(crypto_aead_chacha20poly1305_ietf_encrypt_detached(
                     ciphertext.data(), tag.data(), &tag_length, plaintext.data(), plaintext.size(),
                     associated_data.data(), associated_data.size(), nullptr, nonce.data(),
                     key.data()) == 0);
  KESTREL_ASSERT(tag_length == aead_tag_bytes);
}

bool sodium_open(MutableByteSpan plaintext, ByteSpan ciphertext, ByteSpan tag, ByteSpan associated_data,
                 const AeadNonce& nonce, const AeadKey& key) {
  sodium_init_once();
  return crypto_aead_chacha20poly1305_ietf_decrypt_detached(plaintext.data(), nullptr, ciphertext.data(),
                                                            ciphertext.size(), tag.data(), associated_data.data(),
                                                            associated_data.size(), nonce.data(), key.data()) == 0;
}

detail::AeadLibrary library_for(std::size_t bytes) {
  return bytes >= limits::openssl_aead_bytes_min && gate_enabled(Gate::crypto_openssl_aead) &&
                 detail::openssl_aead_available()
             ? detail::AeadLibrary::openssl
             : detail::AeadLibrary::libsodium;
}

}  // namespace

namespace detail {

bool openssl_aead_available() { return openssl_chacha20_poly1305() != nullptr; }

void aead_seal_detached_with(AeadLibrary library, MutableByteSpan ciphertext,
                             std::span<std::uint8_t, aead_tag_bytes> tag, ByteSpan plaintext,
                             ByteSpan associated_data, const AeadNonce& nonce, const AeadKey& key) {
  KESTREL_ASSERT(ciphertext.size() == plaintext.size());
  if (library == AeadLibrary::openssl) {
    openssl_seal(ciphertext, tag, plaintext, associated_data, nonce, key);
  } else {
    sodium_seal(ciphertext, tag, plaintext, associated_data, nonce, key);
  }
}

Status<CryptoError> aead_open_detached_with(AeadLibrary library, MutableByteSpan plaintext,
                                            ByteSpan ciphertext, ByteSpan tag, ByteSpan associated_data,
                                            const AeadNonce& nonce, const AeadKey& key) {
  if (plaintext.size() != ciphertext.size() || tag.size() != aead_tag_bytes) {
    secure_zero(plaintext);
    return Err(CryptoError::bad_length);
  }
  const bool authentic = library == AeadLibrary::openssl
                             ? openssl_open(plaintext, ciphertext, tag, associated_data, nonce, key)
                             : sodium_open(plaintext, ciphertext, tag, associated_data, nonce, key);
  if (!authentic) {
    secure_zero(plaintext);
    return Err(CryptoError::authentication_failed);
  }
  return {};
}

}  // namespace detail

void aead_seal_detached(MutableByteSpan ciphertext, std::span<std::uint8_t, aead_tag_bytes> tag,
                        ByteSpan plaintext, ByteSpan associated_data, const AeadNonce& nonce,
                        const AeadKey& key) {
  detail::aead_seal_detached_with(library_for(plaintext.size() + associated_data.size()), ciphertext, tag,
                                  plaintext, associated_data, nonce, key);
}

Status<CryptoError> aead_open_detached(MutableByteSpan plaintext, ByteSpan ciphertext,
                                       ByteSpan tag, ByteSpan associated_data,
                                       const AeadNonce& nonce, const AeadKey& key) {
  return detail::aead_open_detached_with(library_for(ciphertext.size() + associated_data.size()), plaintext,
                                         ciphertext, tag, associated_data, nonce, key);
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
