// The execution pipeline (node_impl.h): committed blocks in, executed blocks out,
// on its own thread behind consensus (gate node.execution_thread), so a slow
// block no longer delays the next view. The consensus thread submits each commit
// once its commit-stream entry is in the store's batch; the execution thread
// decodes its transactions and runs them through the Executor; the consensus
// thread takes the results (take()) and writes them (Store::apply_execution),
// updates the mempool and answers clients. `ready` is called (on the execution
// thread) when a result is waiting, to wake the consensus thread.
// Gate off: submit() executes at once on the caller's thread (the baseline path,
// where execution was part of the consensus step); take() then has it. So does a
// small block submitted while nothing is in flight, with gate
// node.execution_inline_small (the light-load path: its answer need not wait
// for the step's synced write).
//
// Order: blocks execute in submission order, which is commit-sequence order.
// Bounded: in_flight() (queued, executing, and done but not taken) stays below
// limits::node_execution_queue_max: the caller waits for a result (wait_done)
// and takes it before it submits more — backpressure on consensus that cannot
// deadlock, since the only thread that takes is the one that waits.
// Thread-safety: submit(), take() and wait_done() from one thread; read() from any.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "execution/executor.h"
#include "node/payload.h"

namespace kestrel::node {

struct ExecutionJob {
  std::uint64_t height = 0;
  Hash32 id;
  Bytes payload;
  // From the in-flight index when the payload was decoded there (indexed): each
  // transaction's [offset, offset + size) and id; else decoded by the pipeline.
  bool indexed = false;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  std::vector<execution::TransactionId> ids;
  std::vector<RawEntry> raw;
  // Gate execution.known_senders: the sender each transaction's id had in the
  // mempool (the consensus thread asks it; absent ones are hashed here).
  bool known_senders = false;
  std::vector<std::optional<execution::AccountId>> senders;
  std::chrono::steady_clock::time_point submitted{};
};

struct ExecutedBlock {
  std::uint64_t height = 0;
  Hash32 id;
  execution::BlockResult result;
  std::vector<execution::Transaction> transactions;
  std::vector<execution::AccountId> senders;  // empty unless known_senders
  std::vector<RawEntry> raw;
  std::chrono::steady_clock::duration execution_time{};
  std::chrono::steady_clock::duration queued_time{};
};

class ExecutionPipeline {
 public:
  ExecutionPipeline(std::unique_ptr<execution::Executor> executor, std::function<void()> ready, bool threaded);
  ~ExecutionPipeline();  // stop()
  ExecutionPipeline(const ExecutionPipeline&) = delete;
  ExecutionPipeline& operator=(const ExecutionPipeline&) = delete;

  void start();
  // Finishes nothing further: what is queued is dropped (its commits are durable
  // and replayed at the next start). Idempotent.
  void stop();
  // REQUIRES: in_flight() < limits::node_execution_queue_max.
  // `may_inline` (gate node.execution_inline_small, the caller judged the block
  // small): executed at once on the caller's thread if nothing is in flight, so
  // no block is overtaken; take() then has it.
  void submit(ExecutionJob job, bool may_inline = false);
  // Blocks submit() executed on the caller's thread although the pipeline is
  // threaded.
  std::uint64_t executed_inline() const;
  // Executes at once on the caller's thread and appends the result to `out`
  // (the replay at start, before start()).
  void run_now(ExecutionJob job, std::vector<ExecutedBlock>& out);
  std::size_t in_flight() const;
  // Moves out every result waiting, in order.
  void take(std::vector<ExecutedBlock>& out);
  // Waits until a result waits (or stop). REQUIRES: in_flight() > 0.
  void wait_done();
  // Runs f(executor) while no block executes (client reads, admission nonces).
  template <typename F>
  auto read(F&& f) const {
    std::lock_guard lock(executor_mutex_);
    return f(static_cast<const execution::Executor&>(*executor_));
  }

 private:
  void run();
  ExecutedBlock execute(ExecutionJob& job);

  std::unique_ptr<execution::Executor> executor_;
  mutable std::mutex executor_mutex_;
  std::function<void()> ready_;
  const bool threaded_;
  mutable std::mutex mutex_;
  std::condition_variable has_job_, has_done_;
  std::deque<ExecutionJob> jobs_;
  std::deque<ExecutedBlock> done_;
  std::size_t executing_ = 0;
  std::uint64_t executed_inline_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kestrel::node
