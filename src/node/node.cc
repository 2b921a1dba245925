// The node's host (node_impl.h): start, the consensus thread's loop, one step of
// the core with its Ready carried out in the seam's order, status and stop.
#include "node/node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "common/assert.h"
#include "common/codec.h"
#include "common/gates.h"
#include "node/memory.h"
#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

std::size_t RawKeyHasher::operator()(const RawKey& k) const {
  // Consecutive sequences of one connection spread over all buckets.
  return static_cast<std::size_t>(
      mix64(k.sequence + 0x9E3779B97F4A7C15ull * (k.connection + 1) + (static_cast<std::uint64_t>(k.origin) << 56)));
}

bool EventQueue::push(Event event) {
  std::unique_lock lock(mutex_);
  not_full_.wait(lock, [&] { return stopping_ || events_.size() < limits::node_event_queue_max; });
  if (stopping_) return false;
  events_.push_back(std::move(event));
  not_empty_.notify_one();
  return true;
}

void EventQueue::pop_all(std::deque<Event>& out, Clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  not_empty_.wait_until(lock, deadline, [&] { return stopping_ || poked_ || !events_.empty(); });
  poked_ = false;
  out.swap(events_);
  events_.clear();
  not_full_.notify_all();
}

void EventQueue::poke() {
  std::lock_guard lock(mutex_);
  poked_ = true;
  not_empty_.notify_one();
}

void EventQueue::stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  not_empty_.notify_all();
  not_full_.notify_all();
}

Node::Impl::Impl(const NodeConfig& config)
    : config_(config), started_at_(Clock::now()), metrics_(perf::global_registry()), stages_(metrics_.stages) {}

NodeStatus Node::Impl::status() const {
  std::lock_guard lock(status_mutex_);
  NodeStatus s = status_;
  s.uptime_seconds = std::chrono::duration<double>(Clock::now() - started_at_).count();
  return s;
}

// A test failpoint's setting from the environment (a positive count; anything else
// leaves it off), logged with what it does when armed.
static std::uint64_t test_failpoint_setting(const char* name, const char* effect) {
  const char* value = std::getenv(name);
  if (value == nullptr) return 0;
  std::uint64_t count = 0;
  const std::string_view text(value);
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (error != std::errc{} || end != text.data() + text.size()) {
    spdlog::warn("{}={}: not a count; the test failpoint stays off", name, text);
    return 0;
  }
  if (count != 0) spdlog::warn("test failpoint {}={}: {}", name, count, effect);
  return count;
}

// --- Start --------------------------------------------------------------------------

Status<std::string> Node::Impl::open() {
  n_ = static_cast<std::uint32_t>(config_.validators.size());
  self_ = config_.id;
  test_exit_after_early_receipts_ = test_failpoint_setting(
      "KESTREL_TEST_EXIT_AFTER_EARLY_RECEIPTS",
      "after that many early receipts the node exits (node::test_exit_status) before the step's synced write");
  const bool test_refuse_pending_blocks = test_failpoint_setting("KESTREL_TEST_REFUSE_PENDING_BLOCKS",
                                                                 "every journal unit put is refused (units_full)") != 0;
  test_fail_commit_at_height_ = test_failpoint_setting("KESTREL_TEST_FAIL_COMMIT_AT_HEIGHT",
                                                       "the commit of that height fails as an I/O error would");
  if (config_.chain_id > 0xFFFFFFFFull) return Err(config_.path + ": cluster.chain_id: must fit in 32 bits");
  if (auto r = load_keys(); !r) return Err(r.error());
  raw_pool_.reserve(config_.raw_mode ? limits::node_raw_pool_max : 0);
  cache_ = std::make_unique<crypto::VerifyCache>();
  verifier_ = std::make_unique<crypto::ParallelVerifier>(
      std::max(1u, std::min(limits::node_verify_threads_max, std::thread::hardware_concurrency())), cache_.get());
  if (auto r = open_state(test_refuse_pending_blocks); !r) return Err(r.error());
  if (auto r = start_network(); !r) return Err(r.error());
  if (gate_enabled(Gate::perf_adaptive_tuning)) {
    auto tuner = perf::Tuner::create(config_.tuner.controller);
    if (!tuner) return Err(config_.path + ": tuner: " + perf::describe(tuner.error()));
    tuner_.emplace(std::move(*tuner));
    tuner_window_.latency_us.reserve(limits::node_tuner_latency_samples_max);
    spdlog::info("adaptive tuner on: target p99 {} ms, interval {} ms, batch {} in [{}, {}], flush delay {} us in [{}, {}]",
                 config_.tuner.controller.latency_target_us / 1000, config_.tuner.interval_ms,
                 tuner_->batch_transactions(), config_.tuner.controller.batch_transactions_min,
                 config_.tuner.controller.batch_transactions_max, tuner_->flush_delay_us(),
                 config_.tuner.controller.flush_delay_us_min, config_.tuner.controller.flush_delay_us_max);
  }
  publish_status();
  execution_->start();
  thread_ = std::thread([this] { run(); });
  return {};
}

