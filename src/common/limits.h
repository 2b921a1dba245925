// Every bound in Kestrel lives here, each with the reason for its number
// (STYLE.md "Put a limit on everything"). Related bounds are tied together with
// static_asserts so that raising one cannot silently break another.
//
// Header-only constants; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kestrel::limits {

// --- Encoding -------------------------------------------------------------------

// LEB128 needs ceil(64 / 7) = 10 bytes for any uint64_t; an 11th byte is malformed.
inline constexpr std::size_t varint_bytes_max = 10;

// --- Cluster --------------------------------------------------------------------

// n = 3f + 1 validators. 128 keeps a quorum certificate (n - f signatures, one per
// signer: ML-DSA has no aggregation) under ~300 KB with ML-DSA-65 (86 x 3,309 B),
// and the signer bitmap at 16 bytes. Raising it is a measured decision: QC size and
// verification cost grow linearly.
inline constexpr std::size_t validators_max = 128;

// --- Keys and signatures (largest scheme wins) ----------------------------------

// ML-DSA-87 signature is 4,627 B (FIPS 204 Table 2); a hybrid signature appends an
// Ed25519 signature (64 B); 64 B spare for a scheme tag and length prefixes.
inline constexpr std::size_t signature_bytes_max = 4627 + 64 + 64;
// ML-DSA-87 public key is 2,592 B; hybrid adds Ed25519's 32 B; spare for framing.
inline constexpr std::size_t public_key_bytes_max = 2592 + 32 + 64;
// ML-DSA-87 secret key is 4,896 B; hybrid adds Ed25519's 64 B; spare for framing.
inline constexpr std::size_t secret_key_bytes_max = 4896 + 64 + 64;

// --- ML-DSA signing ----------------------------------------------------------------

// Bound on the attempts of ML-DSA's rejection loop (FIPS 204 Algorithm 7). The
// expected attempts are 4.25 / 5.1 / 3.85 (ML-DSA-44/65/87); FIPS 204 Appendix C
// puts the bound that keeps the failure probability below 2^-256 at 814 for
// every parameter set. kappa = attempts * l stays below 2^16 (814 * 7 < 65536).
inline constexpr std::size_t mldsa_sign_attempts_max = 814;
static_assert(mldsa_sign_attempts_max * 7 < 65536, "kappa is a 16-bit counter in ExpandMask");

// --- Signature verification cache and parallel verifier ------------------------------

// Successful verifications remembered (crypto/verify_cache.h). A transaction is
// verified at mempool ingress and again when it arrives inside a proposal, a vote
// may be seen directly and again in a QC; the gap is a few blocks. 16,384 entries
// cover ~12 full blocks of ML-DSA-65 transactions (~1,300 each) and cost about
// 16,384 x (32 B key + 12 B links) + a 2x index of 4 B slots, well under 1 MiB.
inline constexpr std::size_t verify_cache_entries_max = 16 * 1024;
// Worker threads of the parallel verifier. Verification is CPU-bound: more threads
// than cores only adds switching; 16 covers the validator machines we target.
inline constexpr std::size_t parallel_verify_threads_max = 16;
// Items in one verify_batch call. A batch is one block's transactions or one QC;
// a 4 MiB payload of the smallest signed transaction (~512 B) is 8,192 items.
inline constexpr std::size_t verify_batch_items_max = 8 * 1024;
// Batches waiting for workers. Each batch takes one queue slot per helping worker
// (at most threads_max); when full, the caller verifies its batch alone
// (backpressure), so the queue never grows and no call ever blocks on it.
inline constexpr std::size_t parallel_verify_queue_max = 4 * parallel_verify_threads_max;
static_assert(verify_cache_entries_max < (1u << 31), "cache slots are 32-bit indices");

// --- Transactions and blocks -------------------------------------------------------

// A client transaction: sender key + signature (at most ~7.5 KB with the largest
// scheme) plus a payload (put value, bounded separately). 16 KiB leaves room for
// an 8 KiB value and refuses anything that is not a plausible transaction.
inline constexpr std::size_t transaction_bytes_max = 16 * 1024;
// The payload of one proposal. 4 MiB is ~1,300 ML-DSA-65 transactions (~3 KB
// each at minimum): beyond this a block takes longer to ship than a view timeout
// allows on a 1 Gbit/s link shared by n peers.
inline constexpr std::size_t block_payload_bytes_max = 4 * 1024 * 1024;
// A quorum certificate: view, block id, bitmap, and at most validators_max
// signatures each with a length prefix.
inline constexpr std::size_t quorum_certificate_bytes_max =
    64 + validators_max / 8 + validators_max * (signature_bytes_max + varint_bytes_max);
// Block header: parent id, view, height, proposer, payload length (well under 256 B).
inline constexpr std::size_t block_header_bytes_max = 256;

// --- Messages and frames -------------------------------------------------------------

// Largest single application message. A proposal (header + payload + justify QC)
// is the largest thing a validator ever sends; 8 MiB leaves headroom over it.
inline constexpr std::size_t message_size_max = 8 * 1024 * 1024;
// A timeout certificate: view, bitmap, and per signer a high-QC view and a
// signature, each length-prefixed.
inline constexpr std::size_t timeout_certificate_bytes_max =
    64 + validators_max / 8 + validators_max * (signature_bytes_max + 3 * varint_bytes_max);
// The largest proposal: header, payload, justify QC, optional TC, the proposer's
// signature and the message tag.
inline constexpr std::size_t proposal_bytes_max = block_header_bytes_max + block_payload_bytes_max +
                                                  quorum_certificate_bytes_max + timeout_certificate_bytes_max +
                                                  signature_bytes_max + 16;
static_assert(message_size_max >= proposal_bytes_max, "a full proposal must fit in one message");
// One encrypted frame carries one or more messages; it must carry the largest
// message plus the frame header and AEAD tag (16 B) with spare room.
inline constexpr std::size_t frame_bytes_max = message_size_max + 1024;
static_assert(frame_bytes_max > message_size_max);

