// Client server: Asio with C++20 coroutines, one io_context thread. See
// client_server.h for the contract and docs/client-api.md for the protocol.
#include "node/client_server.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include "net/listener.h"
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/assert.h"
#include "mempool/mempool.h"
#include "node/connection_slots.h"

namespace kestrel::node {

using net::ListenFailure;
using net::open_listener;

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

const char* describe(ClientServerError error) {
  switch (error) {
    case ClientServerError::bad_config: return "client server: configuration value outside its limit";
    case ClientServerError::listen_failed: return "client server: could not listen";
  }
  return "client server: unknown error";
}

namespace {

struct AtomicCounters {
  std::atomic<std::uint64_t> connections_accepted{0}, connections_closed{0}, connections_refused{0},
      connections_refused_address{0}, connections_evicted_port{0}, connections_evicted_address{0},
      first_request_timeouts{0}, requests_submit{0}, requests_wait_receipt{0}, requests_get_account{0}, requests_get_key{0},
      requests_submit_raw{0}, transactions_submitted{0}, raw_commands_submitted{0}, responses{0},
      malformed_frames{0}, backpressure_pauses{0}, frame_stalls{0}, idle_timeouts{0}, late_callbacks{0},
      bytes_in{0}, bytes_out{0};
};

void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

// The backend's callbacks reach the io thread through this handle: it outlives
// the server (callbacks hold it by shared_ptr) and forgets the io_context, under
// its mutex, before the io_context is destroyed.
struct Poster {
  std::mutex mutex;
  asio::io_context* io = nullptr;
  template <typename F>
  void post(F&& f) {
    std::lock_guard lock(mutex);
    if (io != nullptr) asio::post(*io, std::forward<F>(f));
  }
};

// Coalesced writes: the writer sends what is queued in pieces of at most this
// size so a large backlog does not become one huge buffer copy.
constexpr std::size_t write_chunk_bytes = 256 * 1024;

}  // namespace

class Session;

class ClientServer::Impl {
 public:
  Impl(ClientServerConfig config, ClientBackend& backend)
      : config_(std::move(config)), backend_(backend), poster_(std::make_shared<Poster>()) {
    poster_->io = &io_;
  }

  ~Impl() {
    stop();
    sessions_.clear();
  }

  Status<ClientServerError> listen() {
    if (open_listener(acceptor_, config_.listen_host, config_.listen_port) != ListenFailure::none) {
      return Err(ClientServerError::listen_failed);
    }
    port_ = acceptor_.local_endpoint().port();
    slot_holders_.reserve(config_.connections_max);
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
    return {};
  }

  void stop();

  ClientServerCounters counters() const {
    auto get = [](const std::atomic<std::uint64_t>& v) { return v.load(std::memory_order_relaxed); };
    ClientServerCounters c;
    c.connections_accepted = get(counters_.connections_accepted);
    c.connections_closed = get(counters_.connections_closed);
    c.connections_refused = get(counters_.connections_refused);
    c.connections_refused_address = get(counters_.connections_refused_address);
    c.connections_evicted_port = get(counters_.connections_evicted_port);
    c.connections_evicted_address = get(counters_.connections_evicted_address);
    c.first_request_timeouts = get(counters_.first_request_timeouts);
    c.connections_open = c.connections_accepted - c.connections_closed;
    c.requests_submit = get(counters_.requests_submit);
    c.requests_wait_receipt = get(counters_.requests_wait_receipt);
    c.requests_get_account = get(counters_.requests_get_account);
    c.requests_get_key = get(counters_.requests_get_key);
    c.requests_submit_raw = get(counters_.requests_submit_raw);
    c.transactions_submitted = get(counters_.transactions_submitted);
    c.raw_commands_submitted = get(counters_.raw_commands_submitted);
    c.responses = get(counters_.responses);
    c.malformed_frames = get(counters_.malformed_frames);
    c.backpressure_pauses = get(counters_.backpressure_pauses);
    c.frame_stalls = get(counters_.frame_stalls);
    c.idle_timeouts = get(counters_.idle_timeouts);
    c.late_callbacks = get(counters_.late_callbacks);
    c.bytes_in = get(counters_.bytes_in);
    c.bytes_out = get(counters_.bytes_out);
    return c;
  }

