// Loopback integration tests of the validator network: real sockets on
// 127.0.0.1 (port 0, read back), real handshakes, real frames.
#include "net/net.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "common/gates.h"
#include "crypto/random.h"

namespace kestrel::net {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

// Sanitizer builds run the same tests with a tenth of the messages.
#if defined(__SANITIZE_ADDRESS__)
constexpr std::uint64_t scale = 10;
#else
constexpr std::uint64_t scale = 1;
#endif

// Polls `done` up to `limit`; the tests' only waits, each with a bound.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

Bytes payload_for(std::uint64_t seq, std::size_t size) {
  Bytes p(std::max<std::size_t>(size, 8), static_cast<std::uint8_t>(seq * 31));
  std::memcpy(p.data(), &seq, 8);
  return p;
}

// Received-message checker: per sender, sequence numbers must arrive in order
// with no gap (or, across a restart, strictly increasing).
struct Inbox {
  explicit Inbox(std::size_t n) : next(n), count(n), last(n) {
    for (auto& a : next) a.store(0);
    for (auto& a : count) a.store(0);
    for (auto& a : last) a.store(0);
  }
  bool allow_gaps = false;
  std::vector<std::atomic<std::uint64_t>> next;
  std::vector<std::atomic<std::uint64_t>> count;
  std::vector<std::atomic<std::uint64_t>> last;
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> total{0};
  void on_message(ValidatorId from, std::uint16_t type, ByteSpan payload) {
    std::uint64_t seq = 0;
    if (payload.size() < 8 || type != 7) {
      errors.fetch_add(1);
      return;
    }
    std::memcpy(&seq, payload.data(), 8);
    const std::uint64_t expected = next[from].load(std::memory_order_relaxed);
    if (allow_gaps ? seq < expected : seq != expected) errors.fetch_add(1);
    for (std::size_t i = 8; i < payload.size(); ++i) {
      if (payload[i] != static_cast<std::uint8_t>(seq * 31)) {
        errors.fetch_add(1);
        break;
      }
    }
    next[from].store(seq + 1, std::memory_order_relaxed);
    last[from].store(seq, std::memory_order_relaxed);
    count[from].fetch_add(1, std::memory_order_relaxed);
    total.fetch_add(1, std::memory_order_relaxed);
  }
};

// n validators: keys, a cluster id, and a Network per running node.
class Cluster {
 public:
  explicit Cluster(std::size_t n, KeyExchange kx = KeyExchange::hybrid,
                   crypto::SignatureScheme scheme = crypto::default_signature_scheme)
      : kx_(kx) {
    crypto::random_bytes(cluster_id_.bytes);
    for (std::size_t i = 0; i < n; ++i) {
      signers_.push_back(crypto::generate_signer(scheme));
      verifiers_.push_back(&signers_.back()->verifier());
      inboxes_.push_back(std::make_unique<Inbox>(n));
    }
    nodes_.resize(n);
    ports_.assign(n, 0);
    hosts_.assign(n, "127.0.0.1");
  }
  ~Cluster() {
    for (auto& node : nodes_) node.reset();
  }

  NetworkConfig config(std::size_t i) const {
    NetworkConfig c;
    c.self = static_cast<ValidatorId>(i);
    c.cluster_id = cluster_id_;
    c.identity = signers_[i].get();
    c.validators = verifiers_;
    c.key_exchange = kx_;
    c.listen_host = hosts_[i];
    c.listen_port = ports_[i];  // 0 the first time; the same port on restart
    c.dial_backoff_min = 10ms;
    c.dial_backoff_max = 200ms;
    if (tweak) tweak(c);
    return c;
  }
  void start(std::size_t i) {
    auto* inbox = inboxes_[i].get();
    auto started = Network::start(config(i), [inbox](ValidatorId from, std::uint16_t type, ByteSpan p) {
      inbox->on_message(from, type, p);
    });
    ASSERT_TRUE(started.ok()) << describe(started.error());
    nodes_[i] = std::move(started.value());
    ports_[i] = nodes_[i]->listen_port();
  }
  // Starts every node, tells each where the others are, waits for all sessions.
  void start_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) start(i);
    wire_all();
    ASSERT_TRUE(eventually([&] { return all_connected(); })) << "sessions did not come up";
  }
  void wire_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      if (!nodes_[i]) continue;
      for (std::size_t j = 0; j < nodes_.size(); ++j) {
        if (i != j) nodes_[i]->set_peer_address(static_cast<ValidatorId>(j), {hosts_[j], ports_[j]});
      }
    }
  }
  bool all_connected() const {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
      for (std::size_t j = 0; j < nodes_.size(); ++j) {
        if (i != j && (!nodes_[i] || !nodes_[i]->connected(static_cast<ValidatorId>(j)))) return false;
      }
    }
    return true;
  }
  Network& node(std::size_t i) { return *nodes_[i]; }
  void stop(std::size_t i) { nodes_[i].reset(); }
  Inbox& inbox(std::size_t i) { return *inboxes_[i]; }
  void reset_inbox(std::size_t i) { inboxes_[i] = std::make_unique<Inbox>(nodes_.size()); }
  std::uint16_t port(std::size_t i) const { return ports_[i]; }
  // Validator i's address (before it starts): any of 127.0.0.0/8 on loopback.
  void set_host(std::size_t i, std::string host) { hosts_[i] = std::move(host); }
  const crypto::Signer& signer(std::size_t i) const { return *signers_[i]; }
  const Hash32& cluster_id() const { return cluster_id_; }
  std::function<void(NetworkConfig&)> tweak;

 private:
  KeyExchange kx_;
  Hash32 cluster_id_;
  std::vector<std::unique_ptr<crypto::Signer>> signers_;
  std::vector<const crypto::Verifier*> verifiers_;
  std::vector<std::unique_ptr<Inbox>> inboxes_;
  std::vector<std::unique_ptr<Network>> nodes_;
  std::vector<std::uint16_t> ports_;
  std::vector<std::string> hosts_;
};

