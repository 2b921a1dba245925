#include "sim/disk.h"

#include "common/assert.h"

namespace kestrel::sim {

Disk::Disk(std::size_t commit_tail_max) : commit_tail_max_(commit_tail_max) { KESTREL_ASSERT(commit_tail_max >= 1); }

void Disk::write(const std::vector<consensus::JournalOp>& ops, std::size_t durable) {
  KESTREL_ASSERT(durable <= ops.size());
  for (std::size_t i = 0; i < durable; ++i) {
    const consensus::JournalOp& op = ops[i];
    if (op.kind == consensus::JournalOp::Kind::put) {
      journal_[op.key] = op.value;
    } else {
      KESTREL_ASSERT(op.value.empty());
      journal_.erase(op.key);
    }
  }
  KESTREL_ASSERT(journal_.size() <= journal_entries_max);
}

void Disk::append(const std::vector<consensus::Commit>& commits) {
  for (const consensus::Commit& c : commits) {
    // The stream may begin above 1: a core can restart from a journal that
    // recorded commits whose step a crash cut before they reached the stream.
    KESTREL_ASSERT(!last_committed_ || c.sequence == *last_committed_ + 1);
    last_committed_ = c.sequence;
    commit_tail_.push_back(c);
    if (commit_tail_.size() > commit_tail_max_) commit_tail_.pop_front();
  }
  KESTREL_ASSERT(commit_tail_.size() <= commit_tail_max_);
}

}  // namespace kestrel::sim
