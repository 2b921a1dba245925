// Harness of the multi-process cluster tests (docs/development.md "Cluster tests"):
// a real cluster of `kestrel node` processes on loopback, a load generator of
// pre-signed ML-DSA-65 transfers through the client library, and the end checks
// (accounts on every node, state digests and block ids in every store).
//
// Cluster is RAII: its destructor SIGKILLs and reaps every node process it
// started, whatever happened before, and removes the work directory unless the
// current test failed (then it prints where the logs are and the tail of each
// node's log). Children are also bound to the test process by PR_SET_PDEATHSIG,
// so a test binary killed by CTest's timeout takes its nodes with it. A watchdog
// thread enforces the test's hard deadline: when it passes, every node is
// SIGKILLed, which makes every blocked client call fail at once, so the test fails
// instead of hanging.
//
// Thread-safety: Cluster's process control (start, kill, stop) is for the test's
// main thread; status(), connect() and the watchdog may run concurrently with it.
// Load runs its own worker threads and is driven from one thread.
#pragma once

#include <nlohmann/json.hpp>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "execution/execution.h"
#include "node/client.h"
#include "node/config.h"
#include "storage/storage.h"

namespace kestrel::cluster_test {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t);

// Polls `done` every `period` until it returns true (true) or `deadline` passes (false).
bool wait_until(Clock::time_point deadline, const std::function<bool()>& done,
                std::chrono::milliseconds period = std::chrono::milliseconds(50));

// The funded accounts `kestrel init` wrote (ML-DSA-65 keys).
struct Accounts {
  std::vector<std::unique_ptr<crypto::Signer>> signers;
  std::vector<execution::AccountId> ids;
  std::uint64_t genesis_balance = 0;
};

// Pre-signed transfers: account a's k-th transfer carries nonce k and moves
// amount_of(a) to recipient_of(a) (the next account, cyclically), so after every
// account a has committed n[a] transfers its balance is
//   genesis - n[a] * amount_of(a) + n[prev(a)] * amount_of(prev(a)).
struct SignedTransfers {
  std::vector<std::vector<Bytes>> txs;                    // [account][nonce]
  std::vector<std::vector<execution::TransactionId>> ids;  // [account][nonce]
  std::size_t accounts() const { return txs.size(); }
};
inline std::size_t recipient_of(std::size_t a, std::size_t accounts) { return (a + 1) % accounts; }
inline std::uint64_t amount_of(std::size_t a) { return 1 + a % 7; }
// REQUIRES: per_account >= 1, threads >= 1.
SignedTransfers sign_transfers(const Accounts& accounts, std::uint32_t chain_id, std::size_t per_account,
                               unsigned threads);
// The balance account a must have once every account b has committed committed[b] transfers.
std::uint64_t expected_balance(const Accounts& accounts, const std::vector<std::uint64_t>& committed, std::size_t a);

class Cluster {
 public:
  struct Options {
    std::string name;  // part of the work directory's name
    std::uint32_t nodes = 4;
    std::uint32_t accounts = 16;
    std::string scheme = "ml-dsa-65";  // validators' scheme (`kestrel init --scheme`)
    // The whole test's hard deadline (watchdog), counted from create().
    std::chrono::seconds budget{60};
    // Applied to every node's config after `init` (e.g. shorter view timeouts).
    std::function<void(node::NodeConfig&)> tweak;
  };

