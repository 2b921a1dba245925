// Admin HTTP server and client, NodeMetrics, and the Grafana dashboard's
// metric names.
#include <gtest/gtest.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "crypto/parallel_verify.h"
#include "node/admin_http.h"
#include "node/config.h"
#include "node/node_metrics.h"
#include "perf/stages.h"

namespace kestrel::node {
namespace {

using namespace std::chrono_literals;
using asio::ip::tcp;

// --- Parsing --------------------------------------------------------------------------

TEST(HttpParseTest, HeadEnd) {
  EXPECT_FALSE(find_head_end("GET / HTTP/1.1\r\nHost: x\r\n"));
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\n\r\n"), 18u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\n\nrest"), 16u);
  EXPECT_EQ(find_head_end("A\r\n\r\nB\n\n"), 5u);
}

TEST(HttpParseTest, RequestHeads) {
  auto ok = parse_request_head("GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9\r\nAccept: */*\r\n\r\n");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->method, "GET");
  EXPECT_EQ(ok->path, "/metrics");
  EXPECT_EQ(parse_request_head("POST /x HTTP/1.0\n\n")->method, "POST");
  EXPECT_EQ(parse_request_head("GET /a#frag HTTP/1.1\r\n\r\n")->path, "/a");

  for (const char* bad : {"", "GET\r\n\r\n", "GET /\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "GET / HTTP/1.1 x\r\n\r\n",
                          "GET x HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n", "GET /\x01 HTTP/1.1\r\n\r\n",
                          "GET / FTP/1.1\r\n\r\n", "GET / HTTP/1.10\r\n\r\n"}) {
    EXPECT_EQ(parse_request_head(bad).error(), HttpParseError::bad_request_line) << bad;
  }
  EXPECT_EQ(parse_request_head("GET / HTTP/2.0\r\n\r\n").error(), HttpParseError::bad_version);
  EXPECT_EQ(parse_request_head("GET / HTTP/0.9\r\n\r\n").error(), HttpParseError::bad_version);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\nno colon\r\n\r\n").error(), HttpParseError::bad_header);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\n: empty name\r\n\r\n").error(), HttpParseError::bad_header);
  EXPECT_EQ(parse_request_head("GET / HTTP/1.1\r\n folded: x\r\n\r\n").error(), HttpParseError::bad_header);
  EXPECT_EQ(parse_request_head(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27)).error(), HttpParseError::bad_header);
}

TEST(HttpParseTest, ResponsesRoundTrip) {
  const std::string raw = render_response({200, std::string(prometheus_content_type), "a b\n"});
  EXPECT_EQ(raw.substr(0, 17), "HTTP/1.1 200 OK\r\n");
  EXPECT_NE(raw.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(raw.find("\r\nContent-Length: 4\r\n"), std::string::npos);
  auto back = parse_response(raw);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->status, 200);
  EXPECT_EQ(back->content_type, prometheus_content_type);
  EXPECT_EQ(back->body, "a b\n");
  EXPECT_NE(render_response({405, "text/plain", ""}).find("\r\nAllow: GET\r\n"), std::string::npos);

  EXPECT_EQ(parse_response(raw.substr(0, raw.size() - 1)).error(), HttpClientError::malformed_response);  // cut short
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\n").error(), HttpClientError::malformed_response);
  EXPECT_EQ(parse_response("HTTP/1.1 2x0 OK\r\n\r\n").error(), HttpClientError::malformed_response);
  EXPECT_EQ(parse_response("HTTP/2 200 OK\r\n\r\n").error(), HttpClientError::malformed_response);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").error(),
            HttpClientError::malformed_response);
  EXPECT_EQ(parse_response("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").error(), HttpClientError::malformed_response);
  auto no_length = parse_response("HTTP/1.0 503 Busy\r\n\r\nclosed-delimited");
  ASSERT_TRUE(no_length.ok());
  EXPECT_EQ(no_length->status, 503);
  EXPECT_EQ(no_length->body, "closed-delimited");
}