Status<std::string> Node::Impl::load_keys() {
  auto signer = read_secret_key_file(resolve_path(config_, config_.key_file));
  if (!signer) return Err(resolve_path(config_, config_.key_file) + ": " + describe(signer.error()));
  signer_ = std::move(*signer);
  for (const auto& v : config_.validators) {
    auto key = crypto::decode_public_key(v.public_key);
    if (!key) return Err(config_.path + ": validator " + std::to_string(v.id) + " public key: " + crypto::describe(key.error()));
    validator_keys_.push_back(std::move(*key));
  }
  if (crypto::encode_public_key(signer_->verifier()) != config_.validators[self_].public_key) {
    return Err(resolve_path(config_, config_.key_file) + ": not the key of validator " + std::to_string(self_));
  }
  return {};
}

// The store, the executor at its executed height, the core from its journal, the
// mempool, and the replay of commits not executed yet.
Status<std::string> Node::Impl::open_state(bool test_refuse_pending_blocks) {
  storage::Options so;
  so.path = resolve_path(config_, config_.data_dir);
  so.cluster_id = cluster_id_of(config_);
  so.keep_commits = config_.keep_committed_blocks;
  std::string detail;
  auto store = storage::Store::open(so, &detail);
  if (!store) return Err(so.path + ": " + storage::describe(store.error()) + (detail.empty() ? "" : ": " + detail));
  store_ = std::move(*store);
  if (gate_enabled(Gate::storage_direct_io_flush) && !store_->direct_io()) {
    spdlog::warn("{}: the filesystem refuses O_DIRECT; storage flushes are buffered (gate storage.direct_io_flush)",
                 so.path);
  }
  if (auto r = restore_execution(so.path); !r) return Err(r.error());
  DriverContext context;
  context.config = &config_;
  context.signer = signer_.get();
  for (const auto& k : validator_keys_) context.validators.push_back(k.get());
  context.verifier = verifier_.get();
  context.store = store_.get();
  context.metrics = &metrics_;
  context.stages = &stages_;
  context.test_refuse_pending_blocks = test_refuse_pending_blocks;
  auto driver = make_protocol_driver(context);
  if (!driver) return Err(driver.error());
  protocol_ = std::move(*driver);
  if (auto r = protocol_->restore(); !r) return Err(so.path + ": " + r.error());

  mempool::Config mc;
  mc.chain_id = static_cast<std::uint32_t>(config_.chain_id);
  mc.bytes_max = limits::node_mempool_bytes_max;
  mempool_ = std::make_unique<mempool::Mempool>(mc, *verifier_,
                                                [this](const execution::AccountId& id) {
    return execution_->read([&](const execution::Executor& x) { return x.account(id).nonce; });
  });
  return replay_unexecuted(so.path);
}

Status<std::string> Node::Impl::start_network() {
  net::NetworkConfig nc;
  nc.self = static_cast<net::ValidatorId>(self_);
  nc.cluster_id = cluster_id_of(config_);
  nc.identity = signer_.get();
  for (const auto& k : validator_keys_) nc.validators.push_back(k.get());
  nc.listen_host = config_.validators[self_].address.host;
  nc.listen_port = config_.validators[self_].address.port;
  auto network = net::Network::start(nc, [this](net::ValidatorId from, std::uint16_t type, ByteSpan payload) {
    on_peer_message(from, type, payload);
  });
  if (!network) {
    return Err("validator listener " + nc.listen_host + ":" + std::to_string(nc.listen_port) + ": " +
               net::describe(network.error()));
  }
  network_ = std::move(*network);
  for (const auto& v : config_.validators) {
    if (v.id != self_) network_->set_peer_address(static_cast<net::ValidatorId>(v.id), {v.address.host, v.address.port});
  }
  return {};
}

