#include "node/admin_http.h"

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <exception>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "common/assert.h"
#include "net/listener.h"
#include "node/connection_slots.h"

namespace kestrel::node {

using asio::ip::tcp;

// --- Parsing and rendering ------------------------------------------------------------

std::optional<std::size_t> find_head_end(std::string_view buffer) {
  const auto crlf = buffer.find("\r\n\r\n");
  const auto lf = buffer.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::nullopt;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) return crlf + 4;
  return lf + 2;
}

const char* describe(HttpParseError error) {
  switch (error) {
    case HttpParseError::bad_request_line: return "request line is not METHOD SP /target SP HTTP/1.x";
    case HttpParseError::bad_version: return "HTTP version other than 1.0 or 1.1";
    case HttpParseError::bad_header: return "malformed header line";
  }
  return "unknown HTTP parse error";
}

namespace {

// RFC 9110 section 5.6.2: tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

// Splits off one line (without its LF and an optional CR before it).
std::string_view take_line(std::string_view& rest) {
  const auto end = rest.find('\n');
  std::string_view line = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

Result<HttpRequestHead, HttpParseError> parse_request_head(std::string_view head) {
  KESTREL_ASSERT(head.size() <= limits::admin_request_bytes_max);
  std::string_view rest = head;
  const std::string_view line = take_line(rest);
  const auto sp1 = line.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Err(HttpParseError::bad_request_line);
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method) || target.empty() || target.front() != '/') return Err(HttpParseError::bad_request_line);
  for (char c : target) {
    if (c <= 0x20 || c >= 0x7f) return Err(HttpParseError::bad_request_line);
  }
  if (version.substr(0, 5) != "HTTP/" || version.size() != 8) return Err(HttpParseError::bad_request_line);
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Err(HttpParseError::bad_version);

  // Header fields: name ":" value, no obsolete line folding, no control bytes.
  while (!rest.empty()) {
    const std::string_view field = take_line(rest);
    if (field.empty()) break;  // the blank line ending the head
    const auto colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return Err(HttpParseError::bad_header);
    for (char c : field.substr(colon + 1)) {
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return Err(HttpParseError::bad_header);
    }
  }
  HttpRequestHead out;
  out.method = std::string(method);
  out.path = std::string(target.substr(0, target.find_first_of("?#")));
  return out;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
  }
  return "Status";
}

std::string render_response(const HttpReply& reply) {
  KESTREL_ASSERT(reply.status >= 100 && reply.status <= 599);
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason_phrase(reply.status) + "\r\n";
  out += "Content-Type: " + reply.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\n";
  if (reply.status == 405) out += "Allow: GET\r\n";
  out += "Cache-Control: no-store\r\nConnection: close\r\n\r\n";
  out += reply.body;
  return out;
}

// --- Server ---------------------------------------------------------------------------

std::uint64_t AdminCounters::responses_for(int status) const {
  for (std::size_t i = 0; i < admin_counted_statuses.size(); ++i) {
    if (admin_counted_statuses[i] == status) return responses[i];
  }
  return responses.back();
}

std::uint64_t AdminCounters::bad_requests() const {
  return responses_for(400) + responses_for(431) + responses_for(505);
}

const char* describe(AdminError error) {
  switch (error) {
    case AdminError::bad_address: return "admin listen host is not an IP address";
    case AdminError::listen_failed: return "cannot listen on the admin address";
  }
  return "unknown admin error";
}

namespace {

HttpReply plain(int status, std::string body) { return HttpReply{status, "text/plain; charset=utf-8", std::move(body)}; }

class Connection;

}  // namespace

struct AdminServer::Impl {
  Impl(Routes r, AdminOptions o) : routes(std::move(r)), options(o) {}

  void accept_next();
  // Makes room for a newcomer from `remote` (connection_slots.h): true when it
  // may be served (a victim was closed if need be), false when refused (counted).
  bool admit(const tcp::endpoint& remote);
  void count_response(int status) {
    std::size_t slot = admin_counted_statuses.size();
    for (std::size_t i = 0; i < admin_counted_statuses.size(); ++i) {
      if (admin_counted_statuses[i] == status) slot = i;
    }
    responses[slot].fetch_add(1, std::memory_order_relaxed);
  }
  HttpReply dispatch(std::string_view head);