// --- Consensus ----------------------------------------------------------------------

// Blocks per fetch response: enough to close a gap of a few dozen views in one
// round trip; a replica further behind asks again (bounded per request by this).
inline constexpr std::size_t consensus_fetch_blocks_max = 64;
// Blocks in a leader-reputation window (docs/consensus.md "Leaders"): each lookup
// walks the window once (a memo serves a view's other lookups), so 256 blocks of
// at most validators_max signers bounds one walk to ~33k bit sets; a window as
// long as n already lets a silent validator lead only about once before it drops out.
inline constexpr std::size_t consensus_reputation_window_blocks_max = 256;

// --- Metrics ------------------------------------------------------------------------

// Metric series (one per name + label set). Labels are bounded by design (peer
// ids up to validators_max, message types, reasons), so a few thousand covers a
// 128-validator node; more means a label took an unbounded value, a bug.
inline constexpr std::size_t metric_series_max = 4096;

// --- Hex --------------------------------------------------------------------------

// Hex strings read from config files, key files and test vectors: the largest is
// an ACVP message (8 KiB) or key; 1 MiB of hex is far above any legitimate input.
inline constexpr std::size_t hex_chars_max = 1024 * 1024;

// --- Execution, storage and mempool (issue 7) -------------------------------------

// A put key names a slot in one account's key-value space; 64 B fits a hash or a
// short path and keeps the per-account index small.
inline constexpr std::size_t ledger_key_bytes_max = 64;
// A put value: 8 KiB, so that the largest put (hybrid key and signature ~5.5 KB
// plus key and value) still fits in transaction_bytes_max.
inline constexpr std::size_t ledger_value_bytes_max = 8 * 1024;
static_assert(public_key_bytes_max + signature_bytes_max + ledger_key_bytes_max +
                      ledger_value_bytes_max + 64 <=
                  transaction_bytes_max,
              "the largest put must fit in one transaction");
// Keys one account may hold: bounds the state an account can grow (1,024 x ~8 KiB
// = 8 MiB at most) and the work of hashing one touched account into the digest.
inline constexpr std::size_t ledger_account_keys_max = 1024;
// Genesis allocations read from the cluster config.
inline constexpr std::size_t genesis_accounts_max = 100 * 1000;
// Transactions in one block: a full payload of the smallest transaction (Ed25519,
// ~150 B) rounded down to a 128-byte unit.
inline constexpr std::size_t block_transactions_max = block_payload_bytes_max / 128;
static_assert(block_transactions_max <= verify_batch_items_max * 4);

// Storage: writes waiting in the group-commit batch (storage.write_batching) before
// they are flushed with one synced write. 128 commit-stream writes (append_commit
// and apply_execution: 64 commits with their executions) or 32 MiB, whichever
// first: enough to amortise one fsync (~ms) over many commits, small enough that a
// crash loses at most what was never acknowledged as durable.
inline constexpr std::size_t storage_pending_writes_max = 128;
inline constexpr std::size_t storage_pending_bytes_max = 32 * 1024 * 1024;
// Committed units kept in memory with their proofs (storage.block_cache): 256
// commits, at most 4 MiB. It serves reads by sequence and id (restart, the last
// commits); the validator's memory budget is 64 MiB in all, so a few MiB of recent
// units is its share.
// Catch-up fetches read the last few dozen blocks (consensus_fetch_blocks_max).
inline constexpr std::size_t storage_block_cache_entries_max = 256;
inline constexpr std::size_t storage_block_cache_bytes_max = 4 * 1024 * 1024;
// RocksDB memtables of all column families together: 8 MiB within the node's
// 64 MiB memory budget (of which ~19 MiB are shared-library pages). The unit and
// proof families get 4 MiB write buffers (a full block is 1-2 MiB; 2 MiB buffers
// flushed every block or two: -13 % signed throughput), the small-value families
// 1 MiB; RocksDB flushes the largest when the total is reached.
inline constexpr std::size_t storage_memtables_bytes_max = 8 * 1024 * 1024;
// RocksDB's own block cache (data, index and filter blocks of the SST files): 4 MiB
// keeps index and filter memory bounded however many files a long run makes; reads
// are rare (restart, catch-up, state pages), recent blocks come from our cache.
inline constexpr std::size_t storage_rocksdb_cache_bytes = 4 * 1024 * 1024;
static_assert(storage_block_cache_entries_max >= consensus_fetch_blocks_max);
// Blob files (gate storage.blob_files): unit and proof values of at least 4 KiB go
// to blob files and the LSM keeps a small reference. Units are keyed by their
// (random) id, so every compaction overlaps every file: inline, each MiB block was
// rewritten on every level it passed (measured: compaction was ~35 % of a
// validator's CPU under signed load). Proofs (HotStuff-2: a header with its QC of
// 2f+1 ML-DSA signatures) are ~10 KiB; journal records, the commit index, digests
// and state entries stay inline.
inline constexpr std::size_t storage_blob_value_bytes_min = 4 * 1024;
// ChaCha20-Poly1305 inputs (plaintext plus associated data) this large or larger
// go through OpenSSL's EVP (gate crypto.openssl_aead); below it, its per-call set-up
// costs more than its faster code saves, and libsodium does them (seal + open,
// kestrel-microbench --benchmark_filter=BM_AeadPaths; docs/crypto.md).
inline constexpr std::size_t openssl_aead_bytes_min = 1024;
// A blob file is cut at 64 MiB; in practice each memtable flush writes its own
// file, so files hold one write buffer's values (storage_memtables_bytes_max / 4,
// 4 MiB: a few full blocks). A file is deleted as a whole once every value in it
// is garbage (pruned).
inline constexpr std::size_t storage_blob_file_bytes_max = 64 * 1024 * 1024;
// A stored value (unit, proof, journal record, receipts, state): the largest unit
// is a block, a header plus a payload (with its QC); anything larger in the store
// is corruption.
inline constexpr std::size_t storage_value_bytes_max =
    block_header_bytes_max + block_payload_bytes_max + quorum_certificate_bytes_max;