void Node::Impl::stop() {
  std::lock_guard lock(stop_mutex_);
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  events_.stop();
  if (thread_.joinable()) thread_.join();
  if (network_) network_->stop();
  if (store_) {
    if (auto s = store_->flush(); !s) spdlog::error("store flush at shutdown: {}", storage::describe(s.error()));
  }
}

// --- The consensus thread -----------------------------------------------------------

void Node::Impl::run() {
  running_ = true;
  step(consensus::Start{now_tick()});
  std::deque<Event> batch;
  while (!stopping_) {
    const auto now = Clock::now();
    auto deadline = now + std::chrono::milliseconds(limits::node_idle_wait_ms);
    if (wake_tick_ != 0) {
      const auto wake = started_at_ + std::chrono::milliseconds(wake_tick_);
      deadline = std::min(deadline, std::max(now, wake));
    }
    if (hold_deadline_) deadline = std::min(deadline, std::max(now, *hold_deadline_));
    if (const auto retry = payload_retry_at()) deadline = std::min(deadline, std::max(now, *retry));
    Clock::time_point mark = now;
    events_.pop_all(batch, deadline);
    account(activity_idle, mark);
    for (Event& e : batch) {
      if (stopping_) break;
      handle(e);
      static constexpr Activity by_index[] = {activity_consensus,    activity_gossip_transactions, activity_gossip_raw,
                                              activity_client_submit, activity_client_other,       activity_client_other,
                                              activity_client_other,  activity_client_raw,         activity_client_other};
      static_assert(std::size(by_index) == std::variant_size_v<Event>);
      account(by_index[e.index()], mark);
    }
    batch.clear();
    if (stopping_) break;
    if (!drain_executed(/*sync=*/true)) break;
    account(activity_execution, mark);
    if (wake_tick_ != 0 && now_tick() >= wake_tick_) step(consensus::TickInput{now_tick()});
    account(activity_tick, mark);
    if (hold_deadline_ && Clock::now() >= *hold_deadline_) {
      hold_deadline_.reset();
      maybe_prepare_payload(true);  // the flush delay passed: release the held batch
    }
    maybe_prepare_payload(false);
    account(activity_payload, mark);
    flush_gossip();
    account(activity_gossip_send, mark);
    housekeeping(Clock::now());
    account(activity_housekeeping, mark);
  }
  // A clean stop executes what was committed (bounded by node_execution_queue_max
  // blocks), so the store's executed height meets its committed one; after a
  // failed write nothing more is written (the restart replays the gap).
  while (!failed_ && execution_->in_flight() > 0) {
    execution_->wait_done();
    if (!drain_executed(/*sync=*/true)) break;
  }
  running_ = false;
  events_.stop();  // producers must not block on a queue nobody drains
  execution_->stop();
  // Fail every waiting client: the node is going away. Those a failed step had
  // answers for hear nothing committed either: their commits were not yet synced
  // when the store failed.
  for (auto& [id, list] : waiters_) {
    for (auto& w : list) w.done(std::nullopt);
  }
  waiters_.clear();
  for (auto& [wait, receipt] : receipts_due_) wait.done(std::nullopt);
  receipts_due_.clear();
  raw_due_.clear();  // raw clients learn it from their closed connection
}

void Node::Impl::housekeeping(Clock::time_point now) {
  if (now - last_status_ >= std::chrono::milliseconds(limits::node_status_interval_ms)) {
    expire_waiters(now);
    publish_status();
    last_status_ = now;
  }
  if (now - last_metrics_ >= std::chrono::milliseconds(limits::node_metrics_interval_ms)) {
    refresh_metrics();
    last_metrics_ = now;
  }
  if (tuner_ && now - tuner_last_ >= std::chrono::milliseconds(config_.tuner.interval_ms)) {
    if (tuning()) tuner_step();
    tuner_last_ = now;
  }
}

void Node::Impl::step(consensus::Input input) {
  step_once(input);
  // Messages to ourselves are inputs of their own steps, in order (the seam's rule 3).
  while (!to_self_.empty() && !stopping_) {
    consensus::MessagePtr m = std::move(to_self_.front());
    to_self_.pop_front();
    step_once(consensus::Received{self_, std::move(m), now_tick()});
  }
}