  std::uint16_t port() const { return port_; }

 private:
  friend class Session;
  asio::awaitable<void> accept_loop();
  // Makes room for a newcomer from `remote` (connection_slots.h): true when it
  // may be served (a victim was closed if need be), false when refused (counted).
  bool admit(const tcp::endpoint& remote);
  void session_ended(const std::shared_ptr<Session>& session);

  ClientServerConfig config_;
  ClientBackend& backend_;
  AtomicCounters counters_;
  std::shared_ptr<Poster> poster_;
  std::mutex stop_mutex_;
  std::condition_variable sessions_done_;
  std::size_t live_sessions_ = 0;  // guarded by stop_mutex_ (written on the io thread)
  bool stopped_ = false;           // guarded by stop_mutex_
  bool shutdown_posted_done_ = false;  // guarded by stop_mutex_: the listener and sessions are closed
  std::atomic<bool> stopping_{false};
  std::uint64_t next_connection_ = 1;  // io thread
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions_;  // io thread: for shutdown
  std::vector<SlotHolder> slot_holders_;  // io thread: admit()'s scratch, reserved at start
  std::uint16_t port_ = 0;
  std::thread thread_;
  // Last: destroyed first, so coroutine frames it still holds go before the
  // state above that they refer to.
  asio::io_context io_{1};
  tcp::acceptor acceptor_{io_};
};

// One client connection. Lives on the io thread; three coroutines (reader,
// writer, watchdog) hold it by shared_ptr, backend callbacks by weak_ptr.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ClientServer::Impl& server, tcp::socket socket, std::uint64_t connection, AddressKey address)
      : server_(server), config_(server.config_), socket_(std::move(socket)), connection_(connection),
        address_(address), resume_(socket_.get_executor()), wake_(socket_.get_executor()),
        watchdog_(socket_.get_executor()) {
    asio::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    accepted_ = last_activity_ = Clock::now();
  }

  asio::awaitable<void> reader();
  asio::awaitable<void> writer();
  asio::awaitable<void> watchdog();

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    resume_.cancel();
    wake_.cancel();
    watchdog_.cancel();
  }
  std::uint64_t connection() const { return connection_; }
  bool closed() const { return closed_; }
  // What the slot policy needs to know. Busy: an answer owed or not yet written.
  SlotHolder slot_holder() const {
    const bool busy = in_flight_ > 0 || writing_ || !pending_.empty();
    return SlotHolder{connection_, address_, busy, completed_request_, accepted_, last_activity_};
  }
  // Reader and writer each call this once on exit; the session ends with the second.
  bool task_done() { return --tasks_ == 0; }

 private:
  // How a connection that stops reading ends.
  enum class Ending : std::uint8_t {
    none,
    after_in_flight,  // the client closed its side: answer what is in flight, then close
    after_flush,      // malformed frame: flush the error response, then close
  };

  bool over_bounds() const {
    return in_flight_ >= config_.in_flight_max || queued_bytes() >= config_.write_queue_bytes_max;
  }
  std::size_t queued_bytes() const { return pending_.size() + writing_bytes_; }
  bool handle_frame(ByteSpan body);
  void dispatch(Request request);
  void refuse_malformed(ByteSpan body, ProtocolError error);
  // Queues a response; `final` releases the request's in-flight slot.
  void respond(const Response& response, bool final);
  void wake_writer() { wake_.cancel(); }

  // A backend completion: runs `f(session)` on the io thread if the session is
  // still open; counts and drops it otherwise.
  template <typename F>
  auto on_session(F f) {
    return [poster = server_.poster_, weak = weak_from_this(), server = &server_,
            f = std::move(f)](auto&&... args) mutable {
      poster->post([weak, server, f, args = std::make_tuple(std::move(args)...)]() mutable {
        auto self = weak.lock();
        if (!self || self->closed_) {
          add(server->counters_.late_callbacks);
          return;
        }
        std::apply([&](auto&&... a) { f(*self, std::move(a)...); }, std::move(args));
      });
    };
  }

  struct RawPending {
    std::uint64_t request_id = 0;
    std::size_t remaining = 0;  // commands not yet reported committed
  };

  ClientServer::Impl& server_;
  const ClientServerConfig& config_;
  tcp::socket socket_;
  std::uint64_t connection_;
  AddressKey address_;
  asio::steady_timer resume_;    // the paused reader waits here
  asio::steady_timer wake_;      // the idle writer waits here
  asio::steady_timer watchdog_;
  bool closed_ = false;
  int tasks_ = 2;
  Ending ending_ = Ending::none;
  std::uint32_t in_flight_ = 0;
  Bytes pending_;                  // response frames not yet handed to the socket
  std::size_t writing_bytes_ = 0;  // bytes of the write in progress
  bool writing_ = false;
  bool paused_ = false;
  bool mid_frame_ = false;
  bool completed_request_ = false;  // a whole request frame decoded
  Clock::time_point accepted_{};
  Clock::time_point last_activity_{};
  Clock::time_point frame_started_{};
  Clock::time_point write_started_{};
  std::uint64_t next_raw_slot_ = 0;
  // Raw requests in flight by server-side slot (client request ids need not be
  // unique). Bounded: each holds an in-flight slot.
  std::unordered_map<std::uint64_t, RawPending> raw_pending_;
};

