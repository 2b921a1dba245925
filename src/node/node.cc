#include "node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <variant>

#include "common/assert.h"
#include "common/codec.h"
#include "common/gates.h"
#include "crypto/parallel_verify.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"
#include "hotstuff2/hotstuff2.h"
#include "mempool/mempool.h"
#include "net/net.h"
#include "node/node_metrics.h"
#include "node/payload.h"
#include "perf/perf.h"
#include "perf/stages.h"
#include "perf/tuner.h"
#include "storage/storage.h"

namespace kestrel::node {

namespace hs = hotstuff2;
using Clock = std::chrono::steady_clock;

// Message types between validators (net's 16-bit application types).
enum class PeerMessageType : std::uint16_t { consensus = 1, transactions = 2, raw = 3 };

namespace {

std::string hex32(const Hash32& h) { return to_hex(h.bytes); }

Bytes encode_receipts(std::span<const execution::Receipt> receipts) {
  Bytes out;
  Writer w(out);
  w.varint(receipts.size());
  for (const auto& r : receipts) w.bytes(execution::encode_receipt(r), 256);
  return out;
}

struct RawKey {
  std::uint16_t origin;
  std::uint64_t connection;
  std::uint64_t sequence;
  bool operator==(const RawKey&) const = default;
};
struct RawKeyHasher {
  // SplitMix64's finalizer over the three fields: consecutive sequences of one
  // connection spread over all buckets.
  std::size_t operator()(const RawKey& k) const {
    std::uint64_t z = k.sequence + 0x9E3779B97F4A7C15ull * (k.connection + 1) + (static_cast<std::uint64_t>(k.origin) << 56);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<std::size_t>(z ^ (z >> 31));
  }
};
RawKey key_of(const RawEntry& e) { return {e.origin, e.connection, e.sequence}; }

// --- Events for the consensus thread ---------------------------------------------

struct PeerConsensus {
  hs::ReplicaId from;
  hs::Message message;  // every signature verified (contract 1)
};
struct PeerTransactions {
  std::vector<Bytes> transactions;
};
struct PeerRaw {
  std::vector<RawEntry> entries;
};
struct ClientSubmit {
  std::vector<Bytes> transactions;
  std::function<void(std::vector<SubmitOutcome>)> done;
  Clock::time_point posted;
};
struct ClientWait {
  execution::TransactionId id;
  Clock::time_point deadline;
  std::function<void(std::optional<execution::Receipt>)> done;
};
struct ClientAccount {
  execution::AccountId id;
  std::function<void(AccountResponse)> done;
};
struct ClientKey {
  execution::AccountId id;
  Bytes key;
  std::function<void(std::optional<Bytes>)> done;
};
struct ClientRaw {
  std::uint64_t connection;
  std::vector<RawCommand> commands;
  std::function<void(std::vector<std::uint64_t>, std::uint64_t)> committed;
  std::function<void(std::uint8_t)> refused;
  Clock::time_point posted;
};
struct ConnectionClosed {
  std::uint64_t connection;
};
using Event = std::variant<PeerConsensus, PeerTransactions, PeerRaw, ClientSubmit, ClientWait, ClientAccount,
                           ClientKey, ClientRaw, ConnectionClosed>;

// Bounded multi-producer queue; producers block while it is full (backpressure).
class EventQueue {
 public:
  // False when stopping.
  bool push(Event event) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return stopping_ || events_.size() < limits::node_event_queue_max; });
    if (stopping_) return false;
    events_.push_back(std::move(event));
    not_empty_.notify_one();
    return true;
  }
  // Waits until an event arrives, `deadline`, or stop; moves out everything queued.
  void pop_all(std::deque<Event>& out, Clock::time_point deadline) {
    std::unique_lock lock(mutex_);
    not_empty_.wait_until(lock, deadline, [&] { return stopping_ || !events_.empty(); });
    out.swap(events_);
    events_.clear();
    not_full_.notify_all();
  }
  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Event> events_;
  bool stopping_ = false;
};

}  // namespace

// What a node knows of a block that is proposed but not committed.
struct BlockInfo {
  hs::Height height = 0;
  hs::View view = 0;
  hs::BlockId parent;
  std::vector<execution::TransactionId> ids;
  std::vector<RawKey> raw;
  // When the core stored the block here (its proposal sent or received, or the
  // block fetched): the start of kestrel_consensus_commit_latency_seconds.
  std::chrono::steady_clock::time_point stored_at{};
};

class Node::Impl {
 public:
  explicit Impl(const NodeConfig& config)
      : config_(config), started_at_(Clock::now()), metrics_(perf::global_registry()), stages_(metrics_.stages) {}
  ~Impl() { stop(); }

  Status<std::string> open();
  void stop();
  NodeStatus status() const {
    std::lock_guard lock(status_mutex_);
    NodeStatus s = status_;
    s.uptime_seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
    return s;
  }
  std::string stages_json() const { return stages_.json(); }
  bool healthy() const { return running_; }
  bool failed() const { return failed_; }
  NodeMetrics& metrics() { return metrics_; }  // refresh functions are thread-safe
  void post(Event e) {
    if (!events_.push(std::move(e))) {
      // Stopping: answer nothing; the servers close their connections.
    }
  }

 private:
  // Net thread.
  void on_peer_message(net::ValidatorId from, std::uint16_t type, ByteSpan payload);
  // Consensus thread.
  void run();
  void handle(Event& event);
  void on_consensus(PeerConsensus& m);
  void step(const hs::Input& input);
  void execute_commits();
  void apply_commit(const hs::Committed& c);
  // Signs and sends output_.sends: with early, only those marked before_persist
  // (removed from the list once sent); without, the rest.
  void send_outputs(bool early = false);
  // Answers the clients whose transactions the step committed (receipts_due_,
  // raw_due_): after the synced write, or before it with gate node.early_receipts.
  void deliver_receipts();
  void maybe_prepare_payload(bool force);
  std::optional<Clock::time_point> payload_retry_at() const;
  bool leading_soon(hs::View view) const;  // we lead this view or the next
  bool pool_grew_while_empty() const;      // the core holds an empty payload and the pool changed
  // Batches are rebuilt (copying up to a block of transactions) at most this often
  // when only the pool changed.
  static constexpr auto prepare_interval_min = std::chrono::milliseconds(1);
  void flush_gossip();
  void expire_waiters(Clock::time_point now);
  void publish_status();
  void serve_fetch_from_store(hs::ReplicaId from, const hs::FetchRequest& request);
  BlockInfo info_of(const hs::BlockId& id, const hs::Block& block);
  void note_block(const hs::BlockId& id, const hs::Block& block);
  hs::Tick now_tick() const {
    return static_cast<hs::Tick>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count());
  }
  void sign(hs::Message& message) const;
  Status<std::string> restore_state(const std::string& path, hs::RestoredState& restored);
  void persist_block(const hs::BlockId& id, const hs::Block& block);
  // Deletes from the store the pending blocks `drop(id, height)` picks and forgets
  // those it deleted (a failed delete stays, tried again later); returns how many.
  template <typename Pick>
  std::size_t drop_pending_blocks(Pick drop);
  void prune_pending_blocks();
  // Logs a failure on its first occurrence and every 1,000th: bumps `count` and
  // returns whether to log this one.
  static bool note_rare(std::uint64_t& count) { return ++count % 1000 == 1; }
  // A store write the node cannot go on without failed: log it, stop the step and
  // the consensus thread (docs/node.md "When a store write fails").
  void stop_on_store_failure(const std::string& what, storage::StorageError error);
  void refresh_metrics();
  // Adaptive tuner (gate perf.adaptive_tuning; docs/performance.md "In the node").
  bool tuning() const { return tuner_.has_value() && gate_enabled(Gate::perf_adaptive_tuning); }
  std::uint32_t batch_limit() const { return tuning() ? tuner_->batch_transactions() : config_.batch_transactions_max; }
  void note_latency(Clock::duration latency);
  void tuner_step();

  NodeConfig config_;
  Clock::time_point started_at_;
  NodeMetrics metrics_;
  perf::StageProfile& stages_;  // metrics_.stages
  std::atomic<bool> running_{false};
  std::atomic<bool> failed_{false};  // a store write failed: the consensus thread stopped itself
  std::uint32_t n_ = 0;
  hs::ReplicaId self_ = 0;

  std::unique_ptr<crypto::Signer> signer_;
  std::vector<std::unique_ptr<crypto::Verifier>> validator_keys_;
  std::unique_ptr<crypto::VerifyCache> cache_;
  std::unique_ptr<crypto::ParallelVerifier> verifier_;
  std::unique_ptr<storage::Store> store_;
  std::optional<execution::Ledger> ledger_;
  std::unique_ptr<mempool::Mempool> mempool_;
  std::unique_ptr<hs::Replica> replica_;
  std::unique_ptr<net::Network> network_;

  EventQueue events_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::mutex stop_mutex_;

  // Consensus-thread state.
  hs::Output output_;
  std::deque<hs::Message> to_self_;
  hs::Tick wake_tick_ = 0;
  std::map<hs::BlockId, BlockInfo> in_flight_;  // proposed, not committed
  std::vector<Bytes> gossip_transactions_;
  std::vector<RawEntry> gossip_raw_;
  // Raw pool: entries by key, in arrival order.
  std::deque<RawEntry> raw_queue_;
  std::unordered_map<RawKey, bool, RawKeyHasher> raw_pool_;  // key -> in a proposal
  // One per submit_raw call: its callback and how many of its commands are still
  // uncommitted; every pending command of ours points to its call.
  struct RawCall {
    std::function<void(std::vector<std::uint64_t>, std::uint64_t)> committed;
    std::size_t remaining = 0;
    Clock::time_point admitted;  // for the tuner's submit-to-commit latency
  };
  std::unordered_map<RawKey, std::shared_ptr<RawCall>, RawKeyHasher> raw_calls_;
  std::unordered_map<execution::TransactionId, std::vector<ClientWait>, Hash32Hasher> waiters_;
  std::size_t waiter_count_ = 0;
  std::unordered_map<execution::TransactionId, execution::Receipt, Hash32Hasher> recent_receipts_;
  std::deque<execution::TransactionId> recent_order_;
  // Delivered by deliver_receipts(): after the step's sync, or before it with gate
  // node.early_receipts.
  std::vector<std::pair<ClientWait, execution::Receipt>> receipts_due_;
  std::vector<std::pair<std::shared_ptr<RawCall>, std::pair<std::vector<std::uint64_t>, std::uint64_t>>> raw_due_;
  struct FetchBudget {
    std::size_t requests = 0, bytes = 0;
    std::uint64_t second = 0;
  };
  std::map<hs::ReplicaId, FetchBudget> store_fetch_budget_;  // store-served fetches per peer this second
  std::uint64_t store_fetches_refused_ = 0;
  // Transaction ids of the last proposal checked (on_consensus), for note_block.
  std::pair<hs::BlockId, std::vector<execution::TransactionId>> checked_ids_;
  // Proposal transactions that took the known path / were decoded and verified.
  std::uint64_t proposal_transactions_known_ = 0, proposal_transactions_checked_ = 0;
  std::uint64_t early_receipts_ = 0;  // answers sent before the step's sync (gate node.early_receipts)
  std::uint64_t fresh_payloads_ = 0;  // payloads built before a peer message's step (gate node.fresh_payload)
  std::uint64_t votes_withheld_ = 0;  // votes not sent: their block is not in this node's store
  std::uint64_t pending_put_failures_ = 0;  // pending blocks the store refused (logged rarely)
  // Where the consensus thread's wall time goes (kestrel_node_thread_seconds_total):
  // nanoseconds per activity, written by the consensus thread only.
  enum Activity : std::size_t {
    activity_idle, activity_consensus, activity_gossip_transactions, activity_gossip_raw, activity_client_submit,
    activity_client_raw, activity_client_other, activity_tick, activity_payload, activity_gossip_send,
    activity_housekeeping, activity_count
  };
  std::array<std::uint64_t, activity_count> thread_ns_{};
  void account(Activity a, Clock::time_point& since) {
    const auto now = Clock::now();
    thread_ns_[a] += static_cast<std::uint64_t>((now - since).count());
    since = now;
  }
  hs::View prepared_view_ = 0;
  std::uint64_t pool_version_ = 0, prepared_pool_version_ = 0;
  std::uint64_t in_flight_version_ = 0, prepared_in_flight_version_ = 0;
  bool prepared_nonempty_ = false;
  Clock::time_point last_prepare_{};
  Clock::time_point last_status_{};
  std::uint64_t transactions_committed_ = 0, raw_committed_ = 0, last_commit_unix_ms_ = 0;
  std::atomic<std::uint64_t> bad_peer_messages_{0}, bad_signatures_{0}, bad_proposals_{0}, unsolicited_fetch_responses_{0};
  // Fetch requests sent to each peer and not yet answered: a fetch response
  // nobody asked for is dropped before its (many) signatures are verified.
  std::array<std::atomic<std::uint32_t>, limits::validators_max> fetches_outstanding_{};
  std::map<hs::BlockId, hs::Height> pending_blocks_;  // persisted, not committed (store's pending family)
  bool pending_written_ = false;                      // a pending block awaits the step's sync
  std::map<hs::View, Clock::time_point> proposed_at_;  // our proposals, for vote_collection
  std::map<hs::View, Clock::time_point> certified_at_; // QC seen for a view, for the commit stage
  hs::View last_lock_view_ = 0;
  std::unordered_map<execution::TransactionId, Clock::time_point, Hash32Hasher> admitted_at_;  // mempool_wait
  Clock::time_point last_metrics_{};

  // Adaptive tuner: present when the gate was on at start.
  std::optional<perf::Tuner> tuner_;
  Clock::time_point tuner_last_{};
  // What the node observed in the current control interval (raw commands are
  // counted apart and enter the tuner as raw / 8, the batch ratio below).
  struct TunerWindow {
    std::vector<std::uint32_t> latency_us;  // uniform reservoir, <= limits::node_tuner_latency_samples_max
    std::uint64_t latency_seen = 0;
    std::uint64_t arrived_transactions = 0, arrived_raw = 0;
    std::uint64_t blocks = 0, batched_transactions = 0, batched_raw = 0;
  } tuner_window_;
  std::uint64_t reservoir_state_ = 0;  // SplitMix64 state of the reservoir sample
  // Flush hold: when the current view began (the hold's clock), the last view we
  // proposed in, whether the core holds for us (PayloadReady::hold), and when
  // the held batch goes out at the latest.
  hs::View entered_view_ = 0;
  Clock::time_point view_entered_at_{};
  hs::View proposed_view_ = 0;
  bool prepared_held_ = false;
  std::optional<Clock::time_point> hold_deadline_;

  // Test failpoints (docs/node.md "Test failpoints"): after this many early receipts
  // the node exits before the step's synced write (0: off); every pending-block
  // put is refused as if the store's pending family were full.
  std::uint64_t test_exit_after_early_receipts_ = 0;
  bool test_refuse_pending_blocks_ = false;
  std::uint64_t test_fail_commit_at_height_ = 0;  // 0: off

  mutable std::mutex status_mutex_;
  NodeStatus status_;
};