// One step of the core and everything its Ready asks for, in the seam's order
// (docs/node.md "One step of the core"): execute and append the commits, write the
// journal, send a reserved proposal and answer clients (each with its gate), the
// synced write and its acknowledgement, the other sends, then the clients not
// answered yet.
void Node::Impl::step_once(const consensus::Input& input) {
  ready_.clear();
  protocol_->core().step(input, ready_);
  if (ready_.wake_at) wake_tick_ = *ready_.wake_at;
  index_units(ready_.stored);
  for (auto& c : ready_.commits) {
    if (!apply_commit(c)) return;  // the store failed: nothing more of this step
  }
  forget_units(ready_.commits);
  // Results waiting — all of this step's commits with gate node.execution_thread
  // off, small ones with node.execution_inline_small — go into this step's synced
  // write, their clients answered with the step's early receipts.
  if (!drain_executed(/*sync=*/false)) return;
  std::string error;
  if (!protocol_->write_journal(ready_.journal, &error)) {
    stop_on_failure(error);
    return;
  }
  for (auto& envelope : ready_.sends) {
    if (envelope.before_persist) send(envelope);
  }
  deliver_early_receipts(ready_.commits.empty() ? 0 : ready_.commits.front().sequence,
                         ready_.commits.empty() ? 0 : ready_.commits.back().sequence);
  // Executed blocks waiting in the batch ride this write when there is one; they
  // are not a reason for one (drain_executed flushes them when needed).
  if (ready_.needs_sync() || !ready_.commits.empty()) {
    const auto sync_start = Clock::now();
    {
      perf::StageTimer timer(stages_, perf::Stage::persistence);
      // The seam's rule: nothing may leave without the journal. Stop rather than
      // risk a second vote after restart.
      if (!protocol_->sync(&error)) {
        stop_on_failure(error);
        return;
      }
    }
    metrics_.storage_sync->observe(static_cast<std::uint64_t>((Clock::now() - sync_start).count()));
    execution_unsynced_ = false;
    consensus::Ready none;
    protocol_->core().step(consensus::Persisted{}, none);
    KESTREL_ASSERT(none.sends.empty() && none.journal.empty() && none.commits.empty());
  }
  for (auto& envelope : ready_.sends) {
    if (!envelope.before_persist) send(envelope);
  }
  protocol_->after_step(ready_);
  deliver_receipts();
  if (ready_.wants_payload) {
    // The core proposed (and cleared a hold): nothing is held for this round.
    proposed_round_ = std::max(proposed_round_, protocol_->core().status().round);
    prepared_held_ = false;
    hold_deadline_.reset();
  }
}

void Node::Impl::send(consensus::Envelope& envelope) {
  if (protocol_->withhold(envelope)) return;
  std::optional<perf::StageTimer> timer;  // our proposals: signing them is the proposal stage
  if (const auto proposal = protocol_->own_proposal(*envelope.message)) {
    timer.emplace(stages_, perf::Stage::proposal);
    const auto unit = units_.find(*proposal);
    metrics_.proposal_transactions->observe(unit != units_.end() ? unit->second.ids.size() : 0);
  }
  const Bytes encoded = protocol_->seal(envelope);
  timer.reset();
  if (envelope.to && *envelope.to == self_) {
    to_self_.push_back(envelope.message);
    return;
  }
  const auto type = static_cast<std::uint16_t>(PeerMessageType::consensus);
  // Gate net.urgent_consensus: the round's messages skip the batching hold; bulk
  // answers (blocks for a lagging peer) wait for company.
  const auto delivery =
      gate_enabled(Gate::net_urgent_consensus) && envelope.urgent ? net::Delivery::urgent : net::Delivery::reliable;
  if (envelope.to) {
    (void)network_->try_send(static_cast<net::ValidatorId>(*envelope.to), type, encoded, delivery);
  } else {
    for (consensus::ReplicaId peer = 0; peer < n_; ++peer) {
      if (peer != self_) (void)network_->try_send(static_cast<net::ValidatorId>(peer), type, encoded, delivery);
    }
  }
}

void Node::Impl::stop_on_failure(const std::string& what) {
  spdlog::critical("{}; stopping", what);
  failed_ = true;
  stopping_ = true;
}

