// kestrel-gate-smoke: one small workload per optimization gate, run with the gate
// on or off, for scripts/gate-smoke (docs/performance.md "Gate smoke"). Each
// workload yields a DETERMINISTIC figure, never a wall-clock time:
//   - instruction workloads do their work inside kestrel_gate_smoke_workload(),
//     which scripts/gate-smoke counts with callgrind (--toggle-collect on that
//     function: only the calling thread's instructions while inside it, so set-up
//     such as key generation or opening a store is not counted);
//   - count workloads print a count the code under test keeps (synced writes,
//     frames, buffer allocations, verifications) and need no valgrind.
//
// Usage: kestrel-gate-smoke --gate NAME=on|off WORKLOAD
//        kestrel-gate-smoke --list
// Output (stdout, one line): `instructions` (the script reads callgrind's
// totals), `count FIGURE VALUE`, or `skip REASON` (exit 0 in every case);
// exit 2 on a usage error, 1 when a workload fails.
#include <stdlib.h>  // mkdtemp

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/cpu.h"
#include "common/gates.h"
#include "common/hash.h"
#include "crypto/mlkem.h"
#include "crypto/parallel_verify.h"
#include "crypto/signature.h"
#include "crypto/verify_cache.h"
#include "execution/execution.h"
#include "hotstuff2/hotstuff2.h"
#include "mempool/mempool.h"
#include "net/net.h"
#include "storage/storage.h"

// The measured region: callgrind counts instructions only between entry and
// exit of this function (--toggle-collect). External linkage, extern "C" and
// noinline keep one stable, unmangled symbol that is never inlined or cloned.
extern "C" __attribute__((noinline)) void kestrel_gate_smoke_workload(void (*work)(void*), void* context);
extern "C" void kestrel_gate_smoke_workload(void (*work)(void*), void* context) {
  work(context);
  asm volatile("" ::: "memory");
}

namespace {

using namespace kestrel;

// Results the optimizer must not drop.
volatile std::uint8_t sink;

template <typename F>
void measured(F& f) {
  kestrel_gate_smoke_workload([](void* c) { (*static_cast<F*>(c))(); }, &f);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "kestrel-gate-smoke: %s\n", what);
  std::exit(1);
}

// --- Instruction workloads ----------------------------------------------------------

// 2,000 SHA-256 of 64 bytes (a transaction id's size class).
int sha256_reuse_context() {
  Bytes data(64, 0x5a);
  auto work = [&] {
    for (int i = 0; i < 2000; ++i) {
      data[0] = static_cast<std::uint8_t>(i);
      sink = sha256(data).bytes[0];
    }
  };
  measured(work);
  std::printf("instructions\n");
  return 0;
}

// A block with a 256 KiB payload whose id is asked for 8 times (the uses a
// validator has for one proposal: signature check, core, store, signing, in-flight
// tracking).
int block_id_memo() {
  hotstuff2::Block block;
  block.view = 7;
  block.height = 5;
  block.payload.assign(256 * 1024, 0x33);
  auto work = [&] {
    for (int i = 0; i < 8; ++i) sink = block.id().bytes[0];
  };
  measured(work);
  std::printf("instructions\n");
  return 0;
}

// ML-KEM-768 key generation, encapsulation and decapsulation, 3 times, from
// fixed seeds (the path is chosen by the gate and the CPU).
int avx2() {
  if (!cpu_features().avx2) {
    std::printf("skip this CPU has no AVX2 (with BMI2 and POPCNT): only the portable path exists here\n");
    return 0;
  }
  using namespace crypto::mlkem;
  const auto s = sizes(ParameterSet::ml_kem_768);
  Bytes ek(s.ek_bytes), dk(s.dk_bytes), ct(s.ciphertext_bytes);
  std::array<std::uint8_t, seed_bytes> d{}, z{}, m{};
  std::array<std::uint8_t, shared_key_bytes> k1{}, k2{};
  bool ok = true;
  auto work = [&] {
    for (std::uint8_t i = 0; i < 3; ++i) {
      d[0] = z[0] = m[0] = i;
      ok &= keygen_internal(ParameterSet::ml_kem_768, ek, dk, d, z).ok();
      ok &= encaps_internal(ParameterSet::ml_kem_768, k1, ct, ek, m).ok();
      ok &= decaps_internal(ParameterSet::ml_kem_768, k2, ct, dk).ok();
    }
  };
  measured(work);
  if (!ok || k1 != k2) fail("ML-KEM round trip failed");
  std::printf("instructions\n");
  return 0;
}

