// Optimization gates: every optimization in Kestrel has a name, a description, a
// risk and a default, and its baseline path stays in the code (DESIGN.md
// "Performance framework"). The list is closed: a gate is an enum value here, so
// an unknown gate name is an error, never silently ignored.
//
// This is the registry the performance module (config, command line, /gates)
// builds on; modules read gates on their hot paths with gate_enabled(), which is
// one relaxed atomic load.
//
// Thread-safe: reads and writes are atomic; changing a gate while work is in
// flight affects only work that starts afterwards.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/result.h"

namespace kestrel {

enum class Gate : std::uint8_t {
  crypto_avx2,                  // AVX2 paths for ML-KEM / ML-DSA / Keccak
  common_sha256_reuse_context,  // SHA-256 through a per-thread EVP context
  crypto_verify_cache,          // remember successful signature verifications
  crypto_parallel_verify,       // verify signature batches on a worker pool
  storage_write_batching,       // group commit of non-safety writes (one synced write)
  storage_block_cache,          // bounded LRU of blocks read from or written to the store
  storage_blob_files,           // large values (blocks, certificates) in RocksDB blob files
  storage_direct_io_flush,      // flushes and compactions write with O_DIRECT (no page-cache copy)
  mempool_known_transactions,   // a proposal's transactions already admitted here skip decode and verify
  consensus_block_id_memo,      // a block remembers its id (one hash of a MiB payload per node)
  net_adaptive_batching,        // several messages per encrypted frame, flushed on size/age/pressure
  net_buffer_pool,              // reuse frame buffers from a bounded pool
  net_compression,              // zstd-compress large frames when it pays
  process_malloc_trim,          // hand free heap pages back to the kernel every few seconds
  perf_adaptive_tuning,         // tuner moves batch size and flush delay toward a latency target
  crypto_avx512,                // AVX-512F/VL Keccak permutations (effective only with crypto_avx2 on)
  mempool_id_keyed_verify_cache,  // a transaction's verify-cache key derives from its id, not from ~7 KB of inputs
  crypto_openssl_aead,          // ChaCha20-Poly1305 through OpenSSL's EVP instead of libsodium (same bytes)
  consensus_early_proposal,     // a leader's reserved proposal leaves before its synced write
  node_early_receipts,          // clients hear of a commit before the node's own synced write of it
  execution_known_senders,      // a committed transaction's sender id comes from its mempool entry
  net_urgent_consensus,         // consensus messages skip the writer's batching hold
  node_fresh_payload,           // a leader with small pools rebuilds its payload before stepping a peer message
  consensus_leader_reputation,  // responsive views are led by validators seen in recent blocks, not round robin
  node_execution_thread,        // committed blocks execute on their own thread, behind consensus
  node_execution_inline_small,  // a small block with the execution thread idle executes inside the step
  count_,                       // not a gate: the number of gates
};

enum class GateRisk : std::uint8_t { low, medium, high };

// The cluster load that exercises a gate (`kestrel bench cluster --ab all` and
// `--ab-auto`) and its figure: raw commands at saturation (the cluster's own
// network, storage and consensus work) or signed ML-DSA-65 transfers at
// saturation (gates that act on client signatures, transactions or MiB
// proposals), throughput; a raw load step (gates whose effect is on latency under
// changing load), p99; raw commands at 100 ops/s (gates that shorten the
// light-load critical path), p50.
enum class GateWorkload : std::uint8_t { raw_saturation, signed_saturation, raw_load_step, raw_light_load };

struct GateInfo {
  Gate gate;
  std::string_view name;         // dotted name used in config and on the command line
  std::string_view subsystem;
  std::string_view description;  // one line
  GateRisk risk;
  std::string_view risk_note;    // what could go wrong if it misbehaves
  bool default_enabled;
  // A gate that only makes sense with another one on (e.g. a tuner of batching
  // parameters needs batching). Gate::count_ means none.
  Gate required_gate = Gate::count_;
  GateWorkload workload = GateWorkload::raw_saturation;
};

enum class GateError : std::uint8_t {
  unknown_gate,  // no gate has that name
  bad_setting,   // not `name=on|off|true|false|1|0`
  dependency_off,  // a gate is on while a gate it requires is off
};
const char* describe(GateError error);

std::span<const GateInfo> all_gates();
const GateInfo& gate_info(Gate gate);
Result<Gate, GateError> find_gate(std::string_view name);
const char* describe(GateRisk risk);
const char* describe(GateWorkload workload);  // "raw", "signed", "raw step"

// Parses `name=on|off` (also true/false, 1/0), as given to `--gate` on the
// command line; unknown names are errors, never ignored.
struct GateSetting {
  Gate gate;
  bool enabled;
};
Result<GateSetting, GateError> parse_gate_setting(std::string_view setting);
// Every gate with its state, default, subsystem, risk and description as a JSON
// array (what `/gates` serves). Deterministic: in enum order.
std::string gates_json();

// Checks every declared dependency for the given states (indexed by gate);
// on failure, *offender (when given) is the gate whose requirement is off.
Status<GateError> check_gate_dependencies(std::span<const GateInfo> table, std::span<const bool> enabled,
                                          Gate* offender = nullptr);
// The same for the current process-wide states (after --gate and [gates]).
Status<GateError> check_gate_dependencies(Gate* offender = nullptr);

bool gate_enabled(Gate gate);
void set_gate(Gate gate, bool enabled);
// Restores every gate to its default (tests use this between cases).
void reset_gates();

// RAII override for tests and A/B benchmarks: sets a gate, restores it on exit.
class ScopedGate {
 public:
  ScopedGate(Gate gate, bool enabled) : gate_(gate), previous_(gate_enabled(gate)) {
    set_gate(gate, enabled);
  }
  ~ScopedGate() { set_gate(gate_, previous_); }
  ScopedGate(const ScopedGate&) = delete;
  ScopedGate& operator=(const ScopedGate&) = delete;

 private:
  Gate gate_;
  bool previous_;
};

}  // namespace kestrel