void Node::Impl::refresh_metrics() {
  // The node's own drops (the core's are in kestrel_consensus_dropped_total).
  static const std::pair<const char*, const char*> reasons[] = {
      {"malformed", "a peer message that did not decode or named an unknown signer"},
      {"bad_signature", "a consensus message with a signature that did not verify"},
      {"bad_proposal", "a proposal whose payload or transactions failed the node's checks"},
      {"unsolicited_fetch_response", "a fetch response from a peer we had not asked"},
      {"store_fetch_budget", "a fetch for stored blocks beyond the peer's budget"},
      {"unit_index_full", "a stored unit not indexed for the payload builder: node_in_flight_blocks_max units indexed"},
  };
  const ProtocolDriver::Drops drops = protocol_->drops();
  const std::uint64_t values[] = {bad_peer_messages_.load() + drops.malformed, drops.bad_signature, bad_proposals_,
                                  drops.unsolicited_response, drops.store_fetch_budget, units_not_indexed_};
  // A running total kept here, exported as a counter (raised to the total).
  const auto export_total = [](std::string_view name, std::string_view help, perf::Labels labels,
                               std::uint64_t total, double unit_scale = 1.0) {
    auto counter = perf::global_registry().counter(name, help, std::move(labels), unit_scale);
    if (counter && total > (*counter)->value()) (*counter)->add(total - (*counter)->value());
  };
  for (std::size_t i = 0; i < std::size(reasons); ++i) {
    export_total("kestrel_node_dropped_total", "Peer input the node dropped before the consensus core, by reason",
                 {{"reason", reasons[i].first}}, values[i]);
  }
  for (const auto& [path, value] : {std::pair<const char*, std::uint64_t>{"known", proposal_transactions_known_},
                                    {"checked", proposal_transactions_checked_}}) {
    export_total("kestrel_node_proposal_transactions_total",
                 "Transactions in peers' proposals by how they were checked (known: admitted here before, gate "
                 "mempool.known_transactions; checked: decoded and verified)",
                 {{"path", path}}, value);
  }
  export_total("kestrel_node_early_receipts_total",
               "Receipts and raw commit notices sent before this node's synced write of the commit (gate "
               "node.early_receipts)",
               {}, early_receipts_);
  export_total("kestrel_node_votes_withheld_total",
               "Votes the core cast that the node did not send, because the block was not stored (its pending-block "
               "put failed)",
               {}, drops.votes_withheld);
  export_total("kestrel_node_fresh_payloads_total",
               "Payloads built again for the core just before a peer's consensus message was stepped, because the "
               "small pools grew since the last build (gate node.fresh_payload)",
               {}, fresh_payloads_);
  static constexpr const char* activities[activity_count] = {
      "idle",        "consensus", "gossip_transactions", "gossip_raw", "client_submit", "client_raw",
      "client_other", "tick",     "payload",             "gossip_send", "housekeeping", "execution"};
  for (std::size_t i = 0; i < activity_count; ++i) {
    export_total("kestrel_node_thread_seconds_total",
                 "Wall time of the consensus thread by activity (idle: waiting for events; consensus: peer "
                 "messages through the core, including persistence and sends, and execution with gate "
                 "node.execution_thread off; execution: writing executed blocks and answering their clients)",
                 {{"activity", activities[i]}}, thread_ns_[i], 1e-9);
  }
  protocol_->refresh_metrics();
  metrics_.refresh(network_->counters());
  metrics_.refresh(store_->counters());
  metrics_.refresh(store_->memory_usage());
  metrics_.refresh(heap_usage());
  metrics_.refresh(*cache_);
  metrics_.refresh(*mempool_);
  metrics_.refresh_process();
  // Bounded: entries of transactions that left the pool without committing here.
  if (admitted_at_.size() > mempool_->size() + limits::node_admitted_at_slack) {
    const auto cutoff = Clock::now() - std::chrono::seconds(limits::node_admitted_at_age_max_s);
    std::erase_if(admitted_at_, [&](const auto& entry) { return entry.second < cutoff; });
  }
}

void Node::Impl::publish_status() {
  NodeStatus s;
  s.id = self_;
  s.validators = n_;
  const consensus::CoreStatus core = protocol_->core().status();
  s.view = core.round;
  // A leader the core cannot name yet: the round's round-robin slot.
  s.leader = core.leader.value_or(static_cast<std::uint32_t>(core.round % n_));
  s.committed_height = core.committed;
  s.committed_block = core.committed_id;
  // One read: the digest and the height of the same executed block.
  std::tie(s.state_digest, s.executed_height) =
      execution_->read([](const execution::Executor& x) { return std::make_pair(x.state_digest(), x.height()); });
  s.last_commit_unix_ms = last_commit_unix_ms_;
  s.mempool_transactions = mempool_->size();
  s.raw_pool = raw_pool_.size();
  s.peers_connected.resize(n_);
  for (std::uint32_t i = 0; i < n_; ++i) s.peers_connected[i] = i == self_ || network_->connected(static_cast<net::ValidatorId>(i));
  s.view_changes = core.round_changes;
  s.timeouts_sent = core.timeouts_sent;
  s.transactions_committed = transactions_committed_;
  s.raw_committed = raw_committed_;
  std::lock_guard lock(status_mutex_);
  status_ = std::move(s);
}