// --- Requests ------------------------------------------------------------------------------

void Session::refuse_malformed(ByteSpan body, ProtocolError error) {
  add(server_.counters_.malformed_frames);
  ErrorResponse e{ClientErrorCode::malformed, std::string("malformed request: ") + describe(error)};
  if (e.text.size() > limits::client_error_text_bytes_max) e.text.resize(limits::client_error_text_bytes_max);
  ending_ = Ending::after_flush;
  Response response{peek_request_id(body).value_or(0), std::move(e)};
  append_response_frame(response, pending_);
  add(server_.counters_.responses);
  wake_writer();
}

bool Session::handle_frame(ByteSpan body) {
  auto request = decode_request(body);
  if (!request) {
    refuse_malformed(body, request.error());
    return false;
  }
  completed_request_ = true;
  dispatch(std::move(*request));
  return true;
}

void Session::respond(const Response& response, bool final) {
  KESTREL_ASSERT(!closed_);
  append_response_frame(response, pending_);
  add(server_.counters_.responses);
  if (final) {
    KESTREL_ASSERT(in_flight_ > 0);
    --in_flight_;
    if (in_flight_ == 0) last_activity_ = Clock::now();
  }
  wake_writer();
  if (paused_ && !over_bounds()) resume_.cancel();
}

namespace {
Response internal_error(std::uint64_t request_id, const char* what) {
  return Response{request_id, ErrorResponse{ClientErrorCode::internal, what}};
}
}  // namespace

