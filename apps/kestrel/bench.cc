// `kestrel bench net`: one encrypted session on loopback, sender and receiver on
// separate threads (the sender's producer thread and io thread, the receiver's
// io thread). Messages/s and MB/s per message size with batching on and off, the
// raw ChaCha20-Poly1305 seal speed on one core as the same-run reference, the
// handshake time (hybrid vs X25519-only), and an A/B figure per net gate.
// Every figure is the median of --reps runs; ratios are within this run.
// Later issues add `bench cluster`.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <fstream>
#include <thread>
#include <vector>

#include "commands.h"
#include "common/gates.h"
#include "crypto/classic.h"
#include "crypto/random.h"
#include "crypto/signature.h"
#include "net/net.h"

namespace kestrel::app {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Two validators on loopback; node 0 sends, node 1 counts.
class Pair {
 public:
  explicit Pair(net::KeyExchange kx) {
    crypto::random_bytes(cluster_id_.bytes);
    for (int i = 0; i < 2; ++i) {
      signers_.push_back(crypto::generate_signer(crypto::default_signature_scheme));
      verifiers_.push_back(&signers_.back()->verifier());
    }
    kx_ = kx;
  }
  bool start() {
    for (int i = 0; i < 2; ++i) {
      net::NetworkConfig c;
      c.self = static_cast<net::ValidatorId>(i);
      c.cluster_id = cluster_id_;
      c.identity = signers_[i].get();
      c.validators = verifiers_;
      c.key_exchange = kx_;
      auto started = net::Network::start(c, [this](net::ValidatorId, std::uint16_t, ByteSpan payload) {
        received_.fetch_add(1, std::memory_order_relaxed);
        received_bytes_.fetch_add(payload.size(), std::memory_order_relaxed);
      });
      if (!started) return false;
      nodes_[i] = std::move(started.value());
    }
    return true;
  }
  // Dials and returns the seconds until the session is up (or a negative value).
  double connect() {
    const auto t0 = Clock::now();
    nodes_[1]->set_peer_address(0, {"127.0.0.1", nodes_[0]->listen_port()});
    nodes_[0]->set_peer_address(1, {"127.0.0.1", nodes_[1]->listen_port()});
    while (!(nodes_[0]->connected(1) && nodes_[1]->connected(0))) {
      if (seconds_since(t0) > 10) return -1;
      std::this_thread::sleep_for(20us);
    }
    return seconds_since(t0);
  }
  // Sends `count` messages of `payload` and returns seconds from the first send
  // until the receiver has them all.
  // Message i is the `size` bytes at a different offset of `source`, so a batch
  // is not one payload repeated (which would flatter compression).
  double run(std::uint64_t count, const Bytes& source, std::size_t size) {
    const std::uint64_t target = received_.load() + count;
    const std::size_t span = source.size() - size + 1;
    const auto t0 = Clock::now();
    for (std::uint64_t i = 0; i < count; ++i) {
      const ByteSpan payload(source.data() + (i * 4099) % span, size);
      if (!nodes_[0]->send_blocking(1, 1, payload, 30s).ok()) return -1;
    }
    while (received_.load(std::memory_order_relaxed) < target) {
      if (seconds_since(t0) > 120) return -1;
      std::this_thread::yield();
    }
    return seconds_since(t0);
  }
  net::NetCounters sender_counters() const { return nodes_[0]->counters(); }

