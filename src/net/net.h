// net: the validator transport (DESIGN.md "Network", docs/network.md).
//
// A Network is one validator's endpoint: it listens for its peers, dials the
// peers with a higher id (so each pair has one session), runs the hybrid
// post-quantum handshake (X25519 + ML-KEM-768, identities signed with the
// cluster's scheme and checked against the validator set), and then carries
// typed application messages in ChaCha20-Poly1305 frames. Several messages go
// in one frame (gate net.adaptive_batching); frame buffers come from a bounded
// pool (gate net.buffer_pool); large frames may be zstd-compressed (gate
// net.compression, off by default).
//
// Threading: each Network runs one io_context thread of its own. Received
// messages are delivered to the MessageHandler on that thread, in order per
// sender, with the sender's authenticated id; the handler must not block for
// long (a slow handler stops reading, which is TCP backpressure to the sender).
// All public member functions are thread-safe.
//
// Bounds: per-peer send queues (messages and bytes, limits.h); when full, a
// reliable send gets backpressure (send() waits, try_send() says queue_full) and
// a droppable one is dropped and counted. Every peer input is validated, counted
// and dropped; a session that misbehaves is closed, never the process.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/async_result.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "net/admission.h"
#include "net/wire.h"

namespace kestrel::net {

using wire::KeyExchange;

enum class NetError : std::uint8_t {
  unknown_peer,       // the id is not a validator of this cluster, or is us
  message_too_large,  // payload above message_size_max (or the queue's byte bound)
  queue_full,         // reliable send, per-peer queue full (backpressure)
  dropped,            // droppable send, queue full: the message was dropped and counted
  stopped,            // the network is shutting down
  bad_config,         // a config value outside its limit
  listen_failed,      // could not bind or listen
  timeout,            // a blocking send waited past its deadline
};
const char* describe(NetError error);

// ValidatorId and HandshakeFailure (why a handshake failed or an inbound
// connection was refused): net/admission.h.

struct PeerAddress {
  std::string host;  // numeric IPv4/IPv6 address
  std::uint16_t port = 0;
};

struct NetworkConfig {
  ValidatorId self = 0;
  Hash32 cluster_id;
  // Borrowed: must outlive the Network. validators[i] verifies validator i's
  // transcript signature; identity signs ours (its scheme is the cluster's).
  const crypto::Signer* identity = nullptr;
  std::vector<const crypto::Verifier*> validators;
  KeyExchange key_exchange = KeyExchange::hybrid;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0: any; read back with listen_port()

