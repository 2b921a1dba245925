// Client API tests: the server and the blocking client over loopback against a
// fake backend (client_test_util.h): requests and their answers, pipelining,
// the in-flight bound. Connection handling is in client_connections_test.cc,
// the ledger-backed end to end in client_end_to_end_test.cc, the protocol's
// round trips and decode errors in client_protocol_test.cc.
#include "node/client_test_util.h"

namespace kestrel::node {
namespace {

using namespace client_testing;

TEST_F(ClientServerTest, BadConfigRefused) {
  FakeBackend backend;
  ClientServerConfig c;
  c.in_flight_max = 0;
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.connections_max = limits::client_connections_max + 1;
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.connections_per_address_max = 0;
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.connections_per_address_max = limits::client_connections_per_address_max + 1;
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.first_request_timeout = std::chrono::milliseconds(0);
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.first_request_timeout = std::chrono::milliseconds(limits::client_first_request_timeout_ms + 1);
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::bad_config);
  c = {};
  c.listen_host = "not-an-address";
  EXPECT_EQ(ClientServer::start(c, backend).error(), ClientServerError::listen_failed);
}

TEST_F(ClientServerTest, SubmitOutcomesPassThrough) {
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  const Bytes a{1, 2, 3};
  const Bytes refused_sig{0xEE, static_cast<std::uint8_t>(mempool::AdmitError::bad_signature)};
  const Bytes refused_nonce{0xEE, static_cast<std::uint8_t>(mempool::AdmitError::stale_nonce)};
  const std::vector<Bytes> batch{a, refused_sig, refused_nonce};
  auto outcomes = client->submit(batch);
  ASSERT_TRUE(outcomes.ok()) << describe(outcomes.error());
  ASSERT_EQ(outcomes->size(), 3u);
  EXPECT_TRUE((*outcomes)[0].accepted);
  EXPECT_EQ((*outcomes)[0].id, sha256(a));
  EXPECT_FALSE((*outcomes)[1].accepted);
  EXPECT_EQ((*outcomes)[1].refusal, static_cast<std::uint8_t>(mempool::AdmitError::bad_signature));
  EXPECT_EQ(describe((*outcomes)[1]), "refused: bad signature");
  EXPECT_EQ((*outcomes)[2].refusal, static_cast<std::uint8_t>(mempool::AdmitError::stale_nonce));
  EXPECT_EQ(describe((*outcomes)[0]), "accepted " + sha256(a).hex());
  // A backend answering with an unknown refusal code becomes an internal error.
  const std::vector<Bytes> bogus{Bytes{0xEE, 200}};
  auto bad = client->submit(bogus);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error(), ClientError::server_error);
  EXPECT_EQ(client->last_server_error().code, ClientErrorCode::internal);
  // Bounds are checked before sending.
  EXPECT_EQ(client->submit(std::vector<Bytes>{}).error(), ClientError::bad_request);
  EXPECT_EQ(client->submit(std::vector<Bytes>(limits::client_submit_batch_max + 1, a)).error(),
            ClientError::bad_request);
  const auto c = server_->counters();
  EXPECT_EQ(c.requests_submit, 2u);
  EXPECT_EQ(c.transactions_submitted, 4u);
  EXPECT_EQ(c.malformed_frames, 0u);
}

TEST_F(ClientServerTest, LargestSubmitFits) {
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  std::vector<Bytes> batch;
  for (std::size_t i = 0; i < limits::client_submit_batch_max; ++i) {
    Bytes tx(limits::transaction_bytes_max, static_cast<std::uint8_t>(i));
    tx[0] = 0;  // no delay
    batch.push_back(std::move(tx));
  }
  auto outcomes = client->submit(batch);
  ASSERT_TRUE(outcomes.ok()) << describe(outcomes.error());
  ASSERT_EQ(outcomes->size(), batch.size());
  EXPECT_EQ((*outcomes)[255].id, sha256(batch[255]));
  EXPECT_GT(server_->counters().bytes_in, limits::client_submit_batch_max * limits::transaction_bytes_max);
}

