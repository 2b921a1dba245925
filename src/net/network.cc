// Network: sessions on Asio with C++20 coroutines, one io_context thread.
// See net.h for the contract and docs/network.md for the protocol.
#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>

#include "common/assert.h"
#include "common/gates.h"
#include "crypto/ct.h"
#include "crypto/random.h"
#include "net/listener.h"
#include "net/net.h"

namespace kestrel::net {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

const char* describe(NetError error) {
  switch (error) {
    case NetError::unknown_peer: return "unknown peer";
    case NetError::message_too_large: return "message too large";
    case NetError::queue_full: return "send queue full";
    case NetError::dropped: return "droppable message dropped: send queue full";
    case NetError::stopped: return "network stopped";
    case NetError::bad_config: return "configuration value outside its limit";
    case NetError::listen_failed: return "could not listen";
    case NetError::timeout: return "timed out waiting for send queue space";
  }
  return "unknown net error";
}

const char* describe(HandshakeFailure failure) {
  switch (failure) {
    case HandshakeFailure::malformed: return "malformed";
    case HandshakeFailure::bad_version: return "bad_version";
    case HandshakeFailure::wrong_cluster: return "wrong_cluster";
    case HandshakeFailure::unknown_identity: return "unknown_identity";
    case HandshakeFailure::identity_mismatch: return "identity_mismatch";
    case HandshakeFailure::bad_signature: return "bad_signature";
    case HandshakeFailure::key_exchange: return "key_exchange";
    case HandshakeFailure::timeout: return "timeout";
    case HandshakeFailure::io: return "io";
    case HandshakeFailure::hello_timeout: return "hello_timeout";
    case HandshakeFailure::evicted: return "evicted";
    case HandshakeFailure::wrong_source: return "wrong_source";
    case HandshakeFailure::rate_limited: return "rate_limited";
    case HandshakeFailure::superseded: return "superseded";
    case HandshakeFailure::count_: break;
  }
  return "unknown";
}

std::uint64_t NetCounters::handshake_failures_total() const {
  std::uint64_t total = 0;
  for (auto v : handshake_failures) total += v;
  return total;
}

namespace {

struct AtomicCounters {
  std::atomic<std::uint64_t> bytes_sent{0}, bytes_received{0}, frames_sent{0}, frames_received{0},
      messages_sent{0}, messages_received{0}, messages_dropped{0}, send_queue_full{0},
      sessions_established{0}, sessions_closed{0}, frames_rejected_authentication{0},
      frames_rejected_oversized{0}, frames_rejected_malformed{0}, frame_stalls{0},
      idle_timeouts{0}, rekeys{0}, frames_compressed{0}, compression_bytes_saved{0},
      buffer_pool_hits{0}, buffer_pool_misses{0}, dial_attempts{0}, urgent_sends{0}, batch_holds{0},
      hellos_answered{0};
  std::atomic<std::uint64_t> handshake_failures[static_cast<std::size_t>(HandshakeFailure::count_)];
  AtomicCounters() {
    for (auto& v : handshake_failures) v.store(0);
  }
};

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

IpAddress ip_bytes(const asio::ip::address& address) {
  if (address.is_v4()) {
    return asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()).to_bytes();
  }
  return address.to_v6().to_bytes();  // an IPv4-mapped one is already in this form
}

// Bounded pool of byte buffers (gate net.buffer_pool). Off: every get() is a
// fresh vector and put() frees it, the baseline the A/B compares against.
class BufferPool {
 public:
  explicit BufferPool(AtomicCounters& counters) : counters_(counters) {}
  Bytes get() {
    if (gate_enabled(Gate::net_buffer_pool)) {
      std::lock_guard lock(mutex_);
      if (!free_.empty()) {
        Bytes b = std::move(free_.back());
        free_.pop_back();
        bytes_ -= b.capacity();
        add(counters_.buffer_pool_hits);
        return b;
      }
    }
    add(counters_.buffer_pool_misses);
    return {};
  }
  std::size_t bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
  }
  void put(Bytes&& b) {
    if (!gate_enabled(Gate::net_buffer_pool) || b.capacity() > limits::net_buffer_pool_buffer_bytes_max) {
      Bytes().swap(b);
      return;
    }
    b.clear();
    std::lock_guard lock(mutex_);
    if (free_.size() >= limits::net_buffer_pool_buffers_max ||
        bytes_ + b.capacity() > limits::net_buffer_pool_bytes_max) {
      Bytes().swap(b);
      return;
    }
    bytes_ += b.capacity();
    free_.push_back(std::move(b));
  }

 private:
  AtomicCounters& counters_;
  mutable std::mutex mutex_;
  std::vector<Bytes> free_;
  std::size_t bytes_ = 0;  // capacity of the buffers in free_
};

}  // namespace

class Session;

// Per-validator state. The queue fields are guarded by mutex_ (senders on any
// thread); the rest belongs to the io thread.
struct Peer {
  ValidatorId id = 0;
  std::mutex mutex;
  // The queue: blocks of encoded message records in send order. Senders append
  // to the last block; the writer takes the first. Blocks close at
  // net_send_block_bytes, so the writer seals one block while the previous one
  // is on the wire (and the receiver opens it): the two ends overlap.
  struct Block {
    Bytes records;
    std::vector<std::uint32_t> ends;  // end offset of each record in `records`
    // Enqueue time of the block's first record; time_point::min() once an urgent
    // message is in the block (its age bound has passed: the writer sends it at once).
    Clock::time_point oldest{};
  };
  std::deque<Block> blocks;
  std::size_t queued_messages = 0;
  std::size_t queued_bytes = 0;
  bool writer_waiting = false;        // the writer sleeps: wake it on new work
  std::condition_variable space;      // blocking senders wait here
  std::vector<std::function<void()>> waiters;  // awaiting senders (bounded)
  // io thread only:
  std::shared_ptr<Session> session;
  PeerAddress address;
  bool dialing = false;
  // Inbound handshakes past the Hello that claim this validator, oldest first
  // (at most handshakes_per_validator_max), and its budget of answered Hellos.
  std::deque<std::weak_ptr<Session>> handshakes;
  std::optional<TokenBucket> hello_budget;
  std::atomic<bool> up{false};
};

