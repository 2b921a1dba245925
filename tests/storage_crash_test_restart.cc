// Restart test of storage + execution (docs/storage.md "Restart"): what a
// restarting validator reads back — its core's journal and journal-owned units,
// the commit stream, and the ledger rebuilt at the executed height from the
// stored state, checked against the stored state digest, then the commits above
// it executed again.
//
// A "validator" loop, run in a child process: restart from the store (the
// procedure below, replay included), then repeat for h = committed + 1: build
// block h deterministically from the proposer's ledger (transfers and puts among
// 40 accounts, some failing), store it and sometimes a competing fork block as
// journal-owned units, put the safety record (journal key "s", view h) and flush
// (the persist-before-send point), append the commit, erase the fork, and let the
// executor's ledger follow the stream with a lag: zero to two or three
// executions per step of the oldest unexecuted commits, read back with
// commit_at(), each written with apply_execution (receipts, state writes,
// digest); sometimes flush. After each flush RETURNS it reports
// "D <committed> <executed> <view>" on a pipe.
//
// Phase 1, clean restarts: for each side of the gate storage.write_batching, three
// sessions of 50 blocks, each ending with a commit left unexecuted, a pending
// block and a fork, then close, reopen, restart: the journal units, safety record,
// heights and ledger digest are exactly what was written, and the replay
// executes the gap.
// Phase 2, kills: the parent SIGKILLs the child 5..60 ms after its first
// acknowledgement, reopens the store and checks (reading only):
//   1. the restart's reads succeed: the ledger restored at the executed height has
//      the digest stored for it, and executing the stored commits above it gives
//      the parent's own ledger (replaying the same blocks from genesis): digest
//      and every account;
//   2. committed and executed heights >= every acknowledged one, never
//      decreasing; executed <= committed;
//   3. every kept commit's unit is the block the parent built for that height,
//      and every kept executed height has the digest the parent computed;
//   4. journal units: the real block at committed + 1 (if present) is exactly the
//      block the parent would build; forks are at committed or committed + 1;
//   5. the safety record's view is committed or committed + 1, at least the last
//      acknowledged one, never backwards.
// The next child restarts from that store (so each round is a real restart and
// replay), alternating the gate. Bounded: 20 kills (8 under sanitizers).
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
constexpr std::uint64_t keep_commits = 32;
// Blocks of one run, far above what a child reaches before it is killed: bounds
// the parent's per-height records and every loop.
constexpr std::uint64_t heights_max = 1'000'000;

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
execution::Ledger genesis_ledger() { return std::move(execution::Ledger::create(chain, genesis())).value(); }

// Block h is a function of h and the ledger after h - 1: replayable by the parent.
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

// Unit bytes: kind (0 real, 1 fork), height, then the transactions.
Bytes encode_block(std::uint8_t kind, std::uint64_t height, const std::vector<execution::Transaction>& txs) {
  Bytes out;
  Writer w(out);
  w.u8(kind);
  w.u64(height);
  w.varint(txs.size());
  for (const auto& tx : txs) w.bytes(execution::encode_transaction(tx), limits::transaction_bytes_max);
  return out;
}
struct Block {
  std::uint8_t kind = 0xff;
  std::uint64_t height = 0;
  std::vector<execution::Transaction> txs;
};
std::optional<Block> decode_block(ByteSpan bytes) {
  Reader r(bytes);
  Block b;
  auto kind = r.u8();
  auto height = r.u64();
  auto count = r.varint_max(limits::block_transactions_max);
  if (!kind || !height || !count) return std::nullopt;
  b.kind = *kind;
  b.height = *height;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto encoded = r.bytes(limits::transaction_bytes_max);
    if (!encoded) return std::nullopt;
    auto tx = execution::decode_transaction(*encoded);
    if (!tx) return std::nullopt;
    b.txs.push_back(std::move(*tx));
  }
  if (!r.finish()) return std::nullopt;
  return b;
}
Bytes fork_block(std::uint64_t height) { return encode_block(1, height, {}); }
Bytes proof_of(std::uint64_t height) { return Bytes(16, static_cast<std::uint8_t>(height)); }

const Bytes safety_key{'s'};
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
  o.keep_commits = keep_commits;
  return o;
}