// Sends [first, first + count) from `from` to `to` with backpressure.
void send_range(Network& net, ValidatorId to, std::uint64_t first, std::uint64_t count,
                std::size_t size = 16) {
  for (std::uint64_t s = first; s < first + count; ++s) {
    const Bytes p = payload_for(s, size);
    ASSERT_TRUE(net.send_blocking(to, 7, p, 10s).ok()) << s;
  }
}

TEST(NetworkTest, TwoEndpointsMillionMessagesInOrderBothDirections) {
  Cluster cluster(2);
  cluster.start_all();
  const std::uint64_t per_direction = 500'000 / scale;
  std::thread a([&] { send_range(cluster.node(0), 1, 0, per_direction); });
  std::thread b([&] { send_range(cluster.node(1), 0, 0, per_direction); });
  a.join();
  b.join();
  ASSERT_TRUE(eventually([&] {
    return cluster.inbox(1).total.load() == per_direction && cluster.inbox(0).total.load() == per_direction;
  }));
  EXPECT_EQ(cluster.inbox(0).errors.load(), 0u);
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
  EXPECT_EQ(cluster.inbox(1).last[0].load(), per_direction - 1);
  const auto c = cluster.node(0).counters();
  EXPECT_EQ(c.messages_sent, per_direction);
  EXPECT_EQ(c.messages_received, per_direction);
  EXPECT_LT(c.frames_sent, per_direction / 10) << "batching packs many messages per frame";
  EXPECT_EQ(c.frames_rejected_authentication + c.frames_rejected_malformed + c.frames_rejected_oversized, 0u);
  EXPECT_EQ(c.sessions_established, 1u);
}

TEST(NetworkTest, FourEndpointsMillionMessagesInOrder) {
  Cluster cluster(4);
  cluster.start_all();
  const std::uint64_t per_direction = 1'000'000 / 12 / scale;
  std::vector<std::thread> senders;
  for (ValidatorId i = 0; i < 4; ++i) {
    senders.emplace_back([&, i] {
      // Interleave destinations so all 12 directions run at once.
      for (std::uint64_t s = 0; s < per_direction; ++s) {
        for (ValidatorId j = 0; j < 4; ++j) {
          if (j == i) continue;
          const Bytes p = payload_for(s, 16);
          ASSERT_TRUE(cluster.node(i).send_blocking(j, 7, p, 10s).ok());
        }
      }
    });
  }
  for (auto& t : senders) t.join();
  ASSERT_TRUE(eventually([&] {
    for (int i = 0; i < 4; ++i) {
      if (cluster.inbox(i).total.load() != 3 * per_direction) return false;
    }
    return true;
  }));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cluster.inbox(i).errors.load(), 0u) << i;
    for (int j = 0; j < 4; ++j) {
      if (i != j) {
        EXPECT_EQ(cluster.inbox(i).count[j].load(), per_direction) << i << "<-" << j;
      }
    }
  }
}

TEST(NetworkTest, BatchingGateOffSendsOneFramePerMessage) {
  for (bool batching : {false, true}) {
    ScopedGate gate(Gate::net_adaptive_batching, batching);
    Cluster cluster(2);
    cluster.start_all();
    const auto before = cluster.node(0).counters();
    const std::uint64_t n = 20'000 / scale;
    send_range(cluster.node(0), 1, 0, n);
    ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == n; }));
    EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
    const auto after = cluster.node(0).counters();
    const auto frames = after.frames_sent - before.frames_sent;
    if (batching) {
      EXPECT_LT(frames, n / 4) << "batching on";
    } else {
      EXPECT_GE(frames, n) << "batching off: one frame per message (plus keepalives)";
      EXPECT_LE(frames, n + 50);
    }
  }
}

// Delivery::urgent (what the node uses for consensus messages with gate
// net.urgent_consensus): a writer never holds an urgent message for company. One
// message at a time to an idle link: each reliable one waits out its age bound
// (unless the writer woke later than that), no urgent one does. Counts, not times.
TEST(NetworkTest, UrgentMessagesSkipTheBatchingHold) {
  Cluster cluster(2);
  cluster.start_all();
  const std::uint64_t n = 20;
  for (Delivery delivery : {Delivery::urgent, Delivery::reliable}) {
    const auto before = cluster.node(0).counters();
    const std::uint64_t received = cluster.inbox(1).total.load();
    for (std::uint64_t s = 0; s < n; ++s) {
      const Bytes p = payload_for(received + s, 16);  // the inbox checks the sequence
      ASSERT_TRUE(cluster.node(0).try_send(1, 7, p, delivery).ok());
      ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == received + s + 1; }));
    }
    const auto after = cluster.node(0).counters();
    if (delivery == Delivery::urgent) {
      EXPECT_EQ(after.urgent_sends - before.urgent_sends, n);
      EXPECT_EQ(after.batch_holds, before.batch_holds) << "an urgent message was held for company";
    } else {
      EXPECT_EQ(after.urgent_sends, before.urgent_sends);
      EXPECT_GT(after.batch_holds, before.batch_holds) << "no reliable message waited for company";
    }
  }
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
}

TEST(NetworkTest, BufferPoolGateBothSides) {
  for (bool pool : {false, true}) {
    ScopedGate gate(Gate::net_buffer_pool, pool);
    Cluster cluster(2);
    cluster.start_all();
    // Rounds of 1,000 messages (~300 KB), each delivered before the next, so
    // every batch buffer is small enough to be pooled
    // (limits::net_buffer_pool_buffer_bytes_max).
    const std::uint64_t rounds = 20, per_round = 1'000;
    for (std::uint64_t r = 0; r < rounds; ++r) {
      send_range(cluster.node(0), 1, r * per_round, per_round, 300);
      ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == (r + 1) * per_round; }));
    }
    EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
    const auto c = cluster.node(0).counters();
    if (pool) {
      EXPECT_GT(c.buffer_pool_hits, 0u);
      EXPECT_GT(c.buffer_pool_bytes, 0u);  // the writer's buffers came back
    } else {
      EXPECT_EQ(c.buffer_pool_hits, 0u);
      EXPECT_EQ(c.buffer_pool_bytes, 0u);
    }
    // Whatever passed through, the pool holds at most its byte bound.
    EXPECT_LE(c.buffer_pool_bytes, limits::net_buffer_pool_bytes_max);
    EXPECT_LE(cluster.node(1).counters().buffer_pool_bytes, limits::net_buffer_pool_bytes_max);
  }
}