void Session::dispatch(Request request) {
  auto& counters = server_.counters_;
  auto& backend = server_.backend_;
  const std::uint64_t id = request.request_id;
  ++in_flight_;
  KESTREL_ASSERT(in_flight_ <= config_.in_flight_max);  // the reader pauses at the bound
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, SubmitRequest>) {
          add(counters.requests_submit);
          add(counters.transactions_submitted, m.transactions.size());
          const std::size_t count = m.transactions.size();
          backend.submit(std::move(m.transactions),
                         on_session([id, count](Session& s, std::vector<SubmitOutcome> outcomes) {
                           // The backend is ours, but its answer is checked before it is
                           // encoded: a wrong answer is an error response, not a crash.
                           bool valid = outcomes.size() == count;
                           for (auto& o : outcomes) {
                             if (o.accepted) {
                               o.refusal = 0;
                             } else {
                               o.id = {};
                               valid = valid && o.refusal < static_cast<std::uint8_t>(mempool::AdmitError::count_);
                             }
                           }
                           if (!valid) {
                             s.respond(internal_error(id, "backend answered a submit wrongly"), true);
                             return;
                           }
                           s.respond(Response{id, SubmitResultResponse{std::move(outcomes)}}, true);
                         }));
        } else if constexpr (std::is_same_v<T, WaitReceiptRequest>) {
          add(counters.requests_wait_receipt);
          backend.wait_receipt(m.id, std::chrono::milliseconds(m.timeout_ms),
                               on_session([id](Session& s, std::optional<execution::Receipt> receipt) {
                                 s.respond(Response{id, ReceiptResponse{receipt}}, true);
                               }));
        } else if constexpr (std::is_same_v<T, GetAccountRequest>) {
          add(counters.requests_get_account);
          backend.get_account(m.id, on_session([id](Session& s, AccountResponse answer) {
                                if (answer.next_nonce < answer.account.nonce) {
                                  s.respond(internal_error(id, "backend next nonce below the account's"), true);
                                  return;
                                }
                                s.respond(Response{id, answer}, true);
                              }));
        } else if constexpr (std::is_same_v<T, GetKeyRequest>) {
          add(counters.requests_get_key);
          backend.get_key(m.id, std::move(m.key), on_session([id](Session& s, std::optional<Bytes> value) {
                            if (value && value->size() > limits::ledger_value_bytes_max) {
                              s.respond(internal_error(id, "backend value above ledger_value_bytes_max"), true);
                              return;
                            }
                            s.respond(Response{id, KeyResponse{std::move(value)}}, true);
                          }));
        } else {
          static_assert(std::is_same_v<T, SubmitRawRequest>);
          add(counters.requests_submit_raw);
          add(counters.raw_commands_submitted, m.commands.size());
          const std::uint64_t slot = next_raw_slot_++;
          raw_pending_[slot] = RawPending{id, m.commands.size()};
          backend.submit_raw(
              connection_, std::move(m.commands),
              on_session([slot](Session& s, std::vector<std::uint64_t> sequences, std::uint64_t height) {
                auto it = s.raw_pending_.find(slot);
                if (it == s.raw_pending_.end()) {
                  add(s.server_.counters_.late_callbacks);  // reported after completion or refusal
                  return;
                }
                if (sequences.empty()) return;
                // More reports than commands would be a backend bug; they are cut off.
                if (sequences.size() > it->second.remaining) sequences.resize(it->second.remaining);
                it->second.remaining -= sequences.size();
                const bool final = it->second.remaining == 0;
                const std::uint64_t request_id = it->second.request_id;
                if (final) s.raw_pending_.erase(it);
                s.respond(Response{request_id, RawCommittedResponse{std::move(sequences), height}}, final);
              }),
              on_session([slot](Session& s, std::uint8_t code) {
                auto it = s.raw_pending_.find(slot);
                if (it == s.raw_pending_.end()) {
                  add(s.server_.counters_.late_callbacks);
                  return;
                }
                const std::uint64_t request_id = it->second.request_id;
                s.raw_pending_.erase(it);
                if (code == 0 || code > client_error_code_max) code = static_cast<std::uint8_t>(ClientErrorCode::internal);
                const auto error_code = static_cast<ClientErrorCode>(code);
                s.respond(Response{request_id, ErrorResponse{error_code, describe(error_code)}}, true);
              }));
        }
      },
      request.body);
}

// --- Coroutines ----------------------------------------------------------------------------