// A new store: the genesis state written once (the node does this at `init`).
bool create_store(const std::string& path) {
  auto store = storage::Store::open(options_for(path));
  if (!check(store.ok(), "create the store")) return false;
  const auto ledger = genesis_ledger();
  const auto entries = ledger.state_entries({}, limits::genesis_accounts_max);
  std::vector<storage::StateWrite> writes;
  for (const auto& e : entries) writes.push_back({e.key, e.value});
  if (!check((*store)->apply_genesis(writes).ok(), "write the genesis state")) return false;
  return check((*store)->flush().ok(), "flush the genesis state");
}

// Executes the commit at ledger.height() + 1 as stored; writes it with
// apply_execution when `write` (the executor), or only checks it (the parent).
bool execute_next(storage::Store& store, execution::Ledger& ledger, bool write) {
  const std::uint64_t h = ledger.height() + 1;
  auto commit = store.commit_at(h);
  if (!check(commit.ok(), "read the commit at " + std::to_string(h))) return false;
  auto block = decode_block(*commit->unit);
  if (!check(block && block->kind == 0 && block->height == h && sha256(*commit->unit) == commit->id,
             "the unit committed at " + std::to_string(h))) {
    return false;
  }
  auto result = ledger.execute_block(h, block->txs, ids_of(block->txs));
  if (!check(result.ok(), "execute " + std::to_string(h))) return false;
  if (!write) return true;
  std::vector<storage::StateWrite> writes;
  for (const auto& w : result->state_writes) writes.push_back({w.key, w.value});
  return check(store.apply_execution(h, execution::encode_receipts(result->receipts), writes, result->state_digest).ok(),
               "apply the execution of " + std::to_string(h));
}

struct Restarted {
  execution::Ledger ledger;  // at the committed height: the gap executed
  std::optional<Bytes> safety_record;
  std::vector<std::pair<Hash32, Bytes>> units;
};

// The restart procedure (docs/storage.md "Restart"), in its order. `write`: the
// replay of the commits above the executed height is written (a node's restart);
// otherwise it runs on the restored ledger only (the parent's check).
std::optional<Restarted> restart(storage::Store& store, bool write) {
  auto journal = store.journal();
  if (!check(journal.ok(), "read the journal")) return std::nullopt;
  std::optional<Bytes> safety;
  for (auto& [key, value] : *journal) {
    if (key == safety_key) safety = std::move(value);
  }
  auto units = store.journal_units();
  if (!check(units.ok(), "read the journal units")) return std::nullopt;
  const std::uint64_t committed = store.committed_height();
  const std::uint64_t executed = store.executed_height();
  if (!check(executed <= committed, "executed above committed")) return std::nullopt;
  // The commit tail (all kept ones here) must be readable.
  for (std::uint64_t h = store.first_kept_height(); h <= committed; ++h) {
    if (!check(store.commit_at(h).ok(), "read the commit at " + std::to_string(h))) return std::nullopt;
  }
  std::vector<execution::Receipt> receipts;
  if (executed > 0) {
    auto bytes = store.receipts(executed);
    if (!check(bytes.ok(), "read the last receipts")) return std::nullopt;
    auto decoded = execution::decode_receipts(*bytes);
    if (!check(decoded.ok(), "decode the last receipts")) return std::nullopt;
    receipts = std::move(*decoded);
  }
  const execution::StatePageSource source = [&](ByteSpan after, std::size_t max)
      -> std::optional<std::vector<execution::StateEntry>> {
    auto page = store.state_range(after, max);
    if (!page) return std::nullopt;
    return std::move(page).value();
  };
  auto ledger = execution::Ledger::restore(chain, executed, receipts, source);
  if (!check(ledger.ok(), std::string("restore the ledger: ") + (ledger.ok() ? "" : execution::describe(ledger.error())))) {
    return std::nullopt;
  }
  Hash32 expected;
  if (executed == 0) {
    expected = genesis_ledger().state_digest();
  } else {
    auto stored = store.last_state_digest();
    if (!check(stored.ok(), "read the last state digest")) return std::nullopt;
    expected = *stored;
  }
  if (!check(ledger->state_digest() == expected, "restored digest " + ledger->state_digest().hex() + " != stored " +
                                                     expected.hex() + " at height " + std::to_string(executed))) {
    return std::nullopt;
  }
  // The replay: the commits the executor had not run.
  while (ledger->height() < committed) {
    if (!execute_next(store, *ledger, write)) return std::nullopt;
  }
  return Restarted{std::move(ledger).value(), std::move(safety), std::move(*units)};
}