TEST(NetworkTest, CompressionGateBothSides) {
  for (bool compression : {false, true}) {
    ScopedGate gate(Gate::net_compression, compression);
    Cluster cluster(2);
    cluster.start_all();
    const std::uint64_t n = 2'000;
    send_range(cluster.node(0), 1, 0, n, 8192);  // repetitive payloads compress well
    ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == n; }));
    EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
    const auto c = cluster.node(0).counters();
    if (compression) {
      EXPECT_GT(c.frames_compressed, 0u);
      EXPECT_LT(c.bytes_sent, n * 8192 / 4);
    } else {
      EXPECT_EQ(c.frames_compressed, 0u);
      EXPECT_GT(c.bytes_sent, n * 8192);
    }
  }
}

TEST(NetworkTest, RekeysInALiveSession) {
  ScopedGate gate(Gate::net_adaptive_batching, false);
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) {
    c.rekey_frames = 50;
    c.rekey_bytes = 64 * 1024;
  };
  cluster.start_all();
  const std::uint64_t n = 5'000;
  send_range(cluster.node(0), 1, 0, n, 100);
  ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == n; }));
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
  cluster.stop(0);  // rekeys are counted when the session ends
  ASSERT_TRUE(eventually([&] { return cluster.node(1).counters().rekeys >= n / 50; }));
}

// Restart each side in turn mid-stream: the dialer (0) redials the restarted
// responder (1); a restarted dialer replaces its old session at the responder.
TEST(NetworkTest, RestartMidStreamAndReconnect) {
  for (std::size_t restarted : {1u, 0u}) {
    Cluster cluster(2);
    cluster.start_all();
    const std::size_t sender = 1 - restarted;
    cluster.inbox(restarted).allow_gaps = true;
    std::atomic<bool> stop_sending{false};
    std::atomic<std::uint64_t> sent{0};
    std::thread feeder([&] {
      for (std::uint64_t s = 0; !stop_sending.load(); ++s) {
        const Bytes p = payload_for(s, 32);
        // The queue may be full while the peer is down: wait and retry (bounded).
        while (!stop_sending.load() &&
               !cluster.node(sender).send_blocking(static_cast<ValidatorId>(restarted), 7, p, 50ms).ok()) {
        }
        sent.store(s + 1);
        if (s % 64 == 0) std::this_thread::sleep_for(100us);
      }
    });
    ASSERT_TRUE(eventually([&] { return cluster.inbox(restarted).total.load() > 2'000; }));
    cluster.stop(restarted);
    cluster.reset_inbox(restarted);
    cluster.inbox(restarted).allow_gaps = true;
    cluster.start(restarted);
    cluster.wire_all();
    ASSERT_TRUE(eventually([&] { return cluster.all_connected(); })) << "no reconnection";
    ASSERT_TRUE(eventually([&] { return cluster.inbox(restarted).total.load() > 2'000; }));
    stop_sending.store(true);
    feeder.join();
    const std::uint64_t final_seq = sent.load() + 1'000'000;
    const Bytes last = payload_for(final_seq, 32);
    ASSERT_TRUE(cluster.node(sender).send_blocking(static_cast<ValidatorId>(restarted), 7, last, 5s).ok());
    ASSERT_TRUE(eventually([&] { return cluster.inbox(restarted).last[sender].load() == final_seq; }));
    EXPECT_EQ(cluster.inbox(restarted).errors.load(), 0u) << "reordered or duplicated after restart";
    EXPECT_GE(cluster.node(sender).counters().sessions_established, 2u);
  }
}

// --- A raw initiator built from wire.h, to send what a Byzantine peer would ---------

struct RawPeer {
  asio::io_context io;
  tcp::socket socket{io};
  std::unique_ptr<wire::FrameCipher> tx, rx;

  void send_message(const Bytes& body) {
    std::uint8_t h[4];
    for (int i = 0; i < 4; ++i) h[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
    asio::write(socket, asio::buffer(h));
    asio::write(socket, asio::buffer(body));
  }
  Bytes receive_message() {
    std::uint8_t h[4];
    asio::read(socket, asio::buffer(h));
    const std::uint32_t n = h[0] | (h[1] << 8) | (h[2] << 16) | (static_cast<std::uint32_t>(h[3]) << 24);
    if (n > limits::net_handshake_message_bytes_max) return {};
    Bytes body(n);
    asio::read(socket, asio::buffer(body));
    return body;
  }
  // Full initiator handshake as validator `self` (signing with `identity`)
  // towards `target`, verifying it with `target_key`. False when refused.
  bool connect(std::uint16_t port, std::uint16_t self, std::uint16_t target, const crypto::Signer& identity,
               const crypto::Verifier& target_key, const Hash32& cluster_id) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    const auto x = crypto::x25519_keypair();
    wire::Hello hello;
    hello.scheme_tag = static_cast<std::uint8_t>(identity.scheme());
    hello.cluster_id = cluster_id;
    hello.initiator = self;
    hello.responder = target;
    hello.x25519_public = x.public_key;
    Bytes dk(crypto::mlkem::ml_kem_768_dk_bytes);
    EXPECT_TRUE(crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk).ok());
    Bytes hello_bytes;
    wire::encode_hello(hello, hello_bytes);
    send_message(hello_bytes);
    asio::error_code ec;
    Bytes reply_bytes;
    try {
      reply_bytes = receive_message();
    } catch (const std::exception&) {
      return false;  // refused: closed
    }
    std::size_t unsigned_bytes = 0;
    auto reply = wire::decode_reply(reply_bytes, unsigned_bytes);
    if (!reply) return false;
    std::array<std::uint8_t, 32> xs{};
    EXPECT_TRUE(crypto::x25519(xs, x.secret_key, reply->x25519_public).ok());
    std::array<std::uint8_t, 32> ks{};
    EXPECT_TRUE(crypto::mlkem::decaps(wire::mlkem_set, ks, reply->mlkem_ciphertext, dk).ok());
    const Hash32 th = wire::transcript_hash(hello_bytes, ByteSpan(reply_bytes).first(unsigned_bytes));
    if (!target_key.verify(wire::responder_signed_message(th), reply->signature)) return false;
    auto keys = wire::derive_session_keys(xs, ks, th);
    Bytes sig;
    identity.sign(wire::initiator_signed_message(th), sig);
    Bytes finish;
    wire::encode_finish(sig, finish);
    send_message(finish);
    tx = std::make_unique<wire::FrameCipher>(keys->initiator_to_responder, limits::net_rekey_frames_max,
                                             limits::net_rekey_bytes_max);
    rx = std::make_unique<wire::FrameCipher>(keys->responder_to_initiator, limits::net_rekey_frames_max,
                                             limits::net_rekey_bytes_max);
    return true;
  }
  // Sends only a Hello claiming `self`; true when a Reply comes back (the
  // responder did the costly work), false when the connection is closed first.
  bool hello_only(std::uint16_t port, std::uint16_t self, std::uint16_t target, const crypto::Signer& claimed,
                  const Hash32& cluster_id) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    wire::Hello hello;
    hello.scheme_tag = static_cast<std::uint8_t>(claimed.scheme());
    hello.cluster_id = cluster_id;
    hello.initiator = self;
    hello.responder = target;
    hello.x25519_public = crypto::x25519_keypair().public_key;
    Bytes dk(crypto::mlkem::ml_kem_768_dk_bytes);
    EXPECT_TRUE(crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk).ok());
    Bytes hello_bytes;
    wire::encode_hello(hello, hello_bytes);
    send_message(hello_bytes);
    try {
      std::size_t unsigned_bytes = 0;
      return wire::decode_reply(receive_message(), unsigned_bytes).ok();
    } catch (const std::exception&) {
      return false;  // refused: closed
    }
  }
  Bytes frame(std::uint64_t seq) {
    Bytes body;
    wire::append_message(7, payload_for(seq, 16), body);
    Bytes f(wire::frame_header_bytes + 1 + body.size() + crypto::aead_tag_bytes);
    f[4] = 0;
    std::copy(body.begin(), body.end(), f.begin() + 5);
    tx->seal(f);
    return f;
  }
  void write(ByteSpan bytes) { asio::write(socket, asio::buffer(bytes.data(), bytes.size())); }
  // True when the other side has closed the connection (EOF or reset) within 5 s.
  bool closed_by_peer() {
    socket.non_blocking(true);
    const auto end = std::chrono::steady_clock::now() + 5s;
    std::uint8_t buf[4096];
    while (std::chrono::steady_clock::now() < end) {
      asio::error_code ec;
      socket.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      if (ec) return true;  // keepalive frames are read and ignored
    }
    return false;
  }
};

class ByzantineTest : public ::testing::Test {
 protected:
  // Node 1 runs a Network; the test plays validator 0 with its real key.
  void SetUp() override {
    cluster_.tweak = [](NetworkConfig& c) {
      c.frame_stall_timeout = 200ms;
      c.handshake_timeout = 300ms;
    };
    cluster_.start(1);
  }
  bool connect(RawPeer& peer) {
    return peer.connect(cluster_.port(1), 0, 1, cluster_.signer(0), cluster_.signer(1).verifier(),
                        cluster_.cluster_id());
  }
  NetCounters counters() { return cluster_.node(1).counters(); }
  Cluster cluster_{2};
};

TEST_F(ByzantineTest, ValidFramesAreDeliveredThenTamperedFrameClosesSession) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  peer.write(peer.frame(0));
  peer.write(peer.frame(1));
  ASSERT_TRUE(eventually([&] { return cluster_.inbox(1).total.load() == 2; }));
  Bytes bad = peer.frame(2);
  bad[7] ^= 1;
  peer.write(bad);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frames_rejected_authentication, 1u);
  EXPECT_EQ(cluster_.inbox(1).total.load(), 2u);
  EXPECT_EQ(cluster_.inbox(1).errors.load(), 0u);
}

TEST_F(ByzantineTest, ReplayedFrameIsRejected) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  const Bytes f = peer.frame(0);
  peer.write(f);
  peer.write(f);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frames_rejected_authentication, 1u);
  EXPECT_EQ(cluster_.inbox(1).total.load(), 1u);
}

