// Simulator driver for the HotStuff-2 core (sim.h). One thread, one seed.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>

#include "common/assert.h"
#include "common/prng.h"
#include "crypto/classic.h"
#include "crypto/ct.h"
#include "crypto/mldsa.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"
#include "hotstuff2/hotstuff2.h"
#include "sim/sim.h"

namespace kestrel::sim {

namespace hs = kestrel::hotstuff2;

const char* fault_name(Fault fault) {
  switch (fault) {
    case Fault::loss: return "loss";
    case Fault::duplication: return "duplication";
    case Fault::reordering: return "reordering";
    case Fault::partition: return "partition";
    case Fault::crash: return "crash";
    case Fault::equivocation: return "equivocation";
    case Fault::double_vote: return "double-vote";
    case Fault::withhold: return "withhold";
    case Fault::subset: return "subset";
    case Fault::bad_view: return "bad-view";
    case Fault::forged_cert: return "forged-cert";
    case Fault::bad_signature: return "bad-signature";
    case Fault::garbage: return "garbage";
    case Fault::fork: return "fork";
    case Fault::flood: return "flood";
    case Fault::count_: break;
  }
  return "unknown";
}

const char* describe(SimError error) {
  switch (error) {
    case SimError::unknown_fault: return "unknown fault name";
    case SimError::unknown_scheme: return "unknown signature scheme";
    case SimError::bad_config: return "invalid simulation config";
  }
  return "unknown sim error";
}

Result<std::uint32_t, SimError> parse_faults(const std::string& list) {
  constexpr auto count = static_cast<std::uint32_t>(Fault::count_);
  if (list == "all") return (1u << count) - 1;
  if (list == "none" || list.empty()) return 0u;
  std::uint32_t mask = 0;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    const std::string name = list.substr(start, comma - start);
    bool found = false;
    for (std::uint32_t i = 0; i < count; ++i) {
      if (name == fault_name(static_cast<Fault>(i))) {
        mask |= 1u << i;
        found = true;
      }
    }
    if (!found) return Err(SimError::unknown_fault);
    start = comma + 1;
  }
  return mask;
}

Result<SimScheme, SimError> parse_scheme(const std::string& name) {
  if (name == "insecure-fast-mac") return SimScheme::insecure_fast_mac;
  if (name == "ed25519") return SimScheme::ed25519;
  if (name == "ml-dsa-65") return SimScheme::ml_dsa_65;
  return Err(SimError::unknown_scheme);
}

const char* scheme_name(SimScheme scheme) {
  switch (scheme) {
    case SimScheme::insecure_fast_mac: return "insecure-fast-mac";
    case SimScheme::ed25519: return "ed25519";
    case SimScheme::ml_dsa_65: return "ml-dsa-65";
  }
  return "unknown";
}

namespace {

using hs::ReplicaId;
using Tick = std::uint64_t;

// --- Keys -------------------------------------------------------------------------

// Signing keys of every replica (the simulator holds them all). Verification of
// the real schemes goes through the cluster's Verifier interface and the shared
// crypto::VerifyCache, as the node's will: certificates travel many times.
class Keys {
 public:
  Keys(SimScheme scheme, std::uint32_t n, Prng& prng) : scheme_(scheme) {
    for (std::uint32_t i = 0; i < n; ++i) {
      std::array<std::uint8_t, 32> seed;
      prng.fill(seed);
      if (scheme == SimScheme::ed25519) {
        ed25519_.push_back(crypto::ed25519_keypair_from_seed(seed));
        add_verifier(crypto::SignatureScheme::ed25519, ed25519_.back().public_key);
      } else if (scheme == SimScheme::ml_dsa_65) {
        constexpr auto set = crypto::mldsa::ParameterSet::ml_dsa_65;
        Bytes public_key(crypto::mldsa::public_key_bytes(set)), secret_key(crypto::mldsa::secret_key_bytes(set));
        crypto::mldsa::key_gen_internal(set, seed, public_key, secret_key);
        // Signed here deterministically (rnd = 0) so that a seed replays byte for byte;
        // the scheme's Signer signs hedged.
        mldsa_secret_.push_back(std::move(crypto::mldsa::expand_secret_key(set, secret_key)).value());
        crypto::secure_zero(secret_key);
        add_verifier(crypto::SignatureScheme::ml_dsa_65, public_key);
      } else {
        mac_keys_.push_back(seed);
      }
    }
  }

  Bytes sign(ReplicaId signer, ByteSpan message) const {
    if (scheme_ == SimScheme::ml_dsa_65) {
      Bytes sig(crypto::mldsa::signature_bytes(crypto::mldsa::ParameterSet::ml_dsa_65));
      KESTREL_ASSERT(crypto::mldsa::sign(mldsa_secret_[signer], message, {}, crypto::mldsa::Randomness::deterministic, sig).ok());
      return sig;
    }
    if (scheme_ == SimScheme::ed25519) {
      Bytes sig(crypto::ed25519_signature_bytes);
      crypto::ed25519_sign(std::span<std::uint8_t, 64>(sig.data(), 64), message, ed25519_[signer].secret_key);
      return sig;
    }
    return mac(signer, message);
  }

