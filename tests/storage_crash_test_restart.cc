// Restart test of storage + execution (docs/storage.md "Restart"): what a
// restarting validator reads back — safety record, pending (uncommitted) blocks,
// committed blocks, and the ledger rebuilt from the stored state, checked against
// the stored state digest.
//
// A "validator" loop, run in a child process: restart from the store (the
// procedure below), then repeat: build block h+1 deterministically from the
// ledger (transfers and puts among 40 accounts, some failing), put it and
// sometimes a competing fork block as pending blocks, write the safety record
// (view = h + 1; one synced write takes the pending blocks with it), execute the
// block, append it with its receipts, state writes and state digest (which
// deletes its pending entry in the same batch), delete the fork block, and
// sometimes flush. After a safety write or flush RETURNS, it reports "D <height>"
// on a pipe.
//
// Phase 1, clean restarts: for each side of the gate storage.write_batching, 150
// blocks, close, reopen, restart: the pending set, safety record and ledger digest
// are exactly what was written.
// Phase 2, kills: the parent SIGKILLs the child 5..60 ms after its first
// acknowledgement, reopens the store and checks:
//   1. the restart procedure succeeds: the ledger restored from state_range pages
//      has the digest the store holds for the committed height (last_state_digest);
//   2. committed height >= every acknowledged height, never decreasing;
//   3. the parent's own ledger, executing the same deterministic blocks from
//      genesis, has that digest too at the committed height, and the digest stored
//      at every kept height;
//   4. pending blocks: the real block at committed + 1 (if present) is exactly the
//      block the restored ledger would build; fork blocks are at heights
//      >= committed (one at the committed height may survive a crash between the
//      append and its delete with batching off; the restart deletes those);
//   5. the safety record's view is committed height or committed height + 1... at
//      least the last acknowledged view, never backwards.
// The next child restarts from that store (so each round is a real restart),
// alternating the gate. Bounded: 20 kills (8 under sanitizers).
//
// Usage: storage_crash_test_restart [kills] [seed]
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/codec.h"
#include "common/gates.h"
#include "common/limits.h"
#include "common/prng.h"
#include "execution/execution.h"
#include "storage/storage.h"