TEST_F(ByzantineTest, ReorderedFramesAreRejected) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  const Bytes f0 = peer.frame(0), f1 = peer.frame(1);
  peer.write(f1);
  peer.write(f0);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frames_rejected_authentication, 1u);
  EXPECT_EQ(cluster_.inbox(1).total.load(), 0u);
}

TEST_F(ByzantineTest, OversizedLengthIsRefusedBeforeAllocation) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  const std::uint32_t huge = 0xFFFFFFF0;
  std::uint8_t h[4];
  std::memcpy(h, &huge, 4);
  peer.write(h);
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frames_rejected_oversized, 1u);
}

TEST_F(ByzantineTest, TruncatedFrameDeliversNothing) {
  {
    RawPeer peer;
    ASSERT_TRUE(connect(peer));
    const Bytes f = peer.frame(0);
    peer.write(ByteSpan(f).first(f.size() - 5));
    peer.socket.close();
  }
  ASSERT_TRUE(eventually([&] { return counters().sessions_closed == 1; }));
  EXPECT_EQ(cluster_.inbox(1).total.load(), 0u);
  // The node still works: a fresh session delivers.
  RawPeer again;
  ASSERT_TRUE(connect(again));
  again.write(again.frame(0));
  ASSERT_TRUE(eventually([&] { return cluster_.inbox(1).total.load() == 1; }));
}

TEST_F(ByzantineTest, LengthThenNothingStallsAndIsClosed) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  const Bytes f = peer.frame(0);
  peer.write(ByteSpan(f).first(4));  // a length, then silence
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frame_stalls, 1u);
  EXPECT_EQ(cluster_.inbox(1).total.load(), 0u);
}

