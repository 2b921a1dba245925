// Client: blocking Asio sockets driven by a private io_context with deadlines
// (run_one_until), no coroutines. See client.h.
#include "node/client.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <deque>

#include "common/assert.h"
#include "mempool/mempool.h"

namespace kestrel::node {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

const char* describe(ClientError error) {
  switch (error) {
    case ClientError::bad_address: return "not a numeric IPv4/IPv6 address";
    case ClientError::connect_failed: return "could not connect";
    case ClientError::timeout: return "timed out";
    case ClientError::io: return "connection broken or closed by the node";
    case ClientError::closed: return "connection closed by an earlier error";
    case ClientError::protocol: return "the node sent a malformed or unexpected response";
    case ClientError::server_error: return "the node answered with an error";
    case ClientError::bad_request: return "request outside the protocol's bounds";
  }
  return "unknown client error";
}

std::string describe(const SubmitOutcome& outcome) {
  if (outcome.accepted) return "accepted " + outcome.id.hex();
  if (outcome.refusal >= static_cast<std::uint8_t>(mempool::AdmitError::count_)) return "refused: unknown reason";
  return std::string("refused: ") + mempool::describe(static_cast<mempool::AdmitError>(outcome.refusal));
}

class Client::Impl {
 public:
  Impl() : buffer_(limits::client_receive_buffer_bytes) {}
  ~Impl() { close(); }

  Status<ClientError> connect(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
    asio::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    if (ec) return Err(ClientError::bad_address);
    bool done = false;
    asio::error_code result;
    socket_.async_connect(tcp::endpoint(address, port), [&](asio::error_code e) {
      result = e;
      done = true;
    });
    if (!run_until(done, Clock::now() + timeout)) {
      close();
      return Err(ClientError::timeout);
    }
    if (result) {
      close();
      return Err(ClientError::connect_failed);
    }
    socket_.set_option(tcp::no_delay(true), ec);
    open_ = true;
    return {};
  }

  // Writes a whole frame; meanwhile reads whatever the node sends.
  Status<ClientError> write(ByteSpan data, Clock::time_point deadline) {
    if (!open_) return Err(error_or_closed());
    bool done = false;
    asio::error_code result;
    asio::async_write(socket_, asio::buffer(data.data(), data.size()), [&](asio::error_code e, std::size_t) {
      result = e;
      done = true;
    });
    while (!done) {
      ensure_read();
      if (!run_one(deadline)) {
        fail_and_drain(ClientError::timeout);  // the write handler runs (aborted) before we return
        return Err(ClientError::timeout);
      }
    }
    if (result) {
      fail_and_drain(ClientError::io);
      return Err(ClientError::io);
    }
    if (!open_) return Err(error_or_closed());  // the concurrent read failed
    return {};
  }

  // The first ready response with `request_id` (others stay ready), waiting up to
  // `deadline`.
  Result<Response, ClientError> take(std::uint64_t request_id, Clock::time_point deadline) {
    for (;;) {
      auto it = std::find_if(ready_.begin(), ready_.end(),
                             [&](const Response& r) { return r.request_id == request_id; });
      if (it != ready_.end()) {
        Response response = std::move(*it);
        ready_.erase(it);
        return response;
      }
      if (!open_) return Err(error_or_closed());
      ensure_read();
      if (!run_one(deadline)) {
        fail_and_drain(ClientError::timeout);
        return Err(ClientError::timeout);
      }
    }
  }

  Result<std::vector<Response>, ClientError> poll(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (ready_.empty() && open_) {
      ensure_read();
      if (!run_one(deadline)) break;  // timeout: not an error for poll
    }
    // Whatever else is already there, without waiting.
    if (open_) {
      ensure_read();
      if (io_.stopped()) io_.restart();
      io_.poll();
    }
    if (ready_.empty() && !open_) return Err(error_or_closed());
    std::vector<Response> out(std::make_move_iterator(ready_.begin()), std::make_move_iterator(ready_.end()));
    ready_.clear();
    return out;
  }

  bool is_open() const { return open_; }