// A test failpoint's setting from the environment (a positive count; anything else
// leaves it off), logged with what it does when armed.
static std::uint64_t test_failpoint_setting(const char* name, const char* effect) {
  const char* value = std::getenv(name);
  if (value == nullptr) return 0;
  std::uint64_t count = 0;
  const std::string_view text(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc{} || end != text.data() + text.size()) {
    spdlog::warn("{}={}: not a count; the test failpoint stays off", name, text);
    return 0;
  }
  if (count != 0) spdlog::warn("test failpoint {}={}: {}", name, count, effect);
  return count;
}

// --- Start --------------------------------------------------------------------------

Status<std::string> Node::Impl::open() {
  n_ = static_cast<std::uint32_t>(config_.validators.size());
  self_ = config_.id;
  test_exit_after_early_receipts_ = test_failpoint_setting(
      "KESTREL_TEST_EXIT_AFTER_EARLY_RECEIPTS",
      "after that many early receipts the node exits (node::test_exit_status) before the step's synced write");
  test_refuse_pending_blocks_ = test_failpoint_setting("KESTREL_TEST_REFUSE_PENDING_BLOCKS",
                                                       "every pending-block put is refused (pending_full)") != 0;
  test_fail_commit_at_height_ = test_failpoint_setting("KESTREL_TEST_FAIL_COMMIT_AT_HEIGHT",
                                                       "the commit of that height fails as an I/O error would");
  if (config_.chain_id > 0xFFFFFFFFull) return Err(config_.path + ": cluster.chain_id: must fit in 32 bits");

  auto signer = read_secret_key_file(resolve_path(config_, config_.key_file));
  if (!signer) return Err(resolve_path(config_, config_.key_file) + ": " + describe(signer.error()));
  signer_ = std::move(*signer);
  for (const auto& v : config_.validators) {
    auto key = crypto::decode_public_key(v.public_key);
    if (!key) return Err(config_.path + ": validator " + std::to_string(v.id) + " public key: " + crypto::describe(key.error()));
    validator_keys_.push_back(std::move(*key));
  }
  if (crypto::encode_public_key(signer_->verifier()) != config_.validators[self_].public_key) {
    return Err(resolve_path(config_, config_.key_file) + ": not the key of validator " + std::to_string(self_));
  }
  raw_pool_.reserve(config_.raw_mode ? limits::node_raw_pool_max : 0);
  cache_ = std::make_unique<crypto::VerifyCache>();
  verifier_ = std::make_unique<crypto::ParallelVerifier>(std::max(1u, std::min(2u, std::thread::hardware_concurrency())),
                                                         cache_.get());

  // Store and ledger.
  storage::Options so;
  so.path = resolve_path(config_, config_.data_dir);
  so.cluster_id = cluster_id_of(config_);
  so.keep_blocks = config_.keep_committed_blocks;
  std::string detail;
  auto store = storage::Store::open(so, &detail);
  if (!store) return Err(so.path + ": " + storage::describe(store.error()) + (detail.empty() ? "" : ": " + detail));
  store_ = std::move(*store);
  if (gate_enabled(Gate::storage_direct_io_flush) && !store_->direct_io()) {
    spdlog::warn("{}: the filesystem refuses O_DIRECT; storage flushes are buffered (gate storage.direct_io_flush)",
                 so.path);
  }

  std::vector<execution::GenesisAllocation> genesis;
  for (const auto& g : config_.genesis) {
    auto key = crypto::decode_public_key(g.public_key);
    if (!key) return Err(config_.path + ": cluster.genesis: " + crypto::describe(key.error()));
    genesis.push_back({execution::account_id((*key)->scheme(), (*key)->public_key()), g.balance});
  }
  auto ledger = execution::Ledger::create(static_cast<std::uint32_t>(config_.chain_id), genesis);
  if (!ledger) return Err(config_.path + ": cluster.genesis: " + execution::describe(ledger.error()));
  ledger_ = std::move(*ledger);
  hs::RestoredState restored;
  if (auto r = restore_state(so.path, restored); !r) return Err(r.error());

  mempool::Config mc;
  mc.chain_id = static_cast<std::uint32_t>(config_.chain_id);
  mc.bytes_max = limits::node_mempool_bytes_max;
  mempool_ = std::make_unique<mempool::Mempool>(mc, *verifier_,
                                                [this](const execution::AccountId& id) { return ledger_->account(id).nonce; });

  // Consensus core, restored from the safety record.
  hs::Config hc;
  hc.chain_id = config_.chain_id;
  hc.self = self_;
  hc.n = n_;
  hc.view_timeout_ticks = config_.view_timeout_ms;
  hc.view_timeout_ticks_max = config_.view_timeout_max_ms;
  hc.propose_wait_ticks = config_.propose_wait_ms;
  hc.idle_propose_delay_ticks = config_.idle_delay_ms;
  // Read once: the reservation and the early send must agree for the node's life.
  hc.reserve_next_proposal = gate_enabled(Gate::consensus_early_proposal);
  hc.leader_reputation = gate_enabled(Gate::consensus_leader_reputation);
  hc.keep_committed_blocks = limits::node_core_committed_blocks;  // older blocks are served from the store
  // How far behind a node can catch up by block fetch (docs/node.md "Catch-up").
  hc.blocks_max = limits::node_catch_up_blocks_max;
  hc.commit_walk_max = limits::node_catch_up_blocks_max;
  // Validity is the protocol's bound; batch_bytes_max only sizes our own batches
  // (a smaller local setting must not make certified blocks unfetchable).
  hc.payload_bytes_max = limits::block_payload_bytes_max;
  // stored_payload_bytes_max stays at the core's default (256 MiB): in steady state
  // the core holds only the uncommitted chain and 16 committed blocks, but a node
  // catching up holds the whole fetched chain until it reaches its committed head,
  // so this bounds how far behind a node can catch up (docs/node.md "Catch-up").
  // The store's pending family holds as many blocks as the core (a node votes only
  // for a block it stored), and twice the core's payload bytes for their headers
  // and QCs.
  KESTREL_ASSERT(hc.blocks_max <= limits::storage_pending_blocks_max);
  KESTREL_ASSERT(2 * hc.stored_payload_bytes_max <= limits::storage_pending_blocks_bytes_max);
  replica_ = std::make_unique<hs::Replica>(hc, restored);

  // Network.
  net::NetworkConfig nc;
  nc.self = static_cast<net::ValidatorId>(self_);
  nc.cluster_id = so.cluster_id;
  nc.identity = signer_.get();
  for (const auto& k : validator_keys_) nc.validators.push_back(k.get());
  nc.listen_host = config_.validators[self_].address.host;
  nc.listen_port = config_.validators[self_].address.port;
  auto network = net::Network::start(nc, [this](net::ValidatorId from, std::uint16_t type, ByteSpan payload) {
    on_peer_message(from, type, payload);
  });
  if (!network) {
    return Err("validator listener " + nc.listen_host + ":" + std::to_string(nc.listen_port) + ": " +
               net::describe(network.error()));
  }
  network_ = std::move(*network);
  for (const auto& v : config_.validators) {
    if (v.id != self_) network_->set_peer_address(static_cast<net::ValidatorId>(v.id), {v.address.host, v.address.port});
  }
  if (gate_enabled(Gate::perf_adaptive_tuning)) {
    auto tuner = perf::Tuner::create(config_.tuner.controller);
    if (!tuner) return Err(config_.path + ": tuner: " + perf::describe(tuner.error()));
    tuner_.emplace(std::move(*tuner));
    tuner_window_.latency_us.reserve(limits::node_tuner_latency_samples_max);
    spdlog::info("adaptive tuner on: target p99 {} ms, interval {} ms, batch {} in [{}, {}], flush delay {} us in [{}, {}]",
                 config_.tuner.controller.latency_target_us / 1000, config_.tuner.interval_ms,
                 tuner_->batch_transactions(), config_.tuner.controller.batch_transactions_min,
                 config_.tuner.controller.batch_transactions_max, tuner_->flush_delay_us(),
                 config_.tuner.controller.flush_delay_us_min, config_.tuner.controller.flush_delay_us_max);
  }
  publish_status();
  thread_ = std::thread([this] { run(); });
  return {};
}

