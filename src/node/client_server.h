// Client server: a validator's client listener (docs/client-api.md).
//
// Accepts TCP connections from clients, reads request frames
// (client_protocol.h), hands each request to a ClientBackend (the node) and
// writes the responses back, tagged with the client's request id.
//
// Threading: one io_context thread of its own. Backend calls are made on that
// thread; the backend's completion callbacks may be invoked from ANY thread (or
// synchronously inside the call) and only post the result back to the server's
// thread. A callback that arrives after its connection closed, or after the
// server stopped, is dropped harmlessly (sessions are held by weak_ptr, the
// io_context behind a mutex-guarded handle).
//
// Bounds (limits.h "client API"): connections <= connections_max, and <=
// connections_per_address_max from one source address; a newcomer beyond either
// bound takes the slot of the longest-idle connection with nothing in flight, or
// is closed at once when every candidate is busy (node/connection_slots.h; both
// counted). A connection must deliver its first complete request within
// first_request_timeout (else closed, counted). Per connection, requests in flight <=
// in_flight_max and queued response bytes <= write_queue_bytes_max: when either
// is reached the server stops reading that socket (TCP backpressure) until
// responses go out. A malformed frame (length above the bound, a body that does
// not decode) gets an `error` response and the connection is closed and counted;
// the server keeps serving. A partial frame or a write that makes no progress for
// frame_stall_timeout, or an idle connection (nothing in flight, nothing
// received) for idle_timeout, is closed and counted.
//
// Public member functions are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/limits.h"
#include "common/result.h"
#include "execution/execution.h"
#include "node/client_protocol.h"

namespace kestrel::node {

// What the node implements. Every call's `done` (or `refused`) must be invoked
// exactly once, eventually (wait_receipt's by its timeout); submit_raw's
// `committed` may be invoked several times, each with a part of the commands'
// sequence numbers, until every command has been reported, or `refused` once.
// Callbacks must be cheap: they only post to the server's thread.
class ClientBackend {
 public:
  virtual ~ClientBackend() = default;
  // One outcome per transaction, in order.
  virtual void submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) = 0;
  virtual void wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds timeout,
                            std::function<void(std::optional<execution::Receipt>)> done) = 0;
  // The account and the next nonce counting its transactions pending here.
  virtual void get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) = 0;
  virtual void get_key(const execution::AccountId& id, Bytes key,
                       std::function<void(std::optional<Bytes>)> done) = 0;
  // connection: a server-assigned id, unique for the server's lifetime (raw
  // clients are identified by their connection).
  // done(sequences, height) may be called several times (as parts commit);
  // refused(code) once (a ClientErrorCode, e.g. raw_disabled) if raw mode is off.
  virtual void submit_raw(std::uint64_t connection, std::vector<RawCommand> commands,
                          std::function<void(std::vector<std::uint64_t> committed_sequences, std::uint64_t height)> committed,
                          std::function<void(std::uint8_t error_code)> refused) = 0;
  virtual void connection_closed(std::uint64_t connection) = 0;  // drop its pending raw callbacks
};

struct ClientServerConfig {
  std::string listen_host = "127.0.0.1";  // numeric IPv4/IPv6 address
  std::uint16_t listen_port = 0;          // 0: any; read back with port()
  std::size_t connections_max = limits::client_connections_max;
  // Applied as min(this, connections_max); <= limits::client_connections_per_address_max.
  std::size_t connections_per_address_max = limits::client_connections_per_address_max;
  // <= limits::client_first_request_timeout_ms (the default); tests shorten it.
  std::chrono::milliseconds first_request_timeout{limits::client_first_request_timeout_ms};
  std::uint32_t in_flight_max = 1024;  // NodeConfig::client_in_flight_max; <= limits::client_in_flight_max
  std::size_t write_queue_bytes_max = limits::client_write_queue_bytes_max;
  std::chrono::milliseconds idle_timeout{limits::client_idle_timeout_ms};
  std::chrono::milliseconds frame_stall_timeout{limits::client_frame_stall_timeout_ms};
};

enum class ClientServerError : std::uint8_t {
  bad_config,     // a config value outside its limit
  listen_failed,  // could not parse the address, bind or listen
};
const char* describe(ClientServerError error);

// A snapshot of the counters (for the metrics).
struct ClientServerCounters {
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_closed = 0;
  std::uint64_t connections_refused = 0;          // port full, every connection busy: closed at once
  std::uint64_t connections_refused_address = 0;  // the address's share full, all busy: closed at once
  std::uint64_t connections_evicted_port = 0;     // closed to make room on a full port
  std::uint64_t connections_evicted_address = 0;  // closed to make room within their address's share
  std::uint64_t first_request_timeouts = 0;       // no complete request within first_request_timeout
  std::uint64_t connections_open = 0;
  std::uint64_t requests_submit = 0, requests_wait_receipt = 0, requests_get_account = 0,
                requests_get_key = 0, requests_submit_raw = 0;
  std::uint64_t transactions_submitted = 0;  // inside submit requests
  std::uint64_t raw_commands_submitted = 0;
  std::uint64_t responses = 0;
  std::uint64_t malformed_frames = 0;     // connections closed for a bad frame
  std::uint64_t backpressure_pauses = 0;  // times a connection stopped being read
  std::uint64_t frame_stalls = 0;         // partial frame or blocked write past the deadline
  std::uint64_t idle_timeouts = 0;
  std::uint64_t late_callbacks = 0;       // backend completions for closed connections (dropped)
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

class ClientServer {
 public:
  // Binds the listener and starts the io thread. REQUIRES: backend outlives the server.
  static Result<std::unique_ptr<ClientServer>, ClientServerError> start(ClientServerConfig config,
                                                                        ClientBackend& backend);
  ~ClientServer();  // stop()
  ClientServer(const ClientServer&) = delete;
  ClientServer& operator=(const ClientServer&) = delete;

  std::uint16_t port() const;
  // Closes the listener and every connection and joins the thread. Idempotent.
  // Backend callbacks still pending afterwards are dropped when they run.
  // REQUIRES: not called from inside a backend call (it waits for the server's thread).
  void stop();
  ClientServerCounters counters() const;

  class Impl;

 private:
  explicit ClientServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kestrel::node
