// Golden-trace runner for the HotStuff-2 replica (STYLE.md "Tests": one input
// per line, expected outputs after it). Used by golden_trace_test.cc only.
//
// A trace is text; every line is one of:
//   # comment                      (also blank lines)
//   config n=4 self=1 timeout=1000 propose_wait=100 [idle_delay= timeout_max= chain= view_jump_max=
//          vote_views_max= timeout_views_max= fetch_blocks_max= blocks_max=
//          future_proposals_max= fetches_in_flight_max= commit_walk_max=
//          reserve_next_proposal=0|1]
//                                  a fresh replica with empty storage (first line)
//   block B2 view=2 parent=B1 justify=Q1 [payload=hex] [height=h] [proposer=r]
//                                  names a block (height defaults to parent + 1,
//                                  proposer to the view's leader); G is genesis
//   qc Q1 view=1 block=B1 signers=0,1,2 [sigs=hex,hex,hex]   QG is the genesis QC
//   tc T1 view=1 entries=0:0,2:0,3:1                (signer:high_qc_view)
//   restart [lose_last_step]       rebuild the replica from every record it persisted
//                                  (lose_last_step: all but the last step's records)
//   counters dropped.vote_rule=1 votes_sent=2 dropped=1   (listed counters only;
//                                  `dropped` is the sum of all drop reasons)
//   state view=2 voted=1 lock=Q1 committed=B1 committed_height=1
//   > input                        one step; the expected outputs follow:
//   < output                       ALL outputs of that step, in canonical order:
//                                  persist records, commits, sends, `proposed`, wake.
// Inputs: `start [T]`, `tick T`, `payload HEX`, and
//   `recv from=R [at=T] proposal B [tc=T] [sig=HEX]`
//   `recv from=R [at=T] vote view=V block=B [voter=R] [sig=HEX]`
//   `recv from=R [at=T] timeout view=V high_qc=Q [sender=R] [sig=HEX]`
//   `recv from=R [at=T] sync [qc=Q] [tc=T]`
//   `recv from=R [at=T] fetch_request block=B [count=N]`
//   `recv from=R [at=T] fetch_response B3,B2`
// Outputs: `persist safety voted=V lock=Q timeout=V`, `persist block B`,
//   `persist commit height=H block=B`, `commit B height=H view=V`,
//   `send to=R MSG` / `broadcast MSG` (MSG as above; voter/sender/sig only when
//   they are not the replica itself / empty; `broadcast early MSG` for a send
//   marked before_persist), `proposed`, `wake T`.
// Blocks the replica proposes are named N<view> when first seen. An id with no
// name prints as `#` and 8 hex digits (with the block's fields when known), a QC
// or TC with no name as `{qc view=.. block=.. signers=..}` / `{tc view=.. entries=..}`.
// Unless `sig=` / `sigs=` says otherwise, replica r's signature is the bytes 73 r.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kestrel::hotstuff2::golden {

// Runs `text` (named `file` in messages). Returns one message per failure:
// "file:line: ..." with the expected and actual output of the failing step.
// Empty when the trace passes.
std::vector<std::string> run_trace(const std::string& file, std::string_view text);

}  // namespace kestrel::hotstuff2::golden