// Restart (docs/node.md "Restart", docs/storage.md): a fresh store gets the genesis
// state; otherwise the ledger is rebuilt from the stored state and checked against
// the stored digest, and the core from the safety record, the last committed
// blocks and the pending (uncommitted) blocks.
Status<std::string> Node::Impl::restore_state(const std::string& path, hs::RestoredState& restored) {
  const std::uint64_t height = store_->committed_height();
  auto first = store_->state_range({}, 1);
  if (!first) return Err(path + ": state: " + storage::describe(first.error()));
  if (height == 0 && first->empty()) {
    // A new store: write the genesis state, so a restart can rebuild from the store alone.
    Bytes after;
    for (;;) {
      auto page = ledger_->state_entries(after, limits::ledger_restore_page_entries);
      if (page.empty()) break;
      after = page.back().key;
      for (const auto& e : page) {
        if (auto st = store_->put_state(e.key, e.value); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
      }
    }
    if (auto st = store_->flush(); !st) return Err(path + ": genesis state: " + storage::describe(st.error()));
  } else {
    std::vector<execution::Receipt> receipts;
    if (height > 0) {
      auto bytes = store_->receipts(height);
      if (!bytes) return Err(path + ": receipts of height " + std::to_string(height) + ": " + storage::describe(bytes.error()));
      Reader r(*bytes);
      auto count = r.varint_max(limits::block_transactions_max);
      if (!count) return Err(path + ": receipts of height " + std::to_string(height) + " do not decode");
      for (std::uint64_t i = 0; i < *count; ++i) {
        auto one = r.bytes(256);
        if (!one) return Err(path + ": receipts of height " + std::to_string(height) + " do not decode");
        auto receipt = execution::decode_receipt(*one);
        if (!receipt) return Err(path + ": a receipt of height " + std::to_string(height) + " does not decode");
        receipts.push_back(*receipt);
      }
    }
    std::optional<storage::StorageError> source_error;
    auto ledger = execution::Ledger::restore(
        static_cast<std::uint32_t>(config_.chain_id), height, receipts,
        [&](ByteSpan after, std::size_t max) -> std::optional<std::vector<execution::StateEntry>> {
          auto page = store_->state_range(after, max);
          if (!page) {
            source_error = page.error();
            return std::nullopt;
          }
          return std::move(*page);
        });
    if (!ledger) {
      return Err(path + ": ledger restore: " + execution::describe(ledger.error()) +
                 (source_error ? std::string(": ") + storage::describe(*source_error) : ""));
    }
    if (height > 0) {
      auto digest = store_->last_state_digest();
      if (!digest) return Err(path + ": state digest: " + storage::describe(digest.error()));
      if (*digest != ledger->state_digest()) {
        return Err(path + ": the restored state's digest differs from the one stored at height " + std::to_string(height) +
                   " (state and blocks disagree; the store is refused, nothing repaired)");
      }
    } else if (ledger->state_digest() != ledger_->state_digest()) {
      return Err(path + ": the stored state is not this cluster's genesis");
    }
    ledger_ = std::move(*ledger);
  }

  auto safety = store_->safety_record();
  if (!safety) return Err(path + ": safety record: " + storage::describe(safety.error()));
  if (*safety) {
    auto record = hs::decode_safety_record(**safety);
    if (!record) return Err(path + ": safety record does not decode: " + describe(record.error()));
    restored.safety = std::move(*record);
  }
  if (height > 0) {
    auto id = store_->block_id_at(height);
    if (!id) return Err(path + ": block id at " + std::to_string(height) + ": " + storage::describe(id.error()));
    restored.commit = hs::CommitMarker{height, *id};
    const std::uint64_t keep = limits::node_core_committed_blocks;
    const std::uint64_t from = std::max<std::uint64_t>(store_->first_kept_height(), height > keep ? height - keep + 1 : 1);
    for (std::uint64_t h = from; h <= height; ++h) {
      auto bytes = store_->block_at(h);
      if (!bytes) return Err(path + ": block " + std::to_string(h) + ": " + storage::describe(bytes.error()));
      auto block = hs::decode_block(**bytes);
      if (!block) return Err(path + ": block " + std::to_string(h) + " does not decode");
      restored.blocks.push_back(std::move(*block));
    }
  }
  auto pending = store_->pending_blocks();
  if (!pending) return Err(path + ": pending blocks: " + storage::describe(pending.error()));
  for (auto& [id, bytes] : *pending) {
    auto block = hs::decode_block(bytes);
    if (!block) return Err(path + ": a pending block does not decode");
    pending_blocks_[id] = block->height;
    if (block->height > height) restored.blocks.push_back(std::move(*block));
  }
  prune_pending_blocks();
  if (height > 0 || restored.safety) {
    spdlog::info("restarted from {}: height {}, state digest {}, {} pending blocks, last voted view {}", path, height,
                 hex32(ledger_->state_digest()).substr(0, 16), restored.blocks.size(),
                 restored.safety ? restored.safety->last_voted_view : 0);
  }
  return {};
}

void Node::Impl::persist_block(const hs::BlockId& id, const hs::Block& block) {
  if (pending_blocks_.count(id) || block.height <= store_->committed_height()) return;
  const Bytes encoded = hs::encode_block(block);
  auto put = [&] {
    return test_refuse_pending_blocks_ ? Status<storage::StorageError>(Err(storage::StorageError::pending_full))
                                       : store_->put_pending_block(id, encoded);
  };
  auto s = put();
  // Full: the blocks the core evicted (forks, uncertified proposals) go, then once
  // more. The core holds no more than the family does (limits.h), so this fits
  // unless the store failed.
  if (!s && s.error() == storage::StorageError::pending_full) {
    const std::size_t dropped =
        drop_pending_blocks([&](const hs::BlockId& held, hs::Height) { return !replica_->has_block(held); });
    if (dropped > 0) {
      spdlog::info("pending blocks full: dropped {} the core no longer holds", dropped);
      s = put();
    }
  }
  if (!s) {
    // The block stays in memory (a restart would fetch it from peers), and this
    // node does not vote for it (send_outputs).
    if (note_rare(pending_put_failures_)) {
      spdlog::warn("pending block at height {} not persisted: {} ({} so far)", block.height,
                   storage::describe(s.error()), pending_put_failures_);
    }
    return;
  }
  pending_blocks_[id] = block.height;
  pending_written_ = true;
}

template <typename Pick>
std::size_t Node::Impl::drop_pending_blocks(Pick drop) {
  return std::erase_if(pending_blocks_, [&](const auto& entry) {
    return drop(entry.first, entry.second) && store_->delete_pending_block(entry.first).ok();
  });
}

// Pending blocks at or below the committed height are committed (the store removed
// them) or dead forks: delete the latter.
void Node::Impl::prune_pending_blocks() {
  const hs::Height committed = store_->committed_height();
  drop_pending_blocks([&](const hs::BlockId&, hs::Height height) { return height <= committed; });
}

void Node::Impl::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  events_.stop();
  if (thread_.joinable()) thread_.join();
  if (network_) network_->stop();
  if (store_) {
    if (auto s = store_->flush(); !s) spdlog::error("store flush at shutdown: {}", storage::describe(s.error()));
  }
}

// --- Net thread: decode and verify ----------------------------------------------------

