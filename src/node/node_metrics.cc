#include "node/node_metrics.h"

#include <string>

#include "common/assert.h"

namespace kestrel::node {

std::uint64_t CounterDelta::update(std::uint64_t now) {
  KESTREL_ASSERT(counter_ != nullptr);
  const std::uint64_t growth = now >= last_ ? now - last_ : now;  // went backwards: restarted at 0
  last_ = now;
  if (growth) counter_->add(growth);
  return growth;
}

const char* admit_error_label(mempool::AdmitError error) {
  static constexpr const char* labels[] = {
      "too_large",    "bad_encoding", "wrong_chain",  "duplicate",      "stale_nonce",   "nonce_gap_too_large",
      "nonce_taken",  "pool_full",    "sender_quota", "bad_public_key", "bad_signature", "batch_too_large",
  };
  static_assert(std::size(labels) == static_cast<std::size_t>(mempool::AdmitError::count_),
                "one label per AdmitError (add the new reason here and in docs/metrics.md)");
  const auto i = static_cast<std::size_t>(error);
  KESTREL_ASSERT(i < std::size(labels));
  return labels[i];
}

const char* message_type_label(hotstuff2::MessageType type) {
  switch (type) {
    case hotstuff2::MessageType::proposal: return "proposal";
    case hotstuff2::MessageType::vote: return "vote";
    case hotstuff2::MessageType::timeout: return "timeout";
    case hotstuff2::MessageType::sync_certificates: return "sync_certificates";
    case hotstuff2::MessageType::fetch_request: return "fetch_request";
    case hotstuff2::MessageType::fetch_response: return "fetch_response";
  }
  KESTREL_ASSERT(false && "unknown message type");
  return "";
}

namespace {

constexpr double ns_to_seconds = 1e-9;

// Registration of fixed names cannot fail except on a full registry, which at
// start means a labelling bug elsewhere: asserted.
perf::Counter* counter(perf::Registry& r, std::string_view name, std::string_view help, perf::Labels labels = {}) {
  auto c = r.counter(name, help, std::move(labels));
  KESTREL_ASSERT(c.ok());
  return *c;
}

perf::Gauge* gauge(perf::Registry& r, std::string_view name, std::string_view help, double unit_scale = 1.0) {
  auto g = r.gauge(name, help, {}, unit_scale);
  KESTREL_ASSERT(g.ok());
  return *g;
}

perf::Gauge* gauge(perf::Registry& r, std::string_view name, std::string_view help, perf::Labels labels,
                   double unit_scale) {
  auto g = r.gauge(name, help, std::move(labels), unit_scale);
  KESTREL_ASSERT(g.ok());
  return *g;
}

// One gauge per value of a `kind` label, in the order of `kinds`.
template <std::size_t N>
void gauge_family(perf::Registry& r, std::string_view name, std::string_view help, const char* const (&kinds)[N],
                  std::array<perf::Gauge*, N>& out) {
  for (std::size_t i = 0; i < N; ++i) out[i] = gauge(r, name, help, {{"kind", kinds[i]}}, 1.0);
}

template <std::size_t N>
void set_family(const std::array<perf::Gauge*, N>& gauges, const std::uint64_t (&values)[N]) {
  for (std::size_t i = 0; i < N; ++i) gauges[i]->set(static_cast<std::int64_t>(values[i]));
}

perf::Histogram* histogram(perf::Registry& r, std::string_view name, std::string_view help, double unit_scale) {
  auto h = r.histogram(name, help, unit_scale);
  KESTREL_ASSERT(h.ok());
  return *h;
}

CounterDelta delta(perf::Registry& r, std::string_view name, std::string_view help, perf::Labels labels = {}) {
  return CounterDelta(counter(r, name, help, std::move(labels)));
}

constexpr std::array<hotstuff2::MessageType, 6> message_types = {
    hotstuff2::MessageType::proposal,      hotstuff2::MessageType::vote,
    hotstuff2::MessageType::timeout,       hotstuff2::MessageType::sync_certificates,
    hotstuff2::MessageType::fetch_request, hotstuff2::MessageType::fetch_response,
};

// Messages per frame over the last interval, kept in thousandths.
std::int64_t per_frame_milli(std::uint64_t messages, std::uint64_t frames) {
  if (frames == 0) return 0;
  return static_cast<std::int64_t>(messages * 1000 / frames);
}

perf::TunerMetrics tuner_metrics(perf::Registry& r) {
  auto m = perf::TunerMetrics::register_in(r);
  KESTREL_ASSERT(m.ok());
  return std::move(m).value();
}

}  // namespace

NodeMetrics::NodeMetrics(perf::Registry& registry)
    : stages(registry), tuner(tuner_metrics(registry)), registry_(registry) {
  auto& r = registry;
  // Consensus.
  view_ = gauge(r, "kestrel_consensus_view", "Current consensus view");
  committed_height_ = gauge(r, "kestrel_consensus_committed_height", "Height of the highest committed block");
  {
    constexpr std::string_view name = "kestrel_consensus_messages_sent_total";
    constexpr std::string_view help = "Consensus messages this replica authored, by type";
    proposals_sent_ = delta(r, name, help, {{"type", "proposal"}});
    votes_sent_ = delta(r, name, help, {{"type", "vote"}});
    timeouts_sent_ = delta(r, name, help, {{"type", "timeout"}});
    fetches_sent_ = delta(r, name, help, {{"type", "fetch_request"}});
  }
  for (std::size_t i = 0; i < message_types.size(); ++i) {
    KESTREL_ASSERT(static_cast<std::size_t>(message_types[i]) == i + 1);
    received_[i] = counter(r, "kestrel_consensus_messages_received_total",
                           "Consensus messages received from peers (signatures verified), by type",
                           {{"type", message_type_label(message_types[i])}});
  }
  qcs_formed_ = delta(r, "kestrel_consensus_qcs_formed_total", "Quorum certificates formed by this replica");
  tcs_formed_ = delta(r, "kestrel_consensus_tcs_formed_total", "Timeout certificates formed by this replica");
  view_changes_ = delta(r, "kestrel_consensus_view_changes_total", "Views entered");
  commits_ = delta(r, "kestrel_consensus_commits_total", "Commit decisions (each commits a block and its ancestors)");
  early_proposals_ = delta(r, "kestrel_consensus_early_proposals_total",
                           "Proposals sent before this replica's synced write of the step (gate consensus.early_proposal)");
  reputation_skips_ = delta(r, "kestrel_consensus_reputation_skips_total",
                            "Votes sent to a next leader other than round robin's (gate consensus.leader_reputation)");
  equivocations_ = delta(r, "kestrel_consensus_equivocations_total",
                         "Second proposals for one view from its leader (equivocation seen)");
  safety_alarms_ = delta(r, "kestrel_consensus_safety_alarms_total",
                         "Commit walks that met a block conflicting with the committed chain (must stay 0)");
  for (std::size_t i = 0; i < dropped_.size(); ++i) {
    dropped_[i] = delta(r, "kestrel_consensus_dropped_total", "Consensus inputs dropped by the core, by reason",
                        {{"reason", hotstuff2::describe(static_cast<hotstuff2::Drop>(i))}});
  }
  commit_latency = histogram(r, "kestrel_consensus_commit_latency_seconds",
                             "Block proposed (or first received) to committed at this replica", ns_to_seconds);
  proposal_transactions =
      histogram(r, "kestrel_consensus_proposal_transactions", "Transactions per proposal", 1.0);

  // Network.
  {
    constexpr std::string_view bytes = "kestrel_net_bytes_total";
    constexpr std::string_view bytes_help = "Bytes of frames on the wire between validators";
    bytes_sent_ = delta(r, bytes, bytes_help, {{"direction", "sent"}});
    bytes_received_ = delta(r, bytes, bytes_help, {{"direction", "received"}});
    constexpr std::string_view frames = "kestrel_net_frames_total";
    constexpr std::string_view frames_help = "Encrypted frames between validators";
    frames_sent_ = delta(r, frames, frames_help, {{"direction", "sent"}});
    frames_received_ = delta(r, frames, frames_help, {{"direction", "received"}});
    constexpr std::string_view messages = "kestrel_net_messages_total";
    constexpr std::string_view messages_help = "Application messages carried in frames";
    messages_sent_ = delta(r, messages, messages_help, {{"direction", "sent"}});
    messages_received_ = delta(r, messages, messages_help, {{"direction", "received"}});
    constexpr std::string_view per_frame = "kestrel_net_messages_per_frame";
    constexpr std::string_view per_frame_help = "Messages per frame over the last refresh interval (batching)";
    messages_per_frame_sent_ = gauge(r, per_frame, per_frame_help, {{"direction", "sent"}}, 1e-3);
    messages_per_frame_received_ = gauge(r, per_frame, per_frame_help, {{"direction", "received"}}, 1e-3);
  }
  messages_dropped_ = delta(r, "kestrel_net_messages_dropped_total", "Droppable sends refused by a full queue");
  send_queue_full_ = delta(r, "kestrel_net_send_queue_full_total", "Reliable sends that met a full queue (backpressure)");
  urgent_sends_ = delta(r, "kestrel_net_urgent_sends_total",
                        "Messages queued as urgent: sent without the batching hold (gate net.urgent_consensus)");
  batch_holds_ = delta(r, "kestrel_net_batch_holds_total", "Times a peer's writer held a frame for company (adaptive batching)");
  sessions_ = gauge(r, "kestrel_net_sessions", "Validator sessions up");
  sessions_established_ = delta(r, "kestrel_net_sessions_established_total", "Validator sessions established");
  sessions_closed_ = delta(r, "kestrel_net_sessions_closed_total", "Validator sessions closed");
  {
    constexpr std::string_view name = "kestrel_net_handshakes_total";
    constexpr std::string_view help = "Handshakes by result: established or the failure reason";
    handshakes_established_ = delta(r, name, help, {{"result", "established"}});
    for (std::size_t i = 0; i < handshake_failures_.size(); ++i) {
      handshake_failures_[i] = delta(r, name, help, {{"result", net::describe(static_cast<net::HandshakeFailure>(i))}});
    }
  }
  {
    constexpr std::string_view name = "kestrel_net_frames_rejected_total";
    constexpr std::string_view help = "Frames rejected, by reason (the session is closed)";
    rejected_authentication_ = delta(r, name, help, {{"reason", "authentication"}});
    rejected_oversized_ = delta(r, name, help, {{"reason", "oversized"}});
    rejected_malformed_ = delta(r, name, help, {{"reason", "malformed"}});
  }
  frame_stalls_ = delta(r, "kestrel_net_frame_stalls_total", "Peers that stopped mid-frame past the deadline");
  idle_timeouts_ = delta(r, "kestrel_net_idle_timeouts_total", "Sessions closed after receiving nothing for the idle timeout");
  rekeys_ = delta(r, "kestrel_net_rekeys_total", "Session key updates");
  frames_compressed_ = delta(r, "kestrel_net_frames_compressed_total", "Frames sent zstd-compressed (gate net.compression)");
  compression_saved_ = delta(r, "kestrel_net_compression_saved_bytes_total", "Bytes saved by frame compression");
  {
    constexpr std::string_view name = "kestrel_net_buffer_pool_total";
    constexpr std::string_view help = "Frame buffer requests by result (gate net.buffer_pool)";
    buffer_pool_hits_ = delta(r, name, help, {{"result", "hit"}});
    buffer_pool_misses_ = delta(r, name, help, {{"result", "miss"}});
  }
  dial_attempts_ = delta(r, "kestrel_net_dial_attempts_total", "Outgoing connection attempts to peers");
  hellos_answered_ = delta(r, "kestrel_net_hellos_answered_total",
                           "Inbound Hellos given the costly answer (ML-KEM encapsulation + signature)");

  // Storage.
  synced_writes_ = delta(r, "kestrel_storage_synced_writes_total", "RocksDB writes with sync");
  {
    constexpr std::string_view name = "kestrel_storage_block_cache_total";
    constexpr std::string_view help = "Block reads by block-cache result (gate storage.block_cache)";
    block_cache_hits_ = delta(r, name, help, {{"result", "hit"}});
    block_cache_misses_ = delta(r, name, help, {{"result", "miss"}});
  }
  pruned_commits_ = delta(r, "kestrel_storage_pruned_commits_total", "Commit-stream entries (with their units, receipts and digests) pruned from the store");
  gauge_family(r, "kestrel_storage_memory_bytes", "RocksDB memory by kind (block_cache includes pinned)",
               {"memtables", "table_readers", "block_cache", "pinned"}, storage_memory_);
  storage_sync = histogram(r, "kestrel_storage_sync_seconds", "Duration of one synced store write", ns_to_seconds);

  // Crypto.
  {
    constexpr std::string_view name = "kestrel_crypto_verifications_total";
    constexpr std::string_view help = "Signatures verified, alone or in parallel batches";
    verifications_single_ = counter(r, name, help, {{"path", "single"}});
    verifications_batch_ = counter(r, name, help, {{"path", "batch"}});
  }
  verification_failures_ = counter(r, "kestrel_crypto_verification_failures_total", "Signatures that did not verify");
  verify_batch_size = histogram(r, "kestrel_crypto_verify_batch_size", "Signatures per parallel verification batch", 1.0);
  {
    constexpr std::string_view name = "kestrel_crypto_verify_cache_total";
    constexpr std::string_view help = "Verify-cache lookups by result (gate crypto.verify_cache)";
    verify_cache_hits_ = delta(r, name, help, {{"result", "hit"}});
    verify_cache_misses_ = delta(r, name, help, {{"result", "miss"}});
  }
  verify_cache_entries_ = gauge(r, "kestrel_crypto_verify_cache_entries", "Entries in the verify cache");

  // Mempool.
  mempool_transactions_ = gauge(r, "kestrel_mempool_transactions", "Transactions waiting in the mempool");
  mempool_bytes_ = gauge(r, "kestrel_mempool_bytes", "Encoded bytes of the transactions in the mempool");
  mempool_senders_ = gauge(r, "kestrel_mempool_senders", "Distinct senders with transactions in the mempool");
  mempool_admitted_ = delta(r, "kestrel_mempool_admitted_total", "Transactions admitted to the mempool");
  for (std::size_t i = 0; i < mempool_refused_.size(); ++i) {
    mempool_refused_[i] = delta(r, "kestrel_mempool_refused_total", "Transactions refused at admission, by reason",
                                {{"reason", admit_error_label(static_cast<mempool::AdmitError>(i))}});
  }

  // Execution and clients.
  blocks_executed_ = counter(r, "kestrel_execution_blocks_total", "Committed blocks executed");
  transactions_executed_ = counter(r, "kestrel_execution_transactions_total", "Transactions executed");
  block_execution = histogram(r, "kestrel_execution_block_seconds", "Execution time of one committed block", ns_to_seconds);
  submit_to_commit = histogram(r, "kestrel_client_submit_to_commit_seconds",
                               "Client submission accepted to its block committed", ns_to_seconds);

  // Admin port.
  for (std::size_t i = 0; i < admin_responses_.size(); ++i) {
    const std::string status = i < admin_counted_statuses.size() ? std::to_string(admin_counted_statuses[i]) : "other";
    admin_responses_[i] = delta(r, "kestrel_admin_responses_total", "Admin HTTP responses by status", {{"status", status}});
  }
  {
    constexpr std::string_view name = "kestrel_admin_connections_total";
    constexpr std::string_view help =
        "Admin connections by result (refused: port full and every connection busy; refused_address: the source "
        "address's share full and all of its connections busy)";
    admin_accepted_ = delta(r, name, help, {{"result", "accepted"}});
    admin_refused_ = delta(r, name, help, {{"result", "refused"}});
    admin_refused_address_ = delta(r, name, help, {{"result", "refused_address"}});
  }
  {
    constexpr std::string_view name = "kestrel_admin_connections_evicted_total";
    constexpr std::string_view help = "Idle admin connections closed to make room for a newcomer, by the bound reached";
    admin_evicted_port_ = delta(r, name, help, {{"bound", "port"}});
    admin_evicted_address_ = delta(r, name, help, {{"bound", "address"}});
  }
  {
    constexpr std::string_view name = "kestrel_admin_timeouts_total";
    constexpr std::string_view help =
        "Admin connections closed for being too slow (request: no complete head within the first-request deadline; "
        "response: not taken in time)";
    admin_request_timeouts_ = delta(r, name, help, {{"phase", "request"}});
    admin_response_timeouts_ = delta(r, name, help, {{"phase", "response"}});
  }

  // Client server (ClientServerCounters; refreshed when /metrics is served).
  {
    constexpr std::string_view name = "kestrel_client_connections_total";
    constexpr std::string_view help =
        "Client connections by result (refused: port full and every connection busy; refused_address: the source "
        "address's share full and all of its connections busy; both closed at once)";
    client_accepted_ = delta(r, name, help, {{"result", "accepted"}});
    client_refused_ = delta(r, name, help, {{"result", "refused"}});
    client_refused_address_ = delta(r, name, help, {{"result", "refused_address"}});
  }
  {
    constexpr std::string_view name = "kestrel_client_connections_evicted_total";
    constexpr std::string_view help =
        "Client connections with nothing in flight closed to make room for a newcomer, by the bound reached";
    client_evicted_port_ = delta(r, name, help, {{"bound", "port"}});
    client_evicted_address_ = delta(r, name, help, {{"bound", "address"}});
  }
  client_first_request_timeouts_ = delta(r, "kestrel_client_first_request_timeouts_total",
                                         "Client connections closed for no complete request within the first-request deadline");
  client_closed_ = delta(r, "kestrel_client_connections_closed_total", "Client connections closed (any reason)");
  client_open_ = gauge(r, "kestrel_client_connections", "Client connections open");
  {
    constexpr std::string_view name = "kestrel_client_requests_total";
    constexpr std::string_view help = "Client requests by type";
    const char* types[] = {"submit", "wait_receipt", "get_account", "get_key", "submit_raw"};
    static_assert(std::size(types) == std::size(decltype(client_requests_){}));
    for (std::size_t i = 0; i < std::size(types); ++i) client_requests_[i] = delta(r, name, help, {{"type", types[i]}});
  }
  client_transactions_ = delta(r, "kestrel_client_transactions_submitted_total", "Transactions inside client submit requests");
  client_raw_commands_ = delta(r, "kestrel_client_raw_commands_submitted_total", "Raw commands inside client submit_raw requests");
  client_responses_ = delta(r, "kestrel_client_responses_total", "Responses written to clients");
  client_malformed_ = delta(r, "kestrel_client_malformed_frames_total",
                            "Client connections closed for a malformed frame (length above the bound, undecodable body)");
  client_backpressure_ = delta(r, "kestrel_client_backpressure_pauses_total",
                               "Times a client connection stopped being read (in-flight or write-queue bound reached)");
  client_stalls_ = delta(r, "kestrel_client_frame_stalls_total",
                         "Client connections closed for a partial frame or a blocked write past the deadline");
  client_idle_ = delta(r, "kestrel_client_idle_timeouts_total", "Client connections closed for being idle");
  client_late_ = delta(r, "kestrel_client_late_callbacks_total",
                       "Node completions for client connections already closed (dropped)");
  {
    constexpr std::string_view name = "kestrel_client_bytes_total";
    constexpr std::string_view help = "Bytes on client connections by direction";
    client_bytes_in_ = delta(r, name, help, {{"direction", "in"}});
    client_bytes_out_ = delta(r, name, help, {{"direction", "out"}});
  }

  perf::update_process_metrics(registry_);  // the process families exist from the start
  gauge_family(r, "kestrel_process_heap_bytes",
               "malloc heap: bytes allocated, free but held by the arenas, mapped on their own",
               {"in_use", "free", "mapped"}, heap_);
}

void NodeMetrics::refresh(const hotstuff2::Counters& c, hotstuff2::View view, hotstuff2::Height committed_height) {
  std::lock_guard lock(mutex_);
  view_->set(static_cast<std::int64_t>(view));
  committed_height_->set(static_cast<std::int64_t>(committed_height));
  proposals_sent_.update(c.proposals_sent);
  votes_sent_.update(c.votes_sent);
  timeouts_sent_.update(c.timeouts_sent);
  fetches_sent_.update(c.fetches_sent);
  qcs_formed_.update(c.qcs_formed);
  tcs_formed_.update(c.tcs_formed);
  view_changes_.update(c.view_changes);
  commits_.update(c.commits);
  equivocations_.update(c.equivocations_seen);
  early_proposals_.update(c.early_proposals);
  reputation_skips_.update(c.reputation_skips);
  safety_alarms_.update(c.safety_alarms);
  for (std::size_t i = 0; i < dropped_.size(); ++i) dropped_[i].update(c.dropped[i]);
}

void NodeMetrics::refresh(const net::NetCounters& c) {
  std::lock_guard lock(mutex_);
  bytes_sent_.update(c.bytes_sent);
  bytes_received_.update(c.bytes_received);
  const std::uint64_t frames_out = frames_sent_.update(c.frames_sent);
  const std::uint64_t frames_in = frames_received_.update(c.frames_received);
  const std::uint64_t messages_out = messages_sent_.update(c.messages_sent);
  const std::uint64_t messages_in = messages_received_.update(c.messages_received);
  messages_per_frame_sent_->set(per_frame_milli(messages_out, frames_out));
  messages_per_frame_received_->set(per_frame_milli(messages_in, frames_in));
  messages_dropped_.update(c.messages_dropped);
  send_queue_full_.update(c.send_queue_full);
  urgent_sends_.update(c.urgent_sends);
  batch_holds_.update(c.batch_holds);
  sessions_established_.update(c.sessions_established);
  sessions_closed_.update(c.sessions_closed);
  sessions_->set(c.sessions_established >= c.sessions_closed
                     ? static_cast<std::int64_t>(c.sessions_established - c.sessions_closed)
                     : 0);
  handshakes_established_.update(c.sessions_established);
  for (std::size_t i = 0; i < handshake_failures_.size(); ++i) handshake_failures_[i].update(c.handshake_failures[i]);
  rejected_authentication_.update(c.frames_rejected_authentication);
  rejected_oversized_.update(c.frames_rejected_oversized);
  rejected_malformed_.update(c.frames_rejected_malformed);
  frame_stalls_.update(c.frame_stalls);
  idle_timeouts_.update(c.idle_timeouts);
  rekeys_.update(c.rekeys);
  frames_compressed_.update(c.frames_compressed);
  compression_saved_.update(c.compression_bytes_saved);
  buffer_pool_hits_.update(c.buffer_pool_hits);
  buffer_pool_misses_.update(c.buffer_pool_misses);
  dial_attempts_.update(c.dial_attempts);
  hellos_answered_.update(c.hellos_answered);
}

void NodeMetrics::refresh(const storage::Counters& c) {
  std::lock_guard lock(mutex_);
  synced_writes_.update(c.synced_writes);
  block_cache_hits_.update(c.block_cache_hits);
  block_cache_misses_.update(c.block_cache_misses);
  pruned_commits_.update(c.pruned_commits);
}

void NodeMetrics::refresh(const storage::MemoryUsage& m) {
  set_family(storage_memory_, {m.memtables, m.table_readers, m.block_cache, m.pinned});
}

void NodeMetrics::refresh(const HeapUsage& h) { set_family(heap_, {h.in_use, h.free, h.mapped}); }

void NodeMetrics::refresh(const crypto::VerifyCache& cache) {
  std::lock_guard lock(mutex_);
  verify_cache_hits_.update(cache.hits());
  verify_cache_misses_.update(cache.misses());
  verify_cache_entries_->set(static_cast<std::int64_t>(cache.size()));
}

void NodeMetrics::refresh(const mempool::Mempool& pool) {
  std::lock_guard lock(mutex_);
  mempool_transactions_->set(static_cast<std::int64_t>(pool.size()));
  mempool_bytes_->set(static_cast<std::int64_t>(pool.bytes()));
  mempool_senders_->set(static_cast<std::int64_t>(pool.senders()));
  mempool_admitted_.update(pool.admitted());
  for (std::size_t i = 0; i < mempool_refused_.size(); ++i) {
    mempool_refused_[i].update(pool.refused(static_cast<mempool::AdmitError>(i)));
  }
}

void NodeMetrics::refresh(const AdminCounters& c) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < admin_responses_.size(); ++i) admin_responses_[i].update(c.responses[i]);
  admin_accepted_.update(c.connections_accepted);
  admin_refused_.update(c.connections_refused);
  admin_refused_address_.update(c.connections_refused_address);
  admin_evicted_port_.update(c.connections_evicted_port);
  admin_evicted_address_.update(c.connections_evicted_address);
  admin_request_timeouts_.update(c.request_timeouts);
  admin_response_timeouts_.update(c.response_timeouts);
}

