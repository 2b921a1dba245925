// Parallel batch signature verification on a fixed pool of worker threads
// (gate crypto.parallel_verify), for the batches consensus and mempool check:
// the n - f votes of a QC, the transactions of a proposal.
//
// verify_batch() splits nothing up front: the caller and the helping workers
// claim items one at a time from a shared atomic index, so slow (ML-DSA) and
// fast (Ed25519) items balance themselves. The caller always works on its own
// batch, so a batch finishes even when every worker is busy elsewhere.
//
// Bounds: threads <= limits::parallel_verify_threads_max; items per call <=
// limits::verify_batch_items_max; the queue of waiting batches holds at most
// limits::parallel_verify_queue_max entries, and when it is full the caller
// verifies with fewer helpers (or alone) instead of queueing more. A call
// allocates nothing: its job lives on the caller's stack and results go to the
// caller's buffer.
//
// With the gate off, every batch is verified on the calling thread, in order.
// With a VerifyCache, each item goes through it (gate crypto.verify_cache).
//
// Thread-safe: verify_batch may be called from many threads at once. The
// destructor joins the workers; no call may be in flight then.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/bytes.h"
#include "common/limits.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"

namespace kestrel::crypto {

struct VerifyItem {
  const Verifier* verifier = nullptr;  // REQUIRES: not null
  ByteSpan message;
  ByteSpan signature;
  // Optional: a digest binding all the inputs, for the cache key
  // (VerifyCache::verify's binding; same requirement).
  const Hash32* binding = nullptr;
};

enum class VerifyBatchError : std::uint8_t {
  too_many_items,    // more than limits::verify_batch_items_max
  result_size,       // valid.size() != items.size()
};
const char* describe(VerifyBatchError error);

class ParallelVerifier {
 public:
  // threads: how many threads verify one batch, counting the caller (so 1 means
  // no workers). REQUIRES: 1 <= threads <= limits::parallel_verify_threads_max.
  // cache may be null; it must outlive this object.
  explicit ParallelVerifier(std::size_t threads, VerifyCache* cache = nullptr);
  ~ParallelVerifier();
  ParallelVerifier(const ParallelVerifier&) = delete;
  ParallelVerifier& operator=(const ParallelVerifier&) = delete;

  // valid[i] = 1 when items[i] verifies, else 0.
  [[nodiscard]] Status<VerifyBatchError> verify_batch(std::span<const VerifyItem> items,
                                                      std::span<std::uint8_t> valid);

  std::size_t threads() const { return workers_.size() + 1; }

 private:
  struct Job {
    std::span<const VerifyItem> items;
    std::span<std::uint8_t> valid;
    std::atomic<std::size_t> next{0};
    std::size_t helpers = 0;  // queue tickets plus running workers; under mutex_
  };
  void run(Job& job) const;
  void worker_loop();

  VerifyCache* cache_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable job_released_;
  std::array<Job*, limits::parallel_verify_queue_max> queue_{};  // ring, under mutex_
  std::size_t queue_head_ = 0;
  std::size_t queue_count_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace kestrel::crypto
