// Cryptographic randomness from the operating system (libsodium's randombytes,
// which reads getrandom(2)). Used for key generation, hedged signing and
// ephemeral handshake keys; never for simulation (that is common/prng.h).
//
// Thread-safe: yes.
#pragma once

#include <cstdint>
#include <span>

namespace kestrel::crypto {

void random_bytes(std::span<std::uint8_t> out);

}  // namespace kestrel::crypto