class Network::Impl {
 public:
  Impl(NetworkConfig config, MessageHandler handler)
      : config_(std::move(config)), handler_(std::move(handler)), pool_(counters_),
        rng_(std::random_device{}()) {
    for (std::size_t i = 0; i < config_.validators.size(); ++i) {
      peers_.push_back(std::make_unique<Peer>());
      peers_.back()->id = static_cast<ValidatorId>(i);
      peers_.back()->hello_budget.emplace(config_.hellos_per_second_per_validator,
                                          static_cast<double>(config_.hello_burst_per_validator));
    }
    addresses_.resize(config_.validators.size());
    screen_.cluster_id = config_.cluster_id;
    screen_.scheme_tag = static_cast<std::uint8_t>(config_.identity->scheme());
    screen_.key_exchange = config_.key_exchange;
    screen_.self = config_.self;
    screen_.validators = config_.validators.size();
    screen_.addresses = addresses_;
    asio::error_code ec;
    const auto listen_address = asio::ip::make_address(config_.listen_host, ec);
    if (!ec && !listen_address.is_unspecified()) dial_from_ = listen_address;
  }

  Status<NetError> listen() {
    if (open_listener(acceptor_, config_.listen_host, config_.listen_port) != ListenFailure::none) {
      return Err(NetError::listen_failed);
    }
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    return {};
  }

  ~Impl() {
    stop();
    // Sessions must go before io_ (their sockets belong to it); coroutine frames
    // io_ still holds are destroyed by its own destructor, services still alive.
    for (auto& peer : peers_) peer->session.reset();
    sessions_.clear();
  }

  void stop() {
    std::unique_lock lock(stop_mutex_);
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    asio::post(io_, [this] { begin_shutdown(); });
    // Graceful: sessions flush and send close frames; bounded by a deadline.
    sessions_done_.wait_for(lock, std::chrono::seconds(2), [this] { return live_sessions_ == 0; });
    lock.unlock();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    for (auto& peer : peers_) {
      std::lock_guard peer_lock(peer->mutex);
      peer->space.notify_all();
    }
  }

  // --- Sending (any thread) ---------------------------------------------------------

  Status<NetError> try_send(ValidatorId to, std::uint16_t type, ByteSpan payload, Delivery delivery) {
    if (to >= peers_.size() || to == config_.self) return Err(NetError::unknown_peer);
    if (stopping_.load(std::memory_order_relaxed)) return Err(NetError::stopped);
    const std::size_t record = wire::message_record_bytes(payload.size());
    if (payload.size() > limits::message_size_max || record > config_.send_queue_bytes_max) {
      return Err(NetError::message_too_large);
    }
    Peer& peer = *peers_[to];
    bool wake = false;
    {
      std::lock_guard lock(peer.mutex);
      if (!fits_locked(peer, record)) {
        if (delivery == Delivery::droppable) {
          add(counters_.messages_dropped);
          return Err(NetError::dropped);
        }
        add(counters_.send_queue_full);
        return Err(NetError::queue_full);
      }
      enqueue_locked(peer, type, payload, delivery == Delivery::urgent, wake);
    }
    if (wake) wake_writer(peer);
    return {};
  }

  Status<NetError> send_blocking(ValidatorId to, std::uint16_t type, ByteSpan payload,
                                 std::chrono::milliseconds timeout) {
    if (to >= peers_.size() || to == config_.self) return Err(NetError::unknown_peer);
    const std::size_t record = wire::message_record_bytes(payload.size());
    if (payload.size() > limits::message_size_max || record > config_.send_queue_bytes_max) {
      return Err(NetError::message_too_large);
    }
    Peer& peer = *peers_[to];
    const auto deadline = Clock::now() + timeout;
    bool wake = false;
    {
      std::unique_lock lock(peer.mutex);
      while (!fits_locked(peer, record)) {
        if (stopping_.load()) return Err(NetError::stopped);
        if (peer.space.wait_until(lock, deadline) == std::cv_status::timeout) {
          return Err(NetError::timeout);
        }
      }
      if (stopping_.load()) return Err(NetError::stopped);
      enqueue_locked(peer, type, payload, /*urgent=*/false, wake);
    }
    if (wake) wake_writer(peer);
    return {};
  }

  // Registers a completion for "space may be available in `to`'s queue".
  template <typename Handler>
  void wait_space(ValidatorId to, std::size_t record, Handler&& handler) {
    Peer& peer = *peers_[to];
    auto shared = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
    auto resume = [shared] {
      auto executor = asio::get_associated_executor(*shared);
      asio::post(executor, std::move(*shared));
    };
    std::unique_lock lock(peer.mutex);
    // Resumed by the writer after each block it takes; exact test, so no spinning.
    const bool has_space = fits_locked(peer, record) || peer.waiters.size() >= limits::net_send_waiters_max;
    if (has_space || stopping_.load()) {
      lock.unlock();
      resume();  // try again at once (the retry reports queue_full when waiters are over the bound)
      return;
    }
    peer.waiters.push_back(std::move(resume));
  }

  bool connected(ValidatorId peer) const {
    return peer < peers_.size() && peers_[peer]->up.load(std::memory_order_relaxed);
  }

  void set_peer_address(ValidatorId id, PeerAddress address) {
    if (id >= peers_.size() || id == config_.self) return;
    asio::post(io_, [this, id, address = std::move(address)] {
      Peer& peer = *peers_[id];
      peer.address = address;
      // Where its Hellos must come from (it dials from this address: dial_loop).
      asio::error_code ec;
      const auto parsed = asio::ip::make_address(address.host, ec);
      addresses_[id].reset();
      if (config_.check_source_address && !ec && !parsed.is_unspecified()) addresses_[id] = ip_bytes(parsed);
      // Only the lower id dials, so each pair has one session.
      if (id > config_.self && !peer.dialing && !stopping_.load()) {
        peer.dialing = true;
        asio::co_spawn(io_, dial_loop(peer), asio::detached);
      }
    });
  }