 private:
  net::KeyExchange kx_;
  Hash32 cluster_id_;
  std::vector<std::unique_ptr<crypto::Signer>> signers_;
  std::vector<const crypto::Verifier*> verifiers_;
  std::unique_ptr<net::Network> nodes_[2];
  std::atomic<std::uint64_t> received_{0};
  std::atomic<std::uint64_t> received_bytes_{0};
};

struct NetOptions {
  int reps = 3;
  bool quick = false;
  std::string json_path = "build/bench/net.json";
};

// Counts sized so each run moves a few hundred MB at most and lasts well under a
// second on this machine (fewer with --quick).
std::uint64_t count_for(std::size_t size, bool batching, bool quick) {
  std::uint64_t n = size <= 256 ? 1'000'000 : size <= 4096 ? 200'000 : 12'000;
  if (!batching && size <= 256) n /= 4;
  return quick ? std::max<std::uint64_t>(n / 10, 1000) : n;
}

struct Figure {
  double messages_per_second;
  double megabytes_per_second;
};

Figure measure(Pair& pair, std::size_t size, std::uint64_t count, int reps, const Bytes& source) {
  std::vector<double> mps, mbps;
  for (int r = 0; r < reps; ++r) {
    const double s = pair.run(count, source, size);
    if (s <= 0) return {-1, -1};
    mps.push_back(static_cast<double>(count) / s);
    mbps.push_back(static_cast<double>(count) * static_cast<double>(size) / s / 1e6);
  }
  return {median(mps), median(mbps)};
}

// Single-core ChaCha20-Poly1305 seal speed (libsodium, in place) over `size`-byte
// messages: the reference the 64 KB session figure is compared with.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Seal speed in wall-clock time (the same conditions as the session figures, so
// the ratio is fair on a shared machine) and, in `cpu_megabytes_per_second`, per
// second of this thread's CPU time (what an unshared core would do).
double aead_megabytes_per_second(std::size_t size, int reps, double* cpu_megabytes_per_second = nullptr) {
  crypto::AeadKey key{};
  crypto::random_bytes(key);
  Bytes buffer(size);
  crypto::random_bytes(buffer);
  std::array<std::uint8_t, crypto::aead_tag_bytes> tag{};
  std::vector<double> results, cpu_results;
  for (int r = 0; r < reps; ++r) {
    std::uint64_t n = 0;
    crypto::AeadNonce nonce{};
    const double cpu0 = thread_cpu_seconds();
    const auto t0 = Clock::now();
    double elapsed = 0;
    do {
      for (int k = 0; k < 16; ++k) {
        nonce[0] = static_cast<std::uint8_t>(n);
        crypto::aead_seal_detached(buffer, tag, buffer, {}, nonce, key);
        ++n;
      }
      elapsed = seconds_since(t0);
    } while (elapsed < 0.3);
    const double cpu = thread_cpu_seconds() - cpu0;
    results.push_back(static_cast<double>(n) * static_cast<double>(size) / elapsed / 1e6);
    cpu_results.push_back(static_cast<double>(n) * static_cast<double>(size) / cpu / 1e6);
  }
  if (cpu_megabytes_per_second != nullptr) *cpu_megabytes_per_second = median(cpu_results);
  return median(results);
}

double handshake_median_ms(net::KeyExchange kx, int reps) {
  std::vector<double> times;
  for (int r = 0; r < reps; ++r) {
    Pair pair(kx);
    if (!pair.start()) return -1;
    const double s = pair.connect();
    if (s <= 0) return -1;
    times.push_back(s * 1e3);
  }
  return median(times);
}

int run_net(const NetOptions& o) {
  const int reps = std::max(1, o.reps);
  nlohmann::json out;
  out["reps"] = reps;
  out["quick"] = o.quick;
  out["note"] = "medians of reps; one session on loopback; sender producer + io thread, receiver io thread";

  Pair pair(net::KeyExchange::hybrid);
  if (!pair.start() || pair.connect() <= 0) {
    std::fprintf(stderr, "kestrel bench net: could not set up the loopback session\n");
    return 1;
  }
  // 4 MiB sources: messages are windows at varying offsets.
  Bytes random_payload(4 * 1024 * 1024);
  crypto::random_bytes(random_payload);

  std::printf("kestrel bench net: %d reps each, medians; hybrid session (X25519 + ML-KEM-768, %s)\n\n", reps,
              crypto::scheme_name(crypto::default_signature_scheme));
  // The AEAD reference is measured before and after the session runs (the
  // machine is shared and noisy); the median of both sets is the reference.
  double aead64k_cpu_before = 0, aead64k_cpu_after = 0;
  const double aead64k_before = aead_megabytes_per_second(65536, reps, &aead64k_cpu_before);
  std::printf("%-8s %-9s %14s %10s\n", "size", "batching", "messages/s", "MB/s");
  const std::size_t sizes[] = {64, 256, 4096, 65536};
  Figure at64k_batched{};
  for (std::size_t size : sizes) {
    for (bool batching : {true, false}) {
      ScopedGate gate(Gate::net_adaptive_batching, batching);
      const Figure f = measure(pair, size, count_for(size, batching, o.quick), reps, random_payload);
      std::printf("%-8zu %-9s %14.0f %10.1f\n", size, batching ? "on" : "off", f.messages_per_second,
                  f.megabytes_per_second);
      out["throughput"].push_back({{"size", size}, {"batching", batching},
                                   {"messages_per_second", f.messages_per_second},
                                   {"megabytes_per_second", f.megabytes_per_second}});
      if (size == 65536 && batching) at64k_batched = f;
    }
  }
  const double aead64k_after = aead_megabytes_per_second(65536, reps, &aead64k_cpu_after);
  const double aead64k = (aead64k_before + aead64k_after) / 2;
  const double aead64k_cpu = (aead64k_cpu_before + aead64k_cpu_after) / 2;
  const double ratio_cpu = at64k_batched.megabytes_per_second / aead64k_cpu;
  const double aead64 = aead_megabytes_per_second(64, reps);
  const double ratio = at64k_batched.megabytes_per_second / aead64k;
  std::printf("\nAEAD reference (ChaCha20-Poly1305 seal, one core): %.1f MB/s at 64 KB (before %.1f, after %.1f), "
              "%.1f MB/s at 64 B\n",
              aead64k, aead64k_before, aead64k_after, aead64);
  std::printf("AEAD per second of thread CPU time (an unshared core): %.1f MB/s at 64 KB\n", aead64k_cpu);
  std::printf("session at 64 KB / AEAD at 64 KB: %.2f wall-clock reference (target >= 0.60), %.2f CPU-time reference\n",
              ratio, ratio_cpu);
  out["aead_seal_megabytes_per_second_64k"] = aead64k;
  out["aead_seal_megabytes_per_second_64k_before_after"] = {aead64k_before, aead64k_after};
  out["aead_seal_megabytes_per_second_64"] = aead64;
  out["ratio_64k_session_to_aead"] = ratio;
  out["aead_seal_megabytes_per_cpu_second_64k"] = aead64k_cpu;
  out["ratio_64k_session_to_aead_cpu_time"] = ratio_cpu;

  // Gate A/B figures, same session, same run.
  std::printf("\n%-22s %-10s %14s %14s %8s\n", "gate A/B", "workload", "off msg/s", "on msg/s", "on/off");
  auto ab = [&](Gate gate, const char* workload, std::size_t size, const Bytes& payload, bool batching) {
    ScopedGate batch(Gate::net_adaptive_batching, batching);
    Figure off, on;
    std::uint64_t bytes_off = 0, bytes_on = 0;
    const std::uint64_t count = count_for(size, true, o.quick);
    {
      ScopedGate g(gate, false);
      const auto before = pair.sender_counters().bytes_sent;
      off = measure(pair, size, count, reps, payload);
      bytes_off = pair.sender_counters().bytes_sent - before;
    }
    {
      ScopedGate g(gate, true);
      const auto before = pair.sender_counters().bytes_sent;
      on = measure(pair, size, count, reps, payload);
      bytes_on = pair.sender_counters().bytes_sent - before;
    }
    const double speedup = on.messages_per_second / off.messages_per_second;
    const double wire_ratio = static_cast<double>(bytes_on) / static_cast<double>(std::max<std::uint64_t>(1, bytes_off));
    std::printf("%-22s %-10s %14.0f %14.0f %8.2f   wire bytes on/off %.2f\n", gate_info(gate).name.data(),
                workload, off.messages_per_second, on.messages_per_second, speedup, wire_ratio);
    out["gates"].push_back({{"gate", gate_info(gate).name}, {"workload", workload}, {"size", size},
                            {"off_messages_per_second", off.messages_per_second},
                            {"on_messages_per_second", on.messages_per_second}, {"on_over_off", speedup},
                            {"wire_bytes_on_over_off", wire_ratio}});
  };
  ab(Gate::net_adaptive_batching, "64 B", 64, random_payload, true);
  ab(Gate::net_adaptive_batching, "256 B", 256, random_payload, true);
  ab(Gate::net_buffer_pool, "64 B", 64, random_payload, true);
  ab(Gate::net_buffer_pool, "4 KB", 4096, random_payload, true);
  ab(Gate::net_buffer_pool, "64 KB", 65536, random_payload, true);
  // Compression pays only on compressible data: text-like payloads vs random.
  // Text-like: words drawn at random from a small vocabulary with random numbers,
  // roughly what JSON-ish transaction payloads look like (zstd level 1 ~3x).
  Bytes text;
  {
    const char* vocabulary[] = {"transfer", "from", "to", "amount", "nonce", "fee", "account", "memo", "\"", ":", ",", "{", "}"};
    std::uint64_t state = 0x9E3779B97F4A7C15ull;
    while (text.size() < 4 * 1024 * 1024) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      const std::string_view word = vocabulary[state % std::size(vocabulary)];
      text.insert(text.end(), word.begin(), word.end());
      if (state % 3 == 0) {
        const std::string number = std::to_string((state >> 20) % 1000000);
        text.insert(text.end(), number.begin(), number.end());
      }
      text.push_back(' ');
    }
  }
  ab(Gate::net_compression, "4 KB text", 4096, text, true);
  ab(Gate::net_compression, "4 KB rand", 4096, random_payload, true);
  ab(Gate::net_compression, "64 KB text", 65536, text, true);

