// Crash test of the store (issue 7, docs/storage.md "Crash test").
//
// A child process opens the store and writes continuously: committed blocks at the
// next height (content derived from the height, so the parent can check it), a
// flush every few blocks, and a synced safety record with a growing view every
// few flushes. After each flush or safety write RETURNS, the child reports
// "D <height>" or "S <view>" on a pipe: those are acknowledged as durable. The
// parent kills the child with SIGKILL after a random delay, reopens the store and
// checks:
//   1. the store opens (no corruption, nothing repaired);
//   2. committed height >= the last acknowledged durable height (nothing lost);
//   3. every kept height in [first_kept, committed] has its block, id, certificate
//      and receipts with the expected content (the committed prefix is intact);
//   4. the safety record's view >= the last acknowledged view and >= the view seen
//      at the previous reopen (never backwards);
//   5. committed height never decreases across reopens;
//   6. the state written with each block (its height) equals the committed height:
//      a block and its state changes are one atomic write.
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

constexpr std::uint64_t keep_blocks = 64;

Bytes block_bytes(std::uint64_t height) {
  Prng prng(height * 7919 + 1);
  Bytes b(200 + prng.uniform(8000));
  prng.fill(b);
  return b;
}
Hash32 block_id(std::uint64_t height) { return sha256(block_bytes(height)); }
Bytes cert_bytes(std::uint64_t height) {
  Bytes b(64);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(height * 31 + i);
  return b;
}
Bytes receipt_bytes(std::uint64_t height) { return Bytes(8, static_cast<std::uint8_t>(height ^ 0xa5)); }
Bytes safety_bytes(std::uint64_t view) {
  Bytes b(2000, static_cast<std::uint8_t>(view));  // a record with a high QC is kilobytes
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(view >> (8 * i));
  return b;
}
Bytes height_state(std::uint64_t h) {
  Bytes b(8);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<std::uint8_t>(h >> (8 * i));
  return b;
}

std::uint64_t view_of(const Bytes& record) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{record[i]} << (8 * i);
  return v;
}

storage::Options options_for(const std::string& path) {
  storage::Options o;
  o.path = path;
  o.cluster_id = sha256(as_bytes("crash-test"));
  o.keep_blocks = keep_blocks;
  return o;
}

void say(int fd, char tag, std::uint64_t value) {
  char line[32];
  const int n = std::snprintf(line, sizeof line, "%c %llu\n", tag, static_cast<unsigned long long>(value));
  if (::write(fd, line, static_cast<std::size_t>(n)) != n) _exit(3);
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
  auto record = store.safety_record();
  std::uint64_t view = record && record->has_value() ? view_of(**record) : 0;
  Prng prng(seed);
  for (std::uint64_t step = 0; step < 1'000'000; ++step) {  // killed long before the end
    const std::uint64_t h = store.committed_height() + 1;
    // The block's state change (the height it was written at) goes in the same batch.
    const auto hk = height_state(h);
    const storage::StateWrite state[] = {{as_bytes("height"), hk}};
    if (!store.append_block(h, block_id(h), block_bytes(h), cert_bytes(h), receipt_bytes(h), state)) _exit(4);
    if (prng.chance(1, 4)) {
      if (!store.flush()) _exit(5);
      say(fd, 'D', store.durable_height());
    }
    if (prng.chance(1, 8)) {
      if (!store.write_safety_record(safety_bytes(++view))) _exit(6);
      say(fd, 'S', view);
      say(fd, 'D', store.durable_height());  // the safety write flushed the blocks too
    }
  }
  _exit(0);
}

int fail(const char* what, std::uint64_t a, std::uint64_t b, int round) {
  std::fprintf(stderr, "FAIL round %d: %s (%llu vs %llu)\n", round, what, static_cast<unsigned long long>(a),
               static_cast<unsigned long long>(b));
  return 1;
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
  std::uint64_t last_view = 0, last_height = 0, max_acked_height = 0, max_acked_view = 0;
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
    // Drain what the child said before it died: acknowledged even if we read it late.
    for (;;) {
      char chunk[4096];
      const auto n = ::read(pipe_fds[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      return fail("child did not die by SIGKILL (it failed on its own)", static_cast<std::uint64_t>(status), 0, round);
    }
    std::size_t line_start = 0;
    for (std::size_t i = 0; i < buffer.size(); ++i) {
      if (buffer[i] != '\n') continue;
      const std::string line = buffer.substr(line_start, i - line_start);
      line_start = i + 1;
      const std::uint64_t v = std::strtoull(line.c_str() + 2, nullptr, 10);
      if (line[0] == 'D') max_acked_height = std::max(max_acked_height, v);
      if (line[0] == 'S') max_acked_view = std::max(max_acked_view, v);
    }
    std::string detail;
    auto reopened = storage::Store::open(options_for(dir.string()), &detail);
    if (!reopened) {
      std::fprintf(stderr, "FAIL round %d: reopen: %s: %s\n", round, storage::describe(reopened.error()), detail.c_str());
      return 1;
    }
    auto& store = **reopened;
    const std::uint64_t height = store.committed_height();
    if (height < max_acked_height) return fail("acknowledged durable height lost", height, max_acked_height, round);
    if (height < last_height) return fail("committed height went backwards", height, last_height, round);
    const std::uint64_t first = store.first_kept_height();
    if (height >= keep_blocks && first != height - keep_blocks + 1) {
      return fail("kept window is not the last K heights", first, height, round);
    }
    for (std::uint64_t h = first; h <= height; ++h) {
      auto id = store.block_id_at(h);
      if (!id || *id != block_id(h)) return fail("block id at height", h, height, round);
      auto block = store.block_at(h);
      if (!block || **block != block_bytes(h)) return fail("block content at height", h, height, round);
      auto cert = store.certificate(*id);
      if (!cert || *cert != cert_bytes(h)) return fail("certificate at height", h, height, round);
      auto receipts = store.receipts(h);
      if (!receipts || *receipts != receipt_bytes(h)) return fail("receipts at height", h, height, round);
    }
    auto state = store.state(as_bytes("height"));
    if (!state || (height > 0 && (!state->has_value() || **state != height_state(height)))) {
      return fail("state written with the last block differs from the committed height", height, 0, round);
    }
    auto record = store.safety_record();
    if (!record) return fail("safety record unreadable", 0, 0, round);
    const std::uint64_t view = record->has_value() ? view_of(**record) : 0;
    if (record->has_value() && **record != safety_bytes(view)) return fail("safety record content", view, 0, round);
    if (view < max_acked_view) return fail("acknowledged safety record lost", view, max_acked_view, round);
    if (view < last_view) return fail("safety record went backwards", view, last_view, round);
    last_view = view;
    last_height = height;
    std::printf("round %2d (%s): killed after %3llu ms; height %llu (acked %llu, kept from %llu), view %llu (acked %llu)\n",
                round, batching ? "batching" : "no batching", static_cast<unsigned long long>(deadline_ms),
                static_cast<unsigned long long>(height), static_cast<unsigned long long>(max_acked_height),
                static_cast<unsigned long long>(first), static_cast<unsigned long long>(view),
                static_cast<unsigned long long>(max_acked_view));
  }
  fs::remove_all(dir);
  const auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("storage_crash_test: PASS, %d kills in %.1f s, final height %llu, view %llu\n", kills, seconds,
              static_cast<unsigned long long>(last_height), static_cast<unsigned long long>(last_view));
  return 0;
}