TEST_F(ByzantineTest, LargeFrameLengthThenNothingStalls) {
  RawPeer peer;
  ASSERT_TRUE(connect(peer));
  const std::uint32_t big = static_cast<std::uint32_t>(limits::frame_bytes_max);  // valid length, own buffer
  std::uint8_t h[4];
  std::memcpy(h, &big, 4);
  peer.write(h);
  peer.write(Bytes(1000, 0));
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_EQ(counters().frame_stalls, 1u);
}

TEST_F(ByzantineTest, WrongIdentityIsRefused) {
  // Claims validator 0 but signs with a key that is not 0's.
  auto impostor = crypto::generate_signer(crypto::default_signature_scheme);
  RawPeer peer;
  EXPECT_TRUE(peer.connect(cluster_.port(1), 0, 1, *impostor, cluster_.signer(1).verifier(),
                           cluster_.cluster_id()));
  peer.write(peer.frame(0));  // never read: refused at Finish
  EXPECT_TRUE(peer.closed_by_peer());
  const auto c = counters();
  EXPECT_EQ(c.handshake_failures[static_cast<int>(HandshakeFailure::bad_signature)], 1u);
  EXPECT_EQ(c.sessions_established, 0u);
  EXPECT_EQ(cluster_.inbox(1).total.load(), 0u);
  // Unknown id, wrong cluster, and a higher id (which must not dial us).
  for (int variant = 0; variant < 3; ++variant) {
    RawPeer other;
    Hash32 cluster = cluster_.cluster_id();
    std::uint16_t self = 0;
    if (variant == 0) self = 5;
    if (variant == 1) cluster.bytes[0] ^= 1;
    if (variant == 2) self = 1;
    EXPECT_FALSE(other.connect(cluster_.port(1), self, 1, cluster_.signer(0), cluster_.signer(1).verifier(),
                               cluster));
  }
  ASSERT_TRUE(eventually([&] {
    const auto k = counters();
    return k.handshake_failures[static_cast<int>(HandshakeFailure::unknown_identity)] == 2 &&
           k.handshake_failures[static_cast<int>(HandshakeFailure::wrong_cluster)] == 1;
  }));
}

TEST(NetworkTest, DialerRefusesAResponderWithTheWrongKey) {
  Cluster real(2), impostor(2);
  real.start(0);
  impostor.start(1);  // listens as validator 1 but with a key not in real's set
  real.node(0).set_peer_address(1, {"127.0.0.1", impostor.port(1)});
  ASSERT_TRUE(eventually([&] {
    return real.node(0).counters().handshake_failures_total() >= 2;
  }));
  const auto c = real.node(0).counters();
  EXPECT_EQ(c.sessions_established, 0u);
  EXPECT_FALSE(real.node(0).connected(1));
}

TEST(NetworkTest, ConnectionFloodDoesNotDisturbEstablishedSessions) {
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) { c.handshake_timeout = 300ms; };
  cluster.start_all();
  std::atomic<bool> flooding{true};
  std::thread flood([&] {
    asio::io_context io;
    std::vector<tcp::socket> held;
    int i = 0;
    while (flooding.load() && i < 2000) {
      tcp::socket s(io);
      asio::error_code ec;
      s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), cluster.port(1)), ec);
      if (ec) continue;
      ++i;
      if (i % 3 == 0) {
        // Garbage handshake.
        const Bytes junk = {0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
        asio::write(s, asio::buffer(junk), ec);
      } else if (i % 3 == 1) {
        held.push_back(std::move(s));  // connect and say nothing
        if (held.size() > 200) held.erase(held.begin());
      }
    }
  });
  // The flood is under way before the exchange starts and lasts through it.
  ASSERT_TRUE(eventually([&] { return cluster.node(1).counters().handshake_failures_total() >= 50; }));
  const std::uint64_t n = 100'000 / scale;
  std::thread a([&] { send_range(cluster.node(0), 1, 0, n); });
  std::thread b([&] { send_range(cluster.node(1), 0, 0, n); });
  a.join();
  b.join();
  ASSERT_TRUE(eventually([&] {
    return cluster.inbox(1).total.load() == n && cluster.inbox(0).total.load() == n;
  }));
  flooding.store(false);
  flood.join();
  EXPECT_EQ(cluster.inbox(0).errors.load() + cluster.inbox(1).errors.load(), 0u);
  EXPECT_EQ(cluster.node(0).counters().sessions_established, 1u);
  EXPECT_EQ(cluster.node(1).counters().sessions_established, 1u);
  EXPECT_EQ(cluster.node(1).counters().sessions_closed, 0u);
  ASSERT_TRUE(eventually([&] { return cluster.node(1).counters().handshake_failures_total() >= 100; }));
}

TEST(NetworkTest, BackpressureDropsAndAwaitableSend) {
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) { c.send_queue_messages_max = 8; };
  cluster.start(0);
  cluster.start(1);
  // Not wired yet: the queue fills.
  const Bytes p = payload_for(0, 16);
  for (std::uint64_t s = 0; s < 8; ++s) {
    ASSERT_TRUE(cluster.node(0).try_send(1, 7, payload_for(s, 16)).ok());
  }
  EXPECT_EQ(cluster.node(0).try_send(1, 7, p).error(), NetError::queue_full);
  EXPECT_EQ(cluster.node(0).try_send(1, 7, p, Delivery::droppable).error(), NetError::dropped);
  EXPECT_EQ(cluster.node(0).send_blocking(1, 7, p, 20ms).error(), NetError::timeout);
  EXPECT_EQ(cluster.node(0).try_send(0, 7, p).error(), NetError::unknown_peer);
  EXPECT_EQ(cluster.node(0).try_send(9, 7, p).error(), NetError::unknown_peer);
  EXPECT_EQ(cluster.node(0).try_send(1, 7, Bytes(limits::message_size_max + 1)).error(),
            NetError::message_too_large);
  const auto c = cluster.node(0).counters();
  EXPECT_EQ(c.messages_dropped, 1u);
  EXPECT_GE(c.send_queue_full, 1u);

  // The awaitable send parks until the queue drains, on another thread's executor.
  asio::io_context caller;
  std::atomic<int> result{-1};
  asio::co_spawn(caller, [&]() -> asio::awaitable<void> {
    auto sent = co_await cluster.node(0).send(1, 7, payload_for(8, 16));
    result.store(sent.ok() ? 1 : 0);
  }, asio::detached);
  std::thread caller_thread([&] { caller.run(); });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(result.load(), -1) << "must wait while the queue is full";
  cluster.wire_all();
  caller_thread.join();
  EXPECT_EQ(result.load(), 1);
  ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == 9; }));
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
}

