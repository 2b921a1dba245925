// `kestrel keygen` and `kestrel init`: key files and a cluster's configs
// (docs/configuration.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cluster.h"
#include "commands.h"
#include "node/config.h"

namespace kestrel::app {

namespace {

// CLI11 prints nothing for RuntimeError: say why, then exit 1.
[[noreturn]] void fail(const std::string& message) {
  std::fprintf(stderr, "kestrel: %s\n", message.c_str());
  throw CLI::RuntimeError(1);
}

crypto::SignatureScheme scheme_or_throw(const std::string& name) {
  auto scheme = crypto::parse_scheme_name(name);
  if (!scheme) throw CLI::ValidationError("--scheme", "unknown scheme '" + name + "' (ed25519, ml-dsa-65, hybrid)");
  return *scheme;
}

void write_or_throw(Status<node::KeyFileError> status, const std::string& path) {
  if (!status) fail(path + ": " + node::describe(status.error()));
}

using InitOptions = ClusterInit;

void run_init(const InitOptions& o) {
  namespace fs = std::filesystem;
  if (o.nodes < 1 || o.nodes > 128) throw CLI::ValidationError("--nodes", "must be in [1, 128]");
  if (static_cast<std::uint32_t>(o.base_port) + 3 * o.nodes > 65535) throw CLI::ValidationError("--base-port", "ports run past 65535");
  const fs::path root(o.dir);
  if (fs::exists(root) && !fs::is_empty(root) && !o.force) {
    fail(o.dir + " exists and is not empty (use --force to overwrite)");
  }
  fs::create_directories(root);
  const crypto::SignatureScheme scheme = scheme_or_throw(o.scheme);

  node::NodeConfig base;
  base.chain_id = o.chain_id;
  base.scheme = scheme;
  std::vector<std::unique_ptr<crypto::Signer>> validators;
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    validators.push_back(crypto::generate_signer(scheme));
    base.validators.push_back({i, {"127.0.0.1", static_cast<std::uint16_t>(o.base_port + 3 * i)},
                               crypto::encode_public_key(validators.back()->verifier())});
  }
  // Funded demo accounts (client keys: the scheme transactions default to).
  fs::create_directories(root / "accounts");
  for (std::uint32_t j = 0; j < o.accounts; ++j) {
    auto account = crypto::generate_signer(crypto::default_signature_scheme);
    const std::string prefix = (root / "accounts" / ("account" + std::to_string(j))).string();
    write_or_throw(node::write_secret_key_file(prefix + ".key", *account), prefix + ".key");
    write_or_throw(node::write_public_key_file(prefix + ".pub", account->verifier()), prefix + ".pub");
    base.genesis.push_back({crypto::encode_public_key(account->verifier()), o.balance});
  }
  for (std::uint32_t i = 0; i < o.nodes; ++i) {
    const fs::path node_dir = root / ("node" + std::to_string(i));
    fs::create_directories(node_dir);
    node::NodeConfig c = base;
    c.id = i;
    c.client_listen = {"127.0.0.1", static_cast<std::uint16_t>(o.base_port + 3 * i + 1)};
    c.admin_listen = {"127.0.0.1", static_cast<std::uint16_t>(o.base_port + 3 * i + 2)};
    write_or_throw(node::write_secret_key_file((node_dir / "validator.key").string(), *validators[i]),
                   (node_dir / "validator.key").string());
    const std::string config_path = (node_dir / "config.toml").string();
    {
      std::ofstream out(config_path, std::ios::trunc);
      out << node::render_config(c);
      if (!out) fail(config_path + ": cannot be written");
    }
    // What we wrote must load: the same checks `kestrel node` will make.
    auto check = node::load_config(config_path);
    if (!check) fail(check.error().message());
  }
  std::printf("initialized %u validators (%s) in %s: node<i>/config.toml, node<i>/validator.key (0600), "
              "%u funded accounts in accounts/; ports %u..%u\n",
              o.nodes, crypto::scheme_name(scheme), o.dir.c_str(), o.accounts, o.base_port,
              o.base_port + 3 * o.nodes - 1);
}

}  // namespace

Status<std::string> init_cluster(const ClusterInit& init) {
  try {
    run_init(init);
  } catch (const CLI::Error& e) {
    return Err(std::string("cluster init in ") + init.dir + " failed" + (e.what()[0] ? std::string(": ") + e.what() : " (see above)"));
  }
  return {};
}

void register_keys(CLI::App& app) {
  static std::string keygen_scheme = crypto::scheme_name(crypto::default_signature_scheme);
  static std::string keygen_out;
  auto* keygen = app.add_subcommand("keygen", "Generate a key pair: OUT (secret, mode 0600) and OUT.pub");
  keygen->add_option("--scheme", keygen_scheme, "ed25519, ml-dsa-65 (default) or hybrid");
  keygen->add_option("--out", keygen_out, "Path of the secret key file")->required();
  keygen->callback([] {
    auto signer = crypto::generate_signer(scheme_or_throw(keygen_scheme));
    write_or_throw(node::write_secret_key_file(keygen_out, *signer), keygen_out);
    write_or_throw(node::write_public_key_file(keygen_out + ".pub", signer->verifier()), keygen_out + ".pub");
    std::printf("%s key written to %s (0600) and %s.pub\n", crypto::scheme_name(signer->scheme()),
                keygen_out.c_str(), keygen_out.c_str());
  });

  static InitOptions init;
  auto* command = app.add_subcommand("init", "Create a cluster: per-node configs, validator keys, funded accounts");
  command->add_option("--nodes", init.nodes, "Validators");
  command->add_option("--dir", init.dir, "Output directory")->required();
  command->add_option("--scheme", init.scheme, "Validator signature scheme");
  command->add_option("--base-port", init.base_port, "First port; node i uses base+3i (validators), +1 (clients), +2 (admin)");
  command->add_option("--chain-id", init.chain_id, "Chain id (stops replay across clusters)");
  command->add_option("--accounts", init.accounts, "Funded demo accounts");
  command->add_option("--balance", init.balance, "Balance of each demo account");
  command->add_flag("--force", init.force, "Overwrite a non-empty directory");
  command->callback([] { run_init(init); });
}

}  // namespace kestrel::app