  NetCounters counters() const {
    NetCounters c;
    auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    c.bytes_sent = get(counters_.bytes_sent);
    c.bytes_received = get(counters_.bytes_received);
    c.frames_sent = get(counters_.frames_sent);
    c.frames_received = get(counters_.frames_received);
    c.messages_sent = get(counters_.messages_sent);
    c.messages_received = get(counters_.messages_received);
    c.messages_dropped = get(counters_.messages_dropped);
    c.send_queue_full = get(counters_.send_queue_full);
    c.sessions_established = get(counters_.sessions_established);
    c.sessions_closed = get(counters_.sessions_closed);
    c.frames_rejected_authentication = get(counters_.frames_rejected_authentication);
    c.frames_rejected_oversized = get(counters_.frames_rejected_oversized);
    c.frames_rejected_malformed = get(counters_.frames_rejected_malformed);
    c.frame_stalls = get(counters_.frame_stalls);
    c.idle_timeouts = get(counters_.idle_timeouts);
    c.rekeys = get(counters_.rekeys);
    c.frames_compressed = get(counters_.frames_compressed);
    c.compression_bytes_saved = get(counters_.compression_bytes_saved);
    c.buffer_pool_hits = get(counters_.buffer_pool_hits);
    c.buffer_pool_misses = get(counters_.buffer_pool_misses);
    c.buffer_pool_bytes = pool_.bytes();
    c.dial_attempts = get(counters_.dial_attempts);
    c.urgent_sends = get(counters_.urgent_sends);
    c.batch_holds = get(counters_.batch_holds);
    c.hellos_answered = get(counters_.hellos_answered);
    for (std::size_t i = 0; i < std::size(c.handshake_failures); ++i) {
      c.handshake_failures[i] = get(counters_.handshake_failures[i]);
    }
    return c;
  }

  std::uint16_t port() const { return port_; }
  const NetworkConfig& config() const { return config_; }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }

 private:
  friend class Session;

  bool fits_locked(const Peer& peer, std::size_t record) const {
    return peer.queued_messages < config_.send_queue_messages_max &&
           peer.queued_bytes + record <= config_.send_queue_bytes_max;
  }

  // `urgent`: the block's age bound has passed, so a writer holding it for company
  // (or asleep) sends it now, with whatever else is queued ahead of and in it.
  void enqueue_locked(Peer& peer, std::uint16_t type, ByteSpan payload, bool urgent, bool& wake) {
    const bool was_empty = peer.queued_messages == 0;
    const std::size_t before = peer.queued_bytes;
    const std::size_t record = wire::message_record_bytes(payload.size());
    if (peer.blocks.empty() || (!peer.blocks.back().ends.empty() &&
                                peer.blocks.back().records.size() + record > limits::net_send_block_bytes)) {
      peer.blocks.emplace_back();
      peer.blocks.back().records = pool_.get();
      peer.blocks.back().oldest = Clock::now();
    }
    auto& block = peer.blocks.back();
    const std::size_t block_before = block.records.size();
    wire::append_message(type, payload, block.records);
    block.ends.push_back(static_cast<std::uint32_t>(block.records.size()));
    ++peer.queued_messages;
    peer.queued_bytes += block.records.size() - block_before;
    if (urgent) {
      block.oldest = Clock::time_point::min();
      add(counters_.urgent_sends);
    }
    // Wake a sleeping writer on new work, on urgent work, or when a batch has filled up.
    if (peer.writer_waiting &&
        (was_empty || urgent || (before < config_.batch_bytes_max && peer.queued_bytes >= config_.batch_bytes_max))) {
      peer.writer_waiting = false;
      wake = true;
    }
  }

  void wake_writer(Peer& peer);
  void count_failure(HandshakeFailure f) {
    add(counters_.handshake_failures[static_cast<std::size_t>(f)]);
  }
  void notify_space(Peer& peer) {
    std::vector<std::function<void()>> waiters;
    {
      std::lock_guard lock(peer.mutex);
      waiters.swap(peer.waiters);
    }
    peer.space.notify_all();
    for (auto& w : waiters) w();
  }

  void begin_shutdown();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> accept_one(std::shared_ptr<Session> session);
  // Admission (io thread): a connection waits for its Hello among the pending
  // ones, then holds one of its claimed validator's handshake places.
  void enter_pending(const std::shared_ptr<Session>& session);
  void leave_pending(Session& session);
  void claim_handshake_place(Peer& claimed, const std::shared_ptr<Session>& session);
  void release_handshake_place(Session& session);
  asio::awaitable<void> dial_loop(Peer& peer);
  asio::awaitable<void> run_session(std::shared_ptr<Session> session);
  void install(const std::shared_ptr<Session>& session);
  void session_ended(const std::shared_ptr<Session>& session);

  NetworkConfig config_;
  MessageHandler handler_;
  AtomicCounters counters_;
  BufferPool pool_;
  std::vector<std::unique_ptr<Peer>> peers_;
  std::minstd_rand rng_;  // dial jitter only (not cryptographic)
  std::atomic<bool> stopping_{false};
  std::mutex stop_mutex_;
  std::condition_variable sessions_done_;
  std::size_t live_sessions_ = 0;       // guarded by stop_mutex_
  // io thread: inbound admission (admission.h).
  std::vector<std::optional<IpAddress>> addresses_;  // validators' configured addresses
  HelloScreen screen_;                                // views addresses_
  PendingConnections pending_{config_.pending_connections_max, config_.pending_connections_per_source_max};
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> pending_sessions_;  // by connection id
  std::uint64_t next_connection_id_ = 0;
  std::optional<asio::ip::address> dial_from_;  // listen_host, when specific: our dials' source
  std::vector<std::weak_ptr<Session>> sessions_;  // io thread: for shutdown
  std::vector<asio::steady_timer*> dial_timers_;   // io thread: cancelled at shutdown
  bool stopped_ = false;
  std::uint16_t port_ = 0;
  std::thread thread_;
  // Last: destroyed first, so coroutine frames it still holds go before the
  // state above that they refer to.
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
};

