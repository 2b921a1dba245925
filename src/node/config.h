// Validator configuration: what `kestrel init` writes and `kestrel node` reads
// (docs/configuration.md lists every key with its default).
//
// Loading is strict: an unknown key, a value of the wrong type or out of range,
// a validator set that does not contain this node, or a key file that does not
// decode fails at start with the file, the key and the reason. Nothing is
// silently defaulted except keys documented as optional.
//
// Thread-safety: plain data; load once at start.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/gates.h"
#include "common/hash.h"
#include "common/limits.h"
#include "common/result.h"
#include "crypto/signature.h"
#include "perf/tuner.h"

namespace kestrel::node {

struct Endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
};

struct ValidatorEntry {
  std::uint32_t id = 0;
  Endpoint address;   // validator-to-validator listener
  Bytes public_key;   // tagged encoding (crypto::encode_public_key)
};

struct GenesisAccount {
  Bytes public_key;       // tagged encoding
  std::uint64_t balance = 0;
};

// [tuner]: the adaptive tuner (gate perf.adaptive_tuning, docs/performance.md).
// Read and checked whatever the gate; used only when it is on.
struct TunerSettings {
  std::uint64_t interval_ms = 500;  // one control step per interval
  // Target, batch bounds, flush-delay bounds; the law's factors keep their
  // perf::TunerConfig defaults. flush_delay_us_max defaults to
  // tuner_flush_delay_us_max_for(idle_delay_ms) and must stay below the idle delay.
  perf::TunerConfig controller = default_controller();

  static perf::TunerConfig default_controller();
};
// The default flush_delay_us_max for an idle delay: 4/5 of it, at most 40 ms. The
// node holds a batch through the core's idle wait (PayloadReady::hold); past the
// idle deadline the core proposes an empty block in its place, so the longest
// flush delay stays below the idle delay with a margin for the node's wake-up.
std::uint64_t tuner_flush_delay_us_max_for(std::uint64_t idle_delay_ms);

struct NodeConfig {
  std::string path;  // where it was loaded from (for messages)

  // [cluster]
  std::uint64_t chain_id = 1;
  crypto::SignatureScheme scheme = crypto::default_signature_scheme;
  std::vector<ValidatorEntry> validators;  // ids 0..n-1, in order
  std::vector<GenesisAccount> genesis;

  // [node]
  std::uint32_t id = 0;
  std::string key_file = "validator.key";  // relative paths are relative to the config file
  std::string data_dir = "data";
  std::string log_level = "info";

  // [network] (listen address of this validator is validators[id].address)
  // [client]
  Endpoint client_listen;
  std::uint32_t client_in_flight_max = 1024;
  // Serve unsigned fixed-size raw commands (benchmark mode, docs/client-api.md).
  bool raw_mode = false;
  // [admin]
  Endpoint admin_listen;

  // [consensus]
  // The consensus protocol this cluster runs (consensus.protocol): "hotstuff2",
  // the only one until the DAG lands. Every validator of a cluster runs the same.
  std::string protocol = "hotstuff2";
  std::uint64_t view_timeout_ms = 1000;
  std::uint64_t view_timeout_max_ms = 16000;
  std::uint64_t propose_wait_ms = 50;
  // An idle leader proposes an empty (heartbeat) block after this long.
  std::uint64_t idle_delay_ms = 50;
  std::uint32_t batch_transactions_max = 2000;
  std::uint32_t batch_bytes_max = 1024 * 1024;

  // [storage]
  std::uint64_t keep_committed_blocks = limits::node_store_keep_blocks_default;

  // [tuner]
  TunerSettings tuner;

  // [gates]
  std::vector<GateSetting> gates;
};

struct ConfigError {
  std::string file;
  std::string key;     // dotted path, e.g. "consensus.view_timeout_ms"; empty for file-level errors
  std::string reason;
  std::string message() const;  // "FILE: KEY: REASON"
};

Result<NodeConfig, ConfigError> load_config(const std::string& path);
// The values consensus.protocol accepts (the node has a driver for each).
bool known_protocol(const std::string& name);
std::string known_protocols();  // for messages: "hotstuff2"
// Renders a config as TOML that load_config reads back to an equal config.
std::string render_config(const NodeConfig& config);
// The cluster's identity for handshakes and stores: SHA-256 over a domain tag,
// the chain id, the scheme and the validator keys in id order.
Hash32 cluster_id_of(const NodeConfig& config);
// The directory of the config file, against which relative paths resolve.
std::string resolve_path(const NodeConfig& config, const std::string& relative);

// Key files: one line of lower-case hex of the tagged encoding. Secret key files
// are written with mode 0600 and refused when group- or world-readable.
enum class KeyFileError : std::uint8_t { unreadable, permissions, malformed, write_failed };
const char* describe(KeyFileError error);
Status<KeyFileError> write_secret_key_file(const std::string& path, const crypto::Signer& signer);
Status<KeyFileError> write_public_key_file(const std::string& path, const crypto::Verifier& verifier);
Result<std::unique_ptr<crypto::Signer>, KeyFileError> read_secret_key_file(const std::string& path);

}  // namespace kestrel::node
