// CPU a stranger can make a responder spend per Hello, against a full handshake
// in the same run (docs/network.md "Admission"): a Hello refused by the screen
// (decode and compares), a Hello refused by the budget (screen + an empty token
// bucket), a Hello answered (screen + X25519 + ML-KEM-768 encapsulation + one
// signature), and the whole handshake on both sides (initiator keygen, answer,
// decapsulation, two signatures and two verifications, key schedule).
#include <benchmark/benchmark.h>

#include "crypto/random.h"
#include "net/admission.h"

namespace kestrel::net {
namespace {

struct Setup {
  Setup() {
    crypto::random_bytes(cluster_id.bytes);
    initiator = crypto::generate_signer(crypto::default_signature_scheme);
    responder = crypto::generate_signer(crypto::default_signature_scheme);
    addresses.resize(2);
    addresses[0] = source;
    screen.cluster_id = cluster_id;
    screen.scheme_tag = static_cast<std::uint8_t>(responder->scheme());
    screen.self = 1;
    screen.validators = 2;
    screen.addresses = addresses;
  }
  // The initiator's first message (and its ML-KEM decapsulation key).
  Bytes hello(ValidatorId claimed, Bytes& dk, crypto::X25519KeyPair& x) const {
    wire::Hello h;
    h.scheme_tag = screen.scheme_tag;
    h.cluster_id = cluster_id;
    h.initiator = claimed;
    h.responder = 1;
    x = crypto::x25519_keypair();
    h.x25519_public = x.public_key;
    dk.resize(crypto::mlkem::ml_kem_768_dk_bytes);
    if (!crypto::mlkem::keygen(wire::mlkem_set, h.mlkem_ek, dk).ok()) std::abort();
    crypto::random_bytes(h.nonce);
    Bytes out;
    wire::encode_hello(h, out);
    return out;
  }
  Hash32 cluster_id;
  std::unique_ptr<crypto::Signer> initiator, responder;
  IpAddress source{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  IpAddress stranger{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 66};
  std::vector<std::optional<IpAddress>> addresses;
  HelloScreen screen;
};

// A Hello claiming validator 0 from an address that is not 0's: wrong_source.
void BM_NetHelloRefused(benchmark::State& state) {
  Setup s;
  Bytes dk;
  crypto::X25519KeyPair x;
  const Bytes hello = s.hello(0, dk, x);
  for (auto _ : state) {
    auto screened = screen_hello(hello, s.screen, s.stranger);
    if (screened || screened.error() != HandshakeFailure::wrong_source) state.SkipWithError("not refused");
    benchmark::DoNotOptimize(screened);
  }
}
BENCHMARK(BM_NetHelloRefused);

// A Hello that passes the screen but finds its claimed validator's budget spent.
void BM_NetHelloRateLimited(benchmark::State& state) {
  Setup s;
  Bytes dk;
  crypto::X25519KeyPair x;
  const Bytes hello = s.hello(0, dk, x);
  TokenBucket bucket(1e-9, 1);
  const auto now = TokenBucket::Clock::now();
  (void)bucket.take(now);
  for (auto _ : state) {
    auto screened = screen_hello(hello, s.screen, s.source);
    if (!screened || bucket.take(now)) state.SkipWithError("not rate-limited");
    benchmark::DoNotOptimize(screened);
  }
}
BENCHMARK(BM_NetHelloRateLimited);

// A Hello screened and answered: what a forged Hello that passes admission costs.
void BM_NetHelloAnswered(benchmark::State& state) {
  Setup s;
  Bytes dk;
  crypto::X25519KeyPair x;
  const Bytes hello = s.hello(0, dk, x);
  for (auto _ : state) {
    auto screened = screen_hello(hello, s.screen, s.source);
    auto answer = answer_hello(*screened, hello, wire::KeyExchange::hybrid, 1, *s.responder);
    if (!answer) state.SkipWithError("no answer");
    benchmark::DoNotOptimize(answer);
  }
}
BENCHMARK(BM_NetHelloAnswered);

// The whole handshake, both sides, in memory (no sockets, no thread hops).
void BM_NetHandshakeBothSides(benchmark::State& state) {
  Setup s;
  for (auto _ : state) {
    Bytes dk;
    crypto::X25519KeyPair x;
    const Bytes hello = s.hello(0, dk, x);
    auto screened = screen_hello(hello, s.screen, s.source);
    auto answer = answer_hello(*screened, hello, wire::KeyExchange::hybrid, 1, *s.responder);
    std::size_t unsigned_bytes = 0;
    auto reply = wire::decode_reply(answer->reply, unsigned_bytes);
    std::array<std::uint8_t, 32> xs{}, ks{};
    bool ok = reply.ok() && crypto::x25519(xs, x.secret_key, reply->x25519_public).ok() &&
              crypto::mlkem::decaps(wire::mlkem_set, ks, reply->mlkem_ciphertext, dk).ok();
    const Hash32 th = wire::transcript_hash(hello, ByteSpan(answer->reply).first(unsigned_bytes));
    ok = ok && s.responder->verifier().verify(wire::responder_signed_message(th), reply->signature);
    auto keys = wire::derive_session_keys(xs, ks, th);
    Bytes signature;
    s.initiator->sign(wire::initiator_signed_message(th), signature);
    ok = ok && keys.ok() && s.initiator->verifier().verify(wire::initiator_signed_message(th), signature);
    if (!ok) state.SkipWithError("handshake failed");
    benchmark::DoNotOptimize(keys);
  }
}
BENCHMARK(BM_NetHandshakeBothSides);

}  // namespace
}  // namespace kestrel::net
