// The node's admin HTTP port (docs/metrics.md "Admin routes"): a minimal
// HTTP/1.1 GET server for /health, /status, /metrics, /gates and /stages, and the
// small blocking client `kestrel status` uses.
//
// Server: standalone Asio on an io_context thread of its own, listening on the
// configured admin address (loopback by default). One request per connection:
// every response carries `Connection: close`, so there is no keep-alive state to
// bound. What a client can make it hold is bounded: the request head
// (limits::admin_request_bytes_max, else 431), open connections
// (options.connections_max, and options.connections_per_address_max from one
// source address: a newcomer beyond either takes the slot of the longest-idle
// connection not writing a response, node/connection_slots.h, or is closed at
// once when none can be taken; both counted), the time to send the head (the
// first-request deadline, options.read_timeout) and to take the response
// (options.write_timeout). Anything malformed gets 400 (an unsupported
// HTTP version 505), a method other than GET 405, an unknown path 404; all are
// counted. A route that throws gets 500: no exception leaves the server.
//
// Routes are called on the admin io thread, one at a time; they must be
// thread-safe with respect to the node (read atomics or snapshots) and quick (a
// slow route delays other admin clients, never consensus).
//
// Thread-safety: AdminServer's public member functions are thread-safe. The free
// functions are pure. http_get blocks the caller up to its timeout.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/limits.h"
#include "common/result.h"
#include "node/config.h"

namespace kestrel::node {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

inline constexpr std::string_view prometheus_content_type = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr std::string_view json_content_type = "application/json";

using Route = std::function<HttpReply()>;
using Routes = std::map<std::string, Route, std::less<>>;  // exact path -> route

// --- Request parsing (exposed for tests and fuzzing) --------------------------------

// The length of the request head through its blank line (CRLF CRLF, or LF LF as
// RFC 9112 section 2.2 lets a recipient accept), or nullopt when not complete.
std::optional<std::size_t> find_head_end(std::string_view buffer);

struct HttpRequestHead {
  std::string method;
  std::string path;  // the target without query or fragment
};
enum class HttpParseError : std::uint8_t {
  bad_request_line,  // not `METHOD SP /target SP HTTP/1.x`
  bad_version,       // HTTP/2, HTTP/0.9, ...
  bad_header,        // a header line without a valid `name:`, or a control character
};
const char* describe(HttpParseError error);
// REQUIRES: head.size() <= limits::admin_request_bytes_max (the server reads no more).
Result<HttpRequestHead, HttpParseError> parse_request_head(std::string_view head);

// A full response with Content-Length, Connection: close, Cache-Control: no-store.
std::string render_response(const HttpReply& reply);
const char* reason_phrase(int status);

// --- Server -------------------------------------------------------------------------

// Statuses counted one by one; anything else counts as `other`.
inline constexpr std::array<int, 7> admin_counted_statuses = {200, 400, 404, 405, 431, 500, 505};
struct AdminCounters {
  // responses[i] for admin_counted_statuses[i]; the last slot is every other status.
  std::array<std::uint64_t, admin_counted_statuses.size() + 1> responses{};
  std::uint64_t connections_accepted = 0;
  std::uint64_t connections_refused = 0;          // port full, every connection busy: closed at once
  std::uint64_t connections_refused_address = 0;  // the address's share full, all busy: closed at once
  std::uint64_t connections_evicted_port = 0;     // closed to make room on a full port
  std::uint64_t connections_evicted_address = 0;  // closed to make room within their address's share
  std::uint64_t request_timeouts = 0;   // no complete head within read_timeout: closed
  std::uint64_t response_timeouts = 0;  // response not taken within write_timeout: closed
  std::uint64_t responses_for(int status) const;
  std::uint64_t bad_requests() const;  // 400 + 431 + 505
};

enum class AdminError : std::uint8_t {
  bad_address,    // the host is not an IP address
  listen_failed,  // bind or listen failed (port in use, no permission)
};
const char* describe(AdminError error);

// Bounds of one server; the defaults are the limits, tests shorten them.
struct AdminOptions {
  std::chrono::milliseconds read_timeout{limits::admin_read_timeout_ms};
  std::chrono::milliseconds write_timeout{limits::admin_write_timeout_ms};
  std::size_t connections_max = limits::admin_connections_max;
  // Applied as min(this, connections_max).
  std::size_t connections_per_address_max = limits::admin_connections_per_address_max;
};

class AdminServer {
 public:
  // Binds host:port (port 0: any free port, see port()) and starts serving.
  // REQUIRES: 0 < options' timeouts and bound <= the limits they default to.
  static Result<std::unique_ptr<AdminServer>, AdminError> start(const Endpoint& listen, Routes routes,
                                                                AdminOptions options = {});
  ~AdminServer();  // stop()
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Closes the listener and every connection and joins the thread. Idempotent.
  // REQUIRES: not called from a route (the admin thread).
  void stop();
  std::uint16_t port() const;
  AdminCounters counters() const;

  struct Impl;

 private:
  explicit AdminServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// --- Client (`kestrel status`) -------------------------------------------------------

struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};
enum class HttpClientError : std::uint8_t {
  resolve_failed,      // the host name does not resolve
  connect_failed,      // refused or unreachable
  timeout,             // not done within the timeout
  too_large,           // response above the byte bound
  malformed_response,  // not an HTTP/1.x response we can read (or cut short)
  io,                  // the connection broke
};
const char* describe(HttpClientError error);

// Parses a complete response (the server closed after it). Chunked bodies are
// refused (the admin server never sends them).
Result<HttpResponse, HttpClientError> parse_response(std::string_view raw);

// GET http://host:port/path, one request, `Connection: close`.
Result<HttpResponse, HttpClientError> http_get(const Endpoint& server, std::string_view path,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                               std::size_t response_bytes_max = limits::admin_response_bytes_max);

// "HOST:PORT" or "[IPV6]:PORT"; nullopt when malformed or the port is 0.
std::optional<Endpoint> parse_host_port(std::string_view text);

}  // namespace kestrel::node