asio::awaitable<void> Session::reader() {
  auto self = shared_from_this();
  auto& counters = server_.counters_;
  Bytes buffer(limits::client_receive_buffer_bytes);
  std::size_t begin = 0, end = 0;
  while (!closed_ && ending_ == Ending::none) {
    // Backpressure: no frame is taken (and nothing read) while the connection is
    // at its in-flight or write-queue bound.
    if (over_bounds()) {
      add(counters.backpressure_pauses);
      paused_ = true;
      while (!closed_ && over_bounds()) {
        resume_.expires_at(Clock::time_point::max());
        co_await resume_.async_wait(use_tuple);
      }
      paused_ = false;
      if (mid_frame_) frame_started_ = Clock::now();  // the pause is not the client's stall
      continue;
    }
    // One frame from the buffer.
    if (end - begin >= frame_header_bytes) {
      std::span<const std::uint8_t, frame_header_bytes> header(buffer.data() + begin, frame_header_bytes);
      auto length = decode_frame_length(header);
      if (!length) {
        refuse_malformed({}, length.error());
        break;
      }
      const std::size_t total = frame_header_bytes + *length;
      if (end - begin >= total) {
        const bool ok = handle_frame(ByteSpan(buffer.data() + begin + frame_header_bytes, *length));
        begin += total;
        if (begin == end) begin = end = 0;
        mid_frame_ = false;
        if (!ok) break;
        continue;
      }
      if (total > buffer.size()) {
        // Larger than the receive buffer: its bytes are kept in pieces of the
        // receive buffer's size, each allocated once the bytes before it have
        // arrived (a client must send what it claims), so a held frame costs
        // the bytes received. A vector grown as they arrive reallocates by
        // doubling, and the copies it leaves behind stay resident in the heap
        // (docs/client-api.md "Memory"). Joined once complete; under the stall
        // deadline meanwhile.
        if (!mid_frame_) {
          mid_frame_ = true;
          frame_started_ = Clock::now();
        }
        const std::size_t frame_bytes = *length;
        std::vector<Bytes> pieces;
        pieces.reserve(frame_bytes / limits::client_receive_buffer_bytes + 2);
        pieces.emplace_back(buffer.begin() + static_cast<std::ptrdiff_t>(begin + frame_header_bytes),
                            buffer.begin() + static_cast<std::ptrdiff_t>(end));
        std::size_t have = pieces.back().size();
        begin = end = 0;
        bool failed = false;
        while (have < frame_bytes && !failed) {
          Bytes& piece = pieces.emplace_back(std::min(limits::client_receive_buffer_bytes, frame_bytes - have));
          for (std::size_t filled = 0; filled < piece.size();) {
            auto [ec, n] = co_await socket_.async_read_some(
                asio::buffer(piece.data() + filled, piece.size() - filled), use_tuple);
            if (ec) {
              if (ec != asio::error::eof) close();  // reset: as below, nobody can read an answer
              failed = true;
              break;
            }
            filled += n;
            have += n;
            add(counters.bytes_in, n);
            last_activity_ = Clock::now();
          }
        }
        if (failed) break;
        KESTREL_ASSERT(have == frame_bytes && pieces.size() <= pieces.capacity());
        mid_frame_ = false;
        Bytes frame;
        frame.reserve(frame_bytes);
        for (Bytes& piece : pieces) {
          frame.insert(frame.end(), piece.begin(), piece.end());
          Bytes().swap(piece);  // freed as it is copied: the join holds the frame about once
        }
        if (!handle_frame(frame)) break;
        continue;
      }
    }
    // Need more bytes: keep the partial frame at the front and read.
    if (begin == end) {
      begin = end = 0;
    } else {
      if (!mid_frame_) {
        mid_frame_ = true;
        frame_started_ = Clock::now();
      }
      if (begin > 0) {
        std::memmove(buffer.data(), buffer.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
    }
    auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buffer.data() + end, buffer.size() - end),
                                                    use_tuple);
    if (ec == asio::error::eof) {
      // The client shut down its sending side (perhaps only that): answer what
      // is in flight, then close.
      if (!closed_ && ending_ == Ending::none) ending_ = Ending::after_in_flight;
      break;
    }
    if (ec) {
      // Reset or failed: nobody can read an answer, so the in-flight requests
      // are not waited for (their answers come back as late callbacks).
      close();
      break;
    }
    end += n;
    add(counters.bytes_in, n);
    last_activity_ = Clock::now();
  }
  if (ending_ == Ending::none) ending_ = Ending::after_in_flight;
  wake_writer();
  if (task_done()) server_.session_ended(self);
}

