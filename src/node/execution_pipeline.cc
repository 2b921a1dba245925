#include "node/execution_pipeline.h"

#include <spdlog/spdlog.h>

#include "common/assert.h"
#include "common/limits.h"

namespace kestrel::node {

using Clock = std::chrono::steady_clock;

ExecutionPipeline::ExecutionPipeline(std::unique_ptr<execution::Executor> executor, std::function<void()> ready,
                                     bool threaded)
    : executor_(std::move(executor)), ready_(std::move(ready)), threaded_(threaded) {
  KESTREL_ASSERT(executor_ != nullptr && ready_);
}

ExecutionPipeline::~ExecutionPipeline() { stop(); }

void ExecutionPipeline::start() {
  if (threaded_ && !thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void ExecutionPipeline::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    jobs_.clear();
  }
  has_job_.notify_all();
  has_done_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t ExecutionPipeline::in_flight() const {
  std::lock_guard lock(mutex_);
  return jobs_.size() + executing_ + done_.size();
}

void ExecutionPipeline::submit(ExecutionJob job, bool may_inline) {
  job.submitted = Clock::now();
  // Nothing in flight: the thread waits for a job and holds nothing, and no
  // earlier block is left to overtake.
  const bool here = !threaded_ || (may_inline && in_flight() == 0);
  if (here) {
    ExecutedBlock done = execute(job);
    std::lock_guard lock(mutex_);
    if (threaded_) ++executed_inline_;
    done_.push_back(std::move(done));
    return;
  }
  {
    std::lock_guard lock(mutex_);
    KESTREL_ASSERT(jobs_.size() + executing_ + done_.size() < limits::node_execution_queue_max);
    if (stopping_) return;
    jobs_.push_back(std::move(job));
  }
  has_job_.notify_one();
}

void ExecutionPipeline::run_now(ExecutionJob job, std::vector<ExecutedBlock>& out) {
  KESTREL_ASSERT(!thread_.joinable());
  job.submitted = Clock::now();
  out.push_back(execute(job));
}

std::uint64_t ExecutionPipeline::executed_inline() const {
  std::lock_guard lock(mutex_);
  return executed_inline_;
}

void ExecutionPipeline::take(std::vector<ExecutedBlock>& out) {
  std::lock_guard lock(mutex_);
  for (auto& d : done_) out.push_back(std::move(d));
  done_.clear();
}

void ExecutionPipeline::wait_done() {
  std::unique_lock lock(mutex_);
  KESTREL_ASSERT(jobs_.size() + executing_ + done_.size() > 0);
  has_done_.wait(lock, [&] { return stopping_ || !done_.empty(); });
}

void ExecutionPipeline::run() {
  for (;;) {
    ExecutionJob job;
    {
      std::unique_lock lock(mutex_);
      has_job_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
      if (stopping_) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      ++executing_;
    }
    ExecutedBlock done = execute(job);
    {
      std::lock_guard lock(mutex_);
      --executing_;
      done_.push_back(std::move(done));
    }
    has_done_.notify_all();
    ready_();
  }
}

ExecutedBlock ExecutionPipeline::execute(ExecutionJob& job) {
  const auto start = Clock::now();
  ExecutedBlock out;
  out.height = job.height;
  out.id = job.id;
  out.queued_time = start - job.submitted;
  std::vector<execution::TransactionId> ids;
  const auto add = [&](ByteSpan encoded, const execution::TransactionId* id, std::size_t k) {
    auto tx = execution::decode_transaction(encoded);
    if (!tx) return;  // certified by a quorum that checked it: cannot happen with <= f faults
    out.transactions.push_back(std::move(*tx));
    ids.push_back(id ? *id : execution::transaction_id(encoded));
    if (job.known_senders) {
      const bool known = job.indexed && k < job.senders.size() && job.senders[k].has_value();
      out.senders.push_back(known ? *job.senders[k] : execution::sender_of(out.transactions.back()));
    }
  };
  if (job.indexed) {
    // Decoded once, when the unit was stored: the same bytes (the id covers them).
    KESTREL_ASSERT(job.ranges.size() == job.ids.size());
    for (std::size_t i = 0; i < job.ranges.size(); ++i) {
      add(ByteSpan(job.payload).subspan(job.ranges[i].first, job.ranges[i].second), &job.ids[i], i);
    }
    out.raw = std::move(job.raw);
  } else if (auto payload = decode_payload(job.payload)) {
    for (std::size_t i = 0; i < payload->transactions.size(); ++i) add(payload->transactions[i], nullptr, i);
    out.raw = std::move(payload->raw);
  } else {
    spdlog::error("committed unit {} at height {} has a malformed payload; executed as empty",
                  job.id.hex().substr(0, 16), job.height);
  }
  // Executed whatever this node's raw_mode: replicas must agree.
  std::vector<execution::RawPut> puts(out.raw.size());
  for (std::size_t i = 0; i < out.raw.size(); ++i) {
    std::copy_n(out.raw[i].command.begin(), 8, puts[i].key.begin());
    std::copy_n(out.raw[i].command.begin() + 8, 8, puts[i].value.begin());
  }
  {
    std::lock_guard lock(executor_mutex_);
    auto result = executor_->execute_block({job.height, out.transactions, ids, puts, out.senders});
    KESTREL_ASSERT(result.ok());  // heights come from the commit stream in order
    out.result = std::move(*result);
  }
  out.execution_time = Clock::now() - start;
  return out;
}

}  // namespace kestrel::node