  bool verify(ReplicaId signer, ByteSpan message, ByteSpan signature) {
    if (scheme_ == SimScheme::insecure_fast_mac) {
      if (signer >= mac_keys_.size()) return false;
      const Bytes expected = mac(signer, message);
      return signature.size() == expected.size() && std::equal(expected.begin(), expected.end(), signature.begin());
    }
    if (signer >= verifiers_.size()) return false;
    return cache_.verify(*verifiers_[signer], message, signature).ok();
  }

 private:
  void add_verifier(crypto::SignatureScheme scheme, ByteSpan public_key) {
    verifiers_.push_back(std::move(crypto::make_verifier(scheme, public_key)).value());
  }

  Bytes mac(ReplicaId signer, ByteSpan message) const {
    Sha256 h;
    h.update(mac_keys_[signer]);
    h.update(message);
    const Hash32 d = h.finish();
    return Bytes(d.bytes.begin(), d.bytes.end());
  }

  SimScheme scheme_;
  std::vector<crypto::Ed25519KeyPair> ed25519_;
  std::vector<crypto::mldsa::ExpandedSecretKey> mldsa_secret_;
  std::vector<std::array<std::uint8_t, 32>> mac_keys_;
  std::vector<std::unique_ptr<crypto::Verifier>> verifiers_;
  // Signatures alive at once in a simulation: a few views of votes and
  // certificates of up to 128 signers; 4,096 entries keeps the hit rate high
  // and the per-seed allocation small.
  crypto::VerifyCache cache_{4096};
};

// --- Events -------------------------------------------------------------------------

enum class EventKind : std::uint8_t { deliver, wake, crash, restart, payload };

struct Event {
  Tick time = 0;
  std::uint64_t sequence = 0;
  EventKind kind = EventKind::deliver;
  ReplicaId replica = 0;
  ReplicaId from = 0;
  std::uint64_t incarnation = 0;
  Bytes bytes;
};

struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.time != b.time ? a.time > b.time : a.sequence > b.sequence;
  }
};

struct Disk {
  std::optional<hs::SafetyRecord> safety;
  std::map<hs::BlockId, hs::Block> blocks;
  std::optional<hs::CommitMarker> commit;
};

struct Node {
  std::unique_ptr<hs::Replica> core;
  Disk disk;
  bool up = true;
  bool byzantine = false;
  std::uint64_t incarnation = 0;
  std::optional<Tick> wake_pending;
  std::uint64_t last_commit_height = 0;
  hs::BlockId last_commit_id;
  std::uint64_t payload_counter = 0;
  // What a Byzantine replica remembers to build forks (bounded: oldest dropped).
  std::map<hs::View, hs::QuorumCertificate> seen_qcs;
  std::map<hs::BlockId, hs::Height> seen_heights;
};

struct Partition {
  Tick start = 0, end = 0;
  std::vector<bool> side;
};

class Simulation {
 public:
  explicit Simulation(const SimConfig& config)
      : config_(config), prng_(config.seed), keys_(config.scheme, config.n, prng_) {
    result_.seed = config.seed;
    const std::uint32_t f = (config.n - 1) / 3;
    KESTREL_ASSERT(config.byzantine <= f);
    nodes_.resize(config.n);
    last_vote_.resize(config.n);
    last_proposal_.resize(config.n);
    // Byzantine replicas: a seeded choice.
    std::vector<ReplicaId> ids(config.n);
    for (ReplicaId i = 0; i < config.n; ++i) ids[i] = i;
    for (std::uint32_t i = 0; i < config.byzantine; ++i) {
      const auto j = i + prng_.uniform(config.n - i);
      std::swap(ids[i], ids[j]);
      nodes_[ids[i]].byzantine = true;
    }
    const bool chaos = (config.faults & network_faults_mask()) != 0;
    gst_ = chaos ? 1000 + prng_.uniform(3000) : 0;
    result_.gst_ms = gst_;
    if (has(Fault::partition)) {
      const auto count = 1 + prng_.uniform(3);
      for (std::uint64_t i = 0; i < count; ++i) {
        Partition p;
        p.start = prng_.uniform(gst_);
        p.end = std::min(gst_, p.start + 200 + prng_.uniform(1500));
        p.side.resize(config.n);
        for (auto&& s : p.side) s = prng_.chance(1, 2);
        partitions_.push_back(p);
      }
    }
    if (has(Fault::crash)) {
      const auto count = 1 + prng_.uniform(3);
      for (std::uint64_t i = 0; i < count; ++i) {
        const ReplicaId r = static_cast<ReplicaId>(prng_.uniform(config.n));
        if (nodes_[r].byzantine) continue;
        const Tick at = prng_.uniform(gst_);
        schedule({at, 0, EventKind::crash, r, r, 0, {}});
      }
    }
  }

