#include "sim/hotstuff2_adversary.h"

#include <iterator>

#include "common/assert.h"
#include "sim/hotstuff2_wire.h"

namespace kestrel::sim {

namespace hs = kestrel::hotstuff2;
using hotstuff2_wire::chain_id;

Hotstuff2Adversary::Hotstuff2Adversary(const SimConfig& config, World& world, const Keys& keys,
                                       Hotstuff2Checker& checker)
    : config_(config), world_(world), prng_(world.prng()), keys_(keys), checker_(checker), memory_(config.n) {}

bool Hotstuff2Adversary::act(Fault fault) { return has(fault) && prng_.chance(1, 3); }

void Hotstuff2Adversary::send(ReplicaId from, std::optional<ReplicaId> to, const hs::Message& message) {
  hotstuff2_wire::send(world_.network(), from, to, message);
}

void Hotstuff2Adversary::remember(ReplicaId r, const hs::Message& message) {
  const auto* p = std::get_if<hs::Proposal>(&message);
  if (!p) return;
  Memory& memory = memory_.at(r);
  memory.seen_heights[p->block.id()] = p->block.height;
  memory.seen_qcs[p->block.justify.view] = p->block.justify;
  memory.seen_heights.emplace(p->block.parent, p->block.height - 1);
  while (memory.seen_qcs.size() > seen_qcs_max) memory.seen_qcs.erase(memory.seen_qcs.begin());
  while (memory.seen_heights.size() > seen_heights_max) memory.seen_heights.erase(memory.seen_heights.begin());
}

// The order of the behaviours and of their draws is part of every seed's trace.
void Hotstuff2Adversary::dispatch(ReplicaId r, std::optional<ReplicaId> to, hs::Message& m, hs::View view) {
  KESTREL_ASSERT(world_.byzantine(r));
  const auto* proposal = std::get_if<hs::Proposal>(&m);
  const auto* vote = std::get_if<hs::Vote>(&m);
  if (config_.byzantine_mode == SimConfig::ByzantineMode::silent) return;
  if (config_.byzantine_mode == SimConfig::ByzantineMode::vote_only && proposal) return;
  if ((proposal || vote) && act(Fault::withhold)) return;
  if (proposal && act(Fault::fork)) {
    if (auto fork = make_fork(r, *proposal)) {
      send(r, std::nullopt, *fork);
      return;
    }
  }
  if (proposal && !to && act(Fault::equivocation)) {
    equivocate(r, *proposal);
    return;
  }
  if (vote && config_.audit_byzantine) checker_.check_vote(r, *vote);
  if (vote && act(Fault::double_vote)) double_vote(r, *vote);
  // Rarer than the other behaviours: each flood is dozens of messages, and
  // every seed still sees many of them.
  if (has(Fault::flood) && prng_.chance(1, 20)) send_flood(r);
  if (act(Fault::bad_view)) move_view(r, m);
  if (act(Fault::forged_cert)) send_forged_certificates(r, m, view);
  if (act(Fault::garbage)) {
    Bytes junk(prng_.uniform(200));
    prng_.fill(junk);
    if (!junk.empty() && prng_.chance(1, 2)) junk[0] = static_cast<std::uint8_t>(1 + prng_.uniform(6));
    world_.network().transmit(r, static_cast<ReplicaId>(prng_.uniform(config_.n)), std::move(junk));
  }
  if (act(Fault::bad_signature)) corrupt_signature(m);
  if (!to && act(Fault::subset)) {
    for (ReplicaId other = 0; other < config_.n; ++other) {
      if (other != r && prng_.chance(1, 2)) send(r, other, m);
    }
    return;
  }
  send(r, to, m);
}

// Two to six different proposals for the view, each replica getting several of
// them in a random order (receivers keep one per view), instead of the honest
// broadcast.
void Hotstuff2Adversary::equivocate(ReplicaId r, const hs::Proposal& honest) {
  const auto versions = 2 + prng_.uniform(5);
  std::vector<hs::Message> proposals{honest};
  for (std::uint64_t k = 1; k < versions; ++k) {
    hs::Proposal other = honest;
    other.block.payload.push_back(static_cast<std::uint8_t>(0xe0 + k));
    other.signature = keys_.sign(r, hs::proposal_signing_bytes(chain_id, other.block.id()));
    proposals.emplace_back(std::move(other));
  }
  for (ReplicaId to = 0; to < config_.n; ++to) {
    if (to == r) continue;
    for (std::uint64_t k = 0; k < versions; ++k) {
      if (k == 0 || prng_.chance(1, 2)) send(r, to, proposals[prng_.uniform(versions)]);
    }
  }
}

// A second vote in the view, for a random block id, to everyone (itself too).
void Hotstuff2Adversary::double_vote(ReplicaId r, const hs::Vote& vote) {
  hs::Vote second = vote;
  prng_.fill(second.block_id.bytes);
  second.signature = keys_.sign(r, hs::vote_signing_bytes(chain_id, second.view, second.block_id));
  if (config_.audit_byzantine) checker_.check_vote(r, second);
  for (ReplicaId to = 0; to < config_.n; ++to) send(r, to, second);
}

// The vote or timeout again, validly signed, for a stale or far-future view.
void Hotstuff2Adversary::move_view(ReplicaId r, const hs::Message& m) {
  if (const auto* v = std::get_if<hs::Vote>(&m)) {
    hs::Vote moved = *v;
    moved.view = prng_.chance(1, 2) ? (moved.view > 3 ? moved.view - 3 : 1) : moved.view + 1000000;
    moved.signature = keys_.sign(r, hs::vote_signing_bytes(chain_id, moved.view, moved.block_id));
    if (config_.audit_byzantine) checker_.check_vote(r, moved);
    send(r, std::nullopt, moved);
  } else if (const auto* t = std::get_if<hs::Timeout>(&m)) {
    hs::Timeout moved = *t;
    moved.view = prng_.chance(1, 2) ? moved.view + 5 + prng_.uniform(2000) : 1;
    moved.signature = keys_.sign(r, hs::timeout_signing_bytes(chain_id, moved.view, moved.high_qc.view));
    send(r, std::nullopt, moved);
  }
}

void Hotstuff2Adversary::corrupt_signature(hs::Message& m) {
  std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, hs::Proposal> || std::is_same_v<T, hs::Vote> ||
                      std::is_same_v<T, hs::Timeout>) {
          if (!x.signature.empty()) x.signature[prng_.uniform(x.signature.size())] ^= 0x10;
        }
      },
      m);
}