// One TCP connection from handshake to close. Lives on the io thread.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Network::Impl& net, tcp::socket socket)
      : net_(net), socket_(std::move(socket)), wake_(socket_.get_executor()),
        watchdog_(socket_.get_executor()) {
    asio::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
  }

  // Returns the authenticated peer id, or the failure (already counted).
  asio::awaitable<Result<ValidatorId, HandshakeFailure>> handshake_initiator(ValidatorId target);
  asio::awaitable<Result<ValidatorId, HandshakeFailure>> handshake_responder();

  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> watchdog();

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    wake_.cancel();
    watchdog_.cancel();
  }
  bool closed() const { return closed_; }
  void wake() { wake_.cancel(); }
  // Ends a handshake in progress from outside (a deadline, or admission making
  // room): its pending I/O fails and the handshake counts `reason`.
  void abort_handshake(HandshakeFailure reason) {
    if (closed_ || handshake_done_ || aborted_for_) return;
    aborted_for_ = reason;
    asio::error_code ignored;
    socket_.close(ignored);
  }
  Peer* peer() const { return peer_; }

 private:
  friend class Network::Impl;
  asio::awaitable<bool> send_handshake_message(const Bytes& body);
  asio::awaitable<Result<Bytes, HandshakeFailure>> receive_handshake_message();
  void arm_handshake_deadline(Clock::time_point at, HandshakeFailure reason);
  HandshakeFailure broken() const { return aborted_for_.value_or(HandshakeFailure::io); }
  Status<wire::WireError> process_frame(ByteSpan plaintext, bool& peer_closed);
  void build_frames(const Bytes& records, const std::vector<std::uint32_t>& ends, Bytes& out);
  void append_frame(Bytes& out, wire::FrameKind kind, ByteSpan body);

  Network::Impl& net_;
  tcp::socket socket_;
  asio::steady_timer wake_;
  asio::steady_timer watchdog_;
  Peer* peer_ = nullptr;
  std::unique_ptr<wire::FrameCipher> tx_;
  std::unique_ptr<wire::FrameCipher> rx_;
  bool closed_ = false;
  bool handshake_done_ = false;
  std::optional<HandshakeFailure> aborted_for_;  // why the handshake was ended from outside
  // Inbound admission: arrival, source, place among the pending connections, and
  // the validator the Hello claimed once it passed the screen.
  Clock::time_point accepted_{};
  IpAddress source_{};
  std::optional<std::uint64_t> pending_id_;
  Peer* claimed_ = nullptr;
  Clock::time_point last_rx_{};
  Clock::time_point frame_started_{};
  bool mid_frame_ = false;
  Bytes inflated_;  // scratch for compressed frames
  Bytes compressed_;
};

// --- Handshake ----------------------------------------------------------------------

asio::awaitable<bool> Session::send_handshake_message(const Bytes& body) {
  KESTREL_ASSERT(body.size() <= limits::net_handshake_message_bytes_max);
  std::uint8_t header[4];
  for (int i = 0; i < 4; ++i) header[i] = static_cast<std::uint8_t>(body.size() >> (8 * i));
  std::array<asio::const_buffer, 2> buffers{asio::buffer(header), asio::buffer(body)};
  auto [ec, n] = co_await asio::async_write(socket_, buffers, use_tuple);
  (void)n;
  co_return !ec;
}

asio::awaitable<Result<Bytes, HandshakeFailure>> Session::receive_handshake_message() {
  std::uint8_t header[4];
  auto [ec, n] = co_await asio::async_read(socket_, asio::buffer(header), use_tuple);
  (void)n;
  if (ec) co_return Err(broken());
  const std::uint32_t length = static_cast<std::uint32_t>(header[0]) | (header[1] << 8) |
                               (header[2] << 16) | (static_cast<std::uint32_t>(header[3]) << 24);
  // Length checked before the buffer is allocated.
  if (length == 0 || length > limits::net_handshake_message_bytes_max) {
    co_return Err(HandshakeFailure::malformed);
  }
  Bytes body(length);
  auto [ec2, n2] = co_await asio::async_read(socket_, asio::buffer(body), use_tuple);
  (void)n2;
  if (ec2) co_return Err(broken());
  co_return body;
}

// Re-arming replaces the earlier deadline (its wait completes as cancelled).
void Session::arm_handshake_deadline(Clock::time_point at, HandshakeFailure reason) {
  watchdog_.expires_at(at);
  watchdog_.async_wait([self = shared_from_this(), reason](asio::error_code ec) {
    if (!ec) self->abort_handshake(reason);
  });
}

namespace {
HandshakeFailure from_wire(wire::WireError e) {
  return e == wire::WireError::bad_version ? HandshakeFailure::bad_version : HandshakeFailure::malformed;
}
}  // namespace

asio::awaitable<Result<ValidatorId, HandshakeFailure>> Session::handshake_initiator(ValidatorId target) {
  const NetworkConfig& config = net_.config_;
  arm_handshake_deadline(Clock::now() + config.handshake_timeout, HandshakeFailure::timeout);
  auto fail = [this](HandshakeFailure f) {
    net_.count_failure(f);
    close();
    return Err(f);
  };
  const bool hybrid = config.key_exchange == KeyExchange::hybrid;
  const crypto::X25519KeyPair x25519 = crypto::x25519_keypair();
  crypto::SecretBytes dk;
  wire::Hello hello;
  hello.key_exchange = config.key_exchange;
  hello.scheme_tag = static_cast<std::uint8_t>(config.identity->scheme());
  hello.cluster_id = config.cluster_id;
  hello.initiator = config.self;
  hello.responder = target;
  hello.x25519_public = x25519.public_key;
  if (hybrid) {
    dk.bytes().resize(crypto::mlkem::ml_kem_768_dk_bytes);
    KESTREL_ASSERT(crypto::mlkem::keygen(wire::mlkem_set, hello.mlkem_ek, dk.bytes()).ok());
  }
  crypto::random_bytes(hello.nonce);
  Bytes hello_bytes;
  wire::encode_hello(hello, hello_bytes);
  if (!co_await send_handshake_message(hello_bytes)) co_return fail(broken());

  auto reply_bytes = co_await receive_handshake_message();
  if (!reply_bytes) co_return fail(reply_bytes.error());
  std::size_t unsigned_bytes = 0;
  auto reply = wire::decode_reply(*reply_bytes, unsigned_bytes);
  if (!reply) co_return fail(from_wire(reply.error()));
  if (reply->key_exchange != config.key_exchange) co_return fail(HandshakeFailure::key_exchange);
  if (reply->responder != target) co_return fail(HandshakeFailure::identity_mismatch);
  std::array<std::uint8_t, crypto::x25519_bytes> x25519_secret{};
  if (!crypto::x25519(x25519_secret, x25519.secret_key, reply->x25519_public)) {
    co_return fail(HandshakeFailure::key_exchange);
  }
  std::array<std::uint8_t, crypto::mlkem::shared_key_bytes> kem_secret{};
  if (hybrid && !crypto::mlkem::decaps(wire::mlkem_set, kem_secret, reply->mlkem_ciphertext, dk.bytes())) {
    crypto::secure_zero(x25519_secret);
    co_return fail(HandshakeFailure::key_exchange);
  }
  const Hash32 transcript =
      wire::transcript_hash(hello_bytes, ByteSpan(*reply_bytes).first(unsigned_bytes));
  // The responder must be the validator we dialed: its key from the validator set.
  if (!config.validators[target]->verify(wire::responder_signed_message(transcript), reply->signature)) {
    crypto::secure_zero(x25519_secret);
    crypto::secure_zero(kem_secret);
    co_return fail(HandshakeFailure::bad_signature);
  }
  auto keys = wire::derive_session_keys(x25519_secret, hybrid ? ByteSpan(kem_secret) : ByteSpan{},
                                        transcript);
  crypto::secure_zero(x25519_secret);
  crypto::secure_zero(kem_secret);
  if (!keys) co_return fail(HandshakeFailure::key_exchange);
  Bytes signature;
  config.identity->sign(wire::initiator_signed_message(transcript), signature);
  Bytes finish;
  wire::encode_finish(signature, finish);
  if (!co_await send_handshake_message(finish)) co_return fail(broken());
  tx_ = std::make_unique<wire::FrameCipher>(keys->initiator_to_responder, config.rekey_frames,
                                            config.rekey_bytes);
  rx_ = std::make_unique<wire::FrameCipher>(keys->responder_to_initiator, config.rekey_frames,
                                            config.rekey_bytes);
  handshake_done_ = true;
  watchdog_.cancel();
  co_return target;
}