  // Not from inside a handler (it runs the cancelled handlers to completion).
  void close() {
    close_socket();
    // Let cancelled handlers run so none refers to this object (or to a caller's
    // stack) later.
    if (io_.stopped()) io_.restart();
    io_.run();
  }

 private:
  ClientError error_or_closed() const { return error_ ? *error_ : ClientError::closed; }
  void close_socket() {
    open_ = false;
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  // From handlers: records the first error and closes the socket.
  void fail(ClientError error) {
    if (!error_) error_ = error;
    close_socket();
  }
  void fail_and_drain(ClientError error) {
    if (!error_) error_ = error;
    close();
  }

  // Runs one handler; false when the deadline passed first.
  bool run_one(Clock::time_point deadline) {
    if (io_.stopped()) io_.restart();
    return io_.run_one_until(deadline) > 0;
  }
  bool run_until(bool& done, Clock::time_point deadline) {
    while (!done) {
      if (!run_one(deadline)) return done;
    }
    return true;
  }

  // Keeps one read outstanding into the receive buffer (grown to the size of a
  // large frame, bounded by client_frame_bytes_max).
  void ensure_read() {
    if (reading_ || !open_) return;
    if (begin_ == end_) begin_ = end_ = 0;
    std::size_t needed = frame_header_bytes;
    if (end_ - begin_ >= frame_header_bytes) {
      std::span<const std::uint8_t, frame_header_bytes> header(buffer_.data() + begin_, frame_header_bytes);
      auto length = decode_frame_length(header);
      KESTREL_ASSERT(length.ok());  // parse_frames() refused it otherwise
      needed = frame_header_bytes + *length;
    }
    if (begin_ > 0) {  // at most one partial frame is left: move it to the front
      std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() < needed) buffer_.resize(needed);
    if (buffer_.size() > limits::client_receive_buffer_bytes && end_ == 0) {
      buffer_.resize(limits::client_receive_buffer_bytes);  // give back a large frame's room
      buffer_.shrink_to_fit();
    }
    KESTREL_ASSERT(end_ < buffer_.size());
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_.data() + end_, buffer_.size() - end_),
                            [this](asio::error_code ec, std::size_t n) {
                              reading_ = false;
                              if (ec) {
                                if (open_) fail(ClientError::io);
                                return;
                              }
                              end_ += n;
                              parse_frames();
                            });
  }

  void parse_frames() {
    while (end_ - begin_ >= frame_header_bytes) {
      std::span<const std::uint8_t, frame_header_bytes> header(buffer_.data() + begin_, frame_header_bytes);
      auto length = decode_frame_length(header);
      if (!length) {
        fail(ClientError::protocol);
        return;
      }
      if (end_ - begin_ < frame_header_bytes + *length) return;
      auto response = decode_response(ByteSpan(buffer_.data() + begin_ + frame_header_bytes, *length));
      if (!response) {
        fail(ClientError::protocol);
        return;
      }
      ready_.push_back(std::move(*response));
      begin_ += frame_header_bytes + *length;
    }
  }