TEST(HttpParseTest, HostPort) {
  auto a = parse_host_port("127.0.0.1:9102");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9102);
  auto b = parse_host_port("[::1]:80");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->host, "::1");
  EXPECT_EQ(parse_host_port("localhost:1")->host, "localhost");
  for (const char* bad : {"", "x", ":80", "host:", "host:0", "host:65536", "host:8x", "::1:80", "[::1]80", "[::1]:"}) {
    EXPECT_FALSE(parse_host_port(bad)) << bad;
  }
}

// --- Server ---------------------------------------------------------------------------

// A raw client for what http_get would never send. Blocking; every read ends
// because the server closes (it answers once, and times out silent clients).
class RawClient {
 public:
  // From `source`: any 127.x.y.z address is loopback; the server tells sources apart.
  explicit RawClient(std::uint16_t port, const char* source = "127.0.0.1") : socket_(io_) {
    socket_.open(tcp::v4());
    socket_.bind(tcp::endpoint(asio::ip::make_address(source), 0));
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // True when the server closed the connection within `wait` (EOF or reset);
  // false when it is still open then. Reads nothing the server sent.
  bool closed_within(std::chrono::milliseconds wait) {
    pollfd p{socket_.native_handle(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
    char byte = 0;
    return ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  }
  void send(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes.data(), bytes.size())); }
  // Everything until the server closes.
  std::string read_all() {
    std::string out;
    std::array<char, 4096> chunk{};
    for (;;) {
      asio::error_code ec;
      const std::size_t n = socket_.read_some(asio::buffer(chunk), ec);
      out.append(chunk.data(), n);
      if (ec) return out;
    }
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
};

Routes test_routes() {
  Routes routes;
  routes["/health"] = [] { return HttpReply{200, "text/plain; charset=utf-8", "ok\n"}; };
  routes["/metrics"] = [] { return HttpReply{200, std::string(prometheus_content_type), "kestrel_x 1\n"}; };
  routes["/throws"] = []() -> HttpReply { throw std::runtime_error("boom"); };
  routes["/bad_status"] = [] { return HttpReply{42, "text/plain", ""}; };
  // Far more than loopback socket buffers hold: its write stays in progress
  // while the client does not read.
  routes["/large"] = [] { return HttpReply{200, "text/plain", std::string(32 * 1024 * 1024, 'x')}; };
  return routes;
}

const Endpoint loopback{"127.0.0.1", 0};

std::unique_ptr<AdminServer> start_server(AdminOptions options = {}) {
  auto server = AdminServer::start(loopback, test_routes(), options);
  KESTREL_ASSERT(server.ok());
  return std::move(server).value();
}

int status_of(const std::string& raw) {
  auto response = parse_response(raw);
  return response ? response->status : -1;
}

TEST(AdminServerTest, EveryStatusCode) {
  auto server = start_server();
  const Endpoint at{"127.0.0.1", server->port()};
  auto health = http_get(at, "/health");
  ASSERT_TRUE(health.ok()) << describe(health.error());
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body, "ok\n");
  auto metrics = http_get(at, "/metrics?ignored=1");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->content_type, prometheus_content_type);
  EXPECT_EQ(http_get(at, "/nope")->status, 404);
  EXPECT_EQ(http_get(at, "/throws")->status, 500);
  EXPECT_EQ(http_get(at, "/bad_status")->status, 500);

  auto raw = [&](std::string_view request) {
    RawClient client(server->port());
    client.send(request);
    return client.read_all();
  };
  EXPECT_EQ(status_of(raw("POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")), 405);
  EXPECT_EQ(status_of(raw("HEAD /health HTTP/1.1\r\n\r\n")), 405);
  EXPECT_EQ(status_of(raw("GET /health HTTP/2.0\r\n\r\n")), 505);
  using namespace std::string_view_literals;
  EXPECT_EQ(status_of(raw("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"sv)), 400);  // TLS hello
  EXPECT_EQ(status_of(raw("GET /health HTTP/1.1\r\nbroken\r\n\r\n")), 400);
  // Bare LF line ends are accepted (RFC 9112 section 2.2).
  EXPECT_EQ(status_of(raw("GET /health HTTP/1.0\n\n")), 200);

