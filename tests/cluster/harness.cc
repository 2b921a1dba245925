// Cluster test harness (harness.h).
#include "harness.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "common/codec.h"
#include "common/limits.h"
#include "hotstuff2/hotstuff2.h"
#include "mempool/mempool.h"
#include "node/admin_http.h"
#include "node/payload.h"

#ifndef KESTREL_BINARY
#error "KESTREL_BINARY (the kestrel executable) must be defined by the build"
#endif

namespace kestrel::cluster_test {

namespace fs = std::filesystem;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

bool wait_until(Clock::time_point deadline, const std::function<bool()>& done, std::chrono::milliseconds period) {
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(period);
  }
}

// --- Transfers ------------------------------------------------------------------------

SignedTransfers sign_transfers(const Accounts& accounts, std::uint32_t chain_id, std::size_t per_account,
                               unsigned threads) {
  KESTREL_ASSERT(per_account >= 1 && threads >= 1);
  const std::size_t n = accounts.signers.size();
  SignedTransfers out;
  out.txs.assign(n, {});
  out.ids.assign(n, {});
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (std::size_t a = t; a < n; a += threads) {
        out.txs[a].reserve(per_account);
        out.ids[a].reserve(per_account);
        for (std::uint64_t nonce = 0; nonce < per_account; ++nonce) {
          auto tx = execution::make_signed(*accounts.signers[a], chain_id, nonce,
                                           execution::Transfer{accounts.ids[recipient_of(a, n)], amount_of(a)});
          Bytes encoded = execution::encode_transaction(tx);
          out.ids[a].push_back(execution::transaction_id(encoded));
          out.txs[a].push_back(std::move(encoded));
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  return out;
}

std::uint64_t expected_balance(const Accounts& accounts, const std::vector<std::uint64_t>& committed, std::size_t a) {
  const std::size_t n = accounts.ids.size();
  const std::size_t prev = (a + n - 1) % n;
  return accounts.genesis_balance - committed[a] * amount_of(a) + committed[prev] * amount_of(prev);
}

// --- Processes ------------------------------------------------------------------------

namespace {

// True when every port in [base, base + count) can be bound on loopback now.
bool ports_free(std::uint16_t base, std::uint32_t count) {
  for (std::uint32_t p = 0; p < count; ++p) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(base + p));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (!ok) return false;
  }
  return true;
}

// The ports clusters take, [low, high): below the kernel's ephemeral range when it
// has room, else above it. Inside it, any outgoing connection on the machine (a
// peer of this cluster, another test's clients) may take a port as its source
// between our probe and the node's bind, and the node then fails to listen.
struct PortSpan {
  std::uint32_t low = 0, high = 0;
};
constexpr std::uint32_t cluster_slot_ports = 40;  // one slot per cluster: 3 ports per node, up to 13 nodes
PortSpan cluster_port_span() {
  std::uint32_t ephemeral_low = 32768, ephemeral_high = 60999;  // Linux's default
  if (std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range"); range) range >> ephemeral_low >> ephemeral_high;
  constexpr std::uint32_t floor = 10000;  // clear of the well-known and common service ports
  if (ephemeral_low >= floor + 64 * cluster_slot_ports) return {floor, ephemeral_low};
  return {std::min<std::uint32_t>(ephemeral_high + 1, 65535), 65536};
}

// A slot's lock: an flock on a file per slot, held (close-on-exec, so no node
// inherits it) until the cluster is destroyed or its process dies. Two clusters,
// in one test process or in two run side by side, never share a slot, even in
// the window between the probe and the nodes' binds.
int lock_slot(std::uint32_t slot) {
  const fs::path dir = fs::temp_directory_path() / "kestrel-cluster-ports";
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string path = (dir / ("slot-" + std::to_string(slot))).string();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A port range of its own per cluster: a slot locked for the cluster's lifetime
// (lock_slot) whose ports are all free now (ports_free: no other program holds
// them). The search starts at a per-process offset (pid) so side-by-side test
// processes rarely contend for the same lock.
struct PortRange {
  std::uint16_t base = 0;
  int lock = -1;
};
std::optional<PortRange> pick_port_range(std::uint32_t nodes) {
  const std::uint32_t span = 3 * nodes;
  KESTREL_ASSERT(span <= cluster_slot_ports);
  const PortSpan ports = cluster_port_span();
  const std::uint32_t slots = (ports.high - ports.low) / cluster_slot_ports;
  if (slots == 0) return std::nullopt;
  const std::uint32_t first = static_cast<std::uint32_t>(getpid()) * 7 % slots;
  for (std::uint32_t k = 0; k < slots; ++k) {
    const std::uint32_t slot = (first + k) % slots;
    const std::uint32_t base = ports.low + slot * cluster_slot_ports;
    const int lock = lock_slot(slot);
    if (lock < 0) continue;
    if (ports_free(static_cast<std::uint16_t>(base), span)) return PortRange{static_cast<std::uint16_t>(base), lock};
    ::close(lock);
  }
  return std::nullopt;
}

// fork + exec of the kestrel binary, output appended to `log_path`, with `env`
// ("NAME=value" entries; first, so they win over inherited ones) and this process's
// environment without any KESTREL_TEST_ variable (a failpoint reaches only the node
// a test arms). Everything is allocated before fork. The child dies with the test
// process (PR_SET_PDEATHSIG).
pid_t spawn(std::vector<std::string> args, const std::string& log_path, std::vector<std::string> env = {}) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(KESTREL_BINARY));
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "KESTREL_TEST_", 13) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid != 0) return pid;
  // Child: only async-signal-safe calls until exec (the parent has threads).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd >= 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
  }
  execve(KESTREL_BINARY, argv.data(), envp.data());
  _exit(127);
}

