// `kestrel demo` and `kestrel bench cluster`: a real local cluster of validator
// processes on loopback, driven by a built-in load generator (docs/node.md
// "Demo and cluster benchmark").
//
// The run: `init` a cluster in a directory, start one `kestrel node` process per
// validator, wait until every client port answers, pre-sign the transactions
// (signed mode) so the generator does not compete with the validators while the
// clock runs, drive them for --duration seconds (open loop at --rate, or at
// saturation with a bounded window), then stop, SIGTERM the nodes, open every
// node's store and compare the state digests at the highest height all of them
// reached. Latency is submit-to-commit as a client sees it: from sending the
// request to receiving the receipt (or the raw commit notice).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "cluster.h"
#include "commands.h"
#include "common/cpu.h"
#include "common/gates.h"
#include "crypto/signature.h"
#include "execution/execution.h"
#include "node/admin_http.h"
#include "node/client.h"
#include "node/config.h"
#include "perf/stages.h"
#include "storage/storage.h"

namespace kestrel::app {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> interrupted{false};
void on_interrupt(int) { interrupted = true; }

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// --- Processes -------------------------------------------------------------------

struct NodeProcess {
  pid_t pid = -1;
  node::NodeConfig config;
  std::string log;
  std::uint64_t cpu_ticks_start = 0, cpu_ticks_last = 0;
  // CPU of this validator's earlier processes (--down kills and restarts it).
  std::uint64_t cpu_ticks_earlier = 0;
  std::uint64_t cpu_ticks_at_load_end = 0;
  std::uint64_t peak_rss_bytes = 0, peak_anon_bytes = 0;
};

// utime + stime in clock ticks from /proc/PID/stat (0 when gone).
std::uint64_t cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

// Resident-set figures in bytes from /proc/PID/status (0 when gone).
struct Resident {
  std::uint64_t peak = 0;  // VmHWM
  std::uint64_t now = 0;   // VmRSS
  std::uint64_t anon = 0;  // RssAnon
};
Resident resident(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  Resident r;
  std::string line;
  const auto field = [&](const char* name, std::uint64_t& out) {
    const std::size_t n = std::strlen(name);
    if (line.compare(0, n, name) == 0) out = std::stoull(line.substr(n)) * 1024;
  };
  while (std::getline(in, line)) {
    field("VmHWM:", r.peak);
    field("VmRSS:", r.now);
    field("RssAnon:", r.anon);
  }
  return r;
}

pid_t spawn_node(const std::string& config_path, const std::string& log_path, const std::vector<GateSetting>& gates) {
  std::vector<std::string> args{"kestrel"};
  for (const auto& g : gates) {
    args.push_back("--gate");
    args.push_back(std::string(gate_info(g.gate).name) + (g.enabled ? "=on" : "=off"));
  }
  for (const char* a : {"node", "--config"}) args.emplace_back(a);
  args.push_back(config_path);
  args.push_back("--status-every");
  args.push_back("5");
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: its own process group (Ctrl-C reaches the demo, which stops the nodes
  // in order), output to the log.
  setpgid(0, 0);
  FILE* log = std::fopen(log_path.c_str(), "a");
  if (log) {
    dup2(fileno(log), STDOUT_FILENO);
    dup2(fileno(log), STDERR_FILENO);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  execv("/proc/self/exe", argv.data());
  std::_Exit(127);
}

// --- Load ------------------------------------------------------------------------

// The offered load of one generator: a constant rate (0: saturate) or the load
// steps, each rate divided among the generators.
struct Offered {
  double rate = 0;
  std::vector<RateStep> steps;
  bool saturate() const { return steps.empty() && !(rate > 0); }
  // Commands due by t seconds after the start (open loop).
  double due(double t) const {
    if (steps.empty()) return rate * t;
    double sum = 0, begin = 0;
    for (const auto& s : steps) {
      if (t <= begin + s.seconds) return sum + s.rate * (t - begin);
      sum += s.rate * s.seconds;
      begin += s.seconds;
    }
    return sum;
  }
};

struct Latencies {
  std::mutex mutex;
  std::vector<std::uint32_t> all_us;     // every commit of the measured run
  std::vector<std::uint32_t> window_us;  // since the last progress line
  // Load steps: phase i is [phase_ends[i-1], phase_ends[i]) seconds.
  std::vector<double> phase_ends;
  std::vector<std::vector<std::uint32_t>> phase_us;  // by the phase of submission
  std::vector<std::uint64_t> phase_committed;        // by the phase of commit
  std::size_t phase_of(double t) const {
    std::size_t i = 0;
    while (i + 1 < phase_ends.size() && t >= phase_ends[i]) ++i;
    return i;
  }
  void add(std::uint32_t us, double submitted_s, double committed_s) {
    std::lock_guard lock(mutex);
    all_us.push_back(us);
    window_us.push_back(us);
    if (!phase_ends.empty()) {
      phase_us[phase_of(submitted_s)].push_back(us);
      ++phase_committed[phase_of(committed_s)];
    }
  }
};

double percentile_ms(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k = std::min(v.size() - 1, static_cast<std::size_t>(std::ceil(q * v.size())) - (q > 0 ? 1 : 0));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k] / 1000.0;
}

struct SignedWork {
  // Per account: encoded transfers in nonce order and their ids.
  std::vector<std::vector<Bytes>> txs;
  std::vector<std::vector<execution::TransactionId>> ids;
};

struct LoadShared {
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> submitted{0}, committed{0}, refused{0}, errors{0};
  std::map<std::string, std::uint64_t> refusals;  // under latencies.mutex
  Latencies latencies;
  std::vector<std::uint64_t> phase_submitted;  // under latencies.mutex
  void count_submitted(std::size_t n, double t) {
    submitted += n;
    if (latencies.phase_ends.empty()) return;
    std::lock_guard lock(latencies.mutex);
    phase_submitted[latencies.phase_of(t)] += n;
  }
  // A commit of something sent at `sent` (start: the run's clock).
  void count_committed(Clock::time_point sent, Clock::time_point now, Clock::time_point start) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(now - sent).count();
    ++committed;
    latencies.add(static_cast<std::uint32_t>(std::min<std::int64_t>(us, 0xFFFFFFFF)),
                  std::chrono::duration<double>(sent - start).count(), std::chrono::duration<double>(now - start).count());
  }
};

// One connection's generator: signed transfers of the accounts it owns.
void run_signed_client(node::Client& client, SignedWork& work, std::vector<std::size_t> accounts, const Offered& offered,
                       std::size_t window_per_account, LoadShared& shared, Clock::time_point start) {
  std::vector<std::size_t> next(work.txs.size(), 0), committed(work.txs.size(), 0);
  std::unordered_map<execution::TransactionId, std::pair<std::size_t, Clock::time_point>, Hash32Hasher> pending;
  std::unordered_map<std::uint64_t, std::vector<std::pair<execution::TransactionId, std::size_t>>> submits;
  std::uint64_t sent = 0;
  std::size_t cursor = 0;
  while (!shared.stop) {
    // How many more we may send now (open loop at the offered rate; saturation: the window).
    std::uint64_t allowed = limits::client_submit_batch_max;
    if (!offered.saturate()) {
      const double due = offered.due(seconds_since(start));
      allowed = due > static_cast<double>(sent) ? static_cast<std::uint64_t>(due - static_cast<double>(sent)) : 0;
      allowed = std::min<std::uint64_t>(allowed, limits::client_submit_batch_max);
    }
    std::vector<Bytes> batch;
    std::vector<std::pair<execution::TransactionId, std::size_t>> batch_ids;
    for (std::size_t tried = 0; tried < accounts.size() && batch.size() < allowed; ++tried) {
      const std::size_t a = accounts[cursor++ % accounts.size()];
      if (next[a] >= work.txs[a].size() || next[a] - committed[a] >= window_per_account) continue;
      batch.push_back(work.txs[a][next[a]]);
      batch_ids.emplace_back(work.ids[a][next[a]], a);
      ++next[a];
    }
    if (!batch.empty()) {
      auto id = client.send_submit(batch);
      if (!id) {
        ++shared.errors;
        return;
      }
      const auto now = Clock::now();
      for (const auto& [tx, a] : batch_ids) pending[tx] = {a, now};
      submits[*id] = std::move(batch_ids);
      sent += batch.size();
      shared.count_submitted(batch.size(), std::chrono::duration<double>(now - start).count());
    }
    auto responses = client.poll(std::chrono::milliseconds(batch.empty() ? 2 : 0));
    if (!responses) {
      ++shared.errors;
      return;
    }
    for (auto& r : *responses) {
      if (auto* s = std::get_if<node::SubmitResultResponse>(&r.body)) {
        auto it = submits.find(r.request_id);
        if (it == submits.end()) continue;
        for (std::size_t i = 0; i < s->outcomes.size() && i < it->second.size(); ++i) {
          const auto& [tx, a] = it->second[i];
          if (s->outcomes[i].accepted) {
            node::Request wait;
            wait.body = node::WaitReceiptRequest{tx, static_cast<std::uint32_t>(limits::client_wait_timeout_ms_max)};
            if (!client.send_request(std::move(wait))) ++shared.errors;
          } else {
            ++shared.refused;
            ++committed[a];  // frees its window slot; the account's later nonces will be refused too
            pending.erase(tx);
            std::lock_guard lock(shared.latencies.mutex);
            ++shared.refusals[node::describe(s->outcomes[i])];
          }
        }
        submits.erase(it);
      } else if (auto* receipt = std::get_if<node::ReceiptResponse>(&r.body)) {
        if (!receipt->receipt) continue;  // timed out; counted as not committed
        auto it = pending.find(receipt->receipt->id);
        if (it == pending.end()) continue;
        shared.count_committed(it->second.second, Clock::now(), start);
        ++committed[it->second.first];
        pending.erase(it);
      } else if (std::get_if<node::ErrorResponse>(&r.body)) {
        ++shared.errors;
      }
    }
  }
}

// One connection's generator of raw commands (sequence numbers are its own).
void run_raw_client(node::Client& client, const Offered& offered, std::size_t window, std::uint32_t client_index,
                    LoadShared& shared, Clock::time_point start) {
  std::unordered_map<std::uint64_t, Clock::time_point> pending;
  std::uint64_t sequence = 0;
  const std::size_t batch_max = limits::client_raw_batch_max;
  while (!shared.stop) {
    std::uint64_t allowed = batch_max;
    if (!offered.saturate()) {
      const double due = offered.due(seconds_since(start));
      allowed = due > static_cast<double>(sequence) ? static_cast<std::uint64_t>(due - static_cast<double>(sequence)) : 0;
      allowed = std::min<std::uint64_t>(allowed, batch_max);
    }
    allowed = std::min<std::uint64_t>(allowed, window > pending.size() ? window - pending.size() : 0);
    if (allowed > 0) {
      std::vector<node::RawCommand> commands(allowed);
      const auto now = Clock::now();
      for (auto& c : commands) {
        c.sequence = ++sequence;
        // 8-byte key (client, sequence), 8-byte value.
        const std::uint64_t key = (static_cast<std::uint64_t>(client_index) << 48) | (c.sequence & 0xFFFFFFFFFFFFull);
        for (int b = 0; b < 8; ++b) c.command[b] = static_cast<std::uint8_t>(key >> (8 * b));
        for (int b = 0; b < 8; ++b) c.command[8 + b] = static_cast<std::uint8_t>(c.sequence >> (8 * b));
        pending[c.sequence] = now;
      }
      if (!client.send_raw(commands)) {
        ++shared.errors;
        return;
      }
      shared.count_submitted(commands.size(), std::chrono::duration<double>(now - start).count());
    }
    auto responses = client.poll(std::chrono::milliseconds(allowed == 0 ? 1 : 0));
    if (!responses) {
      ++shared.errors;
      return;
    }
    const auto now = Clock::now();
    for (auto& r : *responses) {
      if (auto* c = std::get_if<node::RawCommittedResponse>(&r.body)) {
        for (std::uint64_t s : c->sequences) {
          auto it = pending.find(s);
          if (it == pending.end()) continue;
          shared.count_committed(it->second, now, start);
          pending.erase(it);
        }
      } else if (auto* e = std::get_if<node::ErrorResponse>(&r.body)) {
        ++shared.refused;
        std::lock_guard lock(shared.latencies.mutex);
        ++shared.refusals[e->text];
      }
    }
  }
}

std::optional<nlohmann::json> node_status(const node::NodeConfig& c) {
  auto reply = node::http_get(c.admin_listen, "/status", std::chrono::milliseconds(500));
  if (!reply || reply->status != 200) return std::nullopt;
  auto j = nlohmann::json::parse(reply->body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

// --- The run -------------------------------------------------------------------------

Result<ClusterResult, std::string> run_cluster(const ClusterOptions& o) {
  if (o.down > 0 && (o.down >= o.nodes || o.down_from < 1 || o.down_from > o.rate_steps.size() ||
                     (o.down_until != 0 && (o.down_until <= o.down_from || o.down_until > o.rate_steps.size())))) {
    return Err(std::string("--down needs fewer validators down than there are, --rate-steps, and "
                           "1 <= --down-from < --down-until <= the number of steps (--down-until 0: never back)"));
  }
  ClusterResult result;
  const fs::path dir = o.dir.empty() ? fs::temp_directory_path() / ("kestrel-demo-" + std::to_string(getpid())) : fs::path(o.dir);
  result.dir = dir.string();
  ClusterInit init;
  init.nodes = o.nodes;
  init.dir = dir.string();
  init.scheme = o.scheme;
  init.base_port = o.base_port;
  init.accounts = o.raw ? 1 : o.accounts;
  init.force = true;
  if (auto s = init_cluster(init); !s) return Err(s.error());

  // Per-run settings into each node's config.
  std::vector<NodeProcess> nodes(o.nodes);
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    const std::string path = (dir / ("node" + std::to_string(i)) / "config.toml").string();
    auto config = node::load_config(path);
    if (!config) return Err(config.error().message());
    config->raw_mode = o.raw;
    if (o.batch_transactions_max) {
      // The same start for the tuner (gate perf.adaptive_tuning), so an A/B
      // compares a fixed batch size with the tuner starting from it.
      config->batch_transactions_max = o.batch_transactions_max;
      auto& k = config->tuner.controller;
      k.batch_transactions_initial = std::clamp<std::uint32_t>(o.batch_transactions_max, 1, k.batch_transactions_max);
      k.batch_transactions_min = std::min(k.batch_transactions_min, k.batch_transactions_initial);
    }
    if (o.tuner_latency_target_ms) config->tuner.controller.latency_target_us = o.tuner_latency_target_ms * 1000;
    if (o.tuner_interval_ms) config->tuner.interval_ms = o.tuner_interval_ms;
    {
      std::ofstream out(path, std::ios::trunc);
      out << node::render_config(*config);
    }
    nodes[i].config = std::move(*config);
    nodes[i].config.path = path;
    nodes[i].log = (dir / ("node" + std::to_string(i) + ".log")).string();
  }

  // Signed mode: pre-sign every transfer before any node starts, so signing
  // competes with nothing.
  SignedWork work;
  if (!o.raw) {
    std::vector<std::unique_ptr<crypto::Signer>> signers;
    std::vector<execution::AccountId> ids;
    for (std::uint32_t j = 0; j < init.accounts; ++j) {
      auto s = node::read_secret_key_file((dir / "accounts" / ("account" + std::to_string(j) + ".key")).string());
      if (!s) return Err("account key " + std::to_string(j) + ": " + node::describe(s.error()));
      ids.push_back(execution::account_id((*s)->scheme(), (*s)->verifier().public_key()));
      signers.push_back(std::move(*s));
    }
    const std::size_t per_account = (o.transactions + init.accounts - 1) / init.accounts;
    work.txs.assign(init.accounts, {});
    work.ids.assign(init.accounts, {});
    if (o.live) std::printf("pre-signing %zu %s transfers on %u threads...\n", per_account * init.accounts,
                            crypto::scheme_name(crypto::default_signature_scheme), 2u);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t a = t; a < signers.size(); a += 2) {
          for (std::size_t nonce = 0; nonce < per_account; ++nonce) {
            auto tx = execution::make_signed(*signers[a], static_cast<std::uint32_t>(nodes[0].config.chain_id), nonce,
                                             execution::Transfer{ids[(a + 1) % ids.size()], 1});
            Bytes encoded = execution::encode_transaction(tx);
            work.ids[a].push_back(execution::transaction_id(encoded));
            work.txs[a].push_back(std::move(encoded));
          }
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  // Start the validators.
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    nodes[i].pid = spawn_node(nodes[i].config.path, nodes[i].log, o.gates);
    if (nodes[i].pid < 0) return Err(std::string("fork failed"));
  }
  const auto stop_all = [&](int signal) {
    for (auto& n : nodes) {
      if (n.pid > 0) kill(n.pid, signal);
    }
    for (auto& n : nodes) {
      if (n.pid > 0) {
        int status = 0;
        waitpid(n.pid, &status, 0);
        n.pid = -1;
      }
    }
  };
  const auto connect_deadline = Clock::now() + std::chrono::seconds(30);
  // Wait for a first commit (sessions up, the first leader proposing), then
  // connect: a client port closes a connection that sends no request within
  // client_first_request_timeout_ms (docs/client-api.md "Connection slots").
  while (Clock::now() < connect_deadline && !interrupted) {
    auto s = node_status(nodes[0].config);
    if (s && (*s)["height"].get<std::uint64_t>() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::vector<std::unique_ptr<node::Client>> clients(o.nodes);
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    while (!clients[i]) {
      auto c = node::Client::connect(nodes[i].config.client_listen.host, nodes[i].config.client_listen.port,
                                     std::chrono::milliseconds(500));
      if (c) {
        clients[i] = std::move(*c);
      } else if (Clock::now() > connect_deadline || interrupted) {
        stop_all(SIGKILL);
        return Err("validator " + std::to_string(i) + " did not open its client port; see " + nodes[i].log);
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
    }
  }
  for (auto& n : nodes) n.cpu_ticks_start = n.cpu_ticks_last = cpu_ticks(n.pid);

  // Drive. With --down, only the validators that stay up get load.
  const std::uint32_t loaded = o.nodes - o.down;
  LoadShared shared;
  Offered offered;  // per generator
  offered.rate = o.rate / loaded;
  double phase_end = 0;
  std::vector<double> phase_starts;
  for (const RateStep& step : o.rate_steps) {
    offered.steps.push_back({step.rate / loaded, step.seconds});
    phase_starts.push_back(phase_end);
    shared.latencies.phase_ends.push_back(phase_end += step.seconds);
  }
  // Seconds into the load at which the last o.down validators go down and come back.
  std::optional<double> down_at, up_at;
  if (o.down > 0) {
    down_at = phase_starts.at(o.down_from - 1);
    if (o.down_until > o.down_from) up_at = phase_starts.at(o.down_until - 1);
  }
  shared.latencies.phase_us.resize(o.rate_steps.size());
  shared.latencies.phase_committed.resize(o.rate_steps.size());
  shared.phase_submitted.resize(o.rate_steps.size());
  const double duration = o.load_seconds();
  const auto start = Clock::now();
  std::vector<std::thread> generators;
  for (std::uint32_t i = 0; i < loaded; ++i) {
    if (o.raw) {
      generators.emplace_back([&, i] {
        run_raw_client(*clients[i], offered, o.raw_window, i, shared, start);
      });
    } else {
      std::vector<std::size_t> mine;
      for (std::size_t a = i; a < work.txs.size(); a += loaded) mine.push_back(a);
      generators.emplace_back([&, i, mine] {
        run_signed_client(*clients[i], work, mine, offered, o.window_per_account, shared, start);
      });
    }
  }
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  std::uint64_t last_committed = 0;
  auto last_tick = Clock::now();
  const auto at = [&](double s) { return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  while (seconds_since(start) < duration && !interrupted) {
    auto wake = last_tick + std::chrono::seconds(1);
    if (down_at && at(*down_at) < wake) wake = at(*down_at);
    if (up_at && at(*up_at) < wake) wake = at(*up_at);
    std::this_thread::sleep_until(wake);
    if (down_at && Clock::now() >= at(*down_at)) {
      for (std::uint32_t i = loaded; i < o.nodes; ++i) {
        clients[i].reset();
        const std::uint64_t ticks = cpu_ticks(nodes[i].pid);
        nodes[i].cpu_ticks_earlier += ticks - std::min(ticks, nodes[i].cpu_ticks_start);
        kill(nodes[i].pid, SIGKILL);
        int status = 0;
        waitpid(nodes[i].pid, &status, 0);
        nodes[i].pid = -1;
      }
      if (o.live) std::printf("t=%4.0fs  validators %u..%u killed\n", seconds_since(start), loaded, o.nodes - 1);
      down_at.reset();
    }
    if (up_at && Clock::now() >= at(*up_at) && !down_at) {
      for (std::uint32_t i = loaded; i < o.nodes; ++i) {
        nodes[i].pid = spawn_node(nodes[i].config.path, nodes[i].log, o.gates);
        if (nodes[i].pid < 0) {
          stop_all(SIGKILL);
          return Err("validator " + std::to_string(i) + " could not be restarted (fork failed)");
        }
        nodes[i].cpu_ticks_start = nodes[i].cpu_ticks_last = 0;
      }
      if (o.live) std::printf("t=%4.0fs  validators %u..%u restarted\n", seconds_since(start), loaded, o.nodes - 1);
      up_at.reset();
    }
    if (Clock::now() < last_tick + std::chrono::seconds(1)) continue;
    const auto now = Clock::now();
    const double dt = std::chrono::duration<double>(now - last_tick).count();
    last_tick = now;
    const std::uint64_t committed = shared.committed;
    std::vector<std::uint32_t> window;
    {
      std::lock_guard lock(shared.latencies.mutex);
      window.swap(shared.latencies.window_us);
    }
    std::string cpu;
    for (auto& n : nodes) {
      if (n.pid <= 0) {
        cpu += "    -";
        continue;
      }
      const std::uint64_t t = cpu_ticks(n.pid);
      const Resident rss = resident(n.pid);
      n.peak_rss_bytes = std::max(n.peak_rss_bytes, rss.peak);
      n.peak_anon_bytes = std::max(n.peak_anon_bytes, rss.anon);
      char buffer[16];
      std::snprintf(buffer, sizeof buffer, " %3.0f%%",
                    100.0 * static_cast<double>(t - std::min(t, n.cpu_ticks_last)) / ticks_per_second / dt);
      cpu += buffer;
      n.cpu_ticks_last = t;
    }
    if (o.live) {
      auto s = node_status(nodes[0].config);
      std::printf("t=%4.0fs  committed %8.0f %s/s  p50 %7.2f ms  p99 %7.2f ms  height %6llu  view %6llu  cpu%s\n",
                  seconds_since(start), static_cast<double>(committed - last_committed) / dt, o.raw ? "ops" : "tx",
                  percentile_ms(window, 0.5), percentile_ms(window, 0.99),
                  s ? static_cast<unsigned long long>((*s)["height"].get<std::uint64_t>()) : 0ull,
                  s ? static_cast<unsigned long long>((*s)["view"].get<std::uint64_t>()) : 0ull, cpu.c_str());
      std::fflush(stdout);
    }
    last_committed = committed;
    if (shared.errors > 0 && !o.live) break;
  }
  const double elapsed = seconds_since(start);
  shared.stop = true;
  for (auto& g : generators) g.join();
  // CPU figures are of the load, not of the catch-up wait below.
  for (auto& n : nodes) {
    const std::uint64_t ticks = n.pid > 0 ? cpu_ticks(n.pid) : 0;
    n.cpu_ticks_at_load_end = n.cpu_ticks_earlier + (ticks - std::min(ticks, n.cpu_ticks_start));
  }
  if (o.down > 0 && o.down_until > o.down_from) {
    // The restarted validators catch up: the lowest height the others reached
    // when the load ended, within catch_up_wait_s.
    constexpr double catch_up_wait_s = 60;
    const auto load_end = Clock::now();
    std::uint64_t target = UINT64_MAX;
    for (std::uint32_t i = 0; i < loaded; ++i) {
      auto s = node_status(nodes[i].config);
      if (!s) {
        stop_all(SIGKILL);
        return Err("validator " + std::to_string(i) + " did not answer /status at the end of the load; see " + nodes[i].log);
      }
      target = std::min<std::uint64_t>(target, (*s)["height"].get<std::uint64_t>());
    }
    result.catch_up_target = target;
    while (seconds_since(load_end) < catch_up_wait_s && !interrupted) {
      bool all = true;
      for (std::uint32_t i = loaded; i < o.nodes; ++i) {
        auto s = node_status(nodes[i].config);
        all = all && s && (*s)["height"].get<std::uint64_t>() >= target;
      }
      if (all) {
        result.catch_up_s = seconds_since(load_end);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  // Figures.
  result.elapsed_s = elapsed;
  result.submitted = shared.submitted;
  result.committed = shared.committed;
  result.refused = shared.refused;
  result.errors = shared.errors;
  result.refusals = shared.refusals;
  result.throughput = static_cast<double>(shared.committed) / elapsed;
  {
    std::lock_guard lock(shared.latencies.mutex);
    auto& all = shared.latencies.all_us;
    result.p50_ms = percentile_ms(all, 0.50);
    result.p90_ms = percentile_ms(all, 0.90);
    result.p99_ms = percentile_ms(all, 0.99);
    result.max_ms = all.empty() ? 0 : *std::max_element(all.begin(), all.end()) / 1000.0;
    for (std::size_t i = 0; i < o.rate_steps.size(); ++i) {
      PhaseResult p;
      p.rate = o.rate_steps[i].rate;
      p.seconds = o.rate_steps[i].seconds;
      p.submitted = shared.phase_submitted[i];
      p.committed = shared.latencies.phase_committed[i];
      p.throughput = static_cast<double>(p.committed) / p.seconds;
      p.p50_ms = percentile_ms(shared.latencies.phase_us[i], 0.50);
      p.p99_ms = percentile_ms(shared.latencies.phase_us[i], 0.99);
      result.phases.push_back(p);
    }
  }
  double cpu_seconds = 0;
  for (auto& n : nodes) {
    NodeFigures f;
    // During the load, over every process of this validator (--down).
    f.cpu_percent = 100.0 * static_cast<double>(n.cpu_ticks_at_load_end) / ticks_per_second / elapsed;
    const Resident rss = resident(n.pid);
    f.peak_rss_bytes = std::max(n.peak_rss_bytes, rss.peak);
    f.peak_anon_bytes = std::max(n.peak_anon_bytes, rss.anon);
    f.end_rss_bytes = rss.now;
    if (auto s = node_status(n.config)) {
      f.view_changes = (*s)["view_changes"].get<std::uint64_t>();
      f.timeouts = (*s)["timeouts_sent"].get<std::uint64_t>();
      f.height = (*s)["height"].get<std::uint64_t>();
    }
    result.nodes.push_back(f);
    cpu_seconds += f.cpu_percent / 100.0 * elapsed;
  }
  if (shared.committed > 0) result.cpu_us_per_op = cpu_seconds * 1e6 / static_cast<double>(shared.committed);
  // Node 0's stage profile: the bottleneck report of this run (cumulative since
  // the node started, so it includes the short warm-up).
  if (auto reply = node::http_get(nodes[0].config.admin_listen, "/stages", std::chrono::seconds(2));
      reply && reply->status == 200) {
    if (auto doc = perf::parse_stages_json(reply->body)) {
      result.bottlenecks = perf::bottleneck_report(doc->snapshot, doc->process).to_text();
    }
  }
  clients.clear();
  stop_all(SIGTERM);

  // Agreement: every node's state digest at the highest height all reached.
  std::vector<std::unique_ptr<storage::Store>> stores;
  std::uint64_t common = UINT64_MAX;
  for (auto& n : nodes) {
    storage::Options so;
    so.path = node::resolve_path(n.config, n.config.data_dir);
    so.cluster_id = node::cluster_id_of(n.config);
    so.create_if_missing = false;
    so.keep_commits = n.config.keep_committed_blocks;
    std::string detail;
    auto store = storage::Store::open(so, &detail);
    if (!store) return Err(so.path + ": " + storage::describe(store.error()) + " " + detail);
    common = std::min(common, (*store)->executed_height());  // digests exist for executed heights
    stores.push_back(std::move(*store));
  }
  result.common_height = common;
  result.digests_agree = true;
  for (auto& s : stores) {
    auto digest = s->state_digest_at(common);
    if (!digest) return Err("state digest at height " + std::to_string(common) + ": " + storage::describe(digest.error()));
    if (result.digest.bytes == Hash32{}.bytes) result.digest = *digest;
    if (*digest != result.digest) result.digests_agree = false;
  }
  stores.clear();
  if (!o.keep) {
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
  return result;
}

double ClusterOptions::load_seconds() const {
  if (rate_steps.empty()) return duration_s;
  double sum = 0;
  for (const auto& s : rate_steps) sum += s.seconds;
  return sum;
}

Result<std::vector<RateStep>, std::string> parse_rate_steps(const std::string& text) {
  std::vector<RateStep> steps;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    const auto colon = item.find(':');
    RateStep step;
    char* end = nullptr;
    bool ok = colon != std::string::npos;
    if (ok) {
      const std::string rate = item.substr(0, colon), seconds = item.substr(colon + 1);
      step.rate = std::strtod(rate.c_str(), &end);
      ok = end != rate.c_str() && *end == '\0' && std::isfinite(step.rate) && step.rate > 0;
      step.seconds = std::strtod(seconds.c_str(), &end);
      ok = ok && end != seconds.c_str() && *end == '\0' && std::isfinite(step.seconds) && step.seconds > 0 &&
           step.seconds <= 3600;
    }
    if (!ok) return Err("'" + item + "' is not RATE:SECONDS (both positive, seconds <= 3600)");
    if (steps.size() >= 64) return Err(std::string("at most 64 steps"));
    steps.push_back(step);
  }
  if (steps.empty()) return Err(std::string("no steps"));
  return steps;
}

void print_summary(const ClusterOptions& o, const ClusterResult& r) {
  std::printf("\n%s cluster of %u validators, %.1f s%s\n", o.raw ? "raw-command" : "signed-transfer", o.nodes, r.elapsed_s,
              interrupted ? " (interrupted)" : "");
  std::printf("  committed   %llu of %llu submitted (%llu refused, %llu client errors)\n",
              static_cast<unsigned long long>(r.committed), static_cast<unsigned long long>(r.submitted),
              static_cast<unsigned long long>(r.refused), static_cast<unsigned long long>(r.errors));
  for (const auto& [reason, count] : r.refusals) std::printf("    refused: %s x %llu\n", reason.c_str(), static_cast<unsigned long long>(count));
  std::printf("  throughput  %.0f %s/s\n", r.throughput, o.raw ? "ops" : "tx");
  std::printf("  latency     p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms (submit to commit)\n", r.p50_ms, r.p90_ms,
              r.p99_ms, r.max_ms);
  if (!r.phases.empty()) {
    std::printf("  %-6s %10s %8s %12s %10s %10s   (latency of what was submitted in the phase)\n", "phase", "offered",
                "seconds", "committed/s", "p50 ms", "p99 ms");
    for (std::size_t i = 0; i < r.phases.size(); ++i) {
      const auto& p = r.phases[i];
      std::printf("  %-6zu %10.0f %8.1f %12.0f %10.2f %10.2f\n", i + 1, p.rate, p.seconds, p.throughput, p.p50_ms, p.p99_ms);
    }
  }
  std::printf("  %-6s %8s %12s %12s %12s %10s %10s %8s\n", "node", "cpu", "peak rss", "peak anon", "end rss",
              "height", "views", "timeouts");
  for (std::size_t i = 0; i < r.nodes.size(); ++i) {
    const auto& n = r.nodes[i];
    std::printf("  %-6zu %7.0f%% %9.1f MiB %8.1f MiB %8.1f MiB %10llu %10llu %8llu\n", i, n.cpu_percent,
                n.peak_rss_bytes / 1048576.0, n.peak_anon_bytes / 1048576.0, n.end_rss_bytes / 1048576.0,
                static_cast<unsigned long long>(n.height), static_cast<unsigned long long>(n.view_changes),
                static_cast<unsigned long long>(n.timeouts));
  }
  if (o.down > 0) {
    std::printf("  down        validators %u..%u from step %u%s\n", o.nodes - o.down, o.nodes - 1, o.down_from,
                o.down_until > o.down_from ? (" until step " + std::to_string(o.down_until)).c_str() : " (not restarted)");
    if (o.down_until > o.down_from) {
      if (r.catch_up_s >= 0) {
        std::printf("  catch-up    restarted validators reached height %llu %.1f s after the load ended\n",
                    static_cast<unsigned long long>(r.catch_up_target), r.catch_up_s);
      } else {
        std::printf("  catch-up    restarted validators did NOT reach height %llu within 60 s of the load's end\n",
                    static_cast<unsigned long long>(r.catch_up_target));
      }
    }
  }
  std::printf("  state digests at height %llu: %s (%s)\n", static_cast<unsigned long long>(r.common_height),
              r.digests_agree ? "all equal" : "DIFFERENT", to_hex(r.digest.bytes).substr(0, 16).c_str());
  std::printf("  logs and data: %s%s\n", r.dir.c_str(), o.keep ? "" : " (removed; --keep keeps them)");
}

nlohmann::json result_json(const ClusterOptions& o, const ClusterResult& r) {
  nlohmann::json j;
  const std::string prefix = std::string("cluster.n") + std::to_string(o.nodes) + (o.raw ? ".raw" : ".signed") + ".";
  const char* unit = o.raw ? "ops/s" : "tx/s";
  j["machine"] = {{"cores", std::thread::hardware_concurrency()}, {"avx2", cpu_features().avx2}};
  j["figures"] = nlohmann::json::array({
      {{"name", prefix + "throughput"}, {"value", r.throughput}, {"unit", unit}, {"better", "higher"}},
      {{"name", prefix + "p50"}, {"value", r.p50_ms}, {"unit", "ms"}, {"better", "lower"}},
      {{"name", prefix + "p99"}, {"value", r.p99_ms}, {"unit", "ms"}, {"better", "lower"}},
  });
  double rss = 0;
  for (const auto& n : r.nodes) rss = std::max(rss, static_cast<double>(n.peak_rss_bytes) / 1048576.0);
  j["figures"].push_back({{"name", prefix + "peak_rss"}, {"value", rss}, {"unit", "MiB"}, {"better", "lower"}});
  j["figures"].push_back({{"name", prefix + "cpu_per_op"}, {"value", r.cpu_us_per_op}, {"unit", "us"}, {"better", "lower"}});
  j["cpu_us_per_op"] = r.cpu_us_per_op;
  j["phases"] = nlohmann::json::array();
  for (std::size_t i = 0; i < r.phases.size(); ++i) {
    const auto& p = r.phases[i];
    const std::string phase = prefix + "phase" + std::to_string(i + 1) + ".";
    j["figures"].push_back({{"name", phase + "p99"}, {"value", p.p99_ms}, {"unit", "ms"}, {"better", "lower"}});
    j["figures"].push_back({{"name", phase + "throughput"}, {"value", p.throughput}, {"unit", unit}, {"better", "higher"}});
    j["phases"].push_back({{"offered", p.rate}, {"seconds", p.seconds}, {"submitted", p.submitted},
                           {"committed", p.committed}, {"throughput", p.throughput}, {"p50_ms", p.p50_ms},
                           {"p99_ms", p.p99_ms}});
  }
  j["mode"] = o.raw ? "raw" : "signed";
  j["nodes"] = o.nodes;
  j["rate"] = o.rate;
  j["duration_s"] = r.elapsed_s;
  j["submitted"] = r.submitted;
  j["committed"] = r.committed;
  j["refused"] = r.refused;
  j["throughput"] = r.throughput;
  j["p50_ms"] = r.p50_ms;
  j["p90_ms"] = r.p90_ms;
  j["p99_ms"] = r.p99_ms;
  j["max_ms"] = r.max_ms;
  j["digests_agree"] = r.digests_agree;
  j["catch_up_s"] = r.catch_up_s;
  j["catch_up_target"] = r.catch_up_target;
  j["common_height"] = r.common_height;
  for (const auto& n : r.nodes) {
    j["per_node"].push_back({{"cpu_percent", n.cpu_percent}, {"peak_rss_bytes", n.peak_rss_bytes},
                             {"peak_anon_bytes", n.peak_anon_bytes}, {"end_rss_bytes", n.end_rss_bytes},
                             {"view_changes", n.view_changes}, {"timeouts", n.timeouts}, {"height", n.height}});
  }
  return j;
}

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool was_interrupted() { return interrupted; }

void add_cluster_options(CLI::App& command, ClusterOptions& o) {
  command.add_option("--nodes", o.nodes, "Validators (n = 3f + 1)")->check(CLI::Range(1, 16));
  command.add_option("--duration", o.duration_s, "Seconds of load")->check(CLI::Range(1.0, 3600.0));
  command.add_option("--rate", o.rate, "Offered load in tx/s (or ops/s with --raw); 0 = saturate with a bounded window");
  command.add_option("--scheme", o.scheme, "Validator signature scheme (ed25519, ml-dsa-65, hybrid)");
  command.add_flag("--raw", o.raw, "Unsigned 16-byte raw commands instead of signed transfers");
  command.add_flag("--keep", o.keep, "Keep the cluster directory (configs, data, logs)");
  command.add_option("--dir", o.dir, "Cluster directory (default: a fresh one under the temp directory)");
  command.add_option("--base-port", o.base_port, "First port (node i uses base+3i .. base+3i+2)");
  command.add_option("--accounts", o.accounts, "Funded sender accounts (signed mode)");
  command.add_option("--transactions", o.transactions, "Transfers pre-signed for the run (signed mode)");
  command.add_option("--batch", o.batch_transactions_max,
                     "consensus.batch_transactions_max for every node, also the tuner's initial batch size (0: config default)");
  command.add_option("--raw-window", o.raw_window, "Raw commands in flight per client connection");
  command.add_option("--tuner-target-ms", o.tuner_latency_target_ms,
                     "[tuner] latency_target_ms for every node (with --gate perf.adaptive_tuning=on or --ab)");
  command.add_option("--tuner-interval-ms", o.tuner_interval_ms, "[tuner] interval_ms for every node");
  command.add_option_function<std::string>(
      "--rate-steps",
      [&o](const std::string& text) {
        auto steps = parse_rate_steps(text);
        if (!steps) throw CLI::ValidationError("--rate-steps", steps.error());
        o.rate_steps = std::move(*steps);
      },
      "Load steps R1:S1,R2:S2,...: offered rate R for S seconds, in sequence (replaces --rate and --duration); "
      "per-phase throughput and latency");
  command.add_option("--down", o.down,
                     "Validators to take down (the last ones; SIGKILL) at the start of step --down-from; the load "
                     "goes to the others from the start (needs --rate-steps)");
  command.add_option("--down-from", o.down_from, "Load step (1-based) at whose start --down validators are killed");
  command.add_option("--down-until", o.down_until,
                     "Load step at whose start they are started again (0: they stay down)");
}

}  // namespace kestrel::app