  SimResult run() {
    for (ReplicaId r = 0; r < config_.n; ++r) {
      nodes_[r].core = std::make_unique<hs::Replica>(replica_config(r), hs::RestoredState{});
      step(r, hs::PayloadReady{next_payload(r)});
      step(r, hs::Start{0});
    }
    // Saturating: a huge --views must not wrap the cap around to a small number.
    const Tick per_view = config_.view_timeout_ms * 2;
    const Tick views_budget = config_.views > (UINT64_MAX / 4) / std::max<Tick>(per_view, 1)
                                  ? UINT64_MAX / 4
                                  : config_.views * per_view;
    const Tick time_cap = gst_ + views_budget + 20000;
    std::optional<Tick> target_reached;
    std::uint64_t height_at_target = 0;
    while (!queue_.empty()) {
      Event event = queue_.top();
      queue_.pop();
      now_ = event.time;
      if (now_ > time_cap) break;
      ++result_.events;
      handle(event);
      if (!result_.violations.empty()) break;
      if (now_ >= gst_) check_liveness_progress();
      if (!result_.liveness_ok) break;
      if (!target_reached && all_honest_reached(config_.views)) {
        target_reached = now_;
        height_at_target = max_honest_height();
      }
      if (target_reached && now_ >= *target_reached + 3000) break;
    }
    result_.sim_time_ms = now_;
    result_.committed_height = max_honest_height();
    if (result_.violations.empty() && result_.liveness_ok) {
      if (!target_reached) {
        result_.liveness_ok = false;
        result_.liveness_failure = "honest replicas did not all reach view " + std::to_string(config_.views) +
                                   " by t=" + std::to_string(now_) + " ms (GST " + std::to_string(gst_) + " ms)";
      } else {
        for (ReplicaId r = 0; r < config_.n; ++r) {
          if (nodes_[r].byzantine) continue;
          if (nodes_[r].last_commit_height < height_at_target) {
            result_.liveness_ok = false;
            result_.liveness_failure = "replica " + std::to_string(r) + " stuck at height " +
                                       std::to_string(nodes_[r].last_commit_height) + " < " +
                                       std::to_string(height_at_target) + " after catch-up time";
          }
        }
      }
    }
    for (const auto& node : nodes_) {
      if (!node.core) continue;
      for (auto d : node.core->counters().dropped) result_.dropped_by_cores += d;
      if ((!node.byzantine || config_.audit_byzantine) && node.core->counters().safety_alarms > 0 &&
          result_.violations.empty()) {
        result_.violations.push_back("a replica's commit walk met a conflicting committed block");
      }
    }
    if (latency_count_ > 0) result_.commit_latency_ms = latency_sum_ms_ / static_cast<double>(latency_count_);
    result_.latency_samples = latency_count_;
    result_.trace_digest = digest_.finish();
    return std::move(result_);
  }

 private:
  bool has(Fault f) const { return (config_.faults >> static_cast<unsigned>(f)) & 1; }
  static std::uint32_t network_faults_mask() {
    std::uint32_t m = 0;
    for (Fault f : {Fault::loss, Fault::duplication, Fault::reordering, Fault::partition, Fault::crash}) {
      m |= 1u << static_cast<unsigned>(f);
    }
    return m;
  }

  hs::Config replica_config(ReplicaId r) const {
    hs::Config c;
    c.chain_id = 7;
    c.self = r;
    c.n = config_.n;
    c.view_timeout_ticks = config_.view_timeout_ms;
    c.view_timeout_ticks_max = config_.view_timeout_ms * 8;
    c.propose_wait_ticks = 3 * (config_.delay_ms + config_.jitter_ms);
    c.reserve_next_proposal = config_.early_proposals && !config_.unreserved_early_proposals;
    c.leader_reputation = config_.leader_reputation;
    return c;
  }

  void schedule(Event event) {
    event.sequence = sequence_++;
    queue_.push(std::move(event));
  }

  Bytes next_payload(ReplicaId r) {
    Bytes payload(32);
    Writer w(payload);
    payload.clear();
    w.u32(r);
    w.u64(++nodes_[r].payload_counter);
    Bytes noise(20);
    prng_.fill(noise);
    w.fixed(noise);
    return payload;
  }

  void trace(const std::string& line) {
    if (config_.trace && config_.trace_sink) config_.trace_sink("t=" + std::to_string(now_) + " " + line);
  }

  void digest_event(const Event& e) {
    std::uint8_t header[24];
    for (int i = 0; i < 8; ++i) header[i] = static_cast<std::uint8_t>(e.time >> (8 * i));
    header[8] = static_cast<std::uint8_t>(e.kind);
    for (int i = 0; i < 4; ++i) header[9 + i] = static_cast<std::uint8_t>(e.replica >> (8 * i));
    for (int i = 0; i < 4; ++i) header[13 + i] = static_cast<std::uint8_t>(e.from >> (8 * i));
    for (int i = 17; i < 24; ++i) header[i] = 0;
    digest_.update(header);
    digest_.update(e.bytes);
  }