  const Routes routes;
  const AdminOptions options;
  std::array<std::atomic<std::uint64_t>, admin_counted_statuses.size() + 1> responses{};
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::uint64_t> connections_refused_address{0};
  std::atomic<std::uint64_t> connections_evicted_port{0};
  std::atomic<std::uint64_t> connections_evicted_address{0};
  std::atomic<std::uint64_t> request_timeouts{0};
  std::atomic<std::uint64_t> response_timeouts{0};
  // io thread only: live connections (closed at stop). Those not closed yet are
  // bounded by options.connections_max; a closed one leaves when its aborted
  // handlers have run (at once).
  std::set<Connection*> live;
  std::uint64_t next_id = 1;                // io thread
  std::vector<SlotHolder> slot_holders;     // io thread: admit()'s scratch, reserved at start
  std::uint16_t port = 0;
  std::mutex stop_mutex;
  bool stopped = false;
  std::thread thread;
  // Destroyed first, so handlers it still holds (and the connections they own)
  // go before the state above that they refer to; the I/O objects after it are
  // destroyed before it.
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_backoff{io};
};

namespace {

// One request: read the head (bounded, timed), answer, drain until the client
// closes (so the answer is not lost to a reset), close. Lives on the io thread.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(AdminServer::Impl& server, tcp::socket socket, AddressKey address)
      : server_(server), socket_(std::move(socket)), timer_(server.io), id_(server.next_id++), address_(address) {
    server_.live.insert(this);
    accepted_ = last_activity_ = std::chrono::steady_clock::now();
  }
  ~Connection() { server_.live.erase(this); }

  std::uint64_t id() const { return id_; }
  bool closed() const { return closed_; }
  // What the slot policy needs to know: busy while the response is written;
  // a draining connection has completed its one request.
  SlotHolder slot_holder() const {
    return SlotHolder{id_, address_, writing_, draining_, accepted_, last_activity_};
  }

  void start() {
    arm_timer(server_.options.read_timeout);
    read_head();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    timer_.cancel();
  }

 private:
  void arm_timer(std::chrono::milliseconds after) {
    timer_.expires_after(after);  // cancels a pending wait (its handler sees operation_aborted)
    timer_.async_wait([self = shared_from_this(), generation = ++timer_generation_](const asio::error_code& ec) {
      if (ec || generation != self->timer_generation_ || self->closed_) return;
      // The read deadline is the first-request deadline (one request per connection).
      if (self->writing_) self->server_.response_timeouts.fetch_add(1, std::memory_order_relaxed);
      if (!self->writing_ && !self->draining_) self->server_.request_timeouts.fetch_add(1, std::memory_order_relaxed);
      self->close();
    });
  }

  void read_head() {
    socket_.async_read_some(asio::buffer(head_.data() + used_, head_.size() - used_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                              self->on_read(ec, n);
                            });
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    if (closed_) return;
    if (ec) {  // the client went away before finishing its request: nothing to answer
      close();
      return;
    }
    used_ += n;
    KESTREL_ASSERT(used_ <= head_.size());
    const std::string_view received(head_.data(), used_);
    if (auto end = find_head_end(received)) {
      respond(server_.dispatch(received.substr(0, *end)));
    } else if (used_ == head_.size()) {
      respond(plain(431, "request head larger than " + std::to_string(limits::admin_request_bytes_max) + " bytes\n"));
    } else {
      read_head();
    }
  }

  void respond(const HttpReply& reply) {
    server_.count_response(reply.status);
    response_ = render_response(reply);
    arm_timer(server_.options.write_timeout);
    writing_ = true;
    asio::async_write(socket_, asio::buffer(response_), [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
      self->writing_ = false;
      self->last_activity_ = std::chrono::steady_clock::now();
      if (self->closed_) return;
      if (ec) {
        self->close();
        return;
      }
      // Half-close, then drain what the client still sends until it closes (or
      // the write deadline ends it): closing with unread input would reset the
      // connection and could destroy the answer before the client reads it.
      asio::error_code ignored;
      self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
      self->response_.clear();
      self->draining_ = true;
      self->drain();
    });
  }