void Node::Impl::on_peer_message(net::ValidatorId from, std::uint16_t type, ByteSpan payload) {
  if (from >= n_) return;  // the network authenticated it; cannot happen
  switch (static_cast<PeerMessageType>(type)) {
    case PeerMessageType::consensus: {
      auto message = hs::decode_message(payload);
      if (!message) {
        ++bad_peer_messages_;
        return;
      }
      if (std::holds_alternative<hs::FetchResponse>(*message)) {
        auto& outstanding = fetches_outstanding_[from];
        std::uint32_t expected = outstanding.load(std::memory_order_relaxed);
        do {
          if (expected == 0) {
            ++unsolicited_fetch_responses_;
            return;
          }
        } while (!outstanding.compare_exchange_weak(expected, expected - 1, std::memory_order_relaxed));
      }
      std::vector<hs::SignatureCheck> checks;
      if (!hs::collect_signature_checks(*message, config_.chain_id, n_, checks)) {
        ++bad_peer_messages_;
        return;
      }
      if (!checks.empty()) {
        std::vector<crypto::VerifyItem> items;
        items.reserve(checks.size());
        for (const auto& c : checks) items.push_back({validator_keys_[c.signer].get(), c.message, c.signature});
        std::vector<std::uint8_t> valid(items.size());
        bool ok = false;
        {
          perf::StageTimer timer(stages_, perf::Stage::signature_verification);
          ok = verifier_->verify_batch(items, valid).ok();
        }
        const auto failed = static_cast<std::uint64_t>(std::count(valid.begin(), valid.end(), 0));
        metrics_.observe_verify_batch(items.size(), ok ? failed : items.size());
        if (!ok || failed != 0) {
          ++bad_signatures_;
          return;
        }
      }
      metrics_.count_received(static_cast<hs::MessageType>(payload[0]));
      post(PeerConsensus{from, std::move(*message)});
      return;
    }
    case PeerMessageType::transactions: {
      auto batch = decode_transaction_batch(payload);
      if (!batch || batch->size() > limits::node_gossip_transactions_max) {
        ++bad_peer_messages_;
        return;
      }
      PeerTransactions event;
      event.transactions.reserve(batch->size());
      for (ByteSpan tx : *batch) event.transactions.emplace_back(tx.begin(), tx.end());
      post(std::move(event));
      return;
    }
    case PeerMessageType::raw: {
      auto batch = decode_raw_batch(payload);
      if (!batch || batch->size() > limits::node_gossip_raw_max || !config_.raw_mode) {
        ++bad_peer_messages_;
        return;
      }
      for (const auto& e : *batch) {
        if (e.origin != from) {  // a peer gossips only its own clients' commands
          ++bad_peer_messages_;
          return;
        }
      }
      post(PeerRaw{std::move(*batch)});
      return;
    }
  }
  ++bad_peer_messages_;
}

// --- Consensus thread ------------------------------------------------------------------

void Node::Impl::run() {
  running_ = true;
  step(hs::Start{now_tick()});
  std::deque<Event> batch;
  while (!stopping_) {
    const auto now = Clock::now();
    auto deadline = now + std::chrono::milliseconds(5);
    if (wake_tick_ != 0) {
      const auto wake = started_at_ + std::chrono::milliseconds(wake_tick_);
      deadline = std::min(deadline, std::max(now, wake));
    }
    if (hold_deadline_) deadline = std::min(deadline, std::max(now, *hold_deadline_));
    if (const auto retry = payload_retry_at()) deadline = std::min(deadline, std::max(now, *retry));
    Clock::time_point mark = now;
    events_.pop_all(batch, deadline);
    account(activity_idle, mark);
    for (Event& e : batch) {
      if (stopping_) break;
      handle(e);
      static constexpr Activity by_index[] = {activity_consensus,    activity_gossip_transactions, activity_gossip_raw,
                                              activity_client_submit, activity_client_other,       activity_client_other,
                                              activity_client_other,  activity_client_raw,         activity_client_other};
      static_assert(std::size(by_index) == std::variant_size_v<Event>);
      account(by_index[e.index()], mark);
    }
    batch.clear();
    if (stopping_) break;
    if (wake_tick_ != 0 && now_tick() >= wake_tick_) step(hs::TickInput{now_tick()});
    account(activity_tick, mark);
    if (hold_deadline_ && Clock::now() >= *hold_deadline_) {
      hold_deadline_.reset();
      maybe_prepare_payload(true);  // the flush delay passed: release the held batch
    }
    maybe_prepare_payload(false);
    account(activity_payload, mark);
    flush_gossip();
    account(activity_gossip_send, mark);
    const auto after = Clock::now();
    if (after - last_status_ >= std::chrono::milliseconds(100)) {
      expire_waiters(after);
      publish_status();
      last_status_ = after;
    }
    if (after - last_metrics_ >= std::chrono::milliseconds(500)) {
      refresh_metrics();
      last_metrics_ = after;
    }
    if (tuner_ && after - tuner_last_ >= std::chrono::milliseconds(config_.tuner.interval_ms)) {
      if (tuning()) tuner_step();
      tuner_last_ = after;
    }
    account(activity_housekeeping, mark);
  }
  running_ = false;
  events_.stop();  // producers must not block on a queue nobody drains
  // Fail every waiting client: the node is going away. Those a failed step had
  // answers for hear nothing committed either: their commits were not yet synced
  // when the store failed.
  for (auto& [id, list] : waiters_) {
    for (auto& w : list) w.done(std::nullopt);
  }
  waiters_.clear();
  for (auto& [wait, receipt] : receipts_due_) wait.done(std::nullopt);
  receipts_due_.clear();
  raw_due_.clear();  // raw clients learn it from their closed connection
}

void Node::Impl::handle(Event& event) {
  std::visit(
      [&](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, PeerConsensus>) {
          on_consensus(e);
        } else if constexpr (std::is_same_v<T, PeerTransactions>) {
          std::vector<ByteSpan> spans(e.transactions.begin(), e.transactions.end());
          auto results = [&] {
            perf::StageTimer timer(stages_, perf::Stage::signature_verification);
            return mempool_->admit(spans);
          }();
          for (const auto& r : results) {
            if (r) {
              ++pool_version_;
              ++tuner_window_.arrived_transactions;
            }
          }
        } else if constexpr (std::is_same_v<T, PeerRaw>) {
          for (const auto& entry : e.entries) {
            if (raw_pool_.size() >= limits::node_raw_pool_max) break;
            if (raw_pool_.emplace(key_of(entry), false).second) {
              raw_queue_.push_back(entry);
              ++pool_version_;
              ++tuner_window_.arrived_raw;
            }
          }
        } else if constexpr (std::is_same_v<T, ClientSubmit>) {
          const auto begin = Clock::now();
          stages_.record(perf::Stage::client_ingress, static_cast<std::uint64_t>((begin - e.posted).count()), 0);
          std::vector<ByteSpan> spans(e.transactions.begin(), e.transactions.end());
          auto results = [&] {
            perf::StageTimer timer(stages_, perf::Stage::signature_verification);
            return mempool_->admit(spans);
          }();
          std::vector<SubmitOutcome> out(results.size());
          for (std::size_t i = 0; i < results.size(); ++i) {
            if (results[i]) {
              out[i] = {true, *results[i], 0};
              if (admitted_at_.size() < limits::mempool_transactions_max) admitted_at_[*results[i]] = begin;
              gossip_transactions_.push_back(std::move(e.transactions[i]));
              ++pool_version_;
              ++tuner_window_.arrived_transactions;
            } else {
              out[i] = {false, {}, static_cast<std::uint8_t>(results[i].error())};
            }
          }
          e.done(std::move(out));
        } else if constexpr (std::is_same_v<T, ClientWait>) {
          if (auto r = recent_receipts_.find(e.id); r != recent_receipts_.end()) {
            e.done(r->second);
          } else if (waiter_count_ >= limits::node_receipt_waiters_max) {
            e.done(std::nullopt);
          } else {
            waiters_[e.id].push_back(std::move(e));
            ++waiter_count_;
          }
        } else if constexpr (std::is_same_v<T, ClientAccount>) {
          const execution::Account account = ledger_->account(e.id);
          e.done(AccountResponse{account, mempool_->pending_next_nonce(e.id, account.nonce)});
        } else if constexpr (std::is_same_v<T, ClientKey>) {
          e.done(ledger_->get(e.id, e.key));
        } else if constexpr (std::is_same_v<T, ClientRaw>) {
          stages_.record(perf::Stage::client_ingress, static_cast<std::uint64_t>((Clock::now() - e.posted).count()), 0);
          if (!config_.raw_mode) {
            e.refused(static_cast<std::uint8_t>(ClientErrorCode::raw_disabled));
            return;
          }
          if (raw_pool_.size() + e.commands.size() > limits::node_raw_pool_max) {
            e.refused(static_cast<std::uint8_t>(ClientErrorCode::overloaded));
            return;
          }
          // Every sequence must be new on this connection (the client server
          // waits for each one): a repeat refuses the whole call.
          {
            std::unordered_set<std::uint64_t> seen;
            for (const auto& c : e.commands) {
              if (!seen.insert(c.sequence).second ||
                  raw_pool_.count(RawKey{static_cast<std::uint16_t>(self_), e.connection, c.sequence})) {
                e.refused(static_cast<std::uint8_t>(ClientErrorCode::malformed));
                return;
              }
            }
          }
          auto call = std::make_shared<RawCall>();
          call->committed = std::move(e.committed);
          call->admitted = Clock::now();
          for (const auto& c : e.commands) {
            RawEntry entry{static_cast<std::uint16_t>(self_), e.connection, c.sequence, c.command};
            // A sequence already pending on this connection (a client reusing one)
            // keeps its first call; this call does not wait for it.
            if (raw_pool_.emplace(key_of(entry), false).second) {
              raw_queue_.push_back(entry);
              gossip_raw_.push_back(entry);
              raw_calls_.emplace(key_of(entry), call);
              ++call->remaining;
              ++pool_version_;
              ++tuner_window_.arrived_raw;
            }
          }
        } else {
          static_assert(std::is_same_v<T, ConnectionClosed>);
          std::erase_if(raw_calls_, [&](const auto& entry) { return entry.first.connection == e.connection; });
        }
      },
      event);
}