  const AdminCounters c = server->counters();
  EXPECT_EQ(c.responses_for(200), 3u);
  EXPECT_EQ(c.responses_for(404), 1u);
  EXPECT_EQ(c.responses_for(405), 2u);
  EXPECT_EQ(c.responses_for(500), 2u);
  EXPECT_EQ(c.responses_for(505), 1u);
  EXPECT_EQ(c.responses_for(400), 2u);
  EXPECT_EQ(c.bad_requests(), 3u);
  EXPECT_EQ(c.connections_accepted, 11u);  // 5 through http_get, 6 raw
  EXPECT_EQ(c.connections_refused, 0u);
}

TEST(AdminServerTest, OversizedHeadIs431AndClosed) {
  auto server = start_server();
  RawClient client(server->port());
  // More than the bound and no blank line; the server answers after the bound
  // and drains the rest (the client may keep sending) until we stop.
  const std::string head = "GET /health HTTP/1.1\r\nX-Filler: " + std::string(limits::admin_request_bytes_max, 'a');
  client.send(head);
  const std::string answer = client.read_all();
  EXPECT_EQ(status_of(answer), 431);
  EXPECT_EQ(server->counters().responses_for(431), 1u);
  // Exactly at the bound with the blank line inside it: served.
  std::string fitting = "GET /health HTTP/1.1\r\nX-Filler: ";
  fitting += std::string(limits::admin_request_bytes_max - fitting.size() - 4, 'b') + "\r\n\r\n";
  ASSERT_EQ(fitting.size(), limits::admin_request_bytes_max);
  RawClient fits(server->port());
  fits.send(fitting);
  EXPECT_EQ(status_of(fits.read_all()), 200);
}

TEST(AdminServerTest, SlowAndGarbageClientsDoNotBlockOthers) {
  AdminOptions options;
  options.read_timeout = 300ms;
  auto server = start_server(options);
  const Endpoint at{"127.0.0.1", server->port()};
  // A client that sends half a request and stalls, one that sends garbage and
  // stalls (no blank line), and one that connects and says nothing.
  RawClient slow(server->port());
  slow.send("GET /hea");
  RawClient garbage(server->port());
  garbage.send(std::string(100, '\xff'));
  RawClient silent(server->port());
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5; ++i) {
    auto reply = http_get(at, "/health", 2s);
    ASSERT_TRUE(reply.ok()) << describe(reply.error());
    EXPECT_EQ(reply->status, 200);
  }
  // Served while the three were pending (well before their timeout).
  EXPECT_LT(std::chrono::steady_clock::now() - start, options.read_timeout);
  // The stalled ones are closed by the read timeout, without an answer.
  EXPECT_EQ(slow.read_all(), "");
  EXPECT_EQ(garbage.read_all(), "");
  EXPECT_EQ(silent.read_all(), "");
  EXPECT_EQ(server->counters().request_timeouts, 3u);
  EXPECT_EQ(server->counters().response_timeouts, 0u);
}