// A Verifier that counts the verifications that really happen.
class CountingVerifier final : public crypto::Verifier {
 public:
  explicit CountingVerifier(const crypto::Verifier& inner) : inner_(inner) {}
  crypto::SignatureScheme scheme() const override { return inner_.scheme(); }
  ByteSpan public_key() const override { return inner_.public_key(); }
  Status<crypto::CryptoError> verify(ByteSpan message, ByteSpan signature) const override {
    ++calls;
    return inner_.verify(message, signature);
  }
  mutable std::uint64_t calls = 0;

 private:
  const crypto::Verifier& inner_;
};

// 16 ML-DSA-65 signatures, each checked 4 times through one VerifyCache (a
// transaction seen at ingress and again in a proposal, a vote seen alone and
// again in a QC): how many real verifications that costs. A count, not an
// instruction total, because valgrind hides SHA-NI from OpenSSL: under
// callgrind the cache key (SHA-256 over public key, message and signature,
// ~5.3 KB) costs ~150k instructions, as much as one AVX2 ML-DSA-65
// verification, while natively (SHA-NI) a hit is ~10x cheaper than a verify
// (BM_VerifyCacheHit vs BM_MlDsaVerify) — instructions would misjudge the gate.
int verify_cache() {
  const auto signer = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
  CountingVerifier verifier(signer->verifier());
  std::vector<Bytes> messages, signatures;
  for (int i = 0; i < 16; ++i) {
    messages.push_back(Bytes(100, static_cast<std::uint8_t>(i)));
    signatures.emplace_back();
    signer->sign(messages.back(), signatures.back());
  }
  crypto::VerifyCache cache(64);
  bool ok = true;
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < messages.size(); ++i) {
      ok &= cache.verify(verifier, messages[i], signatures[i]).ok();
    }
  }
  if (!ok) fail("a signature did not verify");
  std::printf("count verifications_per_64_checks %llu\n", static_cast<unsigned long long>(verifier.calls));
  return 0;
}

// One batch of 32 ML-DSA-65 signatures through a 2-thread ParallelVerifier: the
// calling thread's instructions (the figure the gate should lower; the worker's
// are not counted). Which items the worker takes depends on scheduling, so the
// figure varies between runs, but it can only exceed the off side's by the
// hand-off overhead unless the gate adds work to the caller.
int parallel_verify() {
  const auto signer = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
  std::vector<Bytes> messages(32), signatures(32);
  std::vector<crypto::VerifyItem> items;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    messages[i] = Bytes(100, static_cast<std::uint8_t>(i));
    signer->sign(messages[i], signatures[i]);
  }
  for (std::size_t i = 0; i < messages.size(); ++i) items.push_back({&signer->verifier(), messages[i], signatures[i]});
  crypto::ParallelVerifier verifier(2);
  std::vector<std::uint8_t> valid(items.size());
  bool ok = true;
  auto work = [&] { ok = verifier.verify_batch(items, valid).ok(); };
  measured(work);
  for (auto v : valid) ok &= v == 1;
  if (!ok) fail("the batch did not verify");
  std::printf("instructions\n");
  return 0;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char pattern[] = "/tmp/kestrel-gate-smoke-XXXXXX";
    if (mkdtemp(pattern) == nullptr) fail("cannot create a temporary directory");
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::unique_ptr<storage::Store> open_store(const TempDir& dir) {
  storage::Options options;
  options.path = (dir.path / "store").string();
  options.cluster_id.bytes[0] = 1;
  std::string detail;
  auto store = storage::Store::open(options, &detail);
  if (!store) fail(("cannot open the store: " + detail).c_str());
  return std::move(store).value();
}