// Every step that can refuse a stranger comes before the costly answer
// (docs/network.md "Admission"): the Hello deadline and the pending places while
// it is silent, the screen (identity, cluster, source address), the claimed
// validator's budget and handshake places.
asio::awaitable<Result<ValidatorId, HandshakeFailure>> Session::handshake_responder() {
  const NetworkConfig& config = net_.config_;
  arm_handshake_deadline(accepted_ + std::min(config.hello_timeout, config.handshake_timeout),
                         HandshakeFailure::hello_timeout);
  auto fail = [this](HandshakeFailure f) {
    net_.count_failure(f);
    close();
    return Err(f);
  };
  auto hello_bytes = co_await receive_handshake_message();
  net_.leave_pending(*this);
  if (!hello_bytes) co_return fail(hello_bytes.error());
  auto hello = screen_hello(*hello_bytes, net_.screen_, source_);
  if (!hello) co_return fail(hello.error());
  Peer& claimed = *net_.peers_[hello->initiator];
  if (!claimed.hello_budget->take(Clock::now())) co_return fail(HandshakeFailure::rate_limited);
  net_.claim_handshake_place(claimed, shared_from_this());
  arm_handshake_deadline(accepted_ + config.handshake_timeout, HandshakeFailure::timeout);
  auto answer = answer_hello(*hello, *hello_bytes, config.key_exchange, config.self, *config.identity);
  if (!answer) co_return fail(answer.error());
  add(net_.counters_.hellos_answered);
  if (!co_await send_handshake_message(answer->reply)) co_return fail(broken());
  auto finish_bytes = co_await receive_handshake_message();
  if (!finish_bytes) co_return fail(finish_bytes.error());
  auto finish = wire::decode_finish(*finish_bytes);
  if (!finish) co_return fail(from_wire(finish.error()));
  // The initiator proves it holds the key of the id it claimed, before any
  // application frame is read.
  if (!config.validators[hello->initiator]->verify(wire::initiator_signed_message(answer->transcript),
                                                   finish->signature)) {
    co_return fail(HandshakeFailure::bad_signature);
  }
  claimed.hello_budget->refund();  // proven: an honest validator's handshakes cost no budget
  tx_ = std::make_unique<wire::FrameCipher>(answer->keys.responder_to_initiator, config.rekey_frames,
                                            config.rekey_bytes);
  rx_ = std::make_unique<wire::FrameCipher>(answer->keys.initiator_to_responder, config.rekey_frames,
                                            config.rekey_bytes);
  handshake_done_ = true;
  watchdog_.cancel();
  co_return hello->initiator;
}

// --- Frames -------------------------------------------------------------------------

void Session::append_frame(Bytes& out, wire::FrameKind kind, ByteSpan body) {
  const std::size_t start = out.size();
  out.resize(start + wire::frame_header_bytes + 1);
  out[start + wire::frame_header_bytes] = static_cast<std::uint8_t>(kind);
  out.insert(out.end(), body.begin(), body.end());
  out.resize(out.size() + crypto::aead_tag_bytes);
  tx_->seal(MutableByteSpan(out).subspan(start));
  net_.counters_.frames_sent.fetch_add(1, std::memory_order_relaxed);
}

void Session::build_frames(const Bytes& records, const std::vector<std::uint32_t>& ends, Bytes& out) {
  const bool batching = gate_enabled(Gate::net_adaptive_batching);
  const bool compression = gate_enabled(Gate::net_compression);
  const std::size_t batch_bytes = net_.config_.batch_bytes_max;
  std::size_t begin = 0;
  std::size_t i = 0;
  while (i < ends.size()) {
    // One frame: [begin, end) of records; with batching as many whole records as
    // fit in batch_bytes (always at least one), without it exactly one.
    std::size_t end = ends[i++];
    if (batching) {
      while (i < ends.size() && ends[i] - begin <= batch_bytes) end = ends[i++];
    }
    const ByteSpan body(records.data() + begin, end - begin);
    if (compression && body.size() >= limits::net_compression_bytes_min) {
      compressed_.clear();
      if (wire::compress_body(body, compressed_)) {
        add(net_.counters_.frames_compressed);
        add(net_.counters_.compression_bytes_saved, body.size() - compressed_.size());
        append_frame(out, wire::FrameKind::compressed, compressed_);
        begin = end;
        continue;
      }
    }
    append_frame(out, wire::FrameKind::messages, body);
    begin = end;
  }
}

Status<wire::WireError> Session::process_frame(ByteSpan plaintext, bool& peer_closed) {
  const ValidatorId from = peer_->id;
  auto& handler = net_.handler_;
  std::size_t messages = 0;
  auto kind = wire::decode_frame_plaintext(plaintext, inflated_, messages,
                                           [&](std::uint16_t type, ByteSpan payload) {
                                             handler(from, type, payload);
                                           });
  add(net_.counters_.messages_received, messages);
  if (!kind) return Err(kind.error());
  peer_closed = *kind == wire::FrameKind::close;
  return {};
}

