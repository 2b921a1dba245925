#include "node/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/limits.h"
#include "crypto/ct.h"

namespace kestrel::node {

std::string ConfigError::message() const {
  if (key.empty()) return file + ": " + reason;
  return file + ": " + key + ": " + reason;
}

const char* describe(KeyFileError error) {
  switch (error) {
    case KeyFileError::unreadable: return "key file cannot be read";
    case KeyFileError::permissions: return "secret key file is readable by group or others (chmod 600)";
    case KeyFileError::malformed: return "key file does not hold a valid tagged key in hex";
    case KeyFileError::write_failed: return "key file cannot be written";
  }
  return "unknown key file error";
}

perf::TunerConfig TunerSettings::default_controller() {
  perf::TunerConfig c;
  c.batch_transactions_min = c.batch_transactions_initial;  // see load_config
  c.flush_delay_us_initial = 0;                              // see load_config
  c.flush_delay_us_max = tuner_flush_delay_us_max_for(50);  // NodeConfig's idle_delay_ms default
  return c;
}

std::uint64_t tuner_flush_delay_us_max_for(std::uint64_t idle_delay_ms) {
  return std::min<std::uint64_t>(40'000, idle_delay_ms * 1000 * 4 / 5);
}

namespace {

// Reads one TOML table strictly: every key read is remembered, and finish()
// reports the first key nobody asked for.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string prefix, std::string file)
      : table_(table), prefix_(std::move(prefix)), file_(std::move(file)) {}

  bool present() const { return table_ != nullptr; }
  // A key read by other means (arrays of tables): not an unknown key.
  void known(const std::string& key) { seen_.insert(key); }

  Result<std::int64_t, ConfigError> integer(const std::string& key, std::int64_t low, std::int64_t high,
                                            std::optional<std::int64_t> fallback) {
    seen_.insert(key);
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (!node) {
      if (fallback) return *fallback;
      return Err(error(key, "required"));
    }
    auto value = node->value<std::int64_t>();
    if (!node->is_integer() || !value) return Err(error(key, "must be an integer"));
    if (*value < low || *value > high) {
      return Err(error(key, "must be in [" + std::to_string(low) + ", " + std::to_string(high) + "]"));
    }
    return *value;
  }

  Result<std::string, ConfigError> string(const std::string& key, std::optional<std::string> fallback) {
    seen_.insert(key);
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (!node) {
      if (fallback) return *fallback;
      return Err(error(key, "required"));
    }
    if (!node->is_string()) return Err(error(key, "must be a string"));
    return std::string(*node->value<std::string_view>());
  }

  Result<bool, ConfigError> boolean(const std::string& key, bool fallback) {
    seen_.insert(key);
    const toml::node* node = table_ ? table_->get(key) : nullptr;
    if (!node) return fallback;
    if (!node->is_boolean()) return Err(error(key, "must be true or false"));
    return *node->value<bool>();
  }

  Result<Bytes, ConfigError> hex(const std::string& key) {
    auto text = string(key, std::nullopt);
    if (!text) return Err(text.error());
    auto bytes = from_hex(*text);
    if (!bytes) return Err(error(key, describe(bytes.error())));
    return std::move(bytes).value();
  }

  Status<ConfigError> finish() const {
    if (!table_) return {};
    for (const auto& [key, node] : *table_) {
      if (!seen_.count(std::string(key.str()))) return Err(error(std::string(key.str()), "unknown key"));
    }
    return {};
  }

  ConfigError error(const std::string& key, const std::string& reason) const {
    return {file_, prefix_.empty() ? key : key.empty() ? prefix_ : prefix_ + "." + key, reason};
  }

 private:
  const toml::table* table_;
  std::string prefix_;
  std::string file_;
  std::set<std::string> seen_;
};

#define KESTREL_CONFIG_TRY_ASSIGN(target, expression, cast) \
  do {                                                      \
    auto result_ = (expression);                            \
    if (!result_) return Err(result_.error());              \
    target = static_cast<cast>(*result_);                   \
  } while (false)

Result<Endpoint, ConfigError> read_endpoint(TableReader& reader, const std::string& host_key,
                                            const std::string& port_key, std::uint16_t default_port) {
  Endpoint e;
  KESTREL_CONFIG_TRY_ASSIGN(e.host, reader.string(host_key, std::string("127.0.0.1")), std::string);
  KESTREL_CONFIG_TRY_ASSIGN(e.port, reader.integer(port_key, 1, 65535, default_port), std::uint16_t);
  return e;
}

}  // namespace

bool known_protocol(const std::string& name) { return name == "hotstuff2"; }
std::string known_protocols() { return "hotstuff2"; }

Result<NodeConfig, ConfigError> load_config(const std::string& path) {
  NodeConfig c;
  c.path = path;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << "line " << e.source().begin.line << ", column " << e.source().begin.column << ": "
          << e.description();
    return Err(ConfigError{path, "", where.str()});
  }
  for (const auto& [key, node] : root) {
    static const std::set<std::string> sections{"cluster", "node", "client", "admin", "consensus", "storage", "tuner", "gates"};
    if (!sections.count(std::string(key.str()))) return Err(ConfigError{path, std::string(key.str()), "unknown section"});
    if (!node.is_table()) return Err(ConfigError{path, std::string(key.str()), "must be a table"});
  }