namespace {

using namespace kestrel;
namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr int default_kills = 8;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int default_kills = 8;
#else
constexpr int default_kills = 20;
#endif
#else
constexpr int default_kills = 20;
#endif

constexpr std::uint32_t chain = 77;
constexpr std::size_t parties = 40;
constexpr std::uint64_t keep_blocks = 32;

std::string failure;  // set by check(); the phase returns false
bool check(bool condition, const std::string& what) {
  if (!condition && failure.empty()) failure = what;
  return condition;
}

execution::Transaction party_tx(std::size_t party, std::uint64_t nonce, std::variant<execution::Transfer, execution::Put> payload) {
  execution::Transaction tx;
  tx.chain_id = chain;
  tx.scheme = crypto::SignatureScheme::ed25519;
  tx.sender_public_key = Bytes(32, 0x33);
  tx.sender_public_key[0] = static_cast<std::uint8_t>(party);
  tx.nonce = nonce;
  tx.payload = std::move(payload);
  tx.signature = Bytes(64, 0);  // the ledger does not verify; the driver would
  return tx;
}
execution::AccountId party_id(std::size_t party) { return execution::sender_of(party_tx(party, 0, execution::Transfer{{}, 1})); }

std::vector<execution::GenesisAllocation> genesis() {
  std::vector<execution::GenesisAllocation> g;
  for (std::size_t p = 0; p < parties; p += 2) g.push_back({party_id(p), 10'000});
  return g;
}

// Block h+1 is a function of h and the ledger after h: replayable by the parent.
std::vector<execution::Transaction> make_block(std::uint64_t height, const execution::Ledger& ledger) {
  Prng prng(height * 1'000'003 + 17);
  std::vector<execution::Transaction> txs;
  std::map<std::size_t, std::uint64_t> nonce;
  const std::size_t count = prng.uniform(12);
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t from = prng.uniform(parties);
    if (!nonce.contains(from)) nonce[from] = ledger.account(party_id(from)).nonce;
    if (prng.chance(1, 2)) {
      txs.push_back(party_tx(from, nonce[from]++, execution::Transfer{party_id(prng.uniform(parties)), 1 + prng.uniform(3000)}));
    } else {
      Bytes value(prng.uniform(64), 0);
      prng.fill(value);
      txs.push_back(party_tx(from, nonce[from]++, execution::Put{Bytes{static_cast<std::uint8_t>(prng.uniform(6))}, value}));
    }
  }
  return txs;
}

std::vector<execution::TransactionId> ids_of(const std::vector<execution::Transaction>& txs) {
  std::vector<execution::TransactionId> ids;
  for (const auto& tx : txs) ids.push_back(execution::transaction_id(execution::encode_transaction(tx)));
  return ids;
}

// Pending block bytes: kind (0 real, 1 fork), height, then the transactions.
Bytes encode_block(std::uint8_t kind, std::uint64_t height, const std::vector<execution::Transaction>& txs) {
  Bytes out;
  Writer w(out);
  w.u8(kind);
  w.u64(height);
  w.varint(txs.size());
  for (const auto& tx : txs) w.bytes(execution::encode_transaction(tx), limits::transaction_bytes_max);
  return out;
}
std::pair<std::uint8_t, std::uint64_t> block_kind_height(const Bytes& block) {
  Reader r(block);
  auto kind = r.u8();
  auto height = r.u64();
  return {kind ? *kind : 0xff, height ? *height : 0};
}
Bytes fork_block(std::uint64_t height) { return encode_block(1, height, {}); }

Bytes encode_receipts(const std::vector<execution::Receipt>& receipts) {
  Bytes out;
  Writer w(out);
  w.varint(receipts.size());
  for (const auto& r : receipts) w.bytes(execution::encode_receipt(r), 64);
  return out;
}
std::optional<std::vector<execution::Receipt>> decode_receipts(ByteSpan bytes) {
  Reader r(bytes);
  auto count = r.varint_max(limits::block_transactions_max);
  if (!count) return std::nullopt;
  std::vector<execution::Receipt> out;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto one = r.bytes(64);
    if (!one) return std::nullopt;
    auto receipt = execution::decode_receipt(*one);
    if (!receipt) return std::nullopt;
    out.push_back(*receipt);
  }
  if (!r.finish()) return std::nullopt;
  return out;
}

std::uint64_t view_of(const Bytes& record) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8 && i < static_cast<int>(record.size()); ++i) v |= std::uint64_t{record[i]} << (8 * i);
  return v;
}
Bytes safety_bytes(std::uint64_t view) {
  Bytes b(600, static_cast<std::uint8_t>(view));
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(view >> (8 * i));
  return b;
}

storage::Options options_for(const std::string& path) {
  storage::Options o;
  o.path = path;
  o.cluster_id = sha256(as_bytes("restart-test"));
  o.keep_blocks = keep_blocks;
  return o;
}

// A new store: the genesis state written once (the node does this at `init`).
bool create_store(const std::string& path) {
  auto store = storage::Store::open(options_for(path));
  if (!check(store.ok(), "create the store")) return false;
  auto ledger = std::move(execution::Ledger::create(chain, genesis())).value();
  Bytes after;
  for (;;) {  // ends: each page moves `after` forward through a finite state
    const auto page = ledger.state_entries(after, limits::ledger_restore_page_entries);
    if (page.empty()) break;
    for (const auto& e : page) {
      if (!check((*store)->put_state(e.key, e.value).ok(), "write genesis state")) return false;
    }
    after = page.back().key;
  }
  return check((*store)->flush().ok(), "flush genesis state");
}

struct Restarted {
  execution::Ledger ledger;
  std::optional<Bytes> safety_record;
  std::vector<std::pair<Hash32, Bytes>> pending;
};