// A proposal for the leader's view on a QC at least two views below the
// highest it has seen: honest replicas locked above it must refuse to vote.
std::optional<hs::Proposal> Hotstuff2Adversary::make_fork(ReplicaId r, const hs::Proposal& honest) {
  Memory& memory = memory_.at(r);
  if (memory.seen_qcs.size() < 3) return std::nullopt;
  const hs::View highest = memory.seen_qcs.rbegin()->first;
  auto it = memory.seen_qcs.upper_bound(highest >= 2 ? highest - 2 : 0);
  if (it == memory.seen_qcs.begin()) return std::nullopt;
  --it;
  const hs::QuorumCertificate& old_qc = it->second;
  auto height = memory.seen_heights.find(old_qc.block_id);
  if (height == memory.seen_heights.end() || old_qc.view >= honest.block.view) return std::nullopt;
  hs::Proposal fork;
  fork.block = honest.block;
  fork.block.parent = old_qc.block_id;
  fork.block.justify = old_qc;
  fork.block.height = height->second + 1;
  fork.block.payload.push_back(0xf0);
  fork.tc = honest.tc;
  fork.signature = keys_.sign(r, hs::proposal_signing_bytes(chain_id, fork.block.id()));
  return fork;
}

// Fetch requests for known and random ids, and replays of old certificates:
// receivers must answer within a per-peer budget and not let old QCs crowd out
// the fetches they need.
void Hotstuff2Adversary::send_flood(ReplicaId r) {
  Memory& memory = memory_.at(r);
  for (int i = 0; i < 6; ++i) {
    hs::FetchRequest request;
    if (!memory.seen_heights.empty() && prng_.chance(1, 2)) {
      auto it = memory.seen_heights.begin();
      std::advance(it, static_cast<long>(prng_.uniform(memory.seen_heights.size())));
      request.block_id = it->first;
    } else {
      prng_.fill(request.block_id.bytes);
    }
    request.count_max = 64;
    send(r, static_cast<ReplicaId>(prng_.uniform(config_.n)), request);
  }
  int replays = 0;
  for (const auto& [qc_view, qc] : memory.seen_qcs) {
    if (replays == 6 || !prng_.chance(1, 4)) continue;
    ++replays;
    hs::SyncCertificates sync;
    sync.qc = qc;
    send(r, std::nullopt, sync);
  }
}

void Hotstuff2Adversary::send_forged_certificates(ReplicaId r, const hs::Message& basis, hs::View view) {
  hs::SyncCertificates sync;
  hs::QuorumCertificate qc;
  qc.view = view + 1 + prng_.uniform(3);
  prng_.fill(qc.block_id.bytes);
  switch (prng_.uniform(4)) {
    case 0:  // too few signers: only the Byzantine replica's own (valid) signature
      qc.signatures.push_back({r, keys_.sign(r, hs::vote_signing_bytes(chain_id, qc.view, qc.block_id))});
      sync.qc = qc;
      break;
    case 1: {  // enough signers, but the others' signatures are forged
      for (ReplicaId s = 0; s < config_.n; ++s) {
        Bytes sig = keys_.sign(r, hs::vote_signing_bytes(chain_id, qc.view, qc.block_id));
        qc.signatures.push_back({s, sig});
      }
      sync.qc = qc;
      break;
    }
    case 2: {  // a real QC relabelled with another view
      if (const auto* p = std::get_if<hs::Proposal>(&basis); p && !p->block.justify.signatures.empty()) {
        hs::QuorumCertificate moved = p->block.justify;
        moved.view += 1;
        sync.qc = moved;
      } else {
        sync.qc = qc;
      }
      break;
    }
    default: {  // a TC with too few entries
      hs::TimeoutCertificate tc;
      tc.view = view + 1;
      tc.entries.push_back({r, 0, keys_.sign(r, hs::timeout_signing_bytes(chain_id, tc.view, 0))});
      sync.tc = tc;
      break;
    }
  }
  send(r, std::nullopt, sync);
}

}  // namespace kestrel::sim
