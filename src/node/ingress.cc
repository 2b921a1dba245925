// Ingress (node_impl.h): what arrives at the node. Peer messages are decoded and
// verified on the network thread (consensus messages by the protocol driver,
// gossip here) and queued; on the consensus thread client submissions and peer
// gossip enter the mempool, waits and reads are answered, and consensus messages
// go to the core once a proposal's transactions check out.
#include <spdlog/spdlog.h>

#include <unordered_set>

#include "common/assert.h"
#include "common/gates.h"
#include "node/node_impl.h"
#include "perf/perf.h"

namespace kestrel::node {

// --- Network thread ---------------------------------------------------------------------

void Node::Impl::on_peer_message(net::ValidatorId from, std::uint16_t type, ByteSpan payload) {
  if (from >= n_) return;  // the network authenticated it; cannot happen
  switch (static_cast<PeerMessageType>(type)) {
    case PeerMessageType::consensus: {
      consensus::MessagePtr message = protocol_->accept(from, payload);
      if (message) post(PeerConsensus{from, std::move(message)});
      return;
    }
    case PeerMessageType::transactions: {
      auto batch = decode_transaction_batch(payload);
      if (!batch || batch->size() > limits::node_gossip_transactions_max) {
        ++bad_peer_messages_;
        return;
      }
      PeerTransactions event;
      event.transactions.reserve(batch->size());
      for (ByteSpan tx : *batch) event.transactions.emplace_back(tx.begin(), tx.end());
      post(std::move(event));
      return;
    }
    case PeerMessageType::raw: {
      auto batch = decode_raw_batch(payload);
      if (!batch || batch->size() > limits::node_gossip_raw_max || !config_.raw_mode) {
        ++bad_peer_messages_;
        return;
      }
      for (const auto& e : *batch) {
        if (e.origin != from) {  // a peer gossips only its own clients' commands
          ++bad_peer_messages_;
          return;
        }
      }
      post(PeerRaw{std::move(*batch)});
      return;
    }
  }
  ++bad_peer_messages_;
}

// --- Consensus thread -------------------------------------------------------------------

void Node::Impl::handle(Event& event) {
  std::visit(
      [&](auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, PeerConsensus>) {
          on_consensus(e);
        } else if constexpr (std::is_same_v<T, PeerTransactions>) {
          admit_peer_transactions(e);
        } else if constexpr (std::is_same_v<T, PeerRaw>) {
          on_peer_raw(e);
        } else if constexpr (std::is_same_v<T, ClientSubmit>) {
          on_submit(e);
        } else if constexpr (std::is_same_v<T, ClientWait>) {
          on_wait(e);
        } else if constexpr (std::is_same_v<T, ClientAccount>) {
          const execution::Account account =
              execution_->read([&](const execution::Executor& x) { return x.account(e.id); });
          e.done(AccountResponse{account, mempool_->pending_next_nonce(e.id, account.nonce)});
        } else if constexpr (std::is_same_v<T, ClientKey>) {
          e.done(execution_->read([&](const execution::Executor& x) { return x.get(e.id, e.key); }));
        } else if constexpr (std::is_same_v<T, ClientRaw>) {
          on_client_raw(e);
        } else {
          static_assert(std::is_same_v<T, ConnectionClosed>);
          std::erase_if(raw_calls_, [&](const auto& entry) { return entry.first.connection == e.connection; });
        }
      },
      event);
}

void Node::Impl::admit_peer_transactions(PeerTransactions& e) {
  std::vector<ByteSpan> spans(e.transactions.begin(), e.transactions.end());
  auto results = [&] {
    perf::StageTimer timer(stages_, perf::Stage::signature_verification);
    return mempool_->admit(spans);
  }();
  for (const auto& r : results) {
    if (r) {
      ++pool_version_;
      ++tuner_window_.arrived_transactions;
    }
  }
}

void Node::Impl::on_submit(ClientSubmit& e) {
  const auto begin = Clock::now();
  stages_.record(perf::Stage::client_ingress, static_cast<std::uint64_t>((begin - e.posted).count()), 0);
  std::vector<ByteSpan> spans(e.transactions.begin(), e.transactions.end());
  auto results = [&] {
    perf::StageTimer timer(stages_, perf::Stage::signature_verification);
    return mempool_->admit(spans);
  }();
  std::vector<SubmitOutcome> out(results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i]) {
      out[i] = {true, *results[i], 0};
      if (admitted_at_.size() < limits::mempool_transactions_max) admitted_at_[*results[i]] = begin;
      gossip_transactions_.push_back(std::move(e.transactions[i]));
      ++pool_version_;
      ++tuner_window_.arrived_transactions;
    } else {
      out[i] = {false, {}, static_cast<std::uint8_t>(results[i].error())};
    }
  }
  e.done(std::move(out));
}