  void drain() {
    socket_.async_read_some(asio::buffer(head_), [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
      if (self->closed_) return;
      if (ec) {
        self->close();
        return;
      }
      self->drain();
    });
  }

  AdminServer::Impl& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const std::uint64_t id_;
  const AddressKey address_;
  std::chrono::steady_clock::time_point accepted_{};
  std::chrono::steady_clock::time_point last_activity_{};  // the response written
  bool writing_ = false;
  std::uint64_t timer_generation_ = 0;
  std::array<char, limits::admin_request_bytes_max> head_{};
  std::size_t used_ = 0;
  std::string response_;
  bool closed_ = false;
  bool draining_ = false;
};

}  // namespace

HttpReply AdminServer::Impl::dispatch(std::string_view head) {
  auto request = parse_request_head(head);
  if (!request) {
    const int status = request.error() == HttpParseError::bad_version ? 505 : 400;
    return plain(status, std::string(describe(request.error())) + "\n");
  }
  if (request->method != "GET") return plain(405, "only GET is served\n");
  auto route = routes.find(request->path);
  if (route == routes.end()) return plain(404, "no such route; try /health /status /metrics /gates /stages\n");
  try {
    HttpReply reply = route->second();
    if (reply.status < 100 || reply.status > 599) return plain(500, "route returned an invalid status\n");
    return reply;
  } catch (const std::exception& e) {
    return plain(500, std::string("route failed: ") + e.what() + "\n");
  } catch (...) {
    return plain(500, "route failed\n");
  }
}

void AdminServer::Impl::accept_next() {
  acceptor.async_accept([this](const asio::error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;  // stopping
    if (!ec) {
      asio::error_code endpoint_ec;
      const tcp::endpoint remote = socket.remote_endpoint(endpoint_ec);
      if (endpoint_ec || !admit(remote)) {  // no endpoint: the peer is already gone
        asio::error_code ignored;
        socket.close(ignored);
      } else {
        connections_accepted.fetch_add(1, std::memory_order_relaxed);
        std::make_shared<Connection>(*this, std::move(socket), address_key(remote.address()))->start();
      }
    }
    if (!ec) {
      accept_next();
      return;
    }
    // Other accept errors (EMFILE, ECONNABORTED) pass: keep accepting after a
    // pause, so a descriptor shortage does not spin the thread.
    accept_backoff.expires_after(std::chrono::milliseconds(limits::admin_accept_backoff_ms));
    accept_backoff.async_wait([this](const asio::error_code& wait_ec) {
      if (!wait_ec && acceptor.is_open()) accept_next();
    });
  });
}

bool AdminServer::Impl::admit(const tcp::endpoint& remote) {
  slot_holders.clear();
  for (const Connection* c : live) {
    if (!c->closed()) slot_holders.push_back(c->slot_holder());
  }
  const SlotAdmission admission = admit_connection(slot_holders, address_key(remote.address()), options.connections_max,
                                                   std::min(options.connections_per_address_max, options.connections_max));
  switch (admission.verdict) {
    case SlotVerdict::accept: return true;
    case SlotVerdict::refuse_address_full:
      connections_refused_address.fetch_add(1, std::memory_order_relaxed);
      return false;
    case SlotVerdict::refuse_port_full: connections_refused.fetch_add(1, std::memory_order_relaxed); return false;
    case SlotVerdict::evict_for_address: connections_evicted_address.fetch_add(1, std::memory_order_relaxed); break;
    case SlotVerdict::evict_for_port: connections_evicted_port.fetch_add(1, std::memory_order_relaxed); break;
  }
  const auto victim = std::find_if(live.begin(), live.end(), [&](const Connection* c) { return c->id() == admission.victim; });
  KESTREL_ASSERT(victim != live.end() && !(*victim)->closed() && !(*victim)->slot_holder().busy);
  (*victim)->close();  // its aborted handlers release it
  return true;
}

