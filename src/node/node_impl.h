// The node's insides (node.h is the public face), one file per job:
//   node.cc             host: start, the consensus thread's loop, one step of the
//                       core and its Ready in the seam's order, status, stop
//   ingress.cc          what arrives: peer messages (decoded and verified on the
//                       network thread), client submissions, waits and reads, gossip
//   payload_builder.cc  the next batch for the core: in-flight index, pools, flush
//                       hold, adaptive tuner
//   commit_pipeline.cc  the commit stream: execute, append, receipts; the ledger's
//                       restore at start
//   raw_pool.cc         the raw benchmark mode's pool of unsigned commands
//   hotstuff2_driver.cc HotStuff-2's parts (protocol.h)
// Private to src/node. Thread-safety as in node.h.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "common/gates.h"
#include "common/limits.h"
#include "common/prng.h"
#include "consensus/consensus.h"
#include "crypto/parallel_verify.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"
#include "execution/execution.h"
#include "mempool/mempool.h"
#include "net/net.h"
#include "node/execution_pipeline.h"
#include "node/node.h"
#include "node/node_metrics.h"
#include "node/payload.h"
#include "node/protocol.h"
#include "perf/stages.h"
#include "perf/tuner.h"
#include "storage/storage.h"

namespace kestrel::node {

using Clock = std::chrono::steady_clock;

// Message types between validators (net's 16-bit application types).
enum class PeerMessageType : std::uint16_t { consensus = 1, transactions = 2, raw = 3 };

struct RawKey {
  std::uint16_t origin;
  std::uint64_t connection;
  std::uint64_t sequence;
  bool operator==(const RawKey&) const = default;
};
struct RawKeyHasher {
  std::size_t operator()(const RawKey& k) const;
};
inline RawKey key_of(const RawEntry& e) { return {e.origin, e.connection, e.sequence}; }

// --- Events for the consensus thread ---------------------------------------------

struct PeerConsensus {
  consensus::ReplicaId from;
  consensus::MessagePtr message;  // decoded and verified by the protocol driver
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
  bool push(Event event);
  // Waits until an event arrives, a poke, `deadline`, or stop; moves out
  // everything queued.
  void pop_all(std::deque<Event>& out, Clock::time_point deadline);
  // Wakes pop_all without an event (never blocks: the execution thread's
  // "a result waits", whatever the queue holds).
  void poke();
  void stop();

 private:
  std::mutex mutex_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Event> events_;
  bool poked_ = false;
  bool stopping_ = false;
};

// What the node knows of a unit (block) the core stored and has not committed:
// its payload decoded once, here, for the payload builder (what is in flight)
// and the commit pipeline (which reuses the transaction ranges and ids).
struct UnitInfo {
  std::vector<execution::TransactionId> ids;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;  // [offset, offset + size) of each transaction
  std::size_t payload_bytes = 0;
  bool payload_ok = true;
  bool committed = false;  // committed, waiting for execution: still in flight for the batches
  std::vector<RawKey> raw;
  std::vector<RawEntry> raw_entries;
  // When the core stored the unit here: the start of kestrel_consensus_commit_latency_seconds.
  Clock::time_point stored_at{};
};

class Node::Impl {
 public:
  explicit Impl(const NodeConfig& config);
  ~Impl() { stop(); }

  Status<std::string> open();
  void stop();
  NodeStatus status() const;
  std::string stages_json() const { return stages_.json(); }
  bool healthy() const { return running_; }
  bool failed() const { return failed_; }
  NodeMetrics& metrics() { return metrics_; }  // refresh functions are thread-safe
  void post(Event e) { (void)events_.push(std::move(e)); }  // false when stopping: the servers close