asio::awaitable<void> Session::writer() {
  auto self = shared_from_this();
  Bytes out;
  while (!closed_) {
    if (pending_.empty()) {
      // After the client's EOF, raw requests are not waited for: their commits
      // may never come for a client that is gone.
      if (ending_ == Ending::after_flush ||
          (ending_ == Ending::after_in_flight && in_flight_ == raw_pending_.size())) {
        break;
      }
      wake_.expires_at(Clock::time_point::max());
      co_await wake_.async_wait(use_tuple);
      continue;
    }
    if (pending_.size() <= write_chunk_bytes) {
      out.swap(pending_);
    } else {
      // Whole frames only are not needed here: the stream is cut anywhere.
      out.assign(pending_.begin(), pending_.begin() + write_chunk_bytes);
      pending_.erase(pending_.begin(), pending_.begin() + write_chunk_bytes);
    }
    writing_ = true;
    writing_bytes_ = out.size();
    write_started_ = Clock::now();
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(out), use_tuple);
    writing_ = false;
    writing_bytes_ = 0;
    if (ec) break;
    add(server_.counters_.bytes_out, n);
    out.clear();
    if (paused_ && !over_bounds()) resume_.cancel();
  }
  close();
  if (task_done()) server_.session_ended(self);
}

asio::awaitable<void> Session::watchdog() {
  auto self = shared_from_this();
  auto& counters = server_.counters_;
  const auto tick = std::max<Clock::duration>(
      std::chrono::milliseconds(5),
      std::min({config_.frame_stall_timeout, config_.idle_timeout, config_.first_request_timeout}) / 4);
  while (!closed_) {
    watchdog_.expires_after(tick);
    co_await watchdog_.async_wait(use_tuple);
    if (closed_) break;
    const auto now = Clock::now();
    if (!completed_request_ && now - accepted_ > config_.first_request_timeout) {
      // Progress on a first frame does not extend this: a slow-header client
      // would otherwise hold its slot for the stall timeout per byte.
      add(counters.first_request_timeouts);
      close();
    } else if (writing_ && now - write_started_ > config_.frame_stall_timeout) {
      add(counters.frame_stalls);  // the client does not read its responses
      close();
    } else if (!paused_ && mid_frame_ && now - frame_started_ > config_.frame_stall_timeout) {
      add(counters.frame_stalls);
      close();
    } else if (in_flight_ == 0 && !writing_ && pending_.empty() && !mid_frame_ &&
               now - last_activity_ > config_.idle_timeout) {
      add(counters.idle_timeouts);
      close();
    }
  }
}

// --- Server --------------------------------------------------------------------------------

asio::awaitable<void> ClientServer::Impl::accept_loop() {
  while (!stopping_.load()) {
    auto [ec, socket] = co_await acceptor_.async_accept(use_tuple);
    if (ec) {
      if (stopping_.load() || !acceptor_.is_open()) break;
      continue;
    }
    asio::error_code endpoint_ec;
    const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
    if (endpoint_ec || !admit(remote)) {  // no endpoint: the peer is already gone
      asio::error_code ignored;
      socket.close(ignored);
      continue;
    }
    add(counters_.connections_accepted);
    const std::uint64_t connection = next_connection_++;
    auto session = std::make_shared<Session>(*this, std::move(socket), connection, address_key(remote.address()));
    sessions_[connection] = session;
    {
      std::lock_guard lock(stop_mutex_);
      ++live_sessions_;
    }
    asio::co_spawn(io_, session->reader(), asio::detached);
    asio::co_spawn(io_, session->writer(), asio::detached);
    asio::co_spawn(io_, session->watchdog(), asio::detached);
  }
}

