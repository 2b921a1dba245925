#include "common/gates.h"

#include <array>
#include <atomic>

namespace kestrel {

namespace {

constexpr std::size_t gate_count = static_cast<std::size_t>(Gate::count_);

// Keep in enum order: gate_info() indexes by the enum value (checked in a test).
constexpr std::array<GateInfo, gate_count> gate_table{{
    {Gate::crypto_avx2, "crypto.avx2", "crypto",
     "AVX2 code paths for Keccak, ML-KEM and ML-DSA, used only when the CPU has AVX2",
     GateRisk::medium,
     "a wrong vector path would produce wrong keys or signatures; both paths run every ACVP vector",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::common_sha256_reuse_context, "common.sha256_reuse_context", "common",
     "SHA-256 of small inputs through a per-thread EVP context and a pre-fetched digest, "
     "instead of OpenSSL's one-shot SHA256(), which fetches the algorithm on every call",
     GateRisk::low,
     "a context left in a bad state would give wrong ids; both paths run the FIPS 180-4 examples",
     true},
    {Gate::crypto_verify_cache, "crypto.verify_cache", "crypto",
     "bounded LRU of successful signature verifications keyed by SHA-256(public key, message, signature)",
     GateRisk::medium,
     "a cache bug could accept an unverified signature; only successes are cached, keyed by a collision-resistant hash",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::crypto_parallel_verify, "crypto.parallel_verify", "crypto",
     "verify signature batches (QCs, block transactions) on a fixed worker pool",
     GateRisk::low,
     "a threading bug could mix up per-item results; each item's verdict is written only by the thread that checked it",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::storage_write_batching, "storage.write_batching", "storage",
     "collect block appends and state writes in one pending batch, written with one synced write "
     "on flush, on the safety record, or when the batch is full; off: every write is synced alone",
     GateRisk::medium,
     "a crash loses the pending batch; it was never acknowledged as durable (flush not returned), "
     "and the crash test checks that nothing acknowledged is lost",
     true},
    {Gate::storage_block_cache, "storage.block_cache", "storage",
     "bounded LRU of committed blocks by height (entries and bytes bounded in limits.h), "
     "filled on append and on read",
     GateRisk::low,
     "a stale entry would serve a pruned or replaced block; entries are dropped when pruned and "
     "heights are append-only",
     true},
    {Gate::storage_blob_files, "storage.blob_files", "storage",
     "keep block and certificate values in RocksDB blob files (key-value separation), so "
     "compactions move small references instead of rewriting megabyte blocks; off: values inline in the LSM",
     GateRisk::low,
     "RocksDB's integrated blob files could lose a value on a bug; read back on both sides, a store "
     "written with either setting reads with the other (read at open), the crash tests run it on",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::storage_direct_io_flush, "storage.direct_io_flush", "storage",
     "RocksDB writes flushed tables and blob files, and reads compaction inputs, with O_DIRECT, so a "
     "block's bytes are not copied into the page cache a second time at flush (the write-ahead log "
     "copied them once); read when the store opens, and only where the filesystem accepts O_DIRECT",
     GateRisk::low,
     "reads of flushed blocks go to the device instead of the page cache (the block cache keeps the "
     "recent ones); a filesystem without O_DIRECT falls back to buffered writes (probed at open); "
     "the crash tests run with it on",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::mempool_known_transactions, "mempool.known_transactions", "mempool",
     "a proposal's transaction whose id (SHA-256 of its exact bytes) is in the local mempool was "
     "decoded, chain-checked and verified at admission: one hash and a lookup instead of decoding "
     "it and probing the verify cache",
     GateRisk::medium,
     "a pool entry whose bytes were never verified would let an unverified transaction through; "
     "only admit() inserts, after the same checks, and ids are collision-resistant hashes",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::consensus_block_id_memo, "consensus.block_id_memo", "consensus",
     "a block remembers its id (SHA-256 of its encoding) after the first computation instead of "
     "re-encoding and re-hashing its payload at every use (signature checks, core, store, signing)",
     GateRisk::medium,
     "a stale memo would name a block by another block's id; the memo is keyed by every header field, "
     "the QC's signer count and the payload size, in-place byte changes must call forget_id(), and "
     "debug builds recompute and compare on every hit",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::net_adaptive_batching, "net.adaptive_batching", "net",
     "pack several messages into one encrypted frame, flushed on size, age of the oldest "
     "message, or sooner under send-queue pressure; off: one frame per message",
     GateRisk::low,
     "a batching bug could delay or drop messages; both paths run the loopback ordering tests",
     true},
    {Gate::net_buffer_pool, "net.buffer_pool", "net",
     "reuse frame send/receive buffers from a bounded per-network pool instead of allocating",
     GateRisk::low,
     "a pool bug could hand one buffer to two users; buffers are owned by one session at a time",
     true},
    {Gate::net_compression, "net.compression", "net",
     "zstd-compress frames above a size threshold when the result is smaller",
     GateRisk::medium,
     "costs CPU on incompressible data and a decompression bomb must stay bounded "
     "(the decoded size is checked against frame_bytes_max first)",
     false},
    {Gate::process_malloc_trim, "process.malloc_trim", "process",
     "the node command fixes glibc's mmap and trim thresholds (buffers of 4 MiB or more mapped and "
     "unmapped on their own) and calls malloc_trim(0) every 5 s, which returns whole free pages inside "
     "the heap to the kernel; off: glibc's dynamic thresholds, freed memory stays resident until reused",
     GateRisk::low,
     "each trim walks the heap with its arenas locked (other threads' allocations wait for it; the "
     "pause is not measured); mapping and re-faulting freed pages costs about 6 % of signed throughput "
     "(docs/node.md, Memory); it frees nothing in use",
     true},
    {Gate::perf_adaptive_tuning, "perf.adaptive_tuning", "perf",
     "adaptive tuner (perf/tuner.h): each control interval moves the proposal batch size and the "
     "flush delay toward a p99 latency target, within configured bounds, damped by a dead band",
     GateRisk::medium,
     "a badly damped controller could raise latency; steps are bounded per interval, a dead band "
     "holds still near the target, and the simulated load step in tuner_test checks it settles",
     false, Gate::net_adaptive_batching, GateWorkload::raw_load_step},
    // Used only while crypto.avx2 is on too (checked where the path is chosen),
    // but not declared as required_gate: a configuration or an A/B run that
    // turns crypto.avx2 off alone must keep starting and get the portable code.
    {Gate::crypto_avx512, "crypto.avx512", "crypto",
     "AVX-512F/VL Keccak permutations (rotations and chi in one instruction each) for the 4- and "
     "8-way Keccak of ML-KEM and ML-DSA, used only when crypto.avx2 is on and the CPU and the OS "
     "support AVX-512",
     GateRisk::medium,
     "a wrong permutation would produce wrong keys or signatures; both sides run every ACVP vector "
     "and the permutation is checked against the portable one",
     true, Gate::count_, GateWorkload::signed_saturation},
    // Not declared as requiring crypto.verify_cache: with the cache off there is no
    // key to derive, and an A/B run of the cache alone must keep starting.
    {Gate::mempool_id_keyed_verify_cache, "mempool.id_keyed_verify_cache", "mempool",
     "a transaction's verify-cache key is derived from its id (SHA-256 of its exact bytes, computed "
     "anyway) with one short hash, instead of SHA-256 over its public key, signing bytes and signature "
     "(about 7 KB for ML-DSA-65)",
     GateRisk::medium,
     "a key derived from a digest that did not cover the verified inputs would let one success answer "
     "for another input; the mempool passes only the id of the bytes the inputs were decoded from, "
     "and binding keys are domain-separated from input keys",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::crypto_openssl_aead, "crypto.openssl_aead", "crypto",
     "ChaCha20-Poly1305 (RFC 8439: session frames, sealed files) of 1 KiB or more through OpenSSL's "
     "EVP, whose x86-64 code uses AVX-512 or AVX2, instead of libsodium's; the same cipher, so the same "
     "bytes on the wire and either side opens what the other sealed",
     GateRisk::low,
     "OpenSSL decrypts before it checks the tag, so a forged frame's plaintext exists briefly in the "
     "caller's buffer (zeroed before the error returns, as with libsodium); each implementation runs "
     "the RFC 8439 vector and a bit-flip test directly, and they are cross-checked byte for byte "
     "around 0 and 1 KiB",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::consensus_early_proposal, "consensus.early_proposal", "consensus",
     "a replica that votes in view v and leads v + 1 reserves v + 1 in that vote's synced safety "
     "record, so its proposal of v + 1 leaves before the step's synced write (its lock, its own vote, "
     "the commit) instead of after it; votes and timeouts still wait for it",
     GateRisk::medium,
     "a proposal whose view was not reserved durably could be proposed again differently after a crash "
     "(an equivocating honest leader); only reserved views leave early, a restart never proposes in a "
     "reserved view, and the simulator's crash sweeps check that no honest replica proposes twice in a view",
     true, Gate::count_, GateWorkload::raw_light_load},
    {Gate::node_early_receipts, "node.early_receipts", "node",
     "a client's receipt leaves as soon as its block commits (the two-chain rule; every voter of the QC "
     "that certified the block synced it before voting) instead of after this node's own synced write "
     "of the commit",
     GateRisk::medium,
     "a node that crashes right after answering has not stored the commit itself; it is committed in the "
     "cluster (durable on the quorum that certified it) and the node catches it up on restart; "
     "Cluster.CrashRightAfterEarlyReceipts exits a node in that window on purpose (a test failpoint) and "
     "checks every acknowledged transaction on every node",
     true, Gate::count_, GateWorkload::raw_light_load},
    {Gate::execution_known_senders, "execution.known_senders", "execution",
     "a committed transaction that the local mempool admitted takes its sender's account id (SHA-256 of "
     "its 1,952-byte ML-DSA-65 public key) from the mempool entry, and the others are hashed once for "
     "both the ledger and the mempool, instead of twice more at commit",
     GateRisk::medium,
     "a wrong id would debit another account; the entry is found by the transaction id, the SHA-256 of "
     "the exact bytes the public key is part of, so equal ids mean equal keys, and debug builds "
     "recompute and compare every id handed in",
     true, Gate::count_, GateWorkload::signed_saturation},
    {Gate::net_urgent_consensus, "net.urgent_consensus", "net",
     "consensus messages (proposals, votes, timeouts, certificate syncs, fetch requests) are queued as "
     "urgent: the peer's writer sends them, with whatever is queued, at once instead of holding the "
     "frame up to batch_delay_max for company, a hold that was on every hop of a view at light load; "
     "gossip and fetch responses (bulk blocks) still wait for company",
     GateRisk::low,
     "more, smaller frames (more AEAD calls and syscalls) when consensus messages are frequent; a view "
     "sends a handful of them, and the A/B at signed saturation measures the cost",
     true, Gate::count_, GateWorkload::raw_light_load},
    {Gate::node_fresh_payload, "node.fresh_payload", "node",
     "a node that leads this view or the next, whose pools are small (under "
     "node_fresh_payload_pool_entries_max entries) and grew since its payload for the core was built, "
     "builds that payload again before it steps a peer's consensus message other than a proposal (a vote "
     "may complete the QC that makes it propose); before, a non-empty payload was rebuilt only at the next view or commit, "
     "and at light load one command in seven arrived after it and missed the proposal by a view",
     GateRisk::low,
     "payloads are built more often when work trickles in (at most once per peer message, and only while "
     "the pools are under node_fresh_payload_pool_entries_max entries); the proposal rules are unchanged",
     true, Gate::count_, GateWorkload::raw_light_load},
    {Gate::consensus_leader_reputation, "consensus.leader_reputation", "consensus",
     "a view entered with the previous view's QC is led by round robin over the validators that proposed "
     "or signed a QC in the last max(n, 4) blocks below it (leader reputation), so a crashed or cut-off "
     "validator is skipped after about one missed turn instead of costing a view timeout every n views; "
     "a view entered by a timeout certificate stays round robin",
     GateRisk::medium,
     "every replica must derive one leader per view or the view times out: the window is read from blocks "
     "fixed by the hash chain of the certified block (a replica missing one fetches it and broadcasts its "
     "vote meanwhile), and safety never depends on the leader (one vote per view, the lock); the "
     "simulator's sweeps run it with silent, withholding and vote-only Byzantine validators",
     true, Gate::count_, GateWorkload::raw_saturation},
    {Gate::node_execution_thread, "node.execution_thread", "node",
     "committed blocks execute on the node's execution thread, pipelined behind consensus: the consensus "
     "thread appends a commit to the store's commit stream and goes on with the next view while the "
     "block's transactions are decoded and executed; the result comes back as an event and is written "
     "(apply_execution) before its receipts leave. Off: a commit executes inside the consensus step",
     GateRisk::medium,
     "execution lags the commit stream by up to node_execution_queue_max blocks (then consensus waits); "
     "reads of the state see the last executed block, not the last committed one; a crash between a "
     "commit and its execution replays the gap at restart",
     true, Gate::count_, GateWorkload::signed_saturation},
    // Meaningful only while node.execution_thread is on (with it off every block
    // executes in the step), but not declared as required_gate: turning the
    // thread off alone, in a configuration or an A/B run, must keep starting.
    {Gate::node_execution_inline_small, "node.execution_inline_small", "node",
     "a committed block of at most node_execution_inline_ops_max operations, committed while the execution "
     "thread has nothing in flight, executes inside the consensus step on the consensus thread: its results "
     "go into the step's synced write and its clients are answered before that write (early receipts) "
     "instead of after the step, when the thread's result is taken; larger blocks and blocks behind others "
     "still go to the thread",
     GateRisk::low,
     "the same executor and the same order (only when nothing is in flight, so no block overtakes another); "
     "an inline block costs the consensus step its execution time, bounded by the operation limit",
     true, Gate::count_, GateWorkload::raw_light_load},
}};

struct GateStates {
  std::array<std::atomic<bool>, gate_count> enabled;
  GateStates() {
    for (std::size_t i = 0; i < gate_count; ++i) enabled[i].store(gate_table[i].default_enabled);
  }
};

std::array<std::atomic<bool>, gate_count>& gate_states() {
  static GateStates states;
  return states.enabled;
}

std::size_t index_of(Gate gate) {
  const auto i = static_cast<std::size_t>(gate);
  KESTREL_ASSERT(i < gate_count);
  return i;
}

}  // namespace

const char* describe(GateError error) {
  switch (error) {
    case GateError::unknown_gate: return "unknown gate name";
    case GateError::bad_setting: return "gate setting must be name=on or name=off";
    case GateError::dependency_off: return "gate is on but a gate it requires is off";
  }
  return "unknown gate error";
}

const char* describe(GateRisk risk) {
  switch (risk) {
    case GateRisk::low: return "low";
    case GateRisk::medium: return "medium";
    case GateRisk::high: return "high";
  }
  return "unknown";
}

const char* describe(GateWorkload workload) {
  switch (workload) {
    case GateWorkload::raw_saturation: return "raw";
    case GateWorkload::signed_saturation: return "signed";
    case GateWorkload::raw_load_step: return "raw step";
    case GateWorkload::raw_light_load: return "raw light";
  }
  return "unknown";
}

std::span<const GateInfo> all_gates() { return gate_table; }

const GateInfo& gate_info(Gate gate) { return gate_table[index_of(gate)]; }

Result<Gate, GateError> find_gate(std::string_view name) {
  for (const auto& info : gate_table) {
    if (info.name == name) return info.gate;
  }
  return Err(GateError::unknown_gate);
}

Result<GateSetting, GateError> parse_gate_setting(std::string_view setting) {
  const auto equals = setting.find('=');
  if (equals == std::string_view::npos) return Err(GateError::bad_setting);
  auto gate = find_gate(setting.substr(0, equals));
  if (!gate) return Err(gate.error());
  const std::string_view value = setting.substr(equals + 1);
  if (value == "on" || value == "true" || value == "1") return GateSetting{*gate, true};
  if (value == "off" || value == "false" || value == "0") return GateSetting{*gate, false};
  return Err(GateError::bad_setting);
}

namespace {
// Gate strings are compile-time literals without quotes or backslashes (checked
// in gates_test), so they need no escaping beyond this guard.
void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (char c : s) {
    KESTREL_ASSERT(c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20);
    out += c;
  }
  out += '"';
}
}  // namespace