  asio::io_context io_{1};
  tcp::socket socket_{io_};
  bool open_ = false;
  bool reading_ = false;
  std::optional<ClientError> error_;
  Bytes buffer_;
  std::size_t begin_ = 0, end_ = 0;  // [begin_, end_) holds at most one partial frame after parsing
  std::deque<Response> ready_;       // decoded, not yet taken
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

Result<std::unique_ptr<Client>, ClientError> Client::connect(const std::string& host, std::uint16_t port,
                                                             std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  KESTREL_TRY(impl->connect(host, port, timeout));
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

bool Client::is_open() const { return impl_->is_open(); }
void Client::close() { impl_->close(); }

namespace {
bool within_bounds(const Request& request) {
  return std::visit(
      [](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, SubmitRequest>) {
          if (m.transactions.empty() || m.transactions.size() > limits::client_submit_batch_max) return false;
          return std::all_of(m.transactions.begin(), m.transactions.end(),
                             [](const Bytes& tx) { return tx.size() <= limits::transaction_bytes_max; });
        } else if constexpr (std::is_same_v<T, WaitReceiptRequest>) {
          return m.timeout_ms <= limits::client_wait_timeout_ms_max;
        } else if constexpr (std::is_same_v<T, GetKeyRequest>) {
          return m.key.size() <= limits::ledger_key_bytes_max;
        } else if constexpr (std::is_same_v<T, SubmitRawRequest>) {
          return !m.commands.empty() && m.commands.size() <= limits::client_raw_batch_max;
        } else {
          return true;
        }
      },
      request.body);
}
}  // namespace

Result<std::uint64_t, ClientError> Client::send_request(Request request) {
  if (!within_bounds(request)) return Err(ClientError::bad_request);
  request.request_id = next_request_id_++;
  Bytes frame;
  append_request_frame(request, frame);
  KESTREL_TRY(impl_->write(frame, Clock::now() + io_timeout_));
  return request.request_id;
}

Result<std::uint64_t, ClientError> Client::send_submit(std::span<const Bytes> transactions) {
  return send_request(Request{0, SubmitRequest{std::vector<Bytes>(transactions.begin(), transactions.end())}});
}

Result<std::uint64_t, ClientError> Client::send_raw(std::span<const RawCommand> commands) {
  return send_request(Request{0, SubmitRawRequest{std::vector<RawCommand>(commands.begin(), commands.end())}});
}

Result<std::vector<Response>, ClientError> Client::poll(std::chrono::milliseconds timeout) {
  return impl_->poll(timeout);
}

Result<Response, ClientError> Client::call(Request request, std::chrono::milliseconds wait) {
  auto id = send_request(std::move(request));
  if (!id) return Err(id.error());
  auto response = impl_->take(*id, Clock::now() + wait);
  if (!response) return Err(response.error());
  if (auto* error = std::get_if<ErrorResponse>(&response->body)) {
    last_server_error_ = *error;
    return Err(ClientError::server_error);
  }
  return response;
}

namespace {
// The body of the expected type, or protocol (the node answered another type).
template <typename T>
Result<T, ClientError> expect(Result<Response, ClientError> response) {
  if (!response) return Err(response.error());
  if (auto* body = std::get_if<T>(&response->body)) return std::move(*body);
  return Err(ClientError::protocol);
}
}  // namespace

Result<std::vector<SubmitOutcome>, ClientError> Client::submit(std::span<const Bytes> transactions) {
  auto result = expect<SubmitResultResponse>(
      call(Request{0, SubmitRequest{std::vector<Bytes>(transactions.begin(), transactions.end())}}, io_timeout_));
  if (!result) return Err(result.error());
  if (result->outcomes.size() != transactions.size()) return Err(ClientError::protocol);
  return std::move(result->outcomes);
}

Result<std::optional<execution::Receipt>, ClientError> Client::wait_receipt(const execution::TransactionId& id,
                                                                            std::chrono::milliseconds timeout) {
  if (timeout.count() < 0 || timeout.count() > limits::client_wait_timeout_ms_max) {
    return Err(ClientError::bad_request);
  }
  auto result = expect<ReceiptResponse>(
      call(Request{0, WaitReceiptRequest{id, static_cast<std::uint32_t>(timeout.count())}}, timeout + io_timeout_));
  if (!result) return Err(result.error());
  return result->receipt;
}

Result<execution::Account, ClientError> Client::get_account(const execution::AccountId& id) {
  auto result = get_account_state(id);
  if (!result) return Err(result.error());
  return result->account;
}

Result<AccountResponse, ClientError> Client::get_account_state(const execution::AccountId& id) {
  return expect<AccountResponse>(call(Request{0, GetAccountRequest{id}}, io_timeout_));
}

Result<std::optional<Bytes>, ClientError> Client::get_key(const execution::AccountId& id, ByteSpan key) {
  auto result =
      expect<KeyResponse>(call(Request{0, GetKeyRequest{id, Bytes(key.begin(), key.end())}}, io_timeout_));
  if (!result) return Err(result.error());
  return std::move(result->value);
}

}  // namespace kestrel::node