bool ClientServer::Impl::admit(const tcp::endpoint& remote) {
  // Closed sessions whose coroutines have not finished yet hold no slot.
  slot_holders_.clear();
  for (const auto& [id, weak] : sessions_) {
    auto session = weak.lock();
    if (session && !session->closed()) slot_holders_.push_back(session->slot_holder());
  }
  const SlotAdmission admission = admit_connection(slot_holders_, address_key(remote.address()),
                                                   config_.connections_max,
                                                   std::min(config_.connections_per_address_max, config_.connections_max));
  switch (admission.verdict) {
    case SlotVerdict::accept: return true;
    case SlotVerdict::refuse_address_full: add(counters_.connections_refused_address); return false;
    case SlotVerdict::refuse_port_full: add(counters_.connections_refused); return false;
    case SlotVerdict::evict_for_address: add(counters_.connections_evicted_address); break;
    case SlotVerdict::evict_for_port: add(counters_.connections_evicted_port); break;
  }
  auto victim = sessions_.at(admission.victim).lock();
  KESTREL_ASSERT(victim && !victim->closed() && !victim->slot_holder().busy);
  victim->close();  // its coroutines end and release it; the slot is free now
  return true;
}

void ClientServer::Impl::session_ended(const std::shared_ptr<Session>& session) {
  session->close();
  sessions_.erase(session->connection());
  add(counters_.connections_closed);
  backend_.connection_closed(session->connection());
  {
    std::lock_guard lock(stop_mutex_);
    --live_sessions_;
  }
  sessions_done_.notify_all();
}

void ClientServer::Impl::stop() {
  std::unique_lock lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  if (thread_.joinable()) {
    asio::post(io_, [this] {
      asio::error_code ignored;
      acceptor_.close(ignored);
      for (auto& [id, weak] : sessions_) {
        if (auto session = weak.lock()) session->close();
      }
      std::lock_guard done_lock(stop_mutex_);
      shutdown_posted_done_ = true;
      sessions_done_.notify_all();
    });
    // Closing ends every session's coroutines promptly; bounded regardless.
    sessions_done_.wait_for(lock, std::chrono::seconds(2),
                            [this] { return shutdown_posted_done_ && live_sessions_ == 0; });
  }
  lock.unlock();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  // Callbacks still held by the backend now post nowhere.
  std::lock_guard poster_lock(poster_->mutex);
  poster_->io = nullptr;
}

ClientServer::ClientServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClientServer::~ClientServer() { stop(); }

Result<std::unique_ptr<ClientServer>, ClientServerError> ClientServer::start(ClientServerConfig config,
                                                                             ClientBackend& backend) {
  if (config.connections_max == 0 || config.connections_max > limits::client_connections_max ||
      config.connections_per_address_max == 0 ||
      config.connections_per_address_max > limits::client_connections_per_address_max ||
      config.first_request_timeout.count() <= 0 ||
      config.first_request_timeout > std::chrono::milliseconds(limits::client_first_request_timeout_ms) ||
      config.in_flight_max == 0 || config.in_flight_max > limits::client_in_flight_max ||
      config.write_queue_bytes_max == 0 || config.write_queue_bytes_max > limits::client_write_queue_bytes_max ||
      config.idle_timeout.count() <= 0 || config.frame_stall_timeout.count() <= 0) {
    return Err(ClientServerError::bad_config);
  }
  auto impl = std::make_unique<Impl>(std::move(config), backend);
  KESTREL_TRY(impl->listen());
  return std::unique_ptr<ClientServer>(new ClientServer(std::move(impl)));
}

std::uint16_t ClientServer::port() const { return impl_->port(); }
void ClientServer::stop() {
  if (impl_) impl_->stop();
}
ClientServerCounters ClientServer::counters() const { return impl_->counters(); }

}  // namespace kestrel::node