  TableReader cluster(root["cluster"].as_table(), "cluster", path);
  if (!cluster.present()) return Err(ConfigError{path, "cluster", "required section"});
  KESTREL_CONFIG_TRY_ASSIGN(c.chain_id, cluster.integer("chain_id", 0, INT64_MAX, std::nullopt), std::uint64_t);
  {
    auto scheme_name = cluster.string("scheme", std::string(crypto::scheme_name(crypto::default_signature_scheme)));
    if (!scheme_name) return Err(scheme_name.error());
    auto scheme = crypto::parse_scheme_name(*scheme_name);
    if (!scheme) return Err(cluster.error("scheme", "unknown signature scheme '" + *scheme_name + "'"));
    c.scheme = *scheme;
  }
  // validators: an array of tables, ids 0..n-1 in order.
  const toml::array* validators = root["cluster"]["validators"].as_array();
  cluster.known("validators");
  if (!validators || validators->empty()) return Err(cluster.error("validators", "required: an array of tables"));
  if (validators->size() > limits::validators_max) {
    return Err(cluster.error("validators", "at most " + std::to_string(limits::validators_max) + " validators"));
  }
  for (std::size_t i = 0; i < validators->size(); ++i) {
    const std::string prefix = "cluster.validators[" + std::to_string(i) + "]";
    TableReader v((*validators)[i].as_table(), prefix, path);
    if (!v.present()) return Err(ConfigError{path, prefix, "must be a table"});
    ValidatorEntry entry;
    KESTREL_CONFIG_TRY_ASSIGN(entry.id, v.integer("id", 0, limits::validators_max - 1, std::nullopt), std::uint32_t);
    if (entry.id != i) return Err(v.error("id", "validators must be listed with ids 0, 1, 2, ... in order"));
    auto address = read_endpoint(v, "host", "port", 0);
    if (!address) return Err(address.error());
    if (address->port == 0) return Err(v.error("port", "required"));
    entry.address = *address;
    KESTREL_CONFIG_TRY_ASSIGN(entry.public_key, v.hex("public_key"), Bytes);
    auto verifier = crypto::decode_public_key(entry.public_key);
    if (!verifier) return Err(v.error("public_key", crypto::describe(verifier.error())));
    if ((*verifier)->scheme() != c.scheme) {
      return Err(v.error("public_key", "key scheme differs from cluster.scheme"));
    }
    auto done = v.finish();
    if (!done) return Err(done.error());
    c.validators.push_back(std::move(entry));
  }
  if (const toml::array* genesis = root["cluster"]["genesis"].as_array()) {
    for (std::size_t i = 0; i < genesis->size(); ++i) {
      const std::string prefix = "cluster.genesis[" + std::to_string(i) + "]";
      TableReader g((*genesis)[i].as_table(), prefix, path);
      if (!g.present()) return Err(ConfigError{path, prefix, "must be a table"});
      GenesisAccount account;
      KESTREL_CONFIG_TRY_ASSIGN(account.public_key, g.hex("public_key"), Bytes);
      if (!crypto::decode_public_key(account.public_key)) return Err(g.error("public_key", "not a valid tagged public key"));
      KESTREL_CONFIG_TRY_ASSIGN(account.balance, g.integer("balance", 0, INT64_MAX, std::nullopt), std::uint64_t);
      auto done = g.finish();
      if (!done) return Err(done.error());
      c.genesis.push_back(std::move(account));
    }
  }
  cluster.known("genesis");
  auto cluster_done = cluster.finish();
  if (!cluster_done) return Err(cluster_done.error());
  // n = 3f + 1 is not required (any n >= 1 works), but the quorum needs n >= 1.