// Bounded without refusing: a newcomer on a full port takes the slot of the
// connection that has waited longest without a request.
TEST(AdminServerTest, FullPortEvictsTheOldestSilentConnection) {
  AdminOptions options;
  options.connections_max = 2;
  auto server = start_server(options);
  RawClient a(server->port(), "127.0.0.2");
  RawClient b(server->port(), "127.0.0.3");
  RawClient c(server->port(), "127.0.0.4");
  EXPECT_TRUE(a.closed_within(1s));  // long before the read timeout
  EXPECT_FALSE(b.closed_within(0ms));
  c.send("GET /health HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(c.read_all()), 200);
  const AdminCounters counters = server->counters();
  EXPECT_EQ(counters.connections_evicted_port, 1u);
  EXPECT_EQ(counters.connections_refused, 0u);
  EXPECT_EQ(counters.connections_accepted, 3u);
}

// A connection whose response is being written (a client taking its answer) is
// never evicted: with nothing else to take, the newcomer is refused.
TEST(AdminServerTest, ConnectionWritingItsResponseIsNotEvicted) {
  AdminOptions options;
  options.connections_max = 1;
  auto server = start_server(options);
  RawClient reader(server->port(), "127.0.0.2");
  reader.send("GET /large HTTP/1.1\r\n\r\n");  // and does not read yet
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (server->counters().responses_for(200) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(server->counters().responses_for(200), 1u);
  RawClient newcomer(server->port(), "127.0.0.3");
  EXPECT_TRUE(newcomer.closed_within(1s));
  EXPECT_EQ(server->counters().connections_refused, 1u);
  EXPECT_EQ(server->counters().connections_evicted_port, 0u);
  auto reply = parse_response(reader.read_all());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->body.size(), 32u * 1024 * 1024);
}

TEST(AdminServerTest, OneAddressIsCappedOthersStillGetIn) {
  AdminOptions options;
  options.connections_per_address_max = 2;
  auto server = start_server(options);
  RawClient first(server->port(), "127.0.0.2");
  RawClient second(server->port(), "127.0.0.2");
  RawClient third(server->port(), "127.0.0.2");  // over the share: displaces `first`
  EXPECT_TRUE(first.closed_within(1s));
  EXPECT_FALSE(second.closed_within(0ms));
  EXPECT_FALSE(third.closed_within(0ms));
  EXPECT_EQ(server->counters().connections_evicted_address, 1u);
  auto reply = http_get({"127.0.0.1", server->port()}, "/health", 2s);  // another address
  ASSERT_TRUE(reply.ok()) << describe(reply.error());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(server->counters().connections_evicted_port, 0u);
}

TEST(AdminServerTest, FirstRequestDeadlineClosesSilentConnections) {
  AdminOptions options;
  options.read_timeout = 200ms;
  auto server = start_server(options);
  RawClient silent(server->port());
  EXPECT_FALSE(silent.closed_within(50ms));
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_EQ(server->counters().request_timeouts, 1u);
}

// More silent and half-open connections than the port holds, from several
// addresses and from the monitor's own: /health still answers while all are
// held (well within the first-request deadline that would free them anyway).
TEST(AdminServerTest, IdleAndHalfOpenFloodDoesNotHideHealth) {
  auto server = start_server();  // the real bounds: 16 per port, 8 per address
  const auto start_time = std::chrono::steady_clock::now();
  std::vector<std::unique_ptr<RawClient>> flood;
  for (const char* source : {"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    for (int i = 0; i < 10; ++i) {  // 40 in all
      flood.push_back(std::make_unique<RawClient>(server->port(), source));
      if (i % 2 == 1) flood.back()->send("GET /hea");
    }
  }
  const auto deadline = start_time + 5s;
  while (server->counters().connections_accepted < flood.size() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(server->counters().connections_accepted, flood.size());
  for (const char* source : {"127.0.0.1", "127.0.0.5"}) {  // the flood's own address, and a fresh one
    RawClient monitor(server->port(), source);
    monitor.send("GET /health HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_of(monitor.read_all()), 200) << source;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, std::chrono::milliseconds(limits::admin_read_timeout_ms));
  const AdminCounters c = server->counters();
  EXPECT_EQ(c.connections_refused + c.connections_refused_address, 0u);
  EXPECT_EQ(c.request_timeouts, 0u);
  EXPECT_GT(c.connections_evicted_port + c.connections_evicted_address, 40u - limits::admin_connections_max);
}

TEST(AdminServerTest, ManyConcurrentClients) {
  auto server = start_server();
  const Endpoint at{"127.0.0.1", server->port()};
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        auto reply = http_get(at, "/metrics", 5s);
        if (reply && reply->status == 200 && reply->body == "kestrel_x 1\n") ++ok;
      }
    });
  }
  for (auto& c : clients) c.join();
  // Four clients never exceed the bound of 16, so nothing is refused.
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(server->counters().connections_refused, 0u);
}

TEST(AdminServerTest, StartErrorsAndStop) {
  EXPECT_EQ(AdminServer::start({"not-an-ip", 0}, {}).error(), AdminError::bad_address);
  auto server = start_server();
  // The port is taken (SO_REUSEADDR does not allow two listeners).
  EXPECT_EQ(AdminServer::start({"127.0.0.1", server->port()}, {}).error(), AdminError::listen_failed);
  const std::uint16_t port = server->port();
  RawClient pending(port);  // an open connection does not hold stop()
  server->stop();
  server->stop();  // idempotent
  EXPECT_EQ(pending.read_all(), "");
  auto after = http_get({"127.0.0.1", port}, "/health", 1s);
  EXPECT_FALSE(after.ok());
}