// The restart procedure (docs/storage.md "Restart"), in its order.
std::optional<Restarted> restart(storage::Store& store) {
  auto safety = store.safety_record();
  if (!check(safety.ok(), "read the safety record")) return std::nullopt;
  auto pending = store.pending_blocks();
  if (!check(pending.ok(), "read the pending blocks")) return std::nullopt;
  const std::uint64_t height = store.committed_height();
  // The last committed blocks (all kept ones here) must be readable.
  for (std::uint64_t h = store.first_kept_height(); h <= height; ++h) {
    if (!check(store.block_at(h).ok(), "read committed block " + std::to_string(h))) return std::nullopt;
  }
  std::vector<execution::Receipt> receipts;
  if (height > 0) {
    auto bytes = store.receipts(height);
    if (!check(bytes.ok(), "read the last receipts")) return std::nullopt;
    auto decoded = decode_receipts(*bytes);
    if (!check(decoded.has_value(), "decode the last receipts")) return std::nullopt;
    receipts = std::move(*decoded);
  }
  std::optional<storage::StorageError> source_error;
  const execution::StatePageSource source = [&](ByteSpan after, std::size_t max)
      -> std::optional<std::vector<execution::StateEntry>> {
    auto page = store.state_range(after, max);
    if (!page) {
      source_error = page.error();
      return std::nullopt;
    }
    return std::move(page).value();
  };
  auto ledger = execution::Ledger::restore(chain, height, receipts, source);
  if (!check(ledger.ok(), std::string("restore the ledger: ") + (ledger.ok() ? "" : execution::describe(ledger.error())))) {
    return std::nullopt;
  }
  Hash32 expected;
  if (height == 0) {
    expected = execution::Ledger::create(chain, genesis())->state_digest();
  } else {
    auto stored = store.last_state_digest();
    if (!check(stored.ok(), "read the last state digest")) return std::nullopt;
    expected = *stored;
  }
  if (!check(ledger->state_digest() == expected,
             "restored digest " + ledger->state_digest().hex() + " != stored " + expected.hex() + " at height " +
                 std::to_string(height))) {
    return std::nullopt;
  }
  return Restarted{std::move(ledger).value(), std::move(*safety), std::move(*pending)};
}

void say(int fd, std::uint64_t height) {
  if (fd < 0) return;
  char line[32];
  const int n = std::snprintf(line, sizeof line, "D %llu\n", static_cast<unsigned long long>(height));
  if (::write(fd, line, static_cast<std::size_t>(n)) != n) _exit(3);
}

// The validator loop. Returns false (failure set) on any error; steps bounded.
bool run_validator(storage::Store& store, std::uint64_t steps, std::uint64_t seed, int fd,
                   std::set<Hash32>* pending_model) {
  auto restarted = restart(store);
  if (!restarted) return false;
  execution::Ledger ledger = std::move(restarted->ledger);
  // Forks at or below the committed height lost: delete them (as the node does).
  for (const auto& [id, block] : restarted->pending) {
    if (block_kind_height(block).second <= store.committed_height()) {
      if (!check(store.delete_pending_block(id).ok(), "delete a stale pending block")) return false;
      if (pending_model != nullptr) pending_model->erase(id);
    }
  }
  Prng prng(seed);
  for (std::uint64_t step = 0; step < steps; ++step) {
    const std::uint64_t h = store.committed_height() + 1;
    const auto txs = make_block(h, ledger);
    const Bytes block = encode_block(0, h, txs);
    const Hash32 id = sha256(block);
    if (!check(store.put_pending_block(id, block).ok(), "put pending block")) return false;
    const Bytes fork = fork_block(h);
    const bool with_fork = prng.chance(1, 3);
    if (with_fork && !check(store.put_pending_block(sha256(fork), fork).ok(), "put fork block")) return false;
    if (pending_model != nullptr) {
      pending_model->insert(id);
      if (with_fork) pending_model->insert(sha256(fork));
    }
    if (!check(store.write_safety_record(safety_bytes(h)).ok(), "write safety record")) return false;
    say(fd, store.durable_height());
    auto result = ledger.execute_block(h, txs, ids_of(txs));
    if (!check(result.ok(), "execute")) return false;
    std::vector<storage::StateWrite> writes;
    for (const auto& w : result->state_writes) writes.push_back({w.key, w.value});
    if (!check(store.append_block(h, id, block, Bytes(16, 0xce), encode_receipts(result->receipts), writes,
                                  &result->state_digest)
                   .ok(),
               "append block")) {
      return false;
    }
    if (pending_model != nullptr) pending_model->erase(id);
    // Committing height h retires every other block at h: the fork put now, or one
    // put before a crash (a no-op when there is none).
    if (!check(store.delete_pending_block(sha256(fork)).ok(), "delete fork block")) return false;
    if (pending_model != nullptr) pending_model->erase(sha256(fork));
    if (prng.chance(1, 4)) {
      if (!check(store.flush().ok(), "flush")) return false;
      say(fd, store.durable_height());
    }
  }
  return true;
}