  TableReader node(root["node"].as_table(), "node", path);
  if (!node.present()) return Err(ConfigError{path, "node", "required section"});
  KESTREL_CONFIG_TRY_ASSIGN(c.id, node.integer("id", 0, limits::validators_max - 1, std::nullopt), std::uint32_t);
  if (c.id >= c.validators.size()) return Err(node.error("id", "not in cluster.validators"));
  KESTREL_CONFIG_TRY_ASSIGN(c.key_file, node.string("key_file", c.key_file), std::string);
  KESTREL_CONFIG_TRY_ASSIGN(c.data_dir, node.string("data_dir", c.data_dir), std::string);
  KESTREL_CONFIG_TRY_ASSIGN(c.log_level, node.string("log_level", c.log_level), std::string);
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (!levels.count(c.log_level)) return Err(node.error("log_level", "one of trace, debug, info, warn, error, critical, off"));
  auto node_done = node.finish();
  if (!node_done) return Err(node_done.error());

  TableReader client(root["client"].as_table(), "client", path);
  auto client_listen = read_endpoint(client, "host", "port", static_cast<std::uint16_t>(c.validators[c.id].address.port + 1));
  if (!client_listen) return Err(client_listen.error());
  c.client_listen = *client_listen;
  KESTREL_CONFIG_TRY_ASSIGN(c.client_in_flight_max, client.integer("in_flight_max", 1, 65536, c.client_in_flight_max), std::uint32_t);
  KESTREL_CONFIG_TRY_ASSIGN(c.raw_mode, client.boolean("raw_mode", c.raw_mode), bool);
  auto client_done = client.finish();
  if (!client_done) return Err(client_done.error());

  TableReader admin(root["admin"].as_table(), "admin", path);
  auto admin_listen = read_endpoint(admin, "host", "port", static_cast<std::uint16_t>(c.validators[c.id].address.port + 2));
  if (!admin_listen) return Err(admin_listen.error());
  c.admin_listen = *admin_listen;
  auto admin_done = admin.finish();
  if (!admin_done) return Err(admin_done.error());