asio::awaitable<void> Session::reader() {
  auto self = shared_from_this();
  Bytes buffer = net_.pool_.get();
  buffer.resize(limits::net_receive_buffer_bytes);
  std::size_t begin = 0, end = 0;
  last_rx_ = Clock::now();
  bool peer_closed = false;
  auto reject = [this](std::atomic<std::uint64_t>& counter) {
    add(counter);
    close();
  };
  // Opens one sealed frame in place and delivers its messages; false (counted,
  // session closed) when it fails authentication or its plaintext is malformed.
  auto accept_frame = [&](std::span<const std::uint8_t, 4> header, MutableByteSpan sealed,
                          std::size_t length) {
    if (!rx_->open(header, sealed)) {
      reject(net_.counters_.frames_rejected_authentication);
      return false;
    }
    add(net_.counters_.frames_received);
    if (!process_frame(ByteSpan(sealed).first(length - crypto::aead_tag_bytes), peer_closed)) {
      reject(net_.counters_.frames_rejected_malformed);
      return false;
    }
    return true;
  };
  while (!closed_ && !peer_closed) {
    // Open every complete frame in the buffer.
    bool progressed = false;
    while (!closed_ && !peer_closed && end - begin >= wire::frame_header_bytes) {
      std::span<const std::uint8_t, 4> header(buffer.data() + begin, 4);
      auto length = wire::decode_frame_length(header);
      if (!length) {
        reject(net_.counters_.frames_rejected_oversized);
        break;
      }
      const std::size_t total = wire::frame_header_bytes + *length;
      Bytes large;
      MutableByteSpan sealed;
      if (end - begin >= total) {
        sealed = MutableByteSpan(buffer.data() + begin + 4, *length);
      } else if (total > buffer.size()) {
        // Larger than the receive buffer: its own buffer, allocated only now that
        // the length is checked, then read to the end under the stall deadline.
        if (!mid_frame_) {
          mid_frame_ = true;
          frame_started_ = Clock::now();
        }
        large = net_.pool_.get();
        large.resize(*length);
        const std::size_t have = end - begin - 4;
        std::memcpy(large.data(), buffer.data() + begin + 4, have);
        std::array<std::uint8_t, 4> saved_header;
        std::memcpy(saved_header.data(), header.data(), 4);
        auto [ec, n] = co_await asio::async_read(
            socket_, asio::buffer(large.data() + have, large.size() - have), use_tuple);
        if (ec) {
          close();
          break;
        }
        add(net_.counters_.bytes_received, n);
        last_rx_ = Clock::now();
        begin = end = 0;
        mid_frame_ = false;
        const bool accepted = accept_frame(saved_header, large, *length);
        net_.pool_.put(std::move(large));
        if (!accepted) break;
        progressed = true;
        continue;
      } else {
        break;  // wait for the rest
      }
      if (!accept_frame(header, sealed, *length)) break;
      begin += total;
      progressed = true;
    }
    if (closed_ || peer_closed) break;
    if (begin == end) {
      begin = end = 0;
      mid_frame_ = false;
    } else {
      if (progressed || !mid_frame_) {
        mid_frame_ = true;
        frame_started_ = Clock::now();
      }
      if (begin > 0 && (buffer.size() - end < buffer.size() / 4 || end - begin < 64)) {
        std::memmove(buffer.data(), buffer.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
    }
    auto [ec, n] = co_await socket_.async_read_some(
        asio::buffer(buffer.data() + end, buffer.size() - end), use_tuple);
    if (ec) break;
    end += n;
    add(net_.counters_.bytes_received, n);
    last_rx_ = Clock::now();
  }
  add(net_.counters_.rekeys, rx_->rekeys());
  net_.pool_.put(std::move(buffer));
  close();
}

asio::awaitable<void> Session::watchdog() {
  auto self = shared_from_this();
  const auto& config = net_.config_;
  const auto tick = std::max<Clock::duration>(
      std::chrono::milliseconds(5), std::min(config.frame_stall_timeout, config.idle_timeout) / 4);
  while (!closed_) {
    watchdog_.expires_after(tick);
    co_await watchdog_.async_wait(use_tuple);
    if (closed_) break;
    const auto now = Clock::now();
    if (mid_frame_ && now - frame_started_ > config.frame_stall_timeout) {
      add(net_.counters_.frame_stalls);
      close();
    } else if (now - last_rx_ > config.idle_timeout) {
      add(net_.counters_.idle_timeouts);
      close();
    }
  }
}

asio::awaitable<void> Session::writer() {
  auto self = shared_from_this();
  Peer& peer = *peer_;
  const auto& config = net_.config_;
  Peer::Block taken;
  Bytes out = net_.pool_.get();
  auto last_tx = Clock::now();
  while (!closed_) {
    const bool stopping = net_.stopping();
    bool keepalive = false;
    {
      std::unique_lock lock(peer.mutex);
      if (peer.queued_messages == 0) {
        if (stopping) break;
        const auto deadline = last_tx + config.keepalive_interval;
        if (Clock::now() >= deadline) {
          keepalive = true;
        } else {
          peer.writer_waiting = true;
          lock.unlock();
          wake_.expires_at(deadline);
          co_await wake_.async_wait(use_tuple);
          lock.lock();
          peer.writer_waiting = false;
          continue;
        }
      } else if (gate_enabled(Gate::net_adaptive_batching) && !stopping &&
                 peer.queued_bytes < config.batch_bytes_max) {
        const double fill = std::max(
            static_cast<double>(peer.queued_messages) / static_cast<double>(config.send_queue_messages_max),
            static_cast<double>(peer.queued_bytes) / static_cast<double>(config.send_queue_bytes_max));
        // Age bound shrinks as the queue fills: an idle queue may wait the full
        // batch_delay_max for company, a full one not at all. (Sending at once on a
        // quiet link was tried: +9 % CPU per validator at raw 1,000/s on 2 cores,
        // no latency gain; docs/network.md.)
        const auto delay = std::chrono::duration_cast<Clock::duration>(
            config.batch_delay_max * std::max(0.0, 1.0 - 4.0 * fill));
        const auto flush_at = peer.blocks.front().oldest + delay;
        if (Clock::now() < flush_at) {
          add(net_.counters_.batch_holds);
          peer.writer_waiting = true;
          lock.unlock();
          wake_.expires_at(flush_at);
          co_await wake_.async_wait(use_tuple);
          lock.lock();
          peer.writer_waiting = false;
          if (closed_) break;
        }
      }
      if (!keepalive && peer.queued_messages > 0) {
        taken = std::move(peer.blocks.front());
        peer.blocks.pop_front();
        peer.queued_messages -= taken.ends.size();
        peer.queued_bytes -= taken.records.size();
      } else {
        KESTREL_ASSERT(keepalive);  // only the writer takes from the queue
      }
    }
    if (!keepalive) net_.notify_space(peer);
    if (keepalive) {
      append_frame(out, wire::FrameKind::keepalive, {});
    } else {
      build_frames(taken.records, taken.ends, out);
    }
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out), use_tuple);
    if (ec) {
      close();
      break;
    }
    add(net_.counters_.bytes_sent, n);
    add(net_.counters_.messages_sent, keepalive ? 0 : taken.ends.size());
    last_tx = Clock::now();
    // Through the pool every batch: with net.buffer_pool on, the same buffers
    // come back (capacity kept); off, each batch allocates afresh (the baseline).
    net_.pool_.put(std::move(taken.records));
    net_.pool_.put(std::move(out));
    taken.records.clear();
    taken.ends.clear();
    out = net_.pool_.get();
  }
  if (!closed_ && net_.stopping()) {
    // Clean shutdown: the close frame tells the peer this is not a failure.
    out.clear();
    append_frame(out, wire::FrameKind::close, {});
    co_await asio::async_write(socket_, asio::buffer(out), use_tuple);
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }
  net_.pool_.put(std::move(taken.records));
  net_.pool_.put(std::move(out));
}