// Commits kept in full when pruning (config may choose fewer, >= 1).
inline constexpr std::size_t storage_keep_commits_max = 1000 * 1000;
// Commits pruned by one append_commit or apply_execution: 1 in steady state; more
// only after keep_commits was lowered or the executor caught up a backlog, and then
// it is worked off 64 at a time so no call stalls.
inline constexpr std::size_t storage_prune_commits_per_call_max = 64;

// The validator's malloc policy (node/memory.h). Two arenas: glibc's default of
// 8 per core gives each allocating thread (net, consensus, verifiers, client,
// admin, RocksDB) its own arena of freed memory, which was most of a node's RSS.
inline constexpr int node_malloc_arenas_max = 2;
// Buffers of 4 MiB or more (group-commit batches, catch-up responses) are mapped on
// their own and unmapped on free; a fixed value also stops glibc raising it to
// 32 MiB after such a free. Block-sized buffers (1 MiB) stay in the heap, where
// they are reused: at 256 KiB, mapping and faulting in every block, payload and
// frame buffer cost 18 % of signed throughput (CPU per transfer +20 %).
inline constexpr std::size_t node_malloc_mmap_threshold_bytes = 4 * 1024 * 1024;
// The top of a heap above 1 MiB free is returned at once.
inline constexpr std::size_t node_malloc_trim_threshold_bytes = 1024 * 1024;
// glibc caps M_MMAP_THRESHOLD at 32 MiB on 64-bit; both go through mallopt's int.
static_assert(node_malloc_mmap_threshold_bytes <= 32 * 1024 * 1024 && node_malloc_trim_threshold_bytes <= 0x7fffffff);
// process.malloc_trim: every 5 s (a heap walk with the arenas locked, its pause
// not measured; the RSS it returns is what a burst freed since the last trim).
inline constexpr std::uint64_t node_malloc_trim_interval_ms = 5000;

// Mempool: 50,000 transactions or 256 MiB (about 40 full blocks of ML-DSA-65
// transfers), whichever first.
inline constexpr std::size_t mempool_transactions_max = 50 * 1000;
inline constexpr std::size_t mempool_bytes_max = 256 * 1024 * 1024;
// A sender may hold at most 1/16 of the pool (by count): no single client fills it.
inline constexpr std::size_t mempool_sender_share_divisor = 16;
// A transaction's nonce may run at most 64 ahead of the sender's next nonce: enough
// to pipeline a few blocks of one client's work, refuses nonces that can never run.
inline constexpr std::uint64_t mempool_nonce_gap_max = 64;
// Expanded ML-DSA verifiers kept by sender (each ~37 KiB): 1,024 x 37 KiB = 37 MiB.
inline constexpr std::size_t mempool_verifiers_max = 1024;
// Transactions in one admission call (one parallel verify batch).
inline constexpr std::size_t mempool_admit_batch_max = verify_batch_items_max;
// --- Validator network (issue 6, src/net) --------------------------------------------

// One handshake message (docs/network.md): the largest is the responder's reply,
// 1 + 1 + 3 + 32 (X25519) + 1,088 (ML-KEM-768 ciphertext) + a signature
// (signature_bytes_max); the initiator's hello carries a 1,184 B ML-KEM key.
// 8 KiB holds either with room for a length prefix and refuses anything else.
inline constexpr std::size_t net_handshake_message_bytes_max = 8 * 1024;
static_assert(net_handshake_message_bytes_max > 64 + 1088 + signature_bytes_max);
// A handshake must finish in this time or the connection is closed and counted:
// three messages on a LAN take well under 100 ms; 5 s tolerates a loaded peer.
inline constexpr std::uint32_t net_handshake_timeout_ms = 5000;
// Inbound admission (docs/network.md "Admission"). An accepted connection must
// send its Hello within this time: a dialer sends it right after connecting, so
// it takes one round trip (< 300 ms across continents) plus an ML-KEM keygen
// (~0.05 ms); 1 s also bounds how long a silent connection holds a pending place.
inline constexpr std::uint32_t net_hello_timeout_ms = 1000;
static_assert(net_hello_timeout_ms <= net_handshake_timeout_ms);
// Connections that have not sent a Hello yet. Each is a socket and a 4-byte read
// (nothing is allocated before a length is checked). A new one beyond the bound
// closes the oldest, so a stranger holding connections only churns them: an
// honest Hello is lost only if 256 newer connections arrive within its round trip.
inline constexpr std::size_t net_pending_connections_max = 256;
// One address may hold 1/8 of the pending places, so one host cannot push out the
// others' (a new connection beyond it closes that address's oldest); 32 still
// covers every validator of a one-machine test cluster dialing at once.
inline constexpr std::size_t net_pending_connections_per_source_max = 32;
static_assert(net_pending_connections_per_source_max <= net_pending_connections_max);
// Handshakes past the Hello (answered, Finish awaited) claiming one validator: its
// current attempt and one left from an earlier one (a restarted process, a dial
// that timed out). A newer Hello replaces the oldest, so a stale or forged one
// never holds the place the validator needs.
inline constexpr std::size_t net_handshakes_per_validator_max = 2;
// Answered Hellos per claimed validator: a token bucket of 8, refilled at 4/s, and
// refunded when the handshake completes (an honest validator does not spend it).
// A validator whose handshakes fail dials at most once per back-off (50 ms doubling
// to 5 s: 7 dials in the first 6.4 s), within the burst. An answer costs 0.14-0.19 ms
// of CPU (BM_NetHelloAnswered: X25519, ML-KEM encapsulation, a signature), so a
// claimed id costs at most ~0.8 ms/s after its burst, and a stranger at an address
// that is no validator's gets no answer at all (wrong_source).
inline constexpr std::size_t net_hello_burst_per_validator = 8;
inline constexpr double net_hellos_per_second_per_validator = 4.0;
// Sockets of the validator listener at once stay below 1,024 (Debian's default
// open-file soft limit): pending, handshakes and sessions together.
static_assert(net_pending_connections_max + (net_handshakes_per_validator_max + 1) * validators_max < 1024);
// After a failed accept (out of file descriptors), the validator listener waits
// this long instead of spinning a core; below a dial's first back-off (50 ms), so
// a validator's retry still finds the listener.
inline constexpr std::uint32_t net_accept_backoff_ms = 10;
// A peer that has sent part of a frame must send the rest within this time (a
// peer that sends a length and then nothing holds a buffer; this frees it).
// 8 MiB at 100 Mbit/s is ~0.7 s; 5 s is far above any honest peer.
inline constexpr std::uint32_t net_frame_stall_timeout_ms = 5000;
// Keepalive frames are sent after this much send silence; a session that has
// received nothing for net_idle_timeout_ms (several keepalives) is closed.
inline constexpr std::uint32_t net_keepalive_interval_ms = 1000;
inline constexpr std::uint32_t net_idle_timeout_ms = 10 * net_keepalive_interval_ms;
// Per-peer send queue. 65,536 messages or 16 MiB (two largest messages), whichever
// comes first: with validators_max peers the worst case is 2 GiB of queued
// messages only if every queue is full at once; a node sizing for less sets the
// config lower. When full: backpressure for reliable messages, drop-and-count for
// droppable ones.
inline constexpr std::size_t net_send_queue_messages_max = 64 * 1024;
inline constexpr std::size_t net_send_queue_bytes_max = 2 * message_size_max;
static_assert(net_send_queue_bytes_max >= message_size_max + 64,
              "the largest message must fit in an empty queue");