// --- Public surface ----------------------------------------------------------------------

std::string status_json(const NodeStatus& s) {
  std::ostringstream out;
  out << "{\"id\":" << s.id << ",\"validators\":" << s.validators << ",\"view\":" << s.view << ",\"leader\":" << s.leader
      << ",\"height\":" << s.committed_height << ",\"executed_height\":" << s.executed_height << ",\"last_commit\":{\"block\":\"" << to_hex(s.committed_block.bytes)
      << "\",\"unix_ms\":" << s.last_commit_unix_ms << "},\"state_digest\":\"" << to_hex(s.state_digest.bytes)
      << "\",\"mempool\":{\"transactions\":" << s.mempool_transactions << ",\"raw\":" << s.raw_pool << "},\"peers\":[";
  for (std::size_t i = 0; i < s.peers_connected.size(); ++i) {
    out << (i ? "," : "") << "{\"id\":" << i << ",\"connected\":" << (s.peers_connected[i] ? "true" : "false") << "}";
  }
  out << "],\"view_changes\":" << s.view_changes << ",\"timeouts_sent\":" << s.timeouts_sent
      << ",\"transactions_committed\":" << s.transactions_committed << ",\"raw_committed\":" << s.raw_committed
      << ",\"uptime_seconds\":" << s.uptime_seconds << "}";
  return out.str();
}

Result<std::unique_ptr<Node>, std::string> Node::start(const NodeConfig& config) {
  auto impl = std::make_unique<Impl>(config);
  if (auto s = impl->open(); !s) return Err(s.error());
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Node::~Node() { stop(); }
void Node::stop() { impl_->stop(); }
NodeStatus Node::status() const { return impl_->status(); }
std::string Node::metrics_text() const { return perf::global_registry().prometheus_text(); }

void Node::refresh_server_metrics(const ClientServerCounters& counters) { impl_->metrics().refresh(counters); }
void Node::refresh_server_metrics(const AdminCounters& counters) { impl_->metrics().refresh(counters); }

std::string Node::stages_json() const { return impl_->stages_json(); }
bool Node::healthy() const { return impl_->healthy(); }
bool Node::failed() const { return impl_->failed(); }

void Node::submit(std::vector<Bytes> transactions, std::function<void(std::vector<SubmitOutcome>)> done) {
  impl_->post(ClientSubmit{std::move(transactions), std::move(done), Clock::now()});
}
void Node::wait_receipt(const execution::TransactionId& id, std::chrono::milliseconds timeout,
                        std::function<void(std::optional<execution::Receipt>)> done) {
  impl_->post(ClientWait{id, Clock::now() + timeout, std::move(done)});
}
void Node::get_account(const execution::AccountId& id, std::function<void(AccountResponse)> done) {
  impl_->post(ClientAccount{id, std::move(done)});
}
void Node::get_key(const execution::AccountId& id, Bytes key, std::function<void(std::optional<Bytes>)> done) {
  impl_->post(ClientKey{id, std::move(key), std::move(done)});
}
void Node::submit_raw(std::uint64_t connection, std::vector<RawCommand> commands,
                      std::function<void(std::vector<std::uint64_t>, std::uint64_t)> committed,
                      std::function<void(std::uint8_t)> refused) {
  impl_->post(ClientRaw{connection, std::move(commands), std::move(committed), std::move(refused), Clock::now()});
}
void Node::connection_closed(std::uint64_t connection) { impl_->post(ConnectionClosed{connection}); }

Hash32 cluster_id_of(const NodeConfig& c) {
  Bytes fields;
  Writer w(fields);
  w.u64(c.chain_id);
  w.u8(static_cast<std::uint8_t>(c.scheme));
  for (const auto& v : c.validators) w.bytes(v.public_key, 1 << 16);
  Sha256 h;
  h.update(as_bytes("kestrel/cluster"));
  h.update(fields);
  return h.finish();
}

}  // namespace kestrel::node
