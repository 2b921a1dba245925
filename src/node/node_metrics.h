// Every metric a validator node exports at /metrics (docs/metrics.md lists them
// with types, labels and meaning).
//
// NodeMetrics registers all families in a perf::Registry at construction (so a
// scrape shows zeros from the start, not gaps) and keeps the pointers. Two ways in:
//   - refresh(...) from the subsystems' own counter snapshots (consensus core,
//     network, storage, verify cache, mempool, admin server, process). Their
//     counters are monotonic; each refresh adds the growth since the previous
//     snapshot (CounterDelta), so the registry's counters stay monotonic too.
//     The node calls these about once a second.
//   - direct observations on the hot path through the public pointers
//     (histograms of latencies and sizes, execution and verification counts),
//     each one or three relaxed atomic adds.
// Names: kestrel_<subsystem>_<what>[_total|_seconds|_bytes]; labels only with
// bounded values (message type, drop reason, refusal reason, handshake result,
// direction, stage).
//
// Thread-safety: refresh functions may be called from any thread (a mutex
// guards the previous snapshots); the public pointers are lock-free. One
// NodeMetrics per registry: two would add every delta twice.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>

#include "crypto/verify_cache.h"
#include "hotstuff2/hotstuff2.h"
#include "mempool/mempool.h"
#include "net/net.h"
#include "node/admin_http.h"
#include "node/client_server.h"
#include "node/memory.h"
#include "perf/perf.h"
#include "perf/stages.h"
#include "perf/tuner.h"
#include "storage/storage.h"

namespace kestrel::node {

// Adds the growth of a monotonic source counter to a registry counter. A source
// that went backwards was restarted (a new Network, a reopened store): its new
// value is all growth since the restart.
class CounterDelta {
 public:
  CounterDelta() = default;
  explicit CounterDelta(perf::Counter* counter) : counter_(counter) {}
  // Returns the growth added.
  std::uint64_t update(std::uint64_t now);

 private:
  perf::Counter* counter_ = nullptr;
  std::uint64_t last_ = 0;
};

class NodeMetrics {
 public:
  // REQUIRES: the registry has room for every node series (a few hundred;
  // asserted: the names are fixed, so failing is a bug, not an operating error).
  explicit NodeMetrics(perf::Registry& registry);
  NodeMetrics(const NodeMetrics&) = delete;
  NodeMetrics& operator=(const NodeMetrics&) = delete;

  // --- Snapshots (about once a second) ----------------------------------------------
  void refresh(const hotstuff2::Counters& counters, hotstuff2::View view, hotstuff2::Height committed_height);
  void refresh(const net::NetCounters& counters);
  void refresh(const storage::Counters& counters);
  void refresh(const storage::MemoryUsage& memory);
  void refresh(const HeapUsage& heap);
  void refresh(const crypto::VerifyCache& cache);
  void refresh(const mempool::Mempool& pool);  // call on the thread that owns the pool
  void refresh(const AdminCounters& counters);
  void refresh(const ClientServerCounters& counters);
  void refresh_process();                      // perf::update_process_metrics

  // --- Direct observations (lock-free) -----------------------------------------------
  void count_received(hotstuff2::MessageType type);
  // One batch through the parallel verifier: `items` signatures, `failed` of them bad.
  void observe_verify_batch(std::uint64_t items, std::uint64_t failed);
  // One signature verified alone (not in a batch).
  void count_verification(bool valid);
  void observe_block_executed(std::uint64_t transactions, std::uint64_t duration_ns);

  // Histograms in nanoseconds (exposed in seconds) or in items.
  perf::Histogram* commit_latency = nullptr;         // block proposed (by its leader) to committed here, ns
  perf::Histogram* block_execution = nullptr;        // one committed block through the ledger, ns
  perf::Histogram* storage_sync = nullptr;           // one synced store write (safety record, batch), ns
  perf::Histogram* verify_batch_size = nullptr;      // signatures per parallel batch, items
  perf::Histogram* proposal_transactions = nullptr;  // transactions per proposal, items
  perf::Histogram* submit_to_commit = nullptr;       // client submission accepted to its block committed, ns