BlockInfo Node::Impl::info_of(const hs::BlockId& id, const hs::Block& block) {
  BlockInfo info;
  info.height = block.height;
  info.view = block.view;
  info.parent = block.parent;
  auto payload = decode_payload(block.payload);
  if (!payload) return info;
  if (checked_ids_.first == id && checked_ids_.second.size() == payload->transactions.size()) {
    info.ids = std::move(checked_ids_.second);  // hashed once, by the proposal check
    checked_ids_ = {};
    KESTREL_DEBUG_ASSERT(std::equal(info.ids.begin(), info.ids.end(), payload->transactions.begin(),
                                    [](const auto& tx_id, ByteSpan tx) { return tx_id == execution::transaction_id(tx); }));
  } else {
    info.ids.reserve(payload->transactions.size());
    for (ByteSpan tx : payload->transactions) info.ids.push_back(execution::transaction_id(tx));
  }
  for (const auto& r : payload->raw) info.raw.push_back(key_of(r));
  return info;
}

void Node::Impl::note_block(const hs::BlockId& id, const hs::Block& block) {
  if (block.height <= replica_->committed_height() || in_flight_.count(id)) return;
  if (in_flight_.size() >= limits::node_in_flight_blocks_max) return;
  BlockInfo info = info_of(id, block);
  info.stored_at = Clock::now();
  if (!admitted_at_.empty()) {
    const auto now = info.stored_at;
    for (const auto& tx : info.ids) {
      if (auto a = admitted_at_.find(tx); a != admitted_at_.end()) {
        stages_.record(perf::Stage::mempool_wait, static_cast<std::uint64_t>((now - a->second).count()), 0);
      }
    }
  }
  for (const RawKey& k : info.raw) {
    if (auto it = raw_pool_.find(k); it != raw_pool_.end()) it->second = true;
  }
  ++tuner_window_.blocks;
  tuner_window_.batched_transactions += info.ids.size();
  tuner_window_.batched_raw += info.raw.size();
  in_flight_.emplace(id, std::move(info));
  ++in_flight_version_;
}

void Node::Impl::on_consensus(PeerConsensus& m) {
  if (auto* request = std::get_if<hs::FetchRequest>(&m.message)) {
    if (!replica_->has_block(request->block_id)) {
      serve_fetch_from_store(m.from, *request);
      return;
    }
  }
  if (auto* proposal = std::get_if<hs::Proposal>(&m.message)) {
    // Cheap checks first, so a Byzantine peer cannot make us verify its
    // transactions for a proposal the core would drop anyway: from its view's
    // leader, within the core's view window.
    const hs::Block& block = proposal->block;
    if (block.proposer != m.from || !replica_->plausible_proposer(block) ||
        block.view + 1 < replica_->view() || block.view > replica_->view() + replica_->config().view_jump_max) {
      ++bad_proposals_;
      step(hs::Received{m.from, std::move(m.message), now_tick()});  // the core counts why
      return;
    }
    // The transactions must be valid before we may vote (docs/node.md
    // "Proposal checks"): well-formed payload, and every signature verified (a
    // transaction gossiped to us earlier costs a cache hit).
    auto payload = decode_payload(proposal->block.payload);
    if (!payload) {
      ++bad_proposals_;
      return;
    }
    if (!payload->transactions.empty()) {
      perf::StageTimer timer(stages_, perf::Stage::proposal);
      std::size_t known = 0;
      auto checked = mempool_->verify_proposal(payload->transactions, &known);
      if (!checked) {
        ++bad_proposals_;
        spdlog::warn("proposal of view {} from {} refused: {}", proposal->block.view, m.from,
                     mempool::describe(checked.error()));
        return;
      }
      proposal_transactions_known_ += known;
      proposal_transactions_checked_ += checked->size() - known;
      // The ids again when the core stores this block (note_block), same step.
      checked_ids_ = {block.id(), std::move(*checked)};
    }
    if (!payload->raw.empty() && !config_.raw_mode) {
      ++bad_proposals_;
      return;
    }
  }
  // Gate node.fresh_payload: this message may complete the QC (or the view) that
  // makes us propose. If the pool grew since the core's payload was built and the
  // pools are small (light load: a handful of entries, cheap to scan again),
  // build it now. Otherwise a non-empty payload is rebuilt only at the next view
  // or commit (an empty one after the event batch, at most once per
  // prepare_interval_min), and work that arrived meanwhile waits a whole view.
  // Not before a proposal: its block is not in flight here until it is stepped,
  // so a payload built now could repeat its transactions; the votes that follow
  // it are what complete the QC.
  if (gate_enabled(Gate::node_fresh_payload) && !std::holds_alternative<hs::Proposal>(m.message) &&
      pool_version_ != prepared_pool_version_ &&
      mempool_->size() + raw_pool_.size() < limits::node_fresh_payload_pool_entries_max &&
      leading_soon(replica_->view())) {
    ++fresh_payloads_;
    maybe_prepare_payload(/*force=*/true);
  }
  step(hs::Received{m.from, std::move(m.message), now_tick()});
}

void Node::Impl::serve_fetch_from_store(hs::ReplicaId from, const hs::FetchRequest& request) {
  const std::uint64_t second = static_cast<std::uint64_t>(now_tick() / 1000);
  auto& budget = store_fetch_budget_[from];
  if (budget.second != second) budget = {0, 0, second};
  if (budget.requests >= limits::node_store_fetches_per_peer_per_second ||
      budget.bytes >= limits::node_store_fetch_bytes_per_peer_per_second) {
    ++store_fetches_refused_;
    return;
  }
  ++budget.requests;
  hs::FetchResponse response;
  hs::BlockId cursor = request.block_id;
  const std::uint32_t count = std::min<std::uint32_t>(std::max<std::uint32_t>(request.count_max, 1),
                                                      limits::consensus_fetch_blocks_max);
  std::size_t bytes = 0;
  while (response.blocks.size() < count) {
    auto stored = store_->block(cursor);
    if (!stored) break;
    // Stay under message_size_max, like the core's own answers.
    if (!response.blocks.empty() && bytes + stored->size() > limits::message_size_max / 2) break;
    auto block = hs::decode_block(*stored);
    if (!block) break;
    bytes += stored->size();
    cursor = block->parent;
    const bool at_genesis = block->height <= 1;
    response.blocks.push_back(std::move(*block));
    if (at_genesis) break;
  }
  if (response.blocks.empty()) return;  // a block we never committed: nothing to serve
  budget.bytes += bytes;
  const Bytes encoded = hs::encode_message(hs::Message(std::move(response)));
  (void)network_->try_send(static_cast<net::ValidatorId>(from), static_cast<std::uint16_t>(PeerMessageType::consensus),
                           encoded, net::Delivery::droppable);
}

void Node::Impl::sign(hs::Message& message) const {
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, hs::Proposal>) {
          if (m.signature.empty()) signer_->sign(hs::proposal_signing_bytes(config_.chain_id, m.block.id()), m.signature);
        } else if constexpr (std::is_same_v<T, hs::Vote>) {
          if (m.signature.empty()) signer_->sign(hs::vote_signing_bytes(config_.chain_id, m.view, m.block_id), m.signature);
        } else if constexpr (std::is_same_v<T, hs::Timeout>) {
          if (m.signature.empty()) {
            signer_->sign(hs::timeout_signing_bytes(config_.chain_id, m.view, m.high_qc.view), m.signature);
          }
        }
      },
      message);
}

// One step of the core and everything it asks for, in the contract's order
// (docs/node.md "One step of the core"): execute and append commits, queue the
// blocks to persist, send a reserved proposal and answer clients (each with its
// gate), the synced write, the other sends, then the clients not answered yet.
void Node::Impl::step(const hs::Input& input) {
  output_.clear();
  replica_->step(input, output_);
  if (output_.wake_at_tick) wake_tick_ = *output_.wake_at_tick;
  for (const auto& c : output_.commits) {
    apply_commit(c);
    if (stopping_) return;  // a commit could not be stored: nothing more of this step
  }

  const hs::SafetyRecord* safety = nullptr;
  for (const auto& record : output_.persist) {
    if (const auto* s = std::get_if<hs::SafetyRecord>(&record)) safety = s;
    if (const auto* b = std::get_if<hs::Block>(&record)) {
      // Only blocks the core stored count as in flight (a proposal the core
      // dropped must not hold transactions back).
      const hs::BlockId id = b->id();
      persist_block(id, *b);
      note_block(id, *b);
    }
  }
  // Contract 3's exception: a reserved proposal leaves before the synced write
  // (gate consensus.early_proposal; the core marks it only with the gate on).
  // First: every replica's next view waits for it.
  if (replica_->config().reserve_next_proposal) send_outputs(/*early=*/true);
  // A committed block is durable on a quorum already (each voter of the QC that
  // certified it synced it before voting), so with gate node.early_receipts its
  // clients hear now, not after this node's own synced write of the commit.
  if (gate_enabled(Gate::node_early_receipts)) {
    const std::size_t answered = receipts_due_.size() + raw_due_.size();
    early_receipts_ += answered;
    deliver_receipts();
    if (answered > 0 && test_exit_after_early_receipts_ != 0 && early_receipts_ >= test_exit_after_early_receipts_) {
      KESTREL_ASSERT(!output_.commits.empty());  // early answers come from this step's commits
      // The failpoint: these clients were answered, this step's commits are in the
      // store's unsynced batch only. Give the client server time to send the
      // answers, then go down before the synced write, as a crash would.
      spdlog::warn("test failpoint: {} early receipts sent, exiting before the synced write of heights {} to {}",
                   early_receipts_, output_.commits.front().height, output_.commits.back().height);
      spdlog::default_logger()->flush();
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      std::_Exit(test_exit_status);
    }
  }
  const auto sync_start = Clock::now();
  const bool synced = safety || !output_.commits.empty() || pending_written_;
  std::optional<perf::StageTimer> persistence;
  if (synced) persistence.emplace(stages_, perf::Stage::persistence);
  if (safety) {
    if (auto s = store_->write_safety_record(hs::encode_safety_record(*safety)); !s) {
      // Contract 3: nothing may leave without the record. Stop rather than risk a
      // second vote after restart.
      stop_on_store_failure("safety record write", s.error());
      return;
    }
  } else if (!output_.commits.empty() || pending_written_) {
    if (auto s = store_->flush(); !s) {
      stop_on_store_failure("store flush", s.error());
      return;
    }
  }
  persistence.reset();
  if (synced) metrics_.storage_sync->observe(static_cast<std::uint64_t>((Clock::now() - sync_start).count()));
  pending_written_ = false;
  if (!output_.commits.empty()) prune_pending_blocks();
  // Stage marks: a QC for a view we proposed in ends its vote collection.
  if (replica_->locked_qc().view > last_lock_view_) {
    last_lock_view_ = replica_->locked_qc().view;
    const auto now = Clock::now();
    certified_at_[last_lock_view_] = now;
    if (auto p = proposed_at_.find(last_lock_view_); p != proposed_at_.end()) {
      stages_.record(perf::Stage::vote_collection, static_cast<std::uint64_t>((now - p->second).count()), 0);
    }
    while (!proposed_at_.empty() && proposed_at_.begin()->first <= last_lock_view_) proposed_at_.erase(proposed_at_.begin());
    while (certified_at_.size() > 64) certified_at_.erase(certified_at_.begin());
  }
  send_outputs();
  deliver_receipts();
  // Messages to ourselves are inputs of their own steps (contract 2).
  while (!to_self_.empty() && !stopping_) {
    hs::Message m = std::move(to_self_.front());
    to_self_.pop_front();
    step(hs::Received{self_, std::move(m), now_tick()});
  }
}