TEST(AdminClientTest, ErrorsAreValues) {
  // Nothing listens on a port we just released.
  std::uint16_t port = 0;
  {
    auto server = start_server();
    port = server->port();
  }
  EXPECT_EQ(http_get({"127.0.0.1", port}, "/health", 2s).error(), HttpClientError::connect_failed);
  EXPECT_EQ(http_get({"no-such-host.invalid", 80}, "/", 5s).error(), HttpClientError::resolve_failed);
  // A response above the client's bound.
  Routes routes;
  routes["/big"] = [] { return HttpReply{200, "text/plain", std::string(100000, 'x')}; };
  auto server = AdminServer::start(loopback, routes);
  ASSERT_TRUE(server.ok());
  const Endpoint at{"127.0.0.1", (*server)->port()};
  EXPECT_EQ(http_get(at, "/big", 2s, 1000).error(), HttpClientError::too_large);
  EXPECT_EQ(http_get(at, "/big", 2s)->body.size(), 100000u);
  // A server that never answers: the client's timeout.
  asio::io_context io;
  tcp::acceptor mute(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(http_get({"127.0.0.1", mute.local_endpoint().port()}, "/", 200ms).error(), HttpClientError::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
}

// --- NodeMetrics ----------------------------------------------------------------------

// The value of one series in Prometheus text, or -1 when absent.
double series_value(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return -1;
}

// (std::regex trips a GCC 12 -Wmaybe-uninitialized false positive in the ASan build.)
bool is_identifier(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// The quoted label values of a sample line.
std::vector<std::string> label_values(const std::string& line) {
  std::vector<std::string> out;
  for (auto at = line.find("=\""); at != std::string::npos; at = line.find("=\"", at + 1)) {
    const auto end = line.find('"', at + 2);
    if (end == std::string::npos) break;
    out.push_back(line.substr(at + 2, end - at - 2));
    at = end;
  }
  return out;
}

// Every kestrel_[a-z0-9_]+ token in a query.
std::vector<std::string> metric_names(const std::string& expr) {
  std::vector<std::string> out;
  for (auto at = expr.find("kestrel_"); at != std::string::npos; at = expr.find("kestrel_", at + 1)) {
    if (at > 0 && is_identifier(expr.substr(at - 1, 1))) continue;  // inside another word
    auto end = at;
    while (end < expr.size() && is_identifier(expr.substr(end, 1))) ++end;
    out.push_back(expr.substr(at, end - at));
    at = end - 1;
  }
  return out;
}

// Family names declared by # TYPE lines, with their types.
std::map<std::string, std::string> families(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    const auto space = line.find(' ', 7);
    const std::string name = line.substr(7, space - 7);
    EXPECT_TRUE(out.emplace(name, line.substr(space + 1)).second) << "duplicate family " << name;
  }
  return out;
}

TEST(NodeMetricsTest, RefreshAddsDeltas) {
  perf::Registry registry;
  NodeMetrics metrics(registry);
  hotstuff2::Counters c;
  c.votes_sent = 5;
  c.commits = 2;
  c.dropped[static_cast<std::size_t>(hotstuff2::Drop::stale_view)] = 3;
  metrics.refresh(c, 7, 4);
  std::string text = registry.prometheus_text();
  EXPECT_EQ(series_value(text, "kestrel_consensus_messages_sent_total{type=\"vote\"}"), 5);
  EXPECT_EQ(series_value(text, "kestrel_consensus_commits_total"), 2);
  EXPECT_EQ(series_value(text, "kestrel_consensus_dropped_total{reason=\"stale_view\"}"), 3);
  EXPECT_EQ(series_value(text, "kestrel_consensus_dropped_total{reason=\"vote_rule\"}"), 0);
  EXPECT_EQ(series_value(text, "kestrel_consensus_view"), 7);
  EXPECT_EQ(series_value(text, "kestrel_consensus_committed_height"), 4);

  c.votes_sent = 12;
  c.commits = 2;
  c.dropped[static_cast<std::size_t>(hotstuff2::Drop::stale_view)] = 4;
  metrics.refresh(c, 9, 6);
  text = registry.prometheus_text();
  EXPECT_EQ(series_value(text, "kestrel_consensus_messages_sent_total{type=\"vote\"}"), 12);
  EXPECT_EQ(series_value(text, "kestrel_consensus_commits_total"), 2);
  EXPECT_EQ(series_value(text, "kestrel_consensus_dropped_total{reason=\"stale_view\"}"), 4);
  EXPECT_EQ(series_value(text, "kestrel_consensus_view"), 9);

  // A restarted source (a new core after a crash-restart) counts from zero again:
  // the exported counter never goes down.
  hotstuff2::Counters restarted;
  restarted.votes_sent = 3;
  metrics.refresh(restarted, 10, 6);
  EXPECT_EQ(series_value(registry.prometheus_text(), "kestrel_consensus_messages_sent_total{type=\"vote\"}"), 15);
}

TEST(NodeMetricsTest, CounterDeltaHelper) {
  perf::Counter counter;
  CounterDelta d(&counter);
  EXPECT_EQ(d.update(10), 10u);
  EXPECT_EQ(d.update(10), 0u);
  EXPECT_EQ(d.update(25), 15u);
  EXPECT_EQ(d.update(4), 4u);  // went backwards: restarted
  EXPECT_EQ(counter.value(), 29u);
}

TEST(NodeMetricsTest, NetworkStorageCryptoMempoolAdmin) {
  perf::Registry registry;
  NodeMetrics metrics(registry);
  net::NetCounters n;
  n.bytes_sent = 1000;
  n.frames_sent = 4;
  n.messages_sent = 10;
  n.frames_received = 0;
  n.sessions_established = 3;
  n.sessions_closed = 1;
  n.handshake_failures[static_cast<std::size_t>(net::HandshakeFailure::bad_signature)] = 2;
  n.frames_rejected_authentication = 1;
  n.buffer_pool_hits = 9;
  metrics.refresh(n);
  n.frames_sent = 6;
  n.messages_sent = 20;  // 10 messages in 2 frames this interval
  metrics.refresh(n);
  storage::Counters s;
  s.synced_writes = 8;
  s.block_cache_misses = 2;
  metrics.refresh(s);
  crypto::VerifyCache cache(16);
  metrics.refresh(cache);
  metrics.observe_verify_batch(10, 1);
  metrics.count_verification(false);
  metrics.count_received(hotstuff2::MessageType::vote);
  metrics.observe_block_executed(50, 2'000'000);
  metrics.commit_latency->observe(3'000'000);
  crypto::ParallelVerifier verifier(1);
  mempool::Mempool pool({.chain_id = 1}, verifier, [](const execution::AccountId&) { return std::uint64_t{0}; });
  const Bytes junk{1, 2, 3};
  const ByteSpan one[] = {ByteSpan(junk)};
  ASSERT_FALSE(pool.admit(one)[0].ok());
  metrics.refresh(pool);
  AdminCounters admin;
  admin.responses[0] = 5;  // 200
  admin.responses.back() = 1;
  admin.connections_refused = 2;
  metrics.refresh(admin);

  const std::string t = registry.prometheus_text();
  EXPECT_EQ(series_value(t, "kestrel_net_bytes_total{direction=\"sent\"}"), 1000);
  EXPECT_EQ(series_value(t, "kestrel_net_frames_total{direction=\"sent\"}"), 6);
  EXPECT_EQ(series_value(t, "kestrel_net_messages_per_frame{direction=\"sent\"}"), 5);
  EXPECT_EQ(series_value(t, "kestrel_net_messages_per_frame{direction=\"received\"}"), 0);
  EXPECT_EQ(series_value(t, "kestrel_net_sessions"), 2);
  EXPECT_EQ(series_value(t, "kestrel_net_handshakes_total{result=\"established\"}"), 3);
  EXPECT_EQ(series_value(t, "kestrel_net_handshakes_total{result=\"bad_signature\"}"), 2);
  EXPECT_EQ(series_value(t, "kestrel_net_frames_rejected_total{reason=\"authentication\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_net_buffer_pool_total{result=\"hit\"}"), 9);
  EXPECT_EQ(series_value(t, "kestrel_storage_synced_writes_total"), 8);
  EXPECT_EQ(series_value(t, "kestrel_storage_block_cache_total{result=\"miss\"}"), 2);
  EXPECT_EQ(series_value(t, "kestrel_crypto_verifications_total{path=\"batch\"}"), 10);
  EXPECT_EQ(series_value(t, "kestrel_crypto_verifications_total{path=\"single\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_crypto_verification_failures_total"), 2);
  EXPECT_EQ(series_value(t, "kestrel_crypto_verify_batch_size_count"), 1);
  EXPECT_EQ(series_value(t, "kestrel_crypto_verify_cache_entries"), 0);
  EXPECT_EQ(series_value(t, "kestrel_consensus_messages_received_total{type=\"vote\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_execution_blocks_total"), 1);
  EXPECT_EQ(series_value(t, "kestrel_execution_transactions_total"), 50);
  EXPECT_EQ(series_value(t, "kestrel_execution_block_seconds_sum"), 0.002);
  EXPECT_EQ(series_value(t, "kestrel_consensus_commit_latency_seconds_count"), 1);
  EXPECT_EQ(series_value(t, "kestrel_mempool_refused_total{reason=\"bad_encoding\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_mempool_transactions"), 0);
  EXPECT_EQ(series_value(t, "kestrel_admin_responses_total{status=\"200\"}"), 5);
  EXPECT_EQ(series_value(t, "kestrel_admin_responses_total{status=\"other\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_admin_connections_total{result=\"refused\"}"), 2);
  EXPECT_GT(series_value(t, "kestrel_process_resident_memory_bytes"), 0);
}

TEST(NodeMetricsTest, ClientServerCountersAndTunerDecisions) {
  perf::Registry registry;
  NodeMetrics metrics(registry);
  ClientServerCounters c;
  c.connections_accepted = 5;
  c.connections_refused = 1;
  c.connections_open = 3;
  c.requests_wait_receipt = 7;
  c.requests_submit_raw = 2;
  c.malformed_frames = 3;
  c.bytes_in = 100;
  c.bytes_out = 40;
  metrics.refresh(c);
  c.malformed_frames = 4;  // grows by one
  c.connections_open = 2;
  metrics.refresh(c);
  std::string t = registry.prometheus_text();
  EXPECT_EQ(series_value(t, "kestrel_client_connections_total{result=\"accepted\"}"), 5);
  EXPECT_EQ(series_value(t, "kestrel_client_connections_total{result=\"refused\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_client_connections"), 2);
  EXPECT_EQ(series_value(t, "kestrel_client_requests_total{type=\"wait_receipt\"}"), 7);
  EXPECT_EQ(series_value(t, "kestrel_client_requests_total{type=\"submit_raw\"}"), 2);
  EXPECT_EQ(series_value(t, "kestrel_client_requests_total{type=\"submit\"}"), 0);
  EXPECT_EQ(series_value(t, "kestrel_client_malformed_frames_total"), 4);
  EXPECT_EQ(series_value(t, "kestrel_client_bytes_total{direction=\"in\"}"), 100);
  EXPECT_EQ(series_value(t, "kestrel_client_bytes_total{direction=\"out\"}"), 40);

  perf::TunerDecision d;
  d.move = perf::TunerMove::flush_up;
  d.batch_transactions = 384;
  d.flush_delay_us = 3'000;
  metrics.tuner.record(d);
  t = registry.prometheus_text();
  EXPECT_EQ(series_value(t, "kestrel_tuner_batch_size"), 384);
  EXPECT_DOUBLE_EQ(series_value(t, "kestrel_tuner_flush_delay_seconds"), 0.003);
  EXPECT_EQ(series_value(t, "kestrel_tuner_decisions_total{direction=\"flush_up\"}"), 1);
  EXPECT_EQ(series_value(t, "kestrel_tuner_decisions_total{direction=\"hold\"}"), 0);
}

TEST(NodeMetricsTest, FamiliesAreUniqueNamedAndBounded) {
  perf::Registry registry;
  NodeMetrics metrics(registry);
  metrics.stages.record(perf::Stage::execution, 1, 1);
  const std::string text = registry.prometheus_text();
  const auto declared = families(text);  // also fails on a duplicate family
  EXPECT_GT(declared.size(), 50u);
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    // Every sample belongs to a declared family (histograms add _bucket/_sum/_count).
    std::string name = line.substr(0, line.find_first_of("{ "));
    if (!declared.count(name)) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
          name.resize(name.size() - s.size());
          break;
        }
      }
    }
    ASSERT_TRUE(declared.count(name)) << line;
    // Label values are identifiers (bounded, from enums), except `le`.
    for (const std::string& value : label_values(line)) {
      if (line.find("le=\"" + value + "\"") != std::string::npos) continue;
      EXPECT_TRUE(is_identifier(value)) << line;
    }
  }
  // A few hundred series: far below the registry bound.
  EXPECT_LT(registry.series(), limits::metric_series_max / 4);
}

