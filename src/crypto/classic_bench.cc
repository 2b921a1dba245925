// Micro-benchmarks of the classical primitives (libsodium; ChaCha20-Poly1305 also
// through OpenSSL, BM_AeadPaths).
#include <benchmark/benchmark.h>

#include "common/prng.h"
#include "crypto/aead_detail.h"
#include "crypto/classic.h"

namespace kestrel::crypto {
namespace {

void BM_Ed25519Sign(benchmark::State& state) {
  const Ed25519KeyPair kp = ed25519_keypair();
  Bytes message(64);
  Prng(5).fill(message);
  std::array<std::uint8_t, ed25519_signature_bytes> signature;
  for (auto _ : state) {
    ed25519_sign(signature, message, kp.secret_key);
    benchmark::DoNotOptimize(signature);
  }
}
BENCHMARK(BM_Ed25519Sign);

void BM_Ed25519Verify(benchmark::State& state) {
  const Ed25519KeyPair kp = ed25519_keypair();
  Bytes message(64);
  Prng(5).fill(message);
  std::array<std::uint8_t, ed25519_signature_bytes> signature;
  ed25519_sign(signature, message, kp.secret_key);
  for (auto _ : state) {
    auto ok = ed25519_verify(signature, message, kp.public_key);
    if (!ok) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_Ed25519Verify);

void BM_X25519(benchmark::State& state) {
  const X25519KeyPair a = x25519_keypair();
  const X25519KeyPair b = x25519_keypair();
  std::array<std::uint8_t, x25519_bytes> shared;
  for (auto _ : state) {
    auto ok = x25519(shared, a.secret_key, b.public_key);
    benchmark::DoNotOptimize(ok);
    benchmark::DoNotOptimize(shared);
  }
}
BENCHMARK(BM_X25519);

void BM_AeadSeal(benchmark::State& state) {
  AeadKey key{};
  AeadNonce nonce{};
  Bytes plaintext(static_cast<std::size_t>(state.range(0)));
  Prng(6).fill(plaintext);
  Bytes ciphertext(plaintext.size());
  std::array<std::uint8_t, aead_tag_bytes> tag;
  for (auto _ : state) {
    aead_seal_detached(ciphertext, tag, plaintext, {}, nonce, key);
    benchmark::DoNotOptimize(tag);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext.size()));
}
BENCHMARK(BM_AeadSeal)->Arg(64)->Arg(1024)->Arg(16 * 1024);

void BM_AeadOpen(benchmark::State& state) {
  AeadKey key{};
  AeadNonce nonce{};
  Bytes plaintext(static_cast<std::size_t>(state.range(0)));
  Prng(6).fill(plaintext);
  Bytes ciphertext(plaintext.size());
  std::array<std::uint8_t, aead_tag_bytes> tag;
  aead_seal_detached(ciphertext, tag, plaintext, {}, nonce, key);
  Bytes out(plaintext.size());
  for (auto _ : state) {
    auto ok = aead_open_detached(out, ciphertext, tag, {}, nonce, key);
    if (!ok) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext.size()));
}
BENCHMARK(BM_AeadOpen)->Arg(64)->Arg(1024)->Arg(16 * 1024);

// The two ChaCha20-Poly1305 implementations at every size (gate
// crypto.openssl_aead picks OpenSSL from limits::openssl_aead_bytes_min up): arg 1
// is 1 for OpenSSL's EVP, 0 for libsodium; seal then open of one message.
void BM_AeadPaths(benchmark::State& state) {
  const auto library = state.range(1) == 1 ? detail::AeadLibrary::openssl : detail::AeadLibrary::libsodium;
  AeadKey key{};
  AeadNonce nonce{};
  Bytes plaintext(static_cast<std::size_t>(state.range(0)));
  Prng(6).fill(plaintext);
  Bytes ciphertext(plaintext.size()), out(plaintext.size());
  std::array<std::uint8_t, aead_tag_bytes> tag;
  for (auto _ : state) {
    detail::aead_seal_detached_with(library, ciphertext, tag, plaintext, {}, nonce, key);
    if (!detail::aead_open_detached_with(library, out, ciphertext, tag, {}, nonce, key)) state.SkipWithError("open failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext.size() * 2));
}
BENCHMARK(BM_AeadPaths)->ArgNames({"bytes", "openssl"})->ArgsProduct({{256, 512, 1024, 4096, 65536, 262144}, {0, 1}});

}  // namespace
}  // namespace kestrel::crypto