  // Stage profile on the same registry (kestrel_stage_*); /stages serves stages.json().
  perf::StageProfile stages;
  // The adaptive tuner's decisions (kestrel_tuner_*), registered whatever the
  // gate so a scrape shows zeros, not gaps; the node records one per interval.
  // Thread-safety: one writer (the consensus thread).
  perf::TunerMetrics tuner;

 private:
  perf::Registry& registry_;
  std::mutex mutex_;  // guards the CounterDelta states and the derived gauges

  // Consensus.
  perf::Gauge* view_ = nullptr;
  perf::Gauge* committed_height_ = nullptr;
  CounterDelta proposals_sent_, votes_sent_, timeouts_sent_, fetches_sent_;
  CounterDelta qcs_formed_, tcs_formed_, view_changes_, commits_, equivocations_, safety_alarms_, early_proposals_;
  CounterDelta reputation_skips_;
  std::array<CounterDelta, static_cast<std::size_t>(hotstuff2::Drop::count_)> dropped_{};
  std::array<perf::Counter*, 6> received_{};  // by MessageType - 1

  // Network.
  CounterDelta bytes_sent_, bytes_received_, frames_sent_, frames_received_;
  CounterDelta messages_sent_, messages_received_, messages_dropped_, send_queue_full_, urgent_sends_, batch_holds_;
  CounterDelta sessions_established_, sessions_closed_;
  std::array<CounterDelta, static_cast<std::size_t>(net::HandshakeFailure::count_)> handshake_failures_{};
  CounterDelta handshakes_established_;
  CounterDelta rejected_authentication_, rejected_oversized_, rejected_malformed_;
  CounterDelta frame_stalls_, idle_timeouts_, rekeys_, frames_compressed_, compression_saved_;
  CounterDelta buffer_pool_hits_, buffer_pool_misses_, dial_attempts_, hellos_answered_;
  perf::Gauge* sessions_ = nullptr;
  perf::Gauge* messages_per_frame_sent_ = nullptr;      // milli-messages per frame, last interval
  perf::Gauge* messages_per_frame_received_ = nullptr;

  // Storage.
  CounterDelta synced_writes_, block_cache_hits_, block_cache_misses_, pruned_commits_;

  // Crypto.
  perf::Counter* verifications_single_ = nullptr;
  perf::Counter* verifications_batch_ = nullptr;
  perf::Counter* verification_failures_ = nullptr;
  CounterDelta verify_cache_hits_, verify_cache_misses_;
  perf::Gauge* verify_cache_entries_ = nullptr;
  std::array<perf::Gauge*, 4> storage_memory_{};  // memtables, table_readers, block_cache, pinned
  std::array<perf::Gauge*, 3> heap_{};            // in_use, free, mapped

  // Mempool.
  perf::Gauge* mempool_transactions_ = nullptr;
  perf::Gauge* mempool_bytes_ = nullptr;
  perf::Gauge* mempool_senders_ = nullptr;
  CounterDelta mempool_admitted_;
  std::array<CounterDelta, static_cast<std::size_t>(mempool::AdmitError::count_)> mempool_refused_{};

  // Execution.
  perf::Counter* blocks_executed_ = nullptr;
  perf::Counter* transactions_executed_ = nullptr;

  // Admin.
  std::array<CounterDelta, admin_counted_statuses.size() + 1> admin_responses_{};
  CounterDelta admin_accepted_, admin_refused_, admin_refused_address_;
  CounterDelta admin_evicted_port_, admin_evicted_address_, admin_request_timeouts_, admin_response_timeouts_;

  // Client server.
  CounterDelta client_accepted_, client_refused_, client_refused_address_, client_closed_;
  CounterDelta client_evicted_port_, client_evicted_address_, client_first_request_timeouts_;
  perf::Gauge* client_open_ = nullptr;
  CounterDelta client_requests_[5];  // submit, wait_receipt, get_account, get_key, submit_raw
  CounterDelta client_transactions_, client_raw_commands_, client_responses_;
  CounterDelta client_malformed_, client_backpressure_, client_stalls_, client_idle_, client_late_;
  CounterDelta client_bytes_in_, client_bytes_out_;
};

// Label values (stable; docs/metrics.md lists them).
const char* admit_error_label(mempool::AdmitError error);
const char* message_type_label(hotstuff2::MessageType type);

}  // namespace kestrel::node
