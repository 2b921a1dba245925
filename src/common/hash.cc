#include "common/hash.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/gates.h"

namespace kestrel {

Result<Hash32, HexError> Hash32::from_hex(std::string_view hex) {
  Hash32 h;
  auto status = from_hex_exact(hex, h.bytes);
  if (!status) return Err(status.error());
  return h;
}

namespace {

const EVP_MD* sha256_md() {
  // Fetched once; EVP_MD_fetch is thread-safe and the result is immutable.
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  KESTREL_ASSERT(md != nullptr);
  return md;
}

// One EVP context per thread, reinitialised per hash; freed when the thread exits.
struct ThreadContext {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~ThreadContext() { EVP_MD_CTX_free(context); }
};

}  // namespace

Hash32 sha256(ByteSpan data) {
  Hash32 h;
  if (gate_enabled(Gate::common_sha256_reuse_context)) {
    thread_local ThreadContext thread_context;
    EVP_MD_CTX* context = thread_context.context;
    KESTREL_ASSERT(context != nullptr);
    unsigned int length = 0;
    KESTREL_ASSERT(EVP_DigestInit_ex2(context, sha256_md(), nullptr) == 1);
    KESTREL_ASSERT(EVP_DigestUpdate(context, data.data(), data.size()) == 1);
    KESTREL_ASSERT(EVP_DigestFinal_ex(context, h.bytes.data(), &length) == 1);
    KESTREL_ASSERT(length == Hash32::size);
  } else {
    ::SHA256(data.data(), data.size(), h.bytes.data());
  }
  return h;
}

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  KESTREL_ASSERT(context_ != nullptr);
  KESTREL_ASSERT(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), sha256_md(), nullptr) == 1);
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void Sha256::update(ByteSpan data) {
  KESTREL_ASSERT(!finished_);
  KESTREL_ASSERT(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), data.data(), data.size()) == 1);
}

Hash32 Sha256::finish() {
  KESTREL_ASSERT(!finished_);
  finished_ = true;
  Hash32 h;
  unsigned int length = 0;
  KESTREL_ASSERT(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(context_), h.bytes.data(), &length) == 1);
  KESTREL_ASSERT(length == Hash32::size);
  return h;
}

}  // namespace kestrel
