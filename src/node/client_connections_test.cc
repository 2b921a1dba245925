// Client API connection handling over loopback against the fake backend
// (client_test_util.h): malformed and stalled frames, half-closed and idle
// connections, connection slots (eviction, per-address caps, first-request
// deadline), closing with requests in flight.
#include "node/client_test_util.h"

namespace kestrel::node {
namespace {

using namespace client_testing;

TEST_F(ClientServerTest, MalformedFramesCloseTheConnectionOnly) {
  start();
  {
    RawSocket s(server_->port());
    s.send(Bytes{0xFF, 0xFF, 0xFF, 0xFF});  // oversized length
    const auto error = expect_error_then_close(s.read_to_end());
    EXPECT_EQ(error.code, ClientErrorCode::malformed);
    EXPECT_NE(error.text.find("client_frame_bytes_max"), std::string::npos) << error.text;
  }
  {
    RawSocket s(server_->port());
    Bytes frame{12, 0, 0, 0, 0x42};  // unknown type, request id 7
    for (int i = 0; i < 8; ++i) frame.push_back(i == 0 ? 7 : 0);
    frame.insert(frame.end(), {1, 2, 3});
    s.send(frame);
    Bytes stream = s.read_to_end();
    const auto error = expect_error_then_close(stream);
    EXPECT_EQ(error.code, ClientErrorCode::malformed);
    EXPECT_EQ(peek_request_id(ByteSpan(stream).subspan(4)), 7u);
  }
  {
    RawSocket s(server_->port());
    Bytes garbage(1000);
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<std::uint8_t>(i * 37 + 11);
    garbage[0] = 100;  // a plausible length, then garbage
    garbage[1] = garbage[2] = garbage[3] = 0;
    s.send(garbage);
    EXPECT_EQ(expect_error_then_close(s.read_to_end()).code, ClientErrorCode::malformed);
  }
  EXPECT_TRUE(eventually([&] { return server_->counters().malformed_frames == 3; }));
  EXPECT_TRUE(eventually([&] { return server_->counters().connections_closed == 3; }));
  // The server still serves.
  auto client = connect();
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->submit(std::vector<Bytes>{Bytes{0}}).ok());
  std::lock_guard lock(backend_.mutex);
  EXPECT_EQ(backend_.closed_connections.size(), 3u);
}

TEST_F(ClientServerTest, HalfClosedClientGetsItsAnswers) {
  start();
  RawSocket s(server_->port());
  Bytes frames;
  append_request_frame(Request{5, GetAccountRequest{hash_of(1)}}, frames);
  append_request_frame(Request{6, SubmitRequest{{Bytes{9}}}}, frames);
  s.send(frames);
  s.socket.shutdown(asio::ip::tcp::socket::shutdown_send);
  const Bytes stream = s.read_to_end();
  std::set<std::uint64_t> ids;
  std::size_t at = 0;
  while (at + 4 <= stream.size()) {
    auto length = decode_frame_length(std::span<const std::uint8_t, 4>(stream.data() + at, 4));
    ASSERT_TRUE(length.ok());
    auto r = decode_response(ByteSpan(stream).subspan(at + 4, *length));
    ASSERT_TRUE(r.ok());
    ids.insert(r->request_id);
    at += 4 + *length;
  }
  EXPECT_EQ(at, stream.size());
  EXPECT_EQ(ids, (std::set<std::uint64_t>{5, 6}));
}

TEST_F(ClientServerTest, StalledFrameAndIdleConnectionClosed) {
  ClientServerConfig config;
  config.frame_stall_timeout = 100ms;
  config.idle_timeout = 200ms;
  start(config);
  RawSocket stalled(server_->port());
  stalled.send(Bytes{50, 0, 0, 0, 0x03, 1, 2});  // 3 of 50 bytes, then nothing
  RawSocket idle(server_->port());
  ASSERT_TRUE(eventually([&] { return server_->counters().frame_stalls == 1; }, 5s));
  ASSERT_TRUE(eventually([&] { return server_->counters().idle_timeouts >= 1; }, 5s));
  EXPECT_TRUE(stalled.read_to_end().empty());
  EXPECT_TRUE(idle.read_to_end().empty());
  EXPECT_TRUE(eventually([&] { return server_->counters().connections_open == 0; }));
}

// A request frame on the wire.
Bytes request_frame(const Request& request) {
  Bytes frame;
  append_request_frame(request, frame);
  return frame;
}

TEST_F(ClientServerTest, FullPortEvictsTheLongestIdleNeverUsedConnection) {
  ClientServerConfig config;
  config.connections_max = 3;
  start(config);
  auto used = connect();  // the oldest, but it completes a request
  ASSERT_TRUE(used);
  ASSERT_TRUE(used->get_account(hash_of(1)).ok());
  RawSocket silent(server_->port(), "127.0.0.2");
  ASSERT_TRUE(eventually([&] { return server_->counters().connections_accepted == 2; }));
  const std::uint64_t bytes_before = server_->counters().bytes_in;
  RawSocket half_open(server_->port(), "127.0.0.3");
  half_open.send(Bytes{50, 0, 0});  // part of a frame header
  ASSERT_TRUE(eventually([&] { return server_->counters().bytes_in == bytes_before + 3; }));
  // The port is full: the newcomer takes the slot of the silent connection,
  // accepted before the half-open one (neither ever completed a request).
  auto newcomer = connect();
  ASSERT_TRUE(newcomer);
  EXPECT_TRUE(newcomer->get_account(hash_of(2)).ok());
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_FALSE(half_open.closed_within(0ms));
  // Next, the half-open one goes; then the longest-idle used connection.
  auto third = connect();
  ASSERT_TRUE(third);
  EXPECT_TRUE(half_open.closed_within(2s));
  EXPECT_TRUE(third->get_account(hash_of(3)).ok());
  auto fourth = connect();
  ASSERT_TRUE(fourth);
  EXPECT_TRUE(fourth->get_account(hash_of(3)).ok());
  EXPECT_FALSE(used->get_account(hash_of(1)).ok());  // evicted: idle longer than `newcomer`
  EXPECT_TRUE(newcomer->get_account(hash_of(2)).ok());
  const auto c = server_->counters();
  EXPECT_EQ(c.connections_evicted_port, 2u);
  // The clients all come from 127.0.0.1: the fourth is over its address's share
  // (min(per-address bound, connections_max) = 3) and displaced one of its own.
  EXPECT_EQ(c.connections_evicted_address, 1u);
  EXPECT_EQ(c.connections_refused, 0u);
}

TEST_F(ClientServerTest, ConnectionsWithRequestsInFlightAreNotEvicted) {
  ClientServerConfig config;
  config.connections_max = 2;
  start(config);
  backend_.hold = true;  // submits wait for release(): clients waiting for an answer
  RawSocket a(server_->port(), "127.0.0.2");
  RawSocket b(server_->port(), "127.0.0.3");
  a.send(request_frame(Request{1, SubmitRequest{{Bytes{1}}}}));
  b.send(request_frame(Request{2, SubmitRequest{{Bytes{2}}}}));
  ASSERT_TRUE(eventually([&] { return backend_.held_count() == 2; }));
  RawSocket refused(server_->port(), "127.0.0.4");
  EXPECT_TRUE(refused.closed_within(2s));  // closed at once: nothing could be evicted
  EXPECT_EQ(server_->counters().connections_refused, 1u);
  EXPECT_EQ(server_->counters().connections_evicted_port, 0u);
  // Both still get their answers.
  backend_.release();
  for (RawSocket* s : {&a, &b}) {
    s->socket.shutdown(asio::ip::tcp::socket::shutdown_send);
    const Bytes stream = s->read_to_end();
    ASSERT_GE(stream.size(), frame_header_bytes);
    auto r = decode_response(ByteSpan(stream).subspan(frame_header_bytes));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(std::holds_alternative<SubmitResultResponse>(r->body));
  }
}

TEST_F(ClientServerTest, OneAddressIsCappedOthersStillGetIn) {
  ClientServerConfig config;
  config.connections_max = 16;
  config.connections_per_address_max = 3;
  start(config);
  // Idle excess from one address displaces that address's own oldest
  // connections: it never holds more than its share.
  std::vector<std::unique_ptr<RawSocket>> idle;
  for (int i = 0; i < 5; ++i) {
    idle.push_back(std::make_unique<RawSocket>(server_->port(), "127.0.0.2"));
    ASSERT_TRUE(eventually([&] { return server_->counters().connections_accepted == static_cast<std::uint64_t>(i + 1); }));
  }
  EXPECT_TRUE(idle[0]->closed_within(2s));
  EXPECT_TRUE(idle[1]->closed_within(2s));
  for (int i = 2; i < 5; ++i) EXPECT_FALSE(idle[i]->closed_within(0ms)) << i;
  EXPECT_EQ(server_->counters().connections_evicted_address, 2u);
  // An address whose share is busy (requests in flight) is refused more.
  backend_.hold = true;
  std::vector<std::unique_ptr<RawSocket>> busy;
  for (int i = 0; i < 3; ++i) {
    busy.push_back(std::make_unique<RawSocket>(server_->port(), "127.0.0.3"));
    busy.back()->send(request_frame(Request{static_cast<std::uint64_t>(i), SubmitRequest{{Bytes{1}}}}));
  }
  ASSERT_TRUE(eventually([&] { return backend_.held_count() == 3; }));
  RawSocket excess(server_->port(), "127.0.0.3");
  EXPECT_TRUE(excess.closed_within(2s));
  EXPECT_EQ(server_->counters().connections_refused_address, 1u);
  // Another address still gets in and is served.
  backend_.release();
  RawSocket other(server_->port(), "127.0.0.4");
  other.send(request_frame(Request{9, GetAccountRequest{hash_of(1)}}));
  other.socket.shutdown(asio::ip::tcp::socket::shutdown_send);
  const Bytes stream = other.read_to_end();
  ASSERT_GE(stream.size(), frame_header_bytes);
  auto r = decode_response(ByteSpan(stream).subspan(frame_header_bytes));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->request_id, 9u);
  EXPECT_TRUE(std::holds_alternative<AccountResponse>(r->body));
  EXPECT_EQ(server_->counters().connections_refused, 0u);
}