// `count` commits as a node writes them: each appended to the commit stream and
// executed (receipts, digest) at once.
Status<storage::StorageError> append_commits(storage::Store& store, std::uint64_t count, std::size_t unit_bytes) {
  const Bytes unit(unit_bytes, 0x42), proof(256, 0x43), receipts(64, 0x44);
  for (std::uint64_t h = store.committed_height() + 1, end = h + count; h < end; ++h) {
    Hash32 id;
    std::memcpy(id.bytes.data(), &h, sizeof h);
    KESTREL_TRY(store.append_commit(h, id, unit, proof));
    KESTREL_TRY(store.apply_execution(h, receipts, {}, id));
  }
  return {};
}

// 32 recent 4 KiB units read 4 times each (catch-up serving the same tail).
int block_cache() {
  TempDir dir;
  auto store = open_store(dir);
  if (!append_commits(*store, 64, 4096).ok() || !store->flush().ok()) fail("cannot append commits");
  bool ok = true;
  auto work = [&] {
    for (int round = 0; round < 4; ++round) {
      for (std::uint64_t h = 33; h <= 64; ++h) {
        auto commit = store->commit_at(h);
        ok &= commit.ok() && commit->unit->size() == 4096;
      }
    }
  };
  measured(work);
  if (!ok) fail("a commit read failed");
  std::printf("instructions\n");
  return 0;
}

// --- Count workloads ------------------------------------------------------------------

// 128 commits (append_commit and apply_execution each) and a flush: how many
// synced writes they cost.
int write_batching() {
  TempDir dir;
  auto store = open_store(dir);
  const auto before = store->counters().synced_writes;
  if (!append_commits(*store, 128, 1024).ok() || !store->flush().ok()) fail("cannot append commits");
  std::printf("count synced_writes_per_128_commits %llu\n",
              static_cast<unsigned long long>(store->counters().synced_writes - before));
  return 0;
}

// Messages queued while no session exists, then delivered over loopback, in
// rounds (each round queued only after the previous one arrived): what the
// sender's counters say. Queuing a whole round first makes the figure
// independent of timing: the writer finds the round waiting.
struct NetFigures {
  std::uint64_t frames_sent;
  std::uint64_t buffer_allocations;  // pool misses: buffers that came from the allocator
};