 private:
  // --- host (node.cc) ---
  Status<std::string> load_keys();
  Status<std::string> open_state(bool test_refuse_pending_blocks);
  Status<std::string> start_network();
  void run();
  void housekeeping(Clock::time_point now);
  // Steps the core and carries out its Ready in the seam's order, then delivers
  // its messages to self, each as its own step (never recursively).
  void step(consensus::Input input);
  void step_once(const consensus::Input& input);
  void send(consensus::Envelope& envelope);
  void stop_on_failure(const std::string& what);
  consensus::Tick now_tick() const {
    return static_cast<consensus::Tick>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started_at_).count());
  }
  void publish_status();
  void refresh_metrics();

  // --- ingress (ingress.cc) ---
  void on_peer_message(net::ValidatorId from, std::uint16_t type, ByteSpan payload);
  void handle(Event& event);
  void on_consensus(PeerConsensus& m);
  void on_submit(ClientSubmit& e);
  void on_wait(ClientWait& e);
  void admit_peer_transactions(PeerTransactions& e);
  void flush_gossip();
  void expire_waiters(Clock::time_point now);

  // --- payload builder (payload_builder.cc) ---
  void fill_unit(UnitInfo& info, const Bytes& bytes, const Payload& payload);
  void index_units(const std::vector<Hash32>& stored);
  void forget_units(const std::vector<consensus::Commit>& commits);
  void maybe_prepare_payload(bool force);
  std::optional<Clock::time_point> payload_retry_at() const;
  bool pool_grew_while_empty() const;  // the core holds an empty payload and the pool changed
  std::vector<execution::TransactionId> in_flight_ids();
  void give_payload(const mempool::Batch& batch, const std::vector<RawEntry>& raw, bool nonempty);
  bool tuning() const { return tuner_.has_value() && gate_enabled(Gate::perf_adaptive_tuning); }
  std::uint32_t batch_limit() const { return tuning() ? tuner_->batch_transactions() : config_.batch_transactions_max; }
  void note_latency(Clock::duration latency);
  void tuner_step();

  // --- commit pipeline (commit_pipeline.cc) ---
  // The executor at the store's executed height, then the commits it had not
  // executed (replayed, synced) before anything else runs.
  Status<std::string> restore_execution(const std::string& path);
  Status<std::string> replay_unexecuted(const std::string& path);
  // Appends one commit to the store's commit stream (its batch) and submits it
  // for execution; false when the store failed (the node stops).
  bool apply_commit(consensus::Commit& c);
  // Takes the executed blocks waiting and writes them (into the store's batch);
  // false when the store failed. Then, when anything was taken and `sync`, one
  // synced write and the receipts (early ones before it, with the gate).
  bool drain_executed(bool sync);
  bool write_executed(ExecutedBlock& block);
  void answer_receipts(const execution::BlockResult& result);
  void deliver_receipts();
  void deliver_early_receipts(std::uint64_t height_from, std::uint64_t height_to);

  // --- raw pool (raw_pool.cc) ---
  void on_peer_raw(PeerRaw& e);
  void on_client_raw(ClientRaw& e);
  void raw_committed(const std::vector<RawEntry>& raw, std::uint64_t height);
  std::vector<RawEntry> raw_batch(std::size_t bytes_max);

  NodeConfig config_;
  Clock::time_point started_at_;
  NodeMetrics metrics_;
  perf::StageProfile& stages_;  // metrics_.stages
  std::atomic<bool> running_{false};
  std::atomic<bool> failed_{false};  // a store write failed: the consensus thread stopped itself
  std::uint32_t n_ = 0;
  consensus::ReplicaId self_ = 0;

  std::unique_ptr<crypto::Signer> signer_;
  std::vector<std::unique_ptr<crypto::Verifier>> validator_keys_;
  std::unique_ptr<crypto::VerifyCache> cache_;
  std::unique_ptr<crypto::ParallelVerifier> verifier_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<ExecutionPipeline> execution_;
  std::unique_ptr<mempool::Mempool> mempool_;
  std::unique_ptr<ProtocolDriver> protocol_;
  std::unique_ptr<net::Network> network_;

  EventQueue events_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::mutex stop_mutex_;

  // --- consensus-thread state ---
  consensus::Ready ready_;
  std::deque<consensus::MessagePtr> to_self_;
  consensus::Tick wake_tick_ = 0;
  std::vector<Bytes> gossip_transactions_;
  std::vector<RawEntry> gossip_raw_;
  std::unordered_map<execution::TransactionId, std::vector<ClientWait>, Hash32Hasher> waiters_;
  std::size_t waiter_count_ = 0;
  std::unordered_map<execution::TransactionId, execution::Receipt, Hash32Hasher> recent_receipts_;
  std::deque<execution::TransactionId> recent_order_;
  bool execution_unsynced_ = false;  // executed blocks written since the last synced write
  Clock::time_point execution_unsynced_since_{};
  // Answered by deliver_receipts(): after the step's sync, or before it with gate
  // node.early_receipts.
  std::vector<std::pair<ClientWait, execution::Receipt>> receipts_due_;
  std::uint64_t early_receipts_ = 0;  // answers sent before the step's sync (gate node.early_receipts)
  std::uint64_t fresh_payloads_ = 0;  // payloads built before a peer message's step (gate node.fresh_payload)
  std::uint64_t bad_proposals_ = 0;
  // Proposal transactions that took the known path / were decoded and verified.
  std::uint64_t proposal_transactions_known_ = 0, proposal_transactions_checked_ = 0;
  std::atomic<std::uint64_t> bad_peer_messages_{0};  // gossip that did not decode

  // The in-flight index (payload_builder.cc): units the core stored, not committed.
  std::map<Hash32, UnitInfo> units_;
  std::uint64_t units_not_indexed_ = 0;  // stored units past node_in_flight_blocks_max (dropped_total)
  // The last proposal's payload as its check decoded it, handed to index_units.
  std::optional<std::pair<Hash32, UnitInfo>> checked_;
  std::uint64_t units_version_ = 0;

  // Raw pool (raw_pool.cc): entries by key, in arrival order.
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
  std::vector<std::pair<std::shared_ptr<RawCall>, std::pair<std::vector<std::uint64_t>, std::uint64_t>>> raw_due_;

  // Where the consensus thread's wall time goes (kestrel_node_thread_seconds_total):
  // nanoseconds per activity, written by the consensus thread only.
  enum Activity : std::size_t {
    activity_idle, activity_consensus, activity_gossip_transactions, activity_gossip_raw, activity_client_submit,
    activity_client_raw, activity_client_other, activity_tick, activity_payload, activity_gossip_send,
    activity_housekeeping, activity_execution, activity_count
  };
  std::array<std::uint64_t, activity_count> thread_ns_{};
  void account(Activity a, Clock::time_point& since) {
    const auto now = Clock::now();
    thread_ns_[a] += static_cast<std::uint64_t>((now - since).count());
    since = now;
  }

  // Payload builder state.
  std::uint64_t prepared_round_ = 0;
  std::uint64_t pool_version_ = 0, prepared_pool_version_ = 0;
  std::uint64_t prepared_units_version_ = 0;
  bool prepared_nonempty_ = false;
  Clock::time_point last_prepare_{};
  Clock::time_point last_status_{};
  Clock::time_point last_metrics_{};
  std::uint64_t transactions_committed_ = 0, raw_committed_ = 0, last_commit_unix_ms_ = 0;
  std::unordered_map<execution::TransactionId, Clock::time_point, Hash32Hasher> admitted_at_;  // mempool_wait

  // Adaptive tuner: present when the gate was on at start.
  std::optional<perf::Tuner> tuner_;
  Clock::time_point tuner_last_{};
  // What the node observed in the current control interval (raw commands are
  // counted apart and enter the tuner as raw / 8, the batch ratio).
  struct TunerWindow {
    std::vector<std::uint32_t> latency_us;  // uniform reservoir, <= limits::node_tuner_latency_samples_max
    std::uint64_t latency_seen = 0;
    std::uint64_t arrived_transactions = 0, arrived_raw = 0;
    std::uint64_t blocks = 0, batched_transactions = 0, batched_raw = 0;
  } tuner_window_;
  Prng reservoir_prng_{0x6b657374726c};  // the reservoir sample's index (any fixed seed)
  // Flush hold: when the current round began (the hold's clock), the last round we
  // proposed in, whether the core holds for us (PayloadReady::hold), and when the
  // held batch goes out at the latest.
  std::uint64_t entered_round_ = 0;
  Clock::time_point round_entered_at_{};
  std::uint64_t proposed_round_ = 0;
  bool prepared_held_ = false;
  std::optional<Clock::time_point> hold_deadline_;

  // Test failpoints (docs/node.md "Test failpoints"): after this many early receipts
  // the node exits before the step's synced write (0: off); the commit of this
  // height fails as an I/O error would (0: off).
  std::uint64_t test_exit_after_early_receipts_ = 0;
  std::uint64_t test_fail_commit_at_height_ = 0;

  mutable std::mutex status_mutex_;
  NodeStatus status_;
};

}  // namespace kestrel::node
