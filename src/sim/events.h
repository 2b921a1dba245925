// The simulator's event queue and its clock (private to src/sim): every
// delivery, timer, crash, restart and payload handover of a run, ordered by
// simulated time and, within one instant, by the order they were scheduled.
// That second key makes a run a function of its seed alone.
//
// Protocol-neutral: the world (world.h) schedules and pops; protocols see only
// the time. Thread-safety: none (one run, one thread).
#pragma once

#include <cstdint>
#include <queue>
#include <vector>

#include "common/assert.h"
#include "common/bytes.h"
#include "consensus/consensus.h"

namespace kestrel::sim {

using consensus::ReplicaId;
using consensus::Tick;  // 1 tick = 1 simulated ms

// The values are part of the trace digest (digest.h): append, never renumber.
enum class EventKind : std::uint8_t { deliver, wake, crash, restart, payload };

struct Event {
  Tick time = 0;
  std::uint64_t sequence = 0;  // set by EventQueue::schedule
  EventKind kind = EventKind::deliver;
  ReplicaId node = 0;          // where it happens
  ReplicaId from = 0;          // deliver: the sender; otherwise `node`
  std::uint64_t incarnation = 0;  // wake, payload: the node's life it belongs to
  Bytes bytes;                 // deliver: the message as it travelled
};

class EventQueue {
 public:
  // Events pending at once: a broadcast schedules n - 1 deliveries (n <= 128), a
  // view a handful of broadcasts, and duplication and floods multiply that by a
  // small factor; 2^22 is two orders of magnitude above the largest runs and
  // stops a runaway (a core that re-arms a timer per event) as a bug, not as
  // exhausted memory.
  static constexpr std::size_t pending_max = std::size_t{1} << 22;

  void schedule(Event event) {
    KESTREL_ASSERT(queue_.size() < pending_max);
    event.sequence = next_sequence_++;
    queue_.push(std::move(event));
  }
  bool empty() const { return queue_.empty(); }
  // REQUIRES: !empty(). The earliest event (ties: the first scheduled).
  Event pop() {
    KESTREL_ASSERT(!queue_.empty());
    Event event = queue_.top();
    queue_.pop();
    return event;
  }

 private:
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace kestrel::sim