  // Takes a free port range of its own (a locked slot below the ephemeral range),
  // runs `kestrel init` into a fresh temp directory, applies the tweak and reads
  // the account keys. Starts no node.
  static Result<std::unique_ptr<Cluster>, std::string> create(Options options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  std::uint32_t size() const { return static_cast<std::uint32_t>(configs_.size()); }
  const node::NodeConfig& config(std::uint32_t i) const { return configs_[i]; }
  const Accounts& accounts() const { return accounts_; }
  std::uint32_t chain_id() const { return static_cast<std::uint32_t>(configs_[0].chain_id); }
  const std::filesystem::path& dir() const { return dir_; }
  Clock::time_point deadline() const { return deadline_; }

  // Spawns `kestrel node --config node<i>/config.toml` (log appended to node<i>.log),
  // with `env` ("NAME=value") added to its environment.
  // REQUIRES: node i not running.
  Status<std::string> start(std::uint32_t i, std::vector<std::string> env = {});
  // Waits until every running node's client port accepts and reports height >= min_height.
  Status<std::string> wait_ready(std::uint64_t min_height, Clock::time_point deadline);
  // SIGKILL, reaped. No-op when not running.
  void kill(std::uint32_t i);
  // SIGTERM, reaped; SIGKILL after `grace`. Returns the exit status (or -1 if killed).
  int stop(std::uint32_t i, std::chrono::milliseconds grace = std::chrono::milliseconds(10000));
  void stop_all();
  // Waits until `deadline` for node i to exit on its own; its exit status (reaped),
  // or nullopt when it still runs (or was not running).
  std::optional<int> wait_exit(std::uint32_t i, Clock::time_point deadline);
  bool running(std::uint32_t i) const;

  // /status of node i (nullopt when it does not answer within 500 ms).
  std::optional<nlohmann::json> status(std::uint32_t i) const;
  std::uint64_t height(std::uint32_t i) const;  // 0 when it does not answer
  // The leader most running nodes report (nullopt when none answers).
  std::optional<std::uint32_t> leader() const;
  // GET `path` on node i's admin port.
  std::optional<std::pair<int, std::string>> admin_get(std::uint32_t i, const std::string& path) const;

  // A client connected to node i (retrying until `deadline`).
  Result<std::unique_ptr<node::Client>, std::string> connect(std::uint32_t i, Clock::time_point deadline) const;

  // Opens node i's store (the node must be stopped).
  Result<std::unique_ptr<storage::Store>, std::string> open_store(std::uint32_t i) const;

  std::string log_path(std::uint32_t i) const;
  std::string log_tail(std::uint32_t i, std::size_t lines) const;

 private:
  Cluster() = default;
  void watchdog();

  std::filesystem::path dir_;
  std::vector<node::NodeConfig> configs_;
  Accounts accounts_;
  Clock::time_point deadline_;
  mutable std::mutex mutex_;  // pids_ (the watchdog kills concurrently)
  std::vector<pid_t> pids_;   // -1: not running
  std::condition_variable wake_;
  bool closing_ = false;
  std::thread watchdog_;
  bool deadline_hit_ = false;
  int port_lock_ = -1;  // the flock on this cluster's port slot, released when destroyed
};

// Per-account result of the stores: the highest height every node reached and what
// they agree on there.
struct StoreCheck {
  std::uint64_t common_height = 0;
  std::vector<std::uint64_t> heights;  // per node
  Hash32 digest;                       // at common_height
};
// Opens every node's store (all stopped) and requires equal state digests at the
// common height and equal block ids at every height in [1, common]. On a
// difference, an error naming the height and the nodes.
Result<StoreCheck, std::string> check_stores(const Cluster& cluster);
// How often each transaction id appears in node i's committed blocks [1, height]:
// included at all, and executed with a success receipt.
struct Inclusions {
  std::uint32_t included = 0;
  std::uint32_t succeeded = 0;
};
Result<std::map<execution::TransactionId, Inclusions>, std::string> committed_transactions(const Cluster& cluster,
                                                                                            std::uint32_t i);
// The ids of the transactions in node i's committed blocks at heights [first, last]
// (node stopped).
Result<std::set<execution::TransactionId>, std::string> transactions_in(const Cluster& cluster, std::uint32_t i,
                                                                       std::uint64_t first, std::uint64_t last);
// The signers of the QCs that node i's kept committed blocks carry
// (block.justify, heights [first kept, committed]; the genesis QC, which has none,
// is skipped): how many QCs each validator signed, and how many QCs were read
// (node stopped).
struct QcSigners {
  std::size_t qcs = 0;
  std::map<std::uint32_t, std::size_t> signed_by;
};
Result<QcSigners, std::string> qc_signers(const Cluster& cluster, std::uint32_t i);
// Diagnostics: every receipt in node i's store whose status is not success, one
// line each (height, view, proposer, account, nonce, status), plus where that
// account's previous nonce and the same nonce committed. Empty when all succeeded.
Result<std::vector<std::string>, std::string> failed_receipts(const Cluster& cluster, std::uint32_t i);
// Waits until node i reports `expected` nonces and the balances they imply for
// every account (get_account), or the deadline passes (then the first mismatch).
Status<std::string> check_accounts(const Cluster& cluster, std::uint32_t i, const std::vector<std::uint64_t>& expected,
                                   Clock::time_point deadline);

// --- Load ---------------------------------------------------------------------------

struct LoadOptions {
  double rate = 0;                       // new transfers per second in total; 0: as fast as the windows allow
  std::size_t window_per_account = 48;   // below the mempool's nonce gap (limits::mempool_nonce_gap_max = 64)
  std::uint32_t workers = 4;             // worker w sends accounts a with a % workers == w to node w % nodes
  // Strict (false): any refusal, error receipt, timeout or broken connection is
  // an error. Failover (true): a broken connection makes the worker connect to the
  // next node and resubmit everything not yet confirmed; `duplicate` counts as
  // admitted, `stale_nonce` as committed, a receipt timeout resubmits.
  bool failover = false;
  std::chrono::milliseconds receipt_timeout{20000};
};

struct LoadFigures {
  std::uint64_t sent = 0;              // distinct transfers sent (first submissions)
  std::uint64_t receipts = 0;          // success receipts
  std::uint64_t confirmed_stale = 0;   // confirmed by a stale_nonce refusal of a resubmission
  std::uint64_t resubmitted = 0;
  std::uint64_t reconnects = 0;
  std::uint64_t receipt_timeouts = 0;
  // Receipts with status rejected_bad_nonce (no effect; the transfer is resubmitted).
  // Honest validators should never produce one: see the CrashAndRestartUnderLoad notes.
  std::uint64_t rejected_bad_nonce = 0;
  std::map<std::string, std::uint64_t> refusals;
  std::vector<std::string> errors;     // the first few
};

class Load {
 public:
  // REQUIRES: transfers and cluster outlive the Load.
  Load(const Cluster& cluster, const SignedTransfers& transfers, LoadOptions options);
  ~Load();  // abort()
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void start();
  // Stops sending new transfers and waits until every sent one is confirmed
  // (true) or the deadline passes (false). Joins the workers either way.
  bool drain(Clock::time_point deadline);
  void abort();  // stop now, join