Result<std::unique_ptr<AdminServer>, AdminError> AdminServer::start(const Endpoint& listen, Routes routes,
                                                                   AdminOptions options) {
  KESTREL_ASSERT(options.read_timeout.count() > 0 &&
                 options.read_timeout <= std::chrono::milliseconds(limits::admin_read_timeout_ms));
  KESTREL_ASSERT(options.write_timeout.count() > 0 &&
                 options.write_timeout <= std::chrono::milliseconds(limits::admin_write_timeout_ms));
  KESTREL_ASSERT(options.connections_max > 0 && options.connections_max <= limits::admin_connections_max);
  KESTREL_ASSERT(options.connections_per_address_max > 0 &&
                 options.connections_per_address_max <= limits::admin_connections_per_address_max);
  auto impl = std::make_unique<Impl>(std::move(routes), options);
  switch (net::open_listener(impl->acceptor, listen.host, listen.port)) {
    case net::ListenFailure::none: break;
    case net::ListenFailure::bad_address: return Err(AdminError::bad_address);
    case net::ListenFailure::bind_or_listen: return Err(AdminError::listen_failed);
  }
  impl->port = impl->acceptor.local_endpoint().port();
  impl->slot_holders.reserve(options.connections_max);
  impl->accept_next();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<AdminServer>(new AdminServer(std::move(impl)));
}

AdminServer::AdminServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  // From a route it would join its own thread.
  KESTREL_ASSERT(std::this_thread::get_id() != impl_->thread.get_id());
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->stopped) return;
  impl_->stopped = true;
  Impl* impl = impl_.get();
  asio::post(impl->io, [impl] {
    asio::error_code ignored;
    impl->acceptor.close(ignored);
    impl->accept_backoff.cancel();
    // Closing cancels each connection's operations; their handlers release them.
    std::vector<Connection*> open(impl->live.begin(), impl->live.end());
    for (Connection* c : open) c->close();
  });
  if (impl->thread.joinable()) impl->thread.join();
}

std::uint16_t AdminServer::port() const { return impl_->port; }

AdminCounters AdminServer::counters() const {
  AdminCounters out;
  for (std::size_t i = 0; i < out.responses.size(); ++i) out.responses[i] = impl_->responses[i].load(std::memory_order_relaxed);
  out.connections_accepted = impl_->connections_accepted.load(std::memory_order_relaxed);
  out.connections_refused = impl_->connections_refused.load(std::memory_order_relaxed);
  out.connections_refused_address = impl_->connections_refused_address.load(std::memory_order_relaxed);
  out.connections_evicted_port = impl_->connections_evicted_port.load(std::memory_order_relaxed);
  out.connections_evicted_address = impl_->connections_evicted_address.load(std::memory_order_relaxed);
  out.request_timeouts = impl_->request_timeouts.load(std::memory_order_relaxed);
  out.response_timeouts = impl_->response_timeouts.load(std::memory_order_relaxed);
  return out;
}

// --- Client ---------------------------------------------------------------------------

const char* describe(HttpClientError error) {
  switch (error) {
    case HttpClientError::resolve_failed: return "host name does not resolve";
    case HttpClientError::connect_failed: return "cannot connect (is the node running, is the admin address right?)";
    case HttpClientError::timeout: return "no complete answer within the timeout";
    case HttpClientError::too_large: return "response larger than the client accepts";
    case HttpClientError::malformed_response: return "not a well-formed HTTP/1.x response";
    case HttpClientError::io: return "connection broke";
  }
  return "unknown HTTP client error";
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<HttpResponse, HttpClientError> parse_response(std::string_view raw) {
  const auto head_end = find_head_end(raw);
  if (!head_end) return Err(HttpClientError::malformed_response);
  std::string_view rest = raw.substr(0, *head_end);
  const std::string_view status_line = take_line(rest);
  // "HTTP/1.x NNN reason"
  if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ') {
    return Err(HttpClientError::malformed_response);
  }
  HttpResponse out;
  const char* digits = status_line.data() + 9;
  auto [end, ec] = std::from_chars(digits, digits + 3, out.status);
  if (ec != std::errc() || end != digits + 3 || out.status < 100 || out.status > 599) {
    return Err(HttpClientError::malformed_response);
  }
  std::optional<std::size_t> content_length;
  while (!rest.empty()) {
    const std::string_view field = take_line(rest);
    if (field.empty()) break;
    const auto colon = field.find(':');
    if (colon == std::string_view::npos) return Err(HttpClientError::malformed_response);
    const std::string_view name = field.substr(0, colon);
    const std::string_view value = trim(field.substr(colon + 1));
    if (iequals(name, "content-type")) {
      out.content_type = std::string(value);
    } else if (iequals(name, "content-length")) {
      std::size_t length = 0;
      auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), length);
      if (e != std::errc() || p != value.data() + value.size()) return Err(HttpClientError::malformed_response);
      content_length = length;
    } else if (iequals(name, "transfer-encoding")) {
      return Err(HttpClientError::malformed_response);  // chunked: never sent by the admin server
    }
  }
  const std::string_view body = raw.substr(*head_end);
  if (content_length) {
    if (body.size() < *content_length) return Err(HttpClientError::malformed_response);  // cut short
    out.body = std::string(body.substr(0, *content_length));
  } else {
    out.body = std::string(body);  // delimited by the close
  }
  return out;
}