TEST(NetworkTest, IdleSessionStaysUpOnKeepalivesAndSilentPeerTimesOut) {
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) {
    c.keepalive_interval = 50ms;
    c.idle_timeout = 250ms;
  };
  cluster.start_all();
  std::this_thread::sleep_for(700ms);  // well past idle_timeout with no messages
  EXPECT_TRUE(cluster.all_connected());
  EXPECT_EQ(cluster.node(1).counters().idle_timeouts, 0u);
  EXPECT_EQ(cluster.node(1).counters().sessions_established, 1u);
  // A raw peer that completes the handshake and then says nothing is closed.
  cluster.stop(0);
  RawPeer peer;
  ASSERT_TRUE(peer.connect(cluster.port(1), 0, 1, cluster.signer(0), cluster.signer(1).verifier(),
                           cluster.cluster_id()));
  EXPECT_TRUE(peer.closed_by_peer());
  EXPECT_GE(cluster.node(1).counters().idle_timeouts, 1u);
}

TEST(NetworkTest, CleanShutdownFlushesQueuedMessages) {
  Cluster cluster(2);
  cluster.start_all();
  const std::uint64_t n = 50'000 / scale;
  send_range(cluster.node(0), 1, 0, n);
  cluster.stop(0);  // returns after the flush and close frame (bounded)
  ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == n; }));
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
  ASSERT_TRUE(eventually([&] { return !cluster.node(1).connected(0); }));
  const auto c = cluster.node(1).counters();
  EXPECT_EQ(c.frames_rejected_authentication + c.frames_rejected_malformed + c.frame_stalls +
                c.idle_timeouts,
            0u);
}

TEST(NetworkTest, X25519OnlyKeyExchangeAlsoWorks) {
  Cluster cluster(2, KeyExchange::x25519, crypto::SignatureScheme::ed25519);
  cluster.start_all();
  send_range(cluster.node(0), 1, 0, 100);
  ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == 100; }));
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
}

TEST(NetworkTest, DialBacksOffExponentiallyWhilePeerIsDown) {
  Cluster cluster(2);
  cluster.start(0);
  // A port with nothing listening: bind one, read it, close it.
  asio::io_context io;
  tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::uint16_t dead_port = probe.local_endpoint().port();
  probe.close();
  cluster.node(0).set_peer_address(1, {"127.0.0.1", dead_port});
  std::this_thread::sleep_for(1000ms);
  // Back-off 10 ms doubling to 200 ms, jittered in [b/2, b]: about 5-15 dials in
  // one second; a loop without back-off would make thousands.
  const auto attempts = cluster.node(0).counters().dial_attempts;
  EXPECT_GE(attempts, 3u);
  EXPECT_LE(attempts, 25u);
}

// --- Admission: strangers on the validator port ------------------------------------

Bytes hello_bytes(const Hash32& cluster_id, crypto::SignatureScheme scheme, std::uint16_t initiator,
                  std::uint16_t responder) {
  wire::Hello hello;
  hello.scheme_tag = static_cast<std::uint8_t>(scheme);
  hello.cluster_id = cluster_id;
  hello.initiator = initiator;
  hello.responder = responder;
  hello.x25519_public = crypto::x25519_keypair().public_key;
  Bytes dk(crypto::mlkem::ml_kem_768_dk_bytes);
  EXPECT_TRUE(crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk).ok());
  crypto::random_bytes(hello.nonce);
  Bytes body;
  wire::encode_hello(hello, body);
  Bytes message(4);
  for (int i = 0; i < 4; ++i) message[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
  message.insert(message.end(), body.begin(), body.end());
  return message;
}

// A stranger on a validator's port, on its own thread until stopped: opens
// connections from `from` in turn idle (nothing sent), half-open (part of a
// Hello) and with one of `hellos` (whole, length-prefixed), holds up to `hold` of
// them open, and replaces each one the responder closes at once. More than the
// pending bounds: the responder must close some to let anyone else in.
class Intruder {
 public:
  Intruder(std::string from, std::uint16_t port, std::size_t hold, std::vector<Bytes> hellos)
      : thread_([this, from = std::move(from), port, hold, hellos = std::move(hellos)] {
          run(from, port, hold, hellos);
        }) {}
  ~Intruder() { stop(); }
  void stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t opened() const { return opened_.load(); }
  std::size_t held_max() const { return held_max_.load(); }

 private:
  void run(const std::string& from, std::uint16_t port, std::size_t hold, const std::vector<Bytes>& hellos) {
    asio::io_context io;
    std::vector<tcp::socket> held;
    const tcp::endpoint target(asio::ip::make_address("127.0.0.1"), port);
    const Bytes partial = hellos.empty() ? Bytes(64, 1) : Bytes(hellos[0].begin(), hellos[0].begin() + 100);
    std::uint64_t i = 0;
    while (!stop_.load()) {
      if (held.size() >= hold) {
        // Keep what is open; drop what the responder closed (EOF or reset).
        std::erase_if(held, [](tcp::socket& s) {
          std::uint8_t buf[4096];
          asio::error_code ec;
          s.read_some(asio::buffer(buf), ec);
          return ec && ec != asio::error::would_block;
        });
        if (held.size() >= hold) std::this_thread::sleep_for(200us);
        continue;
      }
      tcp::socket s(io);
      asio::error_code ec;
      s.open(tcp::v4(), ec);
      s.bind(tcp::endpoint(asio::ip::make_address(from), 0), ec);
      s.connect(target, ec);
      if (ec) {
        std::this_thread::sleep_for(1ms);
        continue;
      }
      if (i % 3 == 1) asio::write(s, asio::buffer(partial), ec);
      if (i % 3 == 2 && !hellos.empty()) asio::write(s, asio::buffer(hellos[(i / 3) % hellos.size()]), ec);
      ++i;
      s.non_blocking(true, ec);
      held.push_back(std::move(s));
      held_max_.store(std::max(held_max_.load(), held.size()));
      opened_.fetch_add(1);
    }
  }
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> opened_{0};
  std::atomic<std::size_t> held_max_{0};
  std::thread thread_;
};