void NodeMetrics::refresh(const ClientServerCounters& c) {
  std::lock_guard lock(mutex_);
  client_accepted_.update(c.connections_accepted);
  client_refused_.update(c.connections_refused);
  client_refused_address_.update(c.connections_refused_address);
  client_evicted_port_.update(c.connections_evicted_port);
  client_evicted_address_.update(c.connections_evicted_address);
  client_first_request_timeouts_.update(c.first_request_timeouts);
  client_closed_.update(c.connections_closed);
  client_open_->set(static_cast<std::int64_t>(c.connections_open));
  const std::uint64_t requests[] = {c.requests_submit, c.requests_wait_receipt,
                                    c.requests_get_account, c.requests_get_key, c.requests_submit_raw};
  for (std::size_t i = 0; i < std::size(requests); ++i) client_requests_[i].update(requests[i]);
  client_transactions_.update(c.transactions_submitted);
  client_raw_commands_.update(c.raw_commands_submitted);
  client_responses_.update(c.responses);
  client_malformed_.update(c.malformed_frames);
  client_backpressure_.update(c.backpressure_pauses);
  client_stalls_.update(c.frame_stalls);
  client_idle_.update(c.idle_timeouts);
  client_late_.update(c.late_callbacks);
  client_bytes_in_.update(c.bytes_in);
  client_bytes_out_.update(c.bytes_out);
}

void NodeMetrics::refresh_process() { perf::update_process_metrics(registry_); }

void NodeMetrics::count_received(hotstuff2::MessageType type) {
  const auto i = static_cast<std::size_t>(type);
  // Types come from decoded messages (decode_message refuses unknown tags).
  KESTREL_ASSERT(i >= 1 && i <= received_.size());
  received_[i - 1]->add();
}

void NodeMetrics::observe_verify_batch(std::uint64_t items, std::uint64_t failed) {
  KESTREL_ASSERT(failed <= items);
  verifications_batch_->add(items);
  if (failed) verification_failures_->add(failed);
  verify_batch_size->observe(items);
}

void NodeMetrics::count_verification(bool valid) {
  verifications_single_->add();
  if (!valid) verification_failures_->add();
}

void NodeMetrics::observe_block_executed(std::uint64_t transactions, std::uint64_t duration_ns) {
  blocks_executed_->add();
  transactions_executed_->add(transactions);
  block_execution->observe(duration_ns);
}

}  // namespace kestrel::node
