// HKDF-SHA256 (RFC 5869) through OpenSSL 3's EVP_KDF "HKDF": the key derivation
// the validator handshake (net) uses to turn its shared secrets and transcript
// into session keys, available to any module that needs one.
//
// hkdf_sha256 is Extract-then-Expand; hkdf_extract / hkdf_expand expose the two
// steps (RFC 5869 section 2.2 and 2.3) for callers that derive several keys from
// one PRK (rekeying). Output lengths are checked first (Expand allows at most
// 255 * 32 bytes); on failure the output is zeroed.
//
// Thread-safe: yes (each call uses its own OpenSSL context).
#pragma once

#include <cstddef>

#include "common/bytes.h"
#include "common/result.h"
#include "crypto/classic.h"

namespace kestrel::crypto {

inline constexpr std::size_t hkdf_sha256_prk_bytes = 32;
// RFC 5869 section 2.3: L <= 255 * HashLen.
inline constexpr std::size_t hkdf_sha256_output_bytes_max = 255 * 32;

// OKM = HKDF-Expand(HKDF-Extract(salt, ikm), info, out.size()).
// bad_length when out is empty or longer than hkdf_sha256_output_bytes_max.
[[nodiscard]] Status<CryptoError> hkdf_sha256(MutableByteSpan out, ByteSpan ikm, ByteSpan salt,
                                              ByteSpan info);
// PRK = HMAC-SHA256(salt, ikm). REQUIRES: prk.size() == hkdf_sha256_prk_bytes (else bad_length).
[[nodiscard]] Status<CryptoError> hkdf_extract(MutableByteSpan prk, ByteSpan ikm, ByteSpan salt);
// OKM = HKDF-Expand(prk, info, out.size()). bad_length when prk is shorter than 32
// bytes or out is empty or too long.
[[nodiscard]] Status<CryptoError> hkdf_expand(MutableByteSpan out, ByteSpan prk, ByteSpan info);

}  // namespace kestrel::crypto
