// Crash test of the store (docs/storage.md "Crash test").
//
// A child process opens the store and writes as a validator's stages would, with
// contents derived from heights and counters so the parent can check them. Each
// step, for h = committed_height() + 1:
//   1. the core's side: the unit of h + 1 stored ahead (two times in three; the
//      third commits its unit in the commit's own write), sometimes a fork unit
//      at h + 1, and journal records: "n" (a counter, growing by one per step,
//      kilobytes like a safety record), "r" || n put and "r" || (n - 4) erased;
//   2. the commit of h (append_commit), then the fork unit at h erased;
//   3. execution, lagging: zero to two (half the children) or three (the other
//      half, which catch up) executions of the oldest unexecuted commits (apply_execution with receipts, digest and a state record
//      "executed" holding the height);
//   4. a flush one time in four, after which it reports "D committed executed n"
//      on a pipe: acknowledged as durable.
// A child first does what a restarting node does with its journal: it erases the
// fork units at or below the committed height.
//
// The parent kills the child with SIGKILL after a random delay, reopens the store
// and checks:
//   1. the store opens (no corruption, nothing repaired);
//   2. committed height, executed height and the journal counter are at least the
//      last acknowledged ones and never decrease across reopens;
//   3. executed height <= committed height;
//   4. every kept commit has its id, unit, proof and id index with the expected
//      content, and every kept executed height its receipts and digest (a commit
//      and its unit are one atomic write, whichever write carried the unit);
//   5. the kept window is exactly [min(committed - K + 1, executed), committed];
//   6. the state record "executed" equals the executed height (an execution and
//      its state writes are one atomic write);
//   7. the journal is a prefix of the child's writes: its "r" records are those
//      of the last four steps and maybe the next one's; its units are the next real units (committed + 1 and + 2)
//      and forks in [committed, committed + 2], each with its expected bytes.
// Rounds alternate the gate storage.write_batching on and off. Bounded: 50 kills
// (12 under sanitizers), each child lives at most ~60 ms, K = 64 so pruning runs.
//
// SIGKILL tests process crashes: the kernel keeps what write() handed it. A power
// cut would also drop unsynced page cache; that case is covered by the sync rule
// (WriteOptions::sync on every acknowledged write), not by this test.
//
// Usage: storage_crash_test [kills] [seed]
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/gates.h"
#include "common/prng.h"
#include "storage/storage.h"

namespace {

using namespace kestrel;
namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr int default_kills = 12;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr int default_kills = 12;
#else
constexpr int default_kills = 50;
#endif
#else
constexpr int default_kills = 50;
#endif

constexpr std::uint64_t keep_commits = 64;

Bytes u64_bytes(std::uint64_t v, std::size_t size = 8) {
  Bytes b(size, static_cast<std::uint8_t>(v));
  for (int i = 0; i < 8; ++i) b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(v >> (8 * i));
  return b;
}
std::uint64_t u64_of(ByteSpan b, std::size_t at = 0) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8 && at + i < b.size(); ++i) v |= std::uint64_t{b[at + i]} << (8 * i);
  return v;
}