NetFigures run_net(int rounds, std::uint64_t messages_per_round, std::size_t message_bytes) {
  Hash32 cluster;
  cluster.bytes[0] = 7;
  std::vector<std::unique_ptr<crypto::Signer>> signers;
  std::vector<const crypto::Verifier*> verifiers;
  for (int i = 0; i < 2; ++i) {
    signers.push_back(crypto::generate_signer(crypto::SignatureScheme::ed25519));
    verifiers.push_back(&signers.back()->verifier());
  }
  std::atomic<std::uint64_t> received{0};
  std::unique_ptr<net::Network> nodes[2];
  for (int i = 0; i < 2; ++i) {
    net::NetworkConfig c;
    c.self = static_cast<net::ValidatorId>(i);
    c.cluster_id = cluster;
    c.identity = signers[i].get();
    c.validators = verifiers;
    c.key_exchange = net::KeyExchange::x25519;
    // No keepalive frames during the run (they would add timing-dependent frames).
    c.keepalive_interval = std::chrono::milliseconds(20'000);
    c.idle_timeout = std::chrono::milliseconds(60'000);
    auto started = net::Network::start(c, [&](net::ValidatorId, std::uint16_t, ByteSpan) {
      received.fetch_add(1, std::memory_order_relaxed);
    });
    if (!started) fail(net::describe(started.error()));
    nodes[i] = std::move(started.value());
  }
  Bytes payload(message_bytes, 0x11);
  const auto before = nodes[0]->counters();
  for (int round = 0; round < rounds; ++round) {
    for (std::uint64_t i = 0; i < messages_per_round; ++i) {
      payload[0] = static_cast<std::uint8_t>(i);
      if (!nodes[0]->try_send(1, 1, payload).ok()) fail("try_send refused a message");
    }
    if (round == 0) {
      nodes[1]->set_peer_address(0, {"127.0.0.1", nodes[0]->listen_port()});
      nodes[0]->set_peer_address(1, {"127.0.0.1", nodes[1]->listen_port()});
    }
    const std::uint64_t target = messages_per_round * static_cast<std::uint64_t>(round + 1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received.load() < target) {
      if (std::chrono::steady_clock::now() > deadline) fail("messages not delivered within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // The sender's writer returns its buffers to the pool just after the last
    // write; give it that moment so the next round can reuse them.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto after = nodes[0]->counters();
  for (auto& n : nodes) n->stop();
  return {after.frames_sent - before.frames_sent, after.buffer_pool_misses - before.buffer_pool_misses};
}

// 4,000 messages of 64 bytes in one round: frames on the wire.
int adaptive_batching() {
  std::printf("count frames_per_4000_messages %llu\n",
              static_cast<unsigned long long>(run_net(1, 4000, 64).frames_sent));
  return 0;
}

// 8 rounds of 48 messages of 32 KiB (1.5 MiB, two send blocks per round):
// buffers taken from the allocator rather than the pool.
int buffer_pool() {
  std::printf("count buffer_allocations_per_8_rounds %llu\n",
              static_cast<unsigned long long>(run_net(8, 48, 32 * 1024).buffer_allocations));
  return 0;
}

// 16 ML-DSA-65 transfers admitted to a mempool, then checked again as a peer's
// proposal: how many verify-cache probes (each a SHA-256 over key, message and
// signature, or a verification) the proposal check costs. A count, for the same
// reason as verify_cache: under callgrind SHA-256 runs without SHA-NI.
int known_transactions() {
  crypto::VerifyCache cache(1024);
  crypto::ParallelVerifier verifier(1, &cache);
  mempool::Config config;
  config.chain_id = 3;
  mempool::Mempool pool(config, verifier, [](const execution::AccountId&) { return std::uint64_t{0}; });
  auto signer = crypto::generate_signer(crypto::SignatureScheme::ml_dsa_65);
  std::vector<Bytes> txs;
  for (std::uint64_t nonce = 0; nonce < 16; ++nonce) {
    txs.push_back(execution::encode_transaction(
        execution::make_signed(*signer, 3, nonce, execution::Transfer{execution::AccountId{}, 1})));
  }
  std::vector<ByteSpan> spans(txs.begin(), txs.end());
  for (const auto& r : pool.admit(spans)) {
    if (!r) fail("a transaction was not admitted");
  }
  const std::uint64_t before = cache.hits() + cache.misses();
  if (!pool.verify_proposal(spans)) fail("the proposal was refused");
  std::printf("count verify_cache_probes_per_16_transactions %llu\n",
              static_cast<unsigned long long>(cache.hits() + cache.misses() - before));
  return 0;
}

struct Workload {
  std::string_view gate;
  std::string_view kind;  // "instructions" or "count"
  int (*run)();
};

constexpr Workload workloads[] = {
    {"common.sha256_reuse_context", "instructions", sha256_reuse_context},
    {"crypto.avx2", "instructions", avx2},
    {"crypto.verify_cache", "count", verify_cache},
    {"crypto.parallel_verify", "instructions", parallel_verify},
    {"storage.block_cache", "instructions", block_cache},
    {"consensus.block_id_memo", "instructions", block_id_memo},
    {"mempool.known_transactions", "count", known_transactions},
    {"storage.write_batching", "count", write_batching},
    {"net.adaptive_batching", "count", adaptive_batching},
    {"net.buffer_pool", "count", buffer_pool},
};

int usage() {
  std::fprintf(stderr, "usage: kestrel-gate-smoke --gate NAME=on|off WORKLOAD | --list\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  if (args.size() == 1 && args[0] == "--list") {
    for (const auto& w : workloads) std::printf("%.*s %.*s\n", static_cast<int>(w.gate.size()), w.gate.data(),
                                                static_cast<int>(w.kind.size()), w.kind.data());
    return 0;
  }
  if (args.size() != 3 || args[0] != "--gate") return usage();
  const auto setting = parse_gate_setting(args[1]);
  if (!setting) {
    std::fprintf(stderr, "kestrel-gate-smoke: --gate %.*s: %s\n", static_cast<int>(args[1].size()), args[1].data(),
                 describe(setting.error()));
    return 2;
  }
  set_gate(setting->gate, setting->enabled);
  for (const auto& w : workloads) {
    if (w.gate == args[2]) return w.run();
  }
  std::fprintf(stderr, "kestrel-gate-smoke: no workload named %.*s (see --list)\n", static_cast<int>(args[2].size()),
               args[2].data());
  return 2;
}