// --- The Grafana dashboard and the bottleneck advice against what exists -------------

TEST(DashboardTest, EveryReferencedMetricIsRegistered) {
  std::ifstream file(std::string(KESTREL_SOURCE_DIR) + "/deploy/grafana/kestrel.json");
  ASSERT_TRUE(file) << "deploy/grafana/kestrel.json";
  const nlohmann::json dashboard = nlohmann::json::parse(file, nullptr, false);
  ASSERT_FALSE(dashboard.is_discarded()) << "not JSON";
  EXPECT_GE(dashboard.value("schemaVersion", 0), 36);
  ASSERT_TRUE(dashboard.contains("panels"));

  perf::Registry registry;
  NodeMetrics metrics(registry);
  const auto declared = families(registry.prometheus_text());

  std::set<std::string> referenced;
  std::size_t exprs = 0;
  for (const auto& panel : dashboard["panels"]) {
    if (!panel.contains("targets")) continue;
    for (const auto& target : panel["targets"]) {
      const std::string expr = target.value("expr", "");
      ASSERT_FALSE(expr.empty()) << panel.value("title", "?");
      ++exprs;
      for (const std::string& name : metric_names(expr)) referenced.insert(name);
    }
  }
  EXPECT_GE(exprs, 15u);
  EXPECT_GE(referenced.size(), 30u);  // the scan found names at all
  for (std::string name : referenced) {
    const std::string original = name;
    if (!declared.count(name)) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        const std::string s = suffix;
        if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
          name.resize(name.size() - s.size());
          break;
        }
      }
      // Only histograms have those suffixes.
      if (name != original) {
        EXPECT_EQ(declared.count(name) ? declared.at(name) : "", "histogram") << original;
      }
    }
    EXPECT_TRUE(declared.count(name)) << original << " is not registered by NodeMetrics";
  }
}