// --- Impl: connections ----------------------------------------------------------------

void Network::Impl::wake_writer(Peer& peer) {
  asio::post(io_, [&peer] {
    if (peer.session) peer.session->wake();
  });
}

void Network::Impl::install(const std::shared_ptr<Session>& session) {
  Peer& peer = *session->peer_;
  if (peer.session && peer.session != session) peer.session->close();  // a restarted peer
  peer.session = session;
  peer.up.store(true);
  add(counters_.sessions_established);
  sessions_.push_back(session);
  std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) { return w.expired(); });
}

void Network::Impl::session_ended(const std::shared_ptr<Session>& session) {
  Peer& peer = *session->peer_;
  if (peer.session == session) {
    peer.session.reset();
    peer.up.store(false);
  }
  add(counters_.sessions_closed);
}

asio::awaitable<void> Network::Impl::run_session(std::shared_ptr<Session> session) {
  {
    std::lock_guard lock(stop_mutex_);
    ++live_sessions_;
  }
  install(session);
  asio::co_spawn(io_, session->writer(), asio::detached);
  asio::co_spawn(io_, session->watchdog(), asio::detached);
  co_await session->reader();
  session_ended(session);
  {
    std::lock_guard lock(stop_mutex_);
    --live_sessions_;
  }
  sessions_done_.notify_all();
}

asio::awaitable<void> Network::Impl::accept_loop() {
  asio::steady_timer backoff(io_);
  while (!stopping_.load()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (stopping_.load() || !acceptor_.is_open()) break;
      // Out of file descriptors (or a connection reset before it was taken).
      backoff.expires_after(std::chrono::milliseconds(limits::net_accept_backoff_ms));
      co_await backoff.async_wait(use_tuple);
      continue;
    }
    auto session = std::make_shared<Session>(*this, std::move(socket));
    session->accepted_ = Clock::now();
    asio::error_code remote_ec;
    const auto remote = session->socket_.remote_endpoint(remote_ec);
    if (remote_ec) {  // reset before we looked
      count_failure(HandshakeFailure::io);
      session->close();
      continue;
    }
    session->source_ = ip_bytes(remote.address());
    enter_pending(session);
    asio::co_spawn(io_, accept_one(std::move(session)), asio::detached);
  }
}

void Network::Impl::enter_pending(const std::shared_ptr<Session>& session) {
  const std::uint64_t id = next_connection_id_++;
  session->pending_id_ = id;
  pending_sessions_.emplace(id, session);
  if (auto evicted = pending_.add(id, address_group(session->source_))) {
    auto it = pending_sessions_.find(*evicted);
    KESTREL_ASSERT(it != pending_sessions_.end());
    auto victim = it->second.lock();
    pending_sessions_.erase(it);
    if (victim) {
      victim->pending_id_.reset();
      victim->abort_handshake(HandshakeFailure::evicted);
    }
  }
  KESTREL_ASSERT(pending_sessions_.size() == pending_.size());
}

void Network::Impl::leave_pending(Session& session) {
  if (!session.pending_id_) return;
  pending_.remove(*session.pending_id_);
  pending_sessions_.erase(*session.pending_id_);
  session.pending_id_.reset();
  KESTREL_ASSERT(pending_sessions_.size() == pending_.size());
}

void Network::Impl::claim_handshake_place(Peer& claimed, const std::shared_ptr<Session>& session) {
  KESTREL_ASSERT(session->claimed_ == nullptr);
  std::erase_if(claimed.handshakes, [](const std::weak_ptr<Session>& w) { return w.expired(); });
  while (claimed.handshakes.size() >= config_.handshakes_per_validator_max) {
    // The newest Hello wins: a validator's fresh attempt replaces its stale one.
    auto oldest = claimed.handshakes.front().lock();
    claimed.handshakes.pop_front();
    if (oldest) {
      oldest->claimed_ = nullptr;
      oldest->abort_handshake(HandshakeFailure::superseded);
    }
  }
  claimed.handshakes.push_back(session);
  session->claimed_ = &claimed;
  KESTREL_ASSERT(claimed.handshakes.size() <= config_.handshakes_per_validator_max);
}

void Network::Impl::release_handshake_place(Session& session) {
  if (session.claimed_ == nullptr) return;
  std::erase_if(session.claimed_->handshakes, [&](const std::weak_ptr<Session>& w) {
    auto s = w.lock();
    return !s || s.get() == &session;
  });
  session.claimed_ = nullptr;
}

asio::awaitable<void> Network::Impl::accept_one(std::shared_ptr<Session> session) {
  auto id = co_await session->handshake_responder();
  leave_pending(*session);
  release_handshake_place(*session);
  if (!id || stopping_.load()) {
    session->close();
    co_return;
  }
  session->peer_ = peers_[*id].get();
  co_await run_session(session);
}

