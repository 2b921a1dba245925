#include "crypto/parallel_verify.h"

#include <algorithm>

#include "common/gates.h"

namespace kestrel::crypto {

const char* describe(VerifyBatchError error) {
  switch (error) {
    case VerifyBatchError::too_many_items: return "verify batch has more items than verify_batch_items_max";
    case VerifyBatchError::result_size: return "verify batch result buffer size differs from the item count";
  }
  return "unknown verify batch error";
}

ParallelVerifier::ParallelVerifier(std::size_t threads, VerifyCache* cache) : cache_(cache) {
  KESTREL_ASSERT(threads >= 1 && threads <= limits::parallel_verify_threads_max);
  workers_.reserve(threads - 1);
  for (std::size_t i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ParallelVerifier::~ParallelVerifier() {
  {
    std::lock_guard lock(mutex_);
    KESTREL_ASSERT(queue_count_ == 0);  // no batch may be in flight
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void ParallelVerifier::run(Job& job) const {
  const std::size_t count = job.items.size();
  for (;;) {
    const std::size_t i = job.next.fetch_add(1, std::memory_order_relaxed);
    if (i >= count) return;
    const VerifyItem& item = job.items[i];
    KESTREL_ASSERT(item.verifier != nullptr);
    const bool ok = cache_ != nullptr ? cache_->verify(*item.verifier, item.message, item.signature, item.binding).ok()
                                      : item.verifier->verify(item.message, item.signature).ok();
    job.valid[i] = ok ? 1 : 0;  // each index is written by exactly one thread
  }
}

void ParallelVerifier::worker_loop() {
  for (;;) {
    Job* job = nullptr;
    {
      std::unique_lock lock(mutex_);
      work_ready_.wait(lock, [this] { return stopping_ || queue_count_ > 0; });
      if (queue_count_ == 0) return;  // stopping and nothing left
      job = queue_[queue_head_];
      queue_head_ = (queue_head_ + 1) % queue_.size();
      --queue_count_;
    }
    run(*job);
    {
      std::lock_guard lock(mutex_);
      KESTREL_ASSERT(job->helpers > 0);
      --job->helpers;
    }
    job_released_.notify_all();
  }
}

Status<VerifyBatchError> ParallelVerifier::verify_batch(std::span<const VerifyItem> items,
                                                        std::span<std::uint8_t> valid) {
  if (items.size() > limits::verify_batch_items_max) return Err(VerifyBatchError::too_many_items);
  if (valid.size() != items.size()) return Err(VerifyBatchError::result_size);
  Job job;
  job.items = items;
  job.valid = valid;
  if (workers_.empty() || items.size() < 2 || !gate_enabled(Gate::crypto_parallel_verify)) {
    run(job);
    return {};
  }
  // One ticket per worker that could usefully help, as far as the queue allows.
  const std::size_t wanted = std::min(workers_.size(), items.size() - 1);
  std::size_t granted = 0;
  {
    std::lock_guard lock(mutex_);
    while (granted < wanted && queue_count_ < queue_.size()) {
      queue_[(queue_head_ + queue_count_) % queue_.size()] = &job;
      ++queue_count_;
      ++granted;
    }
    job.helpers = granted;
  }
  for (std::size_t i = 0; i < granted; ++i) work_ready_.notify_one();
  run(job);
  // Withdraw tickets no worker took (so we never wait for busy workers), then
  // wait for the workers still inside run(job): job lives on this stack.
  std::unique_lock lock(mutex_);
  std::size_t kept = 0;
  for (std::size_t i = 0; i < queue_count_; ++i) {
    Job* queued = queue_[(queue_head_ + i) % queue_.size()];
    if (queued == &job) {
      --job.helpers;
    } else {
      queue_[(queue_head_ + kept) % queue_.size()] = queued;
      ++kept;
    }
  }
  queue_count_ = kept;
  job_released_.wait(lock, [&job] { return job.helpers == 0; });
  return {};
}

}  // namespace kestrel::crypto
