// Admission of inbound handshakes; see admission.h.
#include "net/admission.h"

#include <algorithm>

#include "common/assert.h"
#include "crypto/ct.h"

namespace kestrel::net {

IpAddress address_group(const IpAddress& address) {
  static constexpr std::array<std::uint8_t, 12> v4_mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(v4_mapped.begin(), v4_mapped.end(), address.begin())) return address;
  IpAddress group{};
  std::copy_n(address.begin(), 8, group.begin());
  return group;
}

Result<wire::Hello, HandshakeFailure> screen_hello(ByteSpan hello_bytes, const HelloScreen& screen,
                                                   const IpAddress& source) {
  auto hello = wire::decode_hello(hello_bytes);
  if (!hello) {
    return Err(hello.error() == wire::WireError::bad_version ? HandshakeFailure::bad_version
                                                             : HandshakeFailure::malformed);
  }
  if (hello->cluster_id != screen.cluster_id || hello->scheme_tag != screen.scheme_tag) {
    return Err(HandshakeFailure::wrong_cluster);
  }
  if (hello->responder != screen.self || hello->initiator >= screen.validators ||
      hello->initiator >= screen.self) {  // only lower ids dial us
    return Err(HandshakeFailure::unknown_identity);
  }
  if (hello->key_exchange != screen.key_exchange) return Err(HandshakeFailure::key_exchange);
  if (hello->initiator < screen.addresses.size()) {
    const auto& configured = screen.addresses[hello->initiator];
    if (configured && *configured != source) return Err(HandshakeFailure::wrong_source);
  }
  KESTREL_DEBUG_ASSERT(hello->initiator < screen.self);
  return std::move(*hello);
}

Result<HelloAnswer, HandshakeFailure> answer_hello(const wire::Hello& hello, ByteSpan hello_bytes,
                                                   wire::KeyExchange key_exchange, ValidatorId self,
                                                   const crypto::Signer& identity) {
  KESTREL_ASSERT(hello.key_exchange == key_exchange);  // screened
  const bool hybrid = key_exchange == wire::KeyExchange::hybrid;
  const crypto::X25519KeyPair x25519 = crypto::x25519_keypair();
  std::array<std::uint8_t, crypto::x25519_bytes> x25519_secret{};
  if (!crypto::x25519(x25519_secret, x25519.secret_key, hello.x25519_public)) {
    return Err(HandshakeFailure::key_exchange);
  }
  wire::Reply reply;
  reply.key_exchange = key_exchange;
  reply.responder = self;
  reply.x25519_public = x25519.public_key;
  std::array<std::uint8_t, crypto::mlkem::shared_key_bytes> kem_secret{};
  if (hybrid && !crypto::mlkem::encaps(wire::mlkem_set, kem_secret, reply.mlkem_ciphertext, hello.mlkem_ek)) {
    crypto::secure_zero(x25519_secret);
    return Err(HandshakeFailure::key_exchange);
  }
  HelloAnswer answer;
  wire::encode_reply_unsigned(reply, answer.reply);
  answer.transcript = wire::transcript_hash(hello_bytes, answer.reply);
  Bytes signature;
  identity.sign(wire::responder_signed_message(answer.transcript), signature);
  wire::append_signature(signature, answer.reply);
  auto keys = wire::derive_session_keys(x25519_secret, hybrid ? ByteSpan(kem_secret) : ByteSpan{},
                                        answer.transcript);
  crypto::secure_zero(x25519_secret);
  crypto::secure_zero(kem_secret);
  if (!keys) return Err(HandshakeFailure::key_exchange);
  answer.keys.initiator_to_responder = keys->initiator_to_responder;
  answer.keys.responder_to_initiator = keys->responder_to_initiator;
  KESTREL_ASSERT(answer.reply.size() <= limits::net_handshake_message_bytes_max);
  return answer;
}

TokenBucket::TokenBucket(double per_second, double burst)
    : per_second_(per_second), burst_(burst), tokens_(burst) {
  KESTREL_ASSERT(per_second > 0 && burst >= 1);
}

bool TokenBucket::take(Clock::time_point now) {
  if (started_ && now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * per_second_);
  }
  if (!started_ || now > last_) last_ = now;
  started_ = true;
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  KESTREL_DEBUG_ASSERT(tokens_ >= 0.0 && tokens_ <= burst_);
  return true;
}

void TokenBucket::refund() { tokens_ = std::min(burst_, tokens_ + 1.0); }

PendingConnections::PendingConnections(std::size_t total_max, std::size_t per_source_max)
    : total_max_(total_max), per_source_max_(per_source_max) {
  KESTREL_ASSERT(per_source_max >= 1 && per_source_max <= total_max);
  entries_.reserve(total_max);
}

std::size_t PendingConnections::count(const IpAddress& source) const {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.source == source; }));
}

std::optional<std::uint64_t> PendingConnections::add(std::uint64_t id, const IpAddress& source) {
  std::optional<std::uint64_t> evicted;
  auto victim = entries_.end();
  if (count(source) >= per_source_max_) {
    victim = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.source == source; });
  } else if (entries_.size() >= total_max_) {
    victim = entries_.begin();
  }
  if (victim != entries_.end()) {
    evicted = victim->id;
    entries_.erase(victim);
  }
  entries_.push_back({id, source});
  KESTREL_ASSERT(entries_.size() <= total_max_);
  KESTREL_DEBUG_ASSERT(count(source) <= per_source_max_);
  return evicted;
}

void PendingConnections::remove(std::uint64_t id) {
  std::erase_if(entries_, [&](const Entry& e) { return e.id == id; });
}

}  // namespace kestrel::net
