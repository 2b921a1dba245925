#include "hotstuff2/core.h"

#include <algorithm>

#include "common/assert.h"
#include "common/codec.h"

namespace kestrel::hotstuff2 {

namespace {

constexpr std::uint8_t safety_key = 's';
constexpr std::uint8_t block_key = 'b';
constexpr std::uint8_t commit_key = 'c';

Bytes key_of_block(const BlockId& id) {
  Bytes key;
  key.reserve(1 + id.bytes.size());
  key.push_back(block_key);
  key.insert(key.end(), id.bytes.begin(), id.bytes.end());
  return key;
}

Bytes encode_commit_marker(const CommitMarker& marker) {
  Bytes out;
  Writer w(out);
  w.u64(marker.height);
  w.fixed(marker.block_id.bytes);
  return out;
}

Result<CommitMarker, CodecError> decode_commit_marker(ByteSpan bytes) {
  Reader r(bytes);
  CommitMarker marker;
  auto height = r.u64();
  if (!height) return Err(height.error());
  marker.height = *height;
  auto id = r.fixed(marker.block_id.bytes.size());
  if (!id) return Err(id.error());
  std::copy(id->begin(), id->end(), marker.block_id.bytes.begin());
  if (r.remaining() != 0) return Err(CodecError::trailing_bytes);
  return marker;
}

}  // namespace

const Message& message_of(const consensus::Message& m) {
  const auto* envelope = dynamic_cast<const Envelope*>(&m);
  KESTREL_ASSERT(envelope != nullptr);  // one protocol per cluster: only ours reach us
  return envelope->message;
}

Message& message_of(consensus::Message& m) {
  auto* envelope = dynamic_cast<Envelope*>(&m);
  KESTREL_ASSERT(envelope != nullptr);
  return envelope->message;
}

consensus::MessagePtr wrap(Message m) { return std::make_shared<Envelope>(std::move(m)); }

consensus::Commit to_commit(Committed&& c) {
  consensus::Commit commit;
  commit.sequence = c.height;
  commit.id = c.block_id;
  Block header{c.parent, c.view, c.height, c.proposer, std::move(c.justify), {}};
  commit.proof = encode_block(header);
  commit.payload = std::move(c.payload);
  return commit;
}

Result<Block, std::string> block_of_commit(ByteSpan proof, ByteSpan payload, const Hash32& id) {
  auto header = decode_block(proof);
  if (!header) return Err(std::string("the commit proof does not decode: ") + describe(header.error()));
  if (!header->payload.empty()) return Err(std::string("the commit proof carries a payload"));
  header->payload.assign(payload.begin(), payload.end());
  header->forget_id();
  if (header->id() != id) return Err(std::string("the commit entry's block id is not its block's"));
  return std::move(*header);
}

Result<RestoredState, std::string> restore(const std::vector<JournalEntry>& journal, std::vector<Block> committed_tail) {
  RestoredState restored;
  for (const JournalEntry& e : journal) {
    if (e.key.size() == 1 && e.key[0] == safety_key) {
      auto record = decode_safety_record(e.value);
      if (!record) return Err(std::string("the safety record does not decode: ") + describe(record.error()));
      restored.safety = std::move(*record);
    } else if (e.key.size() == 1 && e.key[0] == commit_key) {
      auto marker = decode_commit_marker(e.value);
      if (!marker) return Err(std::string("the commit marker does not decode: ") + describe(marker.error()));
      restored.commit = *marker;
    } else if (e.key.size() == 33 && e.key[0] == block_key) {
      auto block = decode_block(e.value);
      if (!block) return Err(std::string("a journal block does not decode: ") + describe(block.error()));
      const BlockId id = block->id();
      if (!std::equal(id.bytes.begin(), id.bytes.end(), e.key.begin() + 1)) {
        return Err(std::string("a journal block is not stored under its id"));
      }
      restored.blocks.push_back(std::move(*block));
    } else {
      return Err("a journal key HotStuff-2 does not write (" + std::to_string(e.key.size()) + " bytes)");
    }
  }
  // The commit stream is the authority on what committed: its head wins over the
  // marker (both are written in one synced batch by the node; the simulator keeps
  // only the journal, so its tail is empty).
  if (!committed_tail.empty()) {
    const Block& head = committed_tail.back();
    restored.commit = CommitMarker{head.height, head.id()};
  }
  for (Block& b : committed_tail) restored.blocks.push_back(std::move(b));
  return restored;
}

Core::Core(const Config& config, const RestoredState& restored) : replica_(config, restored) {
  for (const Block& b : restored.blocks) {
    if (b.height > replica_.committed_height()) journal_blocks_.emplace(replica_.id_of(b), b.height);
  }
}

void Core::step(const consensus::Input& input, consensus::Ready& ready) {
  out_.clear();
  std::visit(
      [&](const auto& in) {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, consensus::Start>) {
          replica_.step(Start{in.now}, out_);
        } else if constexpr (std::is_same_v<T, consensus::TickInput>) {
          replica_.step(TickInput{in.now}, out_);
        } else if constexpr (std::is_same_v<T, consensus::Received>) {
          KESTREL_ASSERT(in.message != nullptr);
          replica_.step_received(in.from, message_of(*in.message), in.now, out_);
        } else if constexpr (std::is_same_v<T, consensus::PayloadReady>) {
          replica_.step(PayloadReady{in.payload, in.hold}, out_);
        } else {
          static_assert(std::is_same_v<T, consensus::Persisted>);
          replica_.persisted();
        }
      },
      input);
  translate(ready);
}

