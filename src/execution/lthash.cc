#include "execution/lthash.h"

#include <sodium.h>

#include "common/assert.h"
#include "crypto/classic.h"

namespace kestrel::execution::detail {

namespace {

// The element's expansion: 2,048 bytes of ChaCha20 key stream (nonce 0).
void expand(const Hash32& element, std::array<std::uint8_t, LtHash16::bytes>& out) {
  static_assert(Hash32::size == crypto_stream_chacha20_ietf_KEYBYTES);
  static constexpr std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
  crypto::sodium_init_once();  // selects libsodium's SIMD code path
  const int rc = crypto_stream_chacha20_ietf(out.data(), out.size(), nonce.data(), element.bytes.data());
  KESTREL_ASSERT(rc == 0);  // the key stream cannot fail for a valid length
}

std::uint16_t lane_at(const std::array<std::uint8_t, LtHash16::bytes>& b, std::size_t i) {
  return static_cast<std::uint16_t>(b[2 * i] | (b[2 * i + 1] << 8));
}

}  // namespace

void LtHash16::add(const Hash32& element) {
  std::array<std::uint8_t, bytes> e;
  expand(element, e);
  for (std::size_t i = 0; i < lane_count; ++i) lanes_[i] = static_cast<std::uint16_t>(lanes_[i] + lane_at(e, i));
}

void LtHash16::remove(const Hash32& element) {
  std::array<std::uint8_t, bytes> e;
  expand(element, e);
  for (std::size_t i = 0; i < lane_count; ++i) lanes_[i] = static_cast<std::uint16_t>(lanes_[i] - lane_at(e, i));
}

std::array<std::uint8_t, LtHash16::bytes> LtHash16::encode() const {
  std::array<std::uint8_t, bytes> out;
  for (std::size_t i = 0; i < lane_count; ++i) {
    out[2 * i] = static_cast<std::uint8_t>(lanes_[i]);
    out[2 * i + 1] = static_cast<std::uint8_t>(lanes_[i] >> 8);
  }
  return out;
}

}  // namespace kestrel::execution::detail