void Node::Impl::on_wait(ClientWait& e) {
  if (auto r = recent_receipts_.find(e.id); r != recent_receipts_.end()) {
    e.done(r->second);
  } else if (waiter_count_ >= limits::node_receipt_waiters_max) {
    e.done(std::nullopt);
  } else {
    waiters_[e.id].push_back(std::move(e));
    ++waiter_count_;
  }
}

void Node::Impl::on_consensus(PeerConsensus& m) {
  std::optional<consensus::Envelope> answer;
  if (protocol_->serve_from_store(m.from, *m.message, &answer)) {
    if (answer) send(*answer);
    return;
  }
  const Inbound in = protocol_->inspect(m.from, *m.message);
  if (in.kind == Inbound::Kind::implausible) {
    ++bad_proposals_;
    step(consensus::Received{m.from, std::move(m.message), now_tick()});  // the core counts why
    return;
  }
  if (in.kind == Inbound::Kind::proposal) {
    // The transactions must be valid before we may vote (docs/node.md "Proposal
    // checks"): well-formed payload, and every signature verified (a transaction
    // gossiped to us earlier costs a cache hit). Decoded once: the in-flight index
    // and the commit pipeline reuse what this check found.
    KESTREL_ASSERT(in.payload != nullptr);
    auto payload = decode_payload(*in.payload);
    if (!payload) {
      ++bad_proposals_;
      return;
    }
    UnitInfo info;
    if (!payload->transactions.empty()) {
      perf::StageTimer timer(stages_, perf::Stage::proposal);
      std::size_t known = 0;
      auto checked = mempool_->verify_proposal(payload->transactions, &known);
      if (!checked) {
        ++bad_proposals_;
        spdlog::warn("proposal of round {} from {} refused: {}", in.round, m.from, mempool::describe(checked.error()));
        return;
      }
      proposal_transactions_known_ += known;
      proposal_transactions_checked_ += checked->size() - known;
      info.ids = std::move(*checked);
    }
    if (!payload->raw.empty() && !config_.raw_mode) {
      ++bad_proposals_;
      return;
    }
    fill_unit(info, *in.payload, *payload);
    checked_.emplace(in.id, std::move(info));
  }
  // Gate node.fresh_payload: this message may complete the QC (or the round) that
  // makes us propose. If the pool grew since the core's payload was built and the
  // pools are small (light load: a handful of entries, cheap to scan again),
  // build it now. Otherwise a non-empty payload is rebuilt only at the next round
  // or commit (an empty one after the event batch, at most once per
  // node_prepare_interval_min_ms), and work that arrived meanwhile waits a whole round.
  // Not before a proposal: its unit is not in flight here until it is stepped,
  // so a payload built now could repeat its transactions; the votes that follow
  // it are what complete the QC.
  if (gate_enabled(Gate::node_fresh_payload) && in.kind != Inbound::Kind::proposal &&
      pool_version_ != prepared_pool_version_ &&
      mempool_->size() + raw_pool_.size() < limits::node_fresh_payload_pool_entries_max &&
      protocol_->core().leads_soon()) {
    ++fresh_payloads_;
    maybe_prepare_payload(/*force=*/true);
  }
  step(consensus::Received{m.from, std::move(m.message), now_tick()});
}

void Node::Impl::flush_gossip() {
  const auto send_all = [&](PeerMessageType type, const Bytes& bytes) {
    for (consensus::ReplicaId peer = 0; peer < n_; ++peer) {
      if (peer != self_) {
        (void)network_->try_send(static_cast<net::ValidatorId>(peer), static_cast<std::uint16_t>(type), bytes,
                                 net::Delivery::droppable);
      }
    }
  };
  for (std::size_t start = 0; start < gossip_transactions_.size(); start += limits::node_gossip_transactions_max) {
    const std::size_t end = std::min(gossip_transactions_.size(), start + limits::node_gossip_transactions_max);
    send_all(PeerMessageType::transactions,
             encode_transaction_batch(std::span<const Bytes>(gossip_transactions_).subspan(start, end - start)));
  }
  gossip_transactions_.clear();
  for (std::size_t start = 0; start < gossip_raw_.size(); start += limits::node_gossip_raw_max) {
    const std::size_t end = std::min(gossip_raw_.size(), start + limits::node_gossip_raw_max);
    send_all(PeerMessageType::raw, encode_raw_batch(std::span<const RawEntry>(gossip_raw_).subspan(start, end - start)));
  }
  gossip_raw_.clear();
}

void Node::Impl::expire_waiters(Clock::time_point now) {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end();) {
      if (w->deadline <= now) {
        w->done(std::nullopt);
        w = list.erase(w);
        --waiter_count_;
      } else {
        ++w;
      }
    }
    it = list.empty() ? waiters_.erase(it) : std::next(it);
  }
}

}  // namespace kestrel::node