Result<HttpResponse, HttpClientError> http_get(const Endpoint& server, std::string_view path,
                                               std::chrono::milliseconds timeout, std::size_t response_bytes_max) {
  KESTREL_ASSERT(!path.empty() && path.front() == '/');
  asio::io_context io(1);
  tcp::resolver resolver(io);
  tcp::socket socket(io);
  asio::steady_timer deadline(io);
  std::optional<HttpClientError> failure;
  bool done = false;
  const std::string host_header =
      (server.host.find(':') != std::string::npos ? "[" + server.host + "]" : server.host) + ":" +
      std::to_string(server.port);
  const std::string request = "GET " + std::string(path) + " HTTP/1.1\r\nHost: " + host_header +
                              "\r\nUser-Agent: kestrel-status\r\nAccept: */*\r\nConnection: close\r\n\r\n";
  std::string received;
  std::array<char, 16 * 1024> chunk{};

  auto finish = [&](std::optional<HttpClientError> error) {
    if (done) return;
    done = true;
    failure = error;
    asio::error_code ignored;
    deadline.cancel();
    resolver.cancel();
    socket.close(ignored);
  };
  std::function<void()> read_more = [&] {
    socket.async_read_some(asio::buffer(chunk), [&](const asio::error_code& ec, std::size_t n) {
      if (done) return;
      if (ec == asio::error::eof) return finish(std::nullopt);
      if (ec) return finish(HttpClientError::io);
      // The head of a response is small; the bound is on the whole.
      if (received.size() + n > response_bytes_max + limits::admin_request_bytes_max) {
        return finish(HttpClientError::too_large);
      }
      received.append(chunk.data(), n);
      read_more();
    });
  };

  deadline.expires_after(timeout);
  deadline.async_wait([&](const asio::error_code& ec) {
    if (!ec) finish(HttpClientError::timeout);
  });
  resolver.async_resolve(server.host, std::to_string(server.port),
                         [&](const asio::error_code& ec, const tcp::resolver::results_type& results) {
                           if (done) return;
                           if (ec) return finish(HttpClientError::resolve_failed);
                           asio::async_connect(socket, results, [&](const asio::error_code& cec, const tcp::endpoint&) {
                             if (done) return;
                             if (cec) return finish(HttpClientError::connect_failed);
                             asio::async_write(socket, asio::buffer(request),
                                               [&](const asio::error_code& wec, std::size_t) {
                                                 if (done) return;
                                                 if (wec) return finish(HttpClientError::io);
                                                 read_more();
                                               });
                           });
                         });
  io.run();
  if (failure) return Err(*failure);
  auto response = parse_response(received);
  if (response && response->body.size() > response_bytes_max) return Err(HttpClientError::too_large);
  return response;
}

std::optional<Endpoint> parse_host_port(std::string_view text) {
  Endpoint out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    out.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
  }
  if (out.host.empty() || port_text.empty()) return std::nullopt;
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) return std::nullopt;
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

}  // namespace kestrel::node