bool clean_restarts(const fs::path& dir) {
  for (bool batching : {false, true}) {
    set_gate(Gate::storage_write_batching, batching);
    fs::remove_all(dir);
    if (!create_store(dir.string())) return false;
    std::set<Hash32> model;
    std::uint64_t height = 0;
    Hash32 digest;
    for (int session = 0; session < 3; ++session) {
      auto store = storage::Store::open(options_for(dir.string()));
      if (!check(store.ok(), "reopen")) return false;
      if (!run_validator(**store, 50, 1000 + session, -1, &model)) return false;
      // Leave one block pending (proposed, not committed) and one fork, as a cluster
      // stopped mid-view would.
      const auto restarted = restart(**store);
      if (!restarted) return false;
      const std::uint64_t h = (*store)->committed_height() + 1;
      const Bytes block = encode_block(0, h, make_block(h, restarted->ledger));
      if (!check((*store)->put_pending_block(sha256(block), block).ok(), "put pending")) return false;
      if (!check((*store)->put_pending_block(sha256(fork_block(h)), fork_block(h)).ok(), "put fork")) return false;
      model.insert(sha256(block));
      model.insert(sha256(fork_block(h)));
      if (!check((*store)->write_safety_record(safety_bytes(h)).ok(), "safety")) return false;
      height = (*store)->committed_height();
      digest = restarted->ledger.state_digest();
      store->reset();  // close
      auto reopened = storage::Store::open(options_for(dir.string()));
      if (!check(reopened.ok(), "reopen after close")) return false;
      auto back = restart(**reopened);
      if (!back) return false;
      std::set<Hash32> pending_ids;
      for (const auto& [id, bytes] : back->pending) pending_ids.insert(id);
      if (!check(pending_ids == model, "pending blocks after a clean restart (" + std::to_string(pending_ids.size()) +
                                           " stored, " + std::to_string(model.size()) + " expected, session " +
                                           std::to_string(session) + ")")) {
        return false;
      }
      if (!check(back->safety_record && *back->safety_record == safety_bytes(h), "safety record after restart")) return false;
      if (!check((*reopened)->committed_height() == height && back->ledger.state_digest() == digest,
                 "height and digest after restart")) {
        return false;
      }
      // The next session's first block commits the pending block h (and erases it
      // from the model); the fork stays until a restart finds it at or below the
      // committed height and deletes it.
    }
    std::printf("clean restarts (%s): height %llu, digest %s\n", batching ? "batching" : "no batching",
                static_cast<unsigned long long>(height), digest.hex().substr(0, 16).c_str());
  }
  return true;
}

[[noreturn]] void child(const std::string& path, int fd, std::uint64_t seed, bool batching) {
  set_gate(Gate::storage_write_batching, batching);
  std::string detail;
  auto store = storage::Store::open(options_for(path), &detail);
  if (!store) {
    std::fprintf(stderr, "child: open failed: %s: %s\n", storage::describe(store.error()), detail.c_str());
    _exit(2);
  }
  if (!run_validator(**store, 1'000'000, seed, fd, nullptr)) {  // killed long before the end
    std::fprintf(stderr, "child: %s\n", failure.c_str());
    _exit(4);
  }
  _exit(0);
}

