// Shared by the client API tests (client_test.cc, client_connections_test.cc,
// client_end_to_end_test.cc): bounded waits, a fake node backend whose
// completions run on a scheduler thread (or synchronously, or never, or late),
// the server fixture, and a raw socket for bytes no client would send.
#pragma once

// Our headers (and so libstdc++'s) first: Asio's config.hpp decides between
// aligned_alloc and operator new from a libstdc++ macro, and every translation
// unit must decide alike (ASan reports the mix as alloc-dealloc-mismatch).
#include "node/client.h"
#include "node/client_protocol.h"
#include "node/client_server.h"
#include "node/memory.h"

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/codec.h"
#include "crypto/parallel_verify.h"
#include "crypto/verify_cache.h"
#include "mempool/mempool.h"


namespace kestrel::node::client_testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `done` up to `limit`; the tests' only waits, each with a bound.
inline bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

inline Hash32 hash_of(std::uint8_t v) {
  Hash32 h;
  h.bytes.fill(v);
  return h;
}

// --- A fake node ---------------------------------------------------------------------------

// Runs functions at deadlines on its own thread: backend completions from
// "another thread", as the node's will be.
class Scheduler {
 public:
  Scheduler() : thread_([this] { run(); }) {}
  ~Scheduler() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void after(std::chrono::milliseconds delay, std::function<void()> f) {
    {
      std::lock_guard lock(mutex_);
      queue_.emplace(Clock::now() + delay, std::move(f));
    }
    cv_.notify_all();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      if (queue_.empty()) {
        cv_.wait(lock);
        continue;
      }
      auto first = queue_.begin();
      if (Clock::now() < first->first) {
        cv_.wait_until(lock, first->first);
        continue;
      }
      auto f = std::move(first->second);
      queue_.erase(first);
      lock.unlock();
      f();
      lock.lock();
    }
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  std::multimap<Clock::time_point, std::function<void()>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

// Transactions here are opaque test bytes: first byte 0xEE = refuse with the
// code in the second byte; otherwise accepted with id sha256(bytes), answered
// after (first byte % 16) ms.
class FakeBackend : public ClientBackend {
 public:
  void submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) override {
    submits.fetch_add(1);
    std::vector<SubmitOutcome> outcomes;
    std::chrono::milliseconds delay{0};
    for (const auto& tx : transactions) {
      if (tx.size() >= 2 && tx[0] == 0xEE) {
        outcomes.push_back({false, {}, tx[1]});
      } else {
        outcomes.push_back({true, sha256(tx), 0});
        if (!tx.empty()) delay = std::max(delay, std::chrono::milliseconds(tx[0] % 16));
      }
    }
    auto complete = [done = std::move(done), outcomes = std::move(outcomes)] { done(outcomes); };
    std::lock_guard lock(mutex);
    if (hold) {
      held.push_back(std::move(complete));
    } else {
      scheduler.after(delay, std::move(complete));
    }
  }
  void wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds timeout,
                    std::function<void(std::optional<execution::Receipt>)> done) override {
    std::lock_guard lock(mutex);
    auto it = receipts.find(id);
    if (it != receipts.end()) {
      auto receipt = it->second;
      scheduler.after(1ms, [done, receipt] { done(receipt); });
    } else {
      scheduler.after(timeout, [done] { done(std::nullopt); });
    }
  }
  void get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) override {
    AccountResponse answer;
    {
      std::lock_guard lock(mutex);
      if (auto it = accounts.find(id); it != accounts.end()) answer.account = it->second;
      answer.next_nonce = answer.account.nonce;
      if (auto it = pending.find(id); it != pending.end()) answer.next_nonce += it->second;
    }
    done(answer);  // synchronously, on the server's thread: also allowed
  }
  void get_key(const execution::AccountId& id, Bytes key, std::function<void(std::optional<Bytes>)> done) override {
    std::optional<Bytes> value;
    {
      std::lock_guard lock(mutex);
      if (auto it = keys.find({id, key}); it != keys.end()) value = it->second;
    }
    scheduler.after(0ms, [done, value] { done(value); });
  }
  void submit_raw(std::uint64_t connection, std::vector<RawCommand> commands,
                  std::function<void(std::vector<std::uint64_t>, std::uint64_t)> committed,
                  std::function<void(std::uint8_t)> refused) override {
    raw_connections.insert(connection);
    if (!raw_enabled) {
      scheduler.after(0ms, [refused] { refused(static_cast<std::uint8_t>(ClientErrorCode::raw_disabled)); });
      return;
    }
    // Committed in three parts, at three heights.
    std::vector<std::vector<std::uint64_t>> parts(3);
    for (std::size_t i = 0; i < commands.size(); ++i) parts[i * 3 / commands.size()].push_back(commands[i].sequence);
    for (std::size_t p = 0; p < parts.size(); ++p) {
      if (parts[p].empty()) continue;
      scheduler.after(std::chrono::milliseconds(2 * (p + 1)),
                      [committed, part = parts[p], height = 10 + p] { committed(part, height); });
    }
    std::lock_guard lock(mutex);
    last_raw_committed = committed;
  }
  void connection_closed(std::uint64_t connection) override {
    std::lock_guard lock(mutex);
    closed_connections.push_back(connection);
  }

  // Runs the held completions (on the scheduler thread).
  void release() {
    std::lock_guard lock(mutex);
    hold = false;
    for (auto& f : held) scheduler.after(0ms, std::move(f));
    held.clear();
  }
  std::size_t held_count() {
    std::lock_guard lock(mutex);
    return held.size();
  }

  std::mutex mutex;
  bool hold = false;
  std::vector<std::function<void()>> held;
  std::map<execution::TransactionId, execution::Receipt> receipts;
  std::map<execution::AccountId, execution::Account> accounts;
  std::map<execution::AccountId, std::uint64_t> pending;  // transactions pending per account (next_nonce)
  std::map<std::pair<execution::AccountId, Bytes>, Bytes> keys;
  std::atomic<bool> raw_enabled{true};
  std::set<std::uint64_t> raw_connections;
  std::function<void(std::vector<std::uint64_t>, std::uint64_t)> last_raw_committed;
  std::vector<std::uint64_t> closed_connections;
  std::atomic<int> submits{0};
  Scheduler scheduler;  // last: stopped (joined) before the state its tasks use
};