std::uint64_t failures(const NetCounters& c, HandshakeFailure f) {
  return c.handshake_failures[static_cast<std::size_t>(f)];
}

// Validator 0 restarts while a stranger at the same address (loopback: the
// source cannot tell them apart) holds more idle and half-open connections than
// the pending bounds (256 in all, 32 per address) and sends Hellos that the
// screen refuses. The stranger's connections are evicted, so validator 0 forms
// its session again while they are held; no stranger gets the costly answer.
TEST(NetworkAdmissionTest, HeldConnectionsDoNotKeepARestartedValidatorOut) {
  Cluster cluster(2);
  cluster.start_all();
  const auto scheme = crypto::default_signature_scheme;
  Hash32 other_cluster = cluster.cluster_id();
  other_cluster.bytes[0] ^= 1;
  const std::size_t hold = limits::net_pending_connections_max + 100;
  Intruder intruder("127.0.0.1", cluster.port(1), hold,
                    {hello_bytes(other_cluster, scheme, 0, 1), hello_bytes(cluster.cluster_id(), scheme, 5, 1),
                     hello_bytes(cluster.cluster_id(), scheme, 1, 1)});
  // The stranger holds more than the bounds allow before validator 0 goes down.
  ASSERT_TRUE(eventually([&] {
    return intruder.held_max() >= hold &&
           failures(cluster.node(1).counters(), HandshakeFailure::evicted) >= hold - limits::net_pending_connections_per_source_max;
  }));
  cluster.stop(0);
  cluster.start(0);
  cluster.wire_all();
  const auto restarted = std::chrono::steady_clock::now();
  ASSERT_TRUE(eventually([&] { return cluster.all_connected(); }, 5s)) << "validator 0 kept out";
  const auto reconnect = std::chrono::steady_clock::now() - restarted;
  send_range(cluster.node(0), 1, 0, 100);
  ASSERT_TRUE(eventually([&] { return cluster.inbox(1).total.load() == 100; }));
  const std::uint64_t opened_during = intruder.opened();
  intruder.stop();
  const auto c = cluster.node(1).counters();
  EXPECT_GT(opened_during, hold);
  EXPECT_GT(failures(c, HandshakeFailure::evicted), 0u);
  EXPECT_GT(failures(c, HandshakeFailure::wrong_cluster), 0u);
  EXPECT_GT(failures(c, HandshakeFailure::unknown_identity), 0u);
  EXPECT_EQ(c.hellos_answered, c.sessions_established) << "a stranger got the costly answer";
  EXPECT_EQ(c.sessions_established, 2u);
  EXPECT_EQ(cluster.inbox(1).errors.load(), 0u);
  std::printf("reconnected in %.1f ms while the stranger opened %llu connections\n",
              std::chrono::duration<double, std::milli>(reconnect).count(),
              static_cast<unsigned long long>(opened_during));
}

// The four-validator form: strangers hold more connections than the bounds on
// the ports of validators 2 and 3 while 0 and 1 restart; all six sessions form
// again while the connections are held.
TEST(NetworkAdmissionTest, FourValidatorsReformWhileTwoPortsAreHeld) {
  Cluster cluster(4);
  cluster.start_all();
  const std::size_t hold = limits::net_pending_connections_max + 100;
  Intruder at_2("127.0.0.1", cluster.port(2), hold, {});
  Intruder at_3("127.0.0.1", cluster.port(3), hold, {});
  ASSERT_TRUE(eventually([&] {
    const std::uint64_t enough = hold - limits::net_pending_connections_per_source_max;
    return failures(cluster.node(2).counters(), HandshakeFailure::evicted) >= enough &&
           failures(cluster.node(3).counters(), HandshakeFailure::evicted) >= enough;
  }));
  cluster.stop(0);
  cluster.stop(1);
  cluster.start(0);
  cluster.start(1);
  cluster.wire_all();
  ASSERT_TRUE(eventually([&] { return cluster.all_connected(); }, 5s)) << "sessions did not re-form";
  EXPECT_GT(at_2.opened(), hold);
  EXPECT_GT(at_3.opened(), hold);
  at_2.stop();
  at_3.stop();
  // Every answered Hello was a validator's: 2 also has its outgoing session to 3.
  const auto c2 = cluster.node(2).counters(), c3 = cluster.node(3).counters();
  EXPECT_EQ(c2.hellos_answered, c2.sessions_established - 1);
  EXPECT_EQ(c3.hellos_answered, c3.sessions_established);
  EXPECT_EQ(c3.hellos_answered, 5u);  // 0, 1, 2, then 0 and 1 again
}

// Validator 0 has its own address (127.0.0.2; it dials from it). A stranger at
// 127.0.0.1 floods well-formed Hellos claiming to be 0: each is refused by the
// source check before any ML-KEM or ML-DSA work, so they spend neither 0's
// budget nor its handshake places, and 0 reconnects after a restart.
TEST(NetworkAdmissionTest, HellosClaimingAValidatorFromAnotherAddressAreRefusedBeforeWork) {
  Cluster cluster(2);
  cluster.set_host(0, "127.0.0.2");
  cluster.start_all();
  const Bytes forged = hello_bytes(cluster.cluster_id(), crypto::default_signature_scheme, 0, 1);
  Intruder intruder("127.0.0.1", cluster.port(1), limits::net_pending_connections_max + 100, {forged});
  // Every third connection carries a Hello: three bursts' worth before the restart.
  ASSERT_TRUE(eventually([&] { return intruder.opened() >= 9 * limits::net_hello_burst_per_validator; }));
  cluster.stop(0);
  cluster.start(0);
  cluster.wire_all();
  ASSERT_TRUE(eventually([&] { return cluster.all_connected(); }, 5s)) << "validator 0 kept out";
  intruder.stop();
  const auto c = cluster.node(1).counters();
  EXPECT_GE(failures(c, HandshakeFailure::wrong_source), 3 * limits::net_hello_burst_per_validator);
  EXPECT_EQ(failures(c, HandshakeFailure::rate_limited), 0u);
  EXPECT_EQ(failures(c, HandshakeFailure::superseded), 0u);
  EXPECT_EQ(c.hellos_answered, c.sessions_established) << "a forged Hello got the costly answer";
  EXPECT_EQ(c.sessions_established, 2u);
}

