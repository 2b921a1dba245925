// Inbound connections through a real listener on 127.0.0.1 (docs/network.md
// "Admission"): CPU of the whole process (the network's io thread and the
// client) per connection whose Hello is refused by the screen, and per
// connection that completes a whole handshake as a validator and closes. Unlike
// admission_bench.cc, these include the accept, the socket reads and writes, the
// coroutines and, for the handshake, setting up and ending the session.
#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <benchmark/benchmark.h>

#include <chrono>
#include <thread>

#include "crypto/random.h"
#include "net/net.h"

namespace kestrel::net {
namespace {

using asio::ip::tcp;

// Validator 1 of two listens; the benchmark plays validator 0 (or a stranger).
struct Listener {
  Listener() {
    crypto::random_bytes(cluster_id.bytes);
    for (int i = 0; i < 2; ++i) signers.push_back(crypto::generate_signer(crypto::default_signature_scheme));
    NetworkConfig c;
    c.self = 1;
    c.cluster_id = cluster_id;
    c.identity = signers[1].get();
    c.validators = {&signers[0]->verifier(), &signers[1]->verifier()};
    auto started = Network::start(c, [](ValidatorId, std::uint16_t, ByteSpan) {});
    if (!started) std::abort();
    network = std::move(*started);
    network->set_peer_address(0, {"127.0.0.1", 1});  // the source check applies (and passes)
    endpoint = tcp::endpoint(asio::ip::make_address("127.0.0.1"), network->listen_port());
  }
  Hash32 cluster_id;
  std::vector<std::unique_ptr<crypto::Signer>> signers;
  std::unique_ptr<Network> network;
  tcp::endpoint endpoint;
};

void write_message(tcp::socket& socket, const Bytes& body) {
  std::uint8_t header[4];
  for (int i = 0; i < 4; ++i) header[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
  asio::write(socket, asio::buffer(header));
  asio::write(socket, asio::buffer(body));
}

Bytes read_message(tcp::socket& socket) {
  std::uint8_t header[4];
  asio::read(socket, asio::buffer(header));
  const std::uint32_t n = header[0] | (header[1] << 8) | (header[2] << 16) |
                          (static_cast<std::uint32_t>(header[3]) << 24);
  if (n > limits::net_handshake_message_bytes_max) return {};
  Bytes body(n);
  asio::read(socket, asio::buffer(body));
  return body;
}

wire::Hello hello_for(const Listener& l, const Hash32& cluster_id, Bytes& dk, crypto::X25519KeyPair& x) {
  wire::Hello hello;
  hello.scheme_tag = static_cast<std::uint8_t>(l.signers[0]->scheme());
  hello.cluster_id = cluster_id;
  hello.initiator = 0;
  hello.responder = 1;
  x = crypto::x25519_keypair();
  hello.x25519_public = x.public_key;
  dk.resize(crypto::mlkem::ml_kem_768_dk_bytes);
  if (!crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk).ok()) std::abort();
  crypto::random_bytes(hello.nonce);
  return hello;
}

std::uint64_t failures(const Listener& l, HandshakeFailure f) {
  return l.network->counters().handshake_failures[static_cast<std::size_t>(f)];
}

// A stranger's Hello for another cluster (the same bytes each time): accept,
// read, screen, close.
void BM_NetInboundHelloRefused(benchmark::State& state) {
  Listener l;
  Hash32 other = l.cluster_id;
  other.bytes[0] ^= 1;
  Bytes dk;
  crypto::X25519KeyPair x;
  Bytes hello;
  wire::encode_hello(hello_for(l, other, dk, x), hello);
  asio::io_context io;
  std::uint64_t n = 0;
  for (auto _ : state) {
    tcp::socket socket(io);
    socket.connect(l.endpoint);
    write_message(socket, hello);
    std::uint8_t byte;
    asio::error_code ec;
    asio::read(socket, asio::buffer(&byte, 1), ec);  // EOF: refused
    if (!ec) state.SkipWithError("not refused");
    ++n;
  }
  if (failures(l, HandshakeFailure::wrong_cluster) != n) state.SkipWithError("refusals not counted");
}
BENCHMARK(BM_NetInboundHelloRefused)->MeasureProcessCPUTime()->UseRealTime();

// The floor under both: a connection that sends nothing and half-closes; the
// listener reads EOF and closes (counted io).
void BM_NetInboundEmptyConnection(benchmark::State& state) {
  Listener l;
  asio::io_context io;
  std::uint64_t n = 0;
  for (auto _ : state) {
    tcp::socket socket(io);
    socket.connect(l.endpoint);
    socket.shutdown(tcp::socket::shutdown_send);
    std::uint8_t byte;
    asio::error_code ec;
    asio::read(socket, asio::buffer(&byte, 1), ec);  // EOF: closed by the listener
    if (!ec) state.SkipWithError("not closed");
    ++n;
  }
  if (failures(l, HandshakeFailure::io) != n) state.SkipWithError("not counted");
}
BENCHMARK(BM_NetInboundEmptyConnection)->MeasureProcessCPUTime()->UseRealTime();

// Validator 0's whole handshake, then close: both sides' crypto plus the session's
// setup and end.
void BM_NetInboundHandshake(benchmark::State& state) {
  Listener l;
  asio::io_context io;
  for (auto _ : state) {
    tcp::socket socket(io);
    socket.connect(l.endpoint);
    Bytes dk;
    crypto::X25519KeyPair x;
    Bytes hello;
    wire::encode_hello(hello_for(l, l.cluster_id, dk, x), hello);
    write_message(socket, hello);
    const Bytes reply_bytes = read_message(socket);
    std::size_t unsigned_bytes = 0;
    auto reply = wire::decode_reply(reply_bytes, unsigned_bytes);
    std::array<std::uint8_t, 32> xs{}, ks{};
    bool ok = reply.ok() && crypto::x25519(xs, x.secret_key, reply->x25519_public).ok() &&
              crypto::mlkem::decaps(wire::mlkem_set, ks, reply->mlkem_ciphertext, dk).ok();
    const Hash32 th = wire::transcript_hash(hello, ByteSpan(reply_bytes).first(unsigned_bytes));
    ok = ok && l.signers[1]->verifier().verify(wire::responder_signed_message(th), reply->signature);
    auto keys = wire::derive_session_keys(xs, ks, th);
    Bytes signature, finish;
    l.signers[0]->sign(wire::initiator_signed_message(th), signature);
    wire::encode_finish(signature, finish);
    write_message(socket, finish);
    if (!ok || !keys) state.SkipWithError("handshake failed");
  }
  // The listener completes the last validator sessions after the loop; wait for
  // them so their cost lands before the next repetition, not inside it.
  const auto iterations = static_cast<std::uint64_t>(state.iterations());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (l.network->counters().sessions_established < iterations &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (l.network->counters().sessions_established != iterations) {
    state.SkipWithError("not every handshake established a session");
  }
}
BENCHMARK(BM_NetInboundHandshake)->MeasureProcessCPUTime()->UseRealTime();

}  // namespace
}  // namespace kestrel::net