  TableReader consensus(root["consensus"].as_table(), "consensus", path);
  KESTREL_CONFIG_TRY_ASSIGN(c.protocol, consensus.string("protocol", c.protocol), std::string);
  if (!known_protocol(c.protocol)) {
    return Err(consensus.error("protocol", "unknown consensus protocol \"" + c.protocol + "\" (known: " +
                                               known_protocols() + ")"));
  }
  KESTREL_CONFIG_TRY_ASSIGN(c.view_timeout_ms, consensus.integer("view_timeout_ms", 10, 600000, static_cast<std::int64_t>(c.view_timeout_ms)), std::uint64_t);
  KESTREL_CONFIG_TRY_ASSIGN(c.view_timeout_max_ms, consensus.integer("view_timeout_max_ms", 10, 3600000, static_cast<std::int64_t>(c.view_timeout_max_ms)), std::uint64_t);
  if (c.view_timeout_max_ms < c.view_timeout_ms) return Err(consensus.error("view_timeout_max_ms", "must be >= view_timeout_ms"));
  KESTREL_CONFIG_TRY_ASSIGN(c.propose_wait_ms, consensus.integer("propose_wait_ms", 0, 600000, static_cast<std::int64_t>(c.propose_wait_ms)), std::uint64_t);
  KESTREL_CONFIG_TRY_ASSIGN(c.idle_delay_ms, consensus.integer("idle_delay_ms", 0, 600000, static_cast<std::int64_t>(c.idle_delay_ms)), std::uint64_t);
  if (c.idle_delay_ms >= c.view_timeout_ms) return Err(consensus.error("idle_delay_ms", "must be < view_timeout_ms"));
  KESTREL_CONFIG_TRY_ASSIGN(c.batch_transactions_max, consensus.integer("batch_transactions_max", 1, 100000, c.batch_transactions_max), std::uint32_t);
  KESTREL_CONFIG_TRY_ASSIGN(c.batch_bytes_max, consensus.integer("batch_bytes_max", 1024, static_cast<std::int64_t>(limits::block_payload_bytes_max), c.batch_bytes_max), std::uint32_t);
  auto consensus_done = consensus.finish();
  if (!consensus_done) return Err(consensus_done.error());

  TableReader storage(root["storage"].as_table(), "storage", path);
  KESTREL_CONFIG_TRY_ASSIGN(c.keep_committed_blocks, storage.integer("keep_committed_blocks", 16, 10000000, static_cast<std::int64_t>(c.keep_committed_blocks)), std::uint64_t);
  auto storage_done = storage.finish();
  if (!storage_done) return Err(storage_done.error());

