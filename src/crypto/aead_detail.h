// Private to src/crypto: the two ChaCha20-Poly1305 implementations behind
// aead_seal_detached / aead_open_detached (classic.h), for the tests and the
// micro-benchmark, which must reach either one at any size (the public functions
// choose by gate crypto.openssl_aead and limits::openssl_aead_bytes_min). Same
// contracts as the public functions.
#pragma once

#include <cstdint>
#include <span>

#include "crypto/classic.h"

namespace kestrel::crypto::detail {

enum class AeadLibrary : std::uint8_t { libsodium, openssl };
// False when OpenSSL's cipher could not be fetched (the public functions then
// use libsodium for everything).
bool openssl_aead_available();
void aead_seal_detached_with(AeadLibrary library, MutableByteSpan ciphertext,
                             std::span<std::uint8_t, aead_tag_bytes> tag, ByteSpan plaintext,
                             ByteSpan associated_data, const AeadNonce& nonce, const AeadKey& key);
Status<CryptoError> aead_open_detached_with(AeadLibrary library, MutableByteSpan plaintext,
                                            ByteSpan ciphertext, ByteSpan tag, ByteSpan associated_data,
                                            const AeadNonce& nonce, const AeadKey& key);

}  // namespace kestrel::crypto::detail