  // --- Event handling -----------------------------------------------------------------

  void handle(const Event& e) {
    digest_event(e);
    Node& node = nodes_[e.replica];
    switch (e.kind) {
      case EventKind::deliver: {
        if (!node.up) return;
        auto message = hs::decode_message(e.bytes);
        if (!message) {
          ++result_.dropped_by_drivers;
          trace("drop " + std::to_string(e.from) + "->" + std::to_string(e.replica) + " undecodable: " +
                describe(message.error()));
          return;
        }
        if (!verify(*message)) {
          ++result_.dropped_by_drivers;
          trace("drop " + std::to_string(e.from) + "->" + std::to_string(e.replica) + " bad signature");
          return;
        }
        if (config_.trace) trace("deliver " + std::to_string(e.from) + "->" + std::to_string(e.replica) + " " + summary(*message));
        if (node.byzantine) remember(node, *message);
        step(e.replica, hs::Received{e.from, std::move(*message), now_});
        return;
      }
      case EventKind::wake:
        if (!node.up || e.incarnation != node.incarnation) return;
        if (node.wake_pending && *node.wake_pending == e.time) node.wake_pending.reset();
        step(e.replica, hs::TickInput{now_});
        return;
      case EventKind::crash:
        crash(e.replica);
        return;
      case EventKind::payload:
        if (!node.up || e.incarnation != node.incarnation) return;
        step(e.replica, hs::PayloadReady{next_payload(e.replica)});
        return;
      case EventKind::restart: {
        if (node.up) return;
        node.up = true;
        ++node.incarnation;
        node.wake_pending.reset();
        hs::RestoredState restored;
        restored.safety = node.disk.safety;
        restored.commit = node.disk.commit;
        for (const auto& [id, block] : node.disk.blocks) restored.blocks.push_back(block);
        node.core = std::make_unique<hs::Replica>(replica_config(e.replica), restored);
        if (node.disk.commit) {
          node.last_commit_height = node.disk.commit->height;
          node.last_commit_id = node.disk.commit->block_id;
        }
        trace("restart " + std::to_string(e.replica) + " view " + std::to_string(node.core->view()));
        step(e.replica, hs::PayloadReady{next_payload(e.replica)});
        step(e.replica, hs::Start{now_});
        return;
      }
    }
  }

  void crash(ReplicaId r) {
    Node& node = nodes_[r];
    if (!node.up) return;
    node.up = false;
    ++node.incarnation;
    trace("crash " + std::to_string(r));
    const Tick downtime = 100 + prng_.uniform(1500);
    schedule({now_ + downtime, 0, EventKind::restart, r, r, 0, {}});
  }

