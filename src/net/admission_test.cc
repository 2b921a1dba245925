// Unit tests of inbound admission without sockets: the Hello screen, the token
// bucket, the pending-connection places, and the responder's answer.
#include "net/admission.h"

#include <gtest/gtest.h>

#include "crypto/random.h"

namespace kestrel::net {
namespace {

using namespace std::chrono_literals;

IpAddress v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
  IpAddress ip{};
  ip[10] = ip[11] = 0xff;
  ip[12] = a;
  ip[13] = b;
  ip[14] = c;
  ip[15] = d;
  return ip;
}

struct Fixture {
  Fixture() {
    crypto::random_bytes(cluster_id.bytes);
    signer = crypto::generate_signer(crypto::default_signature_scheme);
    addresses = {v4(10, 0, 0, 1), std::nullopt, v4(10, 0, 0, 3), v4(10, 0, 0, 4)};
    screen.cluster_id = cluster_id;
    screen.scheme_tag = static_cast<std::uint8_t>(signer->scheme());
    screen.self = 3;
    screen.validators = 4;
    screen.addresses = addresses;
  }
  Bytes hello_from(ValidatorId initiator, Bytes* dk_out = nullptr) const {
    wire::Hello hello;
    hello.scheme_tag = screen.scheme_tag;
    hello.cluster_id = cluster_id;
    hello.initiator = initiator;
    hello.responder = 3;
    hello.x25519_public = crypto::x25519_keypair().public_key;
    Bytes dk(crypto::mlkem::ml_kem_768_dk_bytes);
    EXPECT_TRUE(crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk).ok());
    if (dk_out) *dk_out = dk;
    crypto::random_bytes(hello.nonce);
    Bytes out;
    wire::encode_hello(hello, out);
    return out;
  }
  Hash32 cluster_id;
  std::unique_ptr<crypto::Signer> signer;
  std::vector<std::optional<IpAddress>> addresses;
  HelloScreen screen;
};

TEST(AdmissionTest, ScreenRefusesStrangersBeforeAnyWork) {
  Fixture f;
  const Bytes good = f.hello_from(0);
  ASSERT_TRUE(screen_hello(good, f.screen, v4(10, 0, 0, 1)).ok());
  // Validator 0 claimed from another address: refused; validator 1 has no
  // configured address, so any source may claim it.
  EXPECT_EQ(screen_hello(good, f.screen, v4(10, 0, 0, 9)).error(), HandshakeFailure::wrong_source);
  EXPECT_EQ(screen_hello(good, f.screen, v4(10, 0, 0, 3)).error(), HandshakeFailure::wrong_source);
  EXPECT_TRUE(screen_hello(f.hello_from(1), f.screen, v4(192, 168, 1, 1)).ok());
  // Ids that must not dial us: ourselves, and one beyond the set.
  EXPECT_EQ(screen_hello(f.hello_from(3), f.screen, v4(10, 0, 0, 4)).error(), HandshakeFailure::unknown_identity);
  EXPECT_EQ(screen_hello(f.hello_from(7), f.screen, v4(10, 0, 0, 1)).error(), HandshakeFailure::unknown_identity);
  // Another cluster, another key exchange, garbage.
  HelloScreen other = f.screen;
  other.cluster_id.bytes[0] ^= 1;
  EXPECT_EQ(screen_hello(good, other, v4(10, 0, 0, 1)).error(), HandshakeFailure::wrong_cluster);
  other = f.screen;
  other.key_exchange = wire::KeyExchange::x25519;
  EXPECT_EQ(screen_hello(good, other, v4(10, 0, 0, 1)).error(), HandshakeFailure::key_exchange);
  EXPECT_EQ(screen_hello(ByteSpan(good).first(40), f.screen, v4(10, 0, 0, 1)).error(),
            HandshakeFailure::malformed);
}