  // Snapshots (thread-safe).
  LoadFigures figures() const;
  std::uint64_t confirmed() const { return confirmed_total_.load(); }
  // Per account: how many transfers were sent / confirmed (a prefix of the nonces).
  std::vector<std::uint64_t> sent_per_account() const;
  std::vector<std::uint64_t> confirmed_per_account() const;
  // Success receipts per transaction id (strict mode counts every receipt).
  std::map<execution::TransactionId, std::uint32_t> receipt_counts() const;
  // (account, nonce) of every transfer a success receipt was seen for.
  std::vector<std::pair<std::size_t, std::uint64_t>> receipted() const;

 private:
  struct Worker;
  void run(Worker& worker);
  void error(std::string text);

  const Cluster& cluster_;
  const SignedTransfers& transfers_;
  LoadOptions options_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_new_{false}, abort_{false};
  std::atomic<std::uint64_t> confirmed_total_{0};
  Clock::time_point start_;
  mutable std::mutex mutex_;  // figures_, receipt_counts_, receipted_, per-account snapshots
  LoadFigures figures_;
  std::map<execution::TransactionId, std::uint32_t> receipt_counts_;
  std::vector<std::pair<std::size_t, std::uint64_t>> receipted_;
  std::vector<std::uint64_t> sent_, confirmed_;
};

}  // namespace kestrel::cluster_test