Status<GateError> check_gate_dependencies(std::span<const GateInfo> table, std::span<const bool> enabled,
                                          Gate* offender) {
  KESTREL_ASSERT(enabled.size() == table.size());
  for (std::size_t i = 0; i < table.size(); ++i) {
    const Gate required = table[i].required_gate;
    if (required == Gate::count_ || !enabled[i]) continue;
    const auto r = static_cast<std::size_t>(required);
    KESTREL_ASSERT(r < table.size() && r != i);
    if (!enabled[r]) {
      if (offender) *offender = table[i].gate;
      return Err(GateError::dependency_off);
    }
  }
  return {};
}

Status<GateError> check_gate_dependencies(Gate* offender) {
  std::array<bool, gate_count> enabled{};
  for (std::size_t i = 0; i < gate_count; ++i) enabled[i] = gate_enabled(static_cast<Gate>(i));
  return check_gate_dependencies(gate_table, enabled, offender);
}

std::string gates_json() {
  std::string out = "[";
  for (const auto& info : gate_table) {
    if (out.size() > 1) out += ",";
    out += "{\"name\":";
    append_json_string(out, info.name);
    out += ",\"enabled\":";
    out += gate_enabled(info.gate) ? "true" : "false";
    out += ",\"default\":";
    out += info.default_enabled ? "true" : "false";
    out += ",\"subsystem\":";
    append_json_string(out, info.subsystem);
    out += ",\"risk\":";
    append_json_string(out, describe(info.risk));
    out += ",\"risk_note\":";
    append_json_string(out, info.risk_note);
    out += ",\"description\":";
    append_json_string(out, info.description);
    if (info.required_gate != Gate::count_) {
      out += ",\"requires\":";
      append_json_string(out, gate_table[static_cast<std::size_t>(info.required_gate)].name);
    }
    out += "}";
  }
  return out + "]";
}

bool gate_enabled(Gate gate) {
  return gate_states()[index_of(gate)].load(std::memory_order_relaxed);
}

void set_gate(Gate gate, bool enabled) {
  gate_states()[index_of(gate)].store(enabled, std::memory_order_relaxed);
}

void reset_gates() {
  for (const auto& info : gate_table) set_gate(info.gate, info.default_enabled);
}

}  // namespace kestrel