void Node::Impl::deliver_receipts() {
  if (!receipts_due_.empty() || !raw_due_.empty()) {
    perf::StageTimer timer(stages_, perf::Stage::receipt);
    for (auto& [wait, receipt] : receipts_due_) wait.done(receipt);
  }
  receipts_due_.clear();
  for (auto& [call, part] : raw_due_) call->committed(std::move(part.first), part.second);
  raw_due_.clear();
}

void Node::Impl::send_outputs(bool early) {
  for (auto& send : output_.sends) {
    if (early && !send.before_persist) continue;
    if (auto* p = std::get_if<hs::Proposal>(&send.message)) {
      perf::StageTimer timer(stages_, perf::Stage::proposal);
      sign(send.message);
      proposed_at_[p->block.view] = Clock::now();
      // The core proposed (and cleared a hold): nothing is held for this view.
      proposed_view_ = std::max(proposed_view_, p->block.view);
      prepared_held_ = false;
      hold_deadline_.reset();
      while (proposed_at_.size() > limits::node_in_flight_blocks_max) proposed_at_.erase(proposed_at_.begin());
      metrics_.proposal_transactions->observe(in_flight_.count(p->block.id()) ? in_flight_[p->block.id()].ids.size() : 0);
    } else if (const auto* v = std::get_if<hs::Vote>(&send.message); v && !pending_blocks_.count(v->block_id)) {
      // A vote only for a block this node stored: a QC's voters each hold its block
      // durably (gate node.early_receipts answers clients on that, and the quorum
      // serves the block to peers that catch up). Not voting is always safe; the
      // safety record already has the view, so the node will not vote in it later.
      if (note_rare(votes_withheld_)) {
        spdlog::warn("vote for block {} at view {} withheld: the block is not in the store ({} so far)",
                     hex32(v->block_id).substr(0, 16), v->view, votes_withheld_);
      }
      continue;
    } else {
      sign(send.message);
    }
    if (send.to && *send.to == self_) {
      to_self_.push_back(std::move(send.message));
      continue;
    }
    const Bytes encoded = hs::encode_message(send.message);
    const auto type = static_cast<std::uint16_t>(PeerMessageType::consensus);
    if (send.to && std::holds_alternative<hs::FetchRequest>(send.message)) {
      auto& outstanding = fetches_outstanding_[*send.to];
      if (outstanding.load(std::memory_order_relaxed) < replica_->config().fetches_in_flight_max) {
        outstanding.fetch_add(1, std::memory_order_relaxed);
      }
    }
    // Gate net.urgent_consensus: the view's messages skip the batching hold. A
    // fetch response (blocks for a lagging peer) is bulk and waits for company.
    const auto delivery =
        gate_enabled(Gate::net_urgent_consensus) && !std::holds_alternative<hs::FetchResponse>(send.message)
            ? net::Delivery::urgent
            : net::Delivery::reliable;
    if (send.to) {
      (void)network_->try_send(static_cast<net::ValidatorId>(*send.to), type, encoded, delivery);
    } else {
      for (hs::ReplicaId peer = 0; peer < n_; ++peer) {
        if (peer != self_) (void)network_->try_send(static_cast<net::ValidatorId>(peer), type, encoded, delivery);
      }
    }
  }
  if (early) std::erase_if(output_.sends, [](const hs::Send& send) { return send.before_persist; });
}

void Node::Impl::stop_on_store_failure(const std::string& what, storage::StorageError error) {
  spdlog::critical("{} failed: {}; stopping", what, storage::describe(error));
  failed_ = true;
  stopping_ = true;
}