  TableReader tuner(root["tuner"].as_table(), "tuner", path);
  {
    TunerSettings& t = c.tuner;
    perf::TunerConfig& k = t.controller;
    const auto us = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
    KESTREL_CONFIG_TRY_ASSIGN(t.interval_ms, tuner.integer("interval_ms", 10, 60000, us(t.interval_ms)), std::uint64_t);
    KESTREL_CONFIG_TRY_ASSIGN(k.latency_target_us,
                              tuner.integer("latency_target_ms", 1, static_cast<std::int64_t>(limits::tuner_latency_target_us_max / 1000),
                                            us(k.latency_target_us / 1000)),
                              std::uint64_t);
    k.latency_target_us *= 1000;
    const std::int64_t batch_max = limits::block_transactions_max;
    KESTREL_CONFIG_TRY_ASSIGN(k.batch_transactions_max, tuner.integer("batch_transactions_max", 1, batch_max, k.batch_transactions_max), std::uint32_t);
    KESTREL_CONFIG_TRY_ASSIGN(k.batch_transactions_initial, tuner.integer("batch_transactions_initial", 1, batch_max, k.batch_transactions_initial), std::uint32_t);
    // By default the cap does not shrink below where it started: a cap shrunk to
    // a light load's blocks made the next load step queue while it grew back
    // (docs/performance.md "Cluster load step").
    KESTREL_CONFIG_TRY_ASSIGN(k.batch_transactions_min, tuner.integer("batch_transactions_min", 1, batch_max, k.batch_transactions_initial), std::uint32_t);
    if (k.batch_transactions_min > k.batch_transactions_max) {
      return Err(tuner.error("batch_transactions_min", "must be <= tuner.batch_transactions_max"));
    }
    if (k.batch_transactions_initial < k.batch_transactions_min || k.batch_transactions_initial > k.batch_transactions_max) {
      return Err(tuner.error("batch_transactions_initial", "must be in [batch_transactions_min, batch_transactions_max]"));
    }
    // The longest hold must end before the core's idle deadline, where it would
    // propose an empty block in place of the held batch (docs/configuration.md).
    const std::uint64_t idle_us = c.idle_delay_ms * 1000;
    const std::int64_t flush_max = static_cast<std::int64_t>(limits::tuner_flush_delay_us_max);
    KESTREL_CONFIG_TRY_ASSIGN(k.flush_delay_us_max,
                              tuner.integer("flush_delay_us_max", 0, flush_max, us(tuner_flush_delay_us_max_for(c.idle_delay_ms))),
                              std::uint64_t);
    if (k.flush_delay_us_max > 0 && k.flush_delay_us_max >= idle_us) {
      return Err(tuner.error("flush_delay_us_max", "must be below consensus.idle_delay_ms (" + std::to_string(idle_us) +
                                                       " us; 0 when it is 0): past the idle deadline the core proposes "
                                                       "an empty block in place of a held batch"));
    }
    KESTREL_CONFIG_TRY_ASSIGN(k.flush_delay_us_min, tuner.integer("flush_delay_us_min", 0, flush_max, 0), std::uint64_t);
    // No hold at start: the tuner adds delay only once it sees headroom below the
    // target (a 2 ms start held every view of a loaded cluster for seconds while
    // the delay halved down; docs/performance.md "Cluster load step").
    KESTREL_CONFIG_TRY_ASSIGN(k.flush_delay_us_initial,
                              tuner.integer("flush_delay_us_initial", 0, flush_max, us(k.flush_delay_us_min)),
                              std::uint64_t);
    if (k.flush_delay_us_min > k.flush_delay_us_max) {
      return Err(tuner.error("flush_delay_us_min", "must be <= tuner.flush_delay_us_max"));
    }
    if (k.flush_delay_us_initial < k.flush_delay_us_min || k.flush_delay_us_initial > k.flush_delay_us_max) {
      return Err(tuner.error("flush_delay_us_initial", "must be in [flush_delay_us_min, flush_delay_us_max]"));
    }
    // The additive step stays below the dead band's width and within the range.
    k.flush_delay_step_us = std::clamp<std::uint64_t>(perf::TunerConfig{}.flush_delay_step_us, 1,
                                                      std::max<std::uint64_t>(1, k.flush_delay_us_max));
    if (auto checked = perf::Tuner::create(k); !checked) return Err(tuner.error("", perf::describe(checked.error())));
  }
  auto tuner_done = tuner.finish();
  if (!tuner_done) return Err(tuner_done.error());

  if (const toml::table* gates = root["gates"].as_table()) {
    for (const auto& [key, node_value] : *gates) {
      const std::string name(key.str());
      if (node_value.is_table()) {
        return Err(ConfigError{path, "gates." + name,
                               "gate names contain dots: quote them, e.g. \"crypto.avx2\" = false"});
      }
      if (!node_value.is_boolean()) return Err(ConfigError{path, "gates." + name, "must be true or false"});
      auto setting = parse_gate_setting(name + (node_value.value<bool>().value() ? "=on" : "=off"));
      if (!setting) return Err(ConfigError{path, "gates." + name, describe(setting.error())});
      c.gates.push_back(*setting);
    }
  }
  return c;
}