// Senders parked waiting for queue space (the awaitable send) per peer. Each is a
// small handler; beyond this, send fails with queue_full instead of parking.
inline constexpr std::size_t net_send_waiters_max = 1024;
// Adaptive batching (gate net.adaptive_batching): messages are packed into one
// frame until its plaintext reaches this size. 256 KiB amortises the per-frame
// AEAD setup, header and syscall over thousands of small messages yet keeps one
// frame's latency on a 1 Gbit/s link near 2 ms.
inline constexpr std::size_t net_batch_bytes_max = 256 * 1024;
// The longest a queued message may wait for company before its frame is flushed
// (an empty queue waits this long; a full one not at all). 200 us is below one
// consensus message's network latency, so batching never dominates it.
inline constexpr std::uint32_t net_batch_delay_us_max = 200;
// Receive buffer of a session: frames up to this size are read and opened in
// place; larger ones get their own (pooled) buffer after the length is checked.
inline constexpr std::size_t net_receive_buffer_bytes = 512 * 1024;
// Buffers kept for reuse per network (gate net.buffer_pool); more are freed.
// Each is at most one frame of a batch (~256 KiB) or one large message.
inline constexpr std::size_t net_buffer_pool_buffers_max = 64;
// A send queue is a list of blocks of about this size: the writer seals and
// writes one block while senders fill the next, so sealing overlaps the wire and
// the receiver's opening. 1 MiB is four full batches: few enough writes, yet a
// block is sealed in ~1.5 ms at 700 MB/s.
inline constexpr std::size_t net_send_block_bytes = 1024 * 1024;
static_assert(net_send_block_bytes >= net_batch_bytes_max);
// Buffers larger than this are never pooled (a pooled 8 MiB buffer per slot
// would be 512 MiB of idle memory). A block's sealed frames are a little over
// net_send_block_bytes, so 2 MiB keeps both pooled.
inline constexpr std::size_t net_buffer_pool_buffer_bytes_max = 2 * net_send_block_bytes;
// All pooled buffers together (their capacity): the pool's share of the
// validator's 64 MiB memory budget. 64 buffers of 2 MiB would be 128 MiB idle;
// 6 MiB still pools a sealed block and its records for each of 3 peers' writers.
inline constexpr std::size_t net_buffer_pool_bytes_max = 6 * 1024 * 1024;
static_assert(net_buffer_pool_bytes_max >= net_buffer_pool_buffer_bytes_max);
// Rekey before the nonce counter or the byte budget of one key runs out. The
// counter is 64-bit, so 2^32 frames is far below wrap-around; 2^36 bytes (64 GiB)
// per key keeps ChaCha20-Poly1305 well inside its per-key usage bound (RFC 8439
// section 4 allows ~2^64 messages of 256 GiB; we take a wide margin).
inline constexpr std::uint64_t net_rekey_frames_max = std::uint64_t{1} << 32;
inline constexpr std::uint64_t net_rekey_bytes_max = std::uint64_t{1} << 36;
// Dial back-off: doubles from min to max with jitter; 50 ms reconnects quickly
// after a restart, 5 s caps the load an unreachable peer makes.
inline constexpr std::uint32_t net_dial_backoff_ms_min = 50;
inline constexpr std::uint32_t net_dial_backoff_ms_max = 5000;
// zstd (gate net.compression) only for frames at least this large: below it the
// frame header of zstd and the call overhead cancel the savings.
inline constexpr std::size_t net_compression_bytes_min = 4 * 1024;
// Application message types are 16-bit on the wire.
inline constexpr std::uint32_t net_message_type_max = 0xFFFF;

// --- Validator node (issue 8, src/node) -------------------------------------------