  const int handshake_reps = o.quick ? 5 : 15;
  const double hybrid_ms = handshake_median_ms(net::KeyExchange::hybrid, handshake_reps);
  const double x25519_ms = handshake_median_ms(net::KeyExchange::x25519, handshake_reps);
  std::printf("\nhandshake (dial to both sides up, loopback, %s identities), median of %d: hybrid %.2f ms, "
              "X25519-only %.2f ms\n",
              crypto::scheme_name(crypto::default_signature_scheme), handshake_reps, hybrid_ms, x25519_ms);
  out["handshake_ms_median"] = {{"hybrid", hybrid_ms}, {"x25519", x25519_ms}, {"reps", handshake_reps}};

  const auto& rows = out["throughput"];
  double mps64 = 0;
  for (const auto& r : rows) {
    if (r["size"] == 64 && r["batching"] == true) mps64 = r["messages_per_second"];
  }
  std::printf("\ntargets: 64 B batched %.0f msg/s (>= 1,000,000: %s); 64 KB %.0f%% of AEAD (>= 60%%: %s)\n", mps64,
              mps64 >= 1e6 ? "met" : "missed", ratio * 100, ratio >= 0.6 ? "met" : "missed");
  out["targets"] = {{"messages_per_second_64_batched", mps64}, {"met_1m", mps64 >= 1e6},
                    {"ratio_64k", ratio}, {"met_60_percent", ratio >= 0.6}};

  std::error_code ec;
  const std::filesystem::path path(o.json_path);
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  std::ofstream file(path);
  if (!file) {
    std::fprintf(stderr, "kestrel bench net: cannot write %s\n", o.json_path.c_str());
    return 1;
  }
  file << out.dump(2) << "\n";
  std::printf("wrote %s\n", o.json_path.c_str());
  return 0;
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: net (one session), cluster (a local validator cluster)");
  register_bench_cluster(*bench);
  bench->require_subcommand(1);
  auto options = std::make_shared<NetOptions>();
  auto* net = bench->add_subcommand("net", "One encrypted session on loopback: throughput, AEAD reference, handshake");
  net->add_option("--reps", options->reps, "repetitions per figure (the median is reported)")->check(CLI::Range(1, 21));
  net->add_flag("--quick", options->quick, "a tenth of the messages (smoke run)");
  net->add_option("--json", options->json_path, "where to write the JSON results");
  net->callback([options] {
    const int rc = run_net(*options);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace kestrel::app