TEST_F(ClientServerTest, FirstRequestDeadlineClosesSilentAndHalfOpenConnections) {
  ClientServerConfig config;
  config.first_request_timeout = 200ms;  // idle and stall deadlines stay long
  start(config);
  RawSocket silent(server_->port());
  RawSocket trickling(server_->port());
  trickling.send(Bytes{50, 0});
  RawSocket served(server_->port());
  served.send(request_frame(Request{1, GetAccountRequest{hash_of(1)}}));
  for (int i = 0; i < 4; ++i) {  // a byte every 100 ms does not extend the deadline
    std::this_thread::sleep_for(100ms);
    const std::uint8_t byte = 0;
    asio::error_code ignored;  // the server may close it meanwhile
    asio::write(trickling.socket, asio::buffer(&byte, 1), ignored);
  }
  EXPECT_TRUE(silent.closed_within(2s));
  EXPECT_TRUE(trickling.closed_within(2s));
  EXPECT_EQ(server_->counters().first_request_timeouts, 2u);
  EXPECT_EQ(server_->counters().frame_stalls + server_->counters().idle_timeouts, 0u);
  // A connection that completed a request is left to the idle timeout.
  EXPECT_FALSE(served.closed_within(0ms));
}

// Many connections that never send a whole request, from several addresses,
// more than the port holds: a client still gets in and is served while they
// are all held (well within the first-request deadline).
TEST_F(ClientServerTest, IdleAndHalfOpenFloodDoesNotLockClientsOut) {
  ClientServerConfig config;
  config.connections_max = 32;
  config.connections_per_address_max = 8;
  start(config);
  const auto start_time = Clock::now();
  std::vector<std::unique_ptr<RawSocket>> flood;
  const char* sources[] = {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"};
  for (const char* source : sources) {
    for (int i = 0; i < 10; ++i) {  // 60 in all; 10 per address
      flood.push_back(std::make_unique<RawSocket>(server_->port(), source));
      if (i % 2 == 1) flood.back()->send(Bytes{200, 0, 0, 0, 0x01});  // half a submit, then nothing
    }
  }
  ASSERT_TRUE(eventually([&] { return server_->counters().connections_accepted == flood.size(); }));
  EXPECT_EQ(server_->counters().connections_open, config.connections_max);
  auto client = connect();
  ASSERT_TRUE(client);
  auto outcomes = client->submit(std::vector<Bytes>{Bytes{7}});
  ASSERT_TRUE(outcomes.ok()) << describe(outcomes.error());
  ASSERT_EQ(outcomes->size(), 1u);
  EXPECT_TRUE((*outcomes)[0].accepted);
  EXPECT_TRUE(client->get_account(hash_of(1)).ok());
  EXPECT_LT(Clock::now() - start_time, std::chrono::milliseconds(limits::client_first_request_timeout_ms));
  const auto c = server_->counters();
  EXPECT_EQ(c.connections_refused + c.connections_refused_address, 0u);
  EXPECT_EQ(c.connections_evicted_address, 6u * 2);           // beyond 8 per address
  EXPECT_EQ(c.connections_evicted_port, 60u - 12 - 32 + 1);  // beyond the port, and for the client
  EXPECT_EQ(c.first_request_timeouts, 0u);
}

// Resident memory of held partial frames: 48 connections (from two addresses,
// within their shares) each complete one request, then send 3.6 MB of a 4 MiB
// frame, interleaved as concurrent clients would, and hold it. Under the node's
// malloc policy the process grows by about the bytes held, not a multiple of
// them (docs/client-api.md "Memory").
TEST_F(ClientServerTest, HeldPartialFramesCostAboutTheirBytes) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "ASan's allocator and shadow memory change what RSS measures";
#else
  apply_malloc_policy();  // as `kestrel node` does (gate process.malloc_trim: default on)
  start();
  constexpr std::size_t connections = 48;
  constexpr std::size_t held_bytes = 3'600'000;
  Bytes partial(frame_header_bytes + held_bytes, 0x5a);
  const std::uint32_t claimed = static_cast<std::uint32_t>(limits::client_frame_bytes_max);
  for (std::size_t i = 0; i < frame_header_bytes; ++i) partial[i] = static_cast<std::uint8_t>(claimed >> (8 * i));
  const Bytes first = request_frame(Request{1, GetAccountRequest{hash_of(1)}});
  (void)trim_memory();
  const std::uint64_t before = resident_bytes();
  std::vector<std::unique_ptr<RawSocket>> held;
  for (std::size_t i = 0; i < connections; ++i) {
    held.push_back(std::make_unique<RawSocket>(server_->port(), i % 2 == 0 ? "127.0.0.2" : "127.0.0.3"));
    held.back()->send(first);
  }
  // Interleaved, as concurrent clients send: every frame grows at once.
  constexpr std::size_t piece = 100'000;
  for (std::size_t at = 0; at < partial.size(); at += piece) {
    for (auto& s : held) s->send(ByteSpan(partial).subspan(at, std::min(piece, partial.size() - at)));
  }
  const std::uint64_t expected_in = connections * (first.size() + partial.size());
  ASSERT_TRUE(eventually([&] { return server_->counters().bytes_in == expected_in; }));
  // No trim here: what matters is what stays resident between the node's trims.
  const std::uint64_t after = resident_bytes();
  const double ratio = static_cast<double>(after - before) / static_cast<double>(connections * held_bytes);
  std::printf("resident: %.1f MiB before, %.1f MiB holding %zu x %zu B partial frames: %.2f B per byte held\n",
              static_cast<double>(before) / (1 << 20), static_cast<double>(after) / (1 << 20), connections,
              held_bytes, ratio);
  // Measured 1.02 (a frame grown as one vector: 1.36 under this policy, 1.6 in a node).
  EXPECT_LT(ratio, 1.1);
  EXPECT_EQ(server_->counters().frame_stalls + server_->counters().connections_evicted_port, 0u);
#endif
}