class ClientServerTest : public ::testing::Test {
 protected:
  void start(ClientServerConfig config = {}) {
    auto server = ClientServer::start(std::move(config), backend_);
    ASSERT_TRUE(server.ok()) << describe(server.error());
    server_ = std::move(*server);
  }
  std::unique_ptr<Client> connect() {
    auto client = Client::connect("127.0.0.1", server_->port(), 2s);
    EXPECT_TRUE(client.ok()) << describe(client.error());
    return client.ok() ? std::move(*client) : nullptr;
  }
  void TearDown() override {
    if (server_) server_->stop();
  }
  FakeBackend backend_;
  std::unique_ptr<ClientServer> server_;
};

// A raw TCP connection for sending bytes no client would, from `source` (any
// 127.x.y.z address is loopback; the server tells sources apart by address).
struct RawSocket {
  asio::io_context io;
  asio::ip::tcp::socket socket{io};
  explicit RawSocket(std::uint16_t port, const char* source = "127.0.0.1") {
    socket.open(asio::ip::tcp::v4());
    socket.bind({asio::ip::make_address(source), 0});
    socket.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // True when the server closed the connection within `wait` (EOF or reset);
  // false when it is still open then. Reads nothing the server sent.
  bool closed_within(std::chrono::milliseconds wait) {
    pollfd p{socket.native_handle(), POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return false;
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) return true;
    char byte = 0;
    return ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
  }
  void send(ByteSpan bytes) { asio::write(socket, asio::buffer(bytes.data(), bytes.size())); }
  // Everything until the server closes (bounded by the test's expectations).
  Bytes read_to_end() {
    Bytes all;
    std::uint8_t chunk[4096];
    asio::error_code ec;
    for (;;) {
      const std::size_t n = socket.read_some(asio::buffer(chunk), ec);
      if (ec) break;
      all.insert(all.end(), chunk, chunk + n);
    }
    return all;
  }
};

// The single error response the server sends before closing a malformed connection.
inline ErrorResponse expect_error_then_close(const Bytes& stream) {
  EXPECT_GE(stream.size(), frame_header_bytes);
  if (stream.size() < frame_header_bytes) return {};
  auto length = decode_frame_length(std::span<const std::uint8_t, 4>(stream.data(), 4));
  EXPECT_TRUE(length.ok());
  EXPECT_EQ(stream.size(), frame_header_bytes + *length);
  auto response = decode_response(ByteSpan(stream).subspan(frame_header_bytes));
  EXPECT_TRUE(response.ok());
  if (!response.ok()) return {};
  auto* error = std::get_if<ErrorResponse>(&response->body);
  EXPECT_NE(error, nullptr);
  return error ? *error : ErrorResponse{};
}


}  // namespace kestrel::node::client_testing