// The per-validator budget and handshake places, with validator 0 and a stranger
// sharing 127.0.0.1. Validator 0's own handshakes are refunded: more of them than
// the burst all succeed. A stranger's answered Hello (it cannot send Finish) takes
// a place; a newer one replaces it (superseded); beyond the burst it is refused
// before the answer (rate_limited). What is left is the limit of a shared address:
// the stranger has spent validator 0's budget, so 0 is refused too until it refills.
TEST(NetworkAdmissionTest, ValidatorBudgetRefundsHonestHandshakesAndLimitsForgedOnes) {
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) {
    c.hello_burst_per_validator = 2;
    c.hellos_per_second_per_validator = 0.01;  // no refill within the test
    c.handshakes_per_validator_max = 1;
  };
  cluster.start(1);
  auto genuine = [&] {
    RawPeer peer;
    return peer.connect(cluster.port(1), 0, 1, cluster.signer(0), cluster.signer(1).verifier(),
                        cluster.cluster_id());
  };
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(genuine()) << "honest handshake " << i << " was refused";
    ASSERT_TRUE(eventually([&] { return cluster.node(1).counters().sessions_established == i + 1u; }));
  }
  RawPeer first, second, third;
  EXPECT_TRUE(first.hello_only(cluster.port(1), 0, 1, cluster.signer(0), cluster.cluster_id()));
  EXPECT_TRUE(second.hello_only(cluster.port(1), 0, 1, cluster.signer(0), cluster.cluster_id()));
  EXPECT_TRUE(first.closed_by_peer()) << "the older handshake keeps its place";
  EXPECT_FALSE(third.hello_only(cluster.port(1), 0, 1, cluster.signer(0), cluster.cluster_id()))
      << "answered beyond the burst";
  EXPECT_FALSE(genuine()) << "shared address: the stranger spent validator 0's budget";
  const auto c = cluster.node(1).counters();
  EXPECT_EQ(failures(c, HandshakeFailure::superseded), 1u);
  EXPECT_EQ(failures(c, HandshakeFailure::rate_limited), 2u);
  EXPECT_EQ(c.hellos_answered, 6u);
}

// A connection must send its Hello within hello_timeout (much shorter than the
// handshake's): a silent one and one that stops inside its Hello are closed at
// the Hello deadline; one that sent its Hello but no Finish at the handshake's.
TEST(NetworkAdmissionTest, HelloAndHandshakeDeadlines) {
  Cluster cluster(2);
  cluster.tweak = [](NetworkConfig& c) {
    c.hello_timeout = 50ms;
    c.handshake_timeout = 300ms;
  };
  cluster.start(1);
  auto elapsed_until_closed = [](RawPeer& peer) {
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(peer.closed_by_peer());
    return std::chrono::steady_clock::now() - start;
  };
  RawPeer silent;
  silent.socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), cluster.port(1)));
  EXPECT_LT(elapsed_until_closed(silent), 250ms);
  RawPeer partial;
  partial.socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), cluster.port(1)));
  const Bytes hello = hello_bytes(cluster.cluster_id(), crypto::default_signature_scheme, 0, 1);
  partial.write(ByteSpan(hello).first(200));
  EXPECT_LT(elapsed_until_closed(partial), 250ms);
  ASSERT_TRUE(eventually([&] { return failures(cluster.node(1).counters(), HandshakeFailure::hello_timeout) == 2; }));
  RawPeer no_finish;
  EXPECT_TRUE(no_finish.hello_only(cluster.port(1), 0, 1, cluster.signer(0), cluster.cluster_id()));
  EXPECT_GE(elapsed_until_closed(no_finish), 150ms);  // not the Hello deadline
  ASSERT_TRUE(eventually([&] { return failures(cluster.node(1).counters(), HandshakeFailure::timeout) == 1; }));
  EXPECT_EQ(failures(cluster.node(1).counters(), HandshakeFailure::hello_timeout), 2u);
}

TEST(NetworkTest, BadConfigRefused) {
  Cluster cluster(2);
  NetworkConfig c = cluster.config(0);
  c.batch_bytes_max = limits::net_batch_bytes_max + 1;
  EXPECT_EQ(Network::start(c, [](ValidatorId, std::uint16_t, ByteSpan) {}).error(), NetError::bad_config);
  c = cluster.config(0);
  c.identity = nullptr;
  EXPECT_EQ(Network::start(c, [](ValidatorId, std::uint16_t, ByteSpan) {}).error(), NetError::bad_config);
  for (int bad = 0; bad < 6; ++bad) {
    c = cluster.config(0);
    if (bad == 0) c.pending_connections_max = limits::net_pending_connections_max + 1;
    if (bad == 1) c.pending_connections_max = 4;  // below the per-source default
    if (bad == 2) c.handshakes_per_validator_max = 0;
    if (bad == 3) c.hello_burst_per_validator = limits::net_hello_burst_per_validator + 1;
    if (bad == 4) c.hellos_per_second_per_validator = 0;
    if (bad == 5) c.hello_timeout = 0ms;
    EXPECT_EQ(Network::start(c, [](ValidatorId, std::uint16_t, ByteSpan) {}).error(), NetError::bad_config) << bad;
  }
  c = cluster.config(0);
  c.listen_host = "not-an-address";
  EXPECT_EQ(Network::start(c, [](ValidatorId, std::uint16_t, ByteSpan) {}).error(), NetError::listen_failed);
}

}  // namespace
}  // namespace kestrel::net