TEST_F(ClientServerTest, WaitReceiptFoundAndTimeout) {
  const execution::Receipt receipt{hash_of(9), execution::ReceiptStatus::success, 12, 3};
  backend_.receipts[receipt.id] = receipt;
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  auto found = client->wait_receipt(receipt.id, 1000ms);
  ASSERT_TRUE(found.ok()) << describe(found.error());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, receipt);
  const auto before = Clock::now();
  auto missing = client->wait_receipt(hash_of(8), 50ms);
  ASSERT_TRUE(missing.ok()) << describe(missing.error());
  EXPECT_FALSE(missing->has_value());
  EXPECT_GE(Clock::now() - before, 50ms);
  EXPECT_EQ(client->wait_receipt(hash_of(8), std::chrono::milliseconds(limits::client_wait_timeout_ms_max + 1)).error(),
            ClientError::bad_request);
  EXPECT_EQ(server_->counters().requests_wait_receipt, 2u);
}

TEST_F(ClientServerTest, AccountsAndKeys) {
  backend_.accounts[hash_of(1)] = {500, 7};
  backend_.pending[hash_of(1)] = 3;
  const Bytes key{'k', '1'};
  backend_.keys[{hash_of(1), key}] = Bytes{'v', 'a', 'l'};
  backend_.keys[{hash_of(1), Bytes{'e'}}] = Bytes{};
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  auto account = client->get_account(hash_of(1));
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(*account, (execution::Account{500, 7}));
  auto state = client->get_account_state(hash_of(1));
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->account, (execution::Account{500, 7}));
  EXPECT_EQ(state->next_nonce, 10u);  // 7 plus 3 pending
  auto absent = client->get_account(hash_of(2));
  ASSERT_TRUE(absent.ok());
  EXPECT_EQ(*absent, execution::Account{});
  auto value = client->get_key(hash_of(1), key);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, (Bytes{'v', 'a', 'l'}));
  auto empty = client->get_key(hash_of(1), Bytes{'e'});
  ASSERT_TRUE(empty.ok());
  ASSERT_TRUE(empty->has_value());
  EXPECT_TRUE((*empty)->empty());
  auto none = client->get_key(hash_of(1), Bytes{'x'});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(client->get_key(hash_of(1), Bytes(limits::ledger_key_bytes_max + 1, 0)).error(), ClientError::bad_request);
}

TEST_F(ClientServerTest, RawCommitsInParts) {
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  std::vector<RawCommand> commands(30);
  for (std::size_t i = 0; i < commands.size(); ++i) commands[i].sequence = 1000 + i;
  auto id = client->send_raw(commands);
  ASSERT_TRUE(id.ok());
  std::set<std::uint64_t> committed;
  std::set<std::uint64_t> heights;
  int responses = 0;
  const auto end = Clock::now() + 5s;
  while (committed.size() < commands.size() && Clock::now() < end) {
    auto got = client->poll(100ms);
    ASSERT_TRUE(got.ok());
    for (auto& r : *got) {
      EXPECT_EQ(r.request_id, *id);
      auto* raw = std::get_if<RawCommittedResponse>(&r.body);
      ASSERT_NE(raw, nullptr);
      committed.insert(raw->sequences.begin(), raw->sequences.end());
      heights.insert(raw->height);
      ++responses;
    }
  }
  EXPECT_EQ(committed.size(), commands.size());
  EXPECT_EQ(*committed.begin(), 1000u);
  EXPECT_EQ(responses, 3);
  EXPECT_EQ(heights, (std::set<std::uint64_t>{10, 11, 12}));
  // Reports after completion are dropped and counted, not sent.
  std::function<void(std::vector<std::uint64_t>, std::uint64_t)> late;
  {
    std::lock_guard lock(backend_.mutex);
    late = backend_.last_raw_committed;
  }
  late({1000}, 99);
  ASSERT_TRUE(eventually([&] { return server_->counters().late_callbacks == 1; }));
  auto nothing = client->poll(20ms);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
  EXPECT_EQ(server_->counters().raw_commands_submitted, 30u);
}