// A raw benchmark command (docs/client-api.md): 8-byte key + 8-byte value, the
// shape of classic HotStuff benchmarks' 8-byte commands plus a key to put.
inline constexpr std::size_t raw_command_bytes = 16;
// Raw entries in one block: a full payload of 34-byte entries (origin, connection,
// sequence, command).
inline constexpr std::size_t block_raw_commands_max = block_payload_bytes_max / (2 + 8 + 8 + raw_command_bytes);
// Raw commands waiting for a proposal on one node: 200,000 x ~64 B in the pool's
// maps is ~13 MiB, under the node's memory budget; beyond it clients are refused
// (overloaded) until blocks drain the pool.
inline constexpr std::size_t node_raw_pool_max = 200 * 1000;
// A leader's payload is built again on new work before a peer's consensus message
// is stepped (gate node.fresh_payload) only while its pools (transactions and raw
// commands, in flight included) hold fewer entries than this. A build walks the
// in-flight chain and the raw queue (at most 2 x 63 + 1,024 entries before it is
// compacted) and copies at most 63 entries: 63 x ~5.3 KB = ~340 KB of ML-DSA-65
// transfers, at most once per peer message. At light load the pools hold a
// handful; at signed saturation thousands, where a first version bounded by the
// payload's size alone rebuilt from a full pool and cost ~3 % of throughput.
inline constexpr std::size_t node_fresh_payload_pool_entries_max = 64;
// Events waiting for the consensus thread (verified peer messages, client
// requests). Producers block when it is full (TCP backpressure to peers and
// clients); 65,536 covers many blocks' worth of votes and requests.
inline constexpr std::size_t node_event_queue_max = 64 * 1024;
// Clients waiting for a receipt, and receipts of recent commits kept for late
// waiters (an id costs ~100 B: 6.5 MiB each at the bound).
inline constexpr std::size_t node_receipt_waiters_max = 64 * 1024;
inline constexpr std::size_t node_recent_receipts_max = 64 * 1024;
// Transactions per gossip message: 256 x 16 KiB = 4 MiB, below message_size_max.
inline constexpr std::size_t node_gossip_transactions_max = 256;
static_assert(node_gossip_transactions_max * (transaction_bytes_max + 4) < message_size_max);
// Raw entries per gossip message (34 B each): 16,384 = 557 KiB.
inline constexpr std::size_t node_gossip_raw_max = 16 * 1024;
// Fetches a node answers from its store (blocks older than what the core keeps in
// memory) per peer per second, in requests and in block bytes. A catching-up peer
// re-asks for recent blocks every view besides walking back its chain, so requests
// come in hundreds per second; the byte budget (32 MiB/s per peer, ~600 blocks of
// 50 KiB per second) is what bounds the disk reads and bandwidth a peer can demand.
inline constexpr std::size_t node_store_fetches_per_peer_per_second = 1024;
inline constexpr std::size_t node_store_fetch_bytes_per_peer_per_second = 32 * 1024 * 1024;
// A validator's mempool bytes (the mempool's own bound, mempool_bytes_max, is for
// larger machines): 48 MiB is ~9,000 ML-DSA-65 transfers, dozens of 1 MiB blocks,
// and keeps a node near its 64 MiB budget plus what the load holds in flight.
inline constexpr std::size_t node_mempool_bytes_max = 48 * 1024 * 1024;
// Committed blocks the consensus core keeps in memory (older ones are served from
// the store) and restores after a restart.
inline constexpr std::uint64_t node_core_committed_blocks = 16;
// Blocks a node can be behind and still catch up by fetching them (the core holds
// the fetched chain until it reaches its committed head): 16,384 is ~3 minutes at
// 100 blocks/s; an empty block with its ML-DSA-65 QC is ~10 KiB, so a full catch-up
// holds ~160 MiB (only while catching up). Further behind needs state sync.
inline constexpr std::size_t node_catch_up_blocks_max = 16 * 1024;
// How often `kestrel node` checks whether its node stopped itself (a failed store
// write): the bound on how long a failed node lingers before it exits.
inline constexpr std::uint64_t node_failure_poll_interval_ms = 200;
// Committed blocks a node keeps in its store by default (config
// storage.keep_committed_blocks): at least what a peer may need to catch up.
inline constexpr std::uint64_t node_store_keep_blocks_default = node_catch_up_blocks_max;
// Uncommitted blocks whose transaction ids the node tracks (not to propose them
// twice): the core's own bound on stored blocks.
inline constexpr std::size_t node_in_flight_blocks_max = 4096;
// Committed blocks waiting for the execution thread (gate node.execution_thread):
// each holds its payload (up to 4 MiB), so 16 bound the backlog at 64 MiB; at ten
// blocks a second that is over a second of execution behind consensus, after
// which consensus waits (backpressure) rather than the backlog growing.
inline constexpr std::size_t node_execution_queue_max = 16;
// The largest committed block (transactions plus raw commands) that executes
// inside the consensus step when the execution thread is idle (gate
// node.execution_inline_small). Small blocks are the light-load case, where the
// client's wait is what matters: on the thread, a block's answer waited for the
// step's synced write (~0.8 ms, three validators syncing at once) before its
// result was taken. Executing an operation costs about 2 µs (a raw put: two
// state-hash updates of 0.94 µs, BM_StateHashElement) to 3 µs (a transfer:
// BM_LedgerTransfers/1000, 3.04 ms per 1,000; `kestrel-microbench
// --benchmark_filter='BM_LedgerTransfers|BM_StateHashElement'`, medians of 3):
// 64 of them keep the step's added work under ~0.2 ms, below the wait it saves
// (node.execution_inline_small A/B, docs/performance.md); at saturation blocks
// are larger and go to the thread.
inline constexpr std::size_t node_execution_inline_ops_max = 64;
// How long executed blocks may wait in the store's batch for the next consensus
// step's synced write when their clients were answered early (gate
// node.early_receipts): a running cluster syncs at every view, idle ones included
// (heartbeat blocks every consensus.idle_delay_ms), so this is only a backstop. A
// 20 ms delay added about one synced write per burst of commits (node 0: ~2,140
// synced writes against ~1,780 in 15 s: the persistence count of the stage table
// `kestrel bench cluster --raw --rate 100 --duration 15` prints); this one adds none.
inline constexpr std::uint64_t node_execution_sync_delay_ms = 1000;
// Views whose QC time the HotStuff-2 driver remembers for the commit stage: a
// block commits two or three views after its QC, so 64 views is ample.
inline constexpr std::size_t node_stage_marks_max = 64;
// The consensus thread's longest wait for an event when no timer is due: bounds
// how late housekeeping (status, metrics, tuner) runs on an idle node.
inline constexpr std::uint64_t node_idle_wait_ms = 5;
// How often the consensus thread publishes /status and expires receipt waiters.
inline constexpr std::uint64_t node_status_interval_ms = 100;
// How often it refreshes the metrics it owns (a few hundred gauge writes).
inline constexpr std::uint64_t node_metrics_interval_ms = 500;
// Signature-verification threads of a node: one per core, at most two (a node
// shares its machine with the network and consensus threads).
inline constexpr unsigned node_verify_threads_max = 2;
// Rarely logged failures: the first and every this-many-th.
inline constexpr std::uint64_t node_rare_log_every = 1000;
// admitted_at_ entries (submission times for latency) of transactions that left
// the pool without committing here: pruned when there are this many more than
// the pool holds, those older than node_admitted_at_age_max_s.
inline constexpr std::size_t node_admitted_at_slack = 4096;
inline constexpr std::uint64_t node_admitted_at_age_max_s = 60;
// Raw commands are about 34 bytes in a payload (u16 origin, u64 connection, u64
// sequence, 16-byte command); a payload's fixed part (version, two counts) and a
// transaction list's length prefix fit in the slack.
inline constexpr std::size_t payload_raw_entry_bytes = 34;
inline constexpr std::size_t payload_fixed_bytes = 16;
inline constexpr std::size_t payload_transactions_slack_bytes = 64;
// Raw commands per batch slot: a raw command costs about 1/8 of a transaction to
// process, so a batch of N transactions may carry 8N raw commands.
inline constexpr std::size_t node_raw_per_transaction_slot = 8;
// Committed entries left in the raw queue behind an uncommitted head, beyond twice
// the pool, before one pass drops them all (amortised: one pass per this many).
inline constexpr std::size_t node_raw_queue_slack = 1024;
// One encoded receipt in the store's receipts of a block: id (32 B), status,
// fee and a few varints, well under 256 bytes.
inline constexpr std::size_t receipt_bytes_max = 256;
// Batches are rebuilt (copying up to a block of transactions) at most this often
// when only the pool changed.
inline constexpr std::uint64_t node_prepare_interval_min_ms = 1;
// --- client API ---------------------------------------------------------------------
// (src/node/client_protocol.h, docs/client-api.md)

