// SHA-256 and the 32-byte identifier type used for blocks, transactions and keys.
//
// SHA-256 goes through OpenSSL 3; OpenSSL selects its SHA-NI code path at run
// time when the CPU has the extension, so no flag is needed here. Whole buffers:
// with the gate common.sha256_reuse_context on (default), a per-thread EVP
// context with a digest fetched once; off, OpenSSL's one-shot SHA256(), which in
// OpenSSL 3 fetches the algorithm on every call (~3x slower for a 64-byte input,
// measured by BM_Sha256 in hash_bench.cc).
//
// Thread-safe: Hash32 and sha256() are; a Sha256 object is used by one thread.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/result.h"

namespace kestrel {

struct Hash32 {
  static constexpr std::size_t size = 32;
  std::array<std::uint8_t, size> bytes{};

  auto operator<=>(const Hash32&) const = default;
  ByteSpan span() const { return bytes; }
  std::string hex() const { return to_hex(bytes); }
  // Exactly 64 hex digits.
  static Result<Hash32, HexError> from_hex(std::string_view hex);
};

// For unordered containers: the hash is already uniform, so its first 8 bytes do.
struct Hash32Hasher {
  std::size_t operator()(const Hash32& h) const noexcept {
    std::size_t v;
    std::memcpy(&v, h.bytes.data(), sizeof v);
    return v;
  }
};

// SHA-256 (FIPS 180-4) of `data`.
Hash32 sha256(ByteSpan data);

// Incremental SHA-256. Not copyable; finish() may be called once.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(ByteSpan data);
  Hash32 finish();

 private:
  void* context_;  // EVP_MD_CTX*, kept opaque so OpenSSL headers stay out of ours.
  bool finished_ = false;
};

}  // namespace kestrel