int fail(const std::string& what, int round) {
  std::fprintf(stderr, "FAIL round %d: %s\n", round, what.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int kills = argc > 1 ? std::atoi(argv[1]) : default_kills;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10)
                                      : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::printf("storage_crash_test_restart: %d kills, seed %llu (replay: storage_crash_test_restart %d %llu)\n", kills,
              static_cast<unsigned long long>(seed), kills, static_cast<unsigned long long>(seed));
  const fs::path dir = fs::temp_directory_path() / ("kestrel-restart-" + std::to_string(::getpid()));
  const auto start = std::chrono::steady_clock::now();
  if (!clean_restarts(dir)) return fail(failure, -1);

  fs::remove_all(dir);
  if (!create_store(dir.string())) return fail(failure, -1);
  Prng prng(seed);
  // The parent's own replay of the chain, from genesis.
  auto replay = std::move(execution::Ledger::create(chain, genesis())).value();
  std::uint64_t last_height = 0, last_view = 0, max_acked = 0;
  for (int round = 0; round < kills; ++round) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return fail("pipe", round);
    const bool batching = round % 2 == 0;
    const std::uint64_t child_seed = prng.next_u64();
    const pid_t pid = ::fork();
    if (pid < 0) return fail("fork", round);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      child(dir.string(), pipe_fds[1], child_seed, batching);
    }
    ::close(pipe_fds[1]);
    const auto deadline_ms = 5 + prng.uniform(56);
    std::string buffer;
    bool started = false;
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      if (started && elapsed >= static_cast<long>(deadline_ms)) break;
      if (!started && elapsed > 20'000) break;
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1) > 0) {
        char chunk[4096];
        const auto n = ::read(pipe_fds[0], chunk, sizeof chunk);
        if (n <= 0) break;  // the child exited on its own (an error)
        buffer.append(chunk, static_cast<std::size_t>(n));
        if (!started) t0 = std::chrono::steady_clock::now();
        started = true;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    for (;;) {
      char chunk[4096];
      const auto n = ::read(pipe_fds[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return fail("child did not die by SIGKILL (it failed on its own: status " + std::to_string(status) + ")", round);
    }
    for (std::size_t at = 0; (at = buffer.find('D', at)) != std::string::npos; ++at) {
      max_acked = std::max<std::uint64_t>(max_acked, std::strtoull(buffer.c_str() + at + 2, nullptr, 10));
    }
    std::string detail;
    auto store = storage::Store::open(options_for(dir.string()), &detail);
    if (!store) return fail(std::string("reopen: ") + storage::describe(store.error()) + ": " + detail, round);
    auto restarted = restart(**store);
    if (!restarted) return fail(failure, round);
    const std::uint64_t height = (*store)->committed_height();
    if (height < max_acked) return fail("acknowledged height lost: " + std::to_string(height) + " < " + std::to_string(max_acked), round);
    if (height < last_height) return fail("committed height went backwards", round);
    // The parent's replay reaches the same digests.
    while (replay.height() < height) {
      const std::uint64_t h = replay.height() + 1;
      const auto txs = make_block(h, replay);
      auto r = replay.execute_block(h, txs, ids_of(txs));
      if (!r) return fail("replay execute", round);
      if (h >= (*store)->first_kept_height()) {
        auto stored = (*store)->state_digest_at(h);
        if (!stored || *stored != r->state_digest) return fail("stored digest at height " + std::to_string(h), round);
        auto block = (*store)->block_at(h);
        if (!block || **block != encode_block(0, h, txs)) return fail("committed block at height " + std::to_string(h), round);
      }
    }
    if (replay.state_digest() != restarted->ledger.state_digest()) return fail("restored ledger differs from replay", round);
    for (std::size_t p = 0; p < parties; ++p) {
      if (replay.account(party_id(p)) != restarted->ledger.account(party_id(p))) return fail("account differs", round);
    }
    std::size_t real = 0, forks = 0;
    for (const auto& [id, block] : restarted->pending) {
      const auto [kind, h] = block_kind_height(block);
      if (sha256(block) != id) return fail("pending block id", round);
      if (kind == 0) {
        ++real;
        const Bytes expected = encode_block(0, height + 1, make_block(height + 1, replay));
        if (h != height + 1 || block != expected) return fail("real pending block is not the next block", round);
      } else {
        ++forks;
        if (kind != 1 || h < height || h > height + 1 || block != fork_block(h)) {
          return fail("fork pending block: kind " + std::to_string(kind) + " height " + std::to_string(h) +
                          " committed " + std::to_string(height),
                      round);
        }
      }
    }
    const std::uint64_t view = restarted->safety_record ? view_of(*restarted->safety_record) : 0;
    if (restarted->safety_record && *restarted->safety_record != safety_bytes(view)) return fail("safety record content", round);
    if (view < last_view) return fail("safety record went backwards", round);
    if (view < height || view > height + 1) return fail("safety view " + std::to_string(view) + " vs height " + std::to_string(height), round);
    last_view = view;
    last_height = height;
    std::printf("round %2d (%s): killed after %2llu ms; height %llu (acked %llu), pending %zu real + %zu fork, view %llu\n",
                round, batching ? "batching   " : "no batching", static_cast<unsigned long long>(deadline_ms),
                static_cast<unsigned long long>(height), static_cast<unsigned long long>(max_acked), real, forks,
                static_cast<unsigned long long>(view));
  }
  fs::remove_all(dir);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("storage_crash_test_restart: PASS, %d kills in %.1f s, final height %llu\n", kills, seconds,
              static_cast<unsigned long long>(last_height));
  return 0;
}