void say(int fd, const storage::Store& store, std::uint64_t view) {
  if (fd < 0) return;
  char line[96];
  const int n = std::snprintf(line, sizeof line, "D %llu %llu %llu\n",
                              static_cast<unsigned long long>(store.durable_height()),
                              static_cast<unsigned long long>(store.executed_height()),
                              static_cast<unsigned long long>(view));
  if (::write(fd, line, static_cast<std::size_t>(n)) != n) _exit(3);
}

// One validator session: restart, then `steps` blocks. Returns false (failure set)
// on any error. `units_model` tracks the journal-owned units (phase 1).
bool run_validator(storage::Store& store, std::uint64_t steps, std::uint64_t seed, int fd,
                   std::set<Hash32>* units_model, std::optional<execution::Ledger>* proposer_out = nullptr) {
  auto restarted = restart(store, true);
  if (!restarted) return false;
  if (!check(store.executed_height() == store.committed_height(), "the replay is written")) return false;
  execution::Ledger proposer = restarted->ledger;              // builds each block on the last commit
  execution::Ledger executor = std::move(restarted->ledger);  // follows the stream, lagging
  // Forks at or below the committed height lost: erase them (as the node does).
  for (const auto& [id, bytes] : restarted->units) {
    auto block = decode_block(bytes);
    if (!check(block.has_value(), "decode a journal unit")) return false;
    if (block->height <= store.committed_height()) {
      if (!check(store.unit_erase(id).ok(), "erase a stale journal unit")) return false;
      if (units_model != nullptr) units_model->erase(id);
    }
  }
  Prng prng(seed);
  const std::uint64_t executions_max = prng.chance(1, 2) ? 3 : 4;
  for (std::uint64_t step = 0; step < steps && store.committed_height() < heights_max; ++step) {
    const std::uint64_t h = store.committed_height() + 1;
    const auto txs = make_block(h, proposer);
    const Bytes block = encode_block(0, h, txs);
    const Hash32 id = sha256(block);
    if (!check(store.unit_put(id, block).ok(), "put the block")) return false;
    const Bytes fork = fork_block(h);
    const bool with_fork = prng.chance(1, 3);
    if (with_fork && !check(store.unit_put(sha256(fork), fork).ok(), "put the fork")) return false;
    if (units_model != nullptr) {
      units_model->insert(id);
      if (with_fork) units_model->insert(sha256(fork));
    }
    if (!check(store.journal_put(safety_key, safety_bytes(h)).ok(), "put the safety record")) return false;
    if (!check(store.flush().ok(), "flush before send")) return false;
    say(fd, store, h);
    if (!check(store.append_commit(h, id, block, proof_of(h)).ok(), "append the commit")) return false;
    if (!check(proposer.execute_block(h, txs, ids_of(txs)).ok(), "propose on")) return false;
    if (units_model != nullptr) units_model->erase(id);
    // Committing height h retires every other unit at h: the fork put now, or one
    // put before a crash (a no-op when there is none).
    if (!check(store.unit_erase(sha256(fork)).ok(), "erase the fork")) return false;
    if (units_model != nullptr) units_model->erase(sha256(fork));
    for (std::uint64_t i = prng.uniform(executions_max); i > 0 && executor.height() < store.committed_height(); --i) {
      if (!execute_next(store, executor, true)) return false;
    }
    if (prng.chance(1, 4)) {
      if (!check(store.flush().ok(), "flush")) return false;
      say(fd, store, h);
    }
  }
  if (proposer_out != nullptr) *proposer_out = std::move(proposer);
  return true;
}

