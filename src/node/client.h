// Client: a blocking connection to a validator's client listener
// (docs/client-api.md), for `kestrel submit`, tests and load generators.
//
// Two ways to use it, freely mixed:
//   - blocking calls (submit, wait_receipt, get_account, get_key): send one
//     request and wait for its response;
//   - pipelined calls (send_submit, send_raw, send_request): send without
//     waiting and collect responses with poll(), matched by request id.
// A blocking call that meets responses to pipelined requests keeps them for the
// next poll(). While a send blocks (the node applies backpressure), responses
// are read into the receive buffer meanwhile, so a pipelining client cannot
// deadlock against a node that waits for it to read.
//
// Errors are Results (ClientError); nothing throws. After io, timeout or
// protocol errors the connection is closed and every later call fails with
// `closed`. Thread-safety: one thread at a time per Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/result.h"
#include "execution/execution.h"
#include "node/client_protocol.h"

namespace kestrel::node {

enum class ClientError : std::uint8_t {
  bad_address,     // host is not a numeric address
  connect_failed,  // refused or unreachable
  timeout,         // no answer within the timeout (the connection is closed)
  io,              // the connection broke or the node closed it
  closed,          // the client was closed by an earlier error
  protocol,        // the node sent a frame that does not decode, or an unexpected response
  server_error,    // the node answered with an `error` response (see last_server_error())
  bad_request,     // the request is outside the protocol's bounds (batch size, key size, timeout)
};
const char* describe(ClientError error);

// One transaction's outcome with its refusal reason as text (mempool::describe).
std::string describe(const SubmitOutcome& outcome);

class Client {
 public:
  static Result<std::unique_ptr<Client>, ClientError> connect(const std::string& host, std::uint16_t port,
                                                              std::chrono::milliseconds timeout);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Timeout of each blocking send and of blocking calls' own waits (default 10 s;
  // wait_receipt waits its own timeout plus this).
  void set_io_timeout(std::chrono::milliseconds timeout) { io_timeout_ = timeout; }

  // --- Blocking --------------------------------------------------------------------
  // REQUIRES (else bad_request): 1..client_submit_batch_max transactions.
  Result<std::vector<SubmitOutcome>, ClientError> submit(std::span<const Bytes> transactions);
  // nullopt: not committed within `timeout` (<= client_wait_timeout_ms_max).
  Result<std::optional<execution::Receipt>, ClientError> wait_receipt(const execution::TransactionId& id,
                                                                      std::chrono::milliseconds timeout);
  Result<execution::Account, ClientError> get_account(const execution::AccountId& id);
  // The account and the nonce its next transaction should carry, counting its
  // transactions pending at this node (AccountResponse::next_nonce).
  Result<AccountResponse, ClientError> get_account_state(const execution::AccountId& id);
  Result<std::optional<Bytes>, ClientError> get_key(const execution::AccountId& id, ByteSpan key);

  // --- Pipelined -------------------------------------------------------------------
  // Each returns the request id its responses will carry.
  Result<std::uint64_t, ClientError> send_submit(std::span<const Bytes> transactions);
  Result<std::uint64_t, ClientError> send_raw(std::span<const RawCommand> commands);
  // Any request (its request_id is replaced by the client's next id).
  Result<std::uint64_t, ClientError> send_request(Request request);
  // Waits up to `timeout` for at least one response, then returns every response
  // that has arrived (possibly none after the timeout; that is not an error).
  Result<std::vector<Response>, ClientError> poll(std::chrono::milliseconds timeout);

  // The `error` response behind the last server_error.
  const ErrorResponse& last_server_error() const { return last_server_error_; }
  bool is_open() const;
  void close();

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  // Sends `request` and waits for the response carrying its id.
  Result<Response, ClientError> call(Request request, std::chrono::milliseconds wait);

  std::unique_ptr<Impl> impl_;
  std::uint64_t next_request_id_ = 1;
  std::chrono::milliseconds io_timeout_{10000};
  ErrorResponse last_server_error_;
};

}  // namespace kestrel::node