// Transactions in one `submit` request: 256 keeps one request's admission (one
// parallel verify batch, well under mempool_admit_batch_max) near a millisecond
// per core with ML-DSA-65, yet amortises a round trip over many transactions.
inline constexpr std::size_t client_submit_batch_max = 256;
static_assert(client_submit_batch_max <= mempool_admit_batch_max, "one submit is one admission call");
// Raw benchmark commands (raw_command_bytes, above): 1,024 per request: 24 KiB of
// wire, enough to saturate a node from a handful of pipelined connections.
inline constexpr std::size_t client_raw_batch_max = 1024;
// One frame (either direction): the largest is a full submit, 256 transactions of
// transaction_bytes_max with a varint length each, plus the type, request id and
// count (1 + 8 + 3 B) with spare room: 256 x (16,384 + 10) + 64 = 4,196,928 B.
inline constexpr std::size_t client_frame_bytes_max =
    client_submit_batch_max * (transaction_bytes_max + varint_bytes_max) + 64;
static_assert(client_frame_bytes_max >= 64 + client_raw_batch_max * (8 + raw_command_bytes),
              "a full raw batch must fit in one frame");
static_assert(client_frame_bytes_max <= 0xFFFFFFFFu, "the frame length is a u32");
// A client may wait up to a minute for a receipt in one request: longer than any
// sane commit latency, short enough that a forgotten wait frees its slot.
inline constexpr std::uint32_t client_wait_timeout_ms_max = 60 * 1000;
// Short text of an `error` response (a reason for a human, not for parsing).
inline constexpr std::size_t client_error_text_bytes_max = 128;
// Open client connections per node. Worst-case receive memory is a frame being
// read per connection (buffers grow with the bytes actually received, so it takes
// clients that really send): 256 x 4 MiB = 1 GiB, plus the write queues below.
inline constexpr std::size_t client_connections_max = 256;
// In-flight requests per connection: the config key client.in_flight_max is
// checked against this (the same upper bound config.cc applies).
inline constexpr std::uint32_t client_in_flight_max = 65536;
// Response bytes queued per connection before the server stops reading from it
// (backpressure): 1 MiB is ~100 full submit results. Each in-flight request can
// add at most one more response after the pause, so the queue stays below
// 1 MiB + in_flight x (largest response, ~16 KiB).
inline constexpr std::size_t client_write_queue_bytes_max = 1024 * 1024;
// Receive buffer of a connection: frames up to this size are decoded in place;
// larger ones are received in pieces of this size, each allocated as the bytes
// before it arrive, and joined when complete (no doubling reallocations).
inline constexpr std::size_t client_receive_buffer_bytes = 64 * 1024;
// A connection with nothing in flight that sends nothing for this long is closed.
inline constexpr std::uint32_t client_idle_timeout_ms = 120 * 1000;
// A started frame must complete, and a started write must progress, within this
// time: 4 MiB at 10 Mbit/s is ~3.4 s; 10 s frees the buffers of a stalled client.
inline constexpr std::uint32_t client_frame_stall_timeout_ms = 10 * 1000;
static_assert(client_idle_timeout_ms > client_wait_timeout_ms_max);
// Connections from one source address (an IPv6 /64): a client host's pool
// (`kestrel submit` and the bench use one connection per node, a gateway a few
// dozen). 32 is an eighth of the port, so it takes 8 addresses to fill it, and a
// full port then evicts instead of refusing (node/connection_slots.h). It also
// caps what one address can hold in partial frames: 32 x 4 MiB = 128 MiB (held
// frames cost about their bytes in RSS, docs/client-api.md "Memory").
inline constexpr std::size_t client_connections_per_address_max = 32;
static_assert(client_connections_per_address_max <= client_connections_max);
// A new connection must deliver its first complete request within this, or it
// is closed (counted): a client sends its first request right after connecting.
// 5 s covers the largest first frame (4 MiB at 10 Mbit/s is ~3.4 s) and is 24x
// shorter than the idle timeout that otherwise frees a silent connection's slot.
inline constexpr std::uint32_t client_first_request_timeout_ms = 5 * 1000;
static_assert(client_first_request_timeout_ms < client_idle_timeout_ms);
static_assert(client_first_request_timeout_ms * 10ull * 1000 * 1000 / 8 / 1000 > client_frame_bytes_max,
              "a full first frame at 10 Mbit/s must fit in the first-request deadline");