TEST_F(ClientServerTest, CallbackAfterCloseIsHarmless) {
  start();
  backend_.hold = true;
  {
    // The client resets its connection (SO_LINGER 0) with a submit held: the
    // server closes the session at once (nobody can read an answer) instead of
    // waiting for the answer as it does after a clean EOF.
    RawSocket s(server_->port());
    Bytes frame;
    append_request_frame(Request{7, SubmitRequest{{Bytes{1}}}}, frame);
    s.send(frame);
    ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
    s.socket.set_option(asio::socket_base::linger(true, 0));
    s.socket.close();
  }
  ASSERT_TRUE(eventually([&] { return server_->counters().connections_closed == 1; }, 5s));
  backend_.release();
  EXPECT_TRUE(eventually([&] { return server_->counters().late_callbacks >= 1; }));
  {
    // A client that goes away with raw commits scheduled: their reports find no
    // session (or no request) and are counted, not delivered.
    auto client = connect();
    ASSERT_TRUE(client);
    std::vector<RawCommand> commands(3);
    ASSERT_TRUE(client->send_raw(commands).ok());
    ASSERT_TRUE(eventually([&] { return server_->counters().requests_submit_raw == 1; }));
  }
  ASSERT_TRUE(eventually([&] { return server_->counters().connections_closed == 2; }));
  // After the server stopped, held callbacks post nowhere.
  auto client = connect();
  ASSERT_TRUE(client);
  backend_.hold = true;
  ASSERT_TRUE(client->send_submit(std::vector<Bytes>{Bytes{2}}).ok());
  ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
  server_->stop();
  server_.reset();
  backend_.release();
  std::this_thread::sleep_for(20ms);  // let the scheduler run it
  auto got = client->poll(50ms);
  EXPECT_FALSE(got.ok() && !got->empty());
}

TEST_F(ClientServerTest, ClientErrors) {
  EXPECT_EQ(Client::connect("localhost", 1, 1s).error(), ClientError::bad_address);
  start();
  const std::uint16_t port = server_->port();
  server_->stop();
  EXPECT_EQ(Client::connect("127.0.0.1", port, 1s).error(), ClientError::connect_failed);
}

TEST_F(ClientServerTest, StopWithOpenConnections) {
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  backend_.hold = true;
  ASSERT_TRUE(client->send_submit(std::vector<Bytes>{Bytes{3}}).ok());
  ASSERT_TRUE(eventually([&] { return backend_.held_count() == 1; }));
  server_->stop();
  auto got = client->get_account(hash_of(1));
  EXPECT_FALSE(got.ok());
  EXPECT_EQ(server_->counters().connections_open, 0u);
}

}  // namespace
}  // namespace kestrel::node