  std::string summary(const hs::Message& m) const {
    return std::visit(
        [](const auto& x) -> std::string {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, hs::Proposal>) {
            return "proposal v=" + std::to_string(x.block.view) + " h=" + std::to_string(x.block.height) +
                   " id=" + x.block.id().hex().substr(0, 8) + " justify=" + std::to_string(x.block.justify.view) +
                   (x.tc ? " tc=" + std::to_string(x.tc->view) : "");
          } else if constexpr (std::is_same_v<T, hs::Vote>) {
            return "vote v=" + std::to_string(x.view) + " id=" + x.block_id.hex().substr(0, 8);
          } else if constexpr (std::is_same_v<T, hs::Timeout>) {
            return "timeout v=" + std::to_string(x.view) + " high_qc=" + std::to_string(x.high_qc.view);
          } else if constexpr (std::is_same_v<T, hs::SyncCertificates>) {
            return std::string("sync") + (x.qc ? " qc=" + std::to_string(x.qc->view) : "") +
                   (x.tc ? " tc=" + std::to_string(x.tc->view) : "");
          } else if constexpr (std::is_same_v<T, hs::FetchRequest>) {
            return "fetch " + x.block_id.hex().substr(0, 8);
          } else {
            return "fetch-response " + std::to_string(x.blocks.size()) + " blocks";
          }
        },
        m);
  }

  // Driver contract 1: every signature in the message is checked here (the
  // same list the node verifies in parallel batches).
  bool verify(const hs::Message& m) {
    std::vector<hs::SignatureCheck> checks;
    if (!hs::collect_signature_checks(m, 7, config_.n, checks)) return false;
    for (const auto& c : checks) {
      if (!keys_.verify(c.signer, c.message, c.signature)) return false;
    }
    return true;
  }

  // Driver contract 2: sign what the replica authored.
  void sign(ReplicaId r, hs::Message& m) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, hs::Proposal>) {
            if (x.signature.empty()) x.signature = keys_.sign(r, hs::proposal_signing_bytes(7, x.block.id()));
          } else if constexpr (std::is_same_v<T, hs::Vote>) {
            if (x.signature.empty()) x.signature = keys_.sign(r, hs::vote_signing_bytes(7, x.view, x.block_id));
          } else if constexpr (std::is_same_v<T, hs::Timeout>) {
            if (x.signature.empty()) {
              x.signature = keys_.sign(r, hs::timeout_signing_bytes(7, x.view, x.high_qc.view));
            }
          }
        },
        m);
  }

  void step(ReplicaId r, const hs::Input& input) {
    Node& node = nodes_[r];
    KESTREL_ASSERT(!in_step_);  // outputs are processed before the next step
    in_step_ = true;
    out_.clear();
    node.core->step(input, out_);
    // Contract 3's exception: sends marked before_persist leave first (the test
    // hook sends every honest proposal early, reserved or not).
    bool sent_early = false;
    if (!node.byzantine) {
      for (auto& send : out_.sends) {
        if (config_.unreserved_early_proposals && std::holds_alternative<hs::Proposal>(send.message)) {
          send.before_persist = true;
        }
        if (!send.before_persist) continue;
        dispatch(r, send);
        sent_early = true;
        ++result_.early_proposals;
      }
      std::erase_if(out_.sends, [](const hs::Send& send) { return send.before_persist; });
    }
    // Contract 3: persist first. A crash in the middle of an output keeps a prefix
    // of its records and sends nothing more.
    std::size_t durable = out_.persist.size();
    bool crash_now = false;
    // A step that sent early is the window early proposals open: crash there more
    // often, so the sweeps reach "proposal out, records not durable".
    if (has(Fault::crash) && !node.byzantine && now_ < gst_ && !out_.persist.empty() &&
        prng_.chance(1, sent_early ? 16 : 400)) {
      durable = prng_.uniform(out_.persist.size() + 1);
      crash_now = true;
    }
    for (std::size_t i = 0; i < durable; ++i) {
      std::visit(
          [&](const auto& record) {
            using T = std::decay_t<decltype(record)>;
            if constexpr (std::is_same_v<T, hs::SafetyRecord>) {
              node.disk.safety = record;
            } else if constexpr (std::is_same_v<T, hs::Block>) {
              node.disk.blocks.emplace(record.id(), record);
            } else {
              node.disk.commit = record;
            }
          },
          out_.persist[i]);
    }
    if (node.disk.blocks.size() > 8192) prune_disk(node);
    if (!crash_now) node.core->persisted();
    if (crash_now) {
      if (sent_early) ++result_.crashes_after_early_proposal;
      in_step_ = false;
      crash(r);
      return;
    }
    if (audited(r)) {
      for (const auto& c : out_.commits) check_commit(r, c);
      if (node.core->counters().safety_alarms > 0 && result_.violations.empty()) {
        result_.violations.push_back("replica " + std::to_string(r) +
                                     "'s commit walk met a block conflicting with its committed chain");
      }
    }
    for (auto& send : out_.sends) dispatch(r, send);
    if (out_.proposed) step_payload(r);
    if (out_.wake_at_tick) {
      const Tick at = std::max(*out_.wake_at_tick, now_);
      if (!node.wake_pending || at < *node.wake_pending) {
        node.wake_pending = at;
        schedule({at, 0, EventKind::wake, r, r, node.incarnation, {}});
      }
    }
    in_step_ = false;
  }

  // The next batch arrives as its own input, like a mempool handing one over.
  bool audited(ReplicaId r) const { return !nodes_[r].byzantine || config_.audit_byzantine; }

  void step_payload(ReplicaId r) {
    schedule({now_, 0, EventKind::payload, r, r, nodes_[r].incarnation, {}});
  }

  void prune_disk(Node& node) {
    const auto committed = node.disk.commit ? node.disk.commit->height : 0;
    for (auto it = node.disk.blocks.begin(); it != node.disk.blocks.end();) {
      if (it->second.height + 512 < committed) it = node.disk.blocks.erase(it);
      else ++it;
    }
  }

  // --- Checkers ---------------------------------------------------------------------

  void check_commit(ReplicaId r, const hs::Committed& c) {
    Node& node = nodes_[r];
    auto [it, inserted] = committed_at_.emplace(c.height, c.block_id);
    if (!inserted && it->second != c.block_id) {
      result_.violations.push_back("two different blocks committed at height " + std::to_string(c.height) +
                                   " (replica " + std::to_string(r) + ")");
      return;
    }
    if (c.height <= node.last_commit_height) {
      // A replica that crashed before its commit marker was durable re-commits: it
      // must be the same block (checked above against the global record).
      return;
    }
    if (c.height != node.last_commit_height + 1 || (c.height > 1 && c.parent != node.last_commit_id)) {
      result_.violations.push_back("replica " + std::to_string(r) + " commit at height " +
                                   std::to_string(c.height) + " does not extend its previous commit");
      return;
    }
    node.last_commit_height = c.height;
    node.last_commit_id = c.block_id;
    if (c.view > max_commit_view_) max_commit_view_ = c.view;
    if (auto p = proposed_at_.find(c.block_id); p != proposed_at_.end()) {
      latency_sum_ms_ += static_cast<double>(now_ - p->second);
      ++latency_count_;
      proposed_at_.erase(p);
    }
    if (config_.trace) trace("commit " + std::to_string(r) + " h=" + std::to_string(c.height) + " v=" + std::to_string(c.view));
  }

  // A replica votes at most once per view and only in views above its last vote
  // (its safety record), across crashes and restarts: a vote at or below its last
  // one is a violation. One record per replica, so the check is bounded by n.
  void check_vote(ReplicaId r, const hs::Vote& v) {
    KESTREL_ASSERT(r < last_vote_.size());
    auto& last = last_vote_[r];
    if (last && v.view <= last->first) {
      result_.violations.push_back("replica " + std::to_string(r) +
                                   (v.view == last->first ? " voted twice in view " + std::to_string(v.view)
                                                          : " voted in view " + std::to_string(v.view) +
                                                                " after voting in view " + std::to_string(last->first)));
      return;
    }
    last = std::make_pair(v.view, v.block_id);
  }

  // An honest leader proposes one block per view, across crashes and restarts, in
  // views above its last proposal (last_proposed_view); sending the same proposal
  // again is allowed.
  void check_proposal(ReplicaId r, const hs::Block& block) {
    KESTREL_ASSERT(r < last_proposal_.size());
    auto& last = last_proposal_[r];
    const hs::BlockId id = block.id();
    if (!last || block.view > last->first) {
      last = std::make_pair(block.view, id);
    } else if (block.view < last->first) {
      result_.violations.push_back("replica " + std::to_string(r) + " proposed in view " + std::to_string(block.view) +
                                   " after proposing in view " + std::to_string(last->first));
    } else if (id != last->second) {
      result_.violations.push_back("replica " + std::to_string(r) + " proposed twice in view " +
                                   std::to_string(block.view));
    }
  }

  void check_liveness_progress() {
    std::uint64_t max_view = 0;
    for (const auto& node : nodes_) {
      if (!node.byzantine && node.up) max_view = std::max(max_view, node.core->view());
    }
    if (!view_at_gst_) view_at_gst_ = max_view;
    const std::uint64_t bound = 3ull * config_.n + 12;
    const std::uint64_t base = std::max(*view_at_gst_, max_commit_view_);
    if (max_view > base + bound) {
      result_.liveness_ok = false;
      result_.liveness_failure = "after GST, honest view " + std::to_string(max_view) + " ran " +
                                 std::to_string(max_view - base) + " views past the last commit (bound " +
                                 std::to_string(bound) + ")";
    }
  }

  bool all_honest_reached(std::uint64_t view) const {
    for (const auto& node : nodes_) {
      if (node.byzantine) continue;
      if (!node.up || node.core->view() < view) return false;
    }
    return true;
  }

  std::uint64_t max_honest_height() const {
    std::uint64_t h = 0;
    for (const auto& node : nodes_) {
      if (!node.byzantine) h = std::max(h, node.last_commit_height);
    }
    return h;
  }

  // --- Network ----------------------------------------------------------------------

  bool partitioned(ReplicaId a, ReplicaId b) const {
    for (const auto& p : partitions_) {
      if (now_ >= p.start && now_ < p.end && p.side[a] != p.side[b]) return true;
    }
    return false;
  }

  void transmit(ReplicaId from, ReplicaId to, Bytes bytes) {
    if (to == from) {
      schedule({now_, 0, EventKind::deliver, to, from, 0, std::move(bytes)});
      return;
    }
    ++result_.messages;
    result_.bytes += bytes.size();
    const bool before_gst = now_ < gst_;
    if (before_gst && partitioned(from, to)) return;
    if (before_gst && has(Fault::loss) && prng_.chance(1, 20)) return;
    Tick delay = config_.delay_ms + prng_.uniform(config_.jitter_ms + 1);
    if (before_gst && has(Fault::reordering) && prng_.chance(1, 5)) delay += prng_.uniform(5 * config_.delay_ms + 1);
    if (has(Fault::duplication) && prng_.chance(1, 30)) {
      schedule({now_ + delay + prng_.uniform(config_.delay_ms + 1), 0, EventKind::deliver, to, from, 0, bytes});
    }
    schedule({now_ + delay, 0, EventKind::deliver, to, from, 0, std::move(bytes)});
  }

  void send_to(ReplicaId from, std::optional<ReplicaId> to, const hs::Message& m) {
    const Bytes bytes = hs::encode_message(m);
    if (to) {
      transmit(from, *to, bytes);
      return;
    }
    for (ReplicaId r = 0; r < config_.n; ++r) {
      if (r != from) transmit(from, r, bytes);
    }
  }

  void dispatch(ReplicaId r, hs::Send& send) {
    sign(r, send.message);
    if (auto* p = std::get_if<hs::Proposal>(&send.message)) proposed_at_.emplace(p->block.id(), now_);
    if (!nodes_[r].byzantine) {
      if (auto* v = std::get_if<hs::Vote>(&send.message)) check_vote(r, *v);
      if (auto* p = std::get_if<hs::Proposal>(&send.message)) check_proposal(r, p->block);
      send_to(r, send.to, send.message);
      return;
    }
    byzantine_dispatch(r, send);
  }

  // --- Byzantine behaviours -----------------------------------------------------------

  bool act(Fault f) { return has(f) && prng_.chance(1, 3); }

  void byzantine_dispatch(ReplicaId r, hs::Send& send) {
    hs::Message& m = send.message;
    const bool is_proposal = std::holds_alternative<hs::Proposal>(m);
    const bool is_vote = std::holds_alternative<hs::Vote>(m);
    if (config_.byzantine_mode == SimConfig::ByzantineMode::silent) return;
    if (config_.byzantine_mode == SimConfig::ByzantineMode::vote_only && is_proposal) return;
    if ((is_proposal || is_vote) && act(Fault::withhold)) return;
    if (is_proposal && act(Fault::fork)) {
      if (auto fork = make_fork(r, std::get<hs::Proposal>(m))) {
        send_to(r, std::nullopt, *fork);
        return;
      }
    }
    if (is_proposal && !send.to && act(Fault::equivocation)) {
      // Two to six different proposals for the view, each replica getting several
      // of them in a random order (receivers keep one per view).
      const auto versions = 2 + prng_.uniform(5);
      std::vector<hs::Message> proposals{m};
      for (std::uint64_t k = 1; k < versions; ++k) {
        hs::Proposal other = std::get<hs::Proposal>(m);
        other.block.payload.push_back(static_cast<std::uint8_t>(0xe0 + k));
        other.signature = keys_.sign(r, hs::proposal_signing_bytes(7, other.block.id()));
        proposals.emplace_back(std::move(other));
      }
      for (ReplicaId to = 0; to < config_.n; ++to) {
        if (to == r) continue;
        for (std::uint64_t k = 0; k < versions; ++k) {
          if (k == 0 || prng_.chance(1, 2)) send_to(r, to, proposals[prng_.uniform(versions)]);
        }
      }
      return;
    }
    if (auto* v = std::get_if<hs::Vote>(&m); v && config_.audit_byzantine) check_vote(r, *v);
    if (auto* v = std::get_if<hs::Vote>(&m); v && act(Fault::double_vote)) {
      hs::Vote second = *v;
      prng_.fill(second.block_id.bytes);
      second.signature = keys_.sign(r, hs::vote_signing_bytes(7, second.view, second.block_id));
      if (config_.audit_byzantine) check_vote(r, second);
      for (ReplicaId to = 0; to < config_.n; ++to) send_to(r, to, second);
    }
    // Rarer than the other behaviours: each flood is dozens of messages, and
    // every seed still sees many of them.
    if (has(Fault::flood) && prng_.chance(1, 20)) send_flood(r);
    if (act(Fault::bad_view)) {
      if (auto* v = std::get_if<hs::Vote>(&m)) {
        hs::Vote moved = *v;
        moved.view = prng_.chance(1, 2) ? (moved.view > 3 ? moved.view - 3 : 1) : moved.view + 1000000;
        moved.signature = keys_.sign(r, hs::vote_signing_bytes(7, moved.view, moved.block_id));
        if (config_.audit_byzantine) check_vote(r, moved);
        send_to(r, std::nullopt, moved);
      } else if (auto* t = std::get_if<hs::Timeout>(&m)) {
        hs::Timeout moved = *t;
        moved.view = prng_.chance(1, 2) ? moved.view + 5 + prng_.uniform(2000) : 1;
        moved.signature = keys_.sign(r, hs::timeout_signing_bytes(7, moved.view, moved.high_qc.view));
        send_to(r, std::nullopt, moved);
      }
    }
    if (act(Fault::forged_cert)) send_forged_certificates(r, m);
    if (act(Fault::garbage)) {
      Bytes junk(prng_.uniform(200));
      prng_.fill(junk);
      if (!junk.empty() && prng_.chance(1, 2)) junk[0] = static_cast<std::uint8_t>(1 + prng_.uniform(6));
      transmit(r, static_cast<ReplicaId>(prng_.uniform(config_.n)), std::move(junk));
    }
    if (act(Fault::bad_signature)) {
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
    if (!send.to && act(Fault::subset)) {
      for (ReplicaId to = 0; to < config_.n; ++to) {
        if (to != r && prng_.chance(1, 2)) send_to(r, to, m);
      }
      return;
    }
    send_to(r, send.to, m);
  }

  void remember(Node& node, const hs::Message& m) {
    const auto* p = std::get_if<hs::Proposal>(&m);
    if (!p) return;
    node.seen_heights[p->block.id()] = p->block.height;
    node.seen_qcs[p->block.justify.view] = p->block.justify;
    node.seen_heights.emplace(p->block.parent, p->block.height - 1);
    while (node.seen_qcs.size() > 64) node.seen_qcs.erase(node.seen_qcs.begin());
    while (node.seen_heights.size() > 256) node.seen_heights.erase(node.seen_heights.begin());
  }

  // A proposal for the leader's view on a QC at least two views below the
  // highest it has seen: honest replicas locked above it must refuse to vote.
  std::optional<hs::Proposal> make_fork(ReplicaId r, const hs::Proposal& honest) {
    Node& node = nodes_[r];
    if (node.seen_qcs.size() < 3) return std::nullopt;
    const hs::View highest = node.seen_qcs.rbegin()->first;
    auto it = node.seen_qcs.upper_bound(highest >= 2 ? highest - 2 : 0);
    if (it == node.seen_qcs.begin()) return std::nullopt;
    --it;
    const hs::QuorumCertificate& old_qc = it->second;
    auto height = node.seen_heights.find(old_qc.block_id);
    if (height == node.seen_heights.end() || old_qc.view >= honest.block.view) return std::nullopt;
    hs::Proposal fork;
    fork.block = honest.block;
    fork.block.parent = old_qc.block_id;
    fork.block.justify = old_qc;
    fork.block.height = height->second + 1;
    fork.block.payload.push_back(0xf0);
    fork.tc = honest.tc;
    fork.signature = keys_.sign(r, hs::proposal_signing_bytes(7, fork.block.id()));
    return fork;
  }

  // Fetch requests for known and random ids, and replays of old certificates:
  // receivers must answer within a per-peer budget and not let old QCs crowd out
  // the fetches they need.
  void send_flood(ReplicaId r) {
    Node& node = nodes_[r];
    for (int i = 0; i < 6; ++i) {
      hs::FetchRequest request;
      if (!node.seen_heights.empty() && prng_.chance(1, 2)) {
        auto it = node.seen_heights.begin();
        std::advance(it, static_cast<long>(prng_.uniform(node.seen_heights.size())));
        request.block_id = it->first;
      } else {
        prng_.fill(request.block_id.bytes);
      }
      request.count_max = 64;
      send_to(r, static_cast<ReplicaId>(prng_.uniform(config_.n)), request);
    }
    int replays = 0;
    for (const auto& [view, qc] : node.seen_qcs) {
      if (replays == 6 || !prng_.chance(1, 4)) continue;
      ++replays;
      hs::SyncCertificates sync;
      sync.qc = qc;
      send_to(r, std::nullopt, sync);
    }
  }

  void send_forged_certificates(ReplicaId r, const hs::Message& basis) {
    const hs::View view = nodes_[r].core->view();
    hs::SyncCertificates sync;
    hs::QuorumCertificate qc;
    qc.view = view + 1 + prng_.uniform(3);
    prng_.fill(qc.block_id.bytes);
    switch (prng_.uniform(4)) {
      case 0:  // too few signers: only the Byzantine replica's own (valid) signature
        qc.signatures.push_back({r, keys_.sign(r, hs::vote_signing_bytes(7, qc.view, qc.block_id))});
        sync.qc = qc;
        break;
      case 1: {  // enough signers, but the others' signatures are forged
        for (ReplicaId s = 0; s < config_.n; ++s) {
          Bytes sig = keys_.sign(r, hs::vote_signing_bytes(7, qc.view, qc.block_id));
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
        tc.entries.push_back({r, 0, keys_.sign(r, hs::timeout_signing_bytes(7, tc.view, 0))});
        sync.tc = tc;
        break;
      }
    }
    send_to(r, std::nullopt, sync);
  }

  SimConfig config_;
  Prng prng_;
  Keys keys_;
  std::vector<Node> nodes_;
  std::vector<Partition> partitions_;
  std::priority_queue<Event, std::vector<Event>, Later> queue_;
  std::uint64_t sequence_ = 0;
  Tick now_ = 0;
  Tick gst_ = 0;
  hs::Output out_;
  bool in_step_ = false;
  SimResult result_;
  Sha256 digest_;
  std::map<std::uint64_t, hs::BlockId> committed_at_;
  // Per replica: its last vote and last proposal (view, block id).
  std::vector<std::optional<std::pair<hs::View, hs::BlockId>>> last_vote_, last_proposal_;
  std::map<hs::BlockId, Tick> proposed_at_;
  std::uint64_t max_commit_view_ = 0;
  std::optional<std::uint64_t> view_at_gst_;
  double latency_sum_ms_ = 0;
  std::uint64_t latency_count_ = 0;
};

}  // namespace

SimResult run_hotstuff2(const SimConfig& config) {
  KESTREL_ASSERT(config.n >= 1 && config.n <= 128);
  Simulation simulation(config);
  return simulation.run();
}

}  // namespace kestrel::sim