// --- admin HTTP ---------------------------------------------------------------------

// An admin request is a GET line and a few headers (curl sends ~80 bytes, a
// browser ~1 KiB); 8 KiB is the common default of HTTP servers for the head, and
// a larger one is refused with 431 before any more is read.
inline constexpr std::size_t admin_request_bytes_max = 8 * 1024;
// Open admin connections: a Prometheus scraper, an operator's `kestrel status`,
// a dashboard or two. Beyond 16, new connections are closed at once (counted),
// so a client that opens many cannot hold memory or the io thread.
inline constexpr std::size_t admin_connections_max = 16;
// Admin connections from one source address: half the port. The admin port
// listens on loopback by default, where every local client shares 127.0.0.1, so
// an address at its share evicts its own longest-idle connection for a newcomer
// (node/connection_slots.h) rather than refusing it; the cap keeps one address
// from taking the other half's slots.
inline constexpr std::size_t admin_connections_per_address_max = 8;
static_assert(admin_connections_per_address_max <= admin_connections_max);
// The whole request head must arrive within this (a slow or silent client is
// closed); a local scraper sends it in one packet. A connection serves one
// request, so this is also the admin port's first-request deadline.
inline constexpr std::uint32_t admin_read_timeout_ms = 2000;
// The response must be taken within this: /metrics is at most a few MiB (below),
// which a reader on loopback or a LAN takes in well under a second.
inline constexpr std::uint32_t admin_write_timeout_ms = 10000;
// After a failed accept (out of file descriptors), wait this long before the
// next one instead of spinning; short enough that a scrape barely notices.
inline constexpr std::uint32_t admin_accept_backoff_ms = 100;
// Largest response the admin client (`kestrel status`) accepts. /metrics is the
// largest route: metric_series_max series, a histogram of ~50 lines of ~100
// bytes at worst, is under 16 MiB even if every series were a histogram.
inline constexpr std::size_t admin_response_bytes_max = 16 * 1024 * 1024;
// /stages JSON: 9 stages of ~150 bytes plus process figures; 64 KiB is far above it.
inline constexpr std::size_t stages_json_bytes_max = 64 * 1024;

// --- restart ---
// What a restarting validator reads back (docs/storage.md "Restart").

// Units (blocks, vertices) the consensus core stored and has not committed, owned by
// its journal (Store::unit_put). HotStuff-2 commits a block two views after it is
// certified, so a healthy replica holds a handful. A node votes only for a block it
// stored, so the store must hold every unit its core may hold
// (node_catch_up_blocks_max, a whole fetched chain); when it is full the node first
// drops the units its core has evicted (docs/node.md "One step of the core").
// unit_put refuses beyond it (StorageError::units_full).
inline constexpr std::size_t storage_journal_units_max = 16 * 1024;
static_assert(storage_journal_units_max >= node_catch_up_blocks_max,
              "the store holds every uncommitted unit the node's core may hold");
// ... and their bytes: journal_units() returns all of them at once on restart, so
// this is the memory that read costs. 512 MiB is 128 full 4 MiB proposals, or
// thousands of the small blocks a view without load proposes; twice the core's
// payload bound (256 MiB), the rest for headers and QCs (~10 KiB a block with four
// ML-DSA-65 validators; checked where the node configures its core).
inline constexpr std::size_t storage_journal_units_bytes_max = 512 * 1024 * 1024;
static_assert(storage_journal_units_bytes_max >= 4 * block_payload_bytes_max,
              "a few full uncommitted proposals must fit");
// The core's journal (Store::journal_put): opaque records only its protocol reads,
// all returned at once on restart. HotStuff-2 keeps two (its safety record, holding
// at most two quorum certificates, and a commit marker); a DAG core keeps a few
// thousand small ones (votes, round and certificate records). 16,384 is four times
// a few thousand; journal_put refuses beyond it (StorageError::journal_full).
inline constexpr std::size_t storage_journal_entries_max = 16 * 1024;
// A journal key: a tag and one or two 32-byte ids or a (round, author) pair. The
// store keeps every key in memory to check the bounds without reads: 16,384 keys
// of 128 B are about 3 MiB with the map's overhead.
inline constexpr std::size_t storage_journal_key_bytes_max = 128;
// Keys and values together: 32 MiB, the memory a restart's journal() read costs.
// HotStuff-2's safety record at the largest cluster (two QCs of 128 ML-DSA-87
// signatures, ~1.2 MiB) fits many times, and so do 16,384 DAG records of 1 KiB
// (16 MiB).
inline constexpr std::size_t storage_journal_bytes_max = 32 * 1024 * 1024;
static_assert(storage_journal_bytes_max >= 4 * quorum_certificate_bytes_max,
              "a safety record with a lock and a high QC fits, twice over");