void Core::translate(consensus::Ready& ready) {
  for (Record& record : out_.persist) {
    std::visit(
        [&](auto& r) {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, SafetyRecord>) {
            ready.journal.push_back({consensus::JournalOp::Kind::put, Bytes{safety_key}, encode_safety_record(r)});
          } else if constexpr (std::is_same_v<T, Block>) {
            // Committed blocks (fetched to close a gap) are in the commit stream.
            if (r.height <= replica_.committed_height()) return;
            const BlockId id = replica_.id_of(r);
            ready.stored.push_back(id);
            if (journal_blocks_.emplace(id, r.height).second) {
              ready.journal.push_back({consensus::JournalOp::Kind::put, key_of_block(id), encode_block(r)});
            }
          } else {
            static_assert(std::is_same_v<T, CommitMarker>);
            ready.journal.push_back({consensus::JournalOp::Kind::put, Bytes{commit_key}, encode_commit_marker(r)});
          }
        },
        record);
  }
  for (Send& send : out_.sends) {
    const bool bulk = std::holds_alternative<FetchResponse>(send.message);
    ready.sends.push_back({send.to, wrap(std::move(send.message)), !bulk, send.before_persist});
  }
  for (Committed& c : out_.commits) ready.commits.push_back(to_commit(std::move(c)));
  if (!out_.commits.empty() || journal_blocks_.size() > replica_.config().blocks_max) prune_journal(ready);
  if (out_.wake_at_tick) ready.wake_at = *out_.wake_at_tick;
  ready.wants_payload = ready.wants_payload || out_.proposed;
}

// Journal blocks at or below the committed height are committed (the commit stream
// has them) or dead forks; blocks the replica evicted will not be needed after a
// restart either (it fetches what it misses). Bounded by the blocks held.
void Core::prune_journal(consensus::Ready& ready) {
  const Height committed = replica_.committed_height();
  for (auto it = journal_blocks_.begin(); it != journal_blocks_.end();) {
    if (it->second <= committed || !replica_.has_block(it->first)) {
      ready.journal.push_back({consensus::JournalOp::Kind::erase, key_of_block(it->first), {}});
      it = journal_blocks_.erase(it);
    } else {
      ++it;
    }
  }
  KESTREL_ASSERT(journal_blocks_.size() <= replica_.config().blocks_max + 1);
}

consensus::CoreStatus Core::status() const {
  consensus::CoreStatus s;
  s.round = replica_.view();
  s.leader = replica_.expected_leader(s.round);
  s.responsive = replica_.locked_qc().view + 1 == s.round;
  s.committed = replica_.committed_height();
  s.committed_id = replica_.committed_block();
  s.round_changes = replica_.counters().view_changes;
  s.timeouts_sent = replica_.counters().timeouts_sent;
  s.safety_alarms = replica_.counters().safety_alarms;
  return s;
}

bool Core::leads_soon() const {
  // A leader the replica cannot name yet (reputation window still arriving) may be us.
  const ReplicaId self = replica_.config().self;
  const View view = replica_.view();
  return replica_.expected_leader(view).value_or(self) == self ||
         replica_.expected_leader(view + 1).value_or(self) == self;
}

void Core::proposal_ancestry(std::vector<Hash32>& ids) const { replica_.proposal_ancestry(ids); }

const Bytes* Core::payload_of(const Hash32& id) const {
  const Block* b = replica_.block(id);
  return b ? &b->payload : nullptr;
}

}  // namespace kestrel::hotstuff2