void Node::Impl::apply_commit(const hs::Committed& c) {
  hs::Block block{c.parent, c.view, c.height, c.proposer, c.justify, c.payload};
  std::vector<execution::Transaction> txs;
  std::vector<execution::TransactionId> ids;
  std::vector<RawEntry> raw;
  if (auto seen = in_flight_.find(c.block_id); seen != in_flight_.end()) {
    metrics_.commit_latency->observe(static_cast<std::uint64_t>((Clock::now() - seen->second.stored_at).count()));
  }
  if (auto payload = decode_payload(c.payload)) {
    auto info = in_flight_.find(c.block_id);
    for (std::size_t i = 0; i < payload->transactions.size(); ++i) {
      auto tx = execution::decode_transaction(payload->transactions[i]);
      if (!tx) continue;  // certified by a quorum that checked it: cannot happen with <= f faults
      txs.push_back(std::move(*tx));
      ids.push_back(info != in_flight_.end() && i < info->second.ids.size() ? info->second.ids[i]
                                                                             : execution::transaction_id(payload->transactions[i]));
    }
    raw = std::move(payload->raw);  // executed whatever this node's raw_mode: replicas must agree
  } else {
    spdlog::error("committed block {} at height {} has a malformed payload; executed as empty", hex32(c.block_id), c.height);
  }
  std::vector<execution::RawPut> puts(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    std::copy_n(raw[i].command.begin(), 8, puts[i].key.begin());
    std::copy_n(raw[i].command.begin() + 8, 8, puts[i].value.begin());
  }
  // Gate execution.known_senders: a transaction this pool admitted has its
  // sender's account id (the hash of its public key) already; the others are
  // hashed once here for both the ledger and the pool.
  std::vector<execution::AccountId> senders;
  if (gate_enabled(Gate::execution_known_senders)) {
    senders.reserve(txs.size());
    for (std::size_t i = 0; i < txs.size(); ++i) {
      const auto known = mempool_->known_sender(ids[i]);
      senders.push_back(known ? *known : execution::sender_of(txs[i]));
    }
  }
  const auto execution_start = Clock::now();
  auto result = [&] {
    perf::StageTimer timer(stages_, perf::Stage::execution);
    return ledger_->execute_block(c.height, txs, ids, puts, senders);
  }();
  KESTREL_ASSERT(result.ok());  // heights come from the core in order
  metrics_.observe_block_executed(txs.size() + raw.size(),
                                  static_cast<std::uint64_t>((Clock::now() - execution_start).count()));
  if (auto q = certified_at_.find(c.view); q != certified_at_.end()) {
    stages_.record(perf::Stage::commit, static_cast<std::uint64_t>((Clock::now() - q->second).count()), 0);
  }
  std::vector<storage::StateWrite> writes;
  writes.reserve(result->state_writes.size());
  for (const auto& w : result->state_writes) writes.push_back({w.key, w.value});
  auto appended = c.height == test_fail_commit_at_height_
                      ? Status<storage::StorageError>(Err(storage::StorageError::io_error))
                      : store_->append_block(c.height, c.block_id, hs::encode_block(block), hs::encode_qc(c.justify),
                                             encode_receipts(result->receipts), writes, &result->state_digest);
  if (!appended) {
    stop_on_store_failure("append_block " + std::to_string(c.height), appended.error());
    return;
  }
  mempool_->on_committed(txs, senders);
  ++in_flight_version_;
  transactions_committed_ += txs.size();
  raw_committed_ += raw.size();
  last_commit_unix_ms_ = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());

  for (const auto& receipt : result->receipts) {
    // A transaction a block carried at the wrong place (a second copy, a nonce
    // ahead of a gap after a fork, or a Byzantine proposer's) had no effect at
    // all: that is not its outcome, and the client keeps waiting for the block
    // that executes it (docs/node.md "Receipts").
    if (receipt.status == execution::ReceiptStatus::rejected_bad_nonce ||
        receipt.status == execution::ReceiptStatus::rejected_wrong_chain) {
      continue;
    }
    if (auto a = admitted_at_.find(receipt.id); a != admitted_at_.end()) {
      const auto latency = Clock::now() - a->second;
      metrics_.submit_to_commit->observe(static_cast<std::uint64_t>(latency.count()));
      if (tuner_) note_latency(latency);
      admitted_at_.erase(a);
    }
    if (recent_receipts_.size() >= limits::node_recent_receipts_max) {
      recent_receipts_.erase(recent_order_.front());
      recent_order_.pop_front();
    }
    if (recent_receipts_.emplace(receipt.id, receipt).second) recent_order_.push_back(receipt.id);
    if (auto w = waiters_.find(receipt.id); w != waiters_.end()) {
      for (auto& wait : w->second) receipts_due_.emplace_back(std::move(wait), receipt);
      waiter_count_ -= w->second.size();
      waiters_.erase(w);
    }
  }
  // Our clients' commands: tell each submit_raw call which of its sequences
  // committed (deliver_receipts(), from step()).
  std::map<RawCall*, std::pair<std::shared_ptr<RawCall>, std::vector<std::uint64_t>>> mine;
  for (const auto& e : raw) {
    raw_pool_.erase(key_of(e));
    if (e.origin != self_) continue;
    auto call = raw_calls_.find(key_of(e));
    if (call == raw_calls_.end()) continue;  // connection closed, or already committed in a fork's twin
    if (tuner_) note_latency(Clock::now() - call->second->admitted);
    auto& [owner, sequences] = mine[call->second.get()];
    owner = call->second;
    sequences.push_back(e.sequence);
    --call->second->remaining;
    raw_calls_.erase(call);
  }
  for (auto& [raw_call, part] : mine) raw_due_.push_back({part.first, {std::move(part.second), c.height}});
  // Forget blocks at or below this height: committed, or forks that never will be
  // (their raw entries go back to the pool).
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (it->second.height <= c.height) {
      if (it->first != c.block_id) {
        for (const RawKey& k : it->second.raw) {
          if (auto p = raw_pool_.find(k); p != raw_pool_.end()) p->second = false;
        }
      }
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

// Keeps the core's next payload current while we lead this view or the next.
// Building a batch copies up to a block of transactions, so it happens only when
// the answer can change: the view changed, a proposal or commit changed what is
// in flight, or (the core holding an empty payload) the pool got something.
// Work that reached an empty pool within prepare_interval_min of the last batch
// waits for the interval; the loop wakes for it then instead of at its next event
// (at light load that could be the 5 ms idle wake-up).
std::optional<Clock::time_point> Node::Impl::payload_retry_at() const {
  if (!pool_grew_while_empty() || !leading_soon(replica_->view())) return std::nullopt;
  return last_prepare_ + prepare_interval_min;
}

bool Node::Impl::leading_soon(hs::View view) const {
  // A leader the core cannot name yet (reputation window still arriving) may be us.
  return replica_->expected_leader(view).value_or(self_) == self_ ||
         replica_->expected_leader(view + 1).value_or(self_) == self_;
}

bool Node::Impl::pool_grew_while_empty() const {
  return !prepared_nonempty_ && pool_version_ != prepared_pool_version_;
}

void Node::Impl::maybe_prepare_payload(bool force) {
  const hs::View view = replica_->view();
  const auto now = Clock::now();
  if (view != entered_view_) {  // the flush hold counts from here
    entered_view_ = view;
    view_entered_at_ = now;
  }
  if (!leading_soon(view)) return;
  const bool view_changed = view != prepared_view_;
  const bool in_flight_changed = in_flight_version_ != prepared_in_flight_version_;
  const bool pool_due = pool_grew_while_empty() && now - last_prepare_ >= prepare_interval_min;
  if (!force && !view_changed && !in_flight_changed && !pool_due) return;
  // In flight: the transactions of the chain our proposal will extend — the newest
  // block we know when it extends our lock (the happy path: it is about to be
  // certified), else the locked block — and its uncommitted ancestors. Not forks:
  // their transactions will not commit, so a batch that skipped them would send
  // later nonces of the same sender ahead of a gap (no effect, wasted space).
  std::vector<execution::TransactionId> in_flight;
  const auto collect_chain = [&](const hs::BlockId& from) {
    auto it = in_flight_.find(from);
    for (std::size_t steps = 0; it != in_flight_.end() && steps < in_flight_.size(); ++steps) {
      in_flight.insert(in_flight.end(), it->second.ids.begin(), it->second.ids.end());
      it = in_flight_.find(it->second.parent);
    }
  };
  const hs::BlockId* newest = nullptr;
  hs::View newest_view = 0;
  for (const auto& [id, info] : in_flight_) {
    if (!newest || info.view > newest_view) newest = &id, newest_view = info.view;
  }
  const hs::BlockId& lock = replica_->locked_qc().block_id;
  bool newest_extends_lock = !in_flight_.count(lock);  // a committed lock: every uncommitted block extends it
  if (newest && !newest_extends_lock) {
    hs::BlockId cursor = *newest;
    for (std::size_t steps = 0; steps < in_flight_.size() && !newest_extends_lock; ++steps) {
      if (cursor == lock) newest_extends_lock = true;
      auto it = in_flight_.find(cursor);
      if (it == in_flight_.end()) break;
      cursor = it->second.parent;
    }
  }
  if (newest) collect_chain(newest_extends_lock ? *newest : lock);
  std::size_t bytes_max = config_.batch_bytes_max;
  std::vector<RawEntry> raw;
  if (!raw_pool_.empty()) {
    // Drop queue entries already committed, then take those not in a proposal.
    while (!raw_queue_.empty() && !raw_pool_.count(key_of(raw_queue_.front()))) raw_queue_.pop_front();
    // Bounded: committed entries behind an uncommitted head are dropped in one
    // pass when the queue holds twice what the pool does.
    if (raw_queue_.size() > 2 * raw_pool_.size() + 1024) {
      std::erase_if(raw_queue_, [&](const RawEntry& e) { return !raw_pool_.count(key_of(e)); });
    }
    const std::size_t raw_max = std::min<std::size_t>(std::size_t{batch_limit()} * 8, limits::block_raw_commands_max);
    for (const RawEntry& e : raw_queue_) {
      if (raw.size() >= raw_max || (raw.size() + 1) * 34 + 16 > bytes_max) break;
      auto it = raw_pool_.find(key_of(e));
      if (it != raw_pool_.end() && !it->second) raw.push_back(e);
    }
    bytes_max -= std::min(bytes_max, raw.size() * 34 + 16);
  }
  mempool::Batch batch = mempool_->next_batch(batch_limit(), bytes_max > 64 ? bytes_max - 64 : 0, in_flight);
  prepared_view_ = view;
  prepared_pool_version_ = pool_version_;
  prepared_in_flight_version_ = in_flight_version_;
  last_prepare_ = now;
  const bool nonempty = !batch.transactions.empty() || !raw.empty();
  // Flush hold (gate perf.adaptive_tuning): a batch below the tuner's size waits
  // for more, up to the flush delay from the start of our view; the core is told
  // to wait for it (PayloadReady::hold) instead of proposing an empty block.
  perf::FlushHoldInput hold_input;
  hold_input.tuning = tuning();
  if (hold_input.tuning) {
    hold_input.leads_current_view = replica_->expected_leader(view) == self_ && proposed_view_ < view;
    hold_input.view_late = replica_->locked_qc().view + 1 != view;
    hold_input.batch_transactions = batch.transactions.size() + (raw.size() + 7) / 8;
    hold_input.batch_target = tuner_->batch_transactions();
    hold_input.flush_delay_us = tuner_->flush_delay_us();
    hold_input.waited_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - view_entered_at_).count());
  }
  const perf::FlushHoldDecision hold = perf::flush_hold(hold_input);
  if (hold.hold) {
    hold_deadline_.reset();
    if (hold_input.leads_current_view) hold_deadline_ = now + std::chrono::microseconds(hold.release_in_us);
    if (prepared_held_) return;  // the core already waits for us
    prepared_held_ = true;
    prepared_nonempty_ = false;
    step(hs::PayloadReady{Bytes{}, true});
    return;
  }
  hold_deadline_.reset();
  if (!nonempty && !prepared_nonempty_ && !prepared_held_) return;  // the core's pending payload is already empty
  prepared_nonempty_ = nonempty;
  prepared_held_ = false;
  step(hs::PayloadReady{encode_payload(batch.transactions, raw)});
}

void Node::Impl::note_latency(Clock::duration latency) {
  auto& w = tuner_window_;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(latency).count();
  const auto sample = static_cast<std::uint32_t>(std::clamp<std::int64_t>(us, 0, 0xFFFFFFFF));
  ++w.latency_seen;
  if (w.latency_us.size() < limits::node_tuner_latency_samples_max) {
    w.latency_us.push_back(sample);
    return;
  }
  // Reservoir sampling (Vitter's algorithm R): every observation of the interval
  // is kept with the same probability. SplitMix64 for the index.
  std::uint64_t z = (reservoir_state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const std::uint64_t slot = z % w.latency_seen;
  if (slot < w.latency_us.size()) w.latency_us[slot] = sample;
}

// One control interval: what the node observed goes in, the tuner's batch size
// and flush delay come out (applied by maybe_prepare_payload from now on).
// Raw commands count as 1/8 transaction each, the ratio of their batch cap.
void Node::Impl::tuner_step() {
  KESTREL_ASSERT(tuner_.has_value());
  auto& w = tuner_window_;
  const auto eighths = [](std::uint64_t raw) { return (raw + 7) / 8; };
  perf::TunerInput in;
  in.latency_samples = w.latency_seen;
  if (!w.latency_us.empty()) {
    const std::size_t k = (w.latency_us.size() * 99 + 99) / 100 - 1;  // ceil(0.99 n) - 1
    KESTREL_ASSERT(k < w.latency_us.size());
    std::nth_element(w.latency_us.begin(), w.latency_us.begin() + static_cast<std::ptrdiff_t>(k), w.latency_us.end());
    in.latency_us_p99 = w.latency_us[k];
  }
  in.arrived_transactions = w.arrived_transactions + eighths(w.arrived_raw);
  // Waiting: in the pools and not in an uncommitted block (those are on their way).
  std::uint64_t ids_in_flight = 0, raw_in_flight = 0;
  for (const auto& [id, info] : in_flight_) {
    ids_in_flight += info.ids.size();
    raw_in_flight += info.raw.size();
  }
  const auto minus = [](std::uint64_t a, std::uint64_t b) { return a > b ? a - b : 0; };
  in.queued_transactions = minus(mempool_->size(), ids_in_flight) + eighths(minus(raw_pool_.size(), raw_in_flight));
  in.blocks = w.blocks;
  in.batched_transactions = w.batched_transactions + eighths(w.batched_raw);
  const perf::TunerDecision d = tuner_->step(in);
  metrics_.tuner.record(d);
  if (d.move != perf::TunerMove::hold) {
    spdlog::info("tuner: {} ({}): batch {} -> {}, flush delay {} -> {} us; p99 {} us of {} commits, arrived {}, "
                 "queued {}, {} blocks with {}",
                 perf::move_name(d.move), perf::reason_name(d.reason), d.previous_batch_transactions,
                 d.batch_transactions, d.previous_flush_delay_us, d.flush_delay_us, in.latency_us_p99,
                 in.latency_samples, in.arrived_transactions, in.queued_transactions, in.blocks,
                 in.batched_transactions);
  } else {
    spdlog::debug("tuner: hold ({}); p99 {} us of {} commits, arrived {}, queued {}, {} blocks with {}",
                  perf::reason_name(d.reason), in.latency_us_p99, in.latency_samples, in.arrived_transactions,
                  in.queued_transactions, in.blocks, in.batched_transactions);
  }
  w.latency_us.clear();
  w.latency_seen = 0;
  w.arrived_transactions = w.arrived_raw = 0;
  w.blocks = w.batched_transactions = w.batched_raw = 0;
  // A new size or delay may release a batch held under the old one.
  if (prepared_held_ && d.move != perf::TunerMove::hold) maybe_prepare_payload(true);
}

void Node::Impl::flush_gossip() {
  const auto send_all = [&](PeerMessageType type, const Bytes& bytes) {
    for (hs::ReplicaId peer = 0; peer < n_; ++peer) {
      if (peer != self_) {
        (void)network_->try_send(static_cast<net::ValidatorId>(peer), static_cast<std::uint16_t>(type), bytes,
                                 net::Delivery::droppable);
      }
    }
  };
  for (std::size_t start = 0; start < gossip_transactions_.size(); start += limits::node_gossip_transactions_max) {
    const std::size_t end = std::min(gossip_transactions_.size(), start + limits::node_gossip_transactions_max);
    send_all(PeerMessageType::transactions,
             encode_transaction_batch(std::span<const Bytes>(gossip_transactions_).subspan(start, end - start)));
  }
  gossip_transactions_.clear();
  for (std::size_t start = 0; start < gossip_raw_.size(); start += limits::node_gossip_raw_max) {
    const std::size_t end = std::min(gossip_raw_.size(), start + limits::node_gossip_raw_max);
    send_all(PeerMessageType::raw, encode_raw_batch(std::span<const RawEntry>(gossip_raw_).subspan(start, end - start)));
  }
  gossip_raw_.clear();
}

void Node::Impl::expire_waiters(Clock::time_point now) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if (w->deadline <= now) {
        w->done(std::nullopt);
        w = list.erase(w);
        --waiter_count_;
      } else {
        ++w;
      }
    }
    it = list.empty() ? waiters_.erase(it) : std::next(it);
  }
}

