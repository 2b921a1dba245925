#include "sim/world.h"

#include <algorithm>

#include "common/assert.h"
#include "common/codec.h"

namespace kestrel::sim {

namespace {

// Nothing for the world to carry out.
bool idle(const consensus::Ready& ready) {
  return ready.journal.empty() && ready.sends.empty() && ready.commits.empty() && !ready.wake_at &&
         !ready.wants_payload;
}

}  // namespace

World::World(const WorldConfig& config, Prng& prng, SimResult& result)
    : config_(config), prng_(prng), result_(result), readies_(readies_max) {
  KESTREL_ASSERT(config.n >= 1 && config.n <= 128);
  KESTREL_ASSERT(config.byzantine <= (config.n - 1) / 3);
  nodes_.reserve(config.n);
  for (std::uint32_t i = 0; i < config.n; ++i) nodes_.emplace_back(config.commit_tail_max);
  std::vector<ReplicaId> ids(config.n);
  for (ReplicaId i = 0; i < config.n; ++i) ids[i] = i;
  for (std::uint32_t i = 0; i < config.byzantine; ++i) {
    const auto j = i + prng_.uniform(config.n - i);
    std::swap(ids[i], ids[j]);
    nodes_[ids[i]].byzantine = true;
  }
  const bool chaos = config.loss || config.duplication || config.reordering || config.partition || config.crash;
  gst_ = chaos ? 1000 + prng_.uniform(3000) : 0;
  result_.gst_ms = gst_;
  network_.emplace(NetworkConfig{config.n, config.delay_ms, config.jitter_ms, gst_, config.loss, config.duplication,
                                 config.reordering, config.partition},
                   prng_, queue_, now_);
  if (config.crash) {
    const auto count = 1 + prng_.uniform(3);
    for (std::uint64_t i = 0; i < count; ++i) {
      const auto node = static_cast<ReplicaId>(prng_.uniform(config.n));
      if (nodes_[node].byzantine) continue;
      queue_.schedule({prng_.uniform(gst_), 0, EventKind::crash, node, node, 0, {}});
    }
  }
}

void World::run(Protocol& protocol) {
  KESTREL_ASSERT(protocol_ == nullptr);  // a world runs once
  protocol_ = &protocol;
  for (ReplicaId r = 0; r < config_.n; ++r) {
    nodes_[r].core = protocol.start_core(r);
    KESTREL_ASSERT(nodes_[r].core != nullptr);
    step(r, consensus::PayloadReady{next_payload(r), false});
    step(r, consensus::Start{0});
  }
  const Tick time_cap = gst_ + config_.run_after_gst_ms;
  while (!queue_.empty()) {
    const Event event = queue_.pop();
    KESTREL_ASSERT(event.time >= now_);  // time never runs backwards
    now_ = event.time;
    if (now_ > time_cap) break;
    ++result_.events;
    handle(event);
    if (!result_.violations.empty()) break;
    if (!protocol.keep_running()) break;
  }
  result_.sim_time_ms = now_;
  result_.messages = network_->messages();
  result_.bytes = network_->bytes();
  protocol.finish();
  result_.trace_digest = digest_.finish();
}

void World::trace(const std::string& line) const {
  if (tracing()) config_.trace_sink("t=" + std::to_string(now_) + " " + line);
}

void World::handle(const Event& event) {
  digest_.add(event);
  Node& node = nodes_[event.node];
  switch (event.kind) {
    case EventKind::deliver:
      deliver(event);
      return;
    case EventKind::wake:
      if (!node.up || event.incarnation != node.incarnation) return;
      if (node.wake_pending && *node.wake_pending == event.time) node.wake_pending.reset();
      step(event.node, consensus::TickInput{now_});
      return;
    case EventKind::crash:
      crash(event.node);
      return;
    case EventKind::payload:
      if (!node.up || event.incarnation != node.incarnation) return;
      step(event.node, consensus::PayloadReady{next_payload(event.node), false});
      return;
    case EventKind::restart:
      restart(event.node);
      return;
  }
  KESTREL_ASSERT(false);  // every kind is handled above
}

void World::deliver(const Event& event) {
  if (!nodes_[event.node].up) return;
  auto message = protocol_->open(event.node, event.bytes);
  const auto route = [&] { return std::to_string(event.from) + "->" + std::to_string(event.node); };
  if (!message) {
    ++result_.dropped_by_drivers;
    if (tracing()) trace("drop " + route() + " " + message.error());
    return;
  }
  KESTREL_ASSERT(*message != nullptr);
  if (tracing()) trace("deliver " + route() + " " + protocol_->describe(**message));
  protocol_->delivered(event.node, **message);
  step(event.node, consensus::Received{event.from, std::move(*message), now_});
}

void World::crash(ReplicaId r) {
  Node& node = nodes_[r];
  if (!node.up) return;
  node.up = false;
  ++node.incarnation;
  trace("crash " + std::to_string(r));
  const Tick downtime = 100 + prng_.uniform(1500);
  queue_.schedule({now_ + downtime, 0, EventKind::restart, r, r, 0, {}});
}

void World::restart(ReplicaId r) {
  Node& node = nodes_[r];
  if (node.up) return;
  node.up = true;
  ++node.incarnation;
  node.wake_pending.reset();
  node.core = protocol_->restart_core(r, node.disk);
  KESTREL_ASSERT(node.core != nullptr);
  if (tracing()) trace("restart " + std::to_string(r) + " view " + std::to_string(node.core->status().round));
  step(r, consensus::PayloadReady{next_payload(r), false});
  step(r, consensus::Start{now_});
}

void World::step(ReplicaId r, const consensus::Input& input) {
  KESTREL_ASSERT(!in_step_);  // a Ready is carried out before the next step
  KESTREL_ASSERT(nodes_[r].up);
  in_step_ = true;
  readies_[0].clear();
  nodes_[r].core->step(input, readies_[0]);
  carry_out(r, 0);
  in_step_ = false;
}

// The order of world.h. depth 0 is the step's Ready, depth 1 the Persisted
// acknowledgement's, and so on (bounded by readies_max).
void World::carry_out(ReplicaId r, std::size_t depth) {
  Node& node = nodes_[r];
  consensus::Ready& ready = readies_[depth];
  protocol_->prepare(r, ready);
  bool sent_early = false;
  if (!node.byzantine) {
    for (consensus::Envelope& envelope : ready.sends) {
      if (!envelope.before_persist) continue;
      protocol_->dispatch(r, envelope);
      sent_early = true;
      ++result_.early_proposals;
    }
    std::erase_if(ready.sends, [](const consensus::Envelope& e) { return e.before_persist; });
  }
  std::size_t durable = ready.journal.size();
  const bool crash_now = crash_draw(r, ready, sent_early, durable);
  node.disk.write(ready.journal, durable);
  if (crash_now) {
    if (sent_early) ++result_.crashes_after_early_proposal;
    crash(r);
    return;
  }
  node.disk.append(ready.commits);
  const bool acknowledge = depth == 0 || ready.needs_sync();
  if (acknowledge) {
    KESTREL_ASSERT(depth + 1 < readies_max);  // a core that journals on every Persisted never settles
    readies_[depth + 1].clear();
    node.core->step(consensus::Persisted{}, readies_[depth + 1]);
  }
  protocol_->completed(r, ready.commits);
  for (consensus::Envelope& envelope : ready.sends) protocol_->dispatch(r, envelope);
  if (ready.wants_payload) queue_.schedule({now_, 0, EventKind::payload, r, r, node.incarnation, {}});
  if (ready.wake_at) schedule_wake(r, *ready.wake_at);
  if (acknowledge && !idle(readies_[depth + 1])) carry_out(r, depth + 1);
}

// Before GST an honest step that writes may crash part-way through its write.
// A step that sent before its journal was durable crashes more often, so that
// sweeps reach "sent, journal not durable"; `durable` is how much of the
// journal the crash leaves.
bool World::crash_draw(ReplicaId r, const consensus::Ready& ready, bool sent_early, std::size_t& durable) {
  if (!config_.crash || nodes_[r].byzantine || now_ >= gst_ || ready.journal.empty()) return false;
  if (!prng_.chance(1, sent_early ? 16 : 400)) return false;
  durable = prng_.uniform(ready.journal.size() + 1);
  return true;
}

void World::schedule_wake(ReplicaId r, Tick at_tick) {
  Node& node = nodes_[r];
  const Tick at = std::max(at_tick, now_);
  if (!node.wake_pending || at < *node.wake_pending) {
    node.wake_pending = at;
    queue_.schedule({at, 0, EventKind::wake, r, r, node.incarnation, {}});
  }
}

// The next batch for `r`: its id, a counter and seeded noise, so that no two
// batches are equal and every proposal is a distinct block.
Bytes World::next_payload(ReplicaId r) {
  Bytes payload;
  payload.reserve(32);
  Writer w(payload);
  w.u32(r);
  w.u64(++nodes_[r].payload_counter);
  Bytes noise(20);
  prng_.fill(noise);
  w.fixed(noise);
  return payload;
}

}  // namespace kestrel::sim