// A unit: kind (0 real, 1 fork) and height first, then bytes derived from both
// (200 B to 8 KB, so some go to blob files).
Bytes unit_bytes(std::uint8_t kind, std::uint64_t height) {
  Prng prng(height * 7919 + kind);
  Bytes b(200 + prng.uniform(8000));
  prng.fill(b);
  b[0] = kind;
  for (int i = 0; i < 8; ++i) b[1 + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(height >> (8 * i));
  return b;
}
Hash32 unit_id(std::uint8_t kind, std::uint64_t height) { return sha256(unit_bytes(kind, height)); }
Bytes proof_bytes(std::uint64_t height) {
  Bytes b(64);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(height * 31 + i);
  return b;
}
Bytes receipt_bytes(std::uint64_t height) { return Bytes(8, static_cast<std::uint8_t>(height ^ 0xa5)); }
Hash32 digest_of(std::uint64_t height) { return sha256(u64_bytes(height)); }
Bytes record_key(std::uint64_t n) {
  Bytes k{'r'};
  const Bytes v = u64_bytes(n);
  k.insert(k.end(), v.begin(), v.end());
  return k;
}

storage::Options options_for(const std::string& path) {
  storage::Options o;
  o.path = path;
  o.cluster_id = sha256(as_bytes("crash-test"));
  o.keep_commits = keep_commits;
  return o;
}

void say(int fd, const storage::Store& store, std::uint64_t n) {
  char line[96];
  const int len = std::snprintf(line, sizeof line, "D %llu %llu %llu\n",
                                static_cast<unsigned long long>(store.durable_height()),
                                static_cast<unsigned long long>(store.executed_height()),
                                static_cast<unsigned long long>(n));
  if (::write(fd, line, static_cast<std::size_t>(len)) != len) _exit(3);
}

// The journal counter "n" (0 when absent).
std::uint64_t journal_counter(storage::Store& store) {
  auto journal = store.journal();
  if (!journal) _exit(7);
  for (const auto& [key, value] : *journal) {
    if (key == Bytes{'n'}) return u64_of(value);
  }
  return 0;
}

[[noreturn]] void child(const std::string& path, int fd, std::uint64_t seed, bool batching) {
  set_gate(Gate::storage_write_batching, batching);
  std::string detail;
  auto opened = storage::Store::open(options_for(path), &detail);
  if (!opened) {
    std::fprintf(stderr, "child: open failed: %s: %s\n", storage::describe(opened.error()), detail.c_str());
    _exit(2);
  }
  auto& store = **opened;
  std::uint64_t n = journal_counter(store);
  // Forks that lost (at or below the committed height) go, as a node's restart does.
  auto units = store.journal_units();
  if (!units) _exit(8);
  for (const auto& [id, bytes] : *units) {
    if (bytes[0] == 1 && u64_of(bytes, 1) <= store.committed_height() && !store.unit_erase(id)) _exit(9);
  }
  Prng prng(seed);
  // Half the children let execution lag (at most as many executions as commits
  // per step), half catch up (up to three per step).
  const std::uint64_t executions_max = prng.chance(1, 2) ? 3 : 4;
  for (std::uint64_t step = 0; step < 1'000'000; ++step) {  // killed long before the end
    const std::uint64_t h = store.committed_height() + 1;
    if (prng.chance(2, 3) && !store.unit_put(unit_id(0, h + 1), unit_bytes(0, h + 1))) _exit(4);
    if (prng.chance(1, 3) && !store.unit_put(unit_id(1, h + 1), unit_bytes(1, h + 1))) _exit(4);
    ++n;
    if (!store.journal_put(record_key(n), u64_bytes(n)) || !store.journal_erase(record_key(n - 4)) ||
        !store.journal_put(Bytes{'n'}, u64_bytes(n, 2000))) {
      _exit(5);
    }
    if (!store.append_commit(h, unit_id(0, h), unit_bytes(0, h), proof_bytes(h))) _exit(6);
    if (!store.unit_erase(unit_id(1, h))) _exit(6);
    for (std::uint64_t i = prng.uniform(executions_max); i > 0 && store.executed_height() < store.committed_height(); --i) {
      const std::uint64_t e = store.executed_height() + 1;
      const Bytes state = u64_bytes(e);
      const storage::StateWrite writes[] = {{as_bytes("executed"), state}};
      if (!store.apply_execution(e, receipt_bytes(e), writes, digest_of(e))) _exit(10);
    }
    if (prng.chance(1, 4)) {
      if (!store.flush()) _exit(11);
      say(fd, store, n);
    }
  }
  _exit(0);
}

int fail(const char* what, std::uint64_t a, std::uint64_t b, int round) {
  std::fprintf(stderr, "FAIL round %d: %s (%llu vs %llu)\n", round, what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  return 1;
}

struct Acked {
  std::uint64_t committed = 0, executed = 0, counter = 0;
};

// Checks 3-7 of the header on a reopened store; 0 or fail()'s 1.
int check_store(storage::Store& store, const Acked& acked, int round) {
  const std::uint64_t committed = store.committed_height();
  const std::uint64_t executed = store.executed_height();
  if (committed < acked.committed) return fail("acknowledged committed height lost", committed, acked.committed, round);
  if (executed < acked.executed) return fail("acknowledged executed height lost", executed, acked.executed, round);
  if (executed > committed) return fail("executed above committed", executed, committed, round);
  const std::uint64_t window = committed >= keep_commits ? committed - keep_commits + 1 : 1;
  const std::uint64_t first = store.first_kept_height();
  if (first != std::min(window, std::max<std::uint64_t>(executed, 1))) {
    return fail("kept window is not the last K commits bounded by the executed height", first, committed, round);
  }
  for (std::uint64_t h = first; h <= committed; ++h) {
    auto c = store.commit_at(h);
    if (!c || c->id != unit_id(0, h) || *c->unit != unit_bytes(0, h) || c->proof != proof_bytes(h)) {
      return fail("commit at sequence", h, committed, round);
    }
    auto sequence = store.sequence_of(unit_id(0, h));
    if (!sequence || *sequence != h) return fail("id index at sequence", h, committed, round);
    if (h > executed) continue;
    auto receipts = store.receipts(h);
    auto digest = store.state_digest_at(h);
    if (!receipts || *receipts != receipt_bytes(h) || !digest || *digest != digest_of(h)) {
      return fail("receipts or digest at height", h, executed, round);
    }
  }
  auto state = store.state_range({}, 4);
  if (!state || state->size() != (executed > 0 ? 1u : 0u) ||
      (executed > 0 && (state->front().first != Bytes(as_bytes("executed").begin(), as_bytes("executed").end()) ||
                        u64_of(state->front().second) != executed))) {
    return fail("the state written with the last execution differs from the executed height", executed, 0, round);
  }
  auto journal = store.journal();
  if (!journal) return fail("journal unreadable", 0, 0, round);
  std::uint64_t n = 0;
  for (const auto& [key, value] : *journal) {
    if (key == Bytes{'n'}) {
      n = u64_of(value);
      if (value != u64_bytes(n, 2000)) return fail("journal counter record content", n, 0, round);
    }
  }
  if (n < acked.counter) return fail("acknowledged journal record lost", n, acked.counter, round);
  // A prefix of step n + 1's writes (put r(n + 1), erase r(n - 3), put n): the
  // records of the last four steps, and maybe the next one's.
  std::uint64_t records = 0;
  for (const auto& [key, value] : *journal) {
    if (key == Bytes{'n'}) continue;
    const std::uint64_t r = u64_of(ByteSpan(key).subspan(1));
    if (key.size() != 9 || key[0] != 'r' || value != u64_bytes(r) || r + 3 < n || r > n + 1) {
      return fail("journal record outside the last writes", r, n, round);
    }
    ++records;
  }
  if (records != std::min<std::uint64_t>(n, 4) && records != std::min<std::uint64_t>(n, 4) + 1) {
    return fail("journal records (count vs counter)", records, n, round);
  }
  auto units = store.journal_units();
  if (!units) return fail("journal units unreadable", 0, 0, round);
  for (const auto& [id, bytes] : *units) {
    const std::uint8_t kind = bytes[0];
    const std::uint64_t h = u64_of(bytes, 1);
    const bool expected = kind == 0 ? (h == committed + 1 || h == committed + 2) : (h >= committed && h <= committed + 2);
    if (kind > 1 || !expected || id != unit_id(kind, h) || bytes != unit_bytes(kind, h)) {
      return fail("journal unit (height vs committed)", h, committed, round);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int kills = argc > 1 ? std::atoi(argv[1]) : default_kills;
  const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10)
                                      : static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  std::printf("storage_crash_test: %d kills, seed %llu (replay: storage_crash_test %d %llu)\n", kills,
              static_cast<unsigned long long>(seed), kills, static_cast<unsigned long long>(seed));
  const fs::path dir = fs::temp_directory_path() / ("kestrel-crash-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  {
    auto created = storage::Store::open(options_for(dir.string()));  // created before any child runs
    if (!created) return fail("create", 0, 0, -1);
  }
  Prng prng(seed);
  Acked acked, last;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kills; ++round) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return fail("pipe", 0, 0, round);
    const bool batching = round % 2 == 0;
    const std::uint64_t child_seed = prng.next_u64();
    const pid_t pid = ::fork();
    if (pid < 0) return fail("fork", 0, 0, round);
    if (pid == 0) {
      ::close(pipe_fds[0]);
      child(dir.string(), pipe_fds[1], child_seed, batching);
    }
    ::close(pipe_fds[1]);
    // Read acknowledgements until a random deadline (5..60 ms after the first one,
    // so most kills land while writes are in flight), then SIGKILL.
    const auto deadline_ms = 5 + prng.uniform(56);
    std::string buffer;
    bool started = false;
    auto t0 = std::chrono::steady_clock::now();
    for (;;) {
      const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
      if (started && elapsed >= static_cast<long>(deadline_ms)) break;
      if (!started && elapsed > 10'000) break;  // child never acknowledged: checked below
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (::poll(&p, 1, 1) > 0) {
        char chunk[4096];
        const auto got = ::read(pipe_fds[0], chunk, sizeof chunk);
        if (got <= 0) break;  // the child exited on its own (an error)
        buffer.append(chunk, static_cast<std::size_t>(got));
        if (!started) t0 = std::chrono::steady_clock::now();
        started = true;
      }
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Drain what the child said before it died: acknowledged even if we read it late.
    for (;;) {
      char chunk[4096];
      const auto got = ::read(pipe_fds[0], chunk, sizeof chunk);
      if (got <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(got));
    }
    ::close(pipe_fds[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return fail("child did not die by SIGKILL (it failed on its own)", static_cast<std::uint64_t>(status), 0, round);
    }
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < buffer.size(); ++i) {
      if (buffer[i] != '\n') continue;
      unsigned long long c = 0, e = 0, n = 0;
      if (std::sscanf(buffer.c_str() + line_start, "D %llu %llu %llu", &c, &e, &n) == 3) {
        acked.committed = std::max<std::uint64_t>(acked.committed, c);
        acked.executed = std::max<std::uint64_t>(acked.executed, e);
        acked.counter = std::max<std::uint64_t>(acked.counter, n);
      }
      line_start = i + 1;
    }
    std::string detail;
    auto reopened = storage::Store::open(options_for(dir.string()), &detail);
    if (!reopened) {
      std::fprintf(stderr, "FAIL round %d: reopen: %s: %s\n", round, storage::describe(reopened.error()), detail.c_str());
      return 1;
    }
    auto& store = **reopened;
    // Never backwards: what the previous reopen saw counts as acknowledged too.
    const Acked floor{std::max(acked.committed, last.committed), std::max(acked.executed, last.executed),
                      std::max(acked.counter, last.counter)};
    if (const int failed = check_store(store, floor, round); failed != 0) return failed;
    last = {store.committed_height(), store.executed_height(), journal_counter(store)};
    std::printf("round %2d (%s): killed after %3llu ms; committed %llu (acked %llu), executed %llu (acked %llu), "
                "kept from %llu, journal %llu (acked %llu)\n",
                round, batching ? "batching   " : "no batching", static_cast<unsigned long long>(deadline_ms),
                static_cast<unsigned long long>(last.committed), static_cast<unsigned long long>(acked.committed),
                static_cast<unsigned long long>(last.executed), static_cast<unsigned long long>(acked.executed),
                static_cast<unsigned long long>(store.first_kept_height()),
                static_cast<unsigned long long>(last.counter), static_cast<unsigned long long>(acked.counter));
  }
  fs::remove_all(dir);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("storage_crash_test: PASS, %d kills in %.1f s, final committed %llu, executed %llu, journal %llu\n",
              kills, seconds, static_cast<unsigned long long>(last.committed),
              static_cast<unsigned long long>(last.executed), static_cast<unsigned long long>(last.counter));
  return 0;
}