static_assert(storage_journal_bytes_max >= storage_journal_entries_max * 1024,
              "a few thousand small records fit, four times over");
static_assert(storage_journal_bytes_max >= storage_value_bytes_max, "any one stored value fits in the journal");
// One page of Store::state_range: at most 4,096 entries and, past the first entry,
// at most 16 MiB (ledger entries are <= 97 B of key and 8 KiB of value, so a full
// page of the largest puts is 32 MiB; the byte bound halves the worst case).
inline constexpr std::size_t storage_state_page_entries_max = 4096;
inline constexpr std::size_t storage_state_page_bytes_max = 16 * 1024 * 1024;
static_assert(storage_state_page_bytes_max >= 2 * storage_value_bytes_max,
              "any one stored entry (key and value) fits in a page");
// Entries Ledger::restore asks for per page: large enough that the per-page cost
// (a RocksDB seek) is negligible, small enough to keep a page a few MiB.
inline constexpr std::size_t ledger_restore_page_entries = 1024;
static_assert(ledger_restore_page_entries <= storage_state_page_entries_max);
// Entries Ledger::restore accepts in all: the in-memory ledger needs > 100 B per
// entry, so 2^32 entries (> 400 GiB) is beyond any validator; the bound only stops
// a source that never ends.
inline constexpr std::uint64_t ledger_restore_entries_max = std::uint64_t{1} << 32;

// --- Adaptive tuner (perf/tuner.h, gate perf.adaptive_tuning) --------------------------

// Longest flush delay the tuner may choose: a leader that waits longer than this
// for a batch to fill has stopped being a latency trade-off (one second is far
// above any p99 target a validator is run with, and well inside a view timeout).
inline constexpr std::uint64_t tuner_flush_delay_us_max = 1000 * 1000;
// Largest p99 latency target: a target above a minute is not a latency target.
inline constexpr std::uint64_t tuner_latency_target_us_max = 60 * 1000 * 1000;
// Consecutive intervals a reversal (up after down, or down after up) must be
// asked for before it happens: the hysteresis in time. 64 intervals of the usual
// 100-500 ms is up to half a minute, beyond which the tuner would be too slow to
// follow load at all.
inline constexpr std::uint32_t tuner_reversal_intervals_max = 64;

// --- Node: adaptive tuner wiring (node.cc, gate perf.adaptive_tuning) -------------------

// Submit-to-commit latencies the node keeps per control interval for the tuner's
// p99 (a uniform reservoir sample beyond this): 65,536 samples give the p99 from
// ~650 observations above it, and cost 256 KiB; an interval of 500 ms at 100k
// commits/s would otherwise keep 50,000+.
inline constexpr std::size_t node_tuner_latency_samples_max = 64 * 1024;

// --- DAG consensus (src/dag, docs/dag.md) -------------------------------------------

// Ids in one vertex fetch request, and vertices in one response: a round of the
// largest cluster (validators_max) in one request, so a replica missing a round
// asks once; a peer asking for more is refused at decode.
inline constexpr std::size_t dag_fetch_ids_max = validators_max;
// A vertex on the wire: header (chain, round, author, parent count: 4 varints),
// at most validators_max parent ids, the payload and its length, the signature.
inline constexpr std::size_t dag_vertex_bytes_max = 4 * varint_bytes_max + validators_max * 32 +
                                                    varint_bytes_max + block_payload_bytes_max +
                                                    varint_bytes_max + signature_bytes_max;
// Vertices' bytes a fetch response carries: the responder stops adding vertices
// once past this (always at least one), so the response with the vertex that
// crossed it still fits in one network message.
inline constexpr std::size_t dag_fetch_response_bytes_max = message_size_max - dag_vertex_bytes_max - 16;
// The largest DAG message a decoder looks at: one network message.
inline constexpr std::size_t dag_message_bytes_max = message_size_max;
static_assert(dag_fetch_response_bytes_max + dag_vertex_bytes_max + 16 <= dag_message_bytes_max,
              "a full fetch response must fit in one message");
static_assert(dag_vertex_bytes_max + 16 <= dag_message_bytes_max, "a largest vertex must fit in one message");
// Vertices waiting for missing ancestors, in all. An estimate, not a
// measurement: the simulator restarts a crashed replica 0.1-1.6 s later
// (sim/world.h); at its 10 ms delay a round takes about two delays, so a
// restarted replica is up to ~80 rounds behind and waits for ~80 x n vertices
// while it fetches; 8,192 covers that up to n = 100. Each
// author gets an equal share of it (at least 16), so a Byzantine author's flood
// fills only its own. Beyond it newcomers are dropped (counted) and fetched
// again when referenced.
inline constexpr std::size_t dag_pending_vertices_max = 8192;
// Their payload bytes in all: pending vertices of a Byzantine author cannot hold
// more than this of a node's memory (64 maximal payloads).
inline constexpr std::size_t dag_pending_bytes_max = 256 * 1024 * 1024;
// How far ahead of the highest round it holds a replica accepts vertices: a
// Byzantine author's far-future rounds are dropped, not buffered. A round takes
// at least one message delay, so 1,000 rounds is beyond what an honest peer can
// be ahead by while this replica is up.
inline constexpr std::uint64_t dag_rounds_ahead_max = 1000;
// Rounds an author may run ahead of the last decided leader slot: while commits
// stall (asynchrony, a partition) the DAG stops growing here instead of without
// bound; with the GC depth this bounds the rounds in memory.
inline constexpr std::uint64_t dag_rounds_undecided_max = 256;
// Vertex ids with a fetch outstanding: a round of the largest cluster, twice.
inline constexpr std::size_t dag_fetches_outstanding_max = 2 * validators_max;

}  // namespace kestrel::limits