std::string render_config(const NodeConfig& c) {
  std::ostringstream out;
  out << "# Kestrel validator " << c.id << " (docs/configuration.md lists every key)\n\n";
  out << "[cluster]\nchain_id = " << c.chain_id << "\nscheme = \"" << crypto::scheme_name(c.scheme) << "\"\n\n";
  for (const auto& v : c.validators) {
    out << "[[cluster.validators]]\nid = " << v.id << "\nhost = \"" << v.address.host << "\"\nport = " << v.address.port
        << "\npublic_key = \"" << to_hex(v.public_key) << "\"\n\n";
  }
  for (const auto& g : c.genesis) {
    out << "[[cluster.genesis]]\npublic_key = \"" << to_hex(g.public_key) << "\"\nbalance = " << g.balance << "\n\n";
  }
  out << "[node]\nid = " << c.id << "\nkey_file = \"" << c.key_file << "\"\ndata_dir = \"" << c.data_dir
      << "\"\nlog_level = \"" << c.log_level << "\"\n\n";
  out << "[client]\nhost = \"" << c.client_listen.host << "\"\nport = " << c.client_listen.port
      << "\nin_flight_max = " << c.client_in_flight_max << "\nraw_mode = " << (c.raw_mode ? "true" : "false")
      << "\n\n";
  out << "[admin]\nhost = \"" << c.admin_listen.host << "\"\nport = " << c.admin_listen.port << "\n\n";
  out << "[consensus]\nprotocol = \"" << c.protocol << "\"\nview_timeout_ms = " << c.view_timeout_ms << "\nview_timeout_max_ms = " << c.view_timeout_max_ms
      << "\npropose_wait_ms = " << c.propose_wait_ms << "\nidle_delay_ms = " << c.idle_delay_ms
      << "\nbatch_transactions_max = " << c.batch_transactions_max
      << "\nbatch_bytes_max = " << c.batch_bytes_max << "\n\n";
  out << "[storage]\nkeep_committed_blocks = " << c.keep_committed_blocks << "\n\n";
  const perf::TunerConfig& k = c.tuner.controller;
  out << "[tuner]\ninterval_ms = " << c.tuner.interval_ms << "\nlatency_target_ms = " << k.latency_target_us / 1000
      << "\nbatch_transactions_min = " << k.batch_transactions_min << "\nbatch_transactions_initial = "
      << k.batch_transactions_initial << "\nbatch_transactions_max = " << k.batch_transactions_max
      << "\nflush_delay_us_min = " << k.flush_delay_us_min << "\nflush_delay_us_initial = " << k.flush_delay_us_initial
      << "\nflush_delay_us_max = " << k.flush_delay_us_max << "\n";
  if (!c.gates.empty()) {
    out << "\n[gates]\n";
    for (const auto& g : c.gates) out << "\"" << gate_info(g.gate).name << "\" = " << (g.enabled ? "true" : "false") << "\n";
  }
  return out.str();
}

std::string resolve_path(const NodeConfig& config, const std::string& relative) {
  const std::filesystem::path p(relative);
  if (p.is_absolute()) return relative;
  return (std::filesystem::path(config.path).parent_path() / p).string();
}

namespace {
Status<KeyFileError> write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  {
    std::ofstream out(path, std::ios::trunc);
    if (!out) return Err(KeyFileError::write_failed);
    out.close();
  }
  // Narrow the mode before the secret is written, so it is never readable by others.
  if (::chmod(path.c_str(), mode) != 0) return Err(KeyFileError::write_failed);
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  if (!out) return Err(KeyFileError::write_failed);
  return {};
}
}  // namespace

Status<KeyFileError> write_secret_key_file(const std::string& path, const crypto::Signer& signer) {
  const crypto::SecretBytes encoded = crypto::encode_secret_key(signer);
  std::string text = to_hex(encoded.bytes());
  auto status = write_file(path, text, 0600);
  crypto::secure_zero(reinterpret_cast<std::uint8_t*>(text.data()), text.size());
  return status;
}

Status<KeyFileError> write_public_key_file(const std::string& path, const crypto::Verifier& verifier) {
  return write_file(path, to_hex(crypto::encode_public_key(verifier)), 0644);
}

Result<std::unique_ptr<crypto::Signer>, KeyFileError> read_secret_key_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return Err(KeyFileError::unreadable);
  if ((info.st_mode & 077) != 0) return Err(KeyFileError::permissions);
  std::ifstream in(path);
  std::string text;
  if (!in || !std::getline(in, text)) return Err(KeyFileError::unreadable);
  auto bytes = from_hex(text);
  crypto::secure_zero(reinterpret_cast<std::uint8_t*>(text.data()), text.size());
  if (!bytes) return Err(KeyFileError::malformed);
  auto signer = crypto::decode_secret_key(*bytes);
  crypto::secure_zero(*bytes);
  if (!signer) return Err(KeyFileError::malformed);
  return std::move(signer).value();
}

}  // namespace kestrel::node