TEST(DocsTest, EveryFamilyIsDocumented) {
  std::ifstream file(std::string(KESTREL_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(file) << "docs/metrics.md";
  const std::string docs((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  perf::Registry registry;
  NodeMetrics metrics(registry);
  for (const auto& [name, type] : families(registry.prometheus_text())) {
    EXPECT_NE(docs.find("| `" + name + "` | " + type + " |"), std::string::npos) << name << " (" << type << ")";
  }
}

TEST(BottleneckAdviceTest, ConfigKeysExist) {
  // Every config key the bottleneck report suggests is a key of the node config.
  std::set<std::string> keys;
  std::istringstream lines(render_config(NodeConfig{}));
  std::string line, section;
  while (std::getline(lines, line)) {
    if (line.size() > 2 && line.front() == '[' && line[1] != '[') section = line.substr(1, line.size() - 2);
    const auto eq = line.find(" = ");
    if (eq != std::string::npos) keys.insert(section + "." + line.substr(0, eq));
  }
  ASSERT_TRUE(keys.count("consensus.propose_wait_ms"));
  for (const auto& advice : perf::stage_advice_table()) {
    for (auto key : advice.config_keys) EXPECT_TRUE(keys.count(std::string(key))) << key;
  }
}

}  // namespace
}  // namespace kestrel::node
