// The validator node (docs/node.md): drives the HotStuff-2 core with the real
// network (src/net), RocksDB (src/storage), the wall clock, the mempool and the
// ledger, and serves clients.
//
// Threads (each owns what it touches; they talk through one bounded queue):
//   - net: the Network's io thread decodes consensus messages and verifies every
//     signature in them (driver contract 1) through the ParallelVerifier and the
//     VerifyCache, then queues them for the consensus thread. A message that fails
//     is dropped and counted; its sender's session stays up.
//   - consensus: owns the Replica, Store, Ledger, Mempool and raw pool. It steps
//     the core, executes commits, persists (the safety record and pending blocks
//     are synced before any message of the same step leaves: contract 3), signs
//     and sends (contract 2), and answers clients.
//   - client and admin servers: their own io threads; requests become events.
//
// Thread-safety: public member functions are thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/result.h"
#include "execution/execution.h"
#include "node/admin_http.h"
#include "node/client_server.h"
#include "node/config.h"

namespace kestrel::node {

// The exit status of the test failpoint KESTREL_TEST_EXIT_AFTER_EARLY_RECEIPTS=N
// (environment, read at open): after N receipts sent early (gate
// node.early_receipts) the node exits with this status before the synced write of
// the commit it answered for, as a crash in that window would (docs/node.md "Test
// failpoints"). For the cluster tests; unset in production.
inline constexpr int test_exit_status = 75;

// The exit status of `kestrel node` when the node stopped itself: a store write it
// cannot do without (a commit, the safety record, a sync) failed and it logged why
// at level critical. A supervisor restarts it; it reopens its store and catches up.
inline constexpr int fatal_exit_status = 3;

// What /status reports (also `kestrel status`).
struct NodeStatus {
  std::uint32_t id = 0;
  std::uint32_t validators = 0;
  std::uint64_t view = 0;
  std::uint32_t leader = 0;
  std::uint64_t committed_height = 0;
  std::uint64_t executed_height = 0;  // <= committed_height (gate node.execution_thread)
  Hash32 committed_block;
  Hash32 state_digest;
  std::uint64_t last_commit_unix_ms = 0;
  std::size_t mempool_transactions = 0;
  std::size_t raw_pool = 0;
  std::vector<bool> peers_connected;  // by validator id (self: true)
  std::uint64_t view_changes = 0;
  std::uint64_t timeouts_sent = 0;
  std::uint64_t transactions_committed = 0;
  std::uint64_t raw_committed = 0;
  double uptime_seconds = 0;
};
std::string status_json(const NodeStatus& status);

class Node final : public ClientBackend {
 public:
  // Opens the store, restores the ledger and the core, starts the network and
  // the consensus thread. On failure a message naming what failed.
  static Result<std::unique_ptr<Node>, std::string> start(const NodeConfig& config);
  ~Node() override;  // stop()
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Stops accepting work, flushes the store, stops the threads. Idempotent.
  void stop();
  NodeStatus status() const;
  // Prometheus text of every metric (process-wide registry).
  std::string metrics_text() const;

  // Counters of the servers run beside the node (client API, admin port), added
  // to the metrics; the app calls them when it serves /metrics. Thread-safe.
  void refresh_server_metrics(const ClientServerCounters& counters);
  void refresh_server_metrics(const AdminCounters& counters);

  // What /stages serves (perf::StageProfile JSON).
  std::string stages_json() const;
  // True while the consensus thread runs (/health).
  bool healthy() const;
  // True once a store write the node cannot go on without failed (logged at
  // critical) and the consensus thread stopped itself. The process should exit
  // (fatal_exit_status).
  bool failed() const;

  // --- ClientBackend (client_server.h). Callbacks run on the consensus thread. ---
  void submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) override;
  void wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds timeout,
                    std::function<void(std::optional<execution::Receipt>)> done) override;
  void get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) override;
  void get_key(const execution::AccountId& id, Bytes key, std::function<void(std::optional<Bytes>)> done) override;
  void submit_raw(std::uint64_t connection, std::vector<RawCommand> commands,
                  std::function<void(std::vector<std::uint64_t> committed_sequences, std::uint64_t height)> committed,
                  std::function<void(std::uint8_t error_code)> refused) override;
  void connection_closed(std::uint64_t connection) override;

  class Impl;

 private:
  explicit Node(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kestrel::node