bool clean_restarts(const fs::path& dir) {
  for (bool batching : {false, true}) {
    set_gate(Gate::storage_write_batching, batching);
    fs::remove_all(dir);
    if (!create_store(dir.string())) return false;
    std::set<Hash32> model;
    std::uint64_t replayed = 0;
    Hash32 digest;
    for (int session = 0; session < 3; ++session) {
      auto store = storage::Store::open(options_for(dir.string()));
      if (!check(store.ok(), "reopen")) return false;
      std::optional<execution::Ledger> proposer;
      if (!run_validator(**store, 50, 1000 + session, -1, &model, &proposer)) return false;
      // Leave one commit unexecuted, one block pending (proposed, not committed)
      // and one fork, as a cluster stopped mid-view would.
      std::uint64_t h = (*store)->committed_height() + 1;
      auto txs = make_block(h, *proposer);
      Bytes block = encode_block(0, h, txs);
      if (!check((*store)->append_commit(h, sha256(block), block, proof_of(h)).ok(), "commit unexecuted")) return false;
      if (!check(proposer->execute_block(h, txs, ids_of(txs)).ok(), "propose on")) return false;
      ++h;
      block = encode_block(0, h, make_block(h, *proposer));
      if (!check((*store)->unit_put(sha256(block), block).ok(), "put pending")) return false;
      if (!check((*store)->unit_put(sha256(fork_block(h)), fork_block(h)).ok(), "put fork")) return false;
      model.insert(sha256(block));
      model.insert(sha256(fork_block(h)));
      if (!check((*store)->journal_put(safety_key, safety_bytes(h)).ok(), "safety")) return false;
      const std::uint64_t committed = (*store)->committed_height();
      if (!check((*store)->executed_height() < committed, "a gap left to replay")) return false;
      store->reset();  // close
      auto reopened = storage::Store::open(options_for(dir.string()));
      if (!check(reopened.ok(), "reopen after close")) return false;
      auto back = restart(**reopened, true);
      if (!back) return false;
      std::set<Hash32> unit_ids;
      for (const auto& [id, bytes] : back->units) unit_ids.insert(id);
      if (!check(unit_ids == model, "journal units after a clean restart (" + std::to_string(unit_ids.size()) +
                                        " stored, " + std::to_string(model.size()) + " expected, session " +
                                        std::to_string(session) + ")")) {
        return false;
      }
      if (!check(back->safety_record && *back->safety_record == safety_bytes(h), "safety record after restart")) return false;
      if (!check((*reopened)->committed_height() == committed && (*reopened)->executed_height() == committed &&
                     back->ledger.state_digest() == proposer->state_digest() &&
                     *(*reopened)->last_state_digest() == proposer->state_digest(),
                 "heights and digest after restart and replay")) {
        return false;
      }
      replayed = committed;
      digest = back->ledger.state_digest();
      // The next session's first block commits the pending block (and erases it
      // from the model); the fork stays until a restart finds it at or below the
      // committed height and erases it.
    }
    std::printf("clean restarts (%s): committed and executed %llu, digest %s\n", batching ? "batching" : "no batching",
                static_cast<unsigned long long>(replayed), digest.hex().substr(0, 16).c_str());
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
  if (!run_validator(**store, heights_max, seed, fd, nullptr)) {  // killed long before the end
    std::fprintf(stderr, "child: %s\n", failure.c_str());
    _exit(4);
  }
  _exit(0);
}

int fail(const std::string& what, int round) {
  std::fprintf(stderr, "FAIL round %d: %s\n", round, what.c_str());
  return 1;
}

// The parent's own chain, from genesis: per height the committed unit's id and
// the digest after executing it.
struct Replay {
  execution::Ledger ledger = genesis_ledger();
  std::vector<Hash32> ids{Hash32{}};      // [0] unused
  std::vector<Hash32> digests{Hash32{}};  // [0] unused
  void advance_to(std::uint64_t height) {
    while (ledger.height() < height) {
      const std::uint64_t h = ledger.height() + 1;
      const auto txs = make_block(h, ledger);
      ids.push_back(sha256(encode_block(0, h, txs)));
      auto r = ledger.execute_block(h, txs, ids_of(txs));
      digests.push_back(r.ok() ? r->state_digest : Hash32{});
    }
  }
};

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
  Replay replay;
  std::uint64_t last_committed = 0, last_executed = 0, last_view = 0;
  std::uint64_t acked_committed = 0, acked_executed = 0, acked_view = 0;
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
      unsigned long long c = 0, e = 0, v = 0;
      if (std::sscanf(buffer.c_str() + at, "D %llu %llu %llu", &c, &e, &v) != 3) continue;
      acked_committed = std::max<std::uint64_t>(acked_committed, c);
      acked_executed = std::max<std::uint64_t>(acked_executed, e);
      acked_view = std::max<std::uint64_t>(acked_view, v);
    }
    std::string detail;
    auto store = storage::Store::open(options_for(dir.string()), &detail);
    if (!store) return fail(std::string("reopen: ") + storage::describe(store.error()) + ": " + detail, round);
    const std::uint64_t committed = (*store)->committed_height();
    const std::uint64_t executed = (*store)->executed_height();
    if (committed < acked_committed || committed < last_committed) {
      return fail("committed height lost: " + std::to_string(committed) + " < " + std::to_string(acked_committed), round);
    }
    if (executed < acked_executed || executed < last_executed) {
      return fail("executed height lost: " + std::to_string(executed) + " < " + std::to_string(acked_executed), round);
    }
    const std::uint64_t gap = committed - executed;
    auto restarted = restart(**store, false);  // reads only; the next child writes the replay
    if (!restarted) return fail(failure, round);
    replay.advance_to(committed);
    if (replay.ledger.state_digest() != restarted->ledger.state_digest()) return fail("restored and replayed ledger differs", round);
    for (std::size_t p = 0; p < parties; ++p) {
      if (replay.ledger.account(party_id(p)) != restarted->ledger.account(party_id(p))) return fail("account differs", round);
    }
    for (std::uint64_t h = (*store)->first_kept_height(); h <= committed; ++h) {
      auto c = (*store)->commit_at(h);
      if (!c || c->id != replay.ids[h] || sha256(*c->unit) != c->id) return fail("commit at " + std::to_string(h), round);
      if (h > executed) continue;
      auto digest = (*store)->state_digest_at(h);
      if (!digest || *digest != replay.digests[h]) return fail("stored digest at " + std::to_string(h), round);
    }
    std::size_t real = 0, forks = 0;
    for (const auto& [id, bytes] : restarted->units) {
      auto block = decode_block(bytes);
      if (!block || sha256(bytes) != id) return fail("journal unit id", round);
      if (block->kind == 0) {
        ++real;
        const Bytes expected = encode_block(0, committed + 1, make_block(committed + 1, replay.ledger));
        if (bytes != expected) return fail("the real journal unit is not the next block", round);
      } else {
        ++forks;
        if (block->kind != 1 || block->height < committed || block->height > committed + 1 || bytes != fork_block(block->height)) {
          return fail("fork unit: kind " + std::to_string(block->kind) + " height " + std::to_string(block->height) +
                          " committed " + std::to_string(committed),
                      round);
        }
      }
    }
    const std::uint64_t view = restarted->safety_record ? view_of(*restarted->safety_record) : 0;
    if (restarted->safety_record && *restarted->safety_record != safety_bytes(view)) return fail("safety record content", round);
    if (view < last_view || view < acked_view) return fail("safety record went backwards or lost", round);
    if (view < committed || view > committed + 1) {
      return fail("safety view " + std::to_string(view) + " vs committed " + std::to_string(committed), round);
    }
    last_view = view;
    last_committed = committed;
    last_executed = executed;
    std::printf("round %2d (%s): killed after %2llu ms; committed %llu (acked %llu), executed %llu (gap %llu), "
                "units %zu real + %zu fork, view %llu\n",
                round, batching ? "batching   " : "no batching", static_cast<unsigned long long>(deadline_ms),
                static_cast<unsigned long long>(committed), static_cast<unsigned long long>(acked_committed),
                static_cast<unsigned long long>(executed), static_cast<unsigned long long>(gap), real, forks,
                static_cast<unsigned long long>(view));
  }
  fs::remove_all(dir);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("storage_crash_test_restart: PASS, %d kills in %.1f s, final committed %llu\n", kills, seconds,
              static_cast<unsigned long long>(last_committed));
  return 0;
}