// Waits for `pid` until `deadline`; its exit status, or nullopt when still running.
std::optional<int> reap(pid_t pid, Clock::time_point deadline) {
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    if (r < 0) return -1;
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::optional<nlohmann::json> parse_json(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

}  // namespace

Result<std::unique_ptr<Cluster>, std::string> Cluster::create(Options o) {
  std::unique_ptr<Cluster> c(new Cluster());
  c->deadline_ = Clock::now() + o.budget;
  c->dir_ = fs::temp_directory_path() / ("kestrel-cluster-" + o.name + "-" + std::to_string(getpid()));
  std::error_code ec;
  fs::remove_all(c->dir_, ec);
  fs::create_directories(c->dir_, ec);
  if (ec) return Err(c->dir_.string() + ": " + ec.message());
  const auto range = pick_port_range(o.nodes);
  if (!range) return Err(std::string("no free loopback port range found"));
  c->port_lock_ = range->lock;
  const std::uint16_t base = range->base;

  const std::string init_log = (c->dir_ / "init.log").string();
  const pid_t init = spawn({"init", "--nodes", std::to_string(o.nodes), "--dir", c->dir_.string(), "--base-port",
                            std::to_string(base), "--accounts", std::to_string(o.accounts), "--scheme", o.scheme,
                            "--force"},
                           init_log);
  if (init < 0) return Err(std::string("fork failed"));
  const auto code = reap(init, Clock::now() + std::chrono::seconds(60));
  if (!code) {
    ::kill(init, SIGKILL);
    (void)reap(init, Clock::now() + std::chrono::seconds(5));
    return Err("kestrel init did not finish in 60 s; see " + init_log);
  }
  if (*code != 0) return Err("kestrel init failed (" + std::to_string(*code) + "); see " + init_log);

  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    const std::string path = (c->dir_ / ("node" + std::to_string(i)) / "config.toml").string();
    auto config = node::load_config(path);
    if (!config) return Err(config.error().message());
    // Keep every block so the stores can be compared at every height.
    config->keep_committed_blocks = 100000;
    if (o.tweak) o.tweak(*config);
    {
      std::ofstream out(path, std::ios::trunc);
      out << node::render_config(*config);
      if (!out) return Err(path + ": cannot be written");
    }
    auto check = node::load_config(path);  // what the node will read
    if (!check) return Err(check.error().message());
    check->path = path;
    c->configs_.push_back(std::move(*check));
  }
  for (std::uint32_t j = 0; j < o.accounts; ++j) {
    const std::string path = (c->dir_ / "accounts" / ("account" + std::to_string(j) + ".key")).string();
    auto s = node::read_secret_key_file(path);
    if (!s) return Err(path + ": " + node::describe(s.error()));
    c->accounts_.ids.push_back(execution::account_id((*s)->scheme(), (*s)->verifier().public_key()));
    c->accounts_.signers.push_back(std::move(*s));
  }
  if (c->configs_[0].genesis.size() != o.accounts) return Err(std::string("genesis does not list every account"));
  c->accounts_.genesis_balance = c->configs_[0].genesis[0].balance;
  c->pids_.assign(o.nodes, -1);
  c->watchdog_ = std::thread([p = c.get()] { p->watchdog(); });
  std::printf("[cluster %s] %u validators (%s), ports %u..%u, dir %s\n", o.name.c_str(), o.nodes, o.scheme.c_str(),
              base, base + 3 * o.nodes - 1, c->dir_.c_str());
  return c;
}

void Cluster::watchdog() {
  std::unique_lock lock(mutex_);
  if (wake_.wait_until(lock, deadline_, [&] { return closing_; })) return;
  deadline_hit_ = true;
  for (pid_t pid : pids_) {
    if (pid > 0) ::kill(pid, SIGKILL);  // reaped by the test thread (kill/stop/destructor)
  }
  ADD_FAILURE() << "cluster test deadline passed: every node was SIGKILLed (" << dir_ << ")";
}