TEST(AdmissionTest, AnswerCompletesWithTheInitiator) {
  Fixture f;
  Bytes dk;
  const Bytes hello_bytes = f.hello_from(0, &dk);
  auto hello = screen_hello(hello_bytes, f.screen, v4(10, 0, 0, 1));
  ASSERT_TRUE(hello.ok());
  auto answer = answer_hello(*hello, hello_bytes, wire::KeyExchange::hybrid, 3, *f.signer);
  ASSERT_TRUE(answer.ok());
  std::size_t unsigned_bytes = 0;
  auto reply = wire::decode_reply(answer->reply, unsigned_bytes);
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->responder, 3);
  const Hash32 th = wire::transcript_hash(hello_bytes, ByteSpan(answer->reply).first(unsigned_bytes));
  EXPECT_EQ(th, answer->transcript);
  EXPECT_TRUE(f.signer->verifier().verify(wire::responder_signed_message(th), reply->signature));
  Bytes tampered = answer->reply;
  tampered[10] ^= 1;
  auto bad = wire::decode_reply(tampered, unsigned_bytes);
  ASSERT_TRUE(bad.ok());
  const Hash32 bad_th = wire::transcript_hash(hello_bytes, ByteSpan(tampered).first(unsigned_bytes));
  EXPECT_FALSE(f.signer->verifier().verify(wire::responder_signed_message(bad_th), bad->signature));
}

TEST(AdmissionTest, TokenBucketBurstRefillAndRefund) {
  TokenBucket bucket(4.0, 3.0);
  const auto t0 = TokenBucket::Clock::time_point{} + 1h;
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_TRUE(bucket.take(t0));
  EXPECT_FALSE(bucket.take(t0)) << "burst spent";
  EXPECT_FALSE(bucket.take(t0 + 200ms)) << "0.8 of a token";
  EXPECT_TRUE(bucket.take(t0 + 250ms)) << "one token after 1/4 s";
  EXPECT_FALSE(bucket.take(t0 + 250ms));
  bucket.refund();
  EXPECT_TRUE(bucket.take(t0 + 250ms)) << "a refunded token";
  EXPECT_TRUE(bucket.take(t0 + 1h));
  EXPECT_LE(bucket.tokens(), 3.0) << "refill stops at the burst";
  EXPECT_NEAR(bucket.tokens(), 2.0, 1e-9);
  for (int i = 0; i < 10; ++i) bucket.refund();
  EXPECT_NEAR(bucket.tokens(), 3.0, 1e-9) << "refunds stop at the burst";
  EXPECT_TRUE(bucket.take(t0)) << "an earlier time takes but adds nothing";
  EXPECT_NEAR(bucket.tokens(), 2.0, 1e-9);
}

TEST(AdmissionTest, PendingConnectionsEvictOldestPerSourceThenOverall) {
  PendingConnections pending(4, 2);
  const IpAddress a = v4(1, 1, 1, 1), b = v4(2, 2, 2, 2), c = v4(3, 3, 3, 3);
  EXPECT_FALSE(pending.add(1, a));
  EXPECT_FALSE(pending.add(2, b));
  EXPECT_FALSE(pending.add(3, a));
  // A third from `a` closes a's oldest, not b's.
  EXPECT_EQ(pending.add(4, a), std::optional<std::uint64_t>(1));
  EXPECT_EQ(pending.count(a), 2u);
  EXPECT_FALSE(pending.add(5, b));
  EXPECT_EQ(pending.size(), 4u);
  // Full: a new source closes the oldest overall (2, from b).
  EXPECT_EQ(pending.add(6, c), std::optional<std::uint64_t>(2));
  EXPECT_EQ(pending.size(), 4u);
  pending.remove(3);
  pending.remove(3);  // no-op
  EXPECT_EQ(pending.size(), 3u);
  EXPECT_FALSE(pending.add(7, c));
  EXPECT_EQ(pending.count(c), 2u);
}

TEST(AdmissionTest, AddressGroupIsTheIpv4AddressOrTheIpv6Slash64) {
  EXPECT_EQ(address_group(v4(10, 1, 2, 3)), v4(10, 1, 2, 3));
  IpAddress a{0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  IpAddress b = a;
  b[15] ^= 0xff;  // same /64
  IpAddress c = a;
  c[7] ^= 1;  // another /64
  EXPECT_EQ(address_group(a), address_group(b));
  EXPECT_NE(address_group(a), address_group(c));
  EXPECT_EQ(address_group(a)[8], 0);
}

}  // namespace
}  // namespace kestrel::net
