#include "crypto/kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>

#include "crypto/ct.h"

namespace kestrel::crypto {

namespace {

// One derivation through EVP_KDF "HKDF" in the given mode. The KDF is fetched
// once per process (fetching is the slow part of OpenSSL 3's provider lookup).
Status<CryptoError> run_hkdf(int mode, MutableByteSpan out, ByteSpan key, ByteSpan salt,
                             ByteSpan info) {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return Err(CryptoError::internal);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  if (ctx == nullptr) return Err(CryptoError::internal);
  // OpenSSL's params take non-const pointers but do not write through them. An
  // empty span may have a null data pointer, which OpenSSL refuses even with
  // length 0 (RFC 5869 allows an empty salt or info): such a span is passed as the
  // address of a static zero byte with length 0, so OpenSSL never reads it.
  static std::uint8_t empty = 0;
  auto pointer = [](ByteSpan s) { return s.empty() ? &empty : const_cast<std::uint8_t*>(s.data()); };
  auto* key_ptr = pointer(key);
  auto* salt_ptr = pointer(salt);
  auto* info_ptr = pointer(info);
  char digest[] = "SHA256";
  std::array<OSSL_PARAM, 6> params{};
  std::size_t n = 0;
  params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, key_ptr, key.size());
  if (mode != EVP_KDF_HKDF_MODE_EXPAND_ONLY) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt_ptr, salt.size());
  }
  if (mode != EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info_ptr, info.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  const int rc = EVP_KDF_derive(ctx, out.data(), out.size(), params.data());
  EVP_KDF_CTX_free(ctx);
  if (rc != 1) {
    secure_zero(out);
    return Err(CryptoError::internal);
  }
  return {};
}

}  // namespace

Status<CryptoError> hkdf_sha256(MutableByteSpan out, ByteSpan ikm, ByteSpan salt, ByteSpan info) {
  if (out.empty() || out.size() > hkdf_sha256_output_bytes_max) {
    secure_zero(out);
    return Err(CryptoError::bad_length);
  }
  return run_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND, out, ikm, salt, info);
}

Status<CryptoError> hkdf_extract(MutableByteSpan prk, ByteSpan ikm, ByteSpan salt) {
  if (prk.size() != hkdf_sha256_prk_bytes) {
    secure_zero(prk);
    return Err(CryptoError::bad_length);
  }
  return run_hkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, prk, ikm, salt, {});
}

Status<CryptoError> hkdf_expand(MutableByteSpan out, ByteSpan prk, ByteSpan info) {
  if (out.empty() || out.size() > hkdf_sha256_output_bytes_max || prk.size() < hkdf_sha256_prk_bytes) {
    secure_zero(out);
    return Err(CryptoError::bad_length);
  }
  return run_hkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, out, prk, {}, info);
}

}  // namespace kestrel::crypto