  std::size_t send_queue_messages_max = limits::net_send_queue_messages_max;
  std::size_t send_queue_bytes_max = limits::net_send_queue_bytes_max;
  std::size_t batch_bytes_max = limits::net_batch_bytes_max;
  std::chrono::microseconds batch_delay_max{limits::net_batch_delay_us_max};
  std::chrono::milliseconds handshake_timeout{limits::net_handshake_timeout_ms};
  // Inbound admission (docs/network.md "Admission"); each at most its limit.
  std::chrono::milliseconds hello_timeout{limits::net_hello_timeout_ms};  // capped by handshake_timeout
  std::size_t pending_connections_max = limits::net_pending_connections_max;
  std::size_t pending_connections_per_source_max = limits::net_pending_connections_per_source_max;
  std::size_t handshakes_per_validator_max = limits::net_handshakes_per_validator_max;
  double hellos_per_second_per_validator = limits::net_hellos_per_second_per_validator;
  std::size_t hello_burst_per_validator = limits::net_hello_burst_per_validator;
  // A Hello claiming validator i must come from i's address (set_peer_address),
  // unless that address is unspecified. Off for validators behind NAT.
  bool check_source_address = true;
  std::chrono::milliseconds frame_stall_timeout{limits::net_frame_stall_timeout_ms};
  std::chrono::milliseconds keepalive_interval{limits::net_keepalive_interval_ms};
  std::chrono::milliseconds idle_timeout{limits::net_idle_timeout_ms};
  std::chrono::milliseconds dial_backoff_min{limits::net_dial_backoff_ms_min};
  std::chrono::milliseconds dial_backoff_max{limits::net_dial_backoff_ms_max};
  std::uint64_t rekey_frames = limits::net_rekey_frames_max;
  std::uint64_t rekey_bytes = limits::net_rekey_bytes_max;
};

// A snapshot of the counters (for the metrics issue to export).
struct NetCounters {
  std::uint64_t bytes_sent = 0, bytes_received = 0;  // on the wire, frames only
  std::uint64_t frames_sent = 0, frames_received = 0;
  std::uint64_t messages_sent = 0, messages_received = 0;
  std::uint64_t messages_dropped = 0;      // droppable sends refused by a full queue
  std::uint64_t send_queue_full = 0;       // reliable sends that met a full queue
  std::uint64_t sessions_established = 0, sessions_closed = 0;
  std::uint64_t frames_rejected_authentication = 0;  // tampered, replayed, reordered
  std::uint64_t frames_rejected_oversized = 0;       // length above frame_bytes_max or below a tag
  std::uint64_t frames_rejected_malformed = 0;       // opened but does not decode
  std::uint64_t frame_stalls = 0;    // a peer stopped mid-frame past the deadline
  std::uint64_t idle_timeouts = 0;   // nothing received for idle_timeout
  std::uint64_t rekeys = 0;
  std::uint64_t frames_compressed = 0, compression_bytes_saved = 0;
  std::uint64_t buffer_pool_hits = 0, buffer_pool_misses = 0;
  std::uint64_t buffer_pool_bytes = 0;  // capacity of the pooled buffers now (a level, not a count)
  std::uint64_t dial_attempts = 0;
  std::uint64_t urgent_sends = 0;   // messages queued with Delivery::urgent
  std::uint64_t batch_holds = 0;    // times a writer waited for company (adaptive batching's age bound)
  std::uint64_t hellos_answered = 0;  // inbound Hellos that got the costly answer (ML-KEM + signature)
  std::uint64_t handshake_failures[static_cast<std::size_t>(HandshakeFailure::count_)] = {};
  std::uint64_t handshake_failures_total() const;
};

// reliable: waits for space (backpressure). droppable: dropped and counted when
// the queue is full. urgent: reliable, and the writer sends what is queued for
// that peer at once instead of holding it up to batch_delay_max for company (the
// node uses it for consensus messages with gate net.urgent_consensus: a view's
// proposal and votes are each on the critical path).
enum class Delivery : std::uint8_t { reliable, droppable, urgent };

// (sender, type, payload); payload is valid only during the call.
using MessageHandler = std::function<void(ValidatorId from, std::uint16_t type, ByteSpan payload)>;

class Network {
 public:
  // Binds the listener and starts the io thread. Dials peers once their
  // addresses are set.
  static Result<std::unique_ptr<Network>, NetError> start(NetworkConfig config,
                                                          MessageHandler handler);
  // Clean shutdown: stop().
  ~Network();
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  std::uint16_t listen_port() const;
  // Where to dial validator `peer` (only peers with a higher id are dialed), and
  // where its Hellos must come from (NetworkConfig::check_source_address). Our
  // own dials leave from listen_host when it is a specific address.
  void set_peer_address(ValidatorId peer, PeerAddress address);

  // Queues a message for `to` without waiting. queue_full (reliable) or
  // dropped (droppable) when the peer's queue is full.
  [[nodiscard]] Status<NetError> try_send(ValidatorId to, std::uint16_t type, ByteSpan payload,
                                          Delivery delivery = Delivery::reliable);
  // Queues a reliable message, waiting (backpressure) up to `timeout` for space.
  // For threads outside any event loop (tests, benchmarks, drivers).
  [[nodiscard]] Status<NetError> send_blocking(ValidatorId to, std::uint16_t type, ByteSpan payload,
                                               std::chrono::milliseconds timeout);
  // The awaitable form: co_await network.send(...) suspends the calling
  // coroutine (on any executor) until the message is queued. Copies the payload
  // before the first suspension.
  asio::awaitable<Status<NetError>> send(ValidatorId to, std::uint16_t type, Bytes payload);

  // True while an authenticated session with `peer` is up.
  bool connected(ValidatorId peer) const;
  NetCounters counters() const;
  // Flushes what is queued (bounded by a deadline), sends close frames, stops the
  // thread. Idempotent.
  void stop();

  class Impl;

 private:
  explicit Network(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kestrel::net