TEST_F(ClientServerTest, RawRefusedWhenDisabled) {
  backend_.raw_enabled = false;
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  std::vector<RawCommand> commands(4);
  auto id = client->send_raw(commands);
  ASSERT_TRUE(id.ok());
  std::vector<Response> got;
  ASSERT_TRUE(eventually([&] {
    auto r = client->poll(10ms);
    if (r.ok()) got.insert(got.end(), r->begin(), r->end());
    return !got.empty();
  }));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request_id, *id);
  auto* error = std::get_if<ErrorResponse>(&got[0].body);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->code, ClientErrorCode::raw_disabled);
  // The connection stays usable.
  EXPECT_TRUE(client->get_account(hash_of(1)).ok());
}

TEST_F(ClientServerTest, PipelinedResponsesMatchedById) {
  start();
  auto client = connect();
  ASSERT_TRUE(client);
  // Decreasing delays: later requests are answered first.
  constexpr int requests = 200;
  std::map<std::uint64_t, Bytes> sent;
  for (int i = 0; i < requests; ++i) {
    Bytes tx{static_cast<std::uint8_t>(15 - (i % 16)), static_cast<std::uint8_t>(i), static_cast<std::uint8_t>(i >> 8)};
    auto id = client->send_submit(std::vector<Bytes>{tx});
    ASSERT_TRUE(id.ok());
    sent[*id] = tx;
  }
  // A blocking call in the middle keeps the pipelined responses for poll().
  auto account = client->get_account(hash_of(3));
  ASSERT_TRUE(account.ok());
  std::map<std::uint64_t, SubmitOutcome> received;
  std::vector<std::uint64_t> order;
  const auto end = Clock::now() + 10s;
  while (received.size() < sent.size() && Clock::now() < end) {
    auto got = client->poll(100ms);
    ASSERT_TRUE(got.ok());
    for (auto& r : *got) {
      auto* result = std::get_if<SubmitResultResponse>(&r.body);
      ASSERT_NE(result, nullptr);
      ASSERT_EQ(result->outcomes.size(), 1u);
      EXPECT_TRUE(received.emplace(r.request_id, result->outcomes[0]).second) << "duplicate " << r.request_id;
      order.push_back(r.request_id);
    }
  }
  ASSERT_EQ(received.size(), sent.size());
  for (const auto& [id, tx] : sent) EXPECT_EQ(received[id].id, sha256(tx)) << id;
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));  // really out of order
}

TEST_F(ClientServerTest, InFlightBoundStopsReading) {
  ClientServerConfig config;
  config.in_flight_max = 4;
  start(config);
  backend_.hold = true;
  auto client = connect();
  ASSERT_TRUE(client);
  constexpr int requests = 40;
  for (int i = 0; i < requests; ++i) {
    ASSERT_TRUE(client->send_submit(std::vector<Bytes>{Bytes{0, static_cast<std::uint8_t>(i)}}).ok());
  }
  ASSERT_TRUE(eventually([&] { return backend_.held_count() == 4; }));
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ(backend_.held_count(), 4u);  // nothing more was read
  EXPECT_EQ(backend_.submits.load(), 4);
  EXPECT_GE(server_->counters().backpressure_pauses, 1u);
  // Each release lets the next requests in; all are answered in the end.
  std::set<std::uint64_t> answered;
  const auto end = Clock::now() + 10s;
  while (answered.size() < requests && Clock::now() < end) {
    if (backend_.held_count() > 0) {
      EXPECT_LE(backend_.held_count(), 4u);
      backend_.release();
      backend_.hold = true;
    }
    auto got = client->poll(20ms);
    ASSERT_TRUE(got.ok());
    for (auto& r : *got) answered.insert(r.request_id);
  }
  EXPECT_EQ(answered.size(), static_cast<std::size_t>(requests));
  EXPECT_EQ(backend_.submits.load(), requests);
}

}  // namespace
}  // namespace kestrel::node
