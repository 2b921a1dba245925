// Client API end to end: signed transactions through a ledger-backed node
// (real admission, a mempool, one block per submit) over loopback.
#include "node/client_test_util.h"

namespace kestrel::node {
namespace {

using namespace client_testing;

// --- A ledger-backed node: real transactions, real admission, one block per submit ----------

class LedgerBackend : public ClientBackend {
 public:
  static constexpr std::uint32_t chain = 5;
  explicit LedgerBackend(std::vector<execution::GenesisAllocation> genesis)
      : ledger_(std::move(execution::Ledger::create(chain, genesis)).value()),
        verifier_(1, &cache_),
        pool_(pool_config(), verifier_, [this](const execution::AccountId& id) { return ledger_.account(id).nonce; }) {}

  void submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) override {
    std::vector<SubmitOutcome> outcomes;
    {
      std::lock_guard lock(mutex_);
      std::vector<ByteSpan> spans(transactions.begin(), transactions.end());
      for (auto& r : pool_.admit(spans)) {
        outcomes.push_back(r.ok() ? SubmitOutcome{true, *r, 0}
                                  : SubmitOutcome{false, {}, static_cast<std::uint8_t>(r.error())});
      }
      // "Commit" at once: one block of everything admissible.
      auto batch = pool_.next_batch(limits::block_transactions_max, limits::block_payload_bytes_max);
      if (!batch.transactions.empty()) {
        std::vector<execution::Transaction> txs;
        for (const auto& b : batch.transactions) txs.push_back(execution::decode_transaction(b).value());
        auto result = ledger_.execute_block(ledger_.height() + 1, txs, batch.ids);
        for (const auto& receipt : result->receipts) receipts_[receipt.id] = receipt;
        pool_.on_committed(txs);
      }
    }
    done(std::move(outcomes));
  }
  void wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds,
                    std::function<void(std::optional<execution::Receipt>)> done) override {
    std::optional<execution::Receipt> receipt;
    {
      std::lock_guard lock(mutex_);
      if (auto it = receipts_.find(id); it != receipts_.end()) receipt = it->second;
    }
    done(receipt);  // everything commits at submit: no need to wait
  }
  void get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) override {
    std::lock_guard lock(mutex_);
    const execution::Account account = ledger_.account(id);
    done(AccountResponse{account, pool_.pending_next_nonce(id, account.nonce)});
  }
  void get_key(const execution::AccountId& id, Bytes key, std::function<void(std::optional<Bytes>)> done) override {
    std::lock_guard lock(mutex_);
    done(ledger_.get(id, key));
  }
  void submit_raw(std::uint64_t, std::vector<RawCommand>, std::function<void(std::vector<std::uint64_t>, std::uint64_t)>,
                  std::function<void(std::uint8_t)> refused) override {
    refused(static_cast<std::uint8_t>(ClientErrorCode::raw_disabled));
  }
  void connection_closed(std::uint64_t) override {}

 private:
  static mempool::Config pool_config() {
    mempool::Config c;
    c.chain_id = chain;
    return c;
  }
  std::mutex mutex_;
  execution::Ledger ledger_;
  crypto::VerifyCache cache_{1024};
  crypto::ParallelVerifier verifier_;
  mempool::Mempool pool_;
  std::map<execution::TransactionId, execution::Receipt> receipts_;
};

TEST(ClientEndToEnd, SignedTransactionsThroughLedgerAndMempool) {
  auto signer = crypto::generate_signer(crypto::SignatureScheme::ed25519);
  const auto sender = execution::account_id(signer->scheme(), signer->verifier().public_key());
  LedgerBackend backend({{sender, 1000}});
  auto server = ClientServer::start({}, backend);
  ASSERT_TRUE(server.ok());
  auto client = Client::connect("127.0.0.1", (*server)->port(), 2s);
  ASSERT_TRUE(client.ok());
  Client& c = **client;

  // What `kestrel submit transfer` does: nonce, sign, submit, wait.
  auto account = c.get_account(sender);
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(*account, (execution::Account{1000, 0}));
  const Bytes transfer = execution::encode_transaction(
      execution::make_signed(*signer, LedgerBackend::chain, account->nonce, execution::Transfer{hash_of(7), 10}));
  auto outcomes = c.submit(std::vector<Bytes>{transfer});
  ASSERT_TRUE(outcomes.ok());
  ASSERT_TRUE((*outcomes)[0].accepted) << describe((*outcomes)[0]);
  EXPECT_EQ((*outcomes)[0].id, execution::transaction_id(transfer));
  auto receipt = c.wait_receipt((*outcomes)[0].id, 1000ms);
  ASSERT_TRUE(receipt.ok() && receipt->has_value());
  EXPECT_EQ((*receipt)->status, execution::ReceiptStatus::success);
  EXPECT_EQ((*receipt)->height, 1u);
  EXPECT_EQ(*c.get_account(sender), (execution::Account{990, 1}));
  EXPECT_EQ(*c.get_account(hash_of(7)), (execution::Account{10, 0}));

  // Refusals come back with the mempool's reason.
  auto again = c.submit(std::vector<Bytes>{transfer});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].refusal, static_cast<std::uint8_t>(mempool::AdmitError::stale_nonce));
  Bytes forged = execution::encode_transaction(
      execution::make_signed(*signer, LedgerBackend::chain, 1, execution::Transfer{hash_of(7), 10}));
  forged[forged.size() - 1] ^= 1;
  const Bytes wrong_chain = execution::encode_transaction(
      execution::make_signed(*signer, LedgerBackend::chain + 1, 1, execution::Transfer{hash_of(7), 10}));
  auto refused = c.submit(std::vector<Bytes>{forged, wrong_chain, Bytes{1, 2, 3}});
  ASSERT_TRUE(refused.ok());
  EXPECT_EQ(describe((*refused)[0]), "refused: bad signature");
  EXPECT_EQ((*refused)[1].refusal, static_cast<std::uint8_t>(mempool::AdmitError::wrong_chain));
  EXPECT_EQ((*refused)[2].refusal, static_cast<std::uint8_t>(mempool::AdmitError::bad_encoding));

  // A put, read back with get_key.
  const Bytes put = execution::encode_transaction(execution::make_signed(
      *signer, LedgerBackend::chain, 1, execution::Put{Bytes{'c', 'o', 'l', 'o', 'r'}, Bytes{'r', 'e', 'd'}}));
  auto put_outcome = c.submit(std::vector<Bytes>{put});
  ASSERT_TRUE(put_outcome.ok() && (*put_outcome)[0].accepted);
  auto value = c.get_key(sender, Bytes{'c', 'o', 'l', 'o', 'r'});
  ASSERT_TRUE(value.ok() && value->has_value());
  EXPECT_EQ(**value, (Bytes{'r', 'e', 'd'}));
  // Raw mode is off on this node.
  std::vector<RawCommand> raw(1);
  auto raw_id = c.send_raw(raw);
  ASSERT_TRUE(raw_id.ok());
  std::vector<Response> got;
  ASSERT_TRUE(eventually([&] {
    auto r = c.poll(10ms);
    if (r.ok()) got.insert(got.end(), r->begin(), r->end());
    return !got.empty();
  }));
  ASSERT_NE(std::get_if<ErrorResponse>(&got[0].body), nullptr);
  EXPECT_EQ(std::get<ErrorResponse>(got[0].body).code, ClientErrorCode::raw_disabled);
}

}  // namespace
}  // namespace kestrel::node