void Node::Impl::refresh_metrics() {
  // The node's own drops (the core's are in kestrel_consensus_dropped_total).
  static const std::pair<const char*, const char*> reasons[] = {
      {"malformed", "a peer message that did not decode or named an unknown signer"},
      {"bad_signature", "a consensus message with a signature that did not verify"},
      {"bad_proposal", "a proposal whose payload or transactions failed the node's checks"},
      {"unsolicited_fetch_response", "a fetch response from a peer we had not asked"},
      {"store_fetch_budget", "a fetch for stored blocks beyond the peer's budget"},
  };
  const std::uint64_t values[] = {bad_peer_messages_.load(), bad_signatures_.load(), bad_proposals_.load(),
                                  unsolicited_fetch_responses_.load(), store_fetches_refused_};
  // A running total kept here, exported as a counter (raised to the total).
  const auto export_total = [](std::string_view name, std::string_view help, perf::Labels labels,
                               std::uint64_t total, double unit_scale = 1.0) {
    auto counter = perf::global_registry().counter(name, help, std::move(labels), unit_scale);
    if (counter && total > (*counter)->value()) (*counter)->add(total - (*counter)->value());
  };
  for (std::size_t i = 0; i < std::size(reasons); ++i) {
    export_total("kestrel_node_dropped_total", "Peer input the node dropped before the consensus core, by reason",
                 {{"reason", reasons[i].first}}, values[i]);
  }
  for (const auto& [path, value] : {std::pair<const char*, std::uint64_t>{"known", proposal_transactions_known_},
                                    {"checked", proposal_transactions_checked_}}) {
    export_total("kestrel_node_proposal_transactions_total",
                 "Transactions in peers' proposals by how they were checked (known: admitted here before, gate "
                 "mempool.known_transactions; checked: decoded and verified)",
                 {{"path", path}}, value);
  }
  export_total("kestrel_node_early_receipts_total",
               "Receipts and raw commit notices sent before this node's synced write of the commit (gate "
               "node.early_receipts)",
               {}, early_receipts_);
  export_total("kestrel_node_votes_withheld_total",
               "Votes the core cast that the node did not send, because the block was not stored (its pending-block "
               "put failed)",
               {}, votes_withheld_);
  export_total("kestrel_node_fresh_payloads_total",
               "Payloads built again for the core just before a peer's consensus message was stepped, because the "
               "small pools grew since the last build (gate node.fresh_payload)",
               {}, fresh_payloads_);
  static constexpr const char* activities[activity_count] = {
      "idle",        "consensus", "gossip_transactions", "gossip_raw", "client_submit", "client_raw",
      "client_other", "tick",     "payload",             "gossip_send", "housekeeping"};
  for (std::size_t i = 0; i < activity_count; ++i) {
    export_total("kestrel_node_thread_seconds_total",
                 "Wall time of the consensus thread by activity (idle: waiting for events; consensus: peer "
                 "messages through the core, including execution, persistence and sends)",
                 {{"activity", activities[i]}}, thread_ns_[i], 1e-9);
  }
  metrics_.refresh(replica_->counters(), replica_->view(), replica_->committed_height());
  metrics_.refresh(network_->counters());
  metrics_.refresh(store_->counters());
  metrics_.refresh(store_->memory_usage());
  metrics_.refresh(heap_usage());
  metrics_.refresh(*cache_);
  metrics_.refresh(*mempool_);
  metrics_.refresh_process();
  // Bounded: entries of transactions that left the pool without committing here.
  if (admitted_at_.size() > mempool_->size() + 4096) {
    const auto cutoff = Clock::now() - std::chrono::seconds(60);
    std::erase_if(admitted_at_, [&](const auto& entry) { return entry.second < cutoff; });
  }
}

void Node::Impl::publish_status() {
  NodeStatus s;
  s.id = self_;
  s.validators = n_;
  s.view = replica_->view();
  s.leader = replica_->expected_leader(s.view).value_or(hs::leader_of(s.view, n_));
  s.committed_height = replica_->committed_height();
  s.committed_block = replica_->committed_block();
  s.state_digest = ledger_->state_digest();
  s.last_commit_unix_ms = last_commit_unix_ms_;
  s.mempool_transactions = mempool_->size();
  s.raw_pool = raw_pool_.size();
  s.peers_connected.resize(n_);
  for (std::uint32_t i = 0; i < n_; ++i) s.peers_connected[i] = i == self_ || network_->connected(static_cast<net::ValidatorId>(i));
  s.view_changes = replica_->counters().view_changes;
  s.timeouts_sent = replica_->counters().timeouts_sent;
  s.transactions_committed = transactions_committed_;
  s.raw_committed = raw_committed_;
  std::lock_guard lock(status_mutex_);
  status_ = std::move(s);
}

// --- Public surface ----------------------------------------------------------------------

std::string status_json(const NodeStatus& s) {
  std::ostringstream out;
  out << "{\"id\":" << s.id << ",\"validators\":" << s.validators << ",\"view\":" << s.view << ",\"leader\":" << s.leader
      << ",\"height\":" << s.committed_height << ",\"last_commit\":{\"block\":\"" << to_hex(s.committed_block.bytes)
      << "\",\"unix_ms\":" << s.last_commit_unix_ms << "},\"state_digest\":\"" << to_hex(s.state_digest.bytes)
      << "\",\"mempool\":{\"transactions\":" << s.mempool_transactions << ",\"raw\":" << s.raw_pool << "},\"peers\":[";
  for (std::size_t i = 0; i < s.peers_connected.size(); ++i) {
    out << (i ? "," : "") << "{\"id\":" << i << ",\"connected\":" << (s.peers_connected[i] ? "true" : "false") << "}";
  }
  out << "],\"view_changes\":" << s.view_changes << ",\"timeouts_sent\":" << s.timeouts_sent
      << ",\"transactions_committed\":" << s.transactions_committed << ",\"raw_committed\":" << s.raw_committed
      << ",\"uptime_seconds\":" << s.uptime_seconds << "}";
  return out.str();
}

Result<std::unique_ptr<Node>, std::string> Node::start(const NodeConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  if (auto s = impl->open(); !s) return Err(s.error());
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() { stop(); }
void Node::stop() { impl_->stop(); }
NodeStatus Node::status() const { return impl_->status(); }
std::string Node::metrics_text() const { return perf::global_registry().prometheus_text(); }

void Node::refresh_server_metrics(const ClientServerCounters& counters) { impl_->metrics().refresh(counters); }
void Node::refresh_server_metrics(const AdminCounters& counters) { impl_->metrics().refresh(counters); }

std::string Node::stages_json() const { return impl_->stages_json(); }
bool Node::healthy() const { return impl_->healthy(); }
bool Node::failed() const { return impl_->failed(); }

void Node::submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) {
  impl_->post(ClientSubmit{std::move(transactions), std::move(done), Clock::now()});
}
void Node::wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds timeout,
                        std::function<void(std::optional<execution::Receipt>)> done) {
  impl_->post(ClientWait{id, Clock::now() + timeout, std::move(done)});
}
void Node::get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) {
  impl_->post(ClientAccount{id, std::move(done)});
}
void Node::get_key(const execution::AccountId& id, Bytes key, std::function<void(std::optional<Bytes>)> done) {
  impl_->post(ClientKey{id, std::move(key), std::move(done)});
}
void Node::submit_raw(std::uint64_t connection, std::vector<RawCommand> commands,
                      std::function<void(std::vector<std::uint64_t>, std::uint64_t)> committed,
                      std::function<void(std::uint8_t)> refused) {
  impl_->post(ClientRaw{connection, std::move(commands), std::move(committed), std::move(refused), Clock::now()});
}
void Node::connection_closed(std::uint64_t connection) { impl_->post(ConnectionClosed{connection}); }

Hash32 cluster_id_of(const NodeConfig& c) {
  Bytes fields;
  Writer w(fields);
  w.u64(c.chain_id);
  w.u8(static_cast<std::uint8_t>(c.scheme));
  for (const auto& v : c.validators) w.bytes(v.public_key, 1 << 16);
  Sha256 h;
  h.update(as_bytes("kestrel/cluster"));
  h.update(fields);
  return h.finish();
}

}  // namespace kestrel::node