asio::awaitable<void> Network::Impl::dial_loop(Peer& peer) {
  asio::steady_timer timer(io_);
  dial_timers_.push_back(&timer);
  auto backoff = config_.dial_backoff_min;
  while (!stopping_.load()) {
    asio::error_code ec;
    const auto address = asio::ip::make_address(peer.address.host, ec);
    if (!ec) {
      add(counters_.dial_attempts);
      tcp::socket socket(io_);
      if (dial_from_ && dial_from_->is_v4() == address.is_v4()) {
        // Dial from our configured address: the source a responder checks our
        // Hellos against. Unbound (the kernel's choice) if that fails.
        asio::error_code bind_ec;
        socket.open(address.is_v4() ? tcp::v4() : tcp::v6(), bind_ec);
        if (!bind_ec) socket.bind(tcp::endpoint(*dial_from_, 0), bind_ec);
        if (bind_ec) {
          asio::error_code ignored;
          socket.close(ignored);
        }
      }
      auto [connect_ec] = co_await socket.async_connect(tcp::endpoint(address, peer.address.port), use_tuple);
      if (!connect_ec && !stopping_.load()) {
        auto session = std::make_shared<Session>(*this, std::move(socket));
        auto id = co_await session->handshake_initiator(peer.id);
        if (id && !stopping_.load()) {
          session->peer_ = &peer;
          backoff = config_.dial_backoff_min;
          co_await run_session(session);
        } else {
          session->close();
        }
      }
    }
    if (stopping_.load()) break;
    // Exponential back-off with jitter in [backoff / 2, backoff].
    const auto half = backoff / 2;
    std::uniform_int_distribution<long> jitter(0, static_cast<long>(std::max<long>(1, half.count())));
    timer.expires_after(half + std::chrono::milliseconds(jitter(rng_)));
    co_await timer.async_wait(use_tuple);
    backoff = std::min(backoff * 2, config_.dial_backoff_max);
  }
  std::erase(dial_timers_, &timer);
  peer.dialing = false;
}

void Network::Impl::begin_shutdown() {
  asio::error_code ignored;
  acceptor_.close(ignored);
  for (auto* timer : dial_timers_) timer->cancel();
  for (auto& weak : sessions_) {
    if (auto session = weak.lock()) {
      if (!session->handshake_done_) session->close();
      session->wake();  // the writer flushes, sends a close frame, shuts down its side
    }
  }
  // Inbound handshakes end now (counted io: nobody refused them).
  for (auto& [id, weak] : pending_sessions_) {
    if (auto session = weak.lock()) session->abort_handshake(HandshakeFailure::io);
  }
  for (auto& peer : peers_) {
    for (auto& weak : peer->handshakes) {
      if (auto session = weak.lock()) session->abort_handshake(HandshakeFailure::io);
    }
  }
  for (auto& peer : peers_) notify_space(*peer);
}

// --- Network ----------------------------------------------------------------------------

Network::Network(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Network::~Network() { stop(); }

Result<std::unique_ptr<Network>, NetError> Network::start(NetworkConfig config,
                                                          MessageHandler handler) {
  if (config.identity == nullptr || config.validators.size() < 2 ||
      config.validators.size() > limits::validators_max || config.self >= config.validators.size() ||
      !handler) {
    return Err(NetError::bad_config);
  }
  for (const auto* v : config.validators) {
    if (v == nullptr || v->scheme() != config.identity->scheme()) return Err(NetError::bad_config);
  }
  if (config.send_queue_messages_max == 0 ||
      config.send_queue_messages_max > limits::net_send_queue_messages_max ||
      config.send_queue_bytes_max > limits::net_send_queue_bytes_max ||
      config.send_queue_bytes_max < 64 || config.batch_bytes_max == 0 ||
      config.batch_bytes_max > limits::net_batch_bytes_max ||
      config.batch_delay_max > std::chrono::microseconds(limits::net_batch_delay_us_max) ||
      config.rekey_frames == 0 || config.rekey_frames > limits::net_rekey_frames_max ||
      config.rekey_bytes == 0 || config.rekey_bytes > limits::net_rekey_bytes_max ||
      config.dial_backoff_min.count() <= 0 || config.dial_backoff_max < config.dial_backoff_min ||
      config.keepalive_interval >= config.idle_timeout) {
    return Err(NetError::bad_config);
  }
  if (config.hello_timeout.count() <= 0 || config.handshake_timeout.count() <= 0 ||
      config.pending_connections_max == 0 ||
      config.pending_connections_max > limits::net_pending_connections_max ||
      config.pending_connections_per_source_max == 0 ||
      config.pending_connections_per_source_max > config.pending_connections_max ||
      config.pending_connections_per_source_max > limits::net_pending_connections_per_source_max ||
      config.handshakes_per_validator_max == 0 ||
      config.handshakes_per_validator_max > limits::net_handshakes_per_validator_max ||
      !(config.hellos_per_second_per_validator > 0) ||
      config.hellos_per_second_per_validator > limits::net_hellos_per_second_per_validator ||
      config.hello_burst_per_validator == 0 ||
      config.hello_burst_per_validator > limits::net_hello_burst_per_validator) {
    return Err(NetError::bad_config);
  }
  auto impl = std::make_unique<Impl>(std::move(config), std::move(handler));
  KESTREL_TRY(impl->listen());
  return std::unique_ptr<Network>(new Network(std::move(impl)));
}

std::uint16_t Network::listen_port() const { return impl_->port(); }
void Network::set_peer_address(ValidatorId peer, PeerAddress address) {
  impl_->set_peer_address(peer, std::move(address));
}
Status<NetError> Network::try_send(ValidatorId to, std::uint16_t type, ByteSpan payload,
                                   Delivery delivery) {
  return impl_->try_send(to, type, payload, delivery);
}
Status<NetError> Network::send_blocking(ValidatorId to, std::uint16_t type, ByteSpan payload,
                                        std::chrono::milliseconds timeout) {
  return impl_->send_blocking(to, type, payload, timeout);
}

asio::awaitable<Status<NetError>> Network::send(ValidatorId to, std::uint16_t type, Bytes payload) {
  // Bounded: each round either queues, fails, or waits for a space notification.
  for (;;) {
    auto sent = impl_->try_send(to, type, payload, Delivery::reliable);
    if (sent || sent.error() != NetError::queue_full) co_return sent;
    co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [this, to, record = wire::message_record_bytes(payload.size())](auto handler) {
          impl_->wait_space(to, record, std::move(handler));
        },
        asio::use_awaitable);
  }
}

bool Network::connected(ValidatorId peer) const { return impl_->connected(peer); }
NetCounters Network::counters() const { return impl_->counters(); }
void Network::stop() {
  if (impl_) impl_->stop();
}

}  // namespace kestrel::net