Cluster::~Cluster() {
  {
    std::lock_guard lock(mutex_);
    closing_ = true;
  }
  wake_.notify_all();
  if (watchdog_.joinable()) watchdog_.join();
  for (std::uint32_t i = 0; i < pids_.size(); ++i) kill(i);
  const bool failed = ::testing::Test::HasFailure();
  const char* keep = std::getenv("KESTREL_CLUSTER_TEST_KEEP");
  if (failed) {
    for (std::uint32_t i = 0; i < configs_.size(); ++i) {
      std::printf("--- last lines of %s ---\n%s", log_path(i).c_str(), log_tail(i, 25).c_str());
    }
  }
  if (failed || (keep && *keep)) {
    std::printf("[cluster] kept %s (configs, stores, logs)\n", dir_.c_str());
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  if (port_lock_ >= 0) ::close(port_lock_);  // the nodes are gone: the slot is free again
}

Status<std::string> Cluster::start(std::uint32_t i, std::vector<std::string> env) {
  KESTREL_ASSERT(i < configs_.size());
  std::lock_guard lock(mutex_);
  KESTREL_ASSERT(pids_[i] < 0);
  if (deadline_hit_) return Err(std::string("deadline passed"));
  const pid_t pid = spawn({"node", "--config", configs_[i].path, "--status-every", "2"}, log_path(i), std::move(env));
  if (pid < 0) return Err(std::string("fork failed"));
  pids_[i] = pid;
  return {};
}

Status<std::string> Cluster::wait_ready(std::uint64_t min_height, Clock::time_point deadline) {
  for (std::uint32_t i = 0; i < configs_.size(); ++i) {
    if (!running(i)) continue;
    auto client = connect(i, deadline);
    if (!client) return Err("node " + std::to_string(i) + ": " + client.error() + "; see " + log_path(i));
  }
  for (std::uint32_t i = 0; i < configs_.size(); ++i) {
    if (!running(i)) continue;
    if (!wait_until(deadline, [&] { return height(i) >= min_height; })) {
      return Err("node " + std::to_string(i) + " did not reach height " + std::to_string(min_height));
    }
  }
  return {};
}

void Cluster::kill(std::uint32_t i) {
  std::lock_guard lock(mutex_);
  if (pids_[i] < 0) return;
  ::kill(pids_[i], SIGKILL);
  int status = 0;
  waitpid(pids_[i], &status, 0);
  pids_[i] = -1;
}

std::optional<int> Cluster::wait_exit(std::uint32_t i, Clock::time_point deadline) {
  KESTREL_ASSERT(i < configs_.size());
  pid_t pid;
  {
    std::lock_guard lock(mutex_);
    pid = pids_[i];
  }
  if (pid < 0) return std::nullopt;
  auto code = reap(pid, deadline);
  if (!code) return std::nullopt;
  std::lock_guard lock(mutex_);
  pids_[i] = -1;
  return code;
}

int Cluster::stop(std::uint32_t i, std::chrono::milliseconds grace) {
  pid_t pid;
  {
    std::lock_guard lock(mutex_);
    pid = pids_[i];
  }
  if (pid < 0) return -1;
  ::kill(pid, SIGTERM);
  auto code = reap(pid, Clock::now() + grace);
  std::lock_guard lock(mutex_);
  if (!code) {
    ::kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    code = -SIGKILL;
  }
  pids_[i] = -1;
  return *code;
}

void Cluster::stop_all() {
  // SIGTERM to all first, so they stop together.
  {
    std::lock_guard lock(mutex_);
    for (pid_t pid : pids_) {
      if (pid > 0) ::kill(pid, SIGTERM);
    }
  }
  for (std::uint32_t i = 0; i < configs_.size(); ++i) (void)stop(i);
}

bool Cluster::running(std::uint32_t i) const {
  std::lock_guard lock(mutex_);
  return pids_[i] > 0;
}

std::optional<nlohmann::json> Cluster::status(std::uint32_t i) const {
  auto reply = admin_get(i, "/status");
  if (!reply || reply->first != 200) return std::nullopt;
  return parse_json(reply->second);
}

std::uint64_t Cluster::height(std::uint32_t i) const {
  auto s = status(i);
  if (!s || !s->contains("height")) return 0;
  return (*s)["height"].get<std::uint64_t>();
}

std::optional<std::uint32_t> Cluster::leader() const {
  std::map<std::uint32_t, int> votes;
  for (std::uint32_t i = 0; i < configs_.size(); ++i) {
    if (!running(i)) continue;
    if (auto s = status(i)) ++votes[(*s)["leader"].get<std::uint32_t>()];
  }
  if (votes.empty()) return std::nullopt;
  return std::max_element(votes.begin(), votes.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
}

std::optional<std::pair<int, std::string>> Cluster::admin_get(std::uint32_t i, const std::string& path) const {
  auto reply = node::http_get(configs_[i].admin_listen, path, std::chrono::milliseconds(1000));
  if (!reply) return std::nullopt;
  return std::make_pair(reply->status, reply->body);
}

Result<std::unique_ptr<node::Client>, std::string> Cluster::connect(std::uint32_t i, Clock::time_point deadline) const {
  for (;;) {
    auto c = node::Client::connect(configs_[i].client_listen.host, configs_[i].client_listen.port,
                                   std::chrono::milliseconds(500));
    if (c) {
      (*c)->set_io_timeout(std::chrono::milliseconds(5000));
      return std::move(*c);
    }
    if (Clock::now() >= deadline) return Err(std::string("client port: ") + node::describe(c.error()));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

Result<std::unique_ptr<storage::Store>, std::string> Cluster::open_store(std::uint32_t i) const {
  KESTREL_ASSERT(!running(i));
  const auto& c = configs_[i];
  storage::Options so;
  so.path = node::resolve_path(c, c.data_dir);
  so.cluster_id = node::cluster_id_of(c);
  so.create_if_missing = false;
  so.keep_commits = c.keep_committed_blocks;
  std::string detail;
  auto store = storage::Store::open(so, &detail);
  if (!store) return Err(so.path + ": " + storage::describe(store.error()) + " " + detail);
  return std::move(*store);
}

std::string Cluster::log_path(std::uint32_t i) const { return (dir_ / ("node" + std::to_string(i) + ".log")).string(); }

std::string Cluster::log_tail(std::uint32_t i, std::size_t lines) const {
  std::ifstream in(log_path(i));
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (auto& l : tail) out += l + "\n";
  return out;
}

// --- End checks -----------------------------------------------------------------------

Result<StoreCheck, std::string> check_stores(const Cluster& cluster) {
  std::vector<std::unique_ptr<storage::Store>> stores;
  StoreCheck check;
  check.common_height = UINT64_MAX;
  for (std::uint32_t i = 0; i < cluster.size(); ++i) {
    auto store = cluster.open_store(i);
    if (!store) return Err(store.error());
    check.heights.push_back((*store)->executed_height());  // a stopped node executed what it committed
    check.common_height = std::min(check.common_height, (*store)->executed_height());
    stores.push_back(std::move(*store));
  }
  if (check.common_height == 0) return Err(std::string("a node committed nothing"));
  for (std::uint32_t i = 0; i < stores.size(); ++i) {
    auto digest = stores[i]->state_digest_at(check.common_height);
    if (!digest) {
      return Err("node " + std::to_string(i) + ": state digest at " + std::to_string(check.common_height) + ": " +
                 storage::describe(digest.error()));
    }
    if (i == 0) check.digest = *digest;
    if (*digest != check.digest) {
      return Err("state digests differ at height " + std::to_string(check.common_height) + ": node 0 " +
                 to_hex(check.digest.bytes) + ", node " + std::to_string(i) + " " + to_hex(digest->bytes));
    }
  }
  for (std::uint64_t h = 1; h <= check.common_height; ++h) {
    Hash32 first;
    for (std::uint32_t i = 0; i < stores.size(); ++i) {
      auto entry = stores[i]->commit_at(h);
      if (!entry) return Err("node " + std::to_string(i) + ": commit " + std::to_string(h) + ": " + storage::describe(entry.error()));
      if (i == 0) first = entry->id;
      if (entry->id != first) return Err("block ids differ at height " + std::to_string(h) + " (node 0 and node " + std::to_string(i) + ")");
    }
  }
  return check;
}

namespace {

// Opens node i's store and calls visit(height, decoded block, store) for each kept
// committed block, in height order; the first error (the walk's or the visit's) ends it.
using BlockVisit = std::function<Status<std::string>(std::uint64_t, const hotstuff2::Block&, storage::Store&)>;
Status<std::string> walk_blocks(const Cluster& cluster, std::uint32_t i, const BlockVisit& visit) {
  auto store = cluster.open_store(i);
  if (!store) return Err(store.error());
  for (std::uint64_t h = (*store)->first_kept_height(); h <= (*store)->executed_height(); ++h) {
    auto entry = (*store)->commit_at(h);
    if (!entry) return Err("block at " + std::to_string(h) + " missing");
    auto block = hotstuff2::decode_block(*entry->unit);
    if (!block) return Err("block at " + std::to_string(h) + " does not decode");
    KESTREL_TRY(visit(h, *block, **store));
  }
  return {};
}

// Calls visit(height, block, encoded transaction, its receipt) for every
// transaction in node i's committed blocks, in order (all kept from height 1).
using Visit = std::function<void(std::uint64_t, const hotstuff2::Block&, ByteSpan, const execution::Receipt&)>;
Status<std::string> walk_committed(const Cluster& cluster, std::uint32_t i, const Visit& visit) {
  return walk_blocks(cluster, i, [&](std::uint64_t h, const hotstuff2::Block& block, storage::Store& store) -> Status<std::string> {
    if (store.first_kept_height() > 1) return Err(std::string("blocks were pruned; raise keep_committed_blocks"));
    auto receipts = store.receipts(h);
    if (!receipts) return Err("receipts at " + std::to_string(h) + " missing");
    auto payload = node::decode_payload(block.payload);
    if (!payload) return Err("payload at " + std::to_string(h) + " does not decode");
    Reader r(*receipts);
    auto count = r.varint();
    if (!count || *count != payload->transactions.size()) return Err("receipts at " + std::to_string(h) + " do not match");
    for (ByteSpan encoded : payload->transactions) {
      auto receipt_bytes = r.bytes(256);
      if (!receipt_bytes) return Err("receipt at " + std::to_string(h) + " does not decode");
      auto receipt = execution::decode_receipt(*receipt_bytes);
      if (!receipt) return Err("receipt at " + std::to_string(h) + " does not decode");
      visit(h, block, encoded, *receipt);
    }
    return {};
  });
}

}  // namespace

Result<std::map<execution::TransactionId, Inclusions>, std::string> committed_transactions(const Cluster& cluster,
                                                                                            std::uint32_t i) {
  std::map<execution::TransactionId, Inclusions> out;
  KESTREL_TRY(walk_committed(cluster, i, [&](std::uint64_t, const hotstuff2::Block&, ByteSpan tx, const execution::Receipt& r) {
    auto& entry = out[execution::transaction_id(tx)];
    ++entry.included;
    if (r.status == execution::ReceiptStatus::success) ++entry.succeeded;
  }));
  return out;
}

Result<std::set<execution::TransactionId>, std::string> transactions_in(const Cluster& cluster, std::uint32_t i,
                                                                       std::uint64_t first, std::uint64_t last) {
  std::set<execution::TransactionId> out;
  KESTREL_TRY(walk_committed(cluster, i, [&](std::uint64_t h, const hotstuff2::Block&, ByteSpan tx, const execution::Receipt&) {
    if (h >= first && h <= last) out.insert(execution::transaction_id(tx));
  }));
  return out;
}

Result<QcSigners, std::string> qc_signers(const Cluster& cluster, std::uint32_t i) {
  QcSigners out;
  KESTREL_TRY(walk_blocks(cluster, i, [&](std::uint64_t, const hotstuff2::Block& block, storage::Store&) -> Status<std::string> {
    if (block.justify.signatures.empty()) return {};
    ++out.qcs;
    for (const auto& s : block.justify.signatures) ++out.signed_by[s.signer];
    return {};
  }));
  return out;
}

Result<std::vector<std::string>, std::string> failed_receipts(const Cluster& cluster, std::uint32_t i) {
  std::map<execution::AccountId, std::size_t> account_of;
  for (std::size_t a = 0; a < cluster.accounts().ids.size(); ++a) account_of[cluster.accounts().ids[a]] = a;
  struct Seen {
    std::uint64_t height, view;
    std::uint32_t proposer;
    execution::ReceiptStatus status;
  };
  std::map<std::pair<std::size_t, std::uint64_t>, std::vector<Seen>> history;  // (account, nonce)
  std::vector<std::pair<std::size_t, std::uint64_t>> failed;
  std::string bad;
  KESTREL_TRY(walk_committed(cluster, i, [&](std::uint64_t h, const hotstuff2::Block& block, ByteSpan encoded,
                                             const execution::Receipt& receipt) {
    auto tx = execution::decode_transaction(encoded);
    if (!tx) {
      bad = "transaction at " + std::to_string(h) + " does not decode";
      return;
    }
    auto a = account_of.find(execution::sender_of(*tx));
    const std::size_t account = a == account_of.end() ? SIZE_MAX : a->second;
    history[{account, tx->nonce}].push_back({h, block.view, block.proposer, receipt.status});
    if (receipt.status != execution::ReceiptStatus::success) failed.emplace_back(account, tx->nonce);
  }));
  if (!bad.empty()) return Err(bad);
  std::vector<std::string> lines;
  const auto where = [&](std::size_t account, std::uint64_t nonce) {
    std::string out;
    for (const auto& s : history[{account, nonce}]) {
      out += " [height " + std::to_string(s.height) + " view " + std::to_string(s.view) + " proposer " +
             std::to_string(s.proposer) + " " + execution::describe(s.status) + "]";
    }
    return out.empty() ? std::string(" [never committed]") : out;
  };
  for (const auto& [account, nonce] : failed) {
    if (lines.size() >= 40) {
      lines.push_back("... " + std::to_string(failed.size() - 40) + " more");
      break;
    }
    lines.push_back("node " + std::to_string(i) + ": account " + std::to_string(account) + " nonce " + std::to_string(nonce) +
                    ":" + where(account, nonce) + "; nonce " + std::to_string(nonce - 1) + ":" + where(account, nonce - 1));
  }
  return lines;
}

Status<std::string> check_accounts(const Cluster& cluster, std::uint32_t i, const std::vector<std::uint64_t>& expected,
                                   Clock::time_point deadline) {
  auto client = cluster.connect(i, deadline);
  if (!client) return Err("node " + std::to_string(i) + ": " + client.error());
  std::string mismatch;
  const bool ok = wait_until(
      deadline,
      [&] {
        for (std::size_t a = 0; a < expected.size(); ++a) {
          auto account = (*client)->get_account(cluster.accounts().ids[a]);
          if (!account) {
            mismatch = std::string("get_account: ") + node::describe(account.error());
            return false;
          }
          const std::uint64_t balance = expected_balance(cluster.accounts(), expected, a);
          if (account->nonce != expected[a] || account->balance != balance) {
            mismatch = "node " + std::to_string(i) + " account " + std::to_string(a) + ": nonce " +
                       std::to_string(account->nonce) + " balance " + std::to_string(account->balance) +
                       ", expected nonce " + std::to_string(expected[a]) + " balance " + std::to_string(balance);
            return false;
          }
        }
        return true;
      },
      std::chrono::milliseconds(200));
  if (!ok) return Err(mismatch);
  return {};
}

// --- Load -----------------------------------------------------------------------------

struct Load::Worker {
  std::uint32_t index = 0;
  std::uint32_t node = 0;  // connected to
  std::vector<std::size_t> accounts;
  std::unique_ptr<node::Client> client;
  // Per account (indexed by the global account number; only owned ones used).
  std::vector<std::uint64_t> next;     // next nonce to submit on this connection
  std::vector<std::uint64_t> high;     // nonces [0, high) were sent at least once
  std::vector<std::uint64_t> prefix;   // nonces [0, prefix) are confirmed
  std::vector<std::vector<bool>> done;  // confirmed, by nonce
  std::uint64_t new_sent = 0;
  using Tx = std::pair<std::size_t, std::uint64_t>;  // (account, nonce)
  std::unordered_map<std::uint64_t, std::vector<Tx>> submits;  // request id -> its transfers
  std::unordered_map<std::uint64_t, Tx> waits;                 // request id -> the awaited transfer
  std::deque<std::pair<Clock::time_point, Tx>> retry;          // resubmit at
  std::set<Tx> after_rejection;  // resubmitted after a rejected_bad_nonce receipt
  bool finished = false;
};

Load::Load(const Cluster& cluster, const SignedTransfers& transfers, LoadOptions options)
    : cluster_(cluster), transfers_(transfers), options_(options) {
  KESTREL_ASSERT(options_.workers >= 1 && options_.window_per_account >= 1);
  KESTREL_ASSERT(options_.window_per_account < limits::mempool_nonce_gap_max);
  const std::size_t n = transfers_.accounts();
  sent_.assign(n, 0);
  confirmed_.assign(n, 0);
  for (std::uint32_t w = 0; w < options_.workers; ++w) {
    auto worker = std::make_unique<Worker>();
    worker->index = w;
    worker->node = w % cluster_.size();
    for (std::size_t a = w; a < n; a += options_.workers) worker->accounts.push_back(a);
    worker->next.assign(n, 0);
    worker->high.assign(n, 0);
    worker->prefix.assign(n, 0);
    worker->done.assign(n, {});
    for (std::size_t a : worker->accounts) worker->done[a].assign(transfers_.txs[a].size(), false);
    workers_.push_back(std::move(worker));
  }
}

Load::~Load() { abort(); }

void Load::start() {
  start_ = Clock::now();
  for (auto& w : workers_) threads_.emplace_back([this, p = w.get()] { run(*p); });
}

bool Load::drain(Clock::time_point deadline) {
  stop_new_ = true;
  const bool drained = wait_until(deadline, [&] {
    std::lock_guard lock(mutex_);
    return std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->finished; }) || abort_;
  });
  abort();
  std::lock_guard lock(mutex_);
  return drained && figures_.errors.empty() &&
         std::all_of(workers_.begin(), workers_.end(), [](auto& w) { return w->finished; });
}

void Load::abort() {
  abort_ = true;
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

void Load::error(std::string text) {
  std::lock_guard lock(mutex_);
  if (figures_.errors.size() < 20) figures_.errors.push_back(std::move(text));
  if (!options_.failover) abort_ = true;
}

LoadFigures Load::figures() const {
  std::lock_guard lock(mutex_);
  return figures_;
}
std::vector<std::uint64_t> Load::sent_per_account() const {
  std::lock_guard lock(mutex_);
  return sent_;
}
std::vector<std::uint64_t> Load::confirmed_per_account() const {
  std::lock_guard lock(mutex_);
  return confirmed_;
}
std::map<execution::TransactionId, std::uint32_t> Load::receipt_counts() const {
  std::lock_guard lock(mutex_);
  return receipt_counts_;
}
std::vector<std::pair<std::size_t, std::uint64_t>> Load::receipted() const {
  std::lock_guard lock(mutex_);
  return receipted_;
}

void Load::run(Worker& w) {
  const std::uint32_t nodes = cluster_.size();
  const double rate = options_.rate / options_.workers;
  const auto refusal_is = [](const node::SubmitOutcome& o, mempool::AdmitError e) {
    return o.refusal == static_cast<std::uint8_t>(e);
  };
  // Marks (a, nonce) confirmed and advances the account's prefix.
  const auto confirm = [&](std::size_t a, std::uint64_t nonce, bool by_receipt) {
    if (w.done[a][nonce]) return;
    w.done[a][nonce] = true;
    while (w.prefix[a] < w.done[a].size() && w.done[a][w.prefix[a]]) ++w.prefix[a];
    ++confirmed_total_;
    std::lock_guard lock(mutex_);
    confirmed_[a] = w.prefix[a];
    if (by_receipt) receipted_.emplace_back(a, nonce);
    if (!by_receipt) ++figures_.confirmed_stale;
  };
  const auto send_wait = [&](std::size_t a, std::uint64_t nonce) {
    node::Request wait;
    wait.body = node::WaitReceiptRequest{transfers_.ids[a][nonce], static_cast<std::uint32_t>(options_.receipt_timeout.count())};
    auto id = w.client->send_request(std::move(wait));
    if (id) w.waits[*id] = {a, nonce};
    return id.ok();
  };
  // After a broken connection: the next node that accepts, then everything not
  // confirmed is sent again from each account's prefix.
  const auto reconnect = [&]() -> bool {
    w.client.reset();
    w.submits.clear();
    w.waits.clear();
    w.retry.clear();
    while (!abort_) {
      for (std::uint32_t k = 1; k <= nodes && !abort_; ++k) {
        const std::uint32_t candidate = (w.node + k) % nodes;
        auto c = node::Client::connect(cluster_.config(candidate).client_listen.host,
                                       cluster_.config(candidate).client_listen.port, std::chrono::milliseconds(300));
        if (!c) continue;
        (*c)->set_io_timeout(std::chrono::milliseconds(5000));
        w.client = std::move(*c);
        w.node = candidate;
        for (std::size_t a : w.accounts) w.next[a] = w.prefix[a];
        std::lock_guard lock(mutex_);
        ++figures_.reconnects;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  const auto connection_failed = [&](const char* what, node::ClientError e) -> bool {
    if (!options_.failover) {
      error(std::string("worker ") + std::to_string(w.index) + " (node " + std::to_string(w.node) + "): " + what + ": " +
            node::describe(e));
      return false;
    }
    return reconnect();
  };

  {
    auto c = cluster_.connect(w.node, Clock::now() + std::chrono::seconds(10));
    if (!c) {
      if (!options_.failover || !reconnect()) {
        error("worker " + std::to_string(w.index) + ": " + c.error());
        return;
      }
    } else {
      w.client = std::move(*c);
    }
  }
  std::size_t cursor = 0;
  while (!abort_) {
    // What to send: due resubmissions first, then each owned account's next nonce
    // within its window (new nonces within the rate).
    std::vector<Bytes> batch;
    std::vector<Worker::Tx> batch_txs;
    const auto now = Clock::now();
    while (!w.retry.empty() && w.retry.front().first <= now && batch.size() < limits::client_submit_batch_max) {
      const auto [a, nonce] = w.retry.front().second;
      w.retry.pop_front();
      if (w.done[a][nonce]) continue;
      batch.push_back(transfers_.txs[a][nonce]);
      batch_txs.emplace_back(a, nonce);
      std::lock_guard lock(mutex_);
      ++figures_.resubmitted;
    }
    std::uint64_t new_allowed = UINT64_MAX;
    if (rate > 0) {
      const double due = rate * seconds_since(start_);
      new_allowed = due > static_cast<double>(w.new_sent) ? static_cast<std::uint64_t>(due - static_cast<double>(w.new_sent)) : 0;
    }
    for (std::size_t tried = 0; tried < w.accounts.size() && batch.size() < limits::client_submit_batch_max; ++tried) {
      const std::size_t a = w.accounts[cursor++ % w.accounts.size()];
      const std::uint64_t nonce = w.next[a];
      if (nonce >= transfers_.txs[a].size() || nonce - w.prefix[a] >= options_.window_per_account) continue;
      const bool is_new = nonce >= w.high[a];
      if (is_new && (stop_new_ || new_allowed == 0)) continue;
      if (w.done[a][nonce]) {  // confirmed already (a resend after reconnect raced a receipt)
        ++w.next[a];
        continue;
      }
      batch.push_back(transfers_.txs[a][nonce]);
      batch_txs.emplace_back(a, nonce);
      ++w.next[a];
      if (is_new) {
        w.high[a] = nonce + 1;
        ++w.new_sent;
        if (new_allowed != UINT64_MAX) --new_allowed;
        std::lock_guard lock(mutex_);
        sent_[a] = w.high[a];
        ++figures_.sent;
      } else {
        std::lock_guard lock(mutex_);
        ++figures_.resubmitted;
      }
    }
    if (!batch.empty()) {
      auto id = w.client->send_submit(batch);
      if (!id) {
        if (!connection_failed("send_submit", id.error())) return;
        continue;
      }
      w.submits[*id] = std::move(batch_txs);
    }
    // Finished: no new nonces any more and every sent one confirmed.
    if (stop_new_) {
      bool all = true;
      for (std::size_t a : w.accounts) all = all && w.prefix[a] >= w.high[a];
      if (all) {
        std::lock_guard lock(mutex_);
        w.finished = true;
        return;
      }
    }
    auto responses = w.client->poll(std::chrono::milliseconds(batch.empty() ? 2 : 0));
    if (!responses) {
      if (!connection_failed("poll", responses.error())) return;
      continue;
    }
    bool broken = false;
    for (auto& r : *responses) {
      if (auto* s = std::get_if<node::SubmitResultResponse>(&r.body)) {
        auto it = w.submits.find(r.request_id);
        if (it == w.submits.end()) continue;
        for (std::size_t i = 0; i < s->outcomes.size() && i < it->second.size(); ++i) {
          const auto [a, nonce] = it->second[i];
          const auto& outcome = s->outcomes[i];
          if (!outcome.accepted) {
            std::lock_guard lock(mutex_);
            ++figures_.refusals[node::describe(outcome)];
          }
          // A resubmission may meet its own earlier copy (duplicate) or commit
          // (stale_nonce): expected in failover mode and after a rejection.
          const bool tolerant = options_.failover || w.after_rejection.count({a, nonce});
          const bool admitted = outcome.accepted || (tolerant && refusal_is(outcome, mempool::AdmitError::duplicate));
          if (admitted) {
            if (!send_wait(a, nonce)) broken = true;
          } else if (tolerant && refusal_is(outcome, mempool::AdmitError::stale_nonce)) {
            confirm(a, nonce, false);
          } else if (tolerant && (refusal_is(outcome, mempool::AdmitError::nonce_gap_too_large) ||
                                           refusal_is(outcome, mempool::AdmitError::pool_full) ||
                                           refusal_is(outcome, mempool::AdmitError::sender_quota))) {
            w.retry.emplace_back(Clock::now() + std::chrono::milliseconds(250), Worker::Tx{a, nonce});
          } else {
            error("account " + std::to_string(a) + " nonce " + std::to_string(nonce) + " refused by node " +
                  std::to_string(w.node) + ": " + node::describe(outcome));
          }
        }
        w.submits.erase(it);
      } else if (auto* receipt = std::get_if<node::ReceiptResponse>(&r.body)) {
        auto it = w.waits.find(r.request_id);
        if (it == w.waits.end()) continue;
        const auto [a, nonce] = it->second;
        w.waits.erase(it);
        if (!receipt->receipt) {
          {
            std::lock_guard lock(mutex_);
            ++figures_.receipt_timeouts;
          }
          if (options_.failover) {
            w.retry.emplace_back(Clock::now(), Worker::Tx{a, nonce});
          } else {
            error("no receipt within " + std::to_string(options_.receipt_timeout.count()) + " ms for account " +
                  std::to_string(a) + " nonce " + std::to_string(nonce) + " (node " + std::to_string(w.node) + ")");
          }
          continue;
        }
        if (receipt->receipt->id != transfers_.ids[a][nonce]) {
          error("receipt for another id on account " + std::to_string(a) + " nonce " + std::to_string(nonce));
          continue;
        }
        if (receipt->receipt->status == execution::ReceiptStatus::rejected_bad_nonce) {
          // Included out of nonce order, no effect: send it again (its id may
          // already be committed with success meanwhile: then stale_nonce).
          {
            std::lock_guard lock(mutex_);
            ++figures_.rejected_bad_nonce;
          }
          w.after_rejection.insert({a, nonce});
          w.retry.emplace_back(Clock::now() + std::chrono::milliseconds(250), Worker::Tx{a, nonce});
          continue;
        }
        if (receipt->receipt->status != execution::ReceiptStatus::success) {
          error("receipt status " + std::string(execution::describe(receipt->receipt->status)) + " for account " +
                std::to_string(a) + " nonce " + std::to_string(nonce));
          continue;
        }
        {
          std::lock_guard lock(mutex_);
          ++figures_.receipts;
          ++receipt_counts_[receipt->receipt->id];
        }
        confirm(a, nonce, true);
      } else if (auto* e = std::get_if<node::ErrorResponse>(&r.body)) {
        error("node " + std::to_string(w.node) + " answered error " + std::to_string(static_cast<int>(e->code)) + ": " + e->text);
      }
    }
    if (broken && !connection_failed("send wait_receipt", node::ClientError::io)) return;
  }
}

}  // namespace kestrel::cluster_test
