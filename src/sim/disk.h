// A simulated node's disk (private to src/sim): what survives a crash. It keeps
// only synced writes: the journal operations a step made durable (all of them,
// or the prefix a crash left, world.h) and the commit stream. Anything a core
// holds only in memory is gone when the world rebuilds it from this disk.
//
// Protocol-neutral: journal keys and values are the core's own encodings, and a
// protocol's restart code (e.g. hotstuff2::restore) reads them back.
// Thread-safety: none.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "common/bytes.h"
#include "consensus/consensus.h"

namespace kestrel::sim {

class Disk {
 public:
  // Journal entries held at once. A core bounds its own journal (HotStuff-2: its
  // blocks_max uncommitted blocks plus two records); 2^16 is far above any
  // core's bound and turns a journal that never erases into a failed assertion.
  static constexpr std::size_t journal_entries_max = std::size_t{1} << 16;

  // Keeps the last `commit_tail_max` entries of the commit stream: what a
  // restarted core needs (HotStuff-2: keep_committed_blocks) and no more.
  // REQUIRES: commit_tail_max >= 1.
  explicit Disk(std::size_t commit_tail_max);

  // Makes ops[0, durable) durable, in order; ops[durable, end) are lost (a crash
  // cut the write). REQUIRES: durable <= ops.size().
  void write(const std::vector<consensus::JournalOp>& ops, std::size_t durable);
  // Appends to the commit stream. REQUIRES: gap-free, sequence = last + 1.
  void append(const std::vector<consensus::Commit>& commits);

  // By key, in key order (a deterministic order for the restart code).
  const std::map<Bytes, Bytes>& journal() const { return journal_; }
  // The kept tail of the commit stream, oldest first.
  const std::deque<consensus::Commit>& commit_tail() const { return commit_tail_; }
  // The last sequence ever appended (the tail may have dropped it long ago).
  std::optional<consensus::Sequence> last_committed() const { return last_committed_; }

 private:
  std::size_t commit_tail_max_;
  std::map<Bytes, Bytes> journal_;
  std::deque<consensus::Commit> commit_tail_;
  std::optional<consensus::Sequence> last_committed_;
};

}  // namespace kestrel::sim
