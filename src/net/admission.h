// Admission of inbound handshakes (docs/network.md "Admission"), without I/O:
// what a responder decides before it spends anything costly on a connection.
//
// A listener hands a stranger three things it may hold: a connection that has not
// sent its Hello (PendingConnections: bounded per source and in all, the oldest
// silent one is closed to make room), a Hello it must screen (screen_hello: cheap
// checks only, including the source address against the claimed validator's
// configured one), and the costly answer to a Hello that passed (answer_hello:
// ML-KEM encapsulation and a signature), which a per-validator TokenBucket meters.
// network.cc drives these over sockets; the micro-benchmark and the unit tests
// drive them directly.
//
// Thread-safety: free functions are pure; a TokenBucket or PendingConnections
// belongs to one thread (the network's io thread).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "net/wire.h"

namespace kestrel::net {

// A validator's index in the cluster's validator set [0, validators.size()).
using ValidatorId = std::uint16_t;

// Why a handshake failed or an inbound connection was refused (counted per reason).
enum class HandshakeFailure : std::uint8_t {
  malformed,          // a handshake message that does not decode or is oversized
  bad_version,        // another protocol version
  wrong_cluster,      // cluster id or signature scheme differs
  unknown_identity,   // the claimed id is not a validator, is us, or must not dial us
  identity_mismatch,  // the responder is not the validator we dialed
  bad_signature,      // a transcript signature does not verify
  key_exchange,       // X25519 low-order point or ML-KEM key check failed
  timeout,            // not done within the handshake deadline
  io,                 // the connection broke during the handshake
  hello_timeout,      // no Hello within the hello deadline
  evicted,            // no Hello yet, closed to make room for a newer connection
  wrong_source,       // the Hello claims a validator whose configured address is not the source
  rate_limited,       // the claimed validator's handshake budget is spent
  superseded,         // replaced by a newer Hello claiming the same validator
  count_,
};
const char* describe(HandshakeFailure failure);

// An IP address as 16 bytes, IPv4 as IPv4-mapped IPv6, so one type compares both.
using IpAddress = std::array<std::uint8_t, 16>;

// The group a source address is limited in: an IPv4 address itself, an IPv6
// address's /64 (one host or subnet holds a whole /64).
IpAddress address_group(const IpAddress& address);

// What screen_hello checks a Hello against.
struct HelloScreen {
  Hash32 cluster_id;
  std::uint8_t scheme_tag = 0;
  wire::KeyExchange key_exchange = wire::KeyExchange::hybrid;
  ValidatorId self = 0;
  std::size_t validators = 0;
  // addresses[i]: validator i's configured address, or nullopt when none is known
  // (or it is unspecified, 0.0.0.0 / ::): then any source may claim i.
  std::span<const std::optional<IpAddress>> addresses;
};

// The checks before any costly work, in order: the Hello decodes, its cluster and
// scheme are ours, it is meant for us from a validator that dials us (a lower id),
// its key exchange is ours, and it comes from the claimed validator's configured
// address. Costs a decode and a few compares (BM_NetHelloRefused).
Result<wire::Hello, HandshakeFailure> screen_hello(ByteSpan hello_bytes, const HelloScreen& screen,
                                                   const IpAddress& source);

// The responder's answer to a screened Hello: the signed Reply, the transcript
// and the session keys. The costly step a stranger can cause (X25519, ML-KEM-768
// encapsulation, one signature: BM_NetHelloAnswered), metered per claimed
// validator before it is called.
struct HelloAnswer {
  Bytes reply;
  Hash32 transcript;
  wire::SessionKeys keys;
};
Result<HelloAnswer, HandshakeFailure> answer_hello(const wire::Hello& hello, ByteSpan hello_bytes,
                                                   wire::KeyExchange key_exchange, ValidatorId self,
                                                   const crypto::Signer& identity);

// A token bucket: `burst` tokens, refilled at `per_second`. Time is passed in.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  // REQUIRES: per_second > 0, burst >= 1.
  TokenBucket(double per_second, double burst);
  // Takes one token if there is one at `now`.
  bool take(Clock::time_point now);
  // Gives one token back (never above the burst): a validator that proved its
  // identity did not spend its budget.
  void refund();
  double tokens() const { return tokens_; }

 private:
  double per_second_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
  bool started_ = false;
};

// Inbound connections that have not sent a Hello yet, in arrival order. At most
// `per_source_max` from one source (an address_group) and `total_max` in all; adding one beyond
// either bound evicts the oldest of that source (or of all). An honest dialer
// sends its Hello at once, so it is the oldest only if the bound's worth of newer
// connections arrived within its first round trip.
class PendingConnections {
 public:
  // REQUIRES: 1 <= per_source_max <= total_max.
  PendingConnections(std::size_t total_max, std::size_t per_source_max);
  // Registers connection `id`; returns the id of a connection to close, if one
  // had to make room (it is no longer registered).
  std::optional<std::uint64_t> add(std::uint64_t id, const IpAddress& source);
  // Forgets `id` (its Hello arrived, or it closed). No-op if not registered.
  void remove(std::uint64_t id);
  std::size_t size() const { return entries_.size(); }
  std::size_t count(const IpAddress& source) const;

 private:
  struct Entry {
    std::uint64_t id;
    IpAddress source;
  };
  std::size_t total_max_;
  std::size_t per_source_max_;
  std::vector<Entry> entries_;  // oldest first; at most total_max_ (linear scans are bounded)
};

}  // namespace kestrel::net
