// HotStuff-2 behind the consensus seam (src/consensus/consensus.h): the Replica
// as a consensus::Core, its messages as consensus::Message, its records as
// journal operations, its commits as the commit stream. The node and the
// simulator drive HotStuff-2 only through this; the golden traces drive the
// Replica itself (hotstuff2.h).
//
// The journal (keys owned here, values in the Replica's encodings):
//   "s"          the safety record (encode_safety_record)
//   "b" || id    a block the replica stored and has not committed (encode_block);
//                erased when it commits, when a commit leaves it on a dead fork,
//                or when the replica evicted it
//   "c"          the commit marker (height || id): the last commit the journal saw
// The commit stream: sequence = height, id = block id, payload = the block's
// payload, proof = the block's header (encode_block with an empty payload): its
// justify QC certifies the parent, so entry h + 1 proves entry h.
//
// Thread-safety: none (one thread steps a core). The free functions are pure.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "consensus/consensus.h"
#include "hotstuff2/hotstuff2.h"

namespace kestrel::hotstuff2 {

// A HotStuff-2 message as it crosses the seam.
struct Envelope final : consensus::Message {
  explicit Envelope(hotstuff2::Message m) : message(std::move(m)) {}
  hotstuff2::Message message;  // (qualified: inside, Message names the base class)
};
// The HotStuff-2 message inside a seam message. REQUIRES: it was made by this
// protocol (the node and the simulator run one protocol per cluster).
const Message& message_of(const consensus::Message& m);
Message& message_of(consensus::Message& m);
consensus::MessagePtr wrap(Message m);

// The commit-stream form of a committed block, and back.
consensus::Commit to_commit(Committed&& c);
// The block an entry of the commit stream carries; a specific error when the
// proof does not decode or its id is not the entry's.
Result<Block, std::string> block_of_commit(ByteSpan proof, ByteSpan payload, const Hash32& id);

// What a restarted replica is rebuilt from: its journal (every key above) and the
// last committed blocks of the commit stream, oldest first.
struct JournalEntry {
  Bytes key;
  Bytes value;
};
Result<RestoredState, std::string> restore(const std::vector<JournalEntry>& journal, std::vector<Block> committed_tail);

class Core final : public consensus::Core {
 public:
  Core(const Config& config, const RestoredState& restored);

  void step(const consensus::Input& input, consensus::Ready& ready) override;
  consensus::CoreStatus status() const override;
  bool leads_soon() const override;
  void proposal_ancestry(std::vector<Hash32>& ids) const override;
  const Bytes* payload_of(const Hash32& id) const override;

  // The replica, for HotStuff-2's own driver parts (proposal pre-checks, metrics).
  const Replica& replica() const { return replica_; }

 private:
  void translate(consensus::Ready& ready);
  void prune_journal(consensus::Ready& ready);

  Replica replica_;
  Output out_;
  // Blocks in the journal, by id with their height: erased when committed or dead.
  std::map<BlockId, Height> journal_blocks_;
};

}  // namespace kestrel::hotstuff2
